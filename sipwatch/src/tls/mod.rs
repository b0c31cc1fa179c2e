//! SIP over TLS read from the wire: each TLS connection found by its first
//! bytes (on any port), its handshake followed, its records opened with an
//! NSS key log (`--tls-keylog`, or a pcapng Decryption Secrets Block), and
//! the plaintext handed to SIP framing like a TCP stream's.
//!
//! A session that cannot be read says why ([`Unreadable`]); one whose
//! handshake failed says how ([`HandshakeFailure`]). The decisions are
//! here; their words are in `say::tls`.
//!
//! * [`keylog`]: the NSS key log format.
//! * [`keys`]: the key schedule glue (TLS 1.2 PRF, TLS 1.3
//!   HKDF-Expand-Label) and record opening (RustCrypto AEADs).
//! * [`session`]: one connection's records and handshake.
//! * [`certificate`]: the server's certificate as the handshake carried it.
pub mod certificate;
pub mod keylog;
pub mod keys;
pub mod session;
#[cfg(test)]
mod tests;

use std::{collections::HashMap, net::SocketAddr, time::SystemTime};

pub use certificate::{Certificate, NameMatch, name_match};
pub use keylog::{KeyLog, KeyLogError, KeyLogRead};
pub use session::{Alert, Session, Side, Stage, Unreadable, Version, starts_like_tls};

/// What the first record of a direction says of its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello {
    /// A ClientHello, with its random: the sender is the client.
    Client(keylog::ClientRandom),
    /// A ServerHello: the sender is the server.
    Server,
}

/// The hello that `bytes`, a direction's first, start with: a handshake
/// record whose first message is a ClientHello (its random after the
/// record header, the message header and the version, RFC 8446 §4.1.2)
/// or a ServerHello.
pub fn hello(bytes: &[u8]) -> Option<Hello> {
    const HANDSHAKE: u8 = 22;
    match bytes {
        [HANDSHAKE, 3, _, _, _, 1, ..] => bytes
            .get(11..43)
            .and_then(|r| r.try_into().ok())
            .map(Hello::Client),
        [HANDSHAKE, 3, _, _, _, 2, ..] => Some(Hello::Server),
        _ => None,
    }
}

/// Sessions listed at the end of a run, at most; the others are counted.
pub const MAX_LISTED: usize = 256;
/// Connections followed at once; the least recently active ends first.
const MAX_OPEN: usize = 4096;

/// How a handshake failed, as the wire shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HandshakeFailure {
    /// One side sent a fatal alert before the handshake finished.
    Alert {
        /// Who sent it.
        from: Side,
        /// Its name as RFC 8446 §6 spells it: `bad_certificate`…
        alert: &'static str,
        /// How far the handshake had got.
        stage: Stage,
        /// What is wrong with the server's certificate, where the
        /// handshake carried it and the alert is about a certificate.
        #[serde(skip_serializing_if = "Option::is_none")]
        certificate: Option<CertificateProblem>,
    },
    /// The connection ended after the ClientHello with no ServerHello and
    /// no alert: the server refused the client's versions or ciphers
    /// without saying so, or is not TLS.
    NoServerHello,
    /// The connection ended before the handshake finished without an alert
    /// that could be read (a client that rejects the certificate and
    /// closes, or one whose TLS 1.3 alert is encrypted).
    ClosedDuringHandshake {
        /// How far it had got.
        stage: Stage,
        /// Who closed it first, when the capture shows it.
        by: Option<Side>,
        /// Whether the side that closed sent encrypted records that could
        /// not be read first (TLS 1.3 encrypts its alerts: without that
        /// side's handshake secret, its alert is not read).
        unread_alert: bool,
        /// What is wrong with the server's certificate, when anything is.
        #[serde(skip_serializing_if = "Option::is_none")]
        certificate: Option<CertificateProblem>,
    },
}

/// What is wrong with the server's certificate, checked as a client would
/// at the time of the handshake.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CertificateProblem {
    /// Out of its validity period at the handshake.
    Expired {
        /// Its end of validity.
        #[serde(serialize_with = "rfc3339")]
        not_after: SystemTime,
    },
    /// Not yet valid at the handshake.
    NotYetValid {
        /// Its start of validity.
        #[serde(serialize_with = "rfc3339")]
        not_before: SystemTime,
    },
    /// The name the client asked for (SNI) is not among its names.
    NameMismatch {
        /// The name asked for.
        asked: String,
        /// The names it holds.
        names: Vec<String>,
    },
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*t))
}

/// One TLS session as the run saw it, for the summary and JSON (`type`
/// `tls_session`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionReport {
    /// When its first byte was seen.
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    /// The client (the end that sent the ClientHello).
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// The name the client asked for, when it sent one.
    pub sni: Option<String>,
    /// The version the server chose.
    pub version: Option<Version>,
    /// The cipher suite, as IANA names it.
    pub cipher: Option<String>,
    /// Whether every record was opened.
    pub decrypted: bool,
    /// Why records were not read.
    pub unreadable: Option<Unreadable>,
    /// How the handshake failed.
    pub failure: Option<HandshakeFailure>,
    /// The server's certificate, when the handshake showed it.
    pub certificate: Option<Certificate>,
}

/// TLS sessions counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsCounts {
    /// TLS connections seen.
    pub sessions: u64,
    /// Of which every record was opened.
    pub decrypted: u64,
    /// Of which records went unread.
    pub unreadable: u64,
    /// Of which the handshake failed.
    pub failed: u64,
    /// Plaintext bytes opened, both directions.
    pub plaintext_bytes: u64,
    /// Sessions counted but not listed ([`MAX_LISTED`]).
    pub not_listed: u64,
    /// Connections ended early to stay within bounds.
    pub evicted: u64,
    /// Plaintext opened only once its connection had ended (its key came
    /// after it), too late to be framed as SIP.
    pub late_plaintext_bytes: u64,
    /// Sessions without a key whose plaintext the probes read inside the
    /// process (`attach --pid`, `--process`): not a loss, not listed.
    pub read_in_process: u64,
}

impl TlsCounts {
    /// Whether no TLS was seen.
    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }
}

/// Every TLS connection of a run, by its client and server addresses.
#[derive(Default)]
pub struct Connections {
    open: HashMap<(SocketAddr, SocketAddr), Session>,
    keys: KeyLog,
    counts: TlsCounts,
    listed: Vec<SessionReport>,
    /// The plaintext is read inside the process (`--pid`, `--process`):
    /// a session without a key is no loss; only failed handshakes are
    /// told.
    in_process: bool,
}

impl Connections {
    /// Sessions whose plaintext the TLS probes read inside the process:
    /// only their handshakes are followed here.
    pub fn read_in_process(&mut self) {
        self.in_process = true;
    }

    /// Connections read with `keys`.
    pub fn new(keys: KeyLog) -> Self {
        Self {
            keys,
            ..Self::default()
        }
    }

    /// More secrets (a Decryption Secrets Block in the capture).
    pub fn add_keys(&mut self, text: &[u8], source_name: &str) -> KeyLogRead {
        self.keys.add(text, source_name)
    }

    /// Whether the key log holds secrets for the session `random` names.
    pub fn has_key(&self, random: &keylog::ClientRandom) -> bool {
        self.keys.get(random).is_some()
    }

    /// Whether `src` → `dst` belongs to a TLS connection, and which side
    /// sends it.
    pub fn side(&self, src: SocketAddr, dst: SocketAddr) -> Option<Side> {
        if self.open.contains_key(&(src, dst)) {
            Some(Side::Client)
        } else if self.open.contains_key(&(dst, src)) {
            Some(Side::Server)
        } else {
            None
        }
    }

    /// A new connection whose first bytes `client` sent.
    pub fn start(&mut self, client: SocketAddr, server: SocketAddr, now: SystemTime) {
        if self.open.len() >= MAX_OPEN
            && let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        {
            self.counts.evicted += 1;
            self.end(oldest.0, oldest.1);
        }
        self.counts.sessions += 1;
        self.open
            .insert((client, server), Session::new(client, server, now));
    }

    /// Stream bytes from `src` to `dst`; the plaintext they open is
    /// appended to `plaintext`.
    pub fn push(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        bytes: &[u8],
        now: SystemTime,
        plaintext: &mut Vec<u8>,
    ) {
        let Some((side, key)) = self.key(src, dst) else {
            return;
        };
        let before = plaintext.len();
        if let Some(s) = self.open.get_mut(&key) {
            s.push(side, bytes, now, &self.keys, plaintext);
        }
        self.counts.plaintext_bytes += (plaintext.len() - before) as u64;
    }

    /// Bytes from `src` to `dst` missing from the capture.
    pub fn gap(&mut self, src: SocketAddr, dst: SocketAddr) {
        if let Some((side, key)) = self.key(src, dst)
            && let Some(s) = self.open.get_mut(&key)
        {
            s.gap(side);
        }
    }

    /// `src` closed its direction (FIN) or reset the connection: once
    /// both directions are closed, or on a reset, it is ended and reported.
    pub fn close(&mut self, src: SocketAddr, dst: SocketAddr, reset: bool) {
        let Some((side, key)) = self.key(src, dst) else {
            return;
        };
        let Some(s) = self.open.get_mut(&key) else {
            return;
        };
        s.closed(side);
        if reset {
            s.ended = true;
        }
        if s.ended {
            self.end(key.0, key.1);
        }
    }

    /// The end of the run: every connection still open is reported.
    pub fn finish(&mut self) {
        let keys: Vec<_> = self.open.keys().copied().collect();
        for (client, server) in keys {
            self.end(client, server);
        }
    }

    /// What was counted.
    pub fn counts(&self) -> TlsCounts {
        self.counts
    }

    /// The sessions worth telling (not read, or failed), first seen first.
    pub fn listed(&self) -> &[SessionReport] {
        &self.listed
    }

    fn key(&self, src: SocketAddr, dst: SocketAddr) -> Option<(Side, (SocketAddr, SocketAddr))> {
        match self.side(src, dst)? {
            Side::Client => Some((Side::Client, (src, dst))),
            Side::Server => Some((Side::Server, (dst, src))),
        }
    }

    fn end(&mut self, client: SocketAddr, server: SocketAddr) {
        let Some(mut s) = self.open.remove(&(client, server)) else {
            return;
        };
        self.counts.late_plaintext_bytes += s.open_held(&self.keys);
        let report = report(&s);
        if self.in_process
            && report.failure.is_none()
            && report.unreadable == Some(Unreadable::NoKey)
        {
            self.counts.read_in_process += 1;
            return;
        }
        if report.decrypted {
            self.counts.decrypted += 1;
        }
        if report.unreadable.is_some() {
            self.counts.unreadable += 1;
        }
        if report.failure.is_some() {
            self.counts.failed += 1;
        }
        if report.decrypted && report.failure.is_none() {
            return;
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push(report);
            self.listed.sort_by_key(|r| r.time);
        } else {
            self.counts.not_listed += 1;
        }
    }
}

/// The session's report: what was read, and how it failed.
fn report(s: &Session) -> SessionReport {
    let failure = failure(s);
    let waiting = s.pending().then_some(Unreadable::NoKey);
    // A handshake that failed has no application data to read: its
    // records are not "unreadable" for want of a key.
    let unreadable = match (&failure, s.unreadable.or(waiting)) {
        (Some(_), Some(Unreadable::NoKey)) => None,
        (None, None) if !s.closing() && s.stage < Stage::Established => {
            Some(Unreadable::CaptureEndedInHandshake)
        }
        (_, u) => u,
    };
    SessionReport {
        time: s.first_seen,
        client: s.client,
        server: s.server,
        sni: s.sni.clone(),
        version: s.version,
        cipher: s.cipher.map(cipher_name),
        decrypted: s.decrypted(),
        unreadable,
        failure,
        certificate: s.certificate.clone(),
    }
}

/// How the handshake failed, if it did.
fn failure(s: &Session) -> Option<HandshakeFailure> {
    let problem = || certificate_problem(s);
    if let Some(a) = s.alert
        && a.fatal
        && a.stage < Stage::Established
    {
        let about_certificate = matches!(a.description, 42..=46 | 48);
        return Some(HandshakeFailure::Alert {
            from: a.from,
            alert: alert_name(a.description),
            stage: a.stage,
            certificate: if about_certificate { problem() } else { None },
        });
    }
    let unread = s.unreadable.is_some_and(|u| u != Unreadable::NoKey);
    // Without keys, TLS 1.3's encrypted alerts are not read: a close
    // during the handshake is still told.
    if !s.closing() || s.stage == Stage::Established || unread {
        return None;
    }
    Some(match s.stage {
        Stage::ClientHello => HandshakeFailure::NoServerHello,
        stage => HandshakeFailure::ClosedDuringHandshake {
            stage,
            by: s.closed_first,
            unread_alert: s.closed_first.is_some_and(|side| s.unread_from(side)),
            certificate: problem(),
        },
    })
}

fn certificate_problem(s: &Session) -> Option<CertificateProblem> {
    let c = s.certificate.as_ref()?;
    if s.first_seen > c.not_after {
        return Some(CertificateProblem::Expired {
            not_after: c.not_after,
        });
    }
    if s.first_seen < c.not_before {
        return Some(CertificateProblem::NotYetValid {
            not_before: c.not_before,
        });
    }
    let asked = s.sni.as_ref()?;
    (name_match(asked, &c.names, None) == NameMatch::No).then(|| CertificateProblem::NameMismatch {
        asked: asked.clone(),
        names: c.names.clone(),
    })
}

/// A cipher suite's IANA name, or its number when tls-parser does not know it.
pub fn cipher_name(id: u16) -> String {
    tls_parser::TlsCipherSuite::from_id(id)
        .map_or_else(|| format!("0x{id:04x}"), |c| c.name.to_owned())
}

/// An alert's name as RFC 8446 §6 (and the IANA registry) spells it.
pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown_alert",
    }
}
