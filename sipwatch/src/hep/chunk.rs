//! HEP v3's numbers: the magic, chunk types of vendor 0 (generic) and the
//! capture protocol types carried in chunk 0x000b.
//!
//! A HEP v3 packet is `"HEP3"`, a 16-bit big-endian total length (the
//! whole packet, header included), then chunks: vendor id (u16), type (u16),
//! length (u16, the chunk's six-byte header included), value. Every number
//! is big-endian.

/// The four bytes every HEP v3 packet starts with.
pub const MAGIC: &[u8; 4] = b"HEP3";
/// Bytes of the packet header: magic and total length.
pub const PACKET_HEADER_LEN: usize = 6;
/// Bytes of a chunk's header: vendor, type, length.
pub const CHUNK_HEADER_LEN: usize = 6;
/// The largest HEP packet sent over UDP: the largest UDP payload over IPv4
/// (65,535 − 20 − 8), which heplify-server also reads at most.
pub const MAX_PACKET_LEN: usize = 65_507;
/// Vendor id of the generic chunks below.
pub const VENDOR_GENERIC: u16 = 0x0000;

/// A generic chunk's type (vendor 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum Kind {
    /// u8: address family, 2 (AF_INET) or 10 (AF_INET6).
    IpFamily = 0x0001,
    /// u8: IP protocol of the captured packet: 17 UDP, 6 TCP, 132 SCTP.
    IpProtocol = 0x0002,
    /// 4 bytes: IPv4 source address.
    Ipv4Source = 0x0003,
    /// 4 bytes: IPv4 destination address.
    Ipv4Destination = 0x0004,
    /// 16 bytes: IPv6 source address.
    Ipv6Source = 0x0005,
    /// 16 bytes: IPv6 destination address.
    Ipv6Destination = 0x0006,
    /// u16: source port.
    SourcePort = 0x0007,
    /// u16: destination port.
    DestinationPort = 0x0008,
    /// u32: capture time, seconds since the Unix epoch.
    TimeSeconds = 0x0009,
    /// u32: capture time, microseconds within the second.
    TimeMicros = 0x000a,
    /// u8: what the payload is ([`Protocol`]).
    ProtocolType = 0x000b,
    /// u32: capture agent id (`--hep-id`; Asterisk's `capture_id`).
    CaptureId = 0x000c,
    /// u16: keep-alive timer, seconds.
    KeepAlive = 0x000d,
    /// string: authentication key (`--hep-password`).
    Password = 0x000e,
    /// bytes: the captured payload (the SIP message, or a log record's text).
    Payload = 0x000f,
    /// bytes: the payload, gzip-compressed.
    CompressedPayload = 0x0010,
    /// string: correlation id (the Call-ID, for a SIP message and its logs).
    CorrelationId = 0x0011,
    /// u16: VLAN id.
    Vlan = 0x0012,
    /// string: capture node's name (`--hep-node-name`).
    NodeName = 0x0013,
}

impl Kind {
    /// The kind of a generic chunk's type number, or `None` for a type this
    /// table does not name (passed over by a reader, never an error).
    pub fn from_u16(value: u16) -> Option<Kind> {
        use Kind::*;
        Some(match value {
            0x0001 => IpFamily,
            0x0002 => IpProtocol,
            0x0003 => Ipv4Source,
            0x0004 => Ipv4Destination,
            0x0005 => Ipv6Source,
            0x0006 => Ipv6Destination,
            0x0007 => SourcePort,
            0x0008 => DestinationPort,
            0x0009 => TimeSeconds,
            0x000a => TimeMicros,
            0x000b => ProtocolType,
            0x000c => CaptureId,
            0x000d => KeepAlive,
            0x000e => Password,
            0x000f => Payload,
            0x0010 => CompressedPayload,
            0x0011 => CorrelationId,
            0x0012 => Vlan,
            0x0013 => NodeName,
            _ => return None,
        })
    }
}

/// Address family values of chunk [`Kind::IpFamily`].
pub const FAMILY_IPV4: u8 = 2;
/// Address family values of chunk [`Kind::IpFamily`].
pub const FAMILY_IPV6: u8 = 10;

/// What a packet's payload is (chunk [`Kind::ProtocolType`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    /// A SIP message, as on the wire.
    Sip = 0x01,
    /// A log record (text) correlated by the correlation id: HOMER shows it
    /// beside the messages of that Call-ID.
    Log = 0x64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_kind_reads_back_from_its_number() {
        for n in 0..=0x20u16 {
            if let Some(kind) = Kind::from_u16(n) {
                assert_eq!(kind as u16, n);
            }
        }
        assert_eq!(Kind::from_u16(0x0013), Some(Kind::NodeName));
        assert_eq!(Kind::from_u16(0x0014), None);
    }
}
