//! One TLS connection read from both of its TCP byte streams: records cut
//! out, the handshake followed (ClientHello, ServerHello, certificate,
//! alerts, Finished), and application data opened with the key log's
//! secrets into the plaintext each side wrote.
//!
//! What it could not read is kept as a typed reason ([`Unreadable`]), and
//! where the handshake failed, how ([`Alert`], [`Session::stage`]).
use std::{net::SocketAddr, time::SystemTime};

use super::{
    KeyLog,
    certificate::Certificate,
    keylog::ClientRandom,
    keys::{self, RecordKey, Suite},
};

/// The end of a connection that wrote some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The end that sent the ClientHello (the PBX registering, usually).
    Client,
    /// The end that answered it (the registrar, usually).
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

/// The TLS version a session runs, as the ServerHello chose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// TLS 1.2 (RFC 5246).
    #[serde(rename = "TLS 1.2")]
    Tls12,
    /// TLS 1.3 (RFC 8446).
    #[serde(rename = "TLS 1.3")]
    Tls13,
    /// SSL 3.0, TLS 1.0 or 1.1: not decrypted.
    #[serde(rename = "older than TLS 1.2")]
    Older,
}

/// How far the handshake got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The client's hello was seen and nothing from the server yet.
    ClientHello,
    /// The server answered with its hello (and its certificate).
    ServerHello,
    /// Both sides finished the handshake: application data flows.
    Established,
}

/// An alert one side sent (RFC 8446 §6, RFC 5246 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    /// Who sent it.
    pub from: Side,
    /// Its description number (IANA's TLS Alerts registry): 42
    /// bad_certificate, 45 certificate_expired, 48 unknown_ca, 40
    /// handshake_failure, 70 protocol_version…
    pub description: u8,
    /// Fatal (level 2), or a warning; TLS 1.3's are all fatal but
    /// close_notify and user_canceled.
    pub fatal: bool,
    /// How far the handshake had got when it was sent.
    pub stage: Stage,
    /// Read from an encrypted record (TLS 1.3, or after the handshake).
    pub encrypted: bool,
}

/// Why a session's records were not (all) read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreadable {
    /// The key log has no secret for this session's client random.
    NoKey,
    /// The key log's secret did not open the records: it belongs to
    /// another session with the same random, or is wrong.
    WrongKey,
    /// A cipher suite sipwatch does not decrypt (CBC, CCM…).
    CipherNotSupported,
    /// SSL 3.0, TLS 1.0 or TLS 1.1.
    VersionNotSupported,
    /// The capture starts after the handshake: the client random, the
    /// cipher and the version are not known.
    HandshakeNotInCapture,
    /// TCP bytes of the connection are missing from the capture: records
    /// after them cannot be cut out.
    BytesMissing,
    /// A TLS 1.3 key update: later traffic secrets are not in key logs.
    KeyUpdate,
    /// Bytes that are not TLS records.
    NotTls,
    /// The capture ended during the handshake, with the connection open.
    CaptureEndedInHandshake,
}

/// What to do with a record's bytes in one direction.
enum Protection {
    /// Not yet encrypted.
    Clear,
    /// Encrypted and readable.
    Keyed(Box<RecordKey>),
    /// Encrypted, its key not (yet) in the key log: records are held, so
    /// that a secrets block written after them still opens them.
    Pending,
    /// Encrypted, and not readable: counted only.
    Unread,
}

/// Bytes of records held per direction while its key is pending, at most
/// (a TLS 1.3 server's first flight, its certificate chain included, and
/// the first records after it).
const MAX_HELD_BYTES: usize = 32 << 10;

/// One record as the wire carries it: its header's content type and
/// version, and its fragment (held until its key comes, when encrypted).
struct Record {
    content_type: u8,
    version: u16,
    fragment: Vec<u8>,
}

/// A direction's key, and (TLS 1.3) the one after its Finished.
type KeyPair = (Box<RecordKey>, Option<Box<RecordKey>>);

/// One direction's reading state.
struct Direction {
    records: Vec<u8>,
    handshake: Vec<u8>,
    protection: Protection,
    /// TLS 1.3: the application traffic key, installed after Finished.
    next: Option<Box<RecordKey>>,
    /// Encrypted records waiting for their key.
    held: std::collections::VecDeque<Record>,
    /// TLS 1.3: past this side's Finished, protected by its traffic
    /// secret rather than its handshake secret.
    traffic: bool,
    /// Encrypted records seen, read or not.
    encrypted_records: u64,
    /// Bytes of plaintext handed on.
    plaintext: u64,
    /// Encrypted records passed over unopened (held ones aside).
    unopened: u64,
    broken: bool,
}

impl Direction {
    fn new() -> Self {
        Self {
            records: Vec::new(),
            handshake: Vec::new(),
            protection: Protection::Clear,
            next: None,
            held: std::collections::VecDeque::new(),
            traffic: false,
            encrypted_records: 0,
            plaintext: 0,
            unopened: 0,
            broken: false,
        }
    }
}

/// One TLS connection.
pub struct Session {
    /// When its first byte was seen.
    pub first_seen: SystemTime,
    /// When its last byte was seen.
    pub last_seen: SystemTime,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// The name the client asked for (SNI, RFC 6066 §3).
    pub sni: Option<String>,
    /// The version the server chose.
    pub version: Option<Version>,
    /// The cipher suite the server chose (IANA number).
    pub cipher: Option<u16>,
    /// The server's own certificate, as the handshake carried it (TLS 1.2
    /// in clear; TLS 1.3 once decrypted).
    pub certificate: Option<Certificate>,
    /// How far the handshake got.
    pub stage: Stage,
    /// The first alert other than close_notify, if any.
    pub alert: Option<Alert>,
    /// The first reason records went unread, if any.
    pub unreadable: Option<Unreadable>,
    /// Set when either side closed or reset the connection.
    pub ended: bool,
    closed: [bool; 2],
    /// Who closed (or reset) the connection first.
    pub closed_first: Option<Side>,
    client_random: Option<ClientRandom>,
    server_random: Option<Vec<u8>>,
    suite: Option<Suite>,
    dirs: [Direction; 2],
}

/// TLS 1.3's HelloRetryRequest is a ServerHello with this random (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Content types (RFC 8446 §5.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
/// The largest record: 2^14 plus TLS 1.2's allowance for expansion.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Alert descriptions that end a session without a failure.
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// Whether `bytes`, the first a TCP direction carried, start a TLS record
/// (a handshake or application data in TLS 1.0 to 1.3 framing): judged by
/// content, on any port.
pub fn starts_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [HANDSHAKE | APPLICATION_DATA | ALERT, 3, 0..=4, ..])
}

impl Session {
    /// A session whose first bytes `client` sent to `server` at `now`.
    pub fn new(client: SocketAddr, server: SocketAddr, now: SystemTime) -> Self {
        Self {
            first_seen: now,
            last_seen: now,
            client,
            server,
            sni: None,
            version: None,
            cipher: None,
            certificate: None,
            stage: Stage::ClientHello,
            alert: None,
            unreadable: None,
            ended: false,
            closed: [false; 2],
            closed_first: None,
            client_random: None,
            server_random: None,
            suite: None,
            dirs: [Direction::new(), Direction::new()],
        }
    }

    /// Whether every encrypted record was opened and the handshake was in
    /// the capture.
    pub fn decrypted(&self) -> bool {
        self.unreadable.is_none()
            && !self.pending()
            && self.dirs.iter().any(|d| d.encrypted_records > 0)
            && self.suite.is_some()
    }

    /// Whether `side` sent encrypted records that were not opened.
    pub fn unread_from(&self, side: Side) -> bool {
        let d = &self.dirs[side.index()];
        d.unopened > 0 || !d.held.is_empty()
    }

    /// Bytes `side` wrote, in stream order; the application data opened is
    /// appended to `plaintext`.
    pub fn push(
        &mut self,
        side: Side,
        bytes: &[u8],
        now: SystemTime,
        keys: &KeyLog,
        plaintext: &mut Vec<u8>,
    ) {
        self.last_seen = now;
        let d = side.index();
        if self.dirs[d].broken {
            return;
        }
        self.dirs[d].records.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let buf = &self.dirs[d].records[at..];
            let [content_type, v0, v1, l0, l1, ..] = *buf else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if v0 != 3 || len > MAX_RECORD {
                self.broken(side, Unreadable::NotTls);
                return;
            }
            if buf.len() < 5 + len {
                break;
            }
            let record = Record {
                content_type,
                version: u16::from_be_bytes([v0, v1]),
                fragment: buf[5..5 + len].to_vec(),
            };
            at += 5 + len;
            self.record(side, record, keys, plaintext);
            if self.dirs[d].broken {
                return;
            }
        }
        self.dirs[d].records.drain(..at);
    }

    /// `side` closed its direction; the connection has ended once both
    /// did. A close is enough to end the handshake's story.
    pub fn closed(&mut self, side: Side) {
        if !self.closing() {
            self.closed_first = Some(side);
        }
        self.closed[side.index()] = true;
        self.ended = self.closed.iter().all(|&c| c);
    }

    /// Whether either side closed or reset the connection.
    pub fn closing(&self) -> bool {
        self.ended || self.closed.iter().any(|&c| c)
    }

    /// Bytes of `side` missing from the capture: its later records cannot
    /// be cut out.
    pub fn gap(&mut self, side: Side) {
        self.broken(side, Unreadable::BytesMissing);
    }

    fn broken(&mut self, side: Side, why: Unreadable) {
        let d = &mut self.dirs[side.index()];
        d.broken = true;
        d.records = Vec::new();
        self.unreadable.get_or_insert(why);
    }

    fn record(&mut self, side: Side, record: Record, keys: &KeyLog, plaintext: &mut Vec<u8>) {
        let d = side.index();
        let content_type = record.content_type;
        let tls13 = self.version == Some(Version::Tls13);
        if self.stage == Stage::ClientHello
            && side == Side::Client
            && self.client_random.is_none()
            && content_type != HANDSHAKE
        {
            self.broken(side, Unreadable::HandshakeNotInCapture);
            return;
        }
        // TLS 1.3 compatibility mode's ChangeCipherSpec carries nothing.
        if content_type == CHANGE_CIPHER_SPEC {
            if !tls13 {
                self.change_cipher_spec(side);
            }
            return;
        }
        // TLS 1.3 protects only records of outer type application_data: an
        // alert sent before the keys were in place is in clear (§5.2).
        let in_clear = matches!(self.dirs[d].protection, Protection::Clear)
            || (tls13 && content_type != APPLICATION_DATA);
        if in_clear {
            match content_type {
                HANDSHAKE => self.handshake(side, &record.fragment, keys),
                ALERT => self.alert(side, &record.fragment, false),
                // Application data in clear before any key: mid-session.
                _ => self.broken(side, Unreadable::HandshakeNotInCapture),
            }
            return;
        }
        self.dirs[d].encrypted_records += 1;
        self.dirs[d].held.push_back(record);
        self.drain_held(side, keys, plaintext);
    }

    /// Opens `side`'s records in order while its key is there; a key that
    /// changes (TLS 1.3's Finished) and is not in the key log yet leaves
    /// the rest held for it.
    fn drain_held(&mut self, side: Side, keys: &KeyLog, plaintext: &mut Vec<u8>) {
        let d = side.index();
        while !self.dirs[d].held.is_empty() {
            if matches!(self.dirs[d].protection, Protection::Pending) {
                self.find_keys(keys);
            }
            match self.dirs[d].protection {
                Protection::Keyed(_) => {
                    let record = self.dirs[d].held.pop_front().expect("not empty");
                    self.open(side, &record, keys, plaintext);
                }
                Protection::Pending
                    if keys.expects_more()
                        && self.dirs[d]
                            .held
                            .iter()
                            .map(|h| h.fragment.len())
                            .sum::<usize>()
                            <= MAX_HELD_BYTES =>
                {
                    self.seen_unread(side);
                    return;
                }
                Protection::Pending | Protection::Clear | Protection::Unread => {
                    let dir = &mut self.dirs[d];
                    dir.unopened += dir.held.len() as u64;
                    dir.held.clear();
                    if matches!(dir.protection, Protection::Pending) {
                        dir.protection = Protection::Unread;
                        self.unreadable.get_or_insert(Unreadable::NoKey);
                    }
                    self.seen_unread(side);
                    return;
                }
            }
        }
    }

    /// Opens one encrypted record of `side` and reads what it carries.
    fn open(&mut self, side: Side, record: &Record, keys: &KeyLog, plaintext: &mut Vec<u8>) {
        let d = side.index();
        let Protection::Keyed(key) = &mut self.dirs[d].protection else {
            return;
        };
        let Ok((inner, content)) = key.open(record.content_type, record.version, &record.fragment)
        else {
            self.dirs[d].unopened += 1;
            self.dirs[d].protection = Protection::Unread;
            self.unreadable.get_or_insert(Unreadable::WrongKey);
            self.seen_unread(side);
            return;
        };
        match inner {
            HANDSHAKE => self.handshake(side, &content, keys),
            ALERT => self.alert(side, &content, true),
            APPLICATION_DATA => {
                if side == Side::Client {
                    self.stage = Stage::Established;
                }
                self.dirs[d].plaintext += content.len() as u64;
                plaintext.extend_from_slice(&content);
            }
            _ => {}
        }
    }

    /// An encrypted record that could not be opened still says how far the
    /// handshake got: TLS 1.3's client sends its Finished, then data.
    fn seen_unread(&mut self, side: Side) {
        let d = &self.dirs[side.index()];
        let established = match self.version {
            Some(Version::Tls13) => side == Side::Client && d.encrypted_records >= 2,
            _ => d.encrypted_records >= 2,
        };
        if established {
            self.stage = Stage::Established;
        }
    }

    /// TLS 1.2: `side` encrypts from its next record on; its key is looked
    /// up when its first encrypted record comes.
    fn change_cipher_spec(&mut self, side: Side) {
        self.dirs[side.index()].protection = Protection::Pending;
        if self
            .dirs
            .iter()
            .all(|d| !matches!(d.protection, Protection::Clear))
        {
            self.stage = Stage::Established;
        }
    }

    /// The connection ended: records still held are opened if the key log
    /// now has their keys (a key log read after the last record), for
    /// what they show of the handshake. Application data they hold comes
    /// too late for SIP framing: its length is returned.
    pub fn open_held(&mut self, keys: &KeyLog) -> u64 {
        let mut late = Vec::new();
        for side in [Side::Client, Side::Server] {
            self.drain_held(side, keys, &mut late);
        }
        late.len() as u64
    }

    /// Whether a direction still waits for its key.
    pub fn pending(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| matches!(d.protection, Protection::Pending))
    }

    /// The key log's secrets for the directions still pending: installed
    /// when found; a reason other than a missing key ends the wait.
    fn find_keys(&mut self, keys: &KeyLog) {
        let found = match self.version {
            Some(Version::Tls13) => self.tls13_keys(keys),
            _ => self.tls12_keys(keys).map(|(client, server)| {
                [
                    Some((Box::new(client), None)),
                    Some((Box::new(server), None)),
                ]
            }),
        };
        match found {
            Ok(pair) => {
                for (dir, key) in self.dirs.iter_mut().zip(pair) {
                    if let Some((key, next)) = key
                        && matches!(dir.protection, Protection::Pending)
                    {
                        dir.protection = Protection::Keyed(key);
                        dir.next = next;
                    }
                }
            }
            Err(Unreadable::NoKey) => {}
            Err(why) => {
                self.unreadable.get_or_insert(why);
                for dir in &mut self.dirs {
                    if matches!(dir.protection, Protection::Pending) {
                        dir.protection = Protection::Unread;
                        dir.unopened += dir.held.len() as u64;
                        dir.held.clear();
                    }
                }
            }
        }
    }

    fn suite(&self) -> Result<Suite, Unreadable> {
        match self.version {
            Some(Version::Older) => Err(Unreadable::VersionNotSupported),
            _ => self.suite.ok_or(Unreadable::CipherNotSupported),
        }
    }

    fn tls12_keys(&self, keys: &KeyLog) -> Result<(RecordKey, RecordKey), Unreadable> {
        let suite = self.suite()?;
        let (Some(random), Some(server_random)) = (&self.client_random, &self.server_random) else {
            return Err(Unreadable::HandshakeNotInCapture);
        };
        let master = keys
            .get(random)
            .and_then(|s| s.master.as_deref())
            .ok_or(Unreadable::NoKey)?;
        Ok(keys::tls12_keys(suite, master, random, server_random))
    }

    /// TLS 1.3: both directions' handshake keys, each with the traffic key
    /// that follows its side's Finished.
    fn tls13_keys(&self, keys: &KeyLog) -> Result<[Option<KeyPair>; 2], Unreadable> {
        let suite = self.suite()?;
        let random = self
            .client_random
            .as_ref()
            .ok_or(Unreadable::HandshakeNotInCapture)?;
        let s = keys.get(random).ok_or(Unreadable::NoKey)?;
        let pick = |secret: &Option<Vec<u8>>| {
            secret
                .as_deref()
                .map(|secret| Box::new(keys::tls13_key(suite, secret)))
        };
        // Each side on its own: a client that rejects the certificate logs
        // only the server's handshake secret, which still shows it.
        let side = |traffic: bool, handshake, application| {
            if traffic {
                pick(application).map(|k| (k, None))
            } else {
                pick(handshake).map(|k| (k, pick(application)))
            }
        };
        Ok([
            side(self.dirs[0].traffic, &s.client_handshake, &s.client_traffic),
            side(self.dirs[1].traffic, &s.server_handshake, &s.server_traffic),
        ])
    }

    fn alert(&mut self, side: Side, content: &[u8], encrypted: bool) {
        let &[level, description, ..] = content else {
            return;
        };
        if description == CLOSE_NOTIFY || description == USER_CANCELED || self.alert.is_some() {
            return;
        }
        self.alert = Some(Alert {
            from: side,
            description,
            fatal: level == 2 || self.version == Some(Version::Tls13),
            stage: self.stage,
            encrypted,
        });
    }

    /// Handshake bytes of `side`, in clear or opened: whole messages are
    /// taken out and read.
    fn handshake(&mut self, side: Side, content: &[u8], keys: &KeyLog) {
        let d = side.index();
        self.dirs[d].handshake.extend_from_slice(content);
        loop {
            let buf = &self.dirs[d].handshake;
            let [kind, l0, l1, l2, ..] = buf[..] else {
                return;
            };
            let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            if buf.len() < 4 + len {
                if len > 1 << 20 {
                    self.broken(side, Unreadable::NotTls);
                }
                return;
            }
            let message: Vec<u8> = self.dirs[d].handshake.drain(..4 + len).collect();
            self.handshake_message(side, kind, &message[4..], keys);
        }
    }

    fn handshake_message(&mut self, side: Side, kind: u8, body: &[u8], keys: &KeyLog) {
        const CLIENT_HELLO: u8 = 1;
        const SERVER_HELLO: u8 = 2;
        const CERTIFICATE: u8 = 11;
        const FINISHED: u8 = 20;
        const KEY_UPDATE: u8 = 24;
        match (side, kind) {
            (Side::Client, CLIENT_HELLO) => self.client_hello(body),
            (Side::Server, SERVER_HELLO) => self.server_hello(body, keys),
            (Side::Server, CERTIFICATE) if self.certificate.is_none() => {
                let tls13 = self.version == Some(Version::Tls13);
                self.certificate = super::certificate::leaf(body, tls13);
            }
            (_, FINISHED) if self.version == Some(Version::Tls13) => {
                // The traffic secret from here on: looked up again when the
                // key log did not hold it yet.
                let dir = &mut self.dirs[side.index()];
                dir.traffic = true;
                dir.protection = match dir.next.take() {
                    Some(next) => Protection::Keyed(next),
                    None => Protection::Pending,
                };
                if side == Side::Client {
                    self.stage = Stage::Established;
                }
            }
            (_, KEY_UPDATE) if self.version == Some(Version::Tls13) => {
                self.dirs[side.index()].protection = Protection::Unread;
                self.unreadable.get_or_insert(Unreadable::KeyUpdate);
            }
            _ => {}
        }
    }

    fn client_hello(&mut self, body: &[u8]) {
        use tls_parser::{SNIType, TlsExtension};
        let Ok((_, hello)) = tls_parser::parse_tls_handshake_client_hello(body) else {
            return;
        };
        self.client_random = hello.random.try_into().ok();
        let extensions = hello
            .ext
            .and_then(|e| tls_parser::parse_tls_client_hello_extensions(e).ok())
            .map(|(_, e)| e)
            .unwrap_or_default();
        for e in extensions {
            if let TlsExtension::SNI(names) = e {
                self.sni = names
                    .iter()
                    .find(|(kind, _)| *kind == SNIType::HostName)
                    .map(|(_, name)| String::from_utf8_lossy(name).into_owned());
            }
        }
    }

    fn server_hello(&mut self, body: &[u8], keys: &KeyLog) {
        use tls_parser::TlsExtension;
        let Ok((_, hello)) = tls_parser::parse_tls_handshake_server_hello(body) else {
            return;
        };
        if hello.random == HELLO_RETRY_RANDOM {
            // Only TLS 1.3 retries: its compatibility ChangeCipherSpec
            // that follows changes nothing; the real ServerHello comes
            // after the client's second hello.
            self.version = Some(Version::Tls13);
            return;
        }
        let mut version = hello.version.0;
        let extensions = hello
            .ext
            .and_then(|e| tls_parser::parse_tls_server_hello_extensions(e).ok())
            .map(|(_, e)| e)
            .unwrap_or_default();
        for e in extensions {
            if let TlsExtension::SupportedVersions(v) = e
                && let Some(v) = v.first()
            {
                version = v.0;
            }
        }
        self.version = Some(match version {
            0x0304 => Version::Tls13,
            0x0303 => Version::Tls12,
            _ => Version::Older,
        });
        self.cipher = Some(hello.cipher.0);
        self.suite = Suite::of(hello.cipher.0);
        self.server_random = Some(hello.random.to_vec());
        self.stage = Stage::ServerHello;
        if self.version == Some(Version::Tls13) {
            for dir in &mut self.dirs {
                dir.protection = Protection::Pending;
            }
            self.find_keys(keys);
        }
    }
}
