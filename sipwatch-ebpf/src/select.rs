//! Is this packet SIP? One helper per header, bounded loops, early returns.
//!
//! Selection, in order: a non-first fragment of a datagram whose first
//! fragment was selected; a UDP or TCP packet to or from a port in `PORTS`;
//! a UDP payload (on any other port, a TLS port included) that starts like a
//! SIP message, whose endpoints are then remembered (`SIP_ENDPOINTS`); UDP
//! or TCP to or from such an endpoint; an ICMP / ICMPv6 error (destination
//! unreachable, packet too big) quoting a UDP or TCP packet to or from a SIP
//! port or such an endpoint, or whose quoted UDP payload starts like SIP,
//! which is evidence of why SIP did not get through. An arriving UDP datagram from an echo
//! server in `ECHOES` is selected to be consumed: copied, then dropped
//! before the PBX's socket sees it.

use aya_ebpf::bindings::BPF_NOEXIST;
use aya_log_ebpf::debug;
use sipwatch_common::{
    Counter, Direction, EchoKey, EndpointKey, FragKey, LINK_NONE, MAX_IPV6_EXT_HEADERS,
    MAX_MPLS_LABELS, MAX_VLAN_TAGS, PORT_SIP, PORT_TLS, SIP_START_MASKS, wire::*,
};

use crate::{
    emit::count,
    maps::{ECHOES, FRAGS, LINK_LAYER, PORTS, SIP_ENDPOINTS, SNIFF_UDP, global},
    packet::Packet,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Skip,
    /// On a SIP-over-TLS port: counted, not copied.
    Tls,
    Sip,
    /// A later fragment of a selected datagram.
    Fragment,
    /// An echo server's answer to a shadow: copied, then dropped.
    Consumed,
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

#[inline(always)]
pub fn select<P: Packet>(p: &P, direction: Direction) -> Selection {
    // A layer-3 device starts with the IP header, an Ethernet one with
    // its frame; a tunnel inside (up to MAX_TUNNELS deep) is opened, so
    // that SIP is chosen by its own addresses and ports, as user space
    // reads it (net/encapsulation.rs).
    let mut offset = 0;
    let mut ethernet = global(&LINK_LAYER) != LINK_NONE;
    for _ in 0..=MAX_TUNNELS {
        if ethernet {
            let Some(at) = ethernet_payload(p, offset) else {
                return Selection::Skip;
            };
            offset = at;
        }
        match tunnel(p, offset) {
            Some(Inner::Ip(at)) => {
                offset = at;
                ethernet = false;
            }
            Some(Inner::Ethernet(at)) => {
                offset = at;
                ethernet = true;
            }
            None => {
                ethernet = false;
                break;
            }
        }
    }
    if ethernet {
        return Selection::Skip;
    }
    // The IP header's version says which.
    match p.read::<1>(offset).map(|b| b[0] >> 4) {
        Some(4) => ipv4(p, offset, direction),
        Some(6) => ipv6(p, offset, direction),
        _ => Selection::Skip,
    }
}

/// Where the IP packet in the Ethernet frame at `start` begins, past VLAN
/// tags, a PPPoE session header or an MPLS label stack; `None` for a frame
/// that carries no IP.
#[inline(always)]
fn ethernet_payload<P: Packet>(p: &P, start: u32) -> Option<u32> {
    let mut ethertype = p.read::<2>(start + ETH_TYPE_OFFSET).map(be16)?;
    let mut offset = start + ETH_HEADER_LEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        ethertype = p.read::<2>(offset + 2).map(be16)?;
        offset += VLAN_TAG_LEN;
    }
    if ethertype == ETH_P_PPPOE_SESSION {
        let h = p.read::<8>(offset)?;
        offset += PPPOE_HEADER_LEN + PPP_PROTOCOL_LEN;
        return matches!(be16([h[6], h[7]]), PPP_IPV4 | PPP_IPV6).then_some(offset);
    }
    if ethertype == ETH_P_MPLS_UC || ethertype == ETH_P_MPLS_MC {
        // Below the labels nothing names the protocol: the version nibble does.
        return mpls_payload(p, offset);
    }
    matches!(ethertype, ETH_P_IPV4 | ETH_P_IPV6).then_some(offset)
}

/// What a tunnel carries, and where it starts.
enum Inner {
    /// An IP packet.
    Ip(u32),
    /// An Ethernet frame.
    Ethernet(u32),
}

/// The packet the IP packet at `offset` carries when it is a tunnel:
/// IP-in-IP and IPv6-in-IP, GRE (version 0: IP, transparent Ethernet,
/// ERSPAN I/II/III), VXLAN, Geneve, TZSP. Not opened here (user space opens
/// them in files): PPTP's GRE, IPv6 extension headers before the tunnel, a
/// fragmented tunnel packet.
#[inline(always)]
fn tunnel<P: Packet>(p: &P, offset: u32) -> Option<Inner> {
    let (proto, l4) = match p.read::<1>(offset)?[0] >> 4 {
        4 => {
            let h = p.read::<20>(offset)?;
            if be16([h[6], h[7]]) & (IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK) != 0 {
                return None;
            }
            (h[9], offset + (h[0] & 0x0f) as u32 * 4)
        }
        6 => (p.read::<40>(offset)?[6], offset + IPV6_HEADER_LEN),
        _ => return None,
    };
    match proto {
        IPPROTO_IPIP | IPPROTO_IPV6 => Some(Inner::Ip(l4)),
        IPPROTO_GRE => gre(p, l4),
        IPPROTO_UDP => {
            let h = p.read::<4>(l4)?;
            let payload = l4 + UDP_HEADER_LEN;
            match be16([h[2], h[3]]) {
                VXLAN_PORT => Some(Inner::Ethernet(payload + VXLAN_HEADER_LEN)),
                TZSP_PORT => tzsp(p, payload),
                GENEVE_PORT => {
                    let g = p.read::<4>(payload)?;
                    let at =
                        payload + GENEVE_HEADER_LEN + (g[0] & 0x3f) as u32 * GENEVE_OPTION_UNIT;
                    carried(be16([g[2], g[3]]), at)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// GRE version 0 without routing (RFC 2784, RFC 2890), and ERSPAN behind it.
#[inline(always)]
fn gre<P: Packet>(p: &P, at: u32) -> Option<Inner> {
    let g = p.read::<4>(at)?;
    if g[0] & GRE_ROUTING != 0 || g[1] & GRE_VERSION != 0 {
        return None;
    }
    let option = |bit: u8| if g[0] & bit != 0 { GRE_OPTION_LEN } else { 0 };
    let payload =
        at + GRE_HEADER_LEN + option(GRE_CHECKSUM) + option(GRE_KEY) + option(GRE_SEQUENCE);
    match be16([g[2], g[3]]) {
        // Type I has no ERSPAN header and no sequence number.
        ETH_P_ERSPAN if g[0] & GRE_SEQUENCE == 0 => Some(Inner::Ethernet(payload)),
        ETH_P_ERSPAN => Some(Inner::Ethernet(payload + ERSPAN2_HEADER_LEN)),
        ETH_P_ERSPAN3 => {
            let e = p.read::<12>(payload)?;
            let sub = if e[11] & 1 != 0 {
                ERSPAN3_SUBHEADER_LEN
            } else {
                0
            };
            Some(Inner::Ethernet(payload + ERSPAN3_HEADER_LEN + sub))
        }
        protocol => carried(protocol, payload),
    }
}

/// TZSP: past its tagged fields, the Ethernet frame it carries.
#[inline(always)]
fn tzsp<P: Packet>(p: &P, at: u32) -> Option<Inner> {
    let h = p.read::<4>(at)?;
    if h[0] != TZSP_VERSION || be16([h[2], h[3]]) != TZSP_ETHERNET {
        return None;
    }
    let mut offset = at + TZSP_HEADER_LEN;
    for _ in 0..TZSP_MAX_TAGS {
        let tag = p.read::<2>(offset)?;
        match tag[0] {
            TZSP_TAG_END => return Some(Inner::Ethernet(offset + 1)),
            TZSP_TAG_PADDING => offset += 1,
            _ => offset += 2 + tag[1] as u32,
        }
    }
    None
}

/// What an EtherType in a tunnel header says follows at `at`.
#[inline(always)]
fn carried(protocol: u16, at: u32) -> Option<Inner> {
    match protocol {
        ETH_P_IPV4 | ETH_P_IPV6 => Some(Inner::Ip(at)),
        ETH_P_TEB => Some(Inner::Ethernet(at)),
        _ => None,
    }
}

/// Where the payload of the MPLS label stack at `offset` starts, when its
/// bottom is within `MAX_MPLS_LABELS`.
#[inline(always)]
fn mpls_payload<P: Packet>(p: &P, mut offset: u32) -> Option<u32> {
    for _ in 0..MAX_MPLS_LABELS {
        let entry = p.read::<4>(offset)?;
        offset += MPLS_LABEL_LEN;
        if entry[2] & MPLS_BOTTOM_OF_STACK != 0 {
            return Some(offset);
        }
    }
    None
}

#[inline(always)]
fn ipv4<P: Packet>(p: &P, offset: u32, direction: Direction) -> Selection {
    let Some(h) = p.read::<20>(offset) else {
        return Selection::Skip;
    };
    let header_len = (h[0] & 0x0f) as u32 * 4;
    if header_len < IPV4_MIN_HEADER_LEN {
        return Selection::Skip;
    }
    let proto = h[9];
    let frag = be16([h[6], h[7]]);
    let more = frag & IPV4_MORE_FRAGMENTS != 0;
    let key = FragKey {
        src: [u32::from_ne_bytes([h[12], h[13], h[14], h[15]]), 0, 0, 0],
        dst: [u32::from_ne_bytes([h[16], h[17], h[18], h[19]]), 0, 0, 0],
        id: be16([h[4], h[5]]) as u32,
        proto,
        ip_version: 4,
        _pad: [0; 2],
    };
    if frag & IPV4_FRAGMENT_OFFSET_MASK != 0 {
        return later_fragment(&key, more);
    }
    let selection = transport(p, offset + header_len, proto, &key, direction);
    if more && selection == Selection::Sip {
        remember_fragmented(p, &key, direction);
    }
    consume_echo(p, selection, direction, &key, offset + header_len)
}

#[inline(always)]
fn ipv6<P: Packet>(p: &P, offset: u32, direction: Direction) -> Selection {
    let Some(h) = p.read::<40>(offset) else {
        return Selection::Skip;
    };
    let mut next = h[6];
    let mut key = FragKey {
        src: words(&h, 8),
        dst: words(&h, 24),
        id: 0,
        proto: 0,
        ip_version: 6,
        _pad: [0; 2],
    };
    let mut first_fragment_more = false;
    let mut offset = offset + IPV6_HEADER_LEN;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let Some(e) = p.read::<2>(offset) else {
                    return Selection::Skip;
                };
                next = e[0];
                offset += (e[1] as u32 + 1) * IPV6_EXT_LEN_UNIT;
            }
            IPPROTO_FRAGMENT => {
                let Some(f) = p.read::<8>(offset) else {
                    return Selection::Skip;
                };
                next = f[0];
                let field = be16([f[2], f[3]]);
                let more = field & 1 != 0;
                key.id = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                key.proto = next;
                if field >> 3 != 0 {
                    return later_fragment(&key, more);
                }
                first_fragment_more = more;
                offset += IPV6_FRAGMENT_HEADER_LEN;
            }
            _ => break,
        }
    }
    let selection = transport(p, offset, next, &key, direction);
    if first_fragment_more && selection == Selection::Sip {
        remember_fragmented(p, &key, direction);
    }
    key.proto = next;
    consume_echo(p, selection, direction, &key, offset)
}

/// An arriving UDP datagram from an echo in `ECHOES` is an answer to a
/// shadow (or a keep-alive toward its NAT mapping): never the PBX's.
#[inline(always)]
fn consume_echo<P: Packet>(
    p: &P,
    selection: Selection,
    direction: Direction,
    ip: &FragKey,
    l4: u32,
) -> Selection {
    if direction != Direction::Ingress || selection != Selection::Sip || ip.proto != IPPROTO_UDP {
        return selection;
    }
    let Some(port) = p.read::<2>(l4).map(be16) else {
        return selection;
    };
    let key = EchoKey {
        addr: ip.src,
        port,
        ip_version: ip.ip_version,
        _pad: 0,
    };
    // SAFETY: the value is only tested for presence.
    if unsafe { ECHOES.get(&key) }.is_some() {
        return Selection::Consumed;
    }
    selection
}

#[inline(always)]
fn words(h: &[u8; 40], at: usize) -> [u32; 4] {
    let mut out = [0u32; 4];
    for (i, word) in out.iter_mut().enumerate() {
        let b = at + i * 4;
        *word = u32::from_ne_bytes([h[b], h[b + 1], h[b + 2], h[b + 3]]);
    }
    out
}

#[inline(always)]
fn transport<P: Packet>(
    p: &P,
    offset: u32,
    proto: u8,
    ip: &FragKey,
    direction: Direction,
) -> Selection {
    if proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        return icmp_error(p, offset, proto);
    }
    if proto != IPPROTO_UDP && proto != IPPROTO_TCP {
        return Selection::Skip;
    }
    let Some(ports) = p.read::<4>(offset) else {
        return Selection::Skip;
    };
    let (src_port, dst_port) = (be16([ports[0], ports[1]]), be16([ports[2], ports[3]]));
    let class = port_class(src_port) | port_class(dst_port);
    if class & PORT_SIP != 0 {
        return Selection::Sip;
    }
    let src = endpoint(ip.src, src_port, ip.ip_version);
    let dst = endpoint(ip.dst, dst_port, ip.ip_version);
    // Plain SIP over UDP on a TLS port (5061/UDP is common) is SIP, as
    // user space reads it; TLS records never start like SIP.
    let sniffed = proto == IPPROTO_UDP
        && global(&SNIFF_UDP) != 0
        && starts_like_sip(p, offset + UDP_HEADER_LEN);
    if sniffed {
        remember_endpoint(&src, direction);
        remember_endpoint(&dst, direction);
        return Selection::Sip;
    }
    if class & PORT_TLS != 0 {
        return Selection::Tls;
    }
    if known_endpoint(&src) || known_endpoint(&dst) {
        return Selection::Sip;
    }
    Selection::Skip
}

#[inline(always)]
fn endpoint(addr: [u32; 4], port: u16, ip_version: u8) -> EndpointKey {
    EndpointKey {
        addr,
        port,
        ip_version,
        _pad: 0,
    }
}

#[inline(always)]
fn known_endpoint(key: &EndpointKey) -> bool {
    // SAFETY: the value is only tested for presence.
    unsafe { SIP_ENDPOINTS.get(key) }.is_some()
}

/// Remembers an endpoint where SIP was sniffed, counting each one added
/// (`EndpointsRemembered`). A full map evicts its least recently used entry
/// (an LRU map), which the kernel does not report: user space counts the
/// evictions as those added less those still in the map.
#[inline(always)]
fn remember_endpoint(key: &EndpointKey, direction: Direction) {
    if !known_endpoint(key) && SIP_ENDPOINTS.insert(key, 1u8, BPF_NOEXIST as u64).is_ok() {
        count(direction, Counter::EndpointsRemembered);
    }
}

/// An ICMP error whose quoted packet is UDP or TCP on a SIP port or to or
/// from an endpoint where SIP was sniffed, or whose quoted UDP payload
/// starts like SIP (a host quotes the whole datagram it refused; a router,
/// RFC 792, only the IP header and 8 bytes: the endpoints tell then). The
/// quote is read without extension headers (IPv6) and only from a first
/// fragment.
#[inline(always)]
fn icmp_error<P: Packet>(p: &P, offset: u32, proto: u8) -> Selection {
    let Some(h) = p.read::<1>(offset) else {
        return Selection::Skip;
    };
    let quote = offset + ICMP_HEADER_LEN;
    let (quoted_proto, l4, src, dst, version) = if proto == IPPROTO_ICMP {
        if h[0] != ICMP_DEST_UNREACH {
            return Selection::Skip;
        }
        let Some(ip) = p.read::<20>(quote) else {
            return Selection::Skip;
        };
        let header_len = (ip[0] & 0x0f) as u32 * 4;
        let frag = be16([ip[6], ip[7]]);
        if header_len < IPV4_MIN_HEADER_LEN || frag & IPV4_FRAGMENT_OFFSET_MASK != 0 {
            return Selection::Skip;
        }
        let src = [
            u32::from_ne_bytes([ip[12], ip[13], ip[14], ip[15]]),
            0,
            0,
            0,
        ];
        let dst = [
            u32::from_ne_bytes([ip[16], ip[17], ip[18], ip[19]]),
            0,
            0,
            0,
        ];
        (ip[9], quote + header_len, src, dst, 4)
    } else {
        if h[0] != ICMPV6_DEST_UNREACH && h[0] != ICMPV6_PACKET_TOO_BIG {
            return Selection::Skip;
        }
        let Some(ip) = p.read::<40>(quote) else {
            return Selection::Skip;
        };
        (
            ip[6],
            quote + IPV6_HEADER_LEN,
            words(&ip, 8),
            words(&ip, 24),
            6,
        )
    };
    if quoted_proto != IPPROTO_UDP && quoted_proto != IPPROTO_TCP {
        return Selection::Skip;
    }
    let Some(ports) = p.read::<4>(l4) else {
        return Selection::Skip;
    };
    let (src_port, dst_port) = (be16([ports[0], ports[1]]), be16([ports[2], ports[3]]));
    if (port_class(src_port) | port_class(dst_port)) & PORT_SIP != 0 {
        return Selection::Sip;
    }
    let sniffed = quoted_proto == IPPROTO_UDP
        && global(&SNIFF_UDP) != 0
        && starts_like_sip(p, l4 + UDP_HEADER_LEN);
    if sniffed
        || known_endpoint(&endpoint(src, src_port, version))
        || known_endpoint(&endpoint(dst, dst_port, version))
    {
        return Selection::Sip;
    }
    Selection::Skip
}

#[inline(always)]
fn port_class(port: u16) -> u8 {
    PORTS.get(port as u32).copied().unwrap_or(0)
}

#[inline(always)]
fn starts_like_sip<P: Packet>(p: &P, offset: u32) -> bool {
    let Some(first) = p.read::<8>(offset) else {
        return false;
    };
    let word = u64::from_le_bytes(first);
    for (value, mask) in SIP_START_MASKS {
        if word & mask == value {
            return true;
        }
    }
    false
}

#[inline(always)]
fn later_fragment(key: &FragKey, more: bool) -> Selection {
    // SAFETY: the value is only tested for presence.
    if unsafe { FRAGS.get(key) }.is_none() {
        return Selection::Skip;
    }
    if !more {
        // The last fragment: the datagram is complete, free the slot.
        let _ = FRAGS.remove(key);
    }
    Selection::Fragment
}

#[inline(always)]
fn remember_fragmented<P: Packet>(p: &P, key: &FragKey, direction: Direction) {
    if FRAGS.insert(key, 1u8, 0).is_err() {
        count(direction, sipwatch_common::Counter::FragTableFull);
        debug!(
            p.context(),
            "fragment table update failed: later fragments will be missed"
        );
    }
}
