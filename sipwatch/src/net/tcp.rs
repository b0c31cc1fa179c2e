//! TCP stream reassembly: each direction of each connection back into the
//! byte stream that was written, whatever order the segments came in.
//!
//! Retransmitted and overlapping bytes are delivered once; segments ahead
//! of a gap wait (within bounds) for the gap to fill. When the bounds are
//! hit, or the connection ends with the gap still open, the stream skips the
//! gap and says how many bytes were lost, so the SIP framer can resync.
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    time::SystemTime,
};

use super::{Datagram, Transport};

/// One direction of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The sending end's address and port.
    pub src: SocketAddr,
    /// The receiving end's address and port.
    pub dst: SocketAddr,
}

/// What reassembly hands on, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// Bytes that continue the stream.
    Data(Vec<u8>),
    /// This many bytes are missing before the next `Data`.
    Gap(u64),
    /// The connection ended (FIN or RST): the framer can drop its state.
    End,
}

/// Limits that keep memory bounded whatever the traffic.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Bytes held ahead of a gap, per direction.
    pub max_out_of_order: usize,
    /// Directions tracked at once; the least recently active goes first.
    pub max_flows: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_out_of_order: 256 << 10,
            max_flows: 16_384,
        }
    }
}

/// What stream reassembly saw and what it could not deliver, for the run
/// summary (lost bytes and evicted flows are warned about there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TcpStats {
    /// Segments fed in (those of SIP streams, when fed by the
    /// [`MessageAssembler`](crate::sip::MessageAssembler)), with or without
    /// payload: bare ACKs count.
    pub segments: u64,
    /// Bytes delivered in order.
    pub bytes: u64,
    /// Bytes seen again (retransmissions, overlaps) and delivered only once.
    pub duplicate_bytes: u64,
    /// Segments that arrived ahead of a gap.
    pub out_of_order: u64,
    /// Bytes never seen: skipped over when a gap could not be filled.
    pub lost_bytes: u64,
    /// Directions dropped to stay within `max_flows`.
    pub flows_evicted: u64,
}

struct Direction {
    /// Sequence number of the next byte to deliver.
    next: u32,
    /// Segments ahead of `next`, by sequence number.
    pending: BTreeMap<u32, Vec<u8>>,
    pending_bytes: usize,
    last_seen: SystemTime,
}

/// Puts each direction of each TCP connection back into the byte stream
/// that was written, within [`TcpLimits`], and hands it on as
/// [`StreamEvent`]s for the SIP framer.
#[derive(Default)]
pub struct TcpReassembler {
    flows: HashMap<Flow, Direction>,
    limits: TcpLimits,
    stats: TcpStats,
}

/// `a` comes before `b` in sequence space (RFC 1982 style, 32-bit wrap).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpReassembler {
    /// A reassembler with no flows yet, bounded by `limits`.
    pub fn new(limits: TcpLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// What reassembly has seen so far.
    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Feeds one TCP segment; returns its flow and what it adds to the stream.
    pub fn push(&mut self, d: &Datagram) -> (Flow, Vec<StreamEvent>) {
        let flow = Flow {
            src: d.src,
            dst: d.dst,
        };
        let mut events = Vec::new();
        let Some(tcp) = d.tcp.filter(|_| d.transport == Transport::Tcp) else {
            return (flow, events);
        };
        self.stats.segments += 1;
        if tcp.syn {
            // A new connection: anything from an old one is gone.
            self.flows
                .insert(flow, Direction::new(tcp.seq.wrapping_add(1), d.timestamp));
        }
        if !d.payload.is_empty() {
            if !self.flows.contains_key(&flow) {
                self.make_room();
                // Joined mid-stream: the stream starts here.
                self.flows
                    .insert(flow, Direction::new(tcp.seq, d.timestamp));
            }
            let limits = self.limits;
            let dir = self.flows.get_mut(&flow).expect("present");
            dir.last_seen = d.timestamp;
            dir.accept(tcp.seq, &d.payload, limits, &mut self.stats, &mut events);
        }
        if tcp.fin || tcp.rst {
            if let Some(mut dir) = self.flows.remove(&flow) {
                dir.flush(&mut self.stats, &mut events);
            }
            events.push(StreamEvent::End);
        }
        (flow, events)
    }

    /// At the end of a capture: deliver what waits behind gaps.
    pub fn finish(&mut self) -> Vec<(Flow, Vec<StreamEvent>)> {
        let mut out = Vec::new();
        for (flow, mut dir) in self.flows.drain() {
            let mut events = Vec::new();
            dir.flush(&mut self.stats, &mut events);
            if !events.is_empty() {
                out.push((flow, events));
            }
        }
        out
    }

    fn make_room(&mut self) {
        if self.flows.len() < self.limits.max_flows {
            return;
        }
        self.stats.flows_evicted += super::evict_oldest(&mut self.flows, |d| d.last_seen) as u64;
    }
}

impl Direction {
    fn new(next: u32, now: SystemTime) -> Self {
        Self {
            next,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            last_seen: now,
        }
    }

    fn accept(
        &mut self,
        seq: u32,
        payload: &[u8],
        limits: TcpLimits,
        stats: &mut TcpStats,
        events: &mut Vec<StreamEvent>,
    ) {
        let end = seq.wrapping_add(payload.len() as u32);
        if !before(self.next, end) {
            // Entirely old: a retransmission.
            stats.duplicate_bytes += payload.len() as u64;
            return;
        }
        if before(self.next, seq) {
            // Ahead of a gap: keep it, unless that grows too large.
            stats.out_of_order += 1;
            let key = seq;
            let keep = match self.pending.get(&key) {
                Some(existing) if existing.len() >= payload.len() => false,
                Some(existing) => {
                    self.pending_bytes -= existing.len();
                    true
                }
                None => true,
            };
            if keep {
                self.pending_bytes += payload.len();
                self.pending.insert(key, payload.to_vec());
            } else {
                stats.duplicate_bytes += payload.len() as u64;
            }
            if self.pending_bytes > limits.max_out_of_order {
                self.skip_gap(stats, events);
                self.drain_pending(stats, events);
            }
            return;
        }
        // Starts at or before `next`: deliver what is new.
        let skip = self.next.wrapping_sub(seq) as usize;
        stats.duplicate_bytes += skip as u64;
        self.deliver(&payload[skip..], stats, events);
        self.drain_pending(stats, events);
    }

    fn deliver(&mut self, bytes: &[u8], stats: &mut TcpStats, events: &mut Vec<StreamEvent>) {
        if bytes.is_empty() {
            return;
        }
        self.next = self.next.wrapping_add(bytes.len() as u32);
        stats.bytes += bytes.len() as u64;
        match events.last_mut() {
            Some(StreamEvent::Data(data)) => data.extend_from_slice(bytes),
            _ => events.push(StreamEvent::Data(bytes.to_vec())),
        }
    }

    /// Delivers waiting segments that now continue the stream.
    fn drain_pending(&mut self, stats: &mut TcpStats, events: &mut Vec<StreamEvent>) {
        while let Some((&seq, _)) = self.pending.iter().find(|(s, _)| !before(self.next, **s)) {
            let data = self.pending.remove(&seq).expect("present");
            self.pending_bytes -= data.len();
            let end = seq.wrapping_add(data.len() as u32);
            if !before(self.next, end) {
                stats.duplicate_bytes += data.len() as u64;
                continue;
            }
            let skip = self.next.wrapping_sub(seq) as usize;
            stats.duplicate_bytes += skip as u64;
            self.deliver(&data[skip..], stats, events);
        }
    }

    /// Gives up on the gap before the first waiting segment.
    fn skip_gap(&mut self, stats: &mut TcpStats, events: &mut Vec<StreamEvent>) {
        let first = self
            .pending
            .keys()
            .copied()
            .min_by_key(|s| s.wrapping_sub(self.next));
        if let Some(first) = first {
            let lost = u64::from(first.wrapping_sub(self.next));
            stats.lost_bytes += lost;
            events.push(StreamEvent::Gap(lost));
            self.next = first;
        }
    }

    /// The stream ends: deliver everything that waits, gaps and all.
    fn flush(&mut self, stats: &mut TcpStats, events: &mut Vec<StreamEvent>) {
        while !self.pending.is_empty() {
            self.skip_gap(stats, events);
            self.drain_pending(stats, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::net::TcpSegmentInfo;

    fn seg(seq: u32, payload: &[u8], syn: bool, fin: bool) -> Datagram {
        Datagram {
            timestamp: SystemTime::now(),
            direction: None,
            transport: Transport::Tcp,
            src: "192.0.2.1:40000".parse().unwrap(),
            dst: "192.0.2.2:5060".parse().unwrap(),
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            tcp: Some(TcpSegmentInfo {
                seq,
                ack: None,
                syn,
                fin,
                rst: false,
            }),
            payload: payload.to_vec(),
        }
    }

    fn run(segments: &[Datagram], limits: TcpLimits) -> (Vec<StreamEvent>, TcpStats) {
        let mut r = TcpReassembler::new(limits);
        let mut events = Vec::new();
        for s in segments {
            events.extend(r.push(s).1);
        }
        for (_, e) in r.finish() {
            events.extend(e);
        }
        (events, r.stats())
    }

    fn data(events: &[StreamEvent]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Data(d) => Some(d.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .concat()
    }

    #[test]
    fn in_order_segments_are_delivered_in_order() {
        let (e, s) = run(
            &[
                seg(99, b"", true, false),
                seg(100, b"abc", false, false),
                seg(103, b"def", false, false),
            ],
            TcpLimits::default(),
        );
        assert_eq!(data(&e), b"abcdef");
        assert_eq!(s.bytes, 6);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_gap_to_fill() {
        let (e, s) = run(
            &[
                seg(99, b"", true, false),
                seg(103, b"def", false, false),
                seg(100, b"abc", false, false),
            ],
            TcpLimits::default(),
        );
        assert_eq!(data(&e), b"abcdef");
        assert_eq!(s.out_of_order, 1);
        assert_eq!(s.lost_bytes, 0);
    }

    #[test]
    fn retransmitted_and_overlapping_bytes_are_delivered_once() {
        let (e, s) = run(
            &[
                seg(99, b"", true, false),
                seg(100, b"abcd", false, false),
                seg(100, b"abcd", false, false),
                seg(102, b"cdefg", false, false),
            ],
            TcpLimits::default(),
        );
        assert_eq!(data(&e), b"abcdefg");
        assert_eq!(s.duplicate_bytes, 4 + 2);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let (e, _) = run(
            &[
                seg(u32::MAX - 1, b"", true, false),
                seg(u32::MAX, b"ab", false, false),
                seg(1, b"cd", false, false),
            ],
            TcpLimits::default(),
        );
        assert_eq!(data(&e), b"abcd");
    }

    #[test]
    fn a_gap_that_never_fills_is_skipped_and_counted_at_the_end() {
        let (e, s) = run(
            &[
                seg(99, b"", true, false),
                seg(100, b"ab", false, false),
                seg(110, b"xy", false, false),
            ],
            TcpLimits::default(),
        );
        assert_eq!(data(&e), b"abxy");
        assert!(e.contains(&StreamEvent::Gap(8)));
        assert_eq!(s.lost_bytes, 8);
    }

    #[test]
    fn waiting_bytes_are_bounded() {
        let limits = TcpLimits {
            max_out_of_order: 10,
            max_flows: 4,
        };
        let mut segs = vec![seg(99, b"", true, false)];
        for i in 0..5u32 {
            segs.push(seg(200 + i * 4, b"wxyz", false, false));
        }
        let mut r = TcpReassembler::new(limits);
        let mut gap_seen = false;
        for s in &segs {
            let (_, events) = r.push(s);
            gap_seen |= events.iter().any(|e| matches!(e, StreamEvent::Gap(100)));
        }
        assert!(gap_seen, "the gap was given up once the bound was passed");
    }

    #[test]
    fn fin_ends_the_stream() {
        let (e, _) = run(
            &[seg(99, b"", true, false), seg(100, b"ab", false, true)],
            TcpLimits::default(),
        );
        assert_eq!(e.last(), Some(&StreamEvent::End));
    }

    #[test]
    fn the_number_of_tracked_flows_is_bounded() {
        let limits = TcpLimits {
            max_out_of_order: 1024,
            max_flows: 2,
        };
        let mut r = TcpReassembler::new(limits);
        for port in 0..10u16 {
            let mut s = seg(1, b"x", false, false);
            s.src.set_port(40000 + port);
            r.push(&s);
        }
        assert_eq!(r.stats().flows_evicted, 8);
    }
}
