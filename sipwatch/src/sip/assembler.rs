//! Datagrams in, SIP messages out: UDP one to one, TCP through stream
//! reassembly and Content-Length framing, per direction of each connection.
use std::{collections::HashMap, time::SystemTime};

use super::{FramingStats, Message, SipFramer};
use crate::net::{
    Datagram, Transport,
    tcp::{Flow, StreamEvent, TcpLimits, TcpReassembler, TcpStats},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssemblyStats {
    pub tcp: TcpStats,
    pub framing: FramingStats,
    /// Bytes still waiting in framers when the capture ended.
    pub unfinished_bytes: u64,
}

struct Stream {
    framer: SipFramer,
    last_seen: SystemTime,
    /// The last segment's addressing, stamped on the messages it completes.
    template: Message,
}

pub struct MessageAssembler {
    tcp: TcpReassembler,
    streams: HashMap<Flow, Stream>,
    max_streams: usize,
    /// Framing counts of streams already closed.
    closed: FramingStats,
    unfinished_bytes: u64,
}

impl Default for MessageAssembler {
    fn default() -> Self {
        Self::new(TcpLimits::default())
    }
}

impl MessageAssembler {
    pub fn new(limits: TcpLimits) -> Self {
        Self {
            tcp: TcpReassembler::new(limits),
            streams: HashMap::new(),
            max_streams: limits.max_flows,
            closed: FramingStats::default(),
            unfinished_bytes: 0,
        }
    }

    pub fn stats(&self) -> AssemblyStats {
        let mut framing = self.closed;
        for s in self.streams.values() {
            add(&mut framing, &s.framer.stats());
        }
        AssemblyStats {
            tcp: self.tcp.stats(),
            framing,
            unfinished_bytes: self.unfinished_bytes,
        }
    }

    /// Appends the messages `d` completes to `out`.
    pub fn push(&mut self, d: Datagram, out: &mut Vec<Message>) {
        match d.transport {
            Transport::Udp => out.push(message(d)),
            Transport::Tcp => {
                let (flow, events) = self.tcp.push(&d);
                if events.is_empty() {
                    return;
                }
                // The framed bytes replace the segment's in each message.
                let template = Message {
                    bytes: Vec::new(),
                    ..message(d)
                };
                self.apply(flow, events, Some(template), out);
            }
        }
    }

    /// At the end of a capture: what waits behind gaps is framed, and what
    /// no message completes is counted.
    pub fn finish(&mut self, out: &mut Vec<Message>) {
        for (flow, events) in self.tcp.finish() {
            self.apply(flow, events, None, out);
        }
        for (_, mut s) in self.streams.drain() {
            self.unfinished_bytes += s.framer.pending() as u64;
            s.framer.end();
            add(&mut self.closed, &s.framer.stats());
        }
    }

    fn apply(
        &mut self,
        flow: Flow,
        events: Vec<StreamEvent>,
        template: Option<Message>,
        out: &mut Vec<Message>,
    ) {
        if !self.streams.contains_key(&flow) {
            let Some(template) = template.clone() else {
                return;
            };
            self.make_room();
            self.streams.insert(
                flow,
                Stream {
                    framer: SipFramer::new(),
                    last_seen: template.timestamp,
                    template,
                },
            );
        }
        let stream = self.streams.get_mut(&flow).expect("present");
        if let Some(t) = template {
            stream.last_seen = t.timestamp;
            stream.template = t;
        }
        let mut framed = Vec::new();
        let mut ended = false;
        for event in events {
            match event {
                StreamEvent::Data(bytes) => stream.framer.push(&bytes, &mut framed),
                StreamEvent::Gap(_) => stream.framer.gap(),
                StreamEvent::End => ended = true,
            }
        }
        out.extend(framed.into_iter().map(|bytes| Message {
            bytes,
            ..stream.template.clone()
        }));
        if ended && let Some(mut s) = self.streams.remove(&flow) {
            self.unfinished_bytes += s.framer.pending() as u64;
            s.framer.end();
            add(&mut self.closed, &s.framer.stats());
        }
    }

    fn make_room(&mut self) {
        if self.streams.len() < self.max_streams {
            return;
        }
        if let Some(oldest) = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(f, _)| *f)
        {
            let mut s = self.streams.remove(&oldest).expect("present");
            self.unfinished_bytes += s.framer.pending() as u64;
            s.framer.end();
            add(&mut self.closed, &s.framer.stats());
        }
    }
}

fn message(d: Datagram) -> Message {
    Message {
        timestamp: d.timestamp,
        direction: d.direction,
        transport: d.transport,
        src: d.src,
        dst: d.dst,
        vlans: d.vlans,
        reassembled: d.reassembled,
        bytes: d.payload,
    }
}

fn add(total: &mut FramingStats, s: &FramingStats) {
    total.messages += s.messages;
    total.skipped_bytes += s.skipped_bytes;
    total.resyncs += s.resyncs;
    total.missing_content_length += s.missing_content_length;
}
