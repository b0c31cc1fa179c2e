//! The link layer of every capture kind that carries IP: where a frame's IP
//! header starts, whatever tool wrote the file.
//!
//! etherparse reads Ethernet (with VLAN tags) and raw IP itself; the Linux
//! cooked headers and the BSD loopback headers are read here, because
//! etherparse's own SLL reader refuses hardware types it does not know
//! (loopback, 772, among them: `tcpdump -i any` on `lo`), and it has no BSD
//! loopback reader at all.
use etherparse::{EtherType, SlicedPacket};

use super::FrameKind;
use crate::capture::{Frame, LinkType};

/// Why a frame was not sliced down to its IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotSliced {
    /// A well-formed frame that does not carry IP (ARP, LLC, netlink, …),
    /// and what it carries.
    NotIp(FrameKind),
    /// Cut short or inconsistent.
    Malformed,
}

/// A frame sliced from its network layer down (VLAN tags included).
pub(super) type Link<'a> = Result<SlicedPacket<'a>, NotSliced>;

/// Linux `ARPHRD_*` hardware types that change how a cooked header reads.
mod arphrd {
    /// The protocol field holds a netlink family, not an EtherType.
    pub const NETLINK: u16 = 824;
    /// Devices that carry nothing but IP: when the protocol field says
    /// nothing useful, the IP version nibble decides.
    pub const IP_ONLY: [u16; 7] = [
        512,    // PPP
        519,    // RAWIP
        768,    // TUNNEL (ipip)
        769,    // TUNNEL6
        776,    // SIT
        0xfffe, // NONE (tun, WireGuard)
        772,    // LOOPBACK
    ];
}

/// Linux cooked v1: packet type, hardware type, address length, 8 address
/// bytes, protocol.
const SLL1_HEADER_LEN: usize = 16;
const SLL1_HATYPE_OFFSET: usize = 2;
const SLL1_PROTOCOL_OFFSET: usize = 14;
/// Linux cooked v2: protocol, reserved, ifindex, hardware type, packet
/// type, address length, 8 address bytes.
const SLL2_HEADER_LEN: usize = 20;
const SLL2_PROTOCOL_OFFSET: usize = 0;
const SLL2_HATYPE_OFFSET: usize = 8;
/// Below this a cooked protocol field is a Linux `ETH_P_*` pseudo-protocol
/// (802.3, 802.2 LLC, CAN, …), not an EtherType.
const FIRST_ETHER_TYPE: u16 = 0x0600;

/// BSD loopback: a 4-byte address family (host order for DLT_NULL, network
/// order for DLT_LOOP).
const BSD_HEADER_LEN: usize = 4;
const AF_INET: u32 = 2;
/// AF_INET6 differs by OS: NetBSD/OpenBSD/BSD/OS, FreeBSD/DragonFly, macOS.
const AF_INET6: [u32; 3] = [24, 28, 30];

/// Reads a frame's link header and slices what it carries.
pub(super) fn slice(frame: &Frame) -> Link<'_> {
    let data = frame.data.as_slice();
    match frame.link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(data).map_err(|_| NotSliced::Malformed),
        LinkType::RawIp => ip(data),
        LinkType::LinuxSll => cooked(
            data,
            SLL1_HEADER_LEN,
            SLL1_PROTOCOL_OFFSET,
            SLL1_HATYPE_OFFSET,
        ),
        LinkType::LinuxSll2 => cooked(
            data,
            SLL2_HEADER_LEN,
            SLL2_PROTOCOL_OFFSET,
            SLL2_HATYPE_OFFSET,
        ),
        LinkType::BsdNull => bsd(data, |b| {
            // Host order of the machine that wrote the file: an AF is small,
            // so a value with high bits set was written in the other order
            // (as libpcap itself decides).
            let family = u32::from_le_bytes(b);
            if family & 0xffff_0000 != 0 {
                family.swap_bytes()
            } else {
                family
            }
        }),
        LinkType::BsdLoop => bsd(data, u32::from_be_bytes),
        LinkType::Ppp => ppp(data),
        LinkType::CiscoHdlc => cisco_hdlc(data),
        LinkType::Nflog => nflog(data),
    }
}

/// PPP (RFC 1661), with or without the HDLC-like address and control bytes
/// (0xff 0x03), its protocol field one byte long when compressed (odd first
/// byte, RFC 1661 §6.5). BSD/OS writes Cisco HDLC frames under the same
/// link type; their address byte tells them apart.
pub(super) fn ppp(data: &[u8]) -> Link<'_> {
    const HDLC_ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];
    const CISCO_ADDRESSES: [u8; 2] = [0x0f, 0x8f];
    const PPP_IPV4: u16 = 0x0021;
    const PPP_IPV6: u16 = 0x0057;
    let Some(&first) = data.first() else {
        return Err(NotSliced::Malformed);
    };
    if CISCO_ADDRESSES.contains(&first) {
        return cisco_hdlc(data);
    }
    let data = data.strip_prefix(&HDLC_ADDRESS_CONTROL).unwrap_or(data);
    let (protocol, rest) = match data.first() {
        Some(&b) if b & 1 == 1 => (u16::from(b), &data[1..]),
        _ => match (be16(data, 0), data.get(2..)) {
            (Some(p), Some(rest)) => (p, rest),
            _ => return Err(NotSliced::Malformed),
        },
    };
    match protocol {
        PPP_IPV4 | PPP_IPV6 => ip(rest),
        p => Err(NotSliced::NotIp(FrameKind::Ppp(p))),
    }
}

/// Cisco HDLC: address, control, then an EtherType.
fn cisco_hdlc(data: &[u8]) -> Link<'_> {
    const HEADER_LEN: usize = 4;
    let (Some(protocol), Some(rest)) = (be16(data, 2), data.get(HEADER_LEN..)) else {
        return Err(NotSliced::Malformed);
    };
    // What is not IP (SLARP, CDP…) is named where encapsulations are opened.
    SlicedPacket::from_ether_type(EtherType(protocol), rest).map_err(|_| NotSliced::Malformed)
}

/// Linux netfilter NFLOG (`tcpdump -i nflog:N`, an `iptables -j NFLOG`
/// rule): a 4-byte header, then type-length-value attributes in the host
/// order of the machine that captured, one of which is the IP packet.
fn nflog(data: &[u8]) -> Link<'_> {
    const HEADER_LEN: usize = 4;
    const TLV_HEADER_LEN: usize = 4;
    const NFULA_PAYLOAD: u16 = 9;
    /// Attribute types are small: one read as 0x100 or more is in the
    /// other byte order.
    const MAX_TYPE: u16 = 0xff;
    /// Attributes looked at, at most (a real frame has about ten).
    const MAX_TLVS: usize = 64;
    let mut at = HEADER_LEN;
    let Some(first_type) = data.get(at + 2..at + 4) else {
        return Err(NotSliced::Malformed);
    };
    let little = u16::from_le_bytes([first_type[0], first_type[1]]) <= MAX_TYPE;
    let read = |b: &[u8]| {
        let pair = [b[0], b[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    };
    for _ in 0..MAX_TLVS {
        let Some(tlv) = data.get(at..at + TLV_HEADER_LEN) else {
            break;
        };
        let (len, kind) = (usize::from(read(&tlv[..2])), read(&tlv[2..]));
        if len < TLV_HEADER_LEN {
            return Err(NotSliced::Malformed);
        }
        if kind == NFULA_PAYLOAD {
            return data
                .get(at + TLV_HEADER_LEN..at + len)
                .map_or(Err(NotSliced::Malformed), ip);
        }
        at += len.div_ceil(4) * 4;
    }
    // Logged without its packet (an `--nflog-range 0` rule, say).
    Err(NotSliced::NotIp(FrameKind::NflogWithoutPacket))
}

/// An IP header, version 4 or 6 (anything else is malformed).
pub(super) fn ip(data: &[u8]) -> Link<'_> {
    SlicedPacket::from_ip(data).map_err(|_| NotSliced::Malformed)
}

/// A Linux cooked header (v1 or v2): the protocol field names what follows
/// for every hardware type but netlink; the address may be empty or zero.
fn cooked(data: &[u8], header_len: usize, protocol_at: usize, hatype_at: usize) -> Link<'_> {
    let (Some(protocol), Some(hatype), Some(rest)) = (
        be16(data, protocol_at),
        be16(data, hatype_at),
        data.get(header_len..),
    ) else {
        return Err(NotSliced::Malformed);
    };
    if hatype == arphrd::NETLINK {
        return Err(NotSliced::NotIp(FrameKind::Netlink));
    }
    if protocol >= FIRST_ETHER_TYPE {
        let s = SlicedPacket::from_ether_type(EtherType(protocol), rest);
        return match s {
            Ok(s) if s.net.is_none() && arphrd::IP_ONLY.contains(&hatype) => ip_by_version(rest),
            // What is not IP (ARP, PPPoE, MPLS…) is opened or named with
            // the encapsulations.
            Ok(s) => Ok(s),
            Err(_) => Err(NotSliced::Malformed),
        };
    }
    if arphrd::IP_ONLY.contains(&hatype) {
        return ip_by_version(rest);
    }
    Err(NotSliced::NotIp(FrameKind::LinuxProtocol(protocol)))
}

/// An IP-only device whose protocol field is unset: the version nibble says.
fn ip_by_version(rest: &[u8]) -> Link<'_> {
    match rest.first().map(|b| b >> 4) {
        Some(4 | 6) => ip(rest),
        Some(_) => Err(NotSliced::NotIp(FrameKind::NotIpVersion)),
        None => Err(NotSliced::Malformed),
    }
}

fn bsd(data: &[u8], family: impl Fn([u8; 4]) -> u32) -> Link<'_> {
    let (Some(header), Some(rest)) = (data.get(..BSD_HEADER_LEN), data.get(BSD_HEADER_LEN..))
    else {
        return Err(NotSliced::Malformed);
    };
    let family = family([header[0], header[1], header[2], header[3]]);
    if family == AF_INET || AF_INET6.contains(&family) {
        ip(rest)
    } else {
        Err(NotSliced::NotIp(FrameKind::AddressFamily(family)))
    }
}

pub(super) fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use etherparse::PacketBuilder;

    use super::*;
    use crate::net::Decoder;

    const PAYLOAD: &[u8] = b"OPTIONS sip:x SIP/2.0\r\n\r\n";

    fn ipv4_udp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(5070, 5060)
            .write(&mut out, PAYLOAD)
            .unwrap();
        out
    }

    fn ipv6_udp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5070, 5060)
        .write(&mut out, PAYLOAD)
        .unwrap();
        out
    }

    fn frame(link: LinkType, data: Vec<u8>) -> Frame {
        Frame {
            timestamp: SystemTime::UNIX_EPOCH,
            ifindex: 0,
            direction: None,
            link,
            wire_len: data.len() as u32,
            data,
            truncated: false,
            kernel_drop: None,
        }
    }

    fn sll1(hatype: u16, protocol: u16, ip: &[u8]) -> Vec<u8> {
        let mut h = vec![0, 0];
        h.extend_from_slice(&hatype.to_be_bytes());
        h.extend_from_slice(&[0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        h.extend_from_slice(&protocol.to_be_bytes());
        h.extend_from_slice(ip);
        h
    }

    fn sll2(hatype: u16, protocol: u16, ip: &[u8]) -> Vec<u8> {
        let mut h = protocol.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&hatype.to_be_bytes());
        h.extend_from_slice(&[0, 0]); // packet type HOST, no address
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(ip);
        h
    }

    /// An NFLOG frame: a packet header attribute, a prefix, then the packet.
    fn nflog(v6: bool, ip: &[u8], order: fn(u16) -> [u8; 2]) -> Vec<u8> {
        let mut out = vec![if v6 { 10 } else { 2 }, 0, 0, 1];
        for (kind, value) in [(1u16, &[0x08, 0x00, 1, 0][..]), (10, b"sip\0\0"), (9, ip)] {
            out.extend_from_slice(&order(4 + value.len() as u16));
            out.extend_from_slice(&order(kind));
            out.extend_from_slice(value);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        out
    }

    fn prefixed(header: [u8; 4], ip: &[u8]) -> Vec<u8> {
        let mut out = header.to_vec();
        out.extend_from_slice(ip);
        out
    }

    /// Decodes one frame; the payload when it became a datagram.
    fn decoded(f: &Frame) -> Option<Vec<u8>> {
        Decoder::new().push(f).map(|d| d.payload)
    }

    #[test]
    fn every_ip_link_type_decodes_ipv4_and_ipv6() {
        for ip in [ipv4_udp(), ipv6_udp()] {
            let v6 = ip[0] >> 4 == 6;
            let ppp_protocol = if v6 { 0x57 } else { 0x21 };
            let (ethertype, af_bsd, af_freebsd, af_mac) = (
                if v6 { 0x86dd } else { 0x0800 },
                if v6 { 24 } else { 2 },
                if v6 { 28 } else { 2 },
                if v6 { 30 } else { 2 },
            );
            let mut eth = vec![2; 12];
            eth.extend_from_slice(&u16::to_be_bytes(ethertype));
            eth.extend_from_slice(&ip);
            let mut qinq = vec![2; 12];
            qinq.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20]);
            qinq.extend_from_slice(&u16::to_be_bytes(ethertype));
            qinq.extend_from_slice(&ip);
            let frames = [
                ("ethernet", frame(LinkType::Ethernet, eth)),
                ("802.1ad + 802.1Q", frame(LinkType::Ethernet, qinq)),
                ("raw", frame(LinkType::RawIp, ip.clone())),
                (
                    "sll1 loopback",
                    frame(LinkType::LinuxSll, sll1(772, ethertype, &ip)),
                ),
                (
                    "sll1 ethernet",
                    frame(LinkType::LinuxSll, sll1(1, ethertype, &ip)),
                ),
                (
                    "sll1 tun",
                    frame(LinkType::LinuxSll, sll1(0xfffe, ethertype, &ip)),
                ),
                (
                    "sll1 tun, no protocol",
                    frame(LinkType::LinuxSll, sll1(0xfffe, 0, &ip)),
                ),
                (
                    "sll2 loopback",
                    frame(LinkType::LinuxSll2, sll2(772, ethertype, &ip)),
                ),
                (
                    "sll2 ipip",
                    frame(LinkType::LinuxSll2, sll2(768, ethertype, &ip)),
                ),
                (
                    "null little-endian",
                    frame(LinkType::BsdNull, prefixed(u32::to_le_bytes(af_bsd), &ip)),
                ),
                (
                    "null big-endian",
                    frame(
                        LinkType::BsdNull,
                        prefixed(u32::to_be_bytes(af_freebsd), &ip),
                    ),
                ),
                (
                    "null macOS",
                    frame(LinkType::BsdNull, prefixed(u32::to_le_bytes(af_mac), &ip)),
                ),
                (
                    "loop",
                    frame(LinkType::BsdLoop, prefixed(u32::to_be_bytes(af_bsd), &ip)),
                ),
                (
                    "ppp, HDLC-like framing",
                    frame(LinkType::Ppp, prefixed([0xff, 0x03, 0, ppp_protocol], &ip)),
                ),
                (
                    "ppp, compressed",
                    frame(LinkType::Ppp, [&[ppp_protocol][..], &ip].concat()),
                ),
                (
                    "cisco hdlc",
                    frame(
                        LinkType::CiscoHdlc,
                        prefixed([0x0f, 0, (ethertype >> 8) as u8, ethertype as u8], &ip),
                    ),
                ),
                (
                    "nflog, little-endian",
                    frame(LinkType::Nflog, nflog(v6, &ip, u16::to_le_bytes)),
                ),
                (
                    "nflog, big-endian",
                    frame(LinkType::Nflog, nflog(v6, &ip, u16::to_be_bytes)),
                ),
            ];
            for (name, f) in frames {
                assert_eq!(
                    decoded(&f).as_deref(),
                    Some(PAYLOAD),
                    "{name}, IPv{}",
                    if v6 { 6 } else { 4 }
                );
            }
        }
    }

    #[test]
    fn a_vlan_tag_inside_a_cooked_header_is_stepped_over() {
        let mut tagged = vec![0, 30, 0x08, 0x00];
        tagged.extend_from_slice(&ipv4_udp());
        let f = frame(LinkType::LinuxSll, sll1(1, 0x8100, &tagged));
        let d = Decoder::new().push(&f).unwrap();
        assert_eq!(d.vlans, vec![30]);
    }

    #[test]
    fn cooked_frames_that_carry_no_ip_are_not_ip_not_malformed() {
        let mut d = Decoder::new();
        // Netlink (the protocol field is a netlink family), 802.2 LLC, ARP.
        d.push(&frame(LinkType::LinuxSll, sll1(824, 0x0800, &[0; 20])));
        d.push(&frame(LinkType::LinuxSll2, sll2(1, 0x0004, &[0; 20])));
        d.push(&frame(
            LinkType::LinuxSll,
            sll1(
                1,
                0x0806,
                &[
                    0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0,
                ],
            ),
        ));
        // A BSD loopback frame of another family (AF_APPLETALK).
        d.push(&frame(
            LinkType::BsdLoop,
            prefixed(u32::to_be_bytes(16), &ipv4_udp()),
        ));
        let s = d.stats();
        assert_eq!((s.not_ip, s.malformed), (4, 0), "{s:?}");
    }

    #[test]
    fn short_link_headers_are_malformed_not_panics() {
        let mut d = Decoder::new();
        for link in [
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::BsdNull,
            LinkType::BsdLoop,
            LinkType::RawIp,
            LinkType::Ethernet,
            LinkType::Ppp,
            LinkType::CiscoHdlc,
            LinkType::Nflog,
        ] {
            for len in 0..24 {
                d.push(&frame(link, sll1(772, 0x0800, &ipv4_udp())[..len].to_vec()));
            }
        }
        assert_eq!(d.stats().datagrams, 0);
    }
}
