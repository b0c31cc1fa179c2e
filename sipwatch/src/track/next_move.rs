//! What the PBX will do next, and what its own status shows, predicted
//! from the wire with the PBX's documented retry rules and their defaults:
//! a pure function of (the PBX kind, the last outcome, the run of failures)
//! to a [`NextMove`], tested rule by rule. The rules' facts (option
//! defaults, which codes are temporary) are read from [`crate::pbx`], each
//! with its source; the words are [`crate::say::next_move`].
//!
//! Asterisk PJSIP outbound registrations (`res_pjsip_outbound_registration.c`,
//! `handle_registration_response` and `sip_outbound_registration_is_temporal`;
//! defaults from its option documentation, [`crate::pbx::asterisk`]): a 401/407 to the REGISTER that carried
//! credentials is fatal (`auth_rejection_permanent=yes`); 403 is fatal unless
//! `forbidden_retry_interval` is set; other codes that are not temporary are
//! fatal unless `fatal_retry_interval` is set; 408, 500, 502, 503, 504 and
//! 6xx are temporary: `Retry-After` first, else `retry_interval` (60 s);
//! no answer is retried every `retry_interval`; each retry counts toward
//! `max_retries` (10), after which it stops; a registration is refreshed
//! 10 s (`REREGISTER_BUFFER_TIME`) before the granted expiry.
//!
//! FreeSWITCH gateways (`mod_sofia`, `sofia_reg.c`): a failure moves the
//! gateway to FAILED, then FAIL_WAIT for `retry-seconds` (30) × the number
//! of failures, flat for 503 and timeouts (its code 908); it never stops;
//! it refreshes 15 s before the granted expiry.
//!
//! Where the wire contradicts a rule (the PBX retried when its defaults
//! stop, or at another interval), the prediction is that the configuration
//! differs from the defaults, never a guess.
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::pbx::{asterisk, freeswitch};

use super::{
    PbxKind,
    attempt::Outcome,
    record::Streak,
    state::{FailureRun, Grant},
    storm::BURST_WINDOW,
    transaction::TIMER_B,
};

/// The rule a prediction follows, named for the PBX's option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Asterisk: a 401/407 to the credentials (or one it cannot answer) is
    /// fatal while `auth_rejection_permanent=yes` (the default).
    AsteriskAuthRejectionPermanent,
    /// Asterisk: 403 is fatal while `forbidden_retry_interval=0` (the default).
    AsteriskForbidden,
    /// Asterisk: a code that is not temporary is fatal while
    /// `fatal_retry_interval=0` (the default).
    AsteriskFatal,
    /// Asterisk: a temporary code (408, 500, 502, 503, 504, 6xx) with
    /// Retry-After: it waits as told.
    AsteriskRetryAfter,
    /// Asterisk: a temporary code, or no answer: `retry_interval` (60 s).
    AsteriskRetryInterval,
    /// Asterisk: `max_retries` (10) retries spent: it stops.
    AsteriskMaxRetries,
    /// Asterisk: refreshes 10 s before the granted expiry.
    AsteriskRefresh,
    /// FreeSWITCH: FAIL_WAIT for `retry-seconds` (30) × failures.
    FreeSwitchBackoff,
    /// FreeSWITCH: FAIL_WAIT for `retry-seconds` (30), flat after a 503 or
    /// a timeout (908).
    FreeSwitchFlat,
    /// FreeSWITCH: refreshes 15 s before the granted expiry.
    FreeSwitchRefresh,
    /// Another client: the interval seen on the wire.
    SeenOnWire,
    /// Another client: before the granted expiry, at the latest.
    GrantedExpiry,
}

/// What starts a PBX that gave up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revival {
    /// `pjsip send register <registration>` or a reload of
    /// `res_pjsip_outbound_registration`.
    AsteriskSendRegister,
}

/// How the wire contradicts a rule's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "seen", rename_all = "snake_case")]
pub enum Deviation {
    /// The PBX tried again where the default stops: `attempts` in a row.
    KeptTrying {
        /// Failed attempts in a row.
        attempts: u32,
    },
    /// It waited another time than the default.
    Interval {
        /// The default wait, seconds.
        default_s: u32,
        /// The wait seen on the wire, ms.
        seen_ms: u64,
    },
}

/// What the PBX's own status shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PbxShows {
    /// `pjsip show registrations`: Registered.
    AsteriskRegistered,
    /// `pjsip show registrations`: Rejected (temporary and permanent look
    /// the same there).
    AsteriskRejected,
    /// `sofia status gateway`: REGED.
    FreeSwitchReged,
    /// `sofia status gateway`: FAIL_WAIT (status DOWN).
    FreeSwitchFailWait,
}

/// What the PBX will do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum NextMove {
    /// Registered: it refreshes at `at`.
    Refreshes {
        /// When the refresh is due.
        #[serde(serialize_with = "crate::time::serialize")]
        at: SystemTime,
        /// The rule.
        rule: Rule,
        /// Its own status meanwhile.
        shows: Option<PbxShows>,
    },
    /// It tries again at `at`.
    RetriesAt {
        /// When the next REGISTER is due.
        #[serde(serialize_with = "crate::time::serialize")]
        at: SystemTime,
        /// The wait after the last failure, seconds.
        wait_s: u32,
        /// The rule.
        rule: Rule,
        /// Its own status meanwhile.
        shows: Option<PbxShows>,
    },
    /// It stops trying until `brought_back_by`.
    GivesUp {
        /// The rule.
        rule: Rule,
        /// What starts it again.
        brought_back_by: Revival,
        /// Its own status from now on.
        shows: Option<PbxShows>,
    },
    /// The wire contradicts `rule`'s default: the PBX is configured
    /// otherwise.
    ConfigDiffers {
        /// The rule contradicted.
        rule: Rule,
        /// What the wire showed.
        deviation: Deviation,
        /// The next REGISTER, at the interval seen, when one was.
        #[serde(serialize_with = "crate::time::serialize_opt")]
        next_at: Option<SystemTime>,
    },
    /// Nothing to predict (no outcome yet, unregistered, an unknown client
    /// seen failing once, or an outcome no rule covers).
    Unknown,
}

/// What the prediction is made from.
#[derive(Clone, Copy, Debug)]
pub struct Situation {
    /// The client.
    pub pbx: PbxKind,
    /// The run of failures, if failing.
    pub run: Option<FailureRun>,
    /// The same failure in a row (the tail of the run).
    pub streak: Option<Streak>,
    /// Retry-After of the answer that ended the last failure, seconds.
    pub retry_after_s: Option<u32>,
    /// The registration as the registrar holds it.
    pub granted: Option<Grant>,
    /// A new attempt was started after the last failure.
    pub retrying: bool,
}

/// Asterisk's reading of a failure (`handle_registration_response`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AsteriskClass {
    Fatal(Rule),
    Temporary,
}

fn asterisk_class(outcome: Outcome) -> Option<AsteriskClass> {
    Some(match outcome {
        Outcome::Rejected { code: 401 | 407 } | Outcome::Abandoned { .. } => {
            AsteriskClass::Fatal(Rule::AsteriskAuthRejectionPermanent)
        }
        Outcome::Rejected { code: 403 } => AsteriskClass::Fatal(Rule::AsteriskForbidden),
        Outcome::Rejected { code } if asterisk::is_temporary(code) => AsteriskClass::Temporary,
        Outcome::NoAnswer => AsteriskClass::Temporary,
        Outcome::Rejected { .. } => AsteriskClass::Fatal(Rule::AsteriskFatal),
        _ => return None,
    })
}

/// The PBX's next move in `s`.
pub fn next_move(s: &Situation) -> NextMove {
    let Some(run) = s.run else {
        return refresh(s);
    };
    match s.pbx {
        PbxKind::Asterisk => asterisk(s, &run),
        PbxKind::FreeSwitch => freeswitch(s, &run),
        PbxKind::Other => seen_on_wire(s, &run),
    }
}

fn refresh(s: &Situation) -> NextMove {
    let Some(g) = s.granted.filter(|g| !g.lapsed) else {
        return NextMove::Unknown;
    };
    let (before, rule, shows) = match s.pbx {
        PbxKind::Asterisk => (
            asterisk::REFRESH_BEFORE_S,
            Rule::AsteriskRefresh,
            Some(PbxShows::AsteriskRegistered),
        ),
        PbxKind::FreeSwitch => (
            freeswitch::REFRESH_BEFORE_S,
            Rule::FreeSwitchRefresh,
            Some(PbxShows::FreeSwitchReged),
        ),
        PbxKind::Other => (0, Rule::GrantedExpiry, None),
    };
    let at = g
        .until
        .checked_sub(secs(before.min(g.expires_s)))
        .unwrap_or(g.until);
    NextMove::Refreshes { at, rule, shows }
}

fn asterisk(s: &Situation, run: &FailureRun) -> NextMove {
    let shows = Some(PbxShows::AsteriskRejected);
    let Some(class) = asterisk_class(run.last) else {
        return NextMove::Unknown;
    };
    let streak = s.streak.filter(|k| k.outcome == run.last);
    let retried = streak.map_or(1, |k| k.count) >= 2 || s.retrying;
    match class {
        AsteriskClass::Fatal(rule) if retried => NextMove::ConfigDiffers {
            rule,
            deviation: Deviation::KeptTrying {
                attempts: streak.map_or(1, |k| k.count),
            },
            next_at: next_seen(streak),
        },
        AsteriskClass::Fatal(rule) => NextMove::GivesUp {
            rule,
            brought_back_by: Revival::AsteriskSendRegister,
            shows,
        },
        AsteriskClass::Temporary => {
            // The first failure and `max_retries` retries.
            let allowed = asterisk::MAX_RETRIES.default + 1;
            if run.count > allowed || (run.count == allowed && s.retrying) {
                return NextMove::ConfigDiffers {
                    rule: Rule::AsteriskMaxRetries,
                    deviation: Deviation::KeptTrying {
                        attempts: run.count,
                    },
                    next_at: next_seen(streak),
                };
            }
            if run.count == allowed {
                return NextMove::GivesUp {
                    rule: Rule::AsteriskMaxRetries,
                    brought_back_by: Revival::AsteriskSendRegister,
                    shows,
                };
            }
            let (rule, wait) = match s.retry_after_s.filter(|_| run.last != Outcome::NoAnswer) {
                Some(after) => (Rule::AsteriskRetryAfter, after),
                None => (
                    Rule::AsteriskRetryInterval,
                    asterisk::RETRY_INTERVAL.default,
                ),
            };
            retry(run, streak, rule, (wait, wait), shows)
        }
    }
}

fn freeswitch(s: &Situation, run: &FailureRun) -> NextMove {
    let flat = match run.last {
        Outcome::NoAnswer => freeswitch::retries_flat(None),
        Outcome::Rejected { code } => freeswitch::retries_flat(Some(code)),
        _ => false,
    };
    let (rule, wait, waited) = if flat {
        (
            Rule::FreeSwitchFlat,
            freeswitch::RETRY_SECONDS.default,
            freeswitch::RETRY_SECONDS.default,
        )
    } else {
        (
            Rule::FreeSwitchBackoff,
            freeswitch::RETRY_SECONDS.default.saturating_mul(run.count),
            freeswitch::RETRY_SECONDS
                .default
                .saturating_mul(run.count.saturating_sub(1)),
        )
    };
    let streak = s.streak.filter(|k| k.outcome == run.last);
    retry(
        run,
        streak,
        rule,
        (wait, waited),
        Some(PbxShows::FreeSwitchFailWait),
    )
}

fn seen_on_wire(s: &Situation, run: &FailureRun) -> NextMove {
    let Some(k) = s.streak.filter(|k| k.outcome == run.last) else {
        return NextMove::Unknown;
    };
    match k.last_gap_ms {
        // Retries within a second are a burst (a client answering each
        // 401 at once), not a pace: nothing to predict the next from.
        Some(gap) if gap < BURST_WINDOW.as_millis() as u64 => NextMove::Unknown,
        Some(gap) => NextMove::RetriesAt {
            at: later(k.last_at, Duration::from_millis(gap)),
            wait_s: u32::try_from(gap / 1000).unwrap_or(u32::MAX),
            rule: Rule::SeenOnWire,
            shows: None,
        },
        None => NextMove::Unknown,
    }
}

/// A retry `wait` seconds after the last failure, unless the wire showed
/// another wait than `waited` (the rule's wait before the last failure).
fn retry(
    run: &FailureRun,
    streak: Option<Streak>,
    rule: Rule,
    (wait, waited): (u32, u32),
    shows: Option<PbxShows>,
) -> NextMove {
    if let Some(d) = deviation(streak, waited) {
        return differs(rule, d, streak);
    }
    NextMove::RetriesAt {
        at: later(run.last_at, secs(wait)),
        wait_s: wait,
        rule,
        shows,
    }
}

fn differs(rule: Rule, deviation: Deviation, streak: Option<Streak>) -> NextMove {
    NextMove::ConfigDiffers {
        rule,
        deviation,
        next_at: next_seen(streak),
    }
}

/// The next REGISTER at the interval seen last, when one was.
fn next_seen(streak: Option<Streak>) -> Option<SystemTime> {
    streak.and_then(|k| Some(later(k.last_at, Duration::from_millis(k.last_gap_ms?))))
}

/// The wait the wire showed before the latest failure, when it differs
/// from `expected` seconds by more than 5 s and a fifth. A failure by
/// Timer F comes 32 s after its REGISTER: that is not part of the wait.
fn deviation(streak: Option<Streak>, expected: u32) -> Option<Deviation> {
    let k = streak?;
    let gap = k.last_gap_ms?;
    let answer_time = if k.outcome == Outcome::NoAnswer {
        TIMER_B.as_millis() as u64
    } else {
        0
    };
    let seen = gap.saturating_sub(answer_time);
    let expected_ms = u64::from(expected) * 1000;
    let tolerance = (expected_ms / 5).max(5_000);
    (seen.abs_diff(expected_ms) > tolerance).then_some(Deviation::Interval {
        default_s: expected,
        seen_ms: seen,
    })
}

/// `t + d`, or `t` where that cannot be represented (a hostile capture's time).
fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or(t)
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn failing(pbx: PbxKind, last: Outcome, count: u32, retry_after_s: Option<u32>) -> Situation {
        Situation {
            pbx,
            run: Some(FailureRun {
                last,
                count,
                first_at: at(0),
                last_at: at(100),
                interval_ms: None,
            }),
            streak: Some(Streak {
                outcome: last,
                count: 1,
                last_at: at(100),
                last_gap_ms: None,
            }),
            retry_after_s,
            granted: None,
            retrying: false,
        }
    }

    #[test]
    fn another_clients_burst_is_no_pace_to_predict_from() {
        let rejected = Outcome::Rejected { code: 401 };
        let mut s = failing(PbxKind::Other, rejected, 8, None);
        // Eight 401s within 2 ms (a client answering each challenge at once).
        s.streak = Some(Streak {
            outcome: rejected,
            count: 8,
            last_at: at(100),
            last_gap_ms: Some(0),
        });
        assert_eq!(next_move(&s), NextMove::Unknown);
        // Every 30 s is a pace.
        s.streak = Some(Streak {
            outcome: rejected,
            count: 3,
            last_at: at(100),
            last_gap_ms: Some(30_000),
        });
        assert!(matches!(
            next_move(&s),
            NextMove::RetriesAt {
                wait_s: 30,
                rule: Rule::SeenOnWire,
                ..
            }
        ));
    }

    #[test]
    fn nothing_is_predicted_without_an_outcome_or_a_grant() {
        let s = Situation {
            pbx: PbxKind::Asterisk,
            run: None,
            streak: None,
            retry_after_s: None,
            granted: None,
            retrying: false,
        };
        assert_eq!(next_move(&s), NextMove::Unknown);
    }

    #[test]
    fn asterisk_reads_retry_after_only_from_an_answer() {
        let s = failing(PbxKind::Asterisk, Outcome::NoAnswer, 1, Some(300));
        assert!(matches!(
            next_move(&s),
            NextMove::RetriesAt {
                wait_s: 60,
                rule: Rule::AsteriskRetryInterval,
                ..
            }
        ));
    }

    #[test]
    fn asterisk_treats_6xx_as_temporary_and_an_abandoned_challenge_as_fatal() {
        let s = failing(
            PbxKind::Asterisk,
            Outcome::Rejected { code: 603 },
            1,
            Some(30),
        );
        assert_eq!(
            next_move(&s),
            NextMove::RetriesAt {
                at: at(130),
                wait_s: 30,
                rule: Rule::AsteriskRetryAfter,
                shows: Some(PbxShows::AsteriskRejected),
            }
        );
        let s = failing(PbxKind::Asterisk, Outcome::Abandoned { code: 401 }, 1, None);
        assert!(matches!(next_move(&s), NextMove::GivesUp { .. }));
    }

    #[test]
    fn an_asterisk_that_gave_up_yet_sends_again_is_configured_otherwise() {
        let mut s = failing(PbxKind::Asterisk, Outcome::Rejected { code: 404 }, 1, None);
        s.retrying = true;
        assert!(matches!(
            next_move(&s),
            NextMove::ConfigDiffers {
                rule: Rule::AsteriskFatal,
                deviation: Deviation::KeptTrying { attempts: 1 },
                next_at: None,
            }
        ));
    }

    #[test]
    fn asterisk_stops_at_its_eleventh_temporary_failure() {
        let s = failing(PbxKind::Asterisk, Outcome::Rejected { code: 503 }, 10, None);
        assert!(matches!(next_move(&s), NextMove::RetriesAt { .. }));
        let s = failing(PbxKind::Asterisk, Outcome::Rejected { code: 503 }, 11, None);
        assert!(matches!(
            next_move(&s),
            NextMove::GivesUp {
                rule: Rule::AsteriskMaxRetries,
                ..
            }
        ));
    }

    #[test]
    fn a_lapsed_grant_is_not_refreshed() {
        let s = Situation {
            pbx: PbxKind::FreeSwitch,
            run: None,
            streak: None,
            retry_after_s: None,
            granted: Some(Grant {
                expires_s: 60,
                granted_at: at(0),
                until: at(60),
                lapsed: true,
            }),
            retrying: false,
        };
        assert_eq!(next_move(&s), NextMove::Unknown);
    }
}
