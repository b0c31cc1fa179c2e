//! ICMP and ICMPv6 errors about SIP packets, as evidence.
//!
//! A REGISTER to an address where nothing listens draws "port unreachable";
//! a firewall that rejects rather than drops answers "administratively
//! prohibited"; a REGISTER too big for the path draws "fragmentation
//! needed" or "packet too big" with the MTU. Each quotes the packet it is
//! about (its IP header and at least 8 bytes after it), which says which
//! SIP flow failed, and often the SIP start line itself. sipwatch decodes
//! them into an [`IcmpError`], so that tracking can later attach them to
//! the transaction they end.
//!
//! ```
//! use sipwatch::net::{IcmpKind, icmp_kind};
//! // ICMPv4 destination unreachable, code 3.
//! assert_eq!(icmp_kind(4, 3, 3), Some(IcmpKind::PortUnreachable));
//! assert_eq!(IcmpKind::PortUnreachable.to_string(), "port unreachable");
//! ```
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::SystemTime,
};

use sipwatch_common::{
    Direction, MAX_IPV6_EXT_HEADERS, looks_like_sip_start,
    wire::{
        ICMP_DEST_UNREACH, ICMP_HEADER_LEN, ICMPV6_DEST_UNREACH, ICMPV6_PACKET_TOO_BIG,
        IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_TCP,
        IPPROTO_UDP, IPV4_FRAGMENT_OFFSET_MASK, IPV4_MIN_HEADER_LEN, IPV6_EXT_LEN_UNIT,
        IPV6_FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN, UDP_HEADER_LEN,
    },
};

use super::Transport;

/// What an ICMP error says went wrong, in the terms a person uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IcmpKind {
    /// Nothing listens on the port (the host is up).
    PortUnreachable,
    /// The last router cannot reach the host (ICMPv6: address unreachable).
    HostUnreachable,
    /// No route to the network.
    NetworkUnreachable,
    /// A firewall rejects the packet (ICMPv4 codes 9, 10, 13; ICMPv6 codes
    /// 1, 5, 6).
    AdministrativelyProhibited,
    /// ICMPv4: the packet has Don't Fragment set and is larger than the
    /// next hop's MTU.
    FragmentationNeeded,
    /// ICMPv6: the packet is larger than the next hop's MTU.
    PacketTooBig,
    /// Another destination-unreachable code (protocol unreachable, source
    /// route failed, beyond scope…).
    OtherUnreachable,
}

impl std::fmt::Display for IcmpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IcmpKind::PortUnreachable => "port unreachable",
            IcmpKind::HostUnreachable => "host unreachable",
            IcmpKind::NetworkUnreachable => "network unreachable",
            IcmpKind::AdministrativelyProhibited => "administratively prohibited",
            IcmpKind::FragmentationNeeded => "fragmentation needed",
            IcmpKind::PacketTooBig => "packet too big",
            IcmpKind::OtherUnreachable => "destination unreachable",
        })
    }
}

/// The kind of an ICMP (`ip_version` 4) or ICMPv6 (6) message of this type
/// and code, when it is an error about a packet that did not get through.
pub fn icmp_kind(ip_version: u8, icmp_type: u8, code: u8) -> Option<IcmpKind> {
    use IcmpKind::*;
    Some(match (ip_version, icmp_type) {
        (4, ICMP_DEST_UNREACH) => match code {
            0 | 6 => NetworkUnreachable,
            1 | 7 => HostUnreachable,
            3 => PortUnreachable,
            4 => FragmentationNeeded,
            9 | 10 | 13 => AdministrativelyProhibited,
            _ => OtherUnreachable,
        },
        (6, ICMPV6_DEST_UNREACH) => match code {
            0 => NetworkUnreachable,
            1 | 5 | 6 => AdministrativelyProhibited,
            3 => HostUnreachable,
            4 => PortUnreachable,
            _ => OtherUnreachable,
        },
        (6, ICMPV6_PACKET_TOO_BIG) => PacketTooBig,
        _ => return None,
    })
}

/// The packet an ICMP error quotes: as much of it as the error carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotedPacket {
    /// UDP or TCP, from the quoted IP header's protocol.
    pub transport: Transport,
    /// The failed packet's source address and port, as quoted (a NAT on
    /// the way back normally turns it into the sender's own again).
    pub src: SocketAddr,
    /// Where the failed packet was going: the SIP server or port it did not
    /// reach.
    pub dst: SocketAddr,
    /// The quoted transport payload (often cut short, often empty).
    pub payload: Vec<u8>,
}

impl QuotedPacket {
    /// The SIP start line the quote begins with, if it does.
    pub fn sip_start_line(&self) -> Option<&[u8]> {
        sip_start_line(&self.payload)
    }
}

/// The SIP start line `payload` begins with (without its line end), if it
/// begins like SIP: what a quote or a first fragment says of its message.
pub fn sip_start_line(payload: &[u8]) -> Option<&[u8]> {
    if !looks_like_sip_start(payload) {
        return None;
    }
    let end = memchr::memchr2(b'\r', b'\n', payload).unwrap_or(payload.len());
    Some(&payload[..end])
}

/// One ICMP or ICMPv6 error about a UDP or TCP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// When the frame carrying the error was captured.
    pub timestamp: SystemTime,
    /// Whether the error arrived or left at the capture point; unknown for
    /// capture files that do not record it.
    pub direction: Option<Direction>,
    /// The host or router that sent the error.
    pub reporter: IpAddr,
    /// Where the error was sent: the sender of the quoted packet, or a
    /// NAT in front of it.
    pub to: IpAddr,
    /// 4 for ICMP, 6 for ICMPv6, with the raw type and code beside the kind.
    pub ip_version: u8,
    /// The raw ICMP type (3, destination unreachable; ICMPv6 1,
    /// destination unreachable, or 2, packet too big).
    pub icmp_type: u8,
    /// The raw ICMP code within the type (RFC 792, RFC 4443 §3).
    pub code: u8,
    /// What the type and code mean, as [`icmp_kind`] reads them.
    pub kind: IcmpKind,
    /// The next hop's MTU in bytes, for fragmentation needed / packet too
    /// big (0, from old routers that do not say, is given as `None`).
    pub mtu: Option<u32>,
    /// The packet the error is about, which names the SIP flow that failed.
    pub quoted: QuotedPacket,
}

impl IcmpError {
    /// Reads an ICMP (`ip_version` 4) or ICMPv6 message, header first; `None`
    /// unless it is an error that quotes a UDP or TCP packet.
    pub(super) fn parse(
        ip_version: u8,
        icmp: &[u8],
        reporter: IpAddr,
        to: IpAddr,
        timestamp: SystemTime,
        direction: Option<Direction>,
    ) -> Option<IcmpError> {
        let (&icmp_type, &code) = (icmp.first()?, icmp.get(1)?);
        let kind = icmp_kind(ip_version, icmp_type, code)?;
        let rest = icmp.get(4..8)?;
        let mtu = match kind {
            IcmpKind::FragmentationNeeded => u32::from(u16::from_be_bytes([rest[2], rest[3]])),
            IcmpKind::PacketTooBig => u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
            _ => 0,
        };
        let quoted = quoted(icmp.get(ICMP_HEADER_LEN as usize..)?)?;
        Some(IcmpError {
            timestamp,
            direction,
            reporter,
            to,
            ip_version,
            icmp_type,
            code,
            kind,
            mtu: (mtu != 0).then_some(mtu),
            quoted,
        })
    }
}

/// The quoted IP packet's transport and addresses (and what follows them).
fn quoted(ip: &[u8]) -> Option<QuotedPacket> {
    let (src, dst, proto, l4) = match ip.first()? >> 4 {
        4 => quoted_ipv4(ip)?,
        6 => quoted_ipv6(ip)?,
        _ => return None,
    };
    let ports = l4.get(..4)?;
    let (sport, dport) = (
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    );
    let (transport, header_len) = match proto {
        IPPROTO_UDP => (Transport::Udp, UDP_HEADER_LEN as usize),
        // The data offset is in the quote only when 13 bytes or more are.
        IPPROTO_TCP => (
            Transport::Tcp,
            l4.get(12).map_or(usize::MAX, |b| usize::from(b >> 4) * 4),
        ),
        _ => return None,
    };
    Some(QuotedPacket {
        transport,
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: l4.get(header_len..).unwrap_or_default().to_vec(),
    })
}

type Quoted<'a> = (IpAddr, IpAddr, u8, &'a [u8]);

fn quoted_ipv4(ip: &[u8]) -> Option<Quoted<'_>> {
    let h = ip.get(..IPV4_MIN_HEADER_LEN as usize)?;
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let fragment_offset = u16::from_be_bytes([h[6], h[7]]) & IPV4_FRAGMENT_OFFSET_MASK;
    if header_len < IPV4_MIN_HEADER_LEN as usize || fragment_offset != 0 {
        return None; // a later fragment quotes no transport header
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    Some((src.into(), dst.into(), h[9], ip.get(header_len..)?))
}

fn quoted_ipv6(ip: &[u8]) -> Option<Quoted<'_>> {
    let h = ip.get(..IPV6_HEADER_LEN as usize)?;
    let address = |at: usize| -> Option<IpAddr> {
        let octets: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(octets).into())
    };
    let (src, dst) = (address(8)?, address(24)?);
    let mut next = h[6];
    let mut offset = IPV6_HEADER_LEN as usize;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let e = ip.get(offset..offset + 2)?;
                next = e[0];
                offset += (usize::from(e[1]) + 1) * IPV6_EXT_LEN_UNIT as usize;
            }
            IPPROTO_FRAGMENT => {
                let f = ip.get(offset..offset + 4)?;
                if u16::from_be_bytes([f[2], f[3]]) >> 3 != 0 {
                    return None;
                }
                next = f[0];
                offset += IPV6_FRAGMENT_HEADER_LEN as usize;
            }
            _ => break,
        }
    }
    Some((src, dst, next, ip.get(offset..)?))
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;

    use super::*;

    const REGISTER: &[u8] = b"REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n";

    fn udp_v4(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
            .udp(5060, 5060)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn icmp(icmp_type: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut out = vec![icmp_type, code, 0, 0];
        out.extend_from_slice(&rest);
        out.extend_from_slice(quote);
        out
    }

    fn parse(version: u8, bytes: &[u8]) -> Option<IcmpError> {
        IcmpError::parse(
            version,
            bytes,
            "203.0.113.2".parse().unwrap(),
            "192.168.77.10".parse().unwrap(),
            SystemTime::UNIX_EPOCH,
            None,
        )
    }

    #[test]
    fn a_port_unreachable_names_the_quoted_flow_and_its_start_line() {
        let e = parse(4, &icmp(3, 3, [0; 4], &udp_v4(REGISTER))).unwrap();
        assert_eq!(e.kind, IcmpKind::PortUnreachable);
        assert_eq!(e.quoted.transport, Transport::Udp);
        assert_eq!(e.quoted.src, "192.168.77.10:5060".parse().unwrap());
        assert_eq!(e.quoted.dst, "203.0.113.2:5060".parse().unwrap());
        assert_eq!(
            e.quoted.sip_start_line(),
            Some(&b"REGISTER sip:203.0.113.2 SIP/2.0"[..])
        );
        assert_eq!(e.mtu, None);
    }

    #[test]
    fn a_quote_of_eight_bytes_still_names_the_flow() {
        let whole = udp_v4(REGISTER);
        let e = parse(4, &icmp(3, 13, [0; 4], &whole[..28])).unwrap();
        assert_eq!(e.kind, IcmpKind::AdministrativelyProhibited);
        assert_eq!(e.quoted.dst.port(), 5060);
        assert_eq!(e.quoted.sip_start_line(), None);
    }

    #[test]
    fn fragmentation_needed_and_packet_too_big_carry_the_mtu() {
        let e = parse(4, &icmp(3, 4, [0, 0, 0x05, 0x78], &udp_v4(REGISTER))).unwrap();
        assert_eq!((e.kind, e.mtu), (IcmpKind::FragmentationNeeded, Some(1400)));
        let mut v6 = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .tcp(40000, 5060, 1, 1000)
        .write(&mut v6, REGISTER)
        .unwrap();
        let e = parse(6, &icmp(2, 0, 1280u32.to_be_bytes(), &v6)).unwrap();
        assert_eq!((e.kind, e.mtu), (IcmpKind::PacketTooBig, Some(1280)));
        assert_eq!(e.quoted.transport, Transport::Tcp);
        assert_eq!(e.quoted.dst, "[2001:db8::2]:5060".parse().unwrap());
        assert!(e.quoted.sip_start_line().is_some());
    }

    #[test]
    fn echo_and_other_icmp_are_not_errors_about_a_packet() {
        assert!(parse(4, &icmp(8, 0, [0; 4], &udp_v4(REGISTER))).is_none());
        assert!(parse(4, &icmp(0, 0, [0; 4], &[])).is_none());
        assert!(parse(6, &icmp(128, 0, [0; 4], &udp_v4(REGISTER))).is_none());
        assert_eq!(icmp_kind(6, 1, 4), Some(IcmpKind::PortUnreachable));
        assert_eq!(icmp_kind(6, 1, 3), Some(IcmpKind::HostUnreachable));
        assert_eq!(icmp_kind(4, 3, 2), Some(IcmpKind::OtherUnreachable));
    }

    #[test]
    fn no_quote_makes_the_parser_panic() {
        let whole = icmp(3, 3, [0; 4], &udp_v4(REGISTER));
        for len in 0..whole.len() {
            let mut bytes = whole[..len].to_vec();
            for at in 8..bytes.len().min(40) {
                let mut b = bytes.clone();
                b[at] = 0xff;
                let _ = parse(4, &b);
                let _ = parse(6, &b);
            }
            bytes.truncate(len);
            let _ = parse(4, &bytes);
        }
    }
}
