//! Frames to [`Datagram`]s, counting everything that is not one.
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use etherparse::{
    IpNumber, NetSlice, SlicedPacket, TcpSlice, TransportSlice, UdpSlice, VlanSlice,
    defrag::IpDefragPool,
};
use sipwatch_common::Direction;

use super::{Datagram, TcpSegmentInfo, Transport};
use crate::capture::Frame;

/// A fragmented datagram whose fragments have not all arrived by then is
/// dropped and counted (Linux's own default `ipfrag_time` is 30 s).
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often, in fragments, the pool is swept for timed-out datagrams.
const SWEEP_EVERY: u64 = 1024;

/// What the decoder saw. Every frame lands in exactly one of `datagrams`,
/// `fragments_pending` (a fragment whose datagram is not complete yet),
/// `not_ip`, `not_udp_tcp`, `malformed` or `fragment_errors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub frames: u64,
    pub datagrams: u64,
    /// Fragments that went into a datagram still being reassembled.
    pub fragments_pending: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Incomplete datagrams dropped after [`FRAGMENT_TIMEOUT`].
    pub fragments_timed_out: u64,
    /// Fragments that could not be placed (overlapping, conflicting ends).
    pub fragment_errors: u64,
    pub not_ip: u64,
    pub not_udp_tcp: u64,
    /// Frames whose headers are cut short or inconsistent.
    pub malformed: u64,
    /// Frames cut at the snap length (also counted where they ended up).
    pub truncated: u64,
}

pub struct Decoder {
    defrag: IpDefragPool<SystemTime, Direction>,
    stats: DecodeStats,
    fragments_seen: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            defrag: IpDefragPool::new(),
            stats: DecodeStats::default(),
            fragments_seen: 0,
        }
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Decodes one frame; `None` when it is not (yet) a whole datagram.
    pub fn push(&mut self, frame: &Frame) -> Option<Datagram> {
        self.stats.frames += 1;
        if frame.truncated {
            self.stats.truncated += 1;
        }
        let Ok(slice) = SlicedPacket::from_ethernet(&frame.data) else {
            self.stats.malformed += 1;
            return None;
        };
        let vlans = vlan_ids(&slice);
        let Some((src_ip, dst_ip)) = addresses(&slice) else {
            self.stats.not_ip += 1;
            return None;
        };
        if is_fragment(&slice) {
            return self.push_fragment(frame, &slice, src_ip, dst_ip, vlans);
        }
        let base = Base {
            frame,
            src_ip,
            dst_ip,
            vlans,
            reassembled: false,
        };
        let datagram = match &slice.transport {
            Some(TransportSlice::Udp(udp)) => {
                base.udp(udp.source_port(), udp.destination_port(), udp.payload())
            }
            Some(TransportSlice::Tcp(tcp)) => base.tcp(tcp),
            _ => {
                self.stats.not_udp_tcp += 1;
                return None;
            }
        };
        self.stats.datagrams += 1;
        Some(datagram)
    }

    fn push_fragment(
        &mut self,
        frame: &Frame,
        slice: &SlicedPacket<'_>,
        src_ip: IpAddr,
        dst_ip: IpAddr,
        vlans: Vec<u16>,
    ) -> Option<Datagram> {
        self.fragments_seen += 1;
        if self.fragments_seen % SWEEP_EVERY == 0 {
            self.sweep(frame.timestamp);
        }
        // The direction is part of the key: the same datagram seen leaving and
        // (looped back) arriving is two datagrams.
        let whole = match self
            .defrag
            .process_sliced_packet(slice, frame.timestamp, frame.direction)
        {
            Ok(Some(whole)) => whole,
            Ok(None) => {
                self.stats.fragments_pending += 1;
                return None;
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
            _ => {
                self.stats.not_udp_tcp += 1;
                return None;
            }
        };
        self.stats.reassembled += 1;
        self.stats.datagrams += 1;
        Some(datagram)
    }

    /// Drops incomplete datagrams older than [`FRAGMENT_TIMEOUT`] before `now`.
    pub fn sweep(&mut self, now: SystemTime) {
        let timed_out = std::cell::Cell::new(0);
        self.defrag.retain(|started| {
            let keep = now.duration_since(*started).unwrap_or_default() < FRAGMENT_TIMEOUT;
            if !keep {
                timed_out.set(timed_out.get() + 1);
            }
            keep
        });
        self.stats.fragments_timed_out += timed_out.get();
    }

    /// At the end of a capture: whatever is still incomplete never will be.
    pub fn finish(&mut self) {
        let far_future = SystemTime::now() + FRAGMENT_TIMEOUT * 1000;
        self.sweep(far_future);
    }
}

struct Base<'a> {
    frame: &'a Frame,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    vlans: Vec<u16>,
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

fn vlan_ids(slice: &SlicedPacket<'_>) -> Vec<u16> {
    match slice.vlan() {
        Some(VlanSlice::SingleVlan(v)) => vec![v.vlan_identifier().value()],
        Some(VlanSlice::DoubleVlan(d)) => vec![
            d.outer.vlan_identifier().value(),
            d.inner.vlan_identifier().value(),
        ],
        None => Vec::new(),
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

fn is_fragment(slice: &SlicedPacket<'_>) -> bool {
    match &slice.net {
        Some(NetSlice::Ipv4(ip)) => ip.header().is_fragmenting_payload(),
        Some(NetSlice::Ipv6(ip)) => ip.payload().fragmented,
        _ => false,
    }
}
