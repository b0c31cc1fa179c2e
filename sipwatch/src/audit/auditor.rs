//! The auditor: which REGISTERs get a shadow, which answer belongs to
//! which shadow, what the comparison says, and where a REGISTER that timed
//! out was lost.
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::mpsc,
    time::{Duration, SystemTime},
};

use serde::Serialize;
use sipwatch_common::Direction;

use super::{sender::RawSender, shadow::shadow};
use crate::{
    alg::{Finding, alg_suspected, compare},
    echo::{MAX_REQUEST, wire},
    net::{Leg, Transport},
    sip::{Message, MessageIndex, ParsedMessage},
    track::{BindingKey, Transaction, binding_key},
};

/// NAT keep-alive silences by default (seconds): from common NAT and
/// firewall UDP timeouts (30 s, Linux's 120 s once both ways flowed, up
/// to 300 s) to past a typical UDP registration refresh.
pub const DEFAULT_KEEPALIVE_GAPS: [u64; 5] = [20, 40, 80, 160, 320];

/// Slack after a keep-alive was due before it counts as lost (seconds).
const KEEPALIVE_SLACK_S: u64 = 3;

/// What to audit against, and how often.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The echo's SIP address and port (UDP).
    pub echo: SocketAddr,
    /// The echo's query channel, to locate REGISTERs that timed out.
    pub query: Option<SocketAddr>,
    /// The echo's shared key, if it was started with one.
    pub key: Option<Vec<u8>>,
    /// At most one shadow per binding this often (a refresh, not each
    /// retransmission or the authenticated retry right after a challenge).
    pub per_binding: Duration,
    /// At most this many shadows a second, all bindings together.
    pub per_second: f64,
    /// The silences (seconds) before each NAT keep-alive the echo sends
    /// back after answering a shadow; empty: no NAT lifetime measure.
    pub keepalive_gaps: Vec<u64>,
}

impl AuditConfig {
    /// Defaults for `echo`: one shadow per binding per 20 s, 5 a second in all.
    pub fn new(echo: SocketAddr, query: Option<SocketAddr>) -> AuditConfig {
        AuditConfig {
            echo,
            query,
            key: None,
            per_binding: Duration::from_secs(20),
            per_second: 5.0,
            keepalive_gaps: DEFAULT_KEEPALIVE_GAPS.to_vec(),
        }
    }
}

/// What the auditor counted; a shadow not sent is counted with its reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditCounters {
    /// Shadows sent to the echo.
    pub shadows_sent: u64,
    /// Shadows the echo answered (its answer consumed at XDP).
    pub shadows_answered: u64,
    /// REGISTERs not shadowed: over the global rate cap.
    pub skipped_rate: u64,
    /// REGISTERs not shadowed: larger than the echo answers (16 KiB).
    pub skipped_too_large: u64,
    /// REGISTERs not shadowed: of another address family than the echo's
    /// (an IPv6 PBX address and an IPv4 echo, or the reverse).
    pub skipped_transport: u64,
    /// Shadows the kernel refused to send (or no raw socket).
    pub send_errors: u64,
    /// Pending shadows dropped unanswered to stay within bounds.
    pub pending_evicted: u64,
    /// Query channel lookups that failed.
    pub query_errors: u64,
    /// Bindings forgotten to stay within bounds (20 000 followed at once;
    /// the least recently shadowed go first): their next REGISTER is
    /// audited as new, their latest result is no longer listed.
    pub bindings_forgotten: u64,
    /// Shadows this host's own kernel dropped on their way out: its
    /// firewall treats them as it treats the PBX's SIP.
    pub dropped_here: u64,
}

/// What the audit found for one binding.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The echo's mirror of the shadow, compared with what left the NIC.
    Compared {
        /// The address and port the echo saw: the NAT mapping of the PBX's port.
        nat_source: Option<SocketAddr>,
        /// What the path changed in the REGISTER (empty: nothing).
        findings: Vec<Finding>,
        /// Whether the changes are a SIP ALG's (addresses or ports inside SIP).
        alg: bool,
    },
    /// How long the NAT kept the mapping of the PBX's port without
    /// traffic: the echo's keep-alives after growing silences, and which
    /// ones arrived.
    NatLifetime {
        /// The longest silence after which a keep-alive still arrived (s).
        at_least_s: u64,
        /// The silence after which one did not arrive (s); none: all came.
        less_than_s: Option<u64>,
        /// The registration interval the PBX asked for (its Expires, s).
        refresh_s: Option<u32>,
    },
    /// A real REGISTER of this binding got no final response (Timer F):
    /// where it was lost, from its shadow's fate.
    TimeoutLocated {
        /// The leg, in the probe's vocabulary.
        leg: Leg,
        /// What the shadow's fate showed (in JSON, prose that may change:
        /// [`crate::say::path_audit::evidence`]).
        evidence: TimeoutEvidence,
    },
}

/// What located a timed-out REGISTER: the fate of its binding's shadow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeoutEvidence {
    /// The shadow reached the echo and its answer came back: the path
    /// works both ways, so the registrar's address or the registrar is at fault.
    ShadowAnswered,
    /// The echo received the shadow and answered; the answer never arrived.
    AnswerNeverArrived,
    /// The echo never received the shadow, sent from the same address and port.
    NeverReachedTheEcho,
    /// The echo's query channel gave no answer; why, as
    /// [`crate::client::seen`] says it.
    QueryFailed(String),
}

/// One audit result, as the log, JSON (`{"type":"path_audit",…}`) and the
/// summary show it.
#[derive(Clone, Debug, Serialize)]
pub struct PathAudit {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When it was found (capture time for comparisons).
    #[serde(serialize_with = "crate::time::serialize")]
    pub time: SystemTime,
    /// The PBX's registration the shadow stood for.
    pub binding: BindingKey,
    /// The shadow's probe id.
    pub shadow: String,
    /// What was found: the path's changes to the REGISTER, or the leg on
    /// which a timed-out REGISTER was lost.
    #[serde(flatten)]
    pub outcome: AuditOutcome,
}

impl PathAudit {
    /// A result about `binding`'s shadow `shadow`, found at `time`: what
    /// the auditor reports, and what a test feeds an output.
    pub fn new(
        time: SystemTime,
        binding: BindingKey,
        shadow: String,
        outcome: AuditOutcome,
    ) -> Self {
        PathAudit {
            kind: "path_audit",
            time,
            binding,
            shadow,
            outcome,
        }
    }
}

struct Pending {
    binding: BindingKey,
    /// The registration interval the REGISTER asked for (s).
    refresh_s: Option<u32>,
    /// The shadow as built (the NIC's copy replaces it when seen leaving).
    bytes: Vec<u8>,
    sent_at: SystemTime,
    answered: bool,
}

/// A NAT lifetime measure: the echo's keep-alives to one shadow's mapping.
struct NatWatch {
    binding: BindingKey,
    /// The PBX's address and port the shadow left from, where the echo's
    /// keep-alives go.
    source: SocketAddr,
    refresh_s: Option<u32>,
    /// Keep-alives arrived so far (they arrive in order, or not at all).
    arrived: usize,
    /// When the last datagram of the flow arrived (the answer, then each
    /// keep-alive): the silence before the next starts there.
    last: SystemTime,
}

/// How a TCP shadow's connection went: sent, or why not.
type TcpResult = Result<(), String>;

/// What the query channel said of a binding's shadow (by id): seen or not,
/// or why it could not tell.
type QueryAnswer = (BindingKey, String, Result<crate::client::Fate, String>);

/// A request the echo left out of its UDP answer, as its query channel
/// gave it: the binding, the shadow's id, the shadow as it left, the NAT
/// mapping the mirror named, and the request or why not.
type Withheld = (
    BindingKey,
    String,
    Vec<u8>,
    Option<SocketAddr>,
    Result<Vec<u8>, String>,
);

/// Unanswered shadows kept at most (their answers, if any, come within ms).
const MAX_PENDING: usize = 1024;
/// Bindings followed at most, as the tracker's bound.
const MAX_BINDINGS: usize = 20_000;

/// Follows the PBX's REGISTERs, sends their shadows, reads the echo's
/// answers and query channel; see the module docs.
pub struct Auditor {
    config: AuditConfig,
    sender: Option<RawSender>,
    pending: HashMap<String, Pending>,
    /// Per binding: when its last shadow went out, and its id.
    last_shadow: HashMap<BindingKey, (SystemTime, String)>,
    /// Call-ID of a binding's REGISTERs, for the tracker's timeouts.
    by_call_id: HashMap<String, BindingKey>,
    latest: HashMap<BindingKey, PathAudit>,
    /// NAT lifetime measures under way, by shadow id.
    nat: HashMap<String, NatWatch>,
    tokens: f64,
    refilled: Option<SystemTime>,
    found: Vec<PathAudit>,
    answers: (mpsc::Sender<QueryAnswer>, mpsc::Receiver<QueryAnswer>),
    /// How the TCP shadows' connections went.
    tcp_done: (mpsc::Sender<TcpResult>, mpsc::Receiver<TcpResult>),
    /// Requests left out of UDP answers, fetched from the query channel.
    withheld: (mpsc::Sender<Withheld>, mpsc::Receiver<Withheld>),
    counters: AuditCounters,
    next_id: u64,
    /// Why shadows cannot be sent, once.
    pub send_problem: Option<String>,
    /// Random per run: shadow ids cannot be guessed, so an answer forged
    /// from the echo's address cannot be taken for the echo's mirror.
    id_nonce: u64,
    /// Why the audit stopped (the echo's address turned out to be the
    /// PBX's registrar), once.
    pub stopped: Option<String>,
    /// The echo address whose answers must no longer be consumed at XDP,
    /// until the capture takes it ([`Auditor::take_conflict`]).
    conflict: Option<SocketAddr>,
}

impl Auditor {
    /// An auditor for `config`; it opens its raw socket now, and says so
    /// (in [`Auditor::send_problem`]) when it cannot.
    pub fn new(config: AuditConfig) -> Auditor {
        let (sender, send_problem) = match RawSender::open() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Auditor {
            tokens: config.per_second.max(1.0),
            config,
            sender,
            pending: HashMap::new(),
            last_shadow: HashMap::new(),
            by_call_id: HashMap::new(),
            latest: HashMap::new(),
            nat: HashMap::new(),
            refilled: None,
            found: Vec::new(),
            answers: mpsc::channel(),
            tcp_done: mpsc::channel(),
            withheld: mpsc::channel(),
            counters: AuditCounters::default(),
            next_id: 0,
            send_problem,
            stopped: None,
            conflict: None,
            id_nonce: {
                use std::hash::{BuildHasher, Hasher};
                // SipHash under the process's random keys, of nothing.
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
            },
        }
    }

    /// The echo address XDP must stop consuming answers from, once: the
    /// PBX itself sends SIP there (see [`Auditor::stopped`]).
    pub fn take_conflict(&mut self) -> Option<SocketAddr> {
        self.conflict.take()
    }

    /// What was counted so far.
    pub fn counters(&self) -> AuditCounters {
        self.counters
    }

    /// The latest result of every binding audited, ordered by binding.
    pub fn latest(&self) -> Vec<&PathAudit> {
        let mut v: Vec<&PathAudit> = self.latest.values().collect();
        v.sort_by(|a, b| a.binding.cmp(&b.binding));
        v
    }

    /// Results found since the last call.
    pub fn drain(&mut self) -> impl Iterator<Item = PathAudit> + '_ {
        self.found.drain(..)
    }

    fn is_echo(&self, a: SocketAddr) -> bool {
        a == self.config.echo
    }

    /// Sees one message. Returns `true` when it is the audit's own traffic
    /// (a shadow leaving, the echo's answer): the caller keeps it from the
    /// tracker and the message log, which are the PBX's.
    pub fn on_message(&mut self, m: &Message, parsed: Option<&ParsedMessage<'_>>) -> bool {
        if self.stopped.is_some() {
            // Until the capture stops consuming its answers at XDP, what
            // comes from that address never reached the PBX.
            return self.conflict.is_some() && self.is_echo(m.src);
        }
        // A request of the PBX's own (no probe id) to the echo's address:
        // the "echo" is its registrar, whose answers XDP must not consume.
        if self.is_echo(m.dst)
            && m.direction == Some(Direction::Egress)
            && let Some(p) = parsed
            && p.method().is_some()
            && p.index
                .header(&wire::PROBE_HEADER.to_ascii_lowercase())
                .is_none()
        {
            self.stopped = Some(format!(
                "the audit stopped: {} is where the PBX sends its own SIP (its registrar or proxy), not a `sipwatch echo`; its answers are the PBX's, so they are no longer consumed: give --echo the echo's address",
                self.config.echo
            ));
            self.conflict = Some(self.config.echo);
            return false;
        }
        if self.is_echo(m.dst) || self.is_echo(m.src) {
            self.own_traffic(m);
            return true;
        }
        if m.direction == Some(Direction::Egress)
            && let Some(p) = parsed
            && p.method() == Some("REGISTER")
        {
            self.maybe_shadow(m, p);
        }
        false
    }

    /// Stops the echo's keep-alives still due (sipwatch is going away and
    /// will no longer consume them at XDP: they would reach the PBX's
    /// port): a stop from each measure's source, which the echo never
    /// answers.
    pub fn stop_keepalives(&mut self) {
        let Some(sender) = &self.sender else {
            return;
        };
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        for (id, w) in self.nat.drain() {
            let auth = self
                .config
                .key
                .as_deref()
                .map(|k| wire::probe_auth(k, &id, unix));
            let stop = wire::keepalive_stop(&id, auth.as_deref());
            if sender.send(w.source, self.config.echo, &stop).is_err() {
                self.counters.send_errors += 1;
            }
        }
    }

    /// A packet this host's kernel dropped: `true` when it is the audit's
    /// own (a shadow, an echo's answer), counted here and kept from the
    /// PBX's log and registrations.
    pub fn on_dropped(&mut self, d: &crate::net::DroppedPacket) -> bool {
        if self.is_echo(d.dst) {
            self.counters.dropped_here += 1;
            return true;
        }
        // The echo's answers and keep-alives are consumed at XDP on
        // purpose; on a veth (or in generic mode) that frees an skb the
        // tracer sees: our own doing, counted as consumed already.
        self.is_echo(d.src)
    }

    fn own_traffic(&mut self, m: &Message) {
        let index = MessageIndex::parse(&m.bytes);
        if m.direction == Some(Direction::Egress) {
            // The shadow as it left the NIC: what the path is compared with.
            if let Some(id) = index.header("x-sipwatch-probe")
                && let Some(p) = self.pending.get_mut(id.as_ref())
            {
                p.bytes = m.bytes.clone();
            }
            return;
        }
        if let Some((id, seq, _)) = wire::parse_keepalive(&m.bytes) {
            if let Some(w) = self.nat.get_mut(&id)
                && seq == w.arrived
            {
                w.arrived += 1;
                w.last = m.timestamp;
            }
            return;
        }
        let Some(mirror) = m.bytes.get(index.body.clone()).and_then(wire::decode_body) else {
            return;
        };
        let Some(p) = self.pending.get_mut(&mirror.probe) else {
            return;
        };
        if p.answered {
            return; // a retransmitted answer
        }
        p.answered = true;
        self.counters.shadows_answered += 1;
        let (binding, shadow) = (p.binding.clone(), p.bytes.clone());
        if !self.config.keepalive_gaps.is_empty() && self.nat.len() < MAX_PENDING {
            // One measure per binding: a newer shadow's replaces the older.
            let binding = p.binding.clone();
            self.nat.retain(|_, w| w.binding != binding);
            self.nat.insert(
                mirror.probe.clone(),
                NatWatch {
                    binding,
                    source: m.dst,
                    refresh_s: p.refresh_s,
                    arrived: 0,
                    last: m.timestamp,
                },
            );
        }
        if mirror.withheld_answer_bytes.is_none() {
            if let Some(received) = mirror.request_bytes() {
                let nat_source = mirror.source_addr();
                self.compared(
                    m.timestamp,
                    binding,
                    mirror.probe,
                    &shadow,
                    &received,
                    nat_source,
                );
            }
            return;
        }
        // Too large for one unfragmented answer: the query channel has it.
        let Some(query) = self.config.query else {
            self.counters.query_errors += 1;
            return;
        };
        let (key, done) = (self.config.key.clone(), self.withheld.0.clone());
        let nat_source = mirror.source_addr();
        std::thread::spawn(move || {
            let request = crate::client::mirror(query, &mirror.probe, key.as_deref());
            let _ = done.send((binding, mirror.probe, shadow, nat_source, request));
        });
    }

    /// The shadow as it left against the request as the echo received it.
    fn compared(
        &mut self,
        at: SystemTime,
        binding: BindingKey,
        id: String,
        shadow: &[u8],
        received: &[u8],
        nat_source: Option<SocketAddr>,
    ) {
        let findings = compare(shadow, received);
        let outcome = AuditOutcome::Compared {
            nat_source,
            alg: alg_suspected(&findings),
            findings,
        };
        self.record(PathAudit::new(at, binding, id, outcome));
    }

    fn record(&mut self, audit: PathAudit) {
        if self.latest.len() >= MAX_BINDINGS && !self.latest.contains_key(&audit.binding) {
            let oldest = crate::net::oldest_eighth(&self.latest, |a| a.time);
            for k in &oldest {
                self.latest.remove(k);
            }
            self.counters.bindings_forgotten += oldest.len() as u64;
        }
        self.latest.insert(audit.binding.clone(), audit.clone());
        self.found.push(audit);
    }

    /// Makes room among the bindings followed: the eighth whose last
    /// shadow is oldest is forgotten (counted); their next REGISTER is
    /// shadowed as new.
    fn forget_oldest_bindings(&mut self) {
        let oldest = crate::net::oldest_eighth(&self.last_shadow, |(at, _)| *at);
        for k in &oldest {
            self.last_shadow.remove(k);
        }
        let gone: std::collections::HashSet<&BindingKey> = oldest.iter().collect();
        self.by_call_id.retain(|_, b| !gone.contains(b));
        self.counters.bindings_forgotten += oldest.len() as u64;
    }

    fn maybe_shadow(&mut self, m: &Message, p: &ParsedMessage<'_>) {
        let Some((binding, contact_expires)) = binding_key(p) else {
            return;
        };
        let at = m.timestamp;
        let recent = self.last_shadow.get(&binding).is_some_and(|(t, _)| {
            at.duration_since(*t).unwrap_or_default() < self.config.per_binding
        });
        if recent {
            return;
        }
        // One family: the shadow leaves from the PBX's own address.
        let tcp = m.transport == Transport::Tcp;
        if m.src.is_ipv4() != self.config.echo.is_ipv4() {
            self.counters.skipped_transport += 1;
            return;
        }
        if m.bytes.len() + 200 > MAX_REQUEST {
            self.counters.skipped_too_large += 1;
            return;
        }
        if !self.take_token(at) {
            self.counters.skipped_rate += 1;
            return;
        }
        self.next_id += 1;
        let id = format!("sw-audit-{:016x}-{}", self.id_nonce, self.next_id);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let Some(bytes) = shadow(
            &m.bytes,
            &id,
            self.config.key.as_deref(),
            now,
            &self.config.keepalive_gaps,
        ) else {
            return;
        };
        if tcp {
            let done = self.tcp_done.0.clone();
            super::sender::send_tcp(m.src.ip(), self.config.echo, bytes.clone(), move |r| {
                let _ = done.send(r);
            });
        } else {
            let Some(sender) = &self.sender else {
                self.counters.send_errors += 1;
                return;
            };
            if let Err(e) = sender.send(m.src, self.config.echo, &bytes) {
                self.counters.send_errors += 1;
                self.send_problem.get_or_insert_with(|| e.to_string());
                return;
            }
        }
        self.counters.shadows_sent += 1;
        if self.pending.len() >= MAX_PENDING {
            self.expire_pending(at);
        }
        if self.last_shadow.len() >= MAX_BINDINGS && !self.last_shadow.contains_key(&binding) {
            self.forget_oldest_bindings();
        }
        if let Some(call_id) = p.call_id() {
            self.by_call_id
                .insert(call_id.into_owned(), binding.clone());
        }
        self.last_shadow.insert(binding.clone(), (at, id.clone()));
        self.pending.insert(
            id,
            Pending {
                binding,
                refresh_s: contact_expires.or_else(|| p.expires()),
                bytes,
                sent_at: at,
                answered: false,
            },
        );
    }

    /// Old shadows make room: answered ones go silently, unanswered ones
    /// are counted.
    fn expire_pending(&mut self, now: SystemTime) {
        let before = self.pending.len();
        let mut evicted = 0;
        self.pending.retain(|_, p| {
            let old = now.duration_since(p.sent_at).unwrap_or_default() > Duration::from_secs(64);
            if old && !p.answered {
                evicted += 1;
            }
            !old
        });
        if self.pending.len() == before {
            evicted += self.pending.values().filter(|p| !p.answered).count();
            self.pending.clear();
        }
        self.counters.pending_evicted += evicted as u64;
    }

    /// A token of the global rate cap (a token bucket of one second).
    fn take_token(&mut self, at: SystemTime) -> bool {
        let rate = self.config.per_second.max(0.1);
        let elapsed = self
            .refilled
            .map_or(Duration::ZERO, |r| at.duration_since(r).unwrap_or_default());
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(rate.max(1.0));
        self.refilled = Some(at);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A transaction timed out (Timer F): for a REGISTER of an audited
    /// binding, locate the loss from its shadow. An answered shadow says at
    /// once that the path works; otherwise the echo's query channel is asked
    /// (in the background; the result comes with [`Auditor::poll`]).
    pub fn on_timeout(&mut self, tx: &Transaction) {
        // This host's kernel dropped every copy: the tracker located it
        // (with the kernel's reason); the shadow's fate would mislead.
        if tx.method != "REGISTER" || tx.dropped_every_copy() || tx.answer_dropped.is_some() {
            return;
        }
        let Some(binding) = self.by_call_id.get(&tx.call_id).cloned() else {
            return;
        };
        let Some((_, id)) = self.last_shadow.get(&binding).cloned() else {
            return;
        };
        if self.pending.get(&id).is_some_and(|p| p.answered) {
            let audit = PathAudit::new(
                tx.first_sent + crate::track::TIMER_B,
                binding,
                id,
                AuditOutcome::TimeoutLocated {
                    leg: Leg::Delivered,
                    evidence: TimeoutEvidence::ShadowAnswered,
                },
            );
            self.record(audit);
            return;
        }
        let Some(query) = self.config.query else {
            return;
        };
        let tx_answers = self.answers.0.clone();
        std::thread::spawn(move || {
            let seen = crate::client::seen(query, &id);
            let _ = tx_answers.send((binding, id, seen));
        });
    }

    /// Collects what the query channel answered since the last call, and
    /// ends the NAT lifetime measures whose next keep-alive is overdue.
    pub fn poll(&mut self, now: SystemTime) {
        self.nat_overdue(now);
        while let Ok(result) = self.tcp_done.1.try_recv() {
            if let Err(why) = result {
                self.counters.send_errors += 1;
                self.send_problem.get_or_insert(why);
            }
        }
        while let Ok((binding, id, shadow, nat_source, request)) = self.withheld.1.try_recv() {
            match request {
                Ok(received) => self.compared(now, binding, id, &shadow, &received, nat_source),
                Err(_) => self.counters.query_errors += 1,
            }
        }
        while let Ok((binding, id, seen)) = self.answers.1.try_recv() {
            let (leg, evidence) = match seen {
                Ok(crate::client::Fate::Arrived) => {
                    (Leg::LostOnTheWayBack, TimeoutEvidence::AnswerNeverArrived)
                }
                Ok(crate::client::Fate::NotArrived) => (
                    Leg::DroppedOnTheWayOut,
                    TimeoutEvidence::NeverReachedTheEcho,
                ),
                // The echo refused the shadow: where the REGISTER was lost
                // is not known from it.
                Ok(crate::client::Fate::Refused(why)) => {
                    (Leg::RefusedByEcho, TimeoutEvidence::QueryFailed(why))
                }
                Err(why) => {
                    self.counters.query_errors += 1;
                    (Leg::NoAnswer, TimeoutEvidence::QueryFailed(why))
                }
            };
            let audit = PathAudit::new(
                now,
                binding,
                id,
                AuditOutcome::TimeoutLocated { leg, evidence },
            );
            self.record(audit);
        }
    }

    /// A keep-alive overdue (its silence, plus slack) ends the measure:
    /// the mapping lived at least the previous silence, less than this one.
    /// All of them arrived: it lived at least the longest.
    fn nat_overdue(&mut self, now: SystemTime) {
        let gaps = self.config.keepalive_gaps.clone();
        let mut ended = Vec::new();
        for (id, w) in &self.nat {
            let silent = now.duration_since(w.last).unwrap_or_default();
            let outcome = match gaps.get(w.arrived) {
                Some(&gap) if silent > Duration::from_secs(gap + KEEPALIVE_SLACK_S) => {
                    AuditOutcome::NatLifetime {
                        at_least_s: w.arrived.checked_sub(1).map_or(0, |i| gaps[i]),
                        less_than_s: Some(gap),
                        refresh_s: w.refresh_s,
                    }
                }
                None => AuditOutcome::NatLifetime {
                    at_least_s: gaps.last().copied().unwrap_or(0),
                    less_than_s: None,
                    refresh_s: w.refresh_s,
                },
                Some(_) => continue,
            };
            ended.push((id.clone(), w.binding.clone(), outcome));
        }
        for (id, binding, outcome) in ended {
            self.nat.remove(&id);
            self.record(PathAudit::new(now, binding, id, outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(n: usize) -> BindingKey {
        BindingKey {
            registrar: "sip:203.0.113.2".into(),
            aor: format!("sip:{n}@203.0.113.2"),
            contact: format!("sip:{n}@192.168.77.10:5060"),
        }
    }

    /// Nothing is sent here: the auditor's tables alone.
    #[test]
    fn a_full_binding_table_forgets_its_oldest_eighth_and_counts_them() {
        let mut a = Auditor::new(AuditConfig::new("203.0.113.20:5060".parse().unwrap(), None));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for n in 0..MAX_BINDINGS {
            let at = t0 + Duration::from_secs(n as u64);
            a.last_shadow.insert(binding(n), (at, format!("id-{n}")));
            a.by_call_id.insert(format!("call-{n}"), binding(n));
        }
        a.forget_oldest_bindings();
        let forgotten = MAX_BINDINGS / 8;
        assert_eq!(a.counters().bindings_forgotten, forgotten as u64);
        assert_eq!(a.last_shadow.len(), MAX_BINDINGS - forgotten);
        assert!(!a.last_shadow.contains_key(&binding(0)));
        assert!(a.last_shadow.contains_key(&binding(MAX_BINDINGS - 1)));
        assert!(!a.by_call_id.contains_key("call-0"));
        assert_eq!(a.by_call_id.len(), MAX_BINDINGS - forgotten);
    }
}
