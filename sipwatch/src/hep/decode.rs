//! Reading HEP: one packet (a UDP datagram, or one packet framed out of a
//! TCP stream by [`framed_len`]) into a [`Packet`], or a [`Refusal`] that
//! says why not, without panicking on any input.
//!
//! Both versions in use are read. HEP v3 (`"HEP3"`, see [`super::chunk`])
//! takes its chunks in any order (Asterisk sends its address chunks after
//! its time chunks), passes over vendor chunks and types it does not know,
//! and inflates a gzip- or zlib-compressed payload (chunk 0x0010) up to a
//! cap, so that a small packet cannot inflate into gigabytes. HEP v1 and
//! v2 (Kamailio and OpenSIPS with `hep_version=2`) are a fixed header:
//!
//! ```text
//! version u8 | header length u8 | family u8 | IP protocol u8 | src port u16 | dst port u16
//! src address | dst address          (4 + 4 bytes IPv4: 16 bytes in all; 16 + 16 IPv6: 40)
//! v2 only: seconds u32 | microseconds u32 | capture id u16 | 2 bytes padding (host order)
//! payload
//! ```
//!
//! Ports and addresses are in network order; v2's time header is a C
//! struct copied in the sender's byte order (little-endian on every sender
//! seen: Kamailio writes it with `to_le`), 12 bytes with its padding.
//!
//! ```
//! use sipwatch::hep::decode::{decode, Rules, Refusal};
//! assert_eq!(decode(b"GET / HTTP/1.1\r\n", &Rules::default()).unwrap_err(), Refusal::NotHep);
//! ```
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::{Duration, SystemTime},
};

use super::chunk::{
    self, CHUNK_HEADER_LEN, FAMILY_IPV4, FAMILY_IPV6, Kind, MAGIC, PACKET_HEADER_LEN,
};
use crate::{
    net::Transport,
    sip::{MessageIndex, fields::parse_via},
};

/// The largest payload a compressed chunk may inflate to: the largest SIP
/// message sipwatch frames ([`crate::sip::MAX_MESSAGE`] is of that order),
/// far beyond any real one, far below a bomb.
pub const MAX_INFLATED: usize = 256 * 1024;

/// IP protocol numbers of chunk 0x0002 and of v2's header.
pub mod ip_protocol {
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPPROTO_IDP, which Kamailio's `siptrace` sends for TLS, WS and WSS
    /// alike (its "fake protocol"); the top Via names which.
    pub const KAMAILIO_TLS: u8 = 22;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// HEP's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Version {
    /// The fixed header without time.
    V1,
    /// The fixed header and a time header.
    V2,
    /// Chunks.
    V3,
}

/// One HEP packet read: a captured message and where it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The version it came in.
    pub version: Version,
    /// How the captured message was carried (the IP protocol, made TLS, WS
    /// or WSS by the top Via where the sender cannot say it).
    pub transport: Transport,
    /// Where the captured message came from.
    pub src: SocketAddr,
    /// Where it went.
    pub dst: SocketAddr,
    /// When the sender captured it, by its own clock; `None` for HEP v1,
    /// which carries no time (then the time it arrived here).
    pub time: Option<SystemTime>,
    /// The sender's capture id (Asterisk's `capture_id`, Kamailio's
    /// `hep_capture_id`); 0 when not sent.
    pub capture_id: u32,
    /// VLAN id, when sent.
    pub vlan: Option<u16>,
    /// The captured message, inflated when it came compressed.
    pub payload: Vec<u8>,
    /// Chunks passed over: another vendor's, or a generic type this
    /// version of sipwatch does not know.
    pub unknown_chunks: u32,
}

/// Why a packet was not taken. Each is counted under its own name
/// ([`Refusal::name`], the metrics label) and worded in
/// [`crate::say::hep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Refusal {
    /// Neither `"HEP3"` nor a version 1 or 2 header.
    #[error("not HEP")]
    NotHep,
    /// Shorter than its own header.
    #[error("shorter than its header")]
    Truncated,
    /// The header's length is not the packet's (v3), or not the length of
    /// a v2 header of its family.
    #[error("length field does not match")]
    LengthMismatch,
    /// A chunk whose length is below its own 6-byte header.
    #[error("chunk length below 6")]
    ChunkTooShort,
    /// A chunk that runs past the packet's end.
    #[error("chunk past the end")]
    ChunkPastEnd,
    /// A known chunk of the wrong size (a 3-byte port).
    #[error("chunk of the wrong size")]
    ChunkWrongSize,
    /// A v1 or v2 packet shorter than its header and time header.
    #[error("HEP v2 too short")]
    V2TooShort,
    /// A v2 packet over TCP: v2 has no total length to frame it by.
    #[error("HEP v2 over TCP")]
    V2OverTcp,
    /// An address family other than IPv4 and IPv6.
    #[error("unknown address family")]
    UnknownFamily,
    /// Without source and destination addresses and ports.
    #[error("no addresses")]
    NoAddresses,
    /// Without a payload, or an empty one.
    #[error("no payload")]
    NoPayload,
    /// A compressed payload that is neither gzip nor zlib, or corrupt.
    #[error("payload not gzip")]
    BadCompression,
    /// A compressed payload that inflates beyond [`MAX_INFLATED`].
    #[error("inflates too large")]
    InflatesTooLarge,
    /// The password (chunk 0x000e) is missing or not the one asked for.
    #[error("wrong password")]
    WrongPassword,
    /// A payload that is not SIP (RTCP, a log record, QoS reports):
    /// passed over, not an error of the sender.
    #[error("not SIP")]
    NotSip,
    /// Carried over a transport sipwatch does not follow (SCTP).
    #[error("transport not followed")]
    OtherTransport,
}

impl Refusal {
    /// Every refusal, in the order the summary lists them.
    pub const ALL: [Refusal; 16] = [
        Refusal::NotHep,
        Refusal::Truncated,
        Refusal::LengthMismatch,
        Refusal::ChunkTooShort,
        Refusal::ChunkPastEnd,
        Refusal::ChunkWrongSize,
        Refusal::V2TooShort,
        Refusal::V2OverTcp,
        Refusal::UnknownFamily,
        Refusal::NoAddresses,
        Refusal::NoPayload,
        Refusal::BadCompression,
        Refusal::InflatesTooLarge,
        Refusal::WrongPassword,
        Refusal::NotSip,
        Refusal::OtherTransport,
    ];

    /// Its name as a metrics label and in JSON: `not_hep`, `wrong_password`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotHep => "not_hep",
            Refusal::Truncated => "truncated",
            Refusal::LengthMismatch => "length_mismatch",
            Refusal::ChunkTooShort => "chunk_too_short",
            Refusal::ChunkPastEnd => "chunk_past_end",
            Refusal::ChunkWrongSize => "chunk_wrong_size",
            Refusal::V2TooShort => "v2_too_short",
            Refusal::V2OverTcp => "v2_over_tcp",
            Refusal::UnknownFamily => "unknown_family",
            Refusal::NoAddresses => "no_addresses",
            Refusal::NoPayload => "no_payload",
            Refusal::BadCompression => "bad_compression",
            Refusal::InflatesTooLarge => "inflates_too_large",
            Refusal::WrongPassword => "wrong_password",
            Refusal::NotSip => "not_sip",
            Refusal::OtherTransport => "other_transport",
        }
    }
}

/// What a packet must meet beyond being well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The password every packet must carry (chunk 0x000e: Asterisk's
    /// `capture_password`, Kamailio's `auth_key`); `None` takes any, with
    /// or without one. HEP v1 and v2 carry none, so with a password they
    /// are refused.
    pub password: Option<Vec<u8>>,
    /// The most a compressed payload may inflate to.
    pub max_inflated: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            password: None,
            max_inflated: MAX_INFLATED,
        }
    }
}

/// Reads one whole packet.
pub fn decode(bytes: &[u8], rules: &Rules) -> Result<Packet, Refusal> {
    if bytes.starts_with(MAGIC) {
        return decode_v3(bytes, rules);
    }
    match bytes.first() {
        Some(1 | 2) => decode_v2(bytes, rules),
        _ if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) => Err(Refusal::Truncated),
        _ => Err(Refusal::NotHep),
    }
}

/// Over TCP, how long the packet at the start of `buf` is: `Ok(None)`
/// while its header is incomplete; `Err` when the stream is not HEP v3
/// (v2 cannot be framed, having no total length), and then the
/// connection cannot be followed further.
pub fn framed_len(buf: &[u8]) -> Result<Option<usize>, Refusal> {
    let head = &buf[..buf.len().min(MAGIC.len())];
    if !MAGIC.starts_with(head) {
        return Err(match buf.first() {
            Some(1 | 2) => Refusal::V2OverTcp,
            _ => Refusal::NotHep,
        });
    }
    if buf.len() < PACKET_HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if len < PACKET_HEADER_LEN {
        return Err(Refusal::LengthMismatch);
    }
    Ok(Some(len))
}

/// The chunks' values as read, before they are checked for what a
/// packet needs.
#[derive(Default)]
struct Chunks<'a> {
    family: Option<u8>,
    ip_protocol: Option<u8>,
    src4: Option<Ipv4Addr>,
    dst4: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    dst6: Option<Ipv6Addr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    seconds: Option<u32>,
    micros: Option<u32>,
    protocol: Option<u8>,
    capture_id: Option<u32>,
    password: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    compressed: Option<&'a [u8]>,
    vlan: Option<u16>,
    unknown: u32,
}

fn decode_v3(bytes: &[u8], rules: &Rules) -> Result<Packet, Refusal> {
    if bytes.len() < PACKET_HEADER_LEN {
        return Err(Refusal::Truncated);
    }
    if usize::from(u16::from_be_bytes([bytes[4], bytes[5]])) != bytes.len() {
        return Err(Refusal::LengthMismatch);
    }
    let mut c = Chunks::default();
    let mut at = PACKET_HEADER_LEN;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + CHUNK_HEADER_LEN) else {
            return Err(Refusal::ChunkPastEnd);
        };
        let vendor = u16::from_be_bytes([head[0], head[1]]);
        let kind = u16::from_be_bytes([head[2], head[3]]);
        let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
        if len < CHUNK_HEADER_LEN {
            return Err(Refusal::ChunkTooShort);
        }
        let Some(value) = bytes.get(at + CHUNK_HEADER_LEN..at + len) else {
            return Err(Refusal::ChunkPastEnd);
        };
        at += len;
        match Kind::from_u16(kind).filter(|_| vendor == chunk::VENDOR_GENERIC) {
            Some(kind) => c.take(kind, value)?,
            None => c.unknown += 1,
        }
    }
    if let Some(wanted) = &rules.password
        && c.password != Some(wanted.as_slice())
    {
        return Err(Refusal::WrongPassword);
    }
    // Without a type, a payload is taken for SIP (what every SIP sender
    // sends); the transport check below still applies.
    if c.protocol.is_some_and(|p| p != chunk::Protocol::Sip as u8) {
        return Err(Refusal::NotSip);
    }
    let (src, dst) = c.addresses()?;
    let payload = match (c.payload, c.compressed) {
        (Some(p), _) if !p.is_empty() => p.to_vec(),
        (_, Some(z)) => inflate(z, rules.max_inflated)?,
        _ => return Err(Refusal::NoPayload),
    };
    if payload.is_empty() {
        return Err(Refusal::NoPayload);
    }
    let time = c.seconds.map(|s| {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::from(s))
            + Duration::from_micros(u64::from(c.micros.unwrap_or(0).min(999_999)))
    });
    Ok(Packet {
        version: Version::V3,
        transport: transport(c.ip_protocol.unwrap_or(ip_protocol::UDP), &payload)?,
        src,
        dst,
        time,
        capture_id: c.capture_id.unwrap_or(0),
        vlan: c.vlan,
        payload,
        unknown_chunks: c.unknown,
    })
}

impl<'a> Chunks<'a> {
    /// Takes one generic chunk's value, checking its size.
    fn take(&mut self, kind: Kind, v: &'a [u8]) -> Result<(), Refusal> {
        let u8_of = |v: &[u8]| match v {
            [b] => Ok(*b),
            _ => Err(Refusal::ChunkWrongSize),
        };
        let u16_of = |v: &[u8]| {
            <[u8; 2]>::try_from(v)
                .map(u16::from_be_bytes)
                .map_err(|_| Refusal::ChunkWrongSize)
        };
        let u32_of = |v: &[u8]| {
            <[u8; 4]>::try_from(v)
                .map(u32::from_be_bytes)
                .map_err(|_| Refusal::ChunkWrongSize)
        };
        let v6_of = |v: &[u8]| {
            <[u8; 16]>::try_from(v)
                .map(Ipv6Addr::from)
                .map_err(|_| Refusal::ChunkWrongSize)
        };
        match kind {
            Kind::IpFamily => self.family = Some(u8_of(v)?),
            Kind::IpProtocol => self.ip_protocol = Some(u8_of(v)?),
            Kind::Ipv4Source => self.src4 = Some(Ipv4Addr::from(u32_of(v)?)),
            Kind::Ipv4Destination => self.dst4 = Some(Ipv4Addr::from(u32_of(v)?)),
            Kind::Ipv6Source => self.src6 = Some(v6_of(v)?),
            Kind::Ipv6Destination => self.dst6 = Some(v6_of(v)?),
            Kind::SourcePort => self.src_port = Some(u16_of(v)?),
            Kind::DestinationPort => self.dst_port = Some(u16_of(v)?),
            Kind::TimeSeconds => self.seconds = Some(u32_of(v)?),
            Kind::TimeMicros => self.micros = Some(u32_of(v)?),
            Kind::ProtocolType => self.protocol = Some(u8_of(v)?),
            Kind::CaptureId => self.capture_id = Some(u32_of(v)?),
            Kind::Password => self.password = Some(v),
            Kind::Payload => self.payload = Some(v),
            Kind::CompressedPayload => self.compressed = Some(v),
            Kind::Vlan => self.vlan = Some(u16_of(v)?),
            // Read by nothing here: the agent is named by its capture id
            // and address, messages are correlated by their Call-ID.
            Kind::KeepAlive | Kind::CorrelationId | Kind::NodeName => {}
        }
        Ok(())
    }

    /// Source and destination, of the family the packet names (or of
    /// whichever it carries, when it names none).
    fn addresses(&self) -> Result<(SocketAddr, SocketAddr), Refusal> {
        let v4 = self.src4.zip(self.dst4).map(|(s, d)| (s.into(), d.into()));
        let v6 = self.src6.zip(self.dst6).map(|(s, d)| (s.into(), d.into()));
        let pair: Option<(IpAddr, IpAddr)> = match self.family {
            Some(FAMILY_IPV4) => v4,
            Some(FAMILY_IPV6) => v6,
            Some(_) => return Err(Refusal::UnknownFamily),
            None => v4.or(v6),
        };
        let ((src, dst), (sp, dp)) = pair
            .zip(self.src_port.zip(self.dst_port))
            .ok_or(Refusal::NoAddresses)?;
        Ok((SocketAddr::new(src, sp), SocketAddr::new(dst, dp)))
    }
}

/// Bytes of v2's time header: seconds, microseconds, a 16-bit capture id,
/// and the C struct's padding.
const V2_TIME_LEN: usize = 12;

fn decode_v2(bytes: &[u8], rules: &Rules) -> Result<Packet, Refusal> {
    let Some(&[version, header_len, family, protocol, sp0, sp1, dp0, dp1]) = bytes.get(..8) else {
        return Err(Refusal::V2TooShort);
    };
    let (header, addr_len) = match family {
        FAMILY_IPV4 => (16, 4),
        FAMILY_IPV6 => (40, 16),
        _ => return Err(Refusal::UnknownFamily),
    };
    if usize::from(header_len) != header {
        return Err(Refusal::LengthMismatch);
    }
    let time_len = if version == 2 { V2_TIME_LEN } else { 0 };
    if bytes.len() <= header + time_len {
        return Err(Refusal::V2TooShort);
    }
    // v2 has no password to check.
    if rules.password.is_some() {
        return Err(Refusal::WrongPassword);
    }
    let address = |at: usize| -> IpAddr {
        let raw = &bytes[at..at + addr_len];
        match <[u8; 4]>::try_from(raw) {
            Ok(v4) => Ipv4Addr::from(v4).into(),
            Err(_) => {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(raw);
                Ipv6Addr::from(v6).into()
            }
        }
    };
    let src = SocketAddr::new(address(8), u16::from_be_bytes([sp0, sp1]));
    let dst = SocketAddr::new(address(8 + addr_len), u16::from_be_bytes([dp0, dp1]));
    let (time, capture_id) = if version == 2 {
        let t = &bytes[header..header + V2_TIME_LEN];
        let le32 = |i: usize| u32::from_le_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        let time = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::from(le32(0)))
            + Duration::from_micros(u64::from(le32(4).min(999_999)));
        (Some(time), u32::from(u16::from_le_bytes([t[8], t[9]])))
    } else {
        (None, 0)
    };
    let payload = bytes[header + time_len..].to_vec();
    Ok(Packet {
        version: if version == 2 {
            Version::V2
        } else {
            Version::V1
        },
        transport: transport(protocol, &payload)?,
        src,
        dst,
        time,
        capture_id,
        vlan: None,
        payload,
        unknown_chunks: 0,
    })
}

/// The transport a captured message was carried by. UDP is UDP; for TCP
/// (Asterisk's `res_hep_pjsip` says TCP for every reliable transport) and
/// Kamailio's protocol 22 (TLS, WS and WSS alike), the top Via names
/// which: a request's is its own hop's, and a response carries its
/// request's back over the same connection.
fn transport(ip_protocol: u8, payload: &[u8]) -> Result<Transport, Refusal> {
    let via = || {
        let index = MessageIndex::parse(payload);
        let top = index.header("via")?;
        let via = parse_via(&top)?;
        match via.transport.to_ascii_uppercase().as_str() {
            "TLS" => Some(Transport::Tls),
            "WS" => Some(Transport::Ws),
            "WSS" => Some(Transport::Wss),
            "TCP" => Some(Transport::Tcp),
            _ => None,
        }
    };
    match ip_protocol {
        ip_protocol::UDP => Ok(Transport::Udp),
        ip_protocol::TCP => Ok(via()
            .filter(|t| *t != Transport::Tcp)
            .unwrap_or(Transport::Tcp)),
        ip_protocol::KAMAILIO_TLS => Ok(via()
            .filter(|t| *t != Transport::Tcp)
            .unwrap_or(Transport::Tls)),
        _ => Err(Refusal::OtherTransport),
    }
}

/// Inflates a gzip (RFC 1952) or zlib (RFC 1950) payload, at most `max`
/// bytes of it.
fn inflate(z: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    use miniz_oxide::inflate::{self, TINFLStatus};
    let too_large = |e: inflate::DecompressError| match e.status {
        TINFLStatus::HasMoreOutput => Refusal::InflatesTooLarge,
        _ => Refusal::BadCompression,
    };
    match z {
        [0x1f, 0x8b, ..] => {
            let (deflate, crc, size) = gzip_parts(z).ok_or(Refusal::BadCompression)?;
            let out = inflate::decompress_to_vec_with_limit(deflate, max).map_err(too_large)?;
            let whole = crc32fast::hash(&out) == crc && out.len() as u32 == size;
            whole.then_some(out).ok_or(Refusal::BadCompression)
        }
        [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 => {
            inflate::decompress_to_vec_zlib_with_limit(z, max).map_err(too_large)
        }
        _ => Err(Refusal::BadCompression),
    }
}

/// A gzip member's deflate data, CRC-32 and size (mod 2^32), its optional
/// header fields passed over.
fn gzip_parts(z: &[u8]) -> Option<(&[u8], u32, u32)> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    if z.len() < 18 || z[2] != 8 {
        return None;
    }
    let flags = z[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let xlen = usize::from(u16::from_le_bytes([*z.get(at)?, *z.get(at + 1)?]));
        at += 2 + xlen;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            at += z.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let end = z.len().checked_sub(8)?;
    let deflate = z.get(at..end)?;
    let t = &z[end..];
    Some((
        deflate,
        u32::from_le_bytes([t[0], t[1], t[2], t[3]]),
        u32::from_le_bytes([t[4], t[5], t[6], t[7]]),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const REGISTER: &str = "REGISTER sip:203.0.113.2 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-hep1\r\n\
        From: <sip:1001@203.0.113.2>;tag=1\r\nTo: <sip:1001@203.0.113.2>\r\nCall-ID: hep1\r\n\
        CSeq: 1 REGISTER\r\nContact: <sip:1001@192.168.77.10:5060>\r\nExpires: 300\r\n\
        Content-Length: 0\r\n\r\n";

    /// One chunk, as a test writes it (heplify style, any vendor).
    pub(crate) fn chunk(vendor: u16, kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&vendor.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    /// A HEP v3 packet of these chunks, its length set.
    pub(crate) fn packet(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"HEP3\0\0".to_vec();
        for c in chunks {
            out.extend_from_slice(c);
        }
        let len = out.len() as u16;
        out[4..6].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// A gzip member of `data` (stored as miniz compresses it).
    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    /// The chunks Asterisk sends, in Asterisk's order: time first, then
    /// the addresses, then the password and the payload.
    pub(crate) fn asterisk_order(payload_chunk: Vec<u8>, extra: &[Vec<u8>]) -> Vec<u8> {
        let mut chunks = vec![
            chunk(0, 0x0002, &[17]),
            chunk(0, 0x0009, &1_800_000_000u32.to_be_bytes()),
            chunk(0, 0x000a, &250_000u32.to_be_bytes()),
            chunk(0, 0x000b, &[1]),
            chunk(0, 0x000c, &2001u32.to_be_bytes()),
            chunk(0, 0x0001, &[2]),
            chunk(0, 0x0003, &[192, 168, 77, 10]),
            chunk(0, 0x0004, &[203, 0, 113, 2]),
            chunk(0, 0x0007, &5060u16.to_be_bytes()),
            chunk(0, 0x0008, &5060u16.to_be_bytes()),
        ];
        chunks.extend_from_slice(extra);
        chunks.push(payload_chunk);
        packet(&chunks)
    }

    #[test]
    fn chunks_in_asterisks_order_read_as_the_message_with_its_addresses_and_time() {
        let p = decode(
            &asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]),
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(p.version, Version::V3);
        assert_eq!(p.src, "192.168.77.10:5060".parse().unwrap());
        assert_eq!(p.dst, "203.0.113.2:5060".parse().unwrap());
        assert_eq!(p.transport, Transport::Udp);
        assert_eq!(p.capture_id, 2001);
        assert_eq!(
            p.time,
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_250))
        );
        assert_eq!(p.payload, REGISTER.as_bytes());
    }

    #[test]
    fn a_gzip_payload_is_inflated_and_vendor_chunks_are_passed_over() {
        let vendor = [chunk(0x0004, 0x0001, b"asterisk"), chunk(0, 0x00ff, b"??")];
        let bytes = asterisk_order(chunk(0, 0x0010, &gzip(REGISTER.as_bytes())), &vendor);
        let p = decode(&bytes, &Rules::default()).unwrap();
        assert_eq!(p.payload, REGISTER.as_bytes());
        assert_eq!(p.unknown_chunks, 2);
    }

    #[test]
    fn a_gzip_bomb_is_refused_at_the_cap() {
        let bomb = gzip(&vec![b'a'; 10 * MAX_INFLATED]);
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let bytes = asterisk_order(chunk(0, 0x0010, &bomb), &[]);
        assert_eq!(
            decode(&bytes, &Rules::default()),
            Err(Refusal::InflatesTooLarge)
        );
        let mut corrupt = gzip(REGISTER.as_bytes());
        let last = corrupt.len() - 9;
        corrupt[last] ^= 0xff;
        let bytes = asterisk_order(chunk(0, 0x0010, &corrupt), &[]);
        assert_eq!(
            decode(&bytes, &Rules::default()),
            Err(Refusal::BadCompression)
        );
    }

    #[test]
    fn the_password_is_checked_when_one_is_asked_for() {
        let with = asterisk_order(
            chunk(0, 0x000f, REGISTER.as_bytes()),
            &[chunk(0, 0x000e, b"s3cret")],
        );
        let without = asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]);
        let rules = Rules {
            password: Some(b"s3cret".to_vec()),
            ..Rules::default()
        };
        assert!(decode(&with, &rules).is_ok());
        assert!(decode(&with, &Rules::default()).is_ok());
        assert_eq!(decode(&without, &rules), Err(Refusal::WrongPassword));
        let wrong = Rules {
            password: Some(b"other".to_vec()),
            ..Rules::default()
        };
        assert_eq!(decode(&with, &wrong), Err(Refusal::WrongPassword));
    }

    #[test]
    fn lengths_that_lie_are_refused_by_name() {
        let good = asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]);
        let r = Rules::default();
        assert_eq!(decode(&good[..3], &r), Err(Refusal::Truncated));
        assert_eq!(decode(&good[..5], &r), Err(Refusal::Truncated));
        assert_eq!(
            decode(&good[..good.len() - 1], &r),
            Err(Refusal::LengthMismatch)
        );
        // A chunk of length 4, and one running past the end.
        let mut short = packet(&[chunk(0, 0x0001, &[2])]);
        short[11] = 4;
        assert_eq!(decode(&short, &r), Err(Refusal::ChunkTooShort));
        let mut past = packet(&[chunk(0, 0x0001, &[2])]);
        past[11] = 9;
        assert_eq!(decode(&past, &r), Err(Refusal::ChunkPastEnd));
        let mut cut = packet(&[chunk(0, 0x0001, &[2])]);
        cut.extend_from_slice(&[0, 0, 0]);
        let len = cut.len() as u16;
        cut[4..6].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode(&cut, &r), Err(Refusal::ChunkPastEnd));
        let wrong_size = packet(&[chunk(0, 0x0007, &[1, 2, 3])]);
        assert_eq!(decode(&wrong_size, &r), Err(Refusal::ChunkWrongSize));
    }

    #[test]
    fn what_a_packet_lacks_is_named() {
        let r = Rules::default();
        let no_payload = asterisk_order(chunk(0, 0x000f, b""), &[]);
        assert_eq!(decode(&no_payload, &r), Err(Refusal::NoPayload));
        let no_addresses = packet(&[chunk(0, 0x000f, REGISTER.as_bytes())]);
        assert_eq!(decode(&no_addresses, &r), Err(Refusal::NoAddresses));
        let rtcp = asterisk_order(chunk(0, 0x000f, b"x"), &[chunk(0, 0x000b, &[5])]);
        assert_eq!(decode(&rtcp, &r), Err(Refusal::NotSip));
        let sctp = asterisk_order(
            chunk(0, 0x000f, REGISTER.as_bytes()),
            &[chunk(0, 0x0002, &[132])],
        );
        assert_eq!(decode(&sctp, &r), Err(Refusal::OtherTransport));
        assert_eq!(decode(b"\x16\x03\x01", &r), Err(Refusal::NotHep));
    }

    #[test]
    fn tls_ws_and_wss_are_kept_as_the_sender_marks_them() {
        let over = |ip: u8, via: &str| {
            let text = REGISTER.replace("SIP/2.0/UDP", &format!("SIP/2.0/{via}"));
            let bytes = asterisk_order(
                chunk(0, 0x000f, text.as_bytes()),
                &[chunk(0, 0x0002, &[ip])],
            );
            decode(&bytes, &Rules::default()).unwrap().transport
        };
        // Kamailio: protocol 22 for all three; Asterisk: TCP for all.
        assert_eq!(over(22, "TLS"), Transport::Tls);
        assert_eq!(over(22, "WSS"), Transport::Wss);
        assert_eq!(over(22, "WS"), Transport::Ws);
        assert_eq!(over(6, "TLS"), Transport::Tls);
        assert_eq!(over(6, "TCP"), Transport::Tcp);
        assert_eq!(over(17, "UDP"), Transport::Udp);
    }

    /// A HEP v2 packet as Kamailio's `siptrace` writes it (IPv4).
    pub(crate) fn v2(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![2, 16, 2, 17];
        out.extend_from_slice(&5060u16.to_be_bytes());
        out.extend_from_slice(&5060u16.to_be_bytes());
        out.extend_from_slice(&[192, 168, 77, 10, 203, 0, 113, 2]);
        out.extend_from_slice(&1_800_000_000u32.to_le_bytes());
        out.extend_from_slice(&500u32.to_le_bytes());
        out.extend_from_slice(&7u16.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn hep_v2_reads_its_header_time_and_capture_id() {
        let p = decode(&v2(REGISTER.as_bytes()), &Rules::default()).unwrap();
        assert_eq!(p.version, Version::V2);
        assert_eq!(p.src, "192.168.77.10:5060".parse().unwrap());
        assert_eq!(p.dst, "203.0.113.2:5060".parse().unwrap());
        assert_eq!(p.capture_id, 7);
        assert_eq!(
            p.time,
            Some(SystemTime::UNIX_EPOCH + Duration::from_micros(1_800_000_000_000_500))
        );
        assert_eq!(p.payload, REGISTER.as_bytes());
        let r = Rules::default();
        assert_eq!(decode(&v2(b"")[..20], &r), Err(Refusal::V2TooShort));
        assert_eq!(decode(&v2(b"")[..6], &r), Err(Refusal::V2TooShort));
        let mut bad_len = v2(REGISTER.as_bytes());
        bad_len[1] = 200;
        assert_eq!(decode(&bad_len, &r), Err(Refusal::LengthMismatch));
        let mut family = v2(REGISTER.as_bytes());
        family[2] = 7;
        assert_eq!(decode(&family, &r), Err(Refusal::UnknownFamily));
    }

    #[test]
    fn tcp_frames_hep_v3_by_its_length_and_refuses_v2() {
        let p = asterisk_order(chunk(0, 0x000f, REGISTER.as_bytes()), &[]);
        assert_eq!(framed_len(&p[..3]), Ok(None));
        assert_eq!(framed_len(&p), Ok(Some(p.len())));
        assert_eq!(framed_len(&v2(b"x")), Err(Refusal::V2OverTcp));
        assert_eq!(framed_len(b"GET /"), Err(Refusal::NotHep));
        assert_eq!(framed_len(b"HEP3\0\x02"), Err(Refusal::LengthMismatch));
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode(&bytes, &Rules::default());
            let mut v3 = b"HEP3".to_vec();
            v3.extend_from_slice(&((bytes.len() + 6) as u16).to_be_bytes());
            v3.extend_from_slice(&bytes);
            let _ = decode(&v3, &Rules::default());
            let _ = framed_len(&bytes);
        }
    }
}
