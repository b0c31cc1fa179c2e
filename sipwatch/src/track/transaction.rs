//! Client transactions (RFC 3261 §17.1): requests matched with their
//! responses by the top Via branch and the CSeq method, retransmissions
//! counted, and Timer B / F for requests that get no final response.
use std::{
    hash::{BuildHasher, Hash, Hasher, RandomState},
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use serde::Serialize;
use sipwatch_common::Direction;

use super::evidence::IcmpSeen;
use crate::{
    net::{KernelDrop, Transport},
    sip::ParsedMessage,
};

pub use crate::sip::timers::{T1, TIMER_B, TIMER_C};

/// What identifies a transaction: RFC 3261 §17.1.3 (top Via branch and CSeq
/// method), with the RFC 2543 fallback (Call-ID, CSeq and From tag) when the
/// branch has no magic cookie. The CSeq number is part of the key too: a
/// retransmission keeps it, and clients that wrongly reuse a branch for a new
/// request (some do, for the authenticated retry) still change it.
///
/// Kept as a 64-bit keyed hash of those fields: this runs for every message,
/// and the hash key is random per process (SipHash), so collisions cannot be
/// crafted from the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey(u64);

const MAGIC_COOKIE: &str = "z9hG4bK";

impl TransactionKey {
    /// The key of a request or response; ACK to a non-2xx and CANCEL share
    /// the INVITE's branch but are transactions of their own method.
    pub fn of(p: &ParsedMessage<'_>, keys: &RandomState) -> Option<TransactionKey> {
        let cseq = p.index.header("cseq")?;
        let (number, method) = cseq.trim().split_once(char::is_whitespace)?;
        let (number, method) = (number.parse::<u32>().ok()?, method.trim());
        let via = p.index.header("via");
        let branch = via
            .as_deref()
            .and_then(top_branch)
            .filter(|b| b.starts_with(MAGIC_COOKIE));
        let mut h = keys.build_hasher();
        match branch {
            Some(branch) => {
                0u8.hash(&mut h);
                branch.hash(&mut h);
            }
            None => {
                1u8.hash(&mut h);
                p.index.header("call-id")?.hash(&mut h);
                p.from()
                    .and_then(|f| f.tag)
                    .unwrap_or_default()
                    .hash(&mut h);
            }
        }
        method.hash(&mut h);
        number.hash(&mut h);
        Some(TransactionKey(h.finish()))
    }
}

/// The branch parameter of the first value of a Via header.
fn top_branch(via: &str) -> Option<&str> {
    let first = via.split(',').next()?;
    let bytes = first.as_bytes();
    const NEEDLE: &[u8] = b";branch=";
    let at = bytes
        .windows(NEEDLE.len())
        .position(|w| w.eq_ignore_ascii_case(NEEDLE))?
        + NEEDLE.len();
    let branch = first[at..].split([';', ' ', '\t']).next()?.trim();
    (!branch.is_empty()).then_some(branch)
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A final response as it was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalResponse {
    /// The status code, 200–699.
    pub code: u16,
    /// The reason phrase of its status line, as written.
    pub reason: String,
    /// When its first copy was seen (capture time).
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: SystemTime,
    /// Times it was seen (more than once: retransmitted).
    pub count: u32,
}

/// Where a client transaction stands (RFC 3261 §17.1.2), as far as the
/// capture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionState {
    /// Sent, no final response yet.
    Pending,
    /// A final response was seen; kept 64 s more (Timer J / K) to count
    /// retransmissions.
    Completed,
    /// No final response by Timer B / F: the client reports 408.
    TimedOut,
}

/// A client transaction (RFC 3261 §17.1): one request, its retransmissions
/// and the responses matched to it by [`TransactionKey`].
#[derive(Clone, Debug, Serialize)]
pub struct Transaction {
    /// The method of the request line: `REGISTER`, `INVITE`, `OPTIONS`…
    pub method: String,
    /// The request's Call-ID header; empty when it has none.
    pub call_id: String,
    /// The sequence number of the request's CSeq header.
    pub cseq: u32,
    /// The source address and port of the request's first copy.
    pub src: SocketAddr,
    /// The destination address and port of the request's first copy: the
    /// registrar (or proxy) a REGISTER was sent to.
    pub dst: SocketAddr,
    /// The transport the request was seen on (UDP or TCP).
    pub transport: Transport,
    /// Whether this host sent it (seen leaving the NIC), when known.
    #[serde(serialize_with = "direction_name")]
    pub direction: Option<Direction>,
    /// When the request was first seen: Timer B / F runs from here.
    #[serde(serialize_with = "crate::time::serialize")]
    pub first_sent: SystemTime,
    /// When the request was last seen: its latest retransmission.
    #[serde(serialize_with = "crate::time::serialize")]
    pub last_sent: SystemTime,
    /// Times the request was seen: 1 + retransmissions.
    pub sent: u32,
    /// Times the request was seen again at least T1 after its final
    /// response: that response did not reach the sender.
    pub sent_after_answer: u32,
    /// The highest provisional status seen (100–199).
    pub provisional: Option<u16>,
    /// When the latest provisional response was seen (not in JSON): an
    /// INVITE in Proceeding waits for its final response from here.
    #[serde(skip)]
    pub provisional_at: Option<SystemTime>,
    /// The first final response (200–699) and how often it came; `None`
    /// while pending or after Timer B / F.
    pub final_response: Option<FinalResponse>,
    /// Pending, completed, or timed out.
    pub state: TransactionState,
    /// When the server's TCP acknowledged every byte sent on the request's
    /// connection, the request included (not in JSON): it reached the
    /// registrar's host.
    #[serde(skip)]
    pub tcp_acked_at: Option<SystemTime>,
    /// ICMP / ICMPv6 errors that quote this request (or its answers).
    pub icmp: Option<IcmpSeen>,
    /// Copies of the request this host's kernel dropped (included in
    /// `sent`), and why the last one was.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_here: u32,
    /// Why this host's kernel dropped the request's last dropped copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_drop: Option<KernelDrop>,
    /// Why this host's kernel dropped its final answer after the capture
    /// saw it arrive: the sender never got it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_dropped: Option<KernelDrop>,
    /// When it was given up: Timer F, or the end of a capture for one an
    /// ICMP error ended first (not in JSON: the event's own time).
    #[serde(skip)]
    pub ended_at: Option<SystemTime>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Transaction {
    /// A pending transaction from its first request `p`, with the method and
    /// CSeq number the caller read from it.
    pub fn new(p: &ParsedMessage<'_>, method: &str, cseq: u32) -> Transaction {
        let m = p.message;
        Transaction {
            method: method.to_owned(),
            call_id: p.call_id().map(|c| c.into_owned()).unwrap_or_default(),
            cseq,
            src: m.src,
            dst: m.dst,
            transport: m.transport,
            direction: m.direction,
            first_sent: m.timestamp,
            last_sent: m.timestamp,
            sent: 1,
            sent_after_answer: 0,
            provisional: None,
            provisional_at: None,
            final_response: None,
            state: TransactionState::Pending,
            tcp_acked_at: None,
            icmp: None,
            dropped_here: 0,
            kernel_drop: None,
            answer_dropped: None,
            ended_at: None,
        }
    }

    /// Response time: first request to first final response.
    pub fn response_time(&self) -> Option<Duration> {
        let f = self.final_response.as_ref()?;
        f.at.duration_since(self.first_sent).ok()
    }

    /// Every copy of the request was dropped by this host's kernel: it
    /// never left (or, arriving, never reached a socket).
    pub fn dropped_every_copy(&self) -> bool {
        self.dropped_here > 0 && self.dropped_here >= self.sent
    }

    /// An INVITE that got a provisional response: in Proceeding (RFC 3261
    /// §17.1.1.2), where Timer B no longer runs and only a final response
    /// (or the TU's CANCEL) ends it.
    pub fn proceeding_invite(&self) -> bool {
        self.method == "INVITE" && self.provisional.is_some()
    }

    /// Whether Timer B / F has fired at `now`. Never for an INVITE in
    /// Proceeding: its final response may come minutes later (a call
    /// ringing), and attaches to it when it does.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.state == TransactionState::Pending
            && !self.proceeding_invite()
            && now.duration_since(self.first_sent).unwrap_or_default() >= TIMER_B
    }

    /// An INVITE in Proceeding that nothing has answered for [`TIMER_C`]
    /// since its latest provisional response: forgotten without a timeout
    /// (no timer of the client's fires; a proxy would have cancelled it).
    pub fn proceeding_abandoned(&self, now: SystemTime) -> bool {
        self.state == TransactionState::Pending
            && self.proceeding_invite()
            && self
                .provisional_at
                .is_some_and(|p| now.duration_since(p).unwrap_or_default() >= TIMER_C)
    }
}

/// "out" (left this host), "in" (arrived), or null.
fn direction_name<S: serde::Serializer>(d: &Option<Direction>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(Direction::Egress) => s.serialize_some("out"),
        Some(Direction::Ingress) => s.serialize_some("in"),
        None => s.serialize_none(),
    }
}
