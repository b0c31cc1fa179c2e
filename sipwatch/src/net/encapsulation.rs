//! Encapsulations opened on the way to the IP packet that carries SIP:
//! PPPoE sessions, MPLS label stacks, IP-in-IP and IPv6-in-IP, GRE (plain,
//! with key and sequence options, transparent Ethernet bridging, ERSPAN
//! I/II/III as port mirrors send them, PPTP's enhanced GRE), VXLAN, Geneve
//! and TZSP. The innermost IP packet is the one read: its addresses are the
//! ones used for transactions, legs and the audit.
//!
//! Anything that is not opened is named by what it is ([`FrameKind`]), so
//! that the summary says "12 frames of L2TP, not opened" instead of lumping
//! them together.
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use super::link::{self, NotSliced};

/// Encapsulations opened inside one another at most; a frame nested deeper
/// is counted as [`FrameKind::NestedTooDeep`] (a loop of tunnels, or a
/// crafted frame, cannot make decoding unbounded).
pub const MAX_NESTING: usize = 4;

/// EtherTypes (IEEE registry) and protocol numbers that name what follows.
mod number {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const ARP: u16 = 0x0806;
    pub const LLDP: u16 = 0x88cc;
    /// RFC 2516: PPPoE discovery and session stages.
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// RFC 3032: MPLS unicast and multicast.
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// Transparent Ethernet bridging (GRE's, Geneve's "an Ethernet frame follows").
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    /// ERSPAN type I and II (Cisco; draft-foschiano-erspan), and type III.
    pub const ERSPAN_II: u16 = 0x88be;
    pub const ERSPAN_III: u16 = 0x22eb;
    /// PPP in PPTP's enhanced GRE (RFC 2637).
    pub const PPP: u16 = 0x880b;
    /// Below this an Ethernet type field is an 802.3 length (LLC follows).
    pub const FIRST_ETHER_TYPE: u16 = 0x0600;
    /// IP protocol numbers (IANA) of the IP tunnels opened.
    pub const IP_IN_IP: u8 = 4;
    pub const IPV6_IN_IP: u8 = 41;
    pub const GRE: u8 = 47;
    /// UDP destination ports of the UDP tunnels opened (IANA).
    pub const VXLAN_PORT: u16 = 4789;
    pub const GENEVE_PORT: u16 = 6081;
    pub const TZSP_PORT: u16 = 37008;
}

/// What a frame that sipwatch does not open carries, as the summary names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// ARP (or RARP).
    Arp,
    /// 802.3 frames with an LLC header: spanning tree, CDP, IPX, NetBIOS…
    Llc,
    /// Link Layer Discovery Protocol.
    Lldp,
    /// PPPoE discovery (PADI, PADO, PADR, PADS, PADT; RFC 2516 §5).
    PppoeDiscovery,
    /// PPP frames that carry no IP: LCP, authentication, IPCP… (RFC 1661),
    /// with the PPP protocol number.
    Ppp(u16),
    /// An EtherType sipwatch does not read.
    EtherType(u16),
    /// An IP protocol other than UDP, TCP and ICMP (ESP, OSPF, L2TPv3…),
    /// with its number.
    IpProtocol(u8),
    /// ICMP messages that are not errors quoting a UDP or TCP packet
    /// (echo, neighbour discovery, redirects…).
    IcmpNotError,
    /// MPLS whose payload is neither IP nor an Ethernet pseudowire.
    MplsOther,
    /// TZSP carrying something other than Ethernet (802.11, …), with its
    /// encapsulation number.
    Tzsp(u16),
    /// A Linux cooked frame of a netlink socket.
    Netlink,
    /// A Linux cooked frame whose protocol is a Linux pseudo-protocol
    /// (802.2, 802.3, CAN…), with its number.
    LinuxProtocol(u16),
    /// A BSD loopback frame of another address family, with its number.
    AddressFamily(u32),
    /// An NFLOG record logged without its packet.
    NflogWithoutPacket,
    /// A frame on an IP-only link whose first nibble is not an IP version.
    NotIpVersion,
    /// Encapsulations nested deeper than [`MAX_NESTING`].
    NestedTooDeep,
}

impl std::fmt::Display for FrameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FrameKind::Arp => f.write_str("ARP"),
            FrameKind::Llc => f.write_str("802.2 LLC (STP, CDP, …)"),
            FrameKind::Lldp => f.write_str("LLDP"),
            FrameKind::PppoeDiscovery => f.write_str("PPPoE discovery"),
            FrameKind::Ppp(p) => match p {
                0xc021 => f.write_str("PPP LCP"),
                0xc023 | 0xc223 => f.write_str("PPP authentication"),
                0x8021 => f.write_str("PPP IPCP"),
                0x8057 => f.write_str("PPP IPv6CP"),
                _ => write!(f, "PPP protocol 0x{p:04x}"),
            },
            FrameKind::EtherType(t) => match t {
                0x888e => f.write_str("EAPOL (802.1X)"),
                0x8809 => f.write_str("LACP / slow protocols"),
                0x88f7 => f.write_str("PTP"),
                0x88e5 => f.write_str("MACsec"),
                0x8035 => f.write_str("RARP"),
                0x9000 => f.write_str("Ethernet loopback"),
                _ => write!(f, "EtherType 0x{t:04x}"),
            },
            FrameKind::IpProtocol(p) => match p {
                2 => f.write_str("IGMP"),
                50 => f.write_str("ESP (IPsec)"),
                51 => f.write_str("AH (IPsec)"),
                89 => f.write_str("OSPF"),
                103 => f.write_str("PIM"),
                112 => f.write_str("VRRP"),
                115 => f.write_str("L2TP"),
                132 => f.write_str("SCTP"),
                number::IP_IN_IP => f.write_str("IP-in-IP in fragments"),
                number::IPV6_IN_IP => f.write_str("IPv6-in-IP in fragments"),
                number::GRE => f.write_str("GRE"),
                _ => write!(f, "IP protocol {p}"),
            },
            FrameKind::IcmpNotError => f.write_str("ICMP other than errors"),
            FrameKind::MplsOther => f.write_str("MPLS not carrying IP"),
            FrameKind::Tzsp(e) => write!(f, "TZSP encapsulation {e}"),
            FrameKind::Netlink => f.write_str("netlink"),
            FrameKind::LinuxProtocol(p) => write!(f, "Linux protocol 0x{p:04x}"),
            FrameKind::AddressFamily(a) => write!(f, "address family {a}"),
            FrameKind::NflogWithoutPacket => f.write_str("NFLOG without its packet"),
            FrameKind::NotIpVersion => f.write_str("no IP version"),
            FrameKind::NestedTooDeep => write!(f, "tunnels nested over {MAX_NESTING} deep"),
        }
    }
}

/// Kinds counted apart at most; beyond them frames are counted in `others`
/// (a capture of random EtherTypes cannot grow the summary).
const KINDS: usize = 16;

/// How many frames of each kind were not opened, in the order first seen.
/// Bounded and `Copy`, like the rest of the decoding counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotOpened {
    kinds: [Option<(FrameKind, u64)>; KINDS],
    /// Frames of kinds beyond the first sixteen.
    others: u64,
}

impl NotOpened {
    /// Counts one frame of `kind`.
    pub fn add(&mut self, kind: FrameKind) {
        for slot in &mut self.kinds {
            match slot {
                Some((k, n)) if *k == kind => {
                    *n += 1;
                    return;
                }
                None => {
                    *slot = Some((kind, 1));
                    return;
                }
                Some(_) => {}
            }
        }
        self.others += 1;
    }

    /// Each kind with its frames, in the order first seen.
    pub fn kinds(&self) -> impl Iterator<Item = (FrameKind, u64)> + '_ {
        self.kinds.iter().flatten().copied()
    }

    /// Frames of kinds not counted apart (past the first sixteen kinds).
    pub fn others(&self) -> u64 {
        self.others
    }

    /// Frames counted, all kinds.
    pub fn total(&self) -> u64 {
        self.kinds().map(|(_, n)| n).sum::<u64>() + self.others
    }

    /// No frame was left unopened.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// The JSON form: `[{"kind": {"ip_protocol": 115}, "name": "L2TP", "frames": 12}, …]`.
impl serde::Serialize for NotOpened {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Entry {
            kind: Option<FrameKind>,
            name: String,
            frames: u64,
        }
        let mut entries: Vec<Entry> = self
            .kinds()
            .map(|(kind, frames)| Entry {
                kind: Some(kind),
                name: kind.to_string(),
                frames,
            })
            .collect();
        if self.others > 0 {
            entries.push(Entry {
                kind: None,
                name: "other kinds".into(),
                frames: self.others,
            });
        }
        serde::Serialize::serialize(&entries, s)
    }
}

/// A frame opened down to the innermost IP packet.
pub(super) struct Opened<'a> {
    /// The innermost IP packet (UDP, TCP, ICMP or another protocol).
    pub slice: SlicedPacket<'a>,
    /// VLAN ids of every layer, outermost first.
    pub vlans: Vec<u16>,
    /// The outermost IP tunnel the packet came in, when it came in one.
    pub outer: Option<Tunnel>,
}

/// The IP tunnel a packet came in: its kind and its ends' addresses (the
/// outermost tunnel, when several), shown beside the inner addresses that
/// everything else uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Tunnel {
    /// `IP-in-IP`, `IPv6-in-IP`, `GRE` (ERSPAN included), `VXLAN`,
    /// `Geneve` or `TZSP`.
    pub kind: &'static str,
    /// The tunnel packet's source address.
    pub src: std::net::IpAddr,
    /// The tunnel packet's destination address.
    pub dst: std::net::IpAddr,
}

impl Tunnel {
    /// The tunnel the IP packet `slice` is, once it was opened as one.
    fn of(slice: &SlicedPacket<'_>) -> Option<Tunnel> {
        let kind = match &slice.transport {
            Some(TransportSlice::Udp(udp)) => match udp.destination_port() {
                number::VXLAN_PORT => "VXLAN",
                number::GENEVE_PORT => "Geneve",
                number::TZSP_PORT => "TZSP",
                _ => return None,
            },
            Some(_) => return None,
            None => match slice.ip_payload()?.ip_number.0 {
                number::IP_IN_IP => "IP-in-IP",
                number::IPV6_IN_IP => "IPv6-in-IP",
                number::GRE => "GRE",
                _ => return None,
            },
        };
        let (src, dst) = match &slice.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => return None,
        };
        Some(Tunnel { kind, src, dst })
    }
}

/// Why a frame was not opened down to an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Closed {
    /// Not opened; `over_ip` when what it is was found inside an IP
    /// packet (an IP protocol, a tunnel carrying something else).
    Kind { kind: FrameKind, over_ip: bool },
    /// Cut short or inconsistent, at any layer.
    Malformed,
}

/// One layer's verdict.
// It lives for one step of the loop: boxing the slice would allocate per layer.
#[allow(clippy::large_enum_variant)]
enum Step<'a> {
    /// An IP packet that is not a tunnel: read it.
    Done,
    /// Another layer inside.
    Inner(SlicedPacket<'a>),
    /// Something not opened.
    Kind(FrameKind),
    Malformed,
}

impl<'a> From<link::Link<'a>> for Step<'a> {
    fn from(l: link::Link<'a>) -> Self {
        match l {
            Ok(s) => Step::Inner(s),
            Err(NotSliced::NotIp(kind)) => Step::Kind(kind),
            Err(NotSliced::Malformed) => Step::Malformed,
        }
    }
}

/// Opens `outer` (a sliced frame) layer by layer down to an IP packet
/// that is not a tunnel, at most [`MAX_NESTING`] encapsulations deep.
pub(super) fn open(outer: SlicedPacket<'_>) -> Result<Opened<'_>, Closed> {
    let mut slice = outer;
    let mut vlans = vlan_ids(&slice);
    let mut over_ip = false;
    let mut tunnel = None;
    for _ in 0..=MAX_NESTING {
        let is_ip = matches!(slice.net, Some(NetSlice::Ipv4(_) | NetSlice::Ipv6(_)));
        let step = if is_ip { ip(&slice) } else { ether(&slice) };
        over_ip |= is_ip;
        match step {
            Step::Done => {
                return Ok(Opened {
                    slice,
                    vlans,
                    outer: tunnel,
                });
            }
            Step::Inner(inner) => {
                if is_ip && tunnel.is_none() {
                    tunnel = Tunnel::of(&slice);
                }
                vlans.extend(vlan_ids(&inner));
                slice = inner;
            }
            Step::Kind(kind) => return Err(Closed::Kind { kind, over_ip }),
            Step::Malformed => return Err(Closed::Malformed),
        }
    }
    Err(Closed::Kind {
        kind: FrameKind::NestedTooDeep,
        over_ip,
    })
}

/// VLAN ids of one layer, outer first.
pub(super) fn vlan_ids(slice: &SlicedPacket<'_>) -> Vec<u16> {
    slice.vlan_ids().iter().map(|v| v.value()).collect()
}

/// A frame whose link layer names something other than IP.
fn ether<'a>(slice: &SlicedPacket<'a>) -> Step<'a> {
    if matches!(slice.net, Some(NetSlice::Arp(_))) {
        return Step::Kind(FrameKind::Arp);
    }
    match slice.ether_payload() {
        Some(p) => ether_type(p.ether_type.0, p.payload),
        None => Step::Kind(FrameKind::NotIpVersion),
    }
}

/// What an EtherType says follows (an Ethernet, VLAN, GRE or Geneve
/// protocol field).
fn ether_type(ether_type: u16, payload: &[u8]) -> Step<'_> {
    match ether_type {
        number::IPV4 | number::IPV6 => link::ip(payload).into(),
        number::TRANSPARENT_ETHERNET => ethernet(payload),
        number::PPPOE_SESSION => pppoe(payload),
        number::PPPOE_DISCOVERY => Step::Kind(FrameKind::PppoeDiscovery),
        number::MPLS_UNICAST | number::MPLS_MULTICAST => mpls(payload),
        number::ARP => Step::Kind(FrameKind::Arp),
        number::LLDP => Step::Kind(FrameKind::Lldp),
        t if t < number::FIRST_ETHER_TYPE => Step::Kind(FrameKind::Llc),
        t => Step::Kind(FrameKind::EtherType(t)),
    }
}

fn ethernet(payload: &[u8]) -> Step<'_> {
    SlicedPacket::from_ethernet(payload).map_or(Step::Malformed, Step::Inner)
}

/// An IP packet: a tunnel to open, or the packet to read.
fn ip<'a>(slice: &SlicedPacket<'a>) -> Step<'a> {
    // A fragment is reassembled first; a tunnel in fragments is not opened.
    if slice.is_ip_payload_fragmented() {
        return Step::Done;
    }
    match &slice.transport {
        Some(TransportSlice::Udp(udp)) => {
            let payload = udp.payload();
            let opened = match udp.destination_port() {
                number::VXLAN_PORT => vxlan(payload),
                number::GENEVE_PORT => geneve(payload),
                number::TZSP_PORT => tzsp(payload),
                _ => None,
            };
            // Not what the port promises: an ordinary datagram on that port.
            opened.unwrap_or(Step::Done)
        }
        Some(_) => Step::Done,
        None => {
            let Some(p) = slice.ip_payload() else {
                return Step::Done;
            };
            match p.ip_number.0 {
                number::IP_IN_IP => ip_version(p.payload, 4),
                number::IPV6_IN_IP => ip_version(p.payload, 6),
                number::GRE => gre(p.payload),
                _ => Step::Done,
            }
        }
    }
}

/// An IP packet that must be of `version` (IP-in-IP, IPv6-in-IP).
fn ip_version(payload: &[u8], version: u8) -> Step<'_> {
    match payload.first() {
        Some(b) if b >> 4 == version => link::ip(payload).into(),
        _ => Step::Malformed,
    }
}

/// PPPoE session stage (RFC 2516 §4): version/type 0x11, code 0, session
/// id, payload length, then a PPP frame.
fn pppoe(data: &[u8]) -> Step<'_> {
    const HEADER_LEN: usize = 6;
    const VERSION_TYPE: u8 = 0x11;
    let (Some(&VERSION_TYPE), Some(len)) = (data.first(), link::be16(data, 4)) else {
        return Step::Malformed;
    };
    // The length field bounds the PPP frame (Ethernet padding follows).
    let end = (HEADER_LEN + usize::from(len)).min(data.len());
    match data.get(HEADER_LEN..end) {
        Some(ppp) => link::ppp(ppp).into(),
        None => Step::Malformed,
    }
}

/// An MPLS label stack (RFC 3032 §2.1): 4-byte entries down to the one
/// with the bottom-of-stack bit; then IP by its version nibble, or an
/// Ethernet pseudowire behind its control word (RFC 4385).
fn mpls(data: &[u8]) -> Step<'_> {
    const ENTRY_LEN: usize = 4;
    const BOTTOM_OF_STACK: u8 = 0x01;
    const MAX_LABELS: usize = 16;
    let mut at = 0;
    for _ in 0..MAX_LABELS {
        let Some(entry) = data.get(at..at + ENTRY_LEN) else {
            return Step::Malformed;
        };
        at += ENTRY_LEN;
        if entry[2] & BOTTOM_OF_STACK == 0 {
            continue;
        }
        let payload = &data[at..];
        return match payload.first().map(|b| b >> 4) {
            Some(4 | 6) => link::ip(payload).into(),
            Some(0) => payload.get(ENTRY_LEN..).map_or(Step::Malformed, ethernet),
            Some(_) => Step::Kind(FrameKind::MplsOther),
            None => Step::Malformed,
        };
    }
    Step::Malformed
}

/// GRE (RFC 2784, RFC 2890 key and sequence number; RFC 2637 enhanced GRE
/// version 1, as PPTP sends PPP), and ERSPAN behind it.
fn gre(data: &[u8]) -> Step<'_> {
    const CHECKSUM: u16 = 0x8000;
    const ROUTING: u16 = 0x4000;
    const KEY: u16 = 0x2000;
    const SEQUENCE: u16 = 0x1000;
    const ACK: u16 = 0x0080;
    const VERSION: u16 = 0x0007;
    let (Some(flags), Some(protocol)) = (link::be16(data, 0), link::be16(data, 2)) else {
        return Step::Malformed;
    };
    let present = |bit: u16| if flags & bit != 0 { 4 } else { 0 };
    let len = match flags & VERSION {
        0 if flags & ROUTING == 0 => 4 + present(CHECKSUM) + present(KEY) + present(SEQUENCE),
        1 => 4 + present(KEY) + present(SEQUENCE) + present(ACK),
        _ => return Step::Kind(FrameKind::IpProtocol(number::GRE)),
    };
    let Some(payload) = data.get(len..) else {
        return Step::Malformed;
    };
    match protocol {
        number::PPP if flags & VERSION == 1 => link::ppp(payload).into(),
        // Type I has no ERSPAN header and no sequence number.
        number::ERSPAN_II if flags & SEQUENCE == 0 => ethernet(payload),
        number::ERSPAN_II => erspan(payload, 1, 8),
        number::ERSPAN_III => erspan(payload, 2, 12),
        p => ether_type(p, payload),
    }
}

/// An ERSPAN header of `version` (type II: 1, type III: 2), then the
/// mirrored Ethernet frame. Type III may add an 8-byte platform-specific
/// subheader (its O bit).
fn erspan(data: &[u8], version: u8, header_len: usize) -> Step<'_> {
    const PLATFORM_SUBHEADER_LEN: usize = 8;
    if data.first().map(|b| b >> 4) != Some(version) {
        return Step::Malformed;
    }
    let Some(last) = data.get(header_len - 1) else {
        return Step::Malformed;
    };
    let len = if version == 2 && last & 1 == 1 {
        header_len + PLATFORM_SUBHEADER_LEN
    } else {
        header_len
    };
    data.get(len..).map_or(Step::Malformed, ethernet)
}

/// VXLAN (RFC 7348): 8 bytes, the I flag set, then an Ethernet frame.
fn vxlan(data: &[u8]) -> Option<Step<'_>> {
    const HEADER_LEN: usize = 8;
    const VNI_VALID: u8 = 0x08;
    if data.first()? & VNI_VALID == 0 {
        return None;
    }
    Some(ethernet(data.get(HEADER_LEN..)?))
}

/// Geneve (RFC 8926): version 0, options of the length given, then what
/// the protocol type names.
fn geneve(data: &[u8]) -> Option<Step<'_>> {
    const HEADER_LEN: usize = 8;
    let first = *data.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let len = HEADER_LEN + usize::from(first & 0x3f) * 4;
    let protocol = link::be16(data, 2)?;
    Some(ether_type(protocol, data.get(len..)?))
}

/// TZSP (TaZmen Sniffer Protocol, as MikroTik routers stream a mirror):
/// version 1, type, encapsulation, tagged fields to the END tag, then the
/// frame.
fn tzsp(data: &[u8]) -> Option<Step<'_>> {
    const VERSION: u8 = 1;
    const ETHERNET: u16 = 1;
    const TAG_PADDING: u8 = 0;
    const TAG_END: u8 = 1;
    const MAX_TAGS: usize = 64;
    if *data.first()? != VERSION {
        return None;
    }
    let encapsulation = link::be16(data, 2)?;
    let mut at = 4;
    for _ in 0..MAX_TAGS {
        match *data.get(at)? {
            TAG_END => {
                let frame = data.get(at + 1..)?;
                return Some(if encapsulation == ETHERNET {
                    ethernet(frame)
                } else {
                    Step::Kind(FrameKind::Tzsp(encapsulation))
                });
            }
            TAG_PADDING => at += 1,
            _ => at += 2 + usize::from(*data.get(at + 1)?),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use etherparse::{IpNumber, PacketBuilder};

    use crate::{
        capture::{Frame, LinkType},
        net::Decoder,
    };

    fn inner() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 8, 0, 2], [10, 8, 0, 1], 64)
            .udp(5060, 5060)
            .write(&mut out, b"OPTIONS sip:x SIP/2.0\r\n\r\n")
            .unwrap();
        out
    }

    fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2; 12];
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn outer(protocol: u8, udp_port: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let b =
            PacketBuilder::ethernet2([2; 6], [4; 6]).ipv4([198, 51, 100, 1], [198, 51, 100, 2], 64);
        let mut out = Vec::new();
        match udp_port {
            Some(port) => b.udp(1, port).write(&mut out, payload).unwrap(),
            None => b.write(&mut out, IpNumber(protocol), payload).unwrap(),
        }
        out
    }

    #[test]
    fn no_encapsulated_input_makes_the_decoder_panic() {
        let ip = inner();
        let e = eth(0x0800, &ip);
        let templates = [
            eth(
                0x8864,
                &[&[0x11, 0, 0, 1, 0, (ip.len() + 2) as u8, 0, 0x21][..], &ip].concat(),
            ),
            eth(0x8847, &[&[0, 1, 1, 0x40][..], &ip].concat()),
            outer(4, None, &ip),
            outer(
                47,
                None,
                &[
                    &[
                        0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                    ][..],
                    &[0; 8],
                    &e,
                ]
                .concat(),
            ),
            outer(
                47,
                None,
                &[
                    &[0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2][..],
                    &e,
                ]
                .concat(),
            ),
            outer(0, Some(4789), &[&[8, 0, 0, 0, 0, 0, 1, 0][..], &e].concat()),
            outer(
                0,
                Some(6081),
                &[&[1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 0, 0, 0][..], &e].concat(),
            ),
            outer(
                0,
                Some(37008),
                &[&[1, 0, 0, 1, 5, 2, 0, 0, 1][..], &e].concat(),
            ),
        ];
        let mut next = crate::net::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut d = Decoder::new();
        for (i, t) in templates.iter().enumerate() {
            let whole = Frame {
                timestamp: SystemTime::UNIX_EPOCH,
                ifindex: 0,
                direction: None,
                link: LinkType::Ethernet,
                wire_len: t.len() as u32,
                data: t.clone(),
                truncated: false,
                kernel_drop: None,
            };
            assert!(d.push(&whole).is_some(), "template {i} decodes");
            for _ in 0..3000 {
                let mut f = whole.clone();
                f.data.truncate((next() as usize) % (t.len() + 1));
                for _ in 0..(next() % 4) {
                    if !f.data.is_empty() {
                        let at = (next() as usize) % f.data.len();
                        f.data[at] = next() as u8;
                    }
                }
                d.push(&f);
            }
        }
        assert_eq!(d.stats().frames, 8 * 3001);
    }
}
