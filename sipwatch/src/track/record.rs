//! The failure record of a binding: the answer that ended its last failed
//! attempt exactly as sent (code, reason phrase, Warning, Retry-After), who
//! ended it, since when it fails, how often, how far apart the attempts are
//! on the wire, and when it last succeeded. Derived from the binding for
//! the table, the detail view, JSON and metrics; worded by
//! [`crate::say::record`].
use std::time::SystemTime;

use serde::Serialize;

use super::{attempt::Outcome, state::FailureRun};
use crate::sip::{ParsedMessage, StartLine};

/// A final answer as the registrar sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalAnswer {
    /// The status code.
    pub code: u16,
    /// The reason phrase, exactly as sent.
    pub reason: String,
    /// The Warning header's text (RFC 3261 §20.43), when present.
    pub warning: Option<String>,
    /// Retry-After (RFC 3261 §20.33), seconds, when present.
    pub retry_after_s: Option<u32>,
    /// When it was seen.
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: SystemTime,
}

impl FinalAnswer {
    /// The answer `p` (a response).
    pub fn of(p: &ParsedMessage<'_>) -> FinalAnswer {
        FinalAnswer {
            code: p.status().unwrap_or(0),
            reason: match p.start_line() {
                Some(StartLine::Response { reason, .. }) => bounded(reason),
                _ => String::new(),
            },
            warning: p.warning().map(|w| bounded(&w)),
            retry_after_s: p.retry_after(),
            at: p.message.timestamp,
        }
    }
}

/// Who ended the failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The registrar (or a proxy on the way) answered with a failure.
    Registrar,
    /// Nothing answered by Timer F (RFC 3261 §17.1.2.2).
    NoAnswer,
    /// Only provisional responses (100 Trying…) came back by Timer F: the
    /// registrar got the request and never finished it.
    ProvisionalOnly,
    /// Over TCP, the registrar's TCP acknowledged the request and nothing
    /// answered it at the SIP level by Timer F.
    TcpAckedOnly,
    /// An ICMP error quoting the REGISTER.
    Icmp,
    /// A TCP reset, or a connection refused.
    TcpReset,
    /// This host: the client left a challenge unanswered.
    ThisHost,
    /// This host's own kernel dropped the REGISTER, or its answer (the
    /// drop tracer).
    DroppedHere,
}

impl EndedBy {
    /// Who ended an attempt with `outcome`; `None` for a success.
    pub fn of(outcome: Outcome) -> Option<EndedBy> {
        match outcome {
            Outcome::Rejected { .. } => Some(EndedBy::Registrar),
            Outcome::NoAnswer => Some(EndedBy::NoAnswer),
            Outcome::Abandoned { .. } => Some(EndedBy::ThisHost),
            _ => None,
        }
    }
}

/// The same outcome in a row: what the PBX did after this very failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streak {
    /// The outcome repeated.
    pub outcome: Outcome,
    /// Times in a row.
    pub count: u32,
    /// The latest.
    pub last_at: SystemTime,
    /// From the one before to the latest, ms.
    pub last_gap_ms: Option<u64>,
}

impl Streak {
    /// The streak after one more failure (`outcome` at `at`).
    pub fn after(prev: Option<Streak>, outcome: Outcome, at: SystemTime) -> Streak {
        match prev {
            Some(s) if s.outcome == outcome => Streak {
                outcome,
                count: s.count.saturating_add(1),
                last_at: at,
                last_gap_ms: Some(millis(at, s.last_at)),
            },
            _ => Streak {
                outcome,
                count: 1,
                last_at: at,
                last_gap_ms: None,
            },
        }
    }
}

/// Text kept from a message, cut at [`MAX_TEXT`] bytes (on a character
/// boundary, marked `…`): exact for anything a registrar sends in earnest,
/// bounded for a hostile one.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The most bytes of a reason phrase, Warning or Contact kept per binding.
pub const MAX_TEXT: usize = 512;

/// `later − earlier` in ms (0 when out of order).
pub fn millis(later: SystemTime, earlier: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .unwrap_or_default()
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// What a failing binding shows: every field of the record, for the detail
/// view and JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailureRecord {
    /// The last failure's code (408: no answer).
    pub code: Option<u16>,
    /// Its reason phrase exactly as sent; `None` when nothing answered.
    pub reason: Option<String>,
    /// The Warning header's text, when present.
    pub warning: Option<String>,
    /// Retry-After, seconds, when present.
    pub retry_after_s: Option<u32>,
    /// Who ended the last failed attempt.
    pub ended_by: Option<EndedBy>,
    /// The first failure of the current run.
    #[serde(serialize_with = "crate::time::serialize")]
    pub since: SystemTime,
    /// Failed attempts since.
    pub attempts: u32,
    /// The last successful registration, if one was seen.
    #[serde(serialize_with = "crate::time::serialize_opt")]
    pub last_success_at: Option<SystemTime>,
    /// Mean time between the failed attempts on the wire, ms.
    pub interval_ms: Option<u64>,
}

impl FailureRecord {
    /// The record of `run`, with the answer that ended it (`None` when
    /// nothing answered) and the last success.
    pub fn of(
        run: &FailureRun,
        answer: Option<&FinalAnswer>,
        last_success_at: Option<SystemTime>,
    ) -> FailureRecord {
        let answer = answer.filter(|_| {
            matches!(
                run.last,
                Outcome::Rejected { .. } | Outcome::Abandoned { .. }
            )
        });
        FailureRecord {
            code: run.last.code(),
            reason: answer.map(|a| a.reason.clone()),
            warning: answer.and_then(|a| a.warning.clone()),
            retry_after_s: answer.and_then(|a| a.retry_after_s),
            ended_by: EndedBy::of(run.last),
            since: run.first_at,
            attempts: run.count,
            last_success_at,
            interval_ms: run.interval_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_streak_counts_the_same_failure_and_starts_over_on_another() {
        let s = Streak::after(None, Outcome::NoAnswer, at(10));
        let s = Streak::after(Some(s), Outcome::NoAnswer, at(102));
        assert_eq!((s.count, s.last_gap_ms), (2, Some(92_000)));
        let s = Streak::after(Some(s), Outcome::Rejected { code: 403 }, at(110));
        assert_eq!((s.count, s.last_gap_ms), (1, None));
    }

    #[test]
    fn text_from_the_wire_is_kept_exactly_up_to_a_bound() {
        assert_eq!(bounded("Account  Suspended"), "Account  Suspended");
        let long = "é".repeat(MAX_TEXT);
        let kept = bounded(&long);
        assert!(kept.len() <= MAX_TEXT + "…".len() && kept.ends_with('…'));
    }

    #[test]
    fn a_time_before_the_epoch_or_far_away_never_panics() {
        assert_eq!(millis(at(0), at(10)), 0);
    }
}
