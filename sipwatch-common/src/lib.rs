//! The contract between sipwatch's kernel programs and user space.
//!
//! Everything here is plain `#[repr(C)]` data or a constant, so that both the
//! `no_std` eBPF crate and the user-space crate agree on layouts and numbers
//! without sharing any code that runs. Changing a layout here changes both
//! sides at once; that is the point of keeping it in one place.
#![no_std]

/// Ports that the kernel programs select by default: the two common
/// plain-text SIP ports. 5061 is [`DEFAULT_TLS_PORTS`].
pub const DEFAULT_SIP_PORTS: [u16; 2] = [5060, 5080];
/// SIP over TLS: counted, not copied, since its payload cannot be read.
pub const DEFAULT_TLS_PORTS: [u16; 1] = [5061];

/// Entries in the [`PORT_MAP`] array: one per UDP/TCP port.
pub const PORT_COUNT: u32 = 65_536;
/// Value in [`PORT_MAP`] of a port that is not selected.
pub const PORT_NONE: u8 = 0;
/// Value in [`PORT_MAP`] of a plain-text SIP port: packets are copied.
pub const PORT_SIP: u8 = 1;
/// Value in [`PORT_MAP`] of a SIP-over-TLS port: packets are only counted.
pub const PORT_TLS: u8 = 2;

/// Largest number of packet bytes one record can carry. A TC egress program
/// sees GSO super-packets of up to 64 KiB before the NIC splits them, so the
/// bound is a little above that (two VLAN tags and an Ethernet header).
pub const SNAP_LEN_MAX: u32 = 65_536 + 64;
/// Default snap length: every frame whole, GSO super-packets included (like
/// tcpdump's default, which is larger still).
pub const SNAP_LEN_DEFAULT: u32 = SNAP_LEN_MAX;
/// Smallest snap length user space accepts: enough for the headers of a
/// double-tagged IPv6 packet with a few extension headers plus a start line.
pub const SNAP_LEN_MIN: u32 = 256;

/// Most VLAN tags (802.1Q / 802.1ad) the parser steps over.
pub const MAX_VLAN_TAGS: usize = 2;
/// MPLS labels the kernel programs step over at most before the IP header.
pub const MAX_MPLS_LABELS: usize = 4;
/// Most IPv6 extension headers the parser steps over before giving up.
pub const MAX_IPV6_EXT_HEADERS: usize = 4;
/// Entries in the fragment table that lets non-first fragments of a selected
/// datagram be captured (they carry no UDP header). An LRU map: under a flood
/// of fragmented datagrams the oldest entries go first; user space reports
/// datagrams whose fragments never all arrived.
pub const FRAG_TABLE_ENTRIES: u32 = 8_192;

/// Name of the ring buffer map that carries [`FrameHeader`] records.
pub const RING_MAP: &str = "FRAMES";
/// Name of the per-CPU counters array, indexed by [`counter_index`].
pub const COUNTER_MAP: &str = "COUNTERS";
/// Name of the port selection array ([`PORT_COUNT`] entries of `u8`).
pub const PORT_MAP: &str = "PORTS";
/// Name of the hash map of echo servers (`EchoKey`) whose UDP answers XDP
/// consumes: answers to `attach --echo`'s shadow REGISTERs, which come back
/// to the PBX's own port and must never reach the PBX's socket.
pub const ECHO_MAP: &str = "ECHOES";
/// Echo servers at most in [`ECHO_MAP`].
pub const ECHO_ENTRIES: u32 = 16;
/// Name of the LRU map of endpoints (`EndpointKey`) off the SIP ports
/// where a UDP payload was sniffed as SIP: UDP and TCP to or from them, and
/// ICMP errors quoting a packet of theirs, are SIP's too (a router's error
/// quotes only 8 bytes of UDP, no SIP byte to sniff).
pub const SIP_ENDPOINT_MAP: &str = "SIP_ENDPOINTS";
/// Endpoints at most in [`SIP_ENDPOINT_MAP`] (LRU: the least recently
/// sniffed go first).
pub const SIP_ENDPOINT_ENTRIES: u32 = 4_096;
/// Name of the scratch array (one [`SNAP_LEN_MAX`] slot per CPU and hook).
pub const SCRATCH_MAP: &str = "SCRATCH";
/// Name of the global that holds the snap length, set at load time.
pub const SNAP_LEN_GLOBAL: &str = "SNAP_LEN";
/// Name of the global that enables payload sniffing of UDP on other ports.
pub const SNIFF_GLOBAL: &str = "SNIFF_UDP";
/// Name of the global that holds the wake-up threshold, set at load time.
pub const WAKEUP_GLOBAL: &str = "WAKEUP_BYTES";
/// Name of the global that says where a packet's IP header starts at the
/// hooks (`LINK_ETHERNET` or `LINK_NONE`), set at load time.
pub const LINK_GLOBAL: &str = "LINK_LAYER";
/// `LINK_GLOBAL`: packets begin with an Ethernet header (Ethernet, VLAN,
/// bond, bridge, macvlan, loopback devices).
pub const LINK_ETHERNET: u8 = 0;
/// `LINK_GLOBAL`: packets begin with the IP header (layer-3 devices: tun,
/// WireGuard, PPP, IP-in-IP and GRE tunnels), as TC sees them there.
pub const LINK_NONE: u8 = 1;
/// The kernel programs wake the reader only once this many bytes wait in the
/// ring (waking it for every record costs more than the capture itself under
/// load); the reader also drains on a short timer, so a lone message is not
/// held back. User space lowers it to an eighth of a small ring.
pub const WAKEUP_BYTES_MAX: u32 = 256 << 10;
/// Default ring buffer size: 32 MiB holds a quarter of a second of a
/// 300k packets/s flood of 400-byte messages.
pub const RING_BYTES_DEFAULT: u32 = 32 << 20;

/// The kernel programs, by name as they appear in the object file.
pub const XDP_PROGRAM: &str = "sipwatch_xdp";
pub const TC_PROGRAM: &str = "sipwatch_tc";
/// TC ingress, for interfaces where XDP cannot read the packets (layer-3
/// devices): what XDP does elsewhere, arriving frames.
pub const TC_INGRESS_PROGRAM: &str = "sipwatch_tc_ingress";
/// The kernel drop tracer: a `tp_btf` program on the `kfree_skb`
/// tracepoint, which the kernel fires with a reason for every packet it
/// drops (kernel 5.17 and later give the reason).
pub const DROP_PROGRAM: &str = "sipwatch_drop";
/// The tracepoint [`DROP_PROGRAM`] attaches to.
pub const DROP_TRACEPOINT: &str = "kfree_skb";
/// Name of the global [`DropConfig`], set at load time.
pub const DROP_CONFIG_GLOBAL: &str = "DROP_CONFIG";

/// What the drop tracer needs to read a `struct sk_buff` of the running
/// kernel: byte offsets of the fields it reads, found by user space in the
/// kernel's BTF (`/sys/kernel/btf/vmlinux`), since they change between
/// kernel versions and builds; and the network namespace to watch. All zero
/// (`enabled == 0`): the tracer does nothing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropConfig {
    /// Non-zero: trace drops.
    pub enabled: u32,
    /// Non-zero: the tracepoint's third argument is `enum skb_drop_reason`
    /// (kernel 5.17 and later).
    pub has_reason: u32,
    /// `net->ns.inum` of the network namespace sipwatch attaches in: the
    /// inode number of `/proc/thread-self/ns/net`. Drops in other namespaces (containers,
    /// a router in a lab) are not this host's.
    pub netns_inum: u32,
    /// `sk_buff.head` (pointer).
    pub skb_head: u32,
    /// `sk_buff.network_header` (u16, from `head`).
    pub skb_network_header: u32,
    /// `sk_buff.tail` (u32 `sk_buff_data_t`, from `head`).
    pub skb_tail: u32,
    /// `sk_buff.skb_iif` (int): the interface a received packet arrived on,
    /// 0 for one this host sent.
    pub skb_iif: u32,
    /// `sk_buff.sk` (pointer).
    pub skb_sk: u32,
    /// `sk_buff.dev` (pointer).
    pub skb_dev: u32,
    /// `sk_buff._skb_refdst` (unsigned long): its route, once routed.
    pub skb_refdst: u32,
    /// `sock.__sk_common.skc_net.net` (pointer).
    pub sock_net: u32,
    /// `net_device.nd_net.net` (pointer).
    pub dev_net: u32,
    /// `net.ns.inum` (u32).
    pub net_inum: u32,
}

pub mod plaintext;

/// Wire constants the kernel parser needs, named once.
pub mod wire {
    pub const ETH_HEADER_LEN: u32 = 14;
    /// Offset of the EtherType in an Ethernet header.
    pub const ETH_TYPE_OFFSET: u32 = 12;
    pub const VLAN_TAG_LEN: u32 = 4;
    pub const ETH_P_IPV4: u16 = 0x0800;
    pub const ETH_P_IPV6: u16 = 0x86dd;
    pub const ETH_P_8021Q: u16 = 0x8100;
    pub const ETH_P_8021AD: u16 = 0x88a8;
    /// PPPoE session stage (RFC 2516): a 6-byte header, then the PPP
    /// protocol field (IPv4 0x0021, IPv6 0x0057).
    pub const ETH_P_PPPOE_SESSION: u16 = 0x8864;
    pub const PPPOE_HEADER_LEN: u32 = 6;
    pub const PPP_PROTOCOL_LEN: u32 = 2;
    pub const PPP_IPV4: u16 = 0x0021;
    pub const PPP_IPV6: u16 = 0x0057;
    /// MPLS (RFC 3032): 4-byte label stack entries, the last with its
    /// bottom-of-stack bit (the low bit of its third byte) set.
    pub const ETH_P_MPLS_UC: u16 = 0x8847;
    pub const ETH_P_MPLS_MC: u16 = 0x8848;
    pub const MPLS_LABEL_LEN: u32 = 4;
    pub const MPLS_BOTTOM_OF_STACK: u8 = 0x01;
    pub const IPV4_MIN_HEADER_LEN: u32 = 20;
    pub const IPV4_MORE_FRAGMENTS: u16 = 0x2000;
    pub const IPV4_FRAGMENT_OFFSET_MASK: u16 = 0x1fff;
    pub const IPV6_HEADER_LEN: u32 = 40;
    pub const IPV6_FRAGMENT_HEADER_LEN: u32 = 8;
    pub const IPPROTO_HOPOPTS: u8 = 0;
    pub const IPPROTO_TCP: u8 = 6;
    pub const IPPROTO_UDP: u8 = 17;
    pub const IPPROTO_ROUTING: u8 = 43;
    pub const IPPROTO_FRAGMENT: u8 = 44;
    pub const IPPROTO_DSTOPTS: u8 = 60;
    pub const UDP_HEADER_LEN: u32 = 8;
    pub const IPPROTO_ICMP: u8 = 1;
    pub const IPPROTO_ICMPV6: u8 = 58;
    /// ICMP and ICMPv6 headers: type, code, checksum, 4 bytes that depend on
    /// the type (the MTU for fragmentation needed / packet too big).
    pub const ICMP_HEADER_LEN: u32 = 8;
    /// ICMP destination unreachable (codes: port, host, network, prohibited,
    /// fragmentation needed).
    pub const ICMP_DEST_UNREACH: u8 = 3;
    pub const ICMPV6_DEST_UNREACH: u8 = 1;
    pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;
    /// IPv6 extension header lengths count 8-byte units, not counting the first.
    pub const IPV6_EXT_LEN_UNIT: u32 = 8;
    /// IP protocol numbers (IANA) of the IP tunnels opened: IP-in-IP
    /// (RFC 2003), IPv6-in-IP (RFC 4213), GRE (RFC 2784).
    pub const IPPROTO_IPIP: u8 = 4;
    pub const IPPROTO_IPV6: u8 = 41;
    pub const IPPROTO_GRE: u8 = 47;
    /// GRE's flags: checksum, routing (not opened), key, sequence number
    /// (each present adds 4 bytes, RFC 2784 / RFC 2890); version in the
    /// second byte's low bits (0 opened; 1 is PPTP's).
    pub const GRE_CHECKSUM: u8 = 0x80;
    pub const GRE_ROUTING: u8 = 0x40;
    pub const GRE_KEY: u8 = 0x20;
    pub const GRE_SEQUENCE: u8 = 0x10;
    pub const GRE_VERSION: u8 = 0x07;
    pub const GRE_HEADER_LEN: u32 = 4;
    pub const GRE_OPTION_LEN: u32 = 4;
    /// What a GRE or Geneve header says follows: an Ethernet frame
    /// (transparent bridging), ERSPAN type I/II and type III.
    pub const ETH_P_TEB: u16 = 0x6558;
    pub const ETH_P_ERSPAN: u16 = 0x88be;
    pub const ETH_P_ERSPAN3: u16 = 0x22eb;
    /// ERSPAN headers: type II 8 bytes, type III 12 (its last bit, O, adds
    /// an 8-byte platform subheader).
    pub const ERSPAN2_HEADER_LEN: u32 = 8;
    pub const ERSPAN3_HEADER_LEN: u32 = 12;
    pub const ERSPAN3_SUBHEADER_LEN: u32 = 8;
    /// UDP tunnels opened (IANA ports): VXLAN (RFC 7348, 8-byte header, then
    /// Ethernet) and Geneve (RFC 8926, 8 bytes and options, then its
    /// protocol type).
    pub const VXLAN_PORT: u16 = 4789;
    pub const VXLAN_HEADER_LEN: u32 = 8;
    pub const GENEVE_PORT: u16 = 6081;
    pub const GENEVE_HEADER_LEN: u32 = 8;
    /// Geneve's option length counts 4-byte units.
    pub const GENEVE_OPTION_UNIT: u32 = 4;
    /// TZSP (UDP 37008, MikroTik's mirror stream): version 1, type,
    /// encapsulation (1: Ethernet), then tagged fields (padding 0, end 1,
    /// others type, length, value) up to the end tag.
    pub const TZSP_PORT: u16 = 37008;
    pub const TZSP_VERSION: u8 = 1;
    pub const TZSP_ETHERNET: u16 = 1;
    pub const TZSP_HEADER_LEN: u32 = 4;
    pub const TZSP_TAG_PADDING: u8 = 0;
    pub const TZSP_TAG_END: u8 = 1;
    /// Tagged fields walked at most before the end tag.
    pub const TZSP_MAX_TAGS: usize = 16;
    /// Tunnels opened one inside another, at most.
    pub const MAX_TUNNELS: usize = 2;
}

/// Which way a packet was going when it was captured.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Arriving at the interface (XDP).
    Ingress = 0,
    /// Leaving through the interface (TC egress).
    Egress = 1,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    pub const fn from_u8(v: u8) -> Option<Direction> {
        match v {
            0 => Some(Direction::Ingress),
            1 => Some(Direction::Egress),
            _ => None,
        }
    }
}

/// `FrameHeader::flags`: the frame's outer VLAN tag was held in packet
/// metadata (hardware VLAN offload) rather than in the bytes; user space
/// puts it back from `vlan_tci` / `vlan_proto`.
pub const FLAG_VLAN_IN_METADATA: u8 = 1;
/// `FrameHeader::flags`: fewer bytes were copied than the frame had.
pub const FLAG_TRUNCATED: u8 = 2;
/// `FrameHeader::flags`: not a frame on the wire but a packet this host's
/// kernel dropped (the drop tracer): its bytes begin with the IP header,
/// `drop_reason` says why, and `direction` says whether it was leaving
/// (sent by this host) or had arrived.
pub const FLAG_KERNEL_DROP: u8 = 4;
/// `FrameHeader::flags`: the frame's bytes begin with the IP header (it
/// was captured on a layer-3 device: tun, WireGuard, PPP, an IP tunnel).
pub const FLAG_NO_LINK_HEADER: u8 = 8;

/// `FrameHeader::drop_hints`: the packet had an output device when dropped
/// (leaving: past routing, so POSTROUTING rather than OUTPUT).
pub const DROP_HINT_DEVICE: u8 = 1;
/// `FrameHeader::drop_hints`: the packet had a route when dropped
/// (arriving: past the routing decision, so INPUT rather than PREROUTING).
pub const DROP_HINT_ROUTE: u8 = 2;

/// The metadata in front of every packet in the ring buffer. The packet's
/// first `cap_len` bytes follow it directly.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, converted to wall time by user space.
    pub ts_ns: u64,
    /// Interface the packet was seen on.
    pub ifindex: u32,
    /// Length of the whole packet as the hook saw it.
    pub wire_len: u32,
    /// Bytes of the packet that follow this header.
    pub cap_len: u32,
    /// A [`Direction`] as `u8`.
    pub direction: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// VLAN TCI taken from metadata when `FLAG_VLAN_IN_METADATA` is set (host order).
    pub vlan_tci: u16,
    /// VLAN protocol (0x8100 / 0x88a8) with `vlan_tci` (host order).
    pub vlan_proto: u16,
    /// With `FLAG_KERNEL_DROP`: `DROP_HINT_*` bits, where in the stack it was.
    pub drop_hints: u8,
    pub _reserved: u8,
    /// With `FLAG_KERNEL_DROP`: the kernel's `enum skb_drop_reason` value
    /// (0 when the kernel gives none).
    pub drop_reason: u32,
}

/// Size of [`FrameHeader`] in the ring buffer.
pub const FRAME_HEADER_LEN: usize = core::mem::size_of::<FrameHeader>();

/// One capture slot: what the kernel program assembles before handing it to
/// the ring buffer in one copy of exactly `FRAME_HEADER_LEN + cap_len` bytes.
#[repr(C)]
pub struct ScratchRecord {
    pub header: FrameHeader,
    pub data: [u8; SNAP_LEN_MAX as usize],
}

/// Scratch slots per CPU: one per program (XDP, TC, drop tracer), so that
/// no two share one.
pub const SCRATCH_SLOTS_PER_CPU: u32 = 3;

/// What the kernel counts, per direction and per CPU. Nothing the programs
/// decide not to deliver goes uncounted.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every packet the hook ran for.
    Seen = 0,
    /// Packets that matched the SIP selection (port, payload or fragment).
    Selected = 1,
    /// Selected packets handed to the ring buffer.
    Copied = 2,
    /// Copied packets whose bytes were cut at the snap length.
    Truncated = 3,
    /// Selected packets lost because the ring buffer was full.
    RingFull = 4,
    /// Packets on a TLS port: counted only.
    Tls = 5,
    /// Selected packets whose bytes could not be read (a kernel helper failed).
    ReadError = 6,
    /// Non-first fragments captured because their first fragment was selected.
    Fragments = 7,
    /// First fragments of selected datagrams that could not be remembered
    /// (fragment table update failed): their later fragments are missed.
    FragTableFull = 8,
    /// Answers from an echo server in [`ECHO_MAP`], copied and then dropped
    /// at XDP so that the PBX never sees them (ingress only).
    Consumed = 9,
    /// SIP packets this host's kernel dropped (the drop tracer; counted
    /// under the way they were going: egress when this host sent them).
    /// The hooks' own counters above do not include them.
    KernelDropped = 10,
    /// Of those, the ones whose copy was lost (ring buffer full, or their
    /// bytes unreadable).
    KernelDropLost = 11,
    /// Of those, the ones counted but not copied: over
    /// [`DROP_COPIES_PER_S`] a second on one CPU (a flood the firewall
    /// drops must not crowd the wire's capture out of the ring).
    KernelDropNotCopied = 12,
    /// Endpoints added to [`SIP_ENDPOINT_MAP`] (sniffed SIP off the SIP
    /// ports). The map is an LRU: those added less those still in it were
    /// evicted, and their ICMP errors and TCP are no longer selected.
    EndpointsRemembered = 13,
}

/// Number of [`Counter`] kinds.
pub const COUNTER_KINDS: u32 = 14;

/// Dropped SIP packets the drop tracer copies at most, per second and CPU;
/// the rest are counted only.
pub const DROP_COPIES_PER_S: u64 = 2_000;
/// Name of the drop tracer's per-CPU rate state (window start in ns, copies
/// in the window).
pub const DROP_RATE_MAP: &str = "DROP_RATE";
/// Entries in the counters array: every counter once per direction.
pub const COUNTER_ENTRIES: u32 = COUNTER_KINDS * 2;

/// Index into the counters array of `counter` for `direction`.
pub const fn counter_index(direction: Direction, counter: Counter) -> u32 {
    direction as u32 * COUNTER_KINDS + counter as u32
}

/// Key of [`ECHO_MAP`]: an echo server's address and UDP port as its
/// answers carry them (source). IPv4 addresses sit in the first word;
/// words in network byte order, as read from the packet; the port in host
/// order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoKey {
    pub addr: [u32; 4],
    pub port: u16,
    pub ip_version: u8,
    pub _pad: u8,
}

/// Key of [`SIP_ENDPOINT_MAP`]: an address and port (UDP or TCP alike).
/// IPv4 addresses sit in the first word; words in network byte order, as
/// read from the packet; the port in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointKey {
    pub addr: [u32; 4],
    pub port: u16,
    pub ip_version: u8,
    pub _pad: u8,
}

/// Key of the fragment table: the IP identity of a fragmented datagram.
/// IPv4 addresses sit in the first word of each address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragKey {
    pub src: [u32; 4],
    pub dst: [u32; 4],
    pub id: u32,
    pub proto: u8,
    pub ip_version: u8,
    pub _pad: [u8; 2],
}

/// A SIP start line begins with one of these (8 bytes or fewer, compared
/// against the first 8 bytes of a UDP payload on a port that is not selected).
pub const SIP_START_PREFIXES: [&[u8]; 14] = [
    b"SIP/2.0 ",
    b"REGISTER",
    b"INVITE ",
    b"ACK ",
    b"BYE ",
    b"CANCEL ",
    b"OPTIONS ",
    b"INFO ",
    b"PRACK ",
    b"UPDATE ",
    b"SUBSCRIB",
    b"NOTIFY ",
    b"PUBLISH ",
    b"MESSAGE ",
];

/// [`SIP_START_PREFIXES`] as (value, mask) pairs over a little-endian `u64`
/// read of the first 8 payload bytes, so the kernel compares with two ALU ops.
pub const SIP_START_MASKS: [(u64, u64); 14] = {
    let mut out = [(0u64, 0u64); 14];
    let mut i = 0;
    while i < SIP_START_PREFIXES.len() {
        let p = SIP_START_PREFIXES[i];
        let mut value = 0u64;
        let mut mask = 0u64;
        let mut j = 0;
        while j < p.len() {
            value |= (p[j] as u64) << (8 * j);
            mask |= 0xffu64 << (8 * j);
            j += 1;
        }
        out[i] = (value, mask);
        i += 1;
    }
    out
};

/// Whether the first bytes of a payload start like a SIP message. The same
/// test the kernel runs; user space uses it to tell SIP from other traffic.
pub fn looks_like_sip_start(payload: &[u8]) -> bool {
    if payload.len() < 8 {
        return false;
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&payload[..8]);
    let word = u64::from_le_bytes(first);
    let mut i = 0;
    while i < SIP_START_MASKS.len() {
        let (value, mask) = SIP_START_MASKS[i];
        if word & mask == value {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] data with no padding holes that matter and no
    // invalid bit patterns.
    unsafe impl aya::Pod for super::FrameHeader {}
    unsafe impl aya::Pod for super::FragKey {}
    unsafe impl aya::Pod for super::EchoKey {}
    unsafe impl aya::Pod for super::EndpointKey {}
    unsafe impl aya::Pod for super::DropConfig {}
    unsafe impl aya::Pod for super::plaintext::PlainHeader {}
    unsafe impl aya::Pod for super::plaintext::SockOffsets {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_has_a_stable_size() {
        assert_eq!(FRAME_HEADER_LEN, 32);
        assert_eq!(FRAME_HEADER_LEN % 8, 0);
    }

    #[test]
    fn sip_start_lines_are_recognised_and_others_are_not() {
        assert!(looks_like_sip_start(
            b"REGISTER sip:example.com SIP/2.0\r\n"
        ));
        assert!(looks_like_sip_start(b"SIP/2.0 401 Unauthorized\r\n"));
        assert!(looks_like_sip_start(b"ACK sip:a@b SIP/2.0\r\n"));
        assert!(looks_like_sip_start(b"SUBSCRIBE sip:a@b SIP/2.0\r\n"));
        assert!(!looks_like_sip_start(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip_start(b"SIP/2.1 200 OK\r\n"));
        assert!(!looks_like_sip_start(b"INVITE"));
        assert!(!looks_like_sip_start(b"\x16\x03\x01\x02\x00\x01\x00\x01"));
    }

    #[test]
    fn counter_indices_do_not_overlap_between_directions() {
        let last_ingress = counter_index(Direction::Ingress, Counter::EndpointsRemembered);
        let first_egress = counter_index(Direction::Egress, Counter::Seen);
        assert_eq!(last_ingress + 1, first_egress);
        assert_eq!(
            counter_index(Direction::Egress, Counter::EndpointsRemembered) + 1,
            COUNTER_ENTRIES
        );
    }
}
