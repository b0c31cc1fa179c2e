//! One registration binding (registrar, AOR, Contact): the registration as
//! the registrar holds it, the attempt in flight, the last outcome, and the
//! run of failures that only a success ends.
//!
//! What the table shows ([`Registration::state`], [`Registration::status`])
//! is derived from these and never stored twice, so that a retry cannot
//! wipe a failure and a granted binding lapses by time, not by a new
//! attempt.
use std::{
    mem::Discriminant,
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::{
    PbxKind,
    attempt::{Attempt, Outcome, Purpose, has_credentials},
    contacts::ContactsKept,
    continuity::Continuity,
    diagnosis::{Diagnosis, GrantSeen, Side},
    failover::Failover,
    nat,
    next_move::{NextMove, Situation, next_move},
    path::PathWatch,
    record::{FailureRecord, FinalAnswer, Streak},
    state::{FailureRun, Grant, LastOutcome, RegistrationState},
    storm::{Pace, RetryStorm},
    tally::Tally,
    transaction::{TIMER_B, Transaction},
};
use crate::{
    net::Transport,
    sip::{ParsedMessage, StartLine, fields::DigestProof},
};

/// Expiry assumed when neither request nor response names one (RFC 3261 §10.2.1.1).
pub const DEFAULT_EXPIRES: u32 = 3600;

/// While the same failure repeats, at most one event per binding this
/// often (capture time): a client retrying in a loop gives a count, not a
/// flood.
pub const REPEAT_EVENT_EVERY: Duration = Duration::from_secs(60);

/// Grants kept to see a registrar shrink the interval.
const GRANTS_KEPT: usize = 4;

/// What identifies a binding (RFC 3261 §10): one Contact of an AOR at a
/// registrar. A REGISTER with several Contacts is about as many bindings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BindingKey {
    /// The Request-URI of the REGISTER (the registrar's domain).
    pub registrar: String,
    /// The address of record (To URI).
    pub aor: String,
    /// The Contact URI.
    pub contact: String,
}

/// The AOR of a binding known only from a TCP connection to a registrar
/// that never came up: no REGISTER could be sent, so none names it.
pub const UNSENT_AOR: &str = "(no REGISTER sent)";

/// The Contact of a binding query's key (a REGISTER without Contact, RFC
/// 3261 §10.2.4, tracked by a tracker made
/// [`with_queries`](super::Tracker::with_queries)): the query is about the
/// AOR, not one of its bindings, so it is kept apart from every binding a
/// REGISTER with a Contact names.
pub const QUERY_CONTACT: &str = "(query: no Contact)";

/// At most this many other forms of a binding's registrar URI are kept.
const REQUEST_URI_FORMS_KEPT: usize = 4;

/// The registrar a Request-URI names, for grouping: scheme and host
/// lower-cased, the scheme's default port dropped, URI parameters and
/// headers dropped. `sip:203.0.113.2;transport=udp`, `sip:203.0.113.2`
/// and `SIP:203.0.113.2:5060` are one registrar to the admin (RFC 3261
/// §19.1.4 would tell them apart; the admin's PBX sends to the same one).
pub fn registrar_identity(uri: &str) -> String {
    let u = crate::sip::fields::parse_uri(uri);
    let default = if u.scheme == "sips" { 5061 } else { 5060 };
    let user = u.user.map(|u| format!("{u}@")).unwrap_or_default();
    let host = u.host.to_ascii_lowercase();
    match u.port.filter(|&p| p != default) {
        Some(port) => format!("{}:{user}{host}:{port}", u.scheme),
        None => format!("{}:{user}{host}", u.scheme),
    }
}

impl BindingKey {
    /// Whether `other` names the same binding, its registrar written in
    /// an equivalent form ([`registrar_identity`]).
    pub fn same_binding(&self, other: &BindingKey) -> bool {
        self.identity() == other.identity()
    }

    /// This key with its registrar in [`registrar_identity`] form.
    pub fn identity(&self) -> BindingKey {
        BindingKey {
            registrar: registrar_identity(&self.registrar),
            ..self.clone()
        }
    }

    /// The binding of a PBX whose TCP connection to `server` never came up:
    /// the registrar as PJSIP would name it (`sip:ip:port;transport=tcp`),
    /// [`UNSENT_AOR`], no Contact.
    pub fn unsent(server: SocketAddr) -> BindingKey {
        BindingKey {
            registrar: format!("sip:{server};transport=tcp"),
            aor: UNSENT_AOR.to_owned(),
            contact: String::new(),
        }
    }

    /// The key a binding query for `aor` at `registrar` is tracked under
    /// ([`QUERY_CONTACT`]).
    pub fn query(registrar: String, aor: String) -> BindingKey {
        BindingKey {
            registrar,
            aor,
            contact: QUERY_CONTACT.to_owned(),
        }
    }

    /// Whether this is a binding query's key ([`BindingKey::query`]).
    pub fn is_query(&self) -> bool {
        self.contact == QUERY_CONTACT
    }

    /// Whether this binding is known only from a connection that never
    /// carried a REGISTER.
    pub fn is_unsent(&self) -> bool {
        self.aor == UNSENT_AOR
    }
}

/// What was last reported, to report changes and bounded repeats only.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reported {
    state: RegistrationState,
    kinds: Vec<Discriminant<Diagnosis>>,
    failures: u32,
    at: SystemTime,
}

/// One binding as seen on the wire: what the registrar granted, the
/// attempt in flight, the last outcome, the run of failures and the record
/// derived from them, with the diagnoses that explain them. State and
/// status are derived, not stored: the status in words is
/// [`crate::say::registration::status`], and the JSON form (which carries
/// it) is serialised in `report/json.rs`, so that `track` never calls into
/// the words.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Which binding: registrar, AOR and Contact.
    pub key: BindingKey,
    /// Other forms of the registrar's URI than the key's, as written in
    /// later REGISTERs (`sip:203.0.113.2;transport=udp` beside
    /// `sip:203.0.113.2`), at most 4: one registrar, every form visible.
    pub request_uri_forms: Vec<String>,
    /// The destination address and port of the latest REGISTER: the provider's
    /// registrar, or this PBX when phones register to it.
    pub registrar_address: SocketAddr,
    /// The transport of the latest REGISTER (UDP or TCP).
    pub transport: Transport,
    /// The Call-ID of the latest REGISTER (a client keeps one per
    /// registrar, RFC 3261 §10.2): what HEP log records correlate by.
    pub call_id: String,
    /// Which side of the REGISTER this host is on: from the capture's direction
    /// when known, else guessed from the Server and User-Agent headers.
    pub side: Side,
    /// The registration as the registrar holds it, from the last 2xx; it
    /// lapses by time, and a successful un-REGISTER clears it.
    pub granted: Option<Grant>,
    /// The attempt in flight.
    pub attempt: Option<Attempt>,
    /// How the latest concluded attempt ended, and when.
    pub last_outcome: Option<LastOutcome>,
    /// The failures in a row since the last success; `None` after a success.
    pub failures: Option<FailureRun>,
    /// Of the last outcome, with the hints its answer gave.
    pub diagnoses: Vec<Diagnosis>,
    /// The last final response code.
    pub last_code: Option<u16>,
    /// The last REGISTER's response time (first send to final response), µs.
    pub response_us: Option<u64>,
    /// When what the binding shows last changed.
    pub last_change: SystemTime,
    /// The side was read from the capture's direction, not guessed.
    side_from_direction: bool,
    /// The nonce of the last credentials the registrar accepted.
    accepted_nonce: Option<String>,
    grants_seen: Vec<GrantSeen>,
    reported: Option<Reported>,
    /// The client, from its REGISTERs' User-Agent.
    pub pbx: PbxKind,
    /// The last final answer, as sent.
    answer: Option<FinalAnswer>,
    /// The answer that ended the last failed attempt (none: no answer).
    failed_answer: Option<FinalAnswer>,
    /// The last successful registration.
    pub last_success: Option<SystemTime>,
    /// The same failure in a row.
    streak: Option<Streak>,
    /// Gaps between registrations and request delays (RFC 6076 RRD).
    pub continuity: Continuity,
    /// The Contacts the registrar listed in its last 2xx.
    pub contacts_kept: Option<ContactsKept>,
    /// The digest of the REGISTER whose credentials the registrar refused
    /// (401/407, or 403 after a challenge) in the latest failure: what a
    /// configured password is checked against offline
    /// ([`crate::track::password::check`]). Cleared by any other outcome.
    pub refused_digest: Option<DigestProof>,
    /// The pace of new REGISTERs, for retry storms.
    pace: Pace,
    /// What the exchanges say about the path (see [`PathWatch`]).
    pub(super) path: PathWatch,
    /// Destinations that never answered since the last success (see
    /// [`Failover`]).
    failover: Failover,
    /// When the PBX itself gives up on the last unanswered REGISTER (its
    /// Timer F), where the capture ended before it: ICMP errors do not end
    /// a UDP client transaction (the PBX keeps sending it through Timer F,
    /// RFC 3261 §17.1.2.2, pjsip as Asterisk 22 runs it), so its retry is
    /// counted from there, not from the end of the capture.
    gives_up_at: Option<SystemTime>,
    /// Its concluded attempts, counted (see [`Tally`]).
    pub(super) tally: Tally,
}

impl Registration {
    /// A binding first named by REGISTER `p`: its registrar address and
    /// transport from it, [`Side::Client`] until the capture tells otherwise.
    pub fn new(key: BindingKey, p: &ParsedMessage<'_>) -> Registration {
        let m = p.message;
        Registration::blank(key, m.dst, m.transport, m.timestamp)
    }

    /// The binding of a TCP connection from `client` to `server` that never
    /// came up (first seen failing at `at`): see [`BindingKey::unsent`].
    pub fn unsent(client: SocketAddr, server: SocketAddr, at: SystemTime) -> Registration {
        let mut reg = Registration::blank(BindingKey::unsent(server), server, Transport::Tcp, at);
        reg.path.on_connection_attempt(client, server, at);
        reg
    }

    /// A binding that was known only from its failed connections (`unsent`)
    /// is named by its first REGISTER: this one takes over its failures.
    pub fn adopt(&mut self, unsent: Registration) {
        self.failures = unsent.failures;
        self.streak = unsent.streak;
        self.last_outcome = unsent.last_outcome;
        self.last_code = unsent.last_code;
        self.diagnoses = unsent.diagnoses;
    }

    fn blank(
        key: BindingKey,
        registrar_address: SocketAddr,
        transport: Transport,
        at: SystemTime,
    ) -> Registration {
        Registration {
            key,
            request_uri_forms: Vec::new(),
            registrar_address,
            transport,
            call_id: String::new(),
            side: Side::Client,
            granted: None,
            attempt: None,
            last_outcome: None,
            failures: None,
            diagnoses: Vec::new(),
            last_code: None,
            response_us: None,
            last_change: at,
            side_from_direction: false,
            accepted_nonce: None,
            grants_seen: Vec::new(),
            reported: None,
            pbx: PbxKind::Other,
            answer: None,
            failed_answer: None,
            last_success: None,
            streak: None,
            continuity: Continuity::default(),
            contacts_kept: None,
            refused_digest: None,
            pace: Pace::default(),
            path: PathWatch::default(),
            failover: Failover::default(),
            gives_up_at: None,
            tally: Tally::default(),
        }
    }

    /// The state the binding shows: a run of failures first (Rejected or
    /// Timeout), else Registered while the grant holds, Expired once it lapsed,
    /// Unregistered after an un-REGISTER, else Request sent.
    pub fn state(&self) -> RegistrationState {
        if let Some(run) = &self.failures {
            return run.state();
        }
        match (&self.granted, &self.last_outcome) {
            (Some(g), _) if !g.lapsed => RegistrationState::Registered {
                expires: g.expires_s,
            },
            (Some(_), _) => RegistrationState::Expired,
            (None, Some(o)) if o.outcome == Outcome::Unregistered => {
                RegistrationState::Unregistered
            }
            _ => RegistrationState::RequestSent,
        }
    }

    /// When the registrar's binding lapses, while it holds one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.granted.filter(|g| !g.lapsed).map(|g| g.until)
    }

    /// Whether to report the binding now (at `at`): on a change of state or
    /// diagnosis, and while the same failure repeats at most every
    /// [`REPEAT_EVENT_EVERY`].
    pub fn take_event(&mut self, at: SystemTime) -> bool {
        let state = self.state();
        let kinds: Vec<_> = self.diagnoses.iter().map(std::mem::discriminant).collect();
        let failures = self.failures.map_or(0, |f| f.count);
        if let Some(r) = &self.reported
            && r.state == state
            && r.kinds == kinds
        {
            let due = at.duration_since(r.at).unwrap_or_default() >= REPEAT_EVENT_EVERY;
            if failures <= r.failures || !due {
                return false;
            }
        }
        self.last_change = at;
        self.reported = Some(Reported {
            state,
            kinds,
            failures,
            at,
        });
        true
    }

    /// A new (not retransmitted) REGISTER for this binding asking for
    /// `asked` seconds (0: unregister).
    pub fn on_request(&mut self, p: &ParsedMessage<'_>, asked: Option<u32>) {
        let at = p.message.timestamp;
        if let Some(StartLine::Request { uri, .. }) = p.start_line()
            && *uri != self.key.registrar
            && !self.request_uri_forms.contains(uri)
            && self.request_uri_forms.len() < REQUEST_URI_FORMS_KEPT
        {
            self.request_uri_forms.push(uri.clone());
        }
        self.learn_side_from_request(p);
        if let Some(call_id) = p.call_id() {
            self.call_id.clear();
            self.call_id.push_str(&call_id);
        }
        if let Some(ua) = p.user_agent() {
            self.pbx = PbxKind::recognise(&ua);
        }
        self.pace.on_request(at);
        self.path.on_request(p);
        self.registrar_address = p.message.dst;
        self.transport = p.message.transport;
        // A REGISTER without credentials after an unanswered challenge: the
        // client gave up on that round and starts over.
        if !has_credentials(p)
            && let Some(old) = self.attempt.take_if(|a| a.awaiting_answer())
        {
            self.abandon(old, at);
        }
        match &mut self.attempt {
            Some(a) => a.next_request(p, asked),
            None => {
                let purpose = if self.key.is_query() {
                    Purpose::Query
                } else if asked == Some(0) {
                    Purpose::Unregister
                } else if self.expires_at().is_some() {
                    Purpose::Refresh
                } else {
                    Purpose::Register
                };
                self.attempt = Some(Attempt::new(purpose, p, asked));
            }
        }
    }

    /// The REGISTER transaction's final response; `tx` has it recorded.
    pub fn on_final(&mut self, p: &ParsedMessage<'_>, tx: &Transaction) {
        let at = p.message.timestamp;
        let code = p.status().unwrap_or(0);
        self.response_us = tx.response_time().map(|d| d.as_micros() as u64);
        self.last_code = Some(code);
        self.answer = Some(FinalAnswer::of(p));
        self.learn_side_from_response(p);
        let Some(mut attempt) = self.attempt.take() else {
            return; // an answer to an attempt already concluded
        };
        let reason = match p.start_line() {
            Some(StartLine::Response { reason, .. }) => reason.clone(),
            _ => String::new(),
        };
        let side = self.side;
        let failure = match code {
            200..=299 => return self.succeed(p, attempt, at),
            401 | 407 => match attempt.on_challenge(p, code, side) {
                Some(d) => d,
                None => {
                    self.attempt = Some(attempt);
                    return;
                }
            },
            403 => Diagnosis::Forbidden {
                side,
                after_challenge: attempt.challenges > 0,
                reason,
                warning: p.warning().map(|w| w.into_owned()),
                seen_as: nat::seen_as(p),
            },
            404 => Diagnosis::UnknownUser {
                side,
                user: p.to().and_then(|t| t.uri.user),
            },
            408 => Diagnosis::RemoteTimeout { reason },
            423 => Diagnosis::IntervalTooBrief {
                side,
                asked: attempt.asked_expires,
                min_expires: p.min_expires(),
                shrinking_grants: self.shrinking_grants(),
            },
            503 => Diagnosis::Unavailable {
                retry_after: p.retry_after(),
                reason,
            },
            _ => Diagnosis::Failed { code, reason },
        };
        self.conclude(&attempt, Outcome::Rejected { code }, failure, at);
    }

    /// Timer F fired on a REGISTER of this binding (`at`: when it fired).
    /// A request the client already followed with a newer one does not
    /// end the attempt: the newer one may still be answered.
    pub fn on_timeout(&mut self, tx: &Transaction, at: SystemTime) {
        // Registered through another target before this one's Timer F
        // was told: name the dead one now.
        let registered = self
            .expires_at()
            .and(self.last_success)
            .map(|s| (s, self.registrar_address));
        if let Some(dead) = self.failover.on_timeout(tx, at, registered, self.side) {
            self.diagnoses
                .retain(|d| !matches!(d, Diagnosis::DeadTarget { .. }));
            self.diagnoses.push(dead);
        }
        let Some(attempt) = self.attempt.take_if(|a| a.latest_sent == tx.first_sent) else {
            return;
        };
        let diagnosis = Diagnosis::Timeout {
            side: self.side,
            sent: tx.sent,
            // Acknowledged by the registrar's TCP: it left, whatever the
            // capture's direction says.
            left_this_host: if tx.tcp_acked_at.is_some() {
                Some(true)
            } else {
                tx.direction
                    .map(|d| d == sipwatch_common::Direction::Egress && !tx.dropped_every_copy())
            },
            provisional_seen: tx.provisional.is_some(),
            tcp_acked: tx.tcp_acked_at.is_some(),
            destination: tx.dst,
            transport: tx.transport,
            no_router: nat::same_link(tx.src.ip(), tx.dst.ip()),
            dropped_on_this_host: tx.kernel_drop.clone().map(|drop| {
                super::diagnosis::DroppedHere {
                    copies: tx.dropped_here,
                    drop,
                }
            }),
            leg: tx
                .dropped_every_copy()
                .then_some(crate::net::Leg::DroppedOnThisHost),
        };
        // Answered, and the answer dropped on its way by this host: that,
        // not "never answered", is why the sender timed out.
        let lost = attempt.answer_lost.clone().or_else(|| {
            self.diagnoses
                .iter()
                .find(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. }))
                .cloned()
        });
        let diagnosis = match (lost, &tx.answer_dropped) {
            (Some(lost), Some(_)) => lost,
            _ => diagnosis,
        };
        self.last_code = Some(408);
        self.conclude(&attempt, Outcome::NoAnswer, diagnosis, at);
        let timer_f = tx.first_sent + TIMER_B;
        self.gives_up_at = (timer_f > at).then_some(timer_f);
    }

    /// Timer F fired on `tx`, whose answers are not in this capture
    /// though its sender acted on one (`acted`): the attempt ends with no
    /// outcome the capture can tell; the run of failures, the grant and
    /// the last outcome stay as they were.
    pub fn on_answers_not_captured(&mut self, tx: &Transaction, acted: super::ActedOn) {
        if self
            .attempt
            .take_if(|a| a.latest_sent == tx.first_sent)
            .is_none()
        {
            return;
        }
        self.diagnoses
            .retain(|d| !matches!(d, Diagnosis::AnswersNotCaptured { .. }));
        self.diagnoses.insert(
            0,
            Diagnosis::AnswersNotCaptured {
                side: self.side,
                destination: tx.dst,
                transport: tx.transport,
                sent: tx.sent,
                acted_on: acted,
            },
        );
    }

    /// The REGISTER `tx` was sent again after its final answer was seen
    /// here: the answer was lost between this capture and the sender.
    pub fn on_answer_lost(&mut self, tx: &Transaction) {
        if let Some(answer) = &tx.final_response {
            self.on_answer_not_delivered(tx, answer.code);
        }
    }

    /// The final answer `code` to `tx` never reached the REGISTER's
    /// sender: lost after this capture, or dropped by this host's kernel
    /// (`tx.answer_dropped`), seen or not on its way.
    pub fn on_answer_not_delivered(&mut self, tx: &Transaction, code: u16) {
        let lost = Diagnosis::AnswerNotDelivered {
            side: self.side,
            code,
            sender: tx.src.to_string(),
            dropped_on_this_host: tx.answer_dropped.clone(),
        };
        if let Some(a) = self.attempt.as_mut().filter(|a| a.awaiting_answer()) {
            a.answer_lost = Some(lost);
            return;
        }
        self.diagnoses
            .retain(|d| !matches!(d, Diagnosis::AnswerNotDelivered { .. }));
        self.diagnoses.insert(0, lost);
    }

    /// Time passes: a challenge unanswered by Timer F is abandoned, a
    /// granted binding lapses. Returns when it happened, if anything did.
    pub fn on_time(&mut self, now: SystemTime) -> Option<SystemTime> {
        let due = self
            .attempt
            .as_ref()
            .and_then(Attempt::challenged_at)
            .map(|c| c + TIMER_B)
            .filter(|due| now >= *due);
        if let Some(due) = due
            && let Some(old) = self.attempt.take()
        {
            self.abandon(old, due);
            return Some(due);
        }
        if let Some(g) = &mut self.granted
            && !g.lapsed
            && now >= g.until
        {
            g.lapsed = true;
            return Some(g.until);
        }
        None
    }

    /// At the end of a capture, a challenge left unanswered counts as
    /// never answered, as of the challenge: when the capture was stopped
    /// says nothing of the PBX (a live capture stopped later must not
    /// stretch its retry interval or its "failing since").
    pub fn on_end(&mut self, now: SystemTime) -> bool {
        match self.attempt.take_if(|a| a.awaiting_answer()) {
            Some(old) => {
                let at = old.challenged_at().map_or(now, |c| c.min(now));
                self.abandon(old, at);
                true
            }
            None => false,
        }
    }

    fn abandon(&mut self, attempt: Attempt, at: SystemTime) {
        let accepted = self.accepted_nonce.as_deref();
        if let Some((code, diagnosis)) = attempt.abandoned(self.side, accepted) {
            self.conclude(&attempt, Outcome::Abandoned { code }, diagnosis, at);
        }
    }

    fn succeed(&mut self, p: &ParsedMessage<'_>, attempt: Attempt, at: SystemTime) {
        self.failures = None;
        self.streak = None;
        self.accepted_nonce = attempt.nonce_sent().map(str::to_owned);
        let outcome = if attempt.purpose == Purpose::Query {
            // The bindings listed are the registrar's, none of them this
            // key's: nothing is granted, the failures are over.
            self.diagnoses.clear();
            self.last_success = Some(at);
            Outcome::Queried
        } else if attempt.purpose == Purpose::Unregister {
            self.granted = None;
            self.diagnoses.clear();
            self.contacts_kept = None;
            Outcome::Unregistered
        } else {
            self.contacts_kept = ContactsKept::of(p, &self.key.contact);
            let granted = self.granted_expires(p, attempt.asked_expires);
            self.note_grant(attempt.asked_expires, granted);
            self.continuity
                .on_registered(self.granted, attempt.started, at);
            self.last_success = Some(at);
            self.granted = Some(Grant {
                expires_s: granted,
                granted_at: at,
                until: at + Duration::from_secs(granted.into()),
                lapsed: false,
            });
            self.diagnoses = nat::hints(
                p,
                &nat::Path {
                    contact: &self.key.contact,
                    registrar: self.registrar_address,
                    side: self.side,
                    asked_rport: attempt.asked_rport,
                    transport: p.message.transport,
                    local: p.message.dst,
                },
            );
            self.diagnoses.extend(self.path.hints(self.side));
            self.diagnoses.extend(
                self.failover
                    .on_success(self.registrar_address, at, self.side),
            );
            Outcome::Registered { expires: granted }
        };
        self.refused_digest = None;
        self.tally.on_outcome(outcome, attempt.purpose, None);
        if let (Outcome::Registered { .. }, Some(us)) = (outcome, self.continuity.rrd_last_us) {
            self.tally.on_delay(us);
        }
        self.last_outcome = Some(LastOutcome {
            outcome,
            purpose: attempt.purpose,
            at,
        });
    }

    /// Its concluded attempts so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// An attempt ended without success. A failed un-REGISTER leaves the
    /// binding as the registrar holds it: a note, not a failed registration.
    fn conclude(
        &mut self,
        attempt: &Attempt,
        outcome: Outcome,
        failure: Diagnosis,
        at: SystemTime,
    ) {
        self.last_outcome = Some(LastOutcome {
            outcome,
            purpose: attempt.purpose,
            at,
        });
        self.gives_up_at = None;
        let code = outcome.code().unwrap_or(0);
        if attempt.purpose == Purpose::Unregister {
            self.tally.on_outcome(outcome, attempt.purpose, None);
            self.diagnoses
                .retain(|d| !matches!(d, Diagnosis::UnregisterNotCompleted { .. }));
            self.diagnoses.push(Diagnosis::UnregisterNotCompleted {
                code,
                challenged: matches!(outcome, Outcome::Abandoned { .. }),
                registered_until: self.expires_at(),
            });
            return;
        }
        // What the capture shows below SIP replaces a misleading reading.
        let failure = self.path.explain(failure, self.side);
        self.tally
            .on_outcome(outcome, attempt.purpose, Some(&failure));
        self.refused_digest = match failure {
            Diagnosis::CredentialsRejected { .. }
            | Diagnosis::Forbidden {
                after_challenge: true,
                ..
            } => attempt.proof().cloned(),
            _ => None,
        };
        if matches!(failure, Diagnosis::CredentialsRejected { .. }) {
            self.path.on_rejected_credentials();
        }
        self.diagnoses = vec![failure];
        self.diagnoses.extend(self.path.hints(self.side));
        self.failures = Some(FailureRun::after(self.failures, outcome, at));
        self.streak = Some(Streak::after(self.streak, outcome, at));
        self.failed_answer = match outcome {
            Outcome::Rejected { .. } | Outcome::Abandoned { .. } => self.answer.clone(),
            _ => None,
        };
    }

    /// The failure record, while failing.
    pub fn record(&self) -> Option<FailureRecord> {
        let run = self.failures.as_ref()?;
        let mut record = FailureRecord::of(run, self.failed_answer.as_ref(), self.last_success);
        // No answer, and the capture saw why: say who ended it.
        if run.last == Outcome::NoAnswer
            && let Some(by) = self.diagnoses.iter().find_map(ended_by_evidence)
        {
            record.ended_by = Some(by);
        }
        Some(record)
    }

    /// What the PBX will do next, from its rules and what was seen.
    pub fn next_move(&self) -> NextMove {
        let retrying = self.failures.is_some_and(|run| {
            self.attempt
                .as_ref()
                .is_some_and(|a| a.purpose != Purpose::Unregister && a.started >= run.last_at)
        });
        // A rejection that never reached the PBX: the PBX saw no answer, and
        // acts on a timeout (it reports 408), not on the rejection.
        let undelivered = self.side == Side::Client
            && self
                .diagnoses
                .iter()
                .any(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. }));
        let as_seen = |o: Outcome| match o {
            Outcome::Rejected { .. } if undelivered => Outcome::NoAnswer,
            o => o,
        };
        // The capture ended before the PBX's Timer F: it gives up (and
        // counts its wait) from there.
        let late = |at: SystemTime| {
            self.gives_up_at
                .filter(|g| *g > at)
                .map_or(Duration::ZERO, |g| g.duration_since(at).unwrap_or_default())
        };
        next_move(&Situation {
            pbx: self.pbx,
            run: self.failures.map(|run| FailureRun {
                last: as_seen(run.last),
                last_at: run.last_at + late(run.last_at),
                ..run
            }),
            streak: self.streak.map(|s| Streak {
                outcome: as_seen(s.outcome),
                last_at: s.last_at + late(s.last_at),
                last_gap_ms: s
                    .last_gap_ms
                    .map(|g| g + late(s.last_at).as_millis() as u64),
                ..s
            }),
            retry_after_s: self
                .failed_answer
                .as_ref()
                .filter(|_| !undelivered)
                .and_then(|a| a.retry_after_s),
            granted: self.granted,
            retrying,
        })
    }

    /// A retry storm, if the client sends too fast or retries a permanent
    /// failure without end.
    pub fn storm(&self) -> Option<RetryStorm> {
        RetryStorm::of(&self.pace, self.streak.as_ref())
    }

    fn learn_side_from_request(&mut self, p: &ParsedMessage<'_>) {
        match p.message.direction {
            Some(sipwatch_common::Direction::Egress) => {
                (self.side, self.side_from_direction) = (Side::Client, true);
            }
            Some(sipwatch_common::Direction::Ingress) => {
                (self.side, self.side_from_direction) = (Side::Registrar, true);
            }
            None => {}
        }
    }

    /// Without a direction, a registrar that says it is Asterisk, answering
    /// a client that does not, is this PBX: phones register to it.
    fn learn_side_from_response(&mut self, p: &ParsedMessage<'_>) {
        if self.side_from_direction {
            return;
        }
        let asterisk = |s: &str| PbxKind::recognise(s) == PbxKind::Asterisk;
        let server_is_pbx = p.server().is_some_and(|s| asterisk(&s));
        let client_is_pbx = self
            .attempt
            .as_ref()
            .and_then(|a| a.user_agent.as_deref())
            .is_some_and(asterisk);
        if server_is_pbx && !client_is_pbx {
            self.side = Side::Registrar;
        }
    }

    fn note_grant(&mut self, asked: Option<u32>, granted: u32) {
        let Some(asked) = asked else { return };
        if self.grants_seen.len() == GRANTS_KEPT {
            self.grants_seen.remove(0);
        }
        self.grants_seen.push(GrantSeen {
            asked_s: asked,
            granted_s: granted,
        });
    }

    /// The latest grants, when each was shorter than asked.
    fn shrinking_grants(&self) -> Vec<GrantSeen> {
        let shrinking =
            self.grants_seen.len() >= 2 && self.grants_seen.iter().all(|g| g.granted_s < g.asked_s);
        if shrinking {
            self.grants_seen.clone()
        } else {
            Vec::new()
        }
    }

    /// The expiry of our Contact in the 2xx, as sent or rewritten (see
    /// [`ContactsKept`]), else its Expires, else what was asked.
    fn granted_expires(&self, p: &ParsedMessage<'_>, asked: Option<u32>) -> u32 {
        let ours = self
            .contacts_kept
            .as_ref()
            .and_then(ContactsKept::ours)
            .and_then(|c| c.expires_s);
        ours.or_else(|| p.expires())
            .or(asked)
            .unwrap_or(DEFAULT_EXPIRES)
    }
}

/// Who ended an attempt nothing answered, when a diagnosis shows it: an
/// ICMP error, a TCP reset or refusal, or this host's own kernel.
fn ended_by_evidence(d: &Diagnosis) -> Option<super::EndedBy> {
    use super::EndedBy;
    use crate::net::ConnectionFault;
    match d {
        Diagnosis::Unreachable { .. } => Some(EndedBy::Icmp),
        Diagnosis::ConnectionFailed {
            connection: ConnectionFault::Refused { .. } | ConnectionFault::Reset { .. },
            ..
        } => Some(EndedBy::TcpReset),
        Diagnosis::Timeout {
            provisional_seen: true,
            ..
        } => Some(EndedBy::ProvisionalOnly),
        Diagnosis::Timeout {
            tcp_acked: true, ..
        } => Some(EndedBy::TcpAckedOnly),
        Diagnosis::Timeout {
            leg: Some(crate::net::Leg::DroppedOnThisHost),
            ..
        }
        | Diagnosis::AnswerNotDelivered {
            dropped_on_this_host: Some(_),
            ..
        } => Some(EndedBy::DroppedHere),
        _ => None,
    }
}
