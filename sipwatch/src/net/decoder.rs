//! Frames to [`Datagram`]s, counting everything that is not one.
use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use etherparse::{
    IpNumber, NetSlice, SlicedPacket, TcpSlice, TransportSlice, UdpSlice, defrag::IpDefragPool,
};
use sipwatch_common::{Direction, wire::IPV6_HEADER_LEN};

use super::{
    Datagram, FrameKind, IcmpError, NotOpened, TcpSegmentInfo, Transport,
    encapsulation::{self, Closed, Opened},
    link::{self, NotSliced},
};
use crate::capture::Frame;

/// A fragmented datagram whose fragments have not all arrived by then is
/// dropped and counted (Linux's own default `ipfrag_time` is 30 s).
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often, in fragments, the pool is swept for timed-out datagrams.
const SWEEP_EVERY: u64 = 1024;
/// Fragmented datagrams reassembled at once at most; beyond it the one whose
/// last fragment is oldest is dropped and counted (a flood of never-ending
/// fragments cannot grow memory).
pub const MAX_FRAGMENTED_IN_FLIGHT: usize = 4096;

/// What the decoder saw. Every frame lands in exactly one of `datagrams`,
/// `icmp_errors`, `fragments_pending` (a fragment whose datagram is not
/// complete yet), `not_ip`, `not_udp_tcp`, `malformed` or `fragment_errors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeStats {
    /// Frames handed to the decoder, whatever became of them.
    pub frames: u64,
    /// UDP datagrams and TCP segments decoded (reassembled ones included),
    /// SIP or not: selection comes after.
    pub datagrams: u64,
    /// ICMP / ICMPv6 errors that quote a UDP or TCP packet (about SIP or not).
    pub icmp_errors: u64,
    /// Fragments that went into a datagram still being reassembled.
    pub fragments_pending: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Incomplete datagrams dropped after [`FRAGMENT_TIMEOUT`].
    pub fragments_timed_out: u64,
    /// Incomplete datagrams dropped to stay within the bound on datagrams
    /// reassembled at once (`MAX_FRAGMENTED_IN_FLIGHT`).
    pub fragments_evicted: u64,
    /// Fragments that could not be placed (overlapping, conflicting ends).
    pub fragment_errors: u64,
    /// Frames that carry no IPv4 or IPv6 packet (ARP, LLDP, STP…).
    pub not_ip: u64,
    /// IP packets of another protocol (ESP, GRE, OSPF…), and ICMP messages
    /// that are not errors quoting a UDP or TCP packet (echo, redirects).
    pub not_udp_tcp: u64,
    /// Frames whose headers are cut short or inconsistent.
    pub malformed: u64,
    /// Frames cut at the snap length (also counted where they ended up).
    pub truncated: u64,
    /// The frames counted in `not_ip` and `not_udp_tcp`, by what they
    /// carry ("12 frames of L2TP, not opened"); absent from the JSON when
    /// there were none.
    #[serde(skip_serializing_if = "NotOpened::is_empty")]
    pub not_opened: NotOpened,
}

/// What the defragmentation pool keeps with each datagram: when its latest
/// fragment arrived, and that fragment's serial number, which tells entries
/// apart when counting evictions.
type FragmentStamp = (SystemTime, u64);

/// Turns [`Frame`]s into UDP datagrams, TCP segments and ICMP errors:
/// link layer, VLANs, encapsulations (tunnels, PPPoE, MPLS, mirrors; see
/// [`super::encapsulation`]), IPv4 / IPv6 and IP defragmentation, counting in
/// [`DecodeStats`] every frame that is none of them. One per capture, fed
/// in capture order (fragments are held across frames, within
/// [`FRAGMENT_TIMEOUT`] and a bound on datagrams reassembled at once).
pub struct Decoder {
    defrag: IpDefragPool<FragmentStamp, Option<Direction>>,
    stats: DecodeStats,
    fragments_seen: u64,
    /// The datagrams in the pool, with the serial of their latest fragment.
    in_flight: HashMap<FragmentKey, u64>,
}

/// Identifies a fragmented datagram (as the pool does, less the VLANs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FragmentKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    direction: Option<Direction>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with no fragments pending and every count at zero.
    pub fn new() -> Self {
        Self {
            defrag: IpDefragPool::new(),
            stats: DecodeStats::default(),
            fragments_seen: 0,
            in_flight: HashMap::new(),
        }
    }

    /// What the decoder has seen so far (the run summary's decoding counts).
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Decodes one frame; `None` when it is not (yet) a whole datagram.
    /// ICMP errors are counted, not returned: [`Decoder::decode`] gives them.
    pub fn push(&mut self, frame: &Frame) -> Option<Datagram> {
        match self.decode(frame)? {
            Decoded::Datagram(d) => Some(d),
            Decoded::Icmp(_) | Decoded::FragmentHead(_) => None,
        }
    }

    /// Decodes one frame into a datagram or an ICMP error about one;
    /// `None` when it is neither (yet).
    pub fn decode(&mut self, frame: &Frame) -> Option<Decoded> {
        // Not from the wire: a packet this host's kernel dropped, which
        // `DroppedPacket` reads; it is no part of any flow seen here.
        if frame.kernel_drop.is_some() {
            return None;
        }
        self.stats.frames += 1;
        if frame.truncated {
            self.stats.truncated += 1;
        }
        let outer = match link::slice(frame) {
            Ok(slice) => slice,
            Err(NotSliced::NotIp(kind)) => return self.not_opened(kind, false),
            Err(NotSliced::Malformed) => {
                self.stats.malformed += 1;
                return None;
            }
        };
        let Opened {
            slice,
            vlans,
            outer,
        } = match encapsulation::open(outer) {
            Ok(opened) => opened,
            Err(Closed::Kind { kind, over_ip }) => return self.not_opened(kind, over_ip),
            Err(Closed::Malformed) => {
                self.stats.malformed += 1;
                return None;
            }
        };
        let Some((src_ip, dst_ip)) = addresses(&slice) else {
            self.stats.not_ip += 1;
            return None;
        };
        if is_fragment(&slice) {
            return self.push_fragment(frame, &slice, (src_ip, dst_ip), vlans, outer);
        }
        let base = Base {
            frame,
            src_ip,
            dst_ip,
            vlans,
            outer,
            reassembled: false,
        };
        let datagram = match &slice.transport {
            Some(TransportSlice::Udp(udp)) => {
                base.udp(udp.source_port(), udp.destination_port(), udp.payload())
            }
            Some(TransportSlice::Tcp(tcp)) => base.tcp(tcp),
            Some(TransportSlice::Icmpv4(icmp)) => return self.icmp(4, icmp.slice(), base),
            Some(TransportSlice::Icmpv6(icmp)) => return self.icmp(6, icmp.slice(), base),
            _ => {
                let protocol = slice.ip_payload().map_or(0, |p| p.ip_number.0);
                return self.not_opened(FrameKind::IpProtocol(protocol), true);
            }
        };
        self.stats.datagrams += 1;
        Some(Decoded::Datagram(datagram))
    }

    /// Counts a frame not opened, by what it carries.
    fn not_opened(&mut self, kind: FrameKind, over_ip: bool) -> Option<Decoded> {
        if over_ip {
            self.stats.not_udp_tcp += 1;
        } else {
            self.stats.not_ip += 1;
        }
        self.stats.not_opened.add(kind);
        None
    }

    fn icmp(&mut self, ip_version: u8, icmp: &[u8], base: Base<'_>) -> Option<Decoded> {
        let error = IcmpError::parse(
            ip_version,
            icmp,
            base.src_ip,
            base.dst_ip,
            base.frame.timestamp,
            base.frame.direction,
        );
        let Some(error) = error else {
            return self.not_opened(FrameKind::IcmpNotError, true);
        };
        self.stats.icmp_errors += 1;
        Some(Decoded::Icmp(error))
    }

    fn push_fragment(
        &mut self,
        frame: &Frame,
        slice: &SlicedPacket<'_>,
        (src_ip, dst_ip): (IpAddr, IpAddr),
        vlans: Vec<u16>,
        outer: Option<super::Tunnel>,
    ) -> Option<Decoded> {
        self.fragments_seen += 1;
        if self.fragments_seen.is_multiple_of(SWEEP_EVERY) {
            self.sweep(frame.timestamp);
        }
        let key = FragmentKey {
            src: src_ip,
            dst: dst_ip,
            id: fragment_id(slice),
            direction: frame.direction,
        };
        // The direction is part of the key: the same datagram seen leaving and
        // (looped back) arriving is two datagrams.
        let whole = match self.defrag.process_sliced_packet(
            slice,
            (frame.timestamp, self.fragments_seen),
            frame.direction,
        ) {
            Ok(Some(whole)) => {
                self.in_flight.remove(&key);
                whole
            }
            Ok(None) => {
                self.stats.fragments_pending += 1;
                self.in_flight.insert(key, self.fragments_seen);
                if self.in_flight.len() > MAX_FRAGMENTED_IN_FLIGHT {
                    self.evict_oldest();
                }
                return FragmentHead::of(frame, slice, src_ip, dst_ip).map(Decoded::FragmentHead);
            }
            Err(_) => {
                self.stats.fragment_errors += 1;
                return None;
            }
        };
        let base = Base {
            frame,
            src_ip,
            dst_ip,
            vlans,
            outer,
            reassembled: true,
        };
        let datagram = match whole.ip_number {
            IpNumber::UDP => {
                let Ok(udp) = UdpSlice::from_slice_lax(&whole.payload) else {
                    self.stats.malformed += 1;
                    return None;
                };
                base.udp(udp.source_port(), udp.destination_port(), udp.payload())
            }
            IpNumber::TCP => {
                let Ok(tcp) = TcpSlice::from_slice(&whole.payload) else {
                    self.stats.malformed += 1;
                    return None;
                };
                base.tcp(&tcp)
            }
            n => return self.not_opened(FrameKind::IpProtocol(n.0), true),
        };
        self.stats.reassembled += 1;
        self.stats.datagrams += 1;
        Some(Decoded::Datagram(datagram))
    }

    /// Drops incomplete datagrams older than [`FRAGMENT_TIMEOUT`] before `now`.
    pub fn sweep(&mut self, now: SystemTime) {
        // The pool may ask about an entry more than once: count distinct ones.
        let timed_out = std::cell::RefCell::new(HashSet::new());
        self.defrag.retain(|&(last_fragment, serial)| {
            let keep = now.duration_since(last_fragment).unwrap_or_default() < FRAGMENT_TIMEOUT;
            if !keep {
                timed_out.borrow_mut().insert(serial);
            }
            keep
        });
        let timed_out = timed_out.into_inner();
        self.stats.fragments_timed_out += timed_out.len() as u64;
        self.in_flight
            .retain(|_, serial| !timed_out.contains(serial));
    }

    /// Drops the oldest eighth of the datagrams in reassembly at once (see
    /// [`super::bounded`]: one pass over the pool frees room for many).
    fn evict_oldest(&mut self) {
        let before: HashSet<u64> = self.in_flight.values().copied().collect();
        let evicted = super::evict_oldest(&mut self.in_flight, |s| *s);
        let kept: HashSet<u64> = self.in_flight.values().copied().collect();
        let gone: HashSet<u64> = before.difference(&kept).copied().collect();
        self.defrag.retain(|(_, serial)| !gone.contains(serial));
        self.stats.fragments_evicted += evicted as u64;
    }

    /// At the end of a capture: whatever is still incomplete never will be.
    pub fn finish(&mut self) {
        let far_future = SystemTime::now() + FRAGMENT_TIMEOUT * 1000;
        self.sweep(far_future);
    }
}

/// What a frame decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A UDP datagram or a TCP segment.
    Datagram(Datagram),
    /// An ICMP or ICMPv6 error about a UDP or TCP packet.
    Icmp(IcmpError),
    /// The first fragment of a UDP datagram not yet whole: what it says
    /// of the datagram, in case the rest never comes.
    FragmentHead(FragmentHead),
}

/// The first fragment (offset 0) of a fragmented UDP datagram whose other
/// fragments have not (yet) all arrived. It carries the UDP header, so it
/// names the flow and the datagram's full length, and the start of the
/// payload: a SIP message's start line and most of its headers. If the
/// datagram completes, it is delivered as a [`Datagram`] as usual; if it
/// never does, this is all that is known of a message lost on the way
/// (an MTU, or a device that drops fragments: SonicWall KB 170505805848271).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentHead {
    /// When the fragment was seen.
    pub timestamp: SystemTime,
    /// Unknown for capture files that do not record it.
    pub direction: Option<Direction>,
    /// The UDP source, from the fragment's UDP header.
    pub src: SocketAddr,
    /// The UDP destination.
    pub dst: SocketAddr,
    /// The IP identification the fragments share.
    pub ip_id: u32,
    /// This fragment's IP packet, in bytes (header included).
    pub fragment_bytes: u32,
    /// The whole datagram's IP packet, in bytes: the IP header(s) of this
    /// fragment plus the UDP length its header declares.
    pub datagram_bytes: u32,
    /// The UDP payload this fragment carries (the start of the message).
    pub payload: Vec<u8>,
}

impl FragmentHead {
    /// The head, when `slice` is the first fragment of a UDP datagram.
    fn of(frame: &Frame, slice: &SlicedPacket<'_>, src_ip: IpAddr, dst_ip: IpAddr) -> Option<Self> {
        let (first, ip_bytes, payload) = match &slice.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().fragments_offset().value() == 0,
                usize::from(ip.header().total_len()),
                ip.payload(),
            ),
            Some(NetSlice::Ipv6(ip)) => {
                let first = ip.extensions().clone().into_iter().any(|e| {
                    matches!(e, etherparse::Ipv6ExtensionSlice::Fragment(f) if f.fragment_offset().value() == 0)
                });
                let bytes = usize::from(ip.header().payload_length()) + IPV6_HEADER_LEN as usize;
                (first, bytes, ip.payload())
            }
            _ => return None,
        };
        if !first || payload.ip_number != IpNumber::UDP {
            return None;
        }
        let udp = payload.payload.get(..8)?;
        let port = |at: usize| u16::from_be_bytes([udp[at], udp[at + 1]]);
        let udp_len = usize::from(port(4));
        let headers = ip_bytes.checked_sub(payload.payload.len())?;
        Some(FragmentHead {
            timestamp: frame.timestamp,
            direction: frame.direction,
            src: SocketAddr::new(src_ip, port(0)),
            dst: SocketAddr::new(dst_ip, port(2)),
            ip_id: fragment_id(slice),
            fragment_bytes: ip_bytes as u32,
            datagram_bytes: (headers + udp_len) as u32,
            payload: payload.payload[8..].to_vec(),
        })
    }
}

struct Base<'a> {
    frame: &'a Frame,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    vlans: Vec<u16>,
    outer: Option<super::Tunnel>,
    reassembled: bool,
}

impl Base<'_> {
    fn datagram(
        self,
        transport: Transport,
        sport: u16,
        dport: u16,
        tcp: Option<TcpSegmentInfo>,
        payload: &[u8],
    ) -> Datagram {
        Datagram {
            timestamp: self.frame.timestamp,
            direction: self.frame.direction,
            transport,
            src: SocketAddr::new(self.src_ip, sport),
            dst: SocketAddr::new(self.dst_ip, dport),
            vlans: self.vlans,
            outer: self.outer,
            reassembled: self.reassembled,
            tcp,
            payload: payload.to_vec(),
        }
    }

    fn udp(self, sport: u16, dport: u16, payload: &[u8]) -> Datagram {
        self.datagram(Transport::Udp, sport, dport, None, payload)
    }

    fn tcp(self, tcp: &TcpSlice<'_>) -> Datagram {
        let info = TcpSegmentInfo {
            seq: tcp.sequence_number(),
            ack: tcp.ack().then(|| tcp.acknowledgment_number()),
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        };
        self.datagram(
            Transport::Tcp,
            tcp.source_port(),
            tcp.destination_port(),
            Some(info),
            tcp.payload(),
        )
    }
}

fn addresses(slice: &SlicedPacket<'_>) -> Option<(IpAddr, IpAddr)> {
    match &slice.net {
        Some(NetSlice::Ipv4(ip)) => Some((
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        )),
        Some(NetSlice::Ipv6(ip)) => Some((
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        )),
        _ => None,
    }
}

/// The IP identification of a fragment (IPv4 header or IPv6 fragment header).
fn fragment_id(slice: &SlicedPacket<'_>) -> u32 {
    match &slice.net {
        Some(NetSlice::Ipv4(ip)) => u32::from(ip.header().identification()),
        Some(NetSlice::Ipv6(ip)) => ip
            .extensions()
            .clone()
            .into_iter()
            .find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f.identification()),
                _ => None,
            })
            .unwrap_or(0),
        _ => 0,
    }
}

fn is_fragment(slice: &SlicedPacket<'_>) -> bool {
    match &slice.net {
        Some(NetSlice::Ipv4(ip)) => ip.header().is_fragmenting_payload(),
        Some(NetSlice::Ipv6(ip)) => ip.payload().fragmented,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use etherparse::{IpFragOffset, Ipv4Header, PacketBuilder};

    use crate::capture::LinkType;

    use super::*;

    fn frame(data: Vec<u8>) -> Frame {
        Frame {
            timestamp: SystemTime::now(),
            ifindex: 1,
            direction: Some(Direction::Egress),
            link: LinkType::Ethernet,
            wire_len: data.len() as u32,
            data,
            truncated: false,
            kernel_drop: None,
        }
    }

    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
            .udp(5060, 5060);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    /// Splits a UDP-over-IPv4 frame into IPv4 fragments of `chunk` payload bytes.
    fn fragments(whole: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let eth = &whole[..14];
        let (ip, ip_payload) = Ipv4Header::from_slice(&whole[14..]).unwrap();
        let mut out = Vec::new();
        for (i, piece) in ip_payload.chunks(chunk).enumerate() {
            let mut h = ip.clone();
            h.identification = 4242;
            h.dont_fragment = false;
            h.more_fragments = (i + 1) * chunk < ip_payload.len();
            h.fragment_offset = IpFragOffset::try_new((i * chunk / 8) as u16).unwrap();
            h.set_payload_len(piece.len()).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut f = eth.to_vec();
            h.write(&mut f).unwrap();
            f.extend_from_slice(piece);
            out.push(f);
        }
        out
    }

    #[test]
    fn a_udp_frame_becomes_a_datagram_with_addresses_and_payload() {
        let mut d = Decoder::new();
        let got = d
            .push(&frame(udp_frame(b"OPTIONS sip:x SIP/2.0\r\n\r\n")))
            .unwrap();
        assert_eq!(got.src, "192.168.77.10:5060".parse().unwrap());
        assert_eq!(got.dst, "203.0.113.2:5060".parse().unwrap());
        assert_eq!(got.payload, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        assert!(!got.reassembled);
    }

    #[test]
    fn fragments_out_of_order_are_reassembled_once_complete() {
        let payload = vec![b'a'; 3000];
        let mut pieces = fragments(&udp_frame(&payload), 1480);
        assert_eq!(pieces.len(), 3);
        pieces.swap(0, 2);
        let mut d = Decoder::new();
        assert!(d.push(&frame(pieces[0].clone())).is_none());
        assert!(d.push(&frame(pieces[1].clone())).is_none());
        let whole = d.push(&frame(pieces[2].clone())).expect("reassembled");
        assert_eq!(whole.payload, payload);
        assert!(whole.reassembled);
        assert_eq!(d.stats().reassembled, 1);
        assert_eq!(d.stats().fragments_pending, 2);
    }

    #[test]
    fn a_first_fragment_alone_names_its_flow_sizes_and_start_line() {
        let mut payload = b"REGISTER sip:pbx.example.com SIP/2.0\r\n".to_vec();
        payload.resize(1504, b'x');
        let pieces = fragments(&udp_frame(&payload), 1480);
        let mut d = Decoder::new();
        let Some(Decoded::FragmentHead(head)) = d.decode(&frame(pieces[0].clone())) else {
            panic!("the first fragment is a head");
        };
        assert_eq!(head.src, "192.168.77.10:5060".parse().unwrap());
        assert_eq!(head.dst, "203.0.113.2:5060".parse().unwrap());
        assert_eq!((head.fragment_bytes, head.datagram_bytes), (1500, 1532));
        assert!(
            head.payload
                .starts_with(b"REGISTER sip:pbx.example.com SIP/2.0\r\n")
        );
        assert!(
            d.decode(&frame(pieces[1].clone()))
                .is_some_and(|x| matches!(x, Decoded::Datagram(_))),
            "a later fragment that completes it gives the datagram"
        );
    }

    #[test]
    fn a_datagram_missing_a_fragment_is_counted_when_the_capture_ends() {
        let pieces = fragments(&udp_frame(&[b'b'; 3000]), 1480);
        let mut d = Decoder::new();
        d.push(&frame(pieces[0].clone()));
        d.push(&frame(pieces[2].clone()));
        d.finish();
        assert_eq!(d.stats().fragments_timed_out, 1);
    }

    #[test]
    fn conflicting_fragments_are_counted_and_the_next_datagram_is_unharmed() {
        let pieces = fragments(&udp_frame(&[b'd'; 3000]), 1480);
        // A second "last" fragment claiming another end for the same datagram.
        let mut liar = pieces[2].clone();
        let total = u16::from_be_bytes([liar[14 + 2], liar[14 + 3]]);
        liar[14 + 2..14 + 4].copy_from_slice(&(total - 8).to_be_bytes());
        liar.truncate(liar.len() - 8);
        let mut d = Decoder::new();
        d.push(&frame(pieces[2].clone()));
        assert!(d.push(&frame(liar)).is_none());
        assert_eq!(d.stats().fragment_errors, 1);
        // Another datagram (new id) still reassembles.
        let mut other: Vec<Vec<u8>> = fragments(&udp_frame(&[b'e'; 3000]), 1480);
        for f in &mut other {
            f[14 + 4..14 + 6].copy_from_slice(&7u16.to_be_bytes());
        }
        assert!(d.push(&frame(other[0].clone())).is_none());
        assert!(d.push(&frame(other[1].clone())).is_none());
        assert_eq!(
            d.push(&frame(other[2].clone())).unwrap().payload,
            vec![b'e'; 3000]
        );
    }

    #[test]
    fn datagrams_in_flight_are_bounded_and_the_evicted_counted() {
        let mut d = Decoder::new();
        for id in 0..(MAX_FRAGMENTED_IN_FLIGHT as u16 + 10) {
            let pieces = fragments(&udp_frame(&[b'c'; 3000]), 1480);
            // Only the first fragment of each: none ever completes.
            let mut first = pieces[0].clone();
            first[14 + 4..14 + 6].copy_from_slice(&id.to_be_bytes());
            d.push(&frame(first));
        }
        // Room is made an eighth at a time: one batch, then the last nine fit.
        let evicted = (MAX_FRAGMENTED_IN_FLIGHT as u64 + 1) / 8;
        assert_eq!(d.stats().fragments_evicted, evicted);
        d.finish();
        assert_eq!(
            d.stats().fragments_timed_out + evicted,
            MAX_FRAGMENTED_IN_FLIGHT as u64 + 10,
            "every datagram is counted once, evicted or timed out"
        );
    }

    #[test]
    fn garbage_truncation_and_non_ip_are_counted_not_panics() {
        let mut d = Decoder::new();
        assert!(d.push(&frame(vec![0xff; 5])).is_none());
        let mut cut = udp_frame(b"REGISTER sip:x SIP/2.0\r\n\r\n");
        cut.truncate(14 + 10);
        assert!(d.push(&frame(cut)).is_none());
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(d.push(&frame(arp)).is_none());
        let s = d.stats();
        assert_eq!(s.frames, 3);
        assert_eq!(s.malformed, 2, "{s:?}");
        assert_eq!(s.not_ip, 1, "{s:?}");
    }

    #[test]
    fn no_input_makes_the_decoder_panic() {
        // A cheap deterministic fuzz: random bytes behind valid and invalid
        // link, IPv4, IPv6 and ICMP headers, at every length.
        const LINKS: [LinkType; 9] = [
            LinkType::Ethernet,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::RawIp,
            LinkType::BsdNull,
            LinkType::BsdLoop,
            LinkType::Ppp,
            LinkType::CiscoHdlc,
            LinkType::Nflog,
        ];
        let mut next = crate::net::xorshift(0x2545_f491_4f6c_dd1du64);
        let udp = udp_frame(b"INVITE sip:x SIP/2.0\r\n\r\n");
        let mut icmp = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([203, 0, 113, 2], [192, 168, 77, 10], 64)
            .icmpv4_raw(3, 3, [0; 4])
            .write(&mut icmp, &udp[14..])
            .unwrap();
        let templates = [udp, vec![0u8; 64], icmp];
        let mut d = Decoder::new();
        for i in 0..20_000 {
            let mut data = templates[i % templates.len()].clone();
            let len = (next() % 120) as usize;
            data.truncate(len.min(data.len()));
            for _ in 0..(next() % 6) {
                if !data.is_empty() {
                    let at = (next() as usize) % data.len();
                    data[at] = next() as u8;
                }
            }
            // Every link type reads the same bytes, so every header reader is shaken.
            let mut f = frame(data);
            f.link = LINKS[(i / templates.len()) % LINKS.len()];
            d.push(&f);
        }
        d.finish();
        assert_eq!(d.stats().frames, 20_000);
    }
}
