//! Transactions, registrations and diagnosis: from SIP messages to "why is
//! this trunk not registered?", live or from a capture.
//!
//! Time is the messages' own (capture time), so a file analysed tomorrow
//! gives the same answers as the live capture did; [`Tracker::tick`] moves it
//! on when nothing is seen.
//!
//! The parts: [`transaction`](Transaction) matches requests with answers
//! and fires Timer F; each binding ([`Registration`]) holds what the
//! registrar granted, the [`Attempt`] in flight, its last [`Outcome`] and
//! the [`FailureRun`] only a success ends; a [`Diagnosis`] says why, with its
//! evidence, as data. The tracker decides and never words: every sentence
//! about what it decided is in [`crate::say`], which reads these types;
//! what it knows about PBXs (recognition, retry rules, defaults) is in
//! [`crate::pbx`]. Evidence from below SIP (ICMP errors, TCP connection
//! faults, first fragments of datagrams that never completed) is attached to the transaction or binding it is about
//! ([`Tracker::push_icmp`], [`Tracker::push_connection`],
//! [`Tracker::push_fragment_head`]), so that a path fault is named for
//! what it is rather than read as a timeout or a missing password.
mod attempt;
pub mod config_match;
mod contacts;
mod continuity;
mod diagnosis;
mod digest;
mod evidence;
mod failover;
mod nat;
mod next_move;
mod one_way;
pub mod password;
mod path;
mod record;
mod registration;
mod state;
mod storm;
mod tally;
mod transaction;

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasherDefault, RandomState},
    time::{Duration, SystemTime},
};

pub use crate::pbx::PbxKind;
pub use crate::pbx::asterisk::has_sha256 as asterisk_has_sha256;
pub use attempt::{Attempt, Outcome, Purpose};
pub use contacts::{ContactsKept, Relation, ReturnedContact, Rewriter};
pub use continuity::{Continuity, Gap};
pub use diagnosis::{AlgSignKind, ChallengeKind, Diagnosis, DroppedHere, GrantSeen, Side};
pub use digest::DigestAlgorithm;
pub use evidence::{IcmpSeen, MAX_CONNECTION_FAULTS};
pub use nat::{is_private, same_link};
pub use next_move::{Deviation, NextMove, PbxShows, Revival, Rule, Situation, next_move};
pub use one_way::ActedOn;
pub use path::UDP_REQUEST_LIMIT;
pub use record::{EndedBy, FailureRecord, FinalAnswer, Streak};
pub use registration::{
    BindingKey, DEFAULT_EXPIRES, QUERY_CONTACT, REPEAT_EVENT_EVERY, Registration, UNSENT_AOR,
    registrar_identity,
};
use serde::Serialize;
pub use state::{FailureRun, Grant, LastOutcome, RegistrationState};
pub use storm::{BURST_WINDOW, Pace, RetryStorm};
pub use tally::{AttemptEnd, DelayBuckets, FailureKey, RRD_BUCKETS_S, Tally};
pub use transaction::{
    FinalResponse, KeyHasher, T1, TIMER_B, TIMER_C, Transaction, TransactionKey, TransactionState,
};

use crate::sip::ParsedMessage;

/// Bounds on tracked state, so that a flood cannot grow memory.
#[derive(Clone, Copy, Debug)]
pub struct TrackLimits {
    /// Transactions tracked at once (default 50 000): beyond it the oldest is
    /// dropped, counted in [`TrackStats::transactions_evicted`] if unanswered.
    pub max_transactions: usize,
    /// Bindings tracked at once (default 20 000): beyond it the oldest is
    /// dropped, counted in [`TrackStats::registrations_evicted`].
    pub max_registrations: usize,
}

impl Default for TrackLimits {
    fn default() -> Self {
        Self {
            max_transactions: 50_000,
            max_registrations: 20_000,
        }
    }
}

/// What the tracker has counted since it started: the `tracking` object of
/// the JSON summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrackStats {
    /// Requests that started a transaction (ACK and retransmissions not counted).
    pub transactions: u64,
    /// Requests seen again for a transaction already tracked (same key).
    pub retransmissions: u64,
    /// Final responses seen again after the first for their transaction.
    pub response_retransmissions: u64,
    /// Transactions without a final response by Timer B / F (32 s).
    pub timeouts: u64,
    /// Responses that match no transaction seen (its request came before the capture).
    pub unmatched_responses: u64,
    /// Unanswered transactions dropped to stay within bounds: their
    /// timeouts cannot be reported. (Answered ones make room silently: only
    /// their late retransmissions go uncounted.)
    pub transactions_evicted: u64,
    /// Bindings dropped to stay within [`TrackLimits::max_registrations`],
    /// oldest first: what they showed is lost.
    pub registrations_evicted: u64,
    /// ICMP errors about SIP attached to the transaction they quote.
    pub icmp_attached: u64,
    /// ICMP errors about SIP that quote no transaction seen.
    pub icmp_unattached: u64,
    /// TCP connection faults forgotten to stay within
    /// [`MAX_CONNECTION_FAULTS`] before any timeout asked for them.
    pub connection_faults_evicted: u64,
    /// SIP messages this host's kernel dropped (live, with the drop tracer).
    pub kernel_drops: u64,
    /// Transactions without any answer in the capture whose sender acted
    /// on one (credentials after a challenge, an ACK, a request in the
    /// dialog) while nothing came back on their flow: the
    /// capture holds one direction only; no timeout is claimed.
    pub answers_not_captured: u64,
}

/// Something worth telling the user as it happens.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A binding whose state or diagnoses changed (or whose failure repeats,
    /// at most every [`REPEAT_EVENT_EVERY`]), as it stands now.
    Registration(Box<Registration>),
    /// A transaction of any method that got no final response by Timer B / F
    /// (32 s): told when the timer fired.
    Timeout(Box<Transaction>),
}

impl Event {
    /// When it happened: a timeout when Timer F fired, a registration at
    /// its last change.
    pub fn at(&self) -> SystemTime {
        match self {
            Event::Registration(r) => r.last_change,
            Event::Timeout(tx) => tx.ended_at.unwrap_or(tx.first_sent + TIMER_B),
        }
    }
}

/// (host, registrar address) pairs whose answers are tallied for bursts at
/// most; beyond it new pairs are not (a ban then reads from each binding's
/// own answers).
const MAX_BURSTS: usize = 4096;
/// Completed transactions are kept this long for retransmissions (Timer J / K).
const KEEP_COMPLETED: Duration = Duration::from_secs(64);
/// How often, in capture time, the tables are swept for timers.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// A transaction and the bindings its REGISTER is about.
type TrackedTransaction = (Transaction, Vec<BindingKey>);

/// Follows SIP messages in capture order: matches requests with responses,
/// keeps each binding's registration, fires the timers, and tells what
/// changed as [`Event`]s. Bounded by [`TrackLimits`].
#[derive(Default)]
pub struct Tracker {
    /// Each transaction with the bindings its REGISTER is about. Boxed: a
    /// transaction with its evidence is a few hundred bytes, and the table
    /// would move every one of them each time it grows.
    transactions: HashMap<TransactionKey, Box<TrackedTransaction>, BuildHasherDefault<KeyHasher>>,
    /// The per-process random key of transaction keys.
    keys: RandomState,
    /// Boxed: a registration is a few KiB, and a table of them inline would
    /// move every one of them each time it grows or sheds its tombstones.
    registrations: HashMap<BindingKey, Box<Registration>>,
    /// Each binding's key with its registrar in [`registrar_identity`]
    /// form, to the key it is tracked under: one registrar written two ways
    /// is one binding.
    identities: HashMap<BindingKey, BindingKey>,
    /// Insertion order, to evict the oldest in O(1): keys whose entry is
    /// already gone are skipped, and the queues are pruned when stale.
    transaction_order: VecDeque<TransactionKey>,
    registration_order: VecDeque<BindingKey>,
    /// The latest transaction sent on each flow, to find the one an ICMP
    /// error quotes; pruned with the transactions.
    flows: HashMap<evidence::FlowKey, TransactionKey>,
    /// The latest fault of each TCP connection (bounded).
    connection_faults: evidence::ConnectionFaults,
    /// Which ways each pair of addresses was heard, for captures that hold
    /// one direction only.
    directions: one_way::Directions,
    /// REGISTERs answered fast in a row, per (this host, registrar
    /// address), every binding's: the burst before a flood ban (bounded).
    bursts: HashMap<(std::net::IpAddr, std::net::SocketAddr), path::Burst>,
    limits: TrackLimits,
    /// Binding queries (REGISTER without Contact) are tracked.
    queries: bool,
    stats: TrackStats,
    /// The tallies of the bindings no longer tracked, and the REGISTER
    /// retransmissions (a transaction's, not a binding's).
    retired: Tally,
    now: Option<SystemTime>,
    last_sweep: Option<SystemTime>,
}

impl Tracker {
    /// An empty tracker within `limits`; the first message sets its time.
    pub fn new(limits: TrackLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// This tracker also follows binding queries (a REGISTER without
    /// Contact, RFC 3261 §10.2.4) as attempts with an outcome and
    /// diagnoses, each keyed by its AOR with [`QUERY_CONTACT`]: what
    /// `doctor` needs to judge its own query as a captured registration is
    /// judged. Off by default: a captured query changes no binding, so it
    /// is no row of the table.
    pub fn with_queries(mut self) -> Self {
        self.queries = true;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> TrackStats {
        TrackStats {
            connection_faults_evicted: self.connection_faults.evicted,
            ..self.stats
        }
    }

    /// Every attempt concluded since the tracker started, bindings dropped
    /// since included: counts that never go down.
    pub fn tally(&self) -> Tally {
        let mut t = self.retired.clone();
        for r in self.registrations.values() {
            t.add(r.tally());
        }
        t
    }

    /// The tracker's time: the latest message's, or the last tick.
    pub fn now(&self) -> Option<SystemTime> {
        self.now
    }

    /// Every registration, ordered by registrar, AOR and Contact.
    pub fn registrations(&self) -> Vec<&Registration> {
        let mut v: Vec<&Registration> = self.registrations.values().map(|r| &**r).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// One message, in capture order: timers due by its time fire first, then
    /// a request starts or retransmits a transaction (a new REGISTER updates
    /// its bindings) and a response completes one. What changed is appended
    /// to `events`; a message without a usable CSeq is ignored.
    pub fn push(&mut self, p: &ParsedMessage<'_>, events: &mut Vec<Event>) {
        let at = p.message.timestamp;
        self.advance(at, events);
        self.directions.on_message(p);
        let Some(key) = TransactionKey::of(p, &self.keys) else {
            return;
        };
        if let Some(method) = p.method() {
            self.on_request(p, key, method.to_owned(), events);
        } else if let Some(code) = p.status() {
            self.on_response(p, &key, code, events);
        }
    }

    fn on_request(
        &mut self,
        p: &ParsedMessage<'_>,
        key: TransactionKey,
        method: String,
        events: &mut Vec<Event>,
    ) {
        if method == "ACK" {
            return; // part of its INVITE transaction, no response of its own
        }
        if let Some((tx, bindings)) = self.transactions.get_mut(&key).map(|e| &mut **e) {
            let at = p.message.timestamp;
            for b in bindings.iter() {
                if let Some(reg) = self.registrations.get_mut(b) {
                    reg.path.on_reassembled(p.message);
                }
            }
            tx.sent += 1;
            tx.last_sent = at;
            self.stats.retransmissions += 1;
            if tx.method == "REGISTER" {
                self.retired.register_retransmissions += 1;
            }
            // Sent again well after its final answer was seen: that answer
            // never reached the sender.
            let late = tx
                .final_response
                .as_ref()
                .is_some_and(|f| at.duration_since(f.at).unwrap_or_default() >= T1);
            // Already told when the kernel dropped the answer.
            if late && tx.answer_dropped.is_none() {
                tx.sent_after_answer += 1;
                if tx.sent_after_answer == 1 {
                    for b in bindings.iter() {
                        if let Some(reg) = self.registrations.get_mut(b) {
                            reg.on_answer_lost(tx);
                            if reg.take_event(at) {
                                events.push(Event::Registration(reg.clone()));
                            }
                        }
                    }
                }
            }
            return;
        }
        self.make_room_for_transaction();
        self.stats.transactions += 1;
        let cseq = p.cseq().map_or(0, |c| c.seq);
        let tx = Transaction::new(p, &method, cseq);
        let bindings = if method == "REGISTER" {
            self.on_register(p, events)
        } else {
            Vec::new()
        };
        self.transaction_order.push_back(key);
        self.note_flow(&tx, key);
        self.transactions.insert(key, Box::new((tx, bindings)));
    }

    /// A new REGISTER: each binding it is about, created when new (never
    /// for `Contact: *`, which acts on the AOR's existing bindings).
    fn on_register(&mut self, p: &ParsedMessage<'_>, events: &mut Vec<Event>) -> Vec<BindingKey> {
        let Some(target) = Target::of(p) else {
            return Vec::new();
        };
        let header_expires = p.expires();
        let bindings: Vec<(BindingKey, Option<u32>)> = match target.contacts {
            Contacts::All => self
                .registrations
                .keys()
                .filter(|k| {
                    k.aor == target.aor
                        && registrar_identity(&k.registrar) == registrar_identity(&target.registrar)
                })
                .map(|k| (k.clone(), Some(0)))
                .collect(),
            Contacts::These(contacts) if contacts.is_empty() && self.queries => {
                let key = BindingKey::query(target.registrar.clone(), target.aor.clone());
                vec![(self.known_key(key), header_expires)]
            }
            Contacts::These(contacts) => contacts
                .into_iter()
                .map(|(contact, expires)| {
                    let key = BindingKey {
                        registrar: target.registrar.clone(),
                        aor: target.aor.clone(),
                        contact,
                    };
                    // The registrar written another way is the same one.
                    let key = self.known_key(key);
                    (key, expires.or(header_expires))
                })
                .collect(),
        };
        let at = p.message.timestamp;
        for (key, asked) in &bindings {
            if !self.registrations.contains_key(key) {
                self.make_room_for_registration();
                let mut reg = Registration::new(key.clone(), p);
                // Known so far only from connections that never came up.
                if p.message.transport == crate::net::Transport::Tcp
                    && let Some(unsent) =
                        self.remove_registration(&BindingKey::unsent(p.message.dst))
                {
                    reg.adopt(*unsent);
                }
                self.insert_registration(reg);
            }
            if let Some(reg) = self.registrations.get_mut(key) {
                reg.on_request(p, *asked);
                if reg.take_event(at) {
                    events.push(Event::Registration(reg.clone()));
                }
            }
        }
        bindings.into_iter().map(|(k, _)| k).collect()
    }

    /// The key of the binding already tracked that `key` names, its
    /// registrar written in an equivalent form; else `key`.
    fn known_key(&self, key: BindingKey) -> BindingKey {
        if self.registrations.contains_key(&key) {
            return key;
        }
        self.identities.get(&key.identity()).cloned().unwrap_or(key)
    }

    /// Tracks `reg` under its key (made room for already).
    fn insert_registration(&mut self, reg: Registration) {
        let key = reg.key.clone();
        self.identities.insert(key.identity(), key.clone());
        self.registration_order.push_back(key.clone());
        self.registrations.insert(key, Box::new(reg));
    }

    /// Stops tracking the binding `key`.
    fn remove_registration(&mut self, key: &BindingKey) -> Option<Box<Registration>> {
        let reg = self.registrations.remove(key)?;
        self.identities.remove(&key.identity());
        self.retired.add(reg.tally());
        Some(reg)
    }

    fn on_response(
        &mut self,
        p: &ParsedMessage<'_>,
        key: &TransactionKey,
        code: u16,
        events: &mut Vec<Event>,
    ) {
        let Some((tx, bindings)) = self.transactions.get_mut(key).map(|e| &mut **e) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        for b in bindings.iter() {
            if let Some(reg) = self.registrations.get_mut(b) {
                reg.path.on_reassembled(p.message);
            }
        }
        if code < 200 {
            tx.provisional = Some(tx.provisional.map_or(code, |c| c.max(code)));
            tx.provisional_at = Some(p.message.timestamp);
            return;
        }
        if let Some(f) = &mut tx.final_response {
            f.count += 1;
            self.stats.response_retransmissions += 1;
            return;
        }
        let reason = match p.start_line() {
            Some(crate::sip::StartLine::Response { reason, .. }) => reason.clone(),
            _ => String::new(),
        };
        tx.final_response = Some(FinalResponse {
            code,
            reason,
            at: p.message.timestamp,
            count: 1,
        });
        tx.state = TransactionState::Completed;
        if !bindings.is_empty() {
            let pair = (tx.src.ip(), tx.dst);
            if self.bursts.len() < MAX_BURSTS || self.bursts.contains_key(&pair) {
                let at = p.message.timestamp;
                self.bursts
                    .entry(pair)
                    .or_default()
                    .on_answer(tx.first_sent, at);
            }
        }
        // A success after the PBX's TCP connection to another target never
        // came up: that target is dead (failover over TCP).
        let unconnected = if (200..300).contains(&code) && !bindings.is_empty() {
            unconnected_before(
                &self.registrations,
                &self.connection_faults,
                (tx.src, tx.dst),
                tx.first_sent,
            )
        } else {
            None
        };
        let at = p.message.timestamp;
        for b in bindings.iter() {
            if let Some(reg) = self.registrations.get_mut(b) {
                reg.path.on_answer(p, tx);
                reg.on_final(p, tx);
                if let Some((_, failed, first_tried)) = &unconnected
                    && reg.last_success == Some(at)
                    && !reg
                        .diagnoses
                        .iter()
                        .any(|d| matches!(d, Diagnosis::DeadTarget { .. }))
                {
                    reg.diagnoses.push(failover::unconnected(
                        reg.side,
                        failed,
                        *first_tried,
                        tx.dst,
                        at,
                    ));
                }
                if reg.take_event(at) {
                    events.push(Event::Registration(reg.clone()));
                }
            }
        }
        // Its story is now the registered binding's hint.
        if let Some((key, _, _)) = unconnected {
            self.remove_registration(&key);
        }
    }

    /// A SIP message this host's kernel dropped (the drop tracer), `drop`
    /// saying why. A copy the capture did not see otherwise (a REGISTER
    /// dropped in OUTPUT never reaches TC egress) counts as sent, and is
    /// marked dropped; a final answer the capture saw arrive and the kernel
    /// then dropped never reached its sender, which is told at once.
    pub fn push_dropped(
        &mut self,
        p: &ParsedMessage<'_>,
        drop: &crate::net::KernelDrop,
        seen_on_the_wire: bool,
        events: &mut Vec<Event>,
    ) {
        let at = p.message.timestamp;
        self.advance(at, events);
        self.stats.kernel_drops += 1;
        let Some(key) = TransactionKey::of(p, &self.keys) else {
            return;
        };
        if p.method().is_some() {
            if !seen_on_the_wire {
                self.push(p, events);
            }
            if let Some((tx, _)) = self.transactions.get_mut(&key).map(|e| &mut **e) {
                tx.dropped_here += 1;
                tx.kernel_drop = Some(drop.clone());
            }
            return;
        }
        let Some(code) = p.status().filter(|&c| c >= 200) else {
            return;
        };
        let Some((tx, bindings)) = self.transactions.get_mut(&key).map(|e| &mut **e) else {
            return;
        };
        let told = tx.answer_dropped.is_some();
        tx.answer_dropped = Some(drop.clone());
        if told {
            return;
        }
        for b in bindings.iter() {
            if let Some(reg) = self.registrations.get_mut(b) {
                reg.on_answer_not_delivered(tx, code);
                if reg.take_event(at) {
                    events.push(Event::Registration(reg.clone()));
                }
            }
        }
    }

    /// Moves capture time on to `now` (live: the wall clock) and fires timers.
    pub fn tick(&mut self, now: SystemTime, events: &mut Vec<Event>) {
        self.advance(now, events);
    }

    /// At the end of a capture: timers fire as of the last message, and a
    /// challenge nobody answered counts as never answered.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        let Some(now) = self.now else { return };
        self.sweep(now, events, true);
        for reg in self.registrations.values_mut() {
            if reg.on_end(now) && reg.take_event(now) {
                events.push(Event::Registration(reg.clone()));
            }
        }
    }

    fn advance(&mut self, at: SystemTime, events: &mut Vec<Event>) {
        let now = self.now.map_or(at, |n| n.max(at));
        self.now = Some(now);
        let due = self
            .last_sweep
            .is_none_or(|l| now.duration_since(l).unwrap_or_default() >= SWEEP_EVERY);
        if due {
            self.last_sweep = Some(now);
            self.sweep(now, events, false);
        }
    }

    /// Fires the timers due at `now`, their events in time order (a timer
    /// found late by a sparse capture is told at its own time).
    /// Fires the timers due at `now`. At the end of a capture (`at_end`), a
    /// request an ICMP error answered is over too: no final response will
    /// come (the live capture's Timer F would fire after the file ends, and
    /// the file must give the live answer).
    fn sweep(&mut self, now: SystemTime, events: &mut Vec<Event>, at_end: bool) {
        let first = events.len();
        self.fire_timers(now, events, at_end);
        events[first..].sort_by_key(Event::at);
    }

    fn fire_timers(&mut self, now: SystemTime, events: &mut Vec<Event>, at_end: bool) {
        let mut timed_out = Vec::new();
        self.transactions.retain(|_, entry| {
            let (tx, bindings) = &mut **entry;
            let refused = at_end && tx.state == TransactionState::Pending && tx.icmp.is_some();
            if tx.expired(now) || refused {
                tx.state = TransactionState::TimedOut;
                timed_out.push((tx.clone(), std::mem::take(bindings)));
                return false;
            }
            if tx.proceeding_abandoned(now) {
                return false;
            }
            let done_at = tx.final_response.as_ref().map(|f| f.at);
            done_at.is_none_or(|d| now.duration_since(d).unwrap_or_default() <= KEEP_COMPLETED)
        });
        for (tx, bindings) in timed_out {
            // Stamped when Timer F fired (or the capture ended, for one an
            // ICMP error ended), and told before what it causes.
            let fired = (tx.first_sent + TIMER_B).min(now.max(tx.last_sent));
            // Nothing came back on its flow, and its sender acted on an
            // answer: not a timeout, an answer this capture does not hold.
            if let Some(acted) = self.directions.answers_missing(&tx) {
                self.stats.answers_not_captured += 1;
                for b in bindings {
                    if let Some(reg) = self.registrations.get_mut(&b) {
                        reg.on_answers_not_captured(&tx, acted);
                        if reg.take_event(fired) {
                            events.push(Event::Registration(reg.clone()));
                        }
                    }
                }
                continue;
            }
            self.stats.timeouts += 1;
            let mut told = tx.clone();
            told.ended_at = Some(fired);
            events.push(Event::Timeout(Box::new(told)));
            let connection = self.connection_faults.since(tx.src, tx.dst, tx.first_sent);
            let burst = self
                .bursts
                .get(&(tx.src.ip(), tx.dst))
                .copied()
                .unwrap_or_default();
            for b in bindings {
                if let Some(reg) = self.registrations.get_mut(&b) {
                    reg.path.on_timeout(&tx, connection, burst);
                    reg.on_timeout(&tx, fired);
                    if reg.take_event(fired) {
                        events.push(Event::Registration(reg.clone()));
                    }
                }
            }
        }
        for reg in self.registrations.values_mut() {
            if let Some(at) = reg.on_time(now)
                && reg.take_event(at)
            {
                events.push(Event::Registration(reg.clone()));
            }
        }
    }

    fn make_room_for_transaction(&mut self) {
        if self.transaction_order.len() > 2 * self.limits.max_transactions {
            let live = &self.transactions;
            self.transaction_order.retain(|k| live.contains_key(k));
        }
        while self.transactions.len() >= self.limits.max_transactions {
            let Some(oldest) = self.transaction_order.pop_front() else {
                break;
            };
            if let Some((tx, _)) = self.transactions.remove(&oldest).map(|e| *e)
                && tx.state == TransactionState::Pending
            {
                self.stats.transactions_evicted += 1;
            }
        }
    }

    fn make_room_for_registration(&mut self) {
        if self.registration_order.len() > 2 * self.limits.max_registrations {
            let live = &self.registrations;
            self.registration_order.retain(|k| live.contains_key(k));
        }
        while self.registrations.len() >= self.limits.max_registrations {
            let Some(oldest) = self.registration_order.pop_front() else {
                break;
            };
            if self.remove_registration(&oldest).is_some() {
                self.stats.registrations_evicted += 1;
            }
        }
    }
}

/// What a REGISTER is about: the AOR at a registrar, and which of its
/// bindings.
struct Target {
    registrar: String,
    aor: String,
    contacts: Contacts,
}

enum Contacts {
    /// `Contact: *` (RFC 3261 §10.2.2): every binding of the AOR.
    All,
    /// Each Contact with its `expires` parameter; none for a query.
    These(Vec<(String, Option<u32>)>),
}

impl Target {
    fn of(p: &ParsedMessage<'_>) -> Option<Target> {
        let registrar = match p.start_line()? {
            crate::sip::StartLine::Request { uri, .. } => uri.clone(),
            _ => return None,
        };
        let aor = p.to()?.uri.text;
        let aor = aor.split(';').next().unwrap_or(&aor).to_owned();
        let contacts = p.contacts();
        let contacts = if contacts.iter().any(|c| c.uri.text == "*") {
            Contacts::All
        } else {
            Contacts::These(
                contacts
                    .into_iter()
                    .map(|c| (c.uri.text, c.expires))
                    .collect(),
            )
        };
        Some(Target {
            registrar,
            aor,
            contacts,
        })
    }
}

/// The binding a REGISTER is about (registrar, AOR, its first Contact),
/// and that Contact's `expires` parameter; `None` for a wildcard removal
/// or a query (no Contact). The path audit keys its shadows with it.
pub fn binding_key(p: &ParsedMessage<'_>) -> Option<(BindingKey, Option<u32>)> {
    let target = Target::of(p)?;
    let Contacts::These(contacts) = target.contacts else {
        return None;
    };
    let (contact, expires) = contacts.into_iter().next()?;
    Some((
        BindingKey {
            registrar: target.registrar,
            aor: target.aor,
            contact,
        },
        expires,
    ))
}

#[cfg(test)]
mod tests;

/// The latest target that a TCP connection from `client`'s host never
/// reached (known only as an `unsent` binding), tried before `sent_at`
/// and other than `server`: its key, its failure and when it was first
/// tried.
fn unconnected_before(
    registrations: &HashMap<BindingKey, Box<Registration>>,
    faults: &evidence::ConnectionFaults,
    (client, server): (std::net::SocketAddr, std::net::SocketAddr),
    sent_at: SystemTime,
) -> Option<(BindingKey, crate::net::ConnectionEvent, SystemTime)> {
    registrations
        .iter()
        .filter(|(key, reg)| key.is_unsent() && reg.registrar_address != server)
        .filter_map(|(key, reg)| {
            let (from, to, first_tried) = reg.path.last_request()?;
            if from.ip() != client.ip() || first_tried > sent_at {
                return None;
            }
            let failed = faults.since(from, to, first_tried)?;
            Some((key.clone(), failed, first_tried))
        })
        .max_by_key(|(_, failed, _)| failed.at)
}
