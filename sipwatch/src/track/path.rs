//! What one binding's exchanges say about the path, read from a single
//! capture: answers from another address than the one asked, the public
//! port the registrar sees changing from one REGISTER to the next (a NAT
//! mapping that expires between refreshes), first fragments of REGISTERs
//! that never arrived whole, the password rejections and fast answers that
//! come before a ban, and the ICMP or TCP evidence of a REGISTER that timed
//! out.
//!
//! [`PathWatch`] collects; [`PathWatch::explain`] turns a failure whose
//! generic reading would mislead ("never sent credentials", "nothing came
//! back: check DNS") into the fault the capture shows, and
//! [`PathWatch::hints`] gives the standing advice.
use std::{
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use super::{
    diagnosis::{Diagnosis, Side},
    evidence::{FragmentTally, IcmpSeen},
    transaction::Transaction,
};
use crate::{
    net::{ConnectionEvent, FragmentHead, IcmpKind},
    sip::{Message, ParsedMessage},
};

/// RFC 3261 §18.1.1: a request larger than this, with the path MTU
/// unknown, must go over a congestion-controlled transport (TCP), as it
/// may not cross the path in one packet.
pub const UDP_REQUEST_LIMIT: u32 = 1300;
/// A REGISTER this much larger than the largest one answered, and never
/// answered itself, is lost for its size even under [`UDP_REQUEST_LIMIT`]:
/// the credentials a challenge asks for add one to a few hundred bytes (an
/// Authorization header: sipsak's to Kamailio about 190, Asterisk's with
/// `qop` about 250), and a path whose MTU the small REGISTER fits and the
/// credentialed one does not, with the ICMP "fragmentation needed"
/// filtered, is a path-MTU black hole (RFC 2923 §2.1). A few dozen bytes
/// more (another CSeq, an Expires) is no evidence of a size limit.
const SIZE_STEP: u32 = 100;
/// Public ports kept per binding to show a NAT mapping changing.
const PORTS_KEPT: usize = 8;
/// Credential rejections before silence or ICMP reads as a ban: fail2ban's
/// SIP jails trigger after a handful of failures (its default `maxretry`
/// is 5), flood protections sooner.
const BAN_AFTER_REJECTIONS: u32 = 2;
/// REGISTERs answered fast in a row before a silence reads as a flood ban.
const BAN_AFTER_BURST: u32 = 10;
/// An answer within this is "fast" (a registrar next door or well served).
const FAST_ANSWER: Duration = Duration::from_secs(1);
/// A silence this soon after the last fast answer follows the burst.
const BURST_GAP: Duration = Duration::from_secs(10);

/// Answers from another address than the one asked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OtherAddress {
    asked: SocketAddr,
    answered: SocketAddr,
    answers: u32,
    /// REGISTERs since the first such answer's request, first and last.
    registers: u32,
    first_register: SystemTime,
    last_register: SystemTime,
}

/// The public address the registrar reported for each grant.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PublicPorts {
    host: String,
    local: SocketAddr,
    ports: Vec<u16>,
    changes: u32,
    first_at: SystemTime,
    last_at: SystemTime,
    grants: u32,
}

/// What came before the answers stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BeforeSilence {
    /// Credentials rejected since the last success.
    rejections: u32,
    /// REGISTERs answered fast, in a row.
    fast_streak: u32,
    last_answer: Option<SystemTime>,
    /// The first REGISTER left unanswered since the last answer.
    stopped: Option<SystemTime>,
    /// ICMP errors about the REGISTERs left unanswered since then.
    icmp_since: u32,
}

/// REGISTERs from one host to one registrar address answered fast in a
/// row, whatever binding they were for: a PBX with many trunks makes its
/// burst across them, and a flood protection counts per source address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Burst {
    /// Answered within [`FAST_ANSWER`], in a row.
    pub fast_streak: u32,
    /// The latest answer.
    pub last_answer: Option<SystemTime>,
}

impl Burst {
    /// A final answer at `at` to a REGISTER first sent at `sent`.
    pub fn on_answer(&mut self, sent: SystemTime, at: SystemTime) {
        let fast = at.duration_since(sent).unwrap_or_default() <= FAST_ANSWER;
        self.fast_streak = if fast {
            self.fast_streak.saturating_add(1)
        } else {
            0
        };
        self.last_answer = Some(at);
    }
}

/// What a timed-out REGISTER's own evidence says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TimeoutEvidence {
    icmp: Option<IcmpSeen>,
    connection: Option<ConnectionEvent>,
    destination: Option<SocketAddr>,
    sent_at: Option<SystemTime>,
    /// The timed-out REGISTER's size, when it went over UDP.
    bytes: Option<u32>,
    /// The answers from its registrar address to its host, every binding's.
    burst: Burst,
}

/// The path evidence of one binding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathWatch {
    /// The latest REGISTER's source and destination.
    last_request: Option<(SocketAddr, SocketAddr, SystemTime)>,
    other_address: Option<OtherAddress>,
    public: Option<PublicPorts>,
    fragments: Option<FragmentTally>,
    /// The latest REGISTER's size (UDP), and the largest answered, in bytes.
    last_request_bytes: u32,
    largest_answered_bytes: u32,
    before_silence: BeforeSilence,
    timeout: TimeoutEvidence,
}

impl PathWatch {
    /// A new REGISTER transaction of the binding.
    pub fn on_request(&mut self, p: &ParsedMessage<'_>) {
        let m = p.message;
        self.last_request = Some((m.src, m.dst, m.timestamp));
        self.last_request_bytes = u32::try_from(m.bytes.len()).unwrap_or(u32::MAX);
        if let Some(o) = &mut self.other_address {
            o.registers = o.registers.saturating_add(1);
            o.last_register = m.timestamp;
        }
        self.on_reassembled(m);
    }

    /// A REGISTER of the binding, or an answer to one, arrived (new or
    /// sent again): one reassembled from fragments completes a head seen
    /// before on its flow.
    pub fn on_reassembled(&mut self, m: &Message) {
        if m.reassembled
            && let Some(f) = self
                .fragments
                .as_mut()
                .filter(|f| f.source == m.src && f.destination == m.dst)
        {
            f.completed = f.completed.saturating_add(1).min(f.heads);
        }
    }

    /// The first fragment of one of this binding's REGISTERs (or of an
    /// answer to one), not (yet) whole.
    pub fn on_fragment_head(&mut self, head: &FragmentHead, start_line: Option<String>) {
        let same = self
            .fragments
            .as_ref()
            .is_some_and(|f| f.source == head.src && f.destination == head.dst);
        if !same {
            self.fragments = Some(FragmentTally {
                source: head.src,
                destination: head.dst,
                heads: 0,
                completed: 0,
                fragment_bytes: 0,
                datagram_bytes: 0,
                start_line: None,
                last_at: head.timestamp,
            });
        }
        if let Some(f) = &mut self.fragments {
            f.heads = f.heads.saturating_add(1);
            f.fragment_bytes = head.fragment_bytes;
            f.datagram_bytes = head.datagram_bytes;
            f.start_line = start_line;
            f.last_at = head.timestamp;
        }
    }

    /// A final answer to the REGISTER `tx` (before the binding reads it).
    pub fn on_answer(&mut self, p: &ParsedMessage<'_>, tx: &Transaction) {
        let at = p.message.timestamp;
        let src = p.message.src;
        if src != tx.dst {
            let o = self.other_address.get_or_insert(OtherAddress {
                asked: tx.dst,
                answered: src,
                answers: 0,
                registers: 1,
                first_register: tx.first_sent,
                last_register: tx.first_sent,
            });
            o.answers = o.answers.saturating_add(1);
            (o.asked, o.answered) = (tx.dst, src);
        }
        if self
            .last_request
            .is_some_and(|(_, _, sent)| sent == tx.first_sent)
        {
            self.largest_answered_bytes = self.largest_answered_bytes.max(self.last_request_bytes);
        }
        let b = &mut self.before_silence;
        let fast = at.duration_since(tx.first_sent).unwrap_or_default() <= FAST_ANSWER;
        b.fast_streak = if fast {
            b.fast_streak.saturating_add(1)
        } else {
            0
        };
        b.last_answer = Some(at);
        b.stopped = None;
        b.icmp_since = 0;
        if (200..300).contains(&p.status().unwrap_or(0)) {
            b.rejections = 0;
            self.note_public_port(p, tx);
        }
    }

    fn note_public_port(&mut self, p: &ParsedMessage<'_>, tx: &Transaction) {
        let Some(via) = p.vias().into_iter().next() else {
            return;
        };
        let (Some(port), Some(host)) = (via.rport, via.received.clone()) else {
            return;
        };
        let at = p.message.timestamp;
        let same_path = self
            .public
            .as_ref()
            .is_some_and(|pp| pp.host == host && pp.local == tx.src);
        if !same_path {
            self.public = Some(PublicPorts {
                host,
                local: tx.src,
                ports: vec![port],
                changes: 0,
                first_at: at,
                last_at: at,
                grants: 1,
            });
            return;
        }
        if let Some(pp) = &mut self.public {
            if pp.ports.last() != Some(&port) {
                pp.changes = pp.changes.saturating_add(1);
                if pp.ports.len() == PORTS_KEPT {
                    pp.ports.remove(0);
                }
                pp.ports.push(port);
            }
            pp.grants = pp.grants.saturating_add(1);
            pp.last_at = at;
        }
    }

    /// The password was rejected (the attempt ended with credentials
    /// rejected).
    pub fn on_rejected_credentials(&mut self) {
        let b = &mut self.before_silence;
        b.rejections = b.rejections.saturating_add(1);
    }

    /// Timer F fired on `tx`; `icmp` and `connection`: what was seen of it;
    /// `burst`: how its registrar address answered this host, every
    /// binding's REGISTERs counted.
    pub fn on_timeout(
        &mut self,
        tx: &Transaction,
        connection: Option<ConnectionEvent>,
        burst: Burst,
    ) {
        let b = &mut self.before_silence;
        if b.stopped.is_none() {
            b.stopped = Some(tx.first_sent);
        }
        b.icmp_since = b
            .icmp_since
            .saturating_add(tx.icmp.as_ref().map_or(0, |i| i.count));
        let latest = self
            .last_request
            .is_some_and(|(_, _, sent)| sent == tx.first_sent);
        self.timeout = TimeoutEvidence {
            icmp: tx.icmp.clone(),
            connection,
            destination: Some(tx.dst),
            sent_at: Some(tx.first_sent),
            bytes: (latest && tx.transport == crate::net::Transport::Udp)
                .then_some(self.last_request_bytes),
            burst,
        };
    }

    /// Whether the binding's latest REGISTER came from `ip`.
    /// A TCP connection from `client` to `server` tried at `at`, before
    /// any REGISTER: the binding sends from `client`.
    pub fn on_connection_attempt(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        at: SystemTime,
    ) {
        self.last_request = Some((client, server, at));
    }

    /// The last request (or connection attempt) seen: (from, to, when).
    pub fn last_request(&self) -> Option<(SocketAddr, SocketAddr, SystemTime)> {
        self.last_request
    }

    pub fn sends_from(&self, ip: std::net::IpAddr) -> bool {
        self.last_request.is_some_and(|(src, _, _)| src.ip() == ip)
    }

    /// A later fault of the connection a timed-out REGISTER was sent on
    /// (more retransmissions after Timer F): the evidence grows. Returns
    /// whether it was that connection.
    pub fn on_later_connection_fault(&mut self, e: ConnectionEvent) -> bool {
        let same = self
            .timeout
            .connection
            .is_some_and(|c| (c.client, c.server) == (e.client, e.server));
        if same {
            self.timeout.connection = Some(e);
        }
        same
    }

    /// The fault the capture shows instead of `failure`'s generic reading,
    /// or `failure` itself.
    pub fn explain(&self, failure: Diagnosis, side: Side) -> Diagnosis {
        match &failure {
            Diagnosis::NoCredentials { .. }
            | Diagnosis::RechallengeUnanswered { .. }
            | Diagnosis::Timeout { .. } => {}
            _ => return failure,
        }
        // Heads since the latest whole REGISTER: older losses are history.
        let recent = |f: &&FragmentTally| {
            self.last_request
                .is_none_or(|(_, _, sent)| f.last_at >= sent)
        };
        if let Some(f) = self
            .fragments
            .as_ref()
            .filter(|f| f.lost() > 0)
            .filter(recent)
        {
            return Diagnosis::FragmentsLost {
                side,
                source: f.source,
                destination: f.destination,
                datagrams: f.lost(),
                fragment_bytes: f.fragment_bytes,
                datagram_bytes: f.datagram_bytes,
                start_line: f.start_line.clone(),
            };
        }
        let Diagnosis::Timeout {
            destination,
            transport,
            provisional_seen,
            ..
        } = &failure
        else {
            return failure;
        };
        // A provisional answer came back: the REGISTER arrived whole and
        // the registrar answered it, so neither its size nor a ban (nor an
        // ICMP error about an earlier copy) is why no final answer came.
        if *provisional_seen {
            return match &self.timeout.connection {
                Some(c) => Diagnosis::ConnectionFailed {
                    side,
                    destination: c.server,
                    connection: c.fault,
                },
                None => failure,
            };
        }
        let answered = self.largest_answered_bytes;
        let too_large = self.timeout.bytes.filter(|&b| {
            self.timeout.icmp.is_none()
                && answered > 0
                && b > answered
                && (b > UDP_REQUEST_LIMIT || b >= answered.saturating_add(SIZE_STEP))
        });
        if let Some(bytes) = too_large {
            return Diagnosis::LargeRequestUnanswered {
                side,
                bytes,
                largest_answered_bytes: self.largest_answered_bytes,
                destination: *destination,
            };
        }
        if let Some(banned) = self.banned(side, destination) {
            return banned;
        }
        if let Some(icmp) = &self.timeout.icmp {
            return Diagnosis::Unreachable {
                side,
                icmp: icmp.kind,
                reporter: icmp.reporter,
                count: icmp.count,
                mtu: icmp.mtu,
                destination: *destination,
                transport: *transport,
                start_line: icmp.start_line.clone(),
            };
        }
        if let Some(c) = &self.timeout.connection {
            return Diagnosis::ConnectionFailed {
                side,
                destination: c.server,
                connection: c.fault,
            };
        }
        failure
    }

    /// A ban: ICMP from the registrar itself (or silence) after rejected
    /// passwords, or silence right after a burst of fast answers.
    fn banned(&self, side: Side, destination: &SocketAddr) -> Option<Diagnosis> {
        let b = &self.before_silence;
        let stopped = b.stopped?;
        let icmp = self
            .timeout
            .icmp
            .as_ref()
            .filter(|i| Some(i.reporter) == self.timeout.destination.map(|d| d.ip()))
            .filter(|i| {
                i.kind == IcmpKind::PortUnreachable
                    || i.kind == IcmpKind::AdministrativelyProhibited
            });
        let silent = self.timeout.icmp.is_none() && self.timeout.connection.is_none();
        if !(icmp.is_some() || silent) {
            return None;
        }
        let after_logins = b.rejections >= BAN_AFTER_REJECTIONS;
        // This binding's own answers, or the host's to every binding.
        let shared = self.timeout.burst;
        let (streak, last_answer) = if shared.fast_streak > b.fast_streak {
            (shared.fast_streak, shared.last_answer)
        } else {
            (b.fast_streak, b.last_answer)
        };
        let after_burst = silent
            && streak >= BAN_AFTER_BURST
            && last_answer
                .is_some_and(|l| stopped.duration_since(l).unwrap_or_default() <= BURST_GAP);
        if !(after_logins || after_burst) {
            return None;
        }
        Some(Diagnosis::Banned {
            side,
            registrar: destination.to_string(),
            rejections: if after_logins { b.rejections } else { 0 },
            answered_burst: if after_logins { 0 } else { streak },
            answers_stopped_at: stopped,
            icmp: icmp.map(|i| i.kind),
            icmp_count: if icmp.is_some() { b.icmp_since } else { 0 },
        })
    }

    /// The standing hints: answers from another address, a NAT mapping
    /// that changed between REGISTERs.
    pub fn hints(&self, side: Side) -> Vec<Diagnosis> {
        let mut hints = Vec::new();
        if let Some(o) = &self.other_address {
            let over = o
                .last_register
                .duration_since(o.first_register)
                .unwrap_or_default();
            hints.push(Diagnosis::AnswersFromOtherAddress {
                side,
                request_destination: o.asked,
                response_source: o.answered,
                answers_from_other_address: o.answers,
                registers: o.registers,
                registers_over_ms: (over.as_micros() as u64 + 500) / 1000,
            });
        }
        if let Some(pp) = self.public.as_ref().filter(|pp| pp.changes > 0) {
            let span = pp.last_at.duration_since(pp.first_at).unwrap_or_default();
            let host = if pp.host.contains(':') && !pp.host.starts_with('[') {
                format!("[{}]", pp.host)
            } else {
                pp.host.clone()
            };
            hints.push(Diagnosis::NatMappingLost {
                side,
                public_address: host,
                public_ports: pp.ports.clone(),
                changes: pp.changes,
                local: pp.local.to_string(),
                interval_s: span.as_secs() / u64::from(pp.grants.saturating_sub(1).max(1)),
            });
        }
        hints
    }
}
