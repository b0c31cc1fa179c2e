//! The words of a binding's failure record ([`FailureRecord`]) and of its
//! run of failures in the table's short form.
use super::{hms, interval};
use crate::{
    time::clock,
    track::{BURST_WINDOW, EndedBy, FailureRecord, FailureRun, NextMove},
};

/// Who ended the attempt, in words: "the registrar answered".
pub fn ended_by(e: EndedBy) -> &'static str {
    match e {
        EndedBy::Registrar => "the registrar answered",
        EndedBy::NoAnswer => "no answer at all",
        EndedBy::ProvisionalOnly => "a provisional answer (100 Trying), never a final one",
        EndedBy::TcpAckedOnly => "acknowledged by the registrar's TCP, never answered in SIP",
        EndedBy::Icmp => "an ICMP error",
        EndedBy::TcpReset => "a TCP reset or refused connection",
        EndedBy::ThisHost => "this host left a challenge unanswered",
        EndedBy::DroppedHere => "dropped by this host's own kernel",
    }
}

/// The detail line: "last answer 403 Forbidden (Warning: 399 …), the
/// registrar answered; failing since 14:02:10.000, 7 attempts every 10 s;
/// last registered 13:58:00.120".
pub fn failure_record(r: &FailureRecord) -> String {
    let mut s = match (&r.code, &r.reason) {
        (Some(code), Some(reason)) => format!("last answer {code} {reason}"),
        (Some(code), None) => format!("last failure {code}"),
        _ => "last failure".into(),
    };
    if let Some(w) = &r.warning {
        s.push_str(&format!(" (Warning: {w})"));
    }
    if let Some(after) = r.retry_after_s {
        s.push_str(&format!(" (Retry-After: {after} s)"));
    }
    if let Some(by) = r.ended_by {
        s.push_str(&format!(", {}", ended_by(by)));
    }
    s.push_str(&format!(
        "; failing since {}, {} attempt{}",
        clock(r.since),
        r.attempts,
        if r.attempts == 1 { "" } else { "s" }
    ));
    if let Some(ms) = r.interval_ms {
        s.push_str(&format!(" every {}", interval(ms)));
    }
    match r.last_success_at {
        Some(t) => s.push_str(&format!("; last registered {}", clock(t))),
        None => s.push_str("; no success seen"),
    }
    s
}

/// The run in the table's short form, after the state's name: " ×7 since
/// 14:02:10, retry every 10 s", " since 14:02:10, gave up".
pub fn failure_run(run: &FailureRun, next: &NextMove) -> String {
    let mut s = String::new();
    if run.count > 1 {
        s.push_str(&format!(" ×{}", run.count));
    }
    s.push_str(&format!(" since {}", hms(run.first_at)));
    match (next, run.interval_ms) {
        (NextMove::GivesUp { .. }, _) => s.push_str(", gave up"),
        // A burst (each challenge answered at once) is no retry pace.
        (_, Some(ms)) if run.count > 1 && ms < BURST_WINDOW.as_millis() as u64 => {
            let total = (ms * u64::from(run.count - 1)).max(1);
            s.push_str(&format!(", all within {}", interval(total)))
        }
        (_, Some(ms)) if run.count > 1 => s.push_str(&format!(", retry every {}", interval(ms))),
        (NextMove::RetriesAt { at, .. }, _) => s.push_str(&format!(", retry at {}", hms(*at))),
        _ => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::track::Outcome;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_burst_reads_as_one_not_as_a_retry_pace() {
        let run = FailureRun {
            last: Outcome::Rejected { code: 401 },
            count: 8,
            first_at: at(0),
            last_at: at(0),
            interval_ms: Some(0),
        };
        assert!(
            failure_run(&run, &NextMove::Unknown).ends_with(", all within 1 ms"),
            "{}",
            failure_run(&run, &NextMove::Unknown)
        );
        let paced = FailureRun {
            interval_ms: Some(10_000),
            ..run
        };
        assert!(failure_run(&paced, &NextMove::Unknown).ends_with(", retry every 10 s"));
    }
}
