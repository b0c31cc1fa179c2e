//! One HEP v3 packet out of one captured message (or one log record), in
//! the form the strictest receiver takes: heplify-server drops a packet
//! whose header length differs from its size or whose chunk lengths do not
//! add up, and reads the capture id as a 32-bit big-endian number.
//!
//! The chunks go in a fixed order, the payload last (some receivers stop
//! at the payload): family, IP protocol, addresses, ports, time (seconds,
//! microseconds), protocol type, capture id, then the optional password,
//! node name, correlation id and VLAN, then the payload.
//!
//! ```
//! use sipwatch::hep::{chunk::Protocol, encode::{Packet, encode}};
//! let packet = Packet {
//!     protocol: Protocol::Sip,
//!     ip_protocol: 17,
//!     src: "192.0.2.10:5060".parse().unwrap(),
//!     dst: "203.0.113.2:5060".parse().unwrap(),
//!     time: std::time::UNIX_EPOCH,
//!     capture_id: 2001,
//!     password: None,
//!     node_name: None,
//!     correlation_id: Some("a84b4c76e66710"),
//!     vlan: None,
//!     payload: b"OPTIONS sip:203.0.113.2 SIP/2.0\r\n\r\n",
//! };
//! let mut out = Vec::new();
//! encode(&packet, &mut out).unwrap();
//! assert_eq!(&out[..4], b"HEP3");
//! assert_eq!(u16::from_be_bytes([out[4], out[5]]) as usize, out.len());
//! ```
use std::{
    net::{IpAddr, SocketAddr},
    time::SystemTime,
};

use super::chunk::{
    CHUNK_HEADER_LEN, FAMILY_IPV4, FAMILY_IPV6, Kind, MAGIC, MAX_PACKET_LEN, PACKET_HEADER_LEN,
    Protocol, VENDOR_GENERIC,
};

/// IP protocol number of UDP (chunk [`Kind::IpProtocol`]).
pub const IP_PROTOCOL_UDP: u8 = 17;
/// IP protocol number of TCP; TLS and WebSocket travel over it too.
pub const IP_PROTOCOL_TCP: u8 = 6;

/// What one HEP packet carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// A SIP message or a log record.
    pub protocol: Protocol,
    /// The IP protocol the message travelled in ([`IP_PROTOCOL_UDP`],
    /// [`IP_PROTOCOL_TCP`]).
    pub ip_protocol: u8,
    /// The captured message's source address and port.
    pub src: SocketAddr,
    /// The captured message's destination address and port.
    pub dst: SocketAddr,
    /// When it was captured (not when it is sent); microseconds kept.
    pub time: SystemTime,
    /// The capture agent's id (`--hep-id`).
    pub capture_id: u32,
    /// The receiver's authentication key (`--hep-password`).
    pub password: Option<&'a str>,
    /// This capture node's name (`--hep-node-name`).
    pub node_name: Option<&'a str>,
    /// The Call-ID, for HOMER to put messages and log records together.
    pub correlation_id: Option<&'a str>,
    /// The message's (outer) VLAN id, when it was tagged.
    pub vlan: Option<u16>,
    /// The message's bytes as on the wire, or a log record's text.
    pub payload: &'a [u8],
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Over the largest HEP packet (a UDP datagram's largest payload).
    #[error("{len} bytes as a HEP packet, over the {max} bytes a HEP packet holds")]
    TooLarge {
        /// The packet's size had it been encoded.
        len: usize,
        /// [`MAX_PACKET_LEN`].
        max: usize,
    },
}

/// Appends `packet` to `out` as one HEP v3 packet; on error `out` is left
/// as it was.
pub fn encode(packet: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = encoded_len(packet);
    if len > MAX_PACKET_LEN {
        return Err(EncodeError::TooLarge {
            len,
            max: MAX_PACKET_LEN,
        });
    }
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    let (src, dst) = same_family(packet.src.ip(), packet.dst.ip());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            chunk(out, Kind::IpFamily, &[FAMILY_IPV4]);
            chunk(out, Kind::IpProtocol, &[packet.ip_protocol]);
            chunk(out, Kind::Ipv4Source, &s.octets());
            chunk(out, Kind::Ipv4Destination, &d.octets());
        }
        (s, d) => {
            chunk(out, Kind::IpFamily, &[FAMILY_IPV6]);
            chunk(out, Kind::IpProtocol, &[packet.ip_protocol]);
            chunk(out, Kind::Ipv6Source, &v6(s).octets());
            chunk(out, Kind::Ipv6Destination, &v6(d).octets());
        }
    }
    chunk(out, Kind::SourcePort, &packet.src.port().to_be_bytes());
    chunk(out, Kind::DestinationPort, &packet.dst.port().to_be_bytes());
    let since = packet
        .time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    // HEP's seconds are 32 bits: past 2106 they wrap, as every sender's do.
    chunk(
        out,
        Kind::TimeSeconds,
        &(since.as_secs() as u32).to_be_bytes(),
    );
    chunk(out, Kind::TimeMicros, &since.subsec_micros().to_be_bytes());
    chunk(out, Kind::ProtocolType, &[packet.protocol as u8]);
    chunk(out, Kind::CaptureId, &packet.capture_id.to_be_bytes());
    if let Some(p) = packet.password {
        chunk(out, Kind::Password, p.as_bytes());
    }
    if let Some(n) = packet.node_name {
        chunk(out, Kind::NodeName, n.as_bytes());
    }
    if let Some(c) = packet.correlation_id {
        chunk(out, Kind::CorrelationId, c.as_bytes());
    }
    if let Some(v) = packet.vlan {
        chunk(out, Kind::Vlan, &v.to_be_bytes());
    }
    chunk(out, Kind::Payload, packet.payload);
    debug_assert_eq!(out.len() - start, len);
    Ok(())
}

/// The packet's size once encoded, header included.
pub fn encoded_len(packet: &Packet<'_>) -> usize {
    let (src, _) = same_family(packet.src.ip(), packet.dst.ip());
    let address = if src.is_ipv4() { 4 } else { 16 };
    let fixed = [1, 1, address, address, 2, 2, 4, 4, 1, 4];
    let optional = [
        packet.password.map(str::len),
        packet.node_name.map(str::len),
        packet.correlation_id.map(str::len),
        packet.vlan.map(|_| 2),
        Some(packet.payload.len()),
    ];
    PACKET_HEADER_LEN
        + fixed
            .iter()
            .chain(optional.iter().flatten())
            .map(|value| CHUNK_HEADER_LEN + value)
            .sum::<usize>()
}

/// Both addresses in one family: HEP has one family chunk, so an IPv4
/// address beside an IPv6 one is written IPv4-mapped (RFC 4291 §2.5.5.2).
fn same_family(src: IpAddr, dst: IpAddr) -> (IpAddr, IpAddr) {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (src, dst),
        _ => (IpAddr::V6(v6(src)), IpAddr::V6(v6(dst))),
    }
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// One generic chunk; its length counts its own six-byte header. The
/// caller has checked the whole packet fits, so every length fits 16 bits.
fn chunk(out: &mut Vec<u8>, kind: Kind, value: &[u8]) {
    out.extend_from_slice(&VENDOR_GENERIC.to_be_bytes());
    out.extend_from_slice(&(kind as u16).to_be_bytes());
    out.extend_from_slice(&((CHUNK_HEADER_LEN + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn packet<'a>(payload: &'a [u8]) -> Packet<'a> {
        Packet {
            protocol: Protocol::Sip,
            ip_protocol: IP_PROTOCOL_TCP,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5080".parse().unwrap(),
            time: SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            capture_id: 0x0102_0304,
            password: Some("s3cret"),
            node_name: Some("pbx-1"),
            correlation_id: Some("abc@host"),
            vlan: Some(100),
            payload,
        }
    }

    /// Walks the chunks as a strict receiver does: (type, value) in order,
    /// failing on any length that does not add up.
    fn chunks(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[4], bytes[5]])),
            bytes.len()
        );
        let mut at = PACKET_HEADER_LEN;
        let mut out = Vec::new();
        while at < bytes.len() {
            let vendor = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
            let kind = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]);
            let len = usize::from(u16::from_be_bytes([bytes[at + 4], bytes[at + 5]]));
            assert_eq!(vendor, VENDOR_GENERIC);
            assert!(len >= CHUNK_HEADER_LEN && at + len <= bytes.len());
            out.push((kind, bytes[at + CHUNK_HEADER_LEN..at + len].to_vec()));
            at += len;
        }
        assert_eq!(at, bytes.len());
        out
    }

    #[test]
    fn every_chunk_has_its_exact_size_and_the_payload_is_last() {
        let payload = b"REGISTER sip:203.0.113.2 SIP/2.0\r\n\r\n";
        let mut out = Vec::new();
        encode(&packet(payload), &mut out).unwrap();
        assert_eq!(out.len(), encoded_len(&packet(payload)));
        let got = chunks(&out);
        let kinds: Vec<u16> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                1, 2, 3, 4, 7, 8, 9, 10, 0x0b, 0x0c, 0x0e, 0x13, 0x11, 0x12, 0x0f
            ]
        );
        let value = |k: Kind| got.iter().find(|(t, _)| *t == k as u16).unwrap().1.clone();
        assert_eq!(value(Kind::IpFamily), [FAMILY_IPV4]);
        assert_eq!(value(Kind::IpProtocol), [6]);
        assert_eq!(value(Kind::Ipv4Source), [192, 168, 77, 10]);
        assert_eq!(value(Kind::DestinationPort), 5080u16.to_be_bytes());
        assert_eq!(value(Kind::TimeSeconds), 1_700_000_000u32.to_be_bytes());
        assert_eq!(value(Kind::TimeMicros), 123_456u32.to_be_bytes());
        assert_eq!(value(Kind::CaptureId), [1, 2, 3, 4]);
        assert_eq!(value(Kind::CorrelationId), b"abc@host");
        assert_eq!(value(Kind::Vlan), 100u16.to_be_bytes());
        assert_eq!(got.last().unwrap().1, payload);
    }

    #[test]
    fn optional_chunks_are_left_out_and_ipv6_takes_sixteen_bytes() {
        let mut p = packet(b"x");
        p.password = None;
        p.node_name = None;
        p.correlation_id = None;
        p.vlan = None;
        p.src = "[2001:db8::1]:5060".parse().unwrap();
        let mut out = Vec::new();
        encode(&p, &mut out).unwrap();
        let got = chunks(&out);
        assert_eq!(got[0].1, [FAMILY_IPV6]);
        assert_eq!(got[2].1.len(), 16);
        // The IPv4 destination beside an IPv6 source: IPv4-mapped.
        assert_eq!(got[3].1[..12], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(got.len(), 11);
    }

    #[test]
    fn a_packet_over_the_largest_is_refused_and_nothing_is_written() {
        let header = encoded_len(&packet(b""));
        let fits = vec![b'a'; MAX_PACKET_LEN - header];
        let mut out = Vec::new();
        encode(&packet(&fits), &mut out).unwrap();
        assert_eq!(out.len(), MAX_PACKET_LEN);
        let over = vec![b'a'; MAX_PACKET_LEN - header + 1];
        let mut out = vec![1, 2];
        assert_eq!(
            encode(&packet(&over), &mut out),
            Err(EncodeError::TooLarge {
                len: MAX_PACKET_LEN + 1,
                max: MAX_PACKET_LEN
            })
        );
        assert_eq!(out, [1, 2]);
    }
}
