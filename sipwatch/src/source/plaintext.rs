//! TLS plaintext read inside a process (the uprobes'
//! [`Chunk`]s) made into SIP messages: each connection's two directions
//! framed as a TCP stream's (RFC 3261 §18.3), each message with the
//! connection's addresses, transport TLS and the process as its origin.
//!
//! A write whose connection the kernel names only at the thread's next
//! send (a memory BIO: pjproject encrypts, then sends) waits for it. A
//! call whose records did not all arrive (the ring was full) leaves a gap
//! in its stream, which the framer resynchronises after. Nothing is
//! dropped uncounted ([`PlainStats`]).
use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
};

use crate::{
    capture::plaintext::{Chunk, ChunkKind},
    net::Transport,
    sip::{Message, Origin, SipFramer},
};

/// Writes waiting for their connection, per thread, at most; more are
/// counted and dropped.
const MAX_WAITING: usize = 64;
/// Streams followed at once; the least recently used ends first.
const MAX_STREAMS: usize = 4096;

/// What assembling the plaintext counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlainStats {
    /// Messages framed.
    pub messages: u64,
    /// Bytes whose connection never became known (a read before any
    /// receive was seen, writes still waiting at the end or beyond
    /// [`MAX_WAITING`]): not framed.
    pub bytes_without_connection: u64,
    /// Calls whose records did not all arrive: a gap in their stream.
    pub calls_incomplete: u64,
    /// Bytes the framers skipped to resynchronise (not SIP, or after a
    /// gap).
    pub bytes_skipped: u64,
    /// Streams ended early to make room.
    pub streams_evicted: u64,
}

/// One direction of one connection of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StreamKey {
    pid: u32,
    src: SocketAddr,
    dst: SocketAddr,
}

struct Stream {
    framer: SipFramer,
    /// The next byte expected of the call in progress: (call length,
    /// offset).
    call: Option<(u32, u32)>,
    last_used: u64,
}

/// Every stream of the processes read.
#[derive(Default)]
pub struct Plaintext {
    streams: HashMap<StreamKey, Stream>,
    /// Writes waiting for their connection, by (pid, tid).
    waiting: HashMap<(u32, u32), VecDeque<Chunk>>,
    stats: PlainStats,
    uses: u64,
}

impl Plaintext {
    /// Nothing followed yet.
    pub fn new() -> Plaintext {
        Plaintext::default()
    }

    /// What was counted so far.
    pub fn stats(&self) -> PlainStats {
        let mut stats = self.stats;
        stats.bytes_skipped += self
            .streams
            .values()
            .map(|s| s.framer.stats().skipped_bytes)
            .sum::<u64>();
        stats
    }

    /// Takes one chunk; appends the messages it completes to `out`.
    pub fn push(&mut self, chunk: Chunk, out: &mut Vec<Message>) {
        match chunk.kind {
            ChunkKind::Connection => {
                let Some(connection) = chunk.connection else {
                    return;
                };
                if let Some(waiting) = self.waiting.remove(&(chunk.pid, chunk.tid)) {
                    for mut write in waiting {
                        write.connection = Some(connection);
                        self.frame(write, out);
                    }
                }
            }
            ChunkKind::Write if chunk.connection.is_none() => {
                let waiting = self.waiting.entry((chunk.pid, chunk.tid)).or_default();
                if waiting.len() >= MAX_WAITING
                    && let Some(old) = waiting.pop_front()
                {
                    self.stats.bytes_without_connection += old.bytes.len() as u64;
                }
                waiting.push_back(chunk);
            }
            ChunkKind::Read if chunk.connection.is_none() => {
                self.stats.bytes_without_connection += chunk.bytes.len() as u64;
            }
            ChunkKind::Write | ChunkKind::Read => self.frame(chunk, out),
        }
    }

    fn frame(&mut self, chunk: Chunk, out: &mut Vec<Message>) {
        let Some((local, remote)) = chunk.connection else {
            return;
        };
        let (src, dst) = match chunk.kind {
            ChunkKind::Read => (remote, local),
            _ => (local, remote),
        };
        let key = StreamKey {
            pid: chunk.pid,
            src,
            dst,
        };
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            self.evict();
        }
        self.uses += 1;
        let uses = self.uses;
        let stream = self.streams.entry(key).or_insert_with(|| Stream {
            framer: SipFramer::new(),
            call: None,
            last_used: 0,
        });
        stream.last_used = uses;
        // A call's records come in order; one missing is a gap.
        let expected = match stream.call {
            Some((len, next)) if len == chunk.call_len && next == chunk.offset => true,
            Some(_) => {
                self.stats.calls_incomplete += 1;
                false
            }
            None => chunk.offset == 0,
        };
        if !expected {
            if stream.call.is_none() {
                self.stats.calls_incomplete += 1;
            }
            if chunk.offset == 0 {
                stream.framer.gap_at_write();
            } else {
                stream.framer.gap();
            }
        }
        if expected && chunk.offset == 0 {
            stream.framer.at_write();
        }
        let next = chunk.offset.saturating_add(chunk.bytes.len() as u32);
        stream.call = (next < chunk.call_len).then_some((chunk.call_len, next));
        let mut framed = Vec::new();
        stream.framer.push(&chunk.bytes, &mut framed);
        for bytes in framed {
            self.stats.messages += 1;
            out.push(Message {
                timestamp: chunk.time,
                direction: Some(chunk.kind.direction()),
                transport: Transport::Tls,
                src,
                dst,
                vlans: Vec::new(),
                outer: None,
                reassembled: false,
                bytes,
                origin: Origin::TlsPlaintext { pid: chunk.pid },
            });
        }
    }

    fn evict(&mut self) {
        if let Some(key) = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| *k)
            && let Some(mut s) = self.streams.remove(&key)
        {
            s.framer.end();
            self.stats.bytes_skipped += s.framer.stats().skipped_bytes;
            self.stats.streams_evicted += 1;
        }
    }

    /// The run ended: what waits for a connection or for the rest of its
    /// message is counted.
    pub fn finish(&mut self) {
        for (_, waiting) in self.waiting.drain() {
            self.stats.bytes_without_connection +=
                waiting.iter().map(|c| c.bytes.len() as u64).sum::<u64>();
        }
        for (_, mut s) in self.streams.drain() {
            s.framer.end();
            self.stats.bytes_skipped += s.framer.stats().skipped_bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &[u8] = b"REGISTER sip:provider.example SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    const OK: &[u8] =
        b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";

    fn local() -> SocketAddr {
        "192.168.77.10:40000".parse().unwrap()
    }
    fn remote() -> SocketAddr {
        "203.0.113.5:5061".parse().unwrap()
    }

    fn chunk(kind: ChunkKind, tid: u32, bytes: &[u8], connection: bool) -> Chunk {
        Chunk {
            time: std::time::SystemTime::UNIX_EPOCH,
            pid: 7,
            tid,
            kind,
            call_len: bytes.len() as u32,
            offset: 0,
            connection: connection.then(|| (local(), remote())),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_write_and_a_read_become_messages_with_their_ways_and_origin() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        p.push(chunk(ChunkKind::Write, 1, REGISTER, true), &mut out);
        p.push(chunk(ChunkKind::Read, 1, OK, true), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].src, out[0].dst), (local(), remote()));
        assert_eq!((out[1].src, out[1].dst), (remote(), local()));
        assert_eq!(out[0].transport, Transport::Tls);
        assert_eq!(out[1].origin, Origin::TlsPlaintext { pid: 7 });
        assert_eq!(out[1].direction, Some(sipwatch_common::Direction::Ingress));
    }

    #[test]
    fn a_write_waits_for_its_connection_and_one_that_never_gets_it_is_counted() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        p.push(chunk(ChunkKind::Write, 1, REGISTER, false), &mut out);
        assert!(out.is_empty());
        p.push(chunk(ChunkKind::Connection, 1, b"", true), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dst, remote());
        p.push(chunk(ChunkKind::Write, 2, REGISTER, false), &mut out);
        p.finish();
        assert_eq!(p.stats().bytes_without_connection, REGISTER.len() as u64);
        assert_eq!(p.stats().messages, 1);
    }

    #[test]
    fn a_message_split_over_calls_and_records_is_framed_once() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        let (a, b) = REGISTER.split_at(20);
        let mut first = chunk(ChunkKind::Write, 1, a, true);
        first.call_len = REGISTER.len() as u32;
        let mut second = chunk(ChunkKind::Write, 1, b, true);
        second.call_len = REGISTER.len() as u32;
        second.offset = 20;
        p.push(first, &mut out);
        p.push(second, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, REGISTER);
        assert_eq!(p.stats().calls_incomplete, 0);
    }

    #[test]
    fn a_record_lost_from_a_call_is_a_gap_and_the_next_message_is_found() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        let mut first = chunk(ChunkKind::Write, 1, &REGISTER[..20], true);
        first.call_len = REGISTER.len() as u32;
        p.push(first, &mut out);
        // The call's second record was lost; the next call starts whole.
        p.push(chunk(ChunkKind::Write, 1, REGISTER, true), &mut out);
        assert_eq!(out.len(), 1, "only the whole message");
        assert_eq!(out[0].bytes, REGISTER);
        assert_eq!(p.stats().calls_incomplete, 1);
    }

    #[test]
    fn a_message_after_another_protocols_bytes_on_the_connection_is_found() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        p.push(
            chunk(
                ChunkKind::Read,
                1,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                true,
            ),
            &mut out,
        );
        p.push(chunk(ChunkKind::Read, 1, OK, true), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, OK);
    }

    #[test]
    fn a_start_line_split_over_calls_is_kept_whole() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        p.push(chunk(ChunkKind::Write, 1, &REGISTER[..4], true), &mut out);
        p.push(chunk(ChunkKind::Write, 1, &REGISTER[4..], true), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, REGISTER);
    }

    #[test]
    fn a_read_without_a_connection_is_counted_not_framed() {
        let mut p = Plaintext::new();
        let mut out = Vec::new();
        p.push(chunk(ChunkKind::Read, 1, OK, false), &mut out);
        assert!(out.is_empty());
        assert_eq!(p.stats().bytes_without_connection, OK.len() as u64);
    }
}
