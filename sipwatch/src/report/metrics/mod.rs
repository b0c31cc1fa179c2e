//! `attach --metrics ADDR`: Prometheus metrics of the registrations, their
//! failures, the path audit and the capture, served over HTTP for a
//! scraper (names after Prometheus's conventions: `sipwatch_` prefix,
//! `_total` counters, base units).
//!
//! Counts that come from the stream (responses, timeouts, ICMP errors,
//! audit findings) are counted as they pass; states (registrations, the
//! kernel's and the audit's counters) are read again on every tick, so a
//! scrape is at most a second behind.
//!
//! Attempts, failures by code and diagnosis, and request delays are the
//! tracker's monotonic tallies ([`crate::track::Tally`]), never counted
//! from events (which are rate-limited). Per-binding series are bounded by
//! [`MAX_BINDINGS`] (see [`bindings`]). Every metric is listed in
//! docs/audit.md.
mod bindings;
mod delay;
mod serve;

use std::{
    collections::{HashMap, HashSet},
    io::{self, Write},
    sync::Arc,
    time::SystemTime,
};

pub use bindings::MAX_BINDINGS;
use bindings::{BindingLabels, Slots};
use delay::DelayHistogram;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
pub use serve::{MetricsError, serve};

use super::{Output, RunEnd, Snapshot};
use crate::{
    audit::{AuditOutcome, PathAudit},
    net::IcmpError,
    sip::{Message, ParsedMessage},
    track::{AttemptEnd, BindingKey, Event, FailureKey, NextMove, RegistrationState, Tally},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    code: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OfLabel {
    of: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LegLabel {
    leg: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: String,
    way: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HepToLabel {
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HepDropLabels {
    to: String,
    reason: String,
}

/// The `--hep` sender's counters, registered with the other metrics and
/// moved by the sender's output ([`super::HepOutput`]).
#[derive(Clone, Debug, Default)]
pub struct HepMetrics {
    sent: Family<HepToLabel, Counter>,
    dropped: Family<HepDropLabels, Counter>,
}

impl HepMetrics {
    /// `n` more packets handed to the socket towards `to` (`tcp:homer:9061`).
    pub fn sent(&self, to: &str, n: u64) {
        self.sent
            .get_or_create(&HepToLabel { to: to.to_owned() })
            .inc_by(n);
    }

    /// `n` more packets towards `to` not sent, for `reason` (`queue_full`,
    /// `send_failed`, `too_large`).
    pub fn dropped(&self, to: &str, reason: &str, n: u64) {
        self.dropped
            .get_or_create(&HepDropLabels {
                to: to.to_owned(),
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: String,
}

/// A kind's name as JSON writes it (`address_rewritten`,
/// `port_unreachable`), the one vocabulary for labels too.
fn label(kind: impl serde::Serialize) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".into())
}

/// Every state a registration can be in, so that each is exported (0 too).
const STATES: [&str; 6] = [
    "request_sent",
    "registered",
    "rejected",
    "timeout",
    "unregistered",
    "expired",
];

fn state_name(s: &RegistrationState) -> &'static str {
    match s {
        RegistrationState::RequestSent => "request_sent",
        RegistrationState::Registered { .. } => "registered",
        RegistrationState::Rejected { .. } => "rejected",
        RegistrationState::Timeout => "timeout",
        RegistrationState::Unregistered => "unregistered",
        RegistrationState::Expired => "expired",
    }
}

/// The metrics, and the registry a scrape encodes.
pub struct Metrics {
    registry: Arc<Registry>,
    registrations: Family<StateLabel, Gauge>,
    registered: Family<BindingLabels, Gauge>,
    last_code: Family<BindingLabels, Gauge>,
    /// Failed attempts in the binding's current run of failures.
    failures: Family<BindingLabels, Gauge>,
    /// 1 while the PBX has given up on the binding, by its own rules.
    given_up: Family<BindingLabels, Gauge>,
    register_responses: Family<CodeLabel, Counter>,
    timeouts: Family<MethodLabel, Counter>,
    icmp: Family<KindLabel, Counter>,
    path_findings: Family<KindLabel, Counter>,
    path_timeouts: Family<LegLabel, Counter>,
    kernel_drops: Family<DropLabels, Counter>,
    alg_bindings: Gauge,
    alg: Family<BindingLabels, Gauge>,
    nat_lifetime_min: Family<BindingLabels, Gauge>,
    nat_lifetime_max: Family<BindingLabels, Gauge>,
    active: Gauge,
    next_attempt: Family<BindingLabels, Gauge>,
    attempts: Family<OutcomeLabel, Counter>,
    failures_by: Family<FailureLabels, Counter>,
    delay: DelayHistogram,
    retransmissions: Family<OfLabel, Counter>,
    register_retransmissions: Counter,
    /// What each binding's audits last showed, kept until a later audit
    /// of the same binding says otherwise.
    path: HashMap<BindingKey, PathSeen>,
    slots: Slots,
    shadows_sent: Counter,
    shadows_answered: Counter,
    packets_seen: Family<DirectionLabel, Counter>,
    packets_copied: Family<DirectionLabel, Counter>,
    packets_lost: Family<DirectionLabel, Counter>,
    hep: HepMetrics,
    /// HEP packets by what became of them (`taken`, a refusal's name).
    hep_packets: Family<OutcomeLabel, Counter>,
    /// HEP TCP connections, `accepted` or `refused`.
    hep_connections: Family<OutcomeLabel, Counter>,
    /// TLS sessions ended, by outcome.
    tls_sessions: Family<OutcomeLabel, Counter>,
    /// The last totals read, so that counters move by the difference.
    last: Totals,
}

/// What the path audit last showed of one binding.
#[derive(Clone, Copy, Debug, Default)]
struct PathSeen {
    /// The latest comparison found a SIP ALG (None: none compared yet).
    alg: Option<bool>,
    /// The NAT's mapping lifetime bounds, seconds.
    nat_min_s: Option<u64>,
    nat_max_s: Option<u64>,
}

#[derive(Default)]
struct Totals {
    tally: Tally,
    retransmissions: [u64; 2],
    shadows_sent: u64,
    shadows_answered: u64,
    seen: [u64; 2],
    copied: [u64; 2],
    lost: [u64; 2],
    /// HEP counts by metric and outcome.
    hep: std::collections::HashMap<(&'static str, &'static str), u64>,
    /// TLS session counts by outcome.
    tls: std::collections::HashMap<&'static str, u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        Metrics::with_max_bindings(MAX_BINDINGS)
    }

    /// As [`Metrics::new`], with labels of their own for at most `max`
    /// registrations.
    pub fn with_max_bindings(max: usize) -> Metrics {
        let mut r = Registry::with_prefix("sipwatch");
        let m = Metrics {
            // Shared once every metric is registered in `r`, below.
            registry: Arc::new(Registry::default()),
            registrations: Family::default(),
            registered: Family::default(),
            last_code: Family::default(),
            failures: Family::default(),
            given_up: Family::default(),
            register_responses: Family::default(),
            timeouts: Family::default(),
            icmp: Family::default(),
            path_findings: Family::default(),
            path_timeouts: Family::default(),
            kernel_drops: Family::default(),
            alg_bindings: Gauge::default(),
            alg: Family::default(),
            active: Gauge::default(),
            next_attempt: Family::default(),
            attempts: Family::default(),
            failures_by: Family::default(),
            delay: DelayHistogram::default(),
            retransmissions: Family::default(),
            register_retransmissions: Counter::default(),
            path: HashMap::new(),
            slots: Slots::new(max),
            nat_lifetime_min: Family::default(),
            nat_lifetime_max: Family::default(),
            shadows_sent: Counter::default(),
            shadows_answered: Counter::default(),
            packets_seen: Family::default(),
            packets_copied: Family::default(),
            packets_lost: Family::default(),
            hep: HepMetrics::default(),
            hep_packets: Family::default(),
            hep_connections: Family::default(),
            tls_sessions: Family::default(),
            last: Totals::default(),
        };
        r.register(
            "registrations",
            "Registrations (bindings) by state",
            m.registrations.clone(),
        );
        r.register(
            "registration_registered",
            "1 while the registration (registrar, AOR, Contact) is registered, else 0",
            m.registered.clone(),
        );
        r.register(
            "registration_last_code",
            "The last final response code to the registration's REGISTER (408: no answer)",
            m.last_code.clone(),
        );
        r.register(
            "registration_consecutive_failures",
            "Failed attempts in the registration's current run of failures (0 once it succeeds)",
            m.failures.clone(),
        );
        r.register(
            "registration_given_up",
            "1 while the PBX has given up on the registration by its own retry rules (Asterisk: until `pjsip send register` or a reload), else 0",
            m.given_up.clone(),
        );
        r.register(
            "register_responses",
            "Final responses to REGISTERs, by status code",
            m.register_responses.clone(),
        );
        r.register(
            "timeouts",
            "Requests with no final response by Timer B/F (the PBX's 408), by method",
            m.timeouts.clone(),
        );
        r.register(
            "icmp_errors",
            "ICMP errors quoting SIP packets, by kind",
            m.icmp.clone(),
        );
        r.register(
            "path_findings",
            "Changes the path made to the PBX's REGISTERs (attach --echo), by kind",
            m.path_findings.clone(),
        );
        r.register(
            "path_timeouts",
            "REGISTER timeouts located, by leg: by the path audit, or on this host by the kernel's drops",
            m.path_timeouts.clone(),
        );
        r.register(
            "kernel_drops",
            "SIP packets this host's own kernel dropped (firewall, no socket, full socket buffer), by the kernel's reason and which way they were going",
            m.kernel_drops.clone(),
        );
        r.register(
            "path_alg_registrations",
            "Registrations whose REGISTER a SIP ALG rewrites, by each one's latest comparison (attach --echo)",
            m.alg_bindings.clone(),
        );
        r.register(
            "path_alg",
            "1 while the registration's latest comparison (attach --echo) found a SIP ALG rewriting its REGISTER, 0 once one found none",
            m.alg.clone(),
        );
        r.register(
            "registrations_active",
            "Registrations the registrar holds now (registered, grant not lapsed)",
            m.active.clone(),
        );
        r.register(
            "registration_next_attempt_timestamp_seconds",
            "When the PBX sends its next REGISTER for the registration (refresh or retry), by its own rules, Unix time; absent while it has given up or nothing predicts it",
            m.next_attempt.clone(),
        );
        r.register(
            "registration_attempts",
            "Concluded REGISTER attempts (a challenge answered is part of its attempt), by outcome: registered, rejected, no_answer, abandoned_challenge, unregistered, queried",
            m.attempts.clone(),
        );
        r.register(
            "registration_failures",
            "Failed registrations and refreshes, by the code the PBX shows (408: no answer) and the kind of diagnosis that explains it",
            m.failures_by.clone(),
        );
        r.register(
            "registration_request_delay_seconds",
            "Registration request delay (RFC 6076 4.1): from an attempt's first REGISTER to its 2xx, successful attempts only",
            m.delay.clone(),
        );
        r.register(
            "retransmissions",
            "SIP retransmissions seen (every method), of requests or of final responses",
            m.retransmissions.clone(),
        );
        r.register(
            "register_retransmissions",
            "REGISTERs retransmitted (sent again before any final answer: lost on the way or answered late)",
            m.register_retransmissions.clone(),
        );
        r.register(
            "metrics_bindings_folded",
            "Registrations beyond the first 1000 tracked, whose per-registration series are summed into registrar=\"other\" (each counted once while it stays tracked)",
            m.slots.folded_total.clone(),
        );
        r.register(
            "nat_mapping_lifetime_min_seconds",
            "The NAT kept the registration's UDP mapping at least this long without traffic",
            m.nat_lifetime_min.clone(),
        );
        r.register(
            "nat_mapping_lifetime_max_seconds",
            "The NAT forgot the registration's UDP mapping within this long without traffic",
            m.nat_lifetime_max.clone(),
        );
        r.register(
            "shadows_sent",
            "Shadow REGISTERs sent to the echo",
            m.shadows_sent.clone(),
        );
        r.register(
            "shadows_answered",
            "Shadow REGISTERs the echo answered",
            m.shadows_answered.clone(),
        );
        r.register(
            "packets_seen",
            "Packets the kernel hooks saw, by direction",
            m.packets_seen.clone(),
        );
        r.register(
            "packets_copied",
            "SIP packets copied to sipwatch, by direction",
            m.packets_copied.clone(),
        );
        r.register(
            "packets_lost",
            "SIP packets selected but lost (ring buffer full, read errors), by direction",
            m.packets_lost.clone(),
        );
        r.register(
            "hep_packets_sent",
            "HEP packets handed to the socket towards each --hep receiver",
            m.hep.sent.clone(),
        );
        r.register(
            "hep_packets_dropped",
            "HEP packets not sent to a --hep receiver, by reason: queue_full (the receiver or network slower than the capture), send_failed (refused, or TCP not connected), too_large (over 65,507 bytes)",
            m.hep.dropped.clone(),
        );
        r.register(
            "hep_packets",
            "HEP packets received (hep-listen, attach --hep-listen), by outcome: taken, or why refused (not_hep, wrong_password, inflates_too_large…, too_many_agents, socket_full)",
            m.hep_packets.clone(),
        );
        r.register(
            "hep_connections",
            "HEP TCP connections: accepted, refused (too many open), or closed_silent (silent a minute, closed for a new one)",
            m.hep_connections.clone(),
        );
        r.register(
            "tls_sessions",
            "TLS sessions ended, by outcome: decrypted, not_decrypted (no key, a wrong key, a cipher not supported…), handshake_failed, evicted (over 4,096 open at once)",
            m.tls_sessions.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// The `--hep` sender's counters, for its output to move.
    pub fn hep(&self) -> HepMetrics {
        self.hep.clone()
    }

    /// The registry, for [`serve`].
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// The metrics as a scrape gets them (OpenMetrics text).
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }

    fn refresh(&mut self, now: &Snapshot<'_>) {
        self.registrations.clear();
        for s in STATES {
            self.registrations
                .get_or_create(&StateLabel { state: s.into() })
                .set(0);
        }
        self.registered.clear();
        self.last_code.clear();
        self.failures.clear();
        self.given_up.clear();
        self.next_attempt.clear();
        self.alg.clear();
        self.nat_lifetime_min.clear();
        self.nat_lifetime_max.clear();
        let regs = now.tracker.registrations();
        let tracked: HashSet<&BindingKey> = regs.iter().map(|r| &r.key).collect();
        self.slots.retain(&tracked);
        self.path.retain(|k, _| tracked.contains(k));
        let mut active = 0;
        for r in &regs {
            let state = r.state();
            self.registrations
                .get_or_create(&StateLabel {
                    state: state_name(&state).into(),
                })
                .inc();
            let registered = matches!(state, RegistrationState::Registered { .. });
            active += i64::from(registered);
            let next = r.next_move();
            let failures = r.failures.map_or(0, |f| i64::from(f.count));
            let given_up = i64::from(matches!(next, NextMove::GivesUp { .. }));
            let Some(labels) = self.slots.labels(&r.key) else {
                // Folded: the counts add up in `other`; a code, a time or
                // a NAT lifetime of many bindings means nothing.
                let other = BindingLabels::other();
                self.registered
                    .get_or_create(&other)
                    .inc_by(i64::from(registered));
                self.failures.get_or_create(&other).inc_by(failures);
                self.given_up.get_or_create(&other).inc_by(given_up);
                continue;
            };
            self.registered
                .get_or_create(&labels)
                .set(i64::from(registered));
            if let Some(code) = r.last_code {
                self.last_code.get_or_create(&labels).set(i64::from(code));
            }
            self.failures.get_or_create(&labels).set(failures);
            self.given_up.get_or_create(&labels).set(given_up);
            if let Some(at) = next_attempt(&next) {
                self.next_attempt.get_or_create(&labels).set(unix_s(at));
            }
            if let Some(seen) = self.path.get(&r.key) {
                if let Some(alg) = seen.alg {
                    self.alg.get_or_create(&labels).set(i64::from(alg));
                }
                if let Some(min) = seen.nat_min_s {
                    self.nat_lifetime_min
                        .get_or_create(&labels)
                        .set(i64::try_from(min).unwrap_or(i64::MAX));
                }
                if let Some(max) = seen.nat_max_s {
                    self.nat_lifetime_max
                        .get_or_create(&labels)
                        .set(i64::try_from(max).unwrap_or(i64::MAX));
                }
            }
        }
        self.active.set(active);
        self.alg_bindings
            .set(self.path.values().filter(|p| p.alg == Some(true)).count() as i64);
        self.count_attempts(now.tracker.tally());
        let stats = now.tracker.stats();
        for (i, (of, n)) in [
            ("request", stats.retransmissions),
            ("response", stats.response_retransmissions),
        ]
        .into_iter()
        .enumerate()
        {
            self.retransmissions
                .get_or_create(&OfLabel { of: of.into() })
                .inc_by(n.saturating_sub(self.last.retransmissions[i]));
            self.last.retransmissions[i] = n;
        }
        if let Some(audit) = now.audit {
            let c = audit.counters();
            self.shadows_sent
                .inc_by(c.shadows_sent.saturating_sub(self.last.shadows_sent));
            self.shadows_answered.inc_by(
                c.shadows_answered
                    .saturating_sub(self.last.shadows_answered),
            );
            self.last.shadows_sent = c.shadows_sent;
            self.last.shadows_answered = c.shadows_answered;
        }
        if let Some(t) = &now.hep {
            self.refresh_hep(t);
        }
        self.refresh_tls(&now.tls);
        if let Some(k) = now.kernel {
            for (i, (name, d)) in [("in", &k.ingress), ("out", &k.egress)]
                .into_iter()
                .enumerate()
            {
                let label = DirectionLabel {
                    direction: name.into(),
                };
                let bump =
                    |family: &Family<DirectionLabel, Counter>, last: &mut u64, value: u64| {
                        family
                            .get_or_create(&label)
                            .inc_by(value.saturating_sub(*last));
                        *last = value;
                    };
                bump(&self.packets_seen, &mut self.last.seen[i], d.seen);
                bump(&self.packets_copied, &mut self.last.copied[i], d.copied);
                bump(&self.packets_lost, &mut self.last.lost[i], d.lost());
            }
        }
    }
}

impl Metrics {
    /// HEP counters moved on by what the listener counted since.
    fn refresh_hep(&mut self, t: &crate::hep::tally::Tally) {
        let mut packets = vec![
            ("taken", t.taken),
            ("too_many_agents", t.agents_refused),
            ("socket_full", t.socket_drops),
        ];
        packets.extend(t.refused.iter().map(|(why, n)| (why.name(), n)));
        let connections = [
            ("accepted", t.connections),
            ("refused", t.connections_refused),
            ("closed_silent", t.connections_silent),
        ];
        let families = [
            ("packets", &self.hep_packets, &packets[..]),
            ("connections", &self.hep_connections, &connections[..]),
        ];
        for (metric, family, counts) in families {
            for &(outcome, n) in counts {
                let last = self.last.hep.entry((metric, outcome)).or_default();
                family
                    .get_or_create(&OutcomeLabel {
                        outcome: outcome.into(),
                    })
                    .inc_by(n.saturating_sub(*last));
                *last = n;
            }
        }
    }

    fn refresh_tls(&mut self, t: &crate::tls::TlsCounts) {
        for (outcome, n) in [
            ("decrypted", t.decrypted),
            ("not_decrypted", t.unreadable),
            ("handshake_failed", t.failed),
            ("evicted", t.evicted),
        ] {
            let last = self.last.tls.entry(outcome).or_default();
            self.tls_sessions
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.into(),
                })
                .inc_by(n.saturating_sub(*last));
            *last = n;
        }
    }

    /// Moves the attempt counters and the delay histogram to `tally`.
    fn count_attempts(&mut self, tally: Tally) {
        for end in AttemptEnd::ALL {
            let n = tally.attempts.get(&end).copied().unwrap_or(0);
            let before = self.last.tally.attempts.get(&end).copied().unwrap_or(0);
            self.attempts
                .get_or_create(&OutcomeLabel {
                    outcome: label(end),
                })
                .inc_by(n.saturating_sub(before));
        }
        for (FailureKey { code, kind }, n) in &tally.failures {
            let before = self
                .last
                .tally
                .failures
                .get(&FailureKey {
                    code: *code,
                    kind: kind.clone(),
                })
                .copied()
                .unwrap_or(0);
            self.failures_by
                .get_or_create(&FailureLabels {
                    code: code.to_string(),
                    kind: kind.clone(),
                })
                .inc_by(n.saturating_sub(before));
        }
        self.delay.set(tally.delays);
        self.register_retransmissions.inc_by(
            tally
                .register_retransmissions
                .saturating_sub(self.last.tally.register_retransmissions),
        );
        self.last.tally = tally;
    }
}

/// `registry` as a scrape gets it (OpenMetrics text): what
/// [`Metrics::registry`] holds, after the metrics went into a pipeline.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// When the PBX sends its next REGISTER, if its rules or the wire say.
fn next_attempt(next: &NextMove) -> Option<SystemTime> {
    match next {
        NextMove::Refreshes { at, .. } | NextMove::RetriesAt { at, .. } => Some(*at),
        NextMove::ConfigDiffers { next_at, .. } => *next_at,
        NextMove::GivesUp { .. } | NextMove::Unknown => None,
    }
}

/// `at` as Unix time, seconds.
fn unix_s(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Output for Metrics {
    fn message(
        &mut self,
        _out: &mut dyn Write,
        _m: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        if let Some(p) = parsed
            && let (Some(code), Some(cseq)) = (p.status(), p.cseq())
            && code >= 200
            && cseq.method == "REGISTER"
        {
            self.register_responses
                .get_or_create(&CodeLabel {
                    code: code.to_string(),
                })
                .inc();
        }
        Ok(())
    }

    fn icmp(&mut self, _out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        let kind = label(e.kind);
        self.icmp.get_or_create(&KindLabel { kind }).inc();
        Ok(())
    }

    fn event(&mut self, _out: &mut dyn Write, e: &Event) -> io::Result<()> {
        if let Event::Timeout(tx) = e {
            self.timeouts
                .get_or_create(&MethodLabel {
                    method: tx.method.clone(),
                })
                .inc();
            // Located by the capture alone: this host dropped every copy.
            let here = if tx.dropped_every_copy() {
                Some(crate::net::Leg::DroppedOnThisHost)
            } else if tx.answer_dropped.is_some() {
                Some(crate::net::Leg::AnswerDroppedOnThisHost)
            } else {
                None
            };
            if let Some(leg) = here.filter(|_| tx.method == "REGISTER") {
                let leg = label(leg);
                self.path_timeouts.get_or_create(&LegLabel { leg }).inc();
            }
        }
        Ok(())
    }

    fn kernel_drop(
        &mut self,
        _out: &mut dyn Write,
        d: &crate::net::DroppedPacket,
    ) -> io::Result<()> {
        let labels = DropLabels {
            reason: d.drop.reason.clone().unwrap_or_else(|| "unknown".into()),
            way: label(d.drop.way),
        };
        self.kernel_drops.get_or_create(&labels).inc();
        Ok(())
    }

    fn audit(&mut self, _out: &mut dyn Write, a: &PathAudit) -> io::Result<()> {
        match &a.outcome {
            AuditOutcome::Compared { findings, alg, .. } => {
                self.path.entry(a.binding.clone()).or_default().alg = Some(*alg);
                for f in findings {
                    let kind = label(f.kind);
                    self.path_findings.get_or_create(&KindLabel { kind }).inc();
                }
            }
            AuditOutcome::NatLifetime {
                at_least_s,
                less_than_s,
                ..
            } => {
                // Shown from the next tick, with the binding's labels.
                let seen = self.path.entry(a.binding.clone()).or_default();
                seen.nat_min_s = Some(*at_least_s);
                seen.nat_max_s = *less_than_s;
            }
            AuditOutcome::TimeoutLocated { leg, .. } => {
                let leg = label(leg);
                self.path_timeouts.get_or_create(&LegLabel { leg }).inc();
            }
        }
        Ok(())
    }

    fn tick(&mut self, _out: &mut dyn Write, now: &Snapshot<'_>) -> io::Result<()> {
        self.refresh(now);
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
        self.refresh(&Snapshot {
            tracker: end.tracker,
            audit: end.audit,
            kernel: end.live.then_some(end.summary.kernel),
            hep: end.hep.copied(),
            tls: end.summary.pipeline.assembly.tls,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{net::Transport, track::Tracker};

    const BINDING: &str = "registrar=\"sip:203.0.113.2\",aor=\"sip:trunk@203.0.113.2\",contact=\"sip:trunk@192.168.77.10:5060\"";

    /// REGISTER number `n` of the trunk at `t` s, and its answer `status`
    /// (`403 Forbidden`) `delay_ms` later.
    fn exchange(tracker: &mut Tracker, n: u32, t: u64, status: &str, delay_ms: u64) {
        let register = format!(
            "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{n}\r\n\
             From: <sip:trunk@203.0.113.2>;tag=f{n}\r\nTo: <sip:trunk@203.0.113.2>\r\nCall-ID: c\r\nCSeq: {n} REGISTER\r\n\
             Contact: <sip:trunk@192.168.77.10:5060>\r\nExpires: 300\r\nUser-Agent: Asterisk PBX 22.0.0\r\nContent-Length: 0\r\n\r\n"
        );
        let answer = format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{n}\r\n\
             From: <sip:trunk@203.0.113.2>;tag=f{n}\r\nTo: <sip:trunk@203.0.113.2>;tag=t\r\nCall-ID: c\r\nCSeq: {n} REGISTER\r\n\
             Contact: <sip:trunk@192.168.77.10:5060>;expires=300\r\nContent-Length: 0\r\n\r\n"
        );
        let request = Message {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + t),
            direction: None,
            transport: Transport::Udp,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5060".parse().unwrap(),
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            origin: crate::sip::Origin::CaptureFile,
            bytes: register.into_bytes(),
        };
        let answer = Message {
            timestamp: request.timestamp + Duration::from_millis(delay_ms),
            src: request.dst,
            dst: request.src,
            bytes: answer.into_bytes(),
            ..request.clone()
        };
        let mut events = Vec::new();
        tracker.push(&request.parsed(), &mut events);
        tracker.push(&answer.parsed(), &mut events);
    }

    fn scrape(m: &mut Metrics, tracker: &Tracker) -> String {
        m.refresh(&Snapshot {
            tracker,
            audit: None,
            kernel: None,
            hep: None,
            tls: Default::default(),
        });
        m.encode()
    }

    fn has(text: &str, sample: &str) {
        assert!(
            text.lines().any(|l| l == sample),
            "no `{sample}` in\n{text}"
        );
    }

    #[test]
    fn the_failure_count_and_a_pbx_that_gave_up_are_exported_per_binding() {
        let mut tracker = Tracker::default();
        exchange(&mut tracker, 1, 0, "403 Forbidden", 20);
        let text = scrape(&mut Metrics::new(), &tracker);
        has(
            &text,
            &format!("sipwatch_registration_consecutive_failures{{{BINDING}}} 1"),
        );
        has(
            &text,
            &format!("sipwatch_registration_given_up{{{BINDING}}} 1"),
        );
    }

    #[test]
    fn attempts_failures_and_request_delays_are_counted_once_each_however_often_scraped() {
        let mut tracker = Tracker::default();
        let mut m = Metrics::new();
        exchange(&mut tracker, 1, 0, "403 Forbidden", 20);
        scrape(&mut m, &tracker);
        exchange(&mut tracker, 2, 60, "200 OK", 40);
        scrape(&mut m, &tracker);
        let text = scrape(&mut m, &tracker);
        has(
            &text,
            "sipwatch_registration_attempts_total{outcome=\"registered\"} 1",
        );
        has(
            &text,
            "sipwatch_registration_attempts_total{outcome=\"rejected\"} 1",
        );
        has(
            &text,
            "sipwatch_registration_attempts_total{outcome=\"no_answer\"} 0",
        );
        has(
            &text,
            "sipwatch_registration_failures_total{code=\"403\",kind=\"forbidden\"} 1",
        );
        has(&text, "sipwatch_registration_request_delay_seconds_count 1");
        has(
            &text,
            "sipwatch_registration_request_delay_seconds_sum 0.04",
        );
        has(
            &text,
            "sipwatch_registration_request_delay_seconds_bucket{le=\"0.025\"} 0",
        );
        has(
            &text,
            "sipwatch_registration_request_delay_seconds_bucket{le=\"0.05\"} 1",
        );
        has(&text, "sipwatch_registrations_active 1");
        // Refreshed by Asterisk's rule: 300 s granted, less its margin.
        assert!(
            text.contains(&format!(
                "sipwatch_registration_next_attempt_timestamp_seconds{{{BINDING}}} 17000"
            )),
            "{text}"
        );
    }

    #[test]
    fn hep_packets_are_exported_by_outcome_and_move_by_the_difference() {
        use crate::hep::{decode::Refusal, tally::Tally};
        let tracker = Tracker::default();
        let mut m = Metrics::new();
        let mut t = Tally {
            taken: 3,
            connections: 1,
            ..Tally::default()
        };
        t.refused.count(Refusal::WrongPassword);
        let snapshot = |t: Tally| Snapshot {
            tracker: &tracker,
            audit: None,
            kernel: None,
            hep: Some(t),
            tls: Default::default(),
        };
        m.refresh(&snapshot(t));
        t.taken = 5;
        m.refresh(&snapshot(t));
        let text = m.encode();
        for line in [
            "sipwatch_hep_packets_total{outcome=\"taken\"} 5",
            "sipwatch_hep_packets_total{outcome=\"wrong_password\"} 1",
            "sipwatch_hep_connections_total{outcome=\"accepted\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn tls_sessions_are_counted_by_outcome_as_they_end() {
        let tracker = Tracker::default();
        let mut m = Metrics::new();
        let snapshot = |tls| Snapshot {
            tracker: &tracker,
            audit: None,
            kernel: None,
            hep: None,
            tls,
        };
        let mut tls = crate::tls::TlsCounts {
            sessions: 3,
            decrypted: 1,
            unreadable: 1,
            failed: 1,
            ..Default::default()
        };
        m.refresh(&snapshot(tls));
        tls.decrypted = 4;
        m.refresh(&snapshot(tls));
        let text = m.encode();
        for line in [
            "sipwatch_tls_sessions_total{outcome=\"decrypted\"} 4",
            "sipwatch_tls_sessions_total{outcome=\"not_decrypted\"} 1",
            "sipwatch_tls_sessions_total{outcome=\"handshake_failed\"} 1",
            "sipwatch_tls_sessions_total{outcome=\"evicted\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn an_alg_found_stays_until_a_later_comparison_of_that_binding_finds_none() {
        let mut tracker = Tracker::default();
        exchange(&mut tracker, 1, 0, "200 OK", 20);
        let key = tracker.registrations()[0].key.clone();
        let at = SystemTime::UNIX_EPOCH;
        let audit = |outcome| PathAudit::new(at, key.clone(), "shadow-1".into(), outcome);
        let compared = |alg| {
            audit(AuditOutcome::Compared {
                nat_source: None,
                findings: Vec::new(),
                alg,
            })
        };
        let mut m = Metrics::new();
        let out = &mut io::sink();
        m.audit(out, &compared(true)).unwrap();
        m.audit(
            out,
            &audit(AuditOutcome::NatLifetime {
                at_least_s: 20,
                less_than_s: Some(40),
                refresh_s: Some(300),
            }),
        )
        .unwrap();
        let text = scrape(&mut m, &tracker);
        has(&text, &format!("sipwatch_path_alg{{{BINDING}}} 1"));
        has(&text, "sipwatch_path_alg_registrations 1");
        has(
            &text,
            &format!("sipwatch_nat_mapping_lifetime_max_seconds{{{BINDING}}} 40"),
        );
        m.audit(out, &compared(false)).unwrap();
        let text = scrape(&mut m, &tracker);
        has(&text, &format!("sipwatch_path_alg{{{BINDING}}} 0"));
        has(&text, "sipwatch_path_alg_registrations 0");
    }

    #[test]
    fn registrations_past_the_cap_are_summed_into_other_and_counted() {
        let mut tracker = Tracker::default();
        exchange(&mut tracker, 1, 0, "200 OK", 20);
        let mut m = Metrics::with_max_bindings(0);
        let text = scrape(&mut m, &tracker);
        has(
            &text,
            "sipwatch_registration_registered{registrar=\"other\",aor=\"other\",contact=\"other\"} 1",
        );
        has(&text, "sipwatch_metrics_bindings_folded_total 1");
        assert!(!text.contains("sip:trunk@"), "{text}");
    }
}
