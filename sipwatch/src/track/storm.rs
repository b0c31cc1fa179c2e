//! Retry storms: a client that sends REGISTERs for one binding faster than
//! a provider tolerates (several a second; some block at 5 a second per
//! AOR), or that retries a permanent failure without end. Either may get
//! this address blocked by the provider. Worded by [`crate::say::storm`].
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{attempt::Outcome, record::Streak};

/// New REGISTERs within [`BURST_WINDOW`] that make a burst.
pub const BURST_REQUESTS: usize = 5;
/// The window of a burst.
pub const BURST_WINDOW: Duration = Duration::from_secs(1);
/// The same permanent failure this many times in a row is a retry
/// without end.
pub const ENDLESS_AFTER: u32 = 5;

/// The latest REGISTER times of a binding (bounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pace {
    times: [Option<SystemTime>; BURST_REQUESTS],
    next: usize,
    /// The highest rate seen over [`BURST_REQUESTS`] requests, per second × 1000.
    max_rate_milli: u64,
}

impl Pace {
    /// A new REGISTER (not a retransmission) at `at`.
    pub fn on_request(&mut self, at: SystemTime) {
        self.times[self.next] = Some(at);
        self.next = (self.next + 1) % BURST_REQUESTS;
        // The slot to be overwritten next holds the oldest.
        let (Some(oldest), true) = (
            self.times[self.next],
            self.times.iter().all(Option::is_some),
        ) else {
            return;
        };
        let span = at.duration_since(oldest).unwrap_or_default();
        if span <= BURST_WINDOW {
            let per_s_milli =
                ((BURST_REQUESTS - 1) as u64 * 1_000_000) / (span.as_millis() as u64).max(1);
            self.max_rate_milli = self.max_rate_milli.max(per_s_milli);
        }
    }
}

/// A storm, with the rate seen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetryStorm {
    /// Several REGISTERs a second.
    Burst {
        /// The highest rate seen, REGISTERs per second.
        rate_per_s: f64,
    },
    /// The same permanent failure retried again and again.
    PermanentRetried {
        /// The failure's code.
        code: u16,
        /// Times in a row.
        attempts: u32,
        /// The interval between them, ms.
        interval_ms: Option<u64>,
    },
}

impl RetryStorm {
    /// The storm in `pace` and `streak`, if any.
    pub fn of(pace: &Pace, streak: Option<&Streak>) -> Option<RetryStorm> {
        if pace.max_rate_milli > 0 {
            return Some(RetryStorm::Burst {
                rate_per_s: pace.max_rate_milli as f64 / 1000.0,
            });
        }
        let k = streak?;
        let code = match k.outcome {
            Outcome::Rejected { code } => code,
            _ => return None,
        };
        let permanent = (400..500).contains(&code) && code != 408 || code >= 600;
        (permanent && k.count >= ENDLESS_AFTER).then_some(RetryStorm::PermanentRetried {
            code,
            attempts: k.count,
            interval_ms: k.last_gap_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn five_registers_within_a_second_are_a_burst_and_four_are_not() {
        let mut pace = Pace::default();
        for ms in [0, 100, 200, 300] {
            pace.on_request(at(ms));
        }
        assert_eq!(RetryStorm::of(&pace, None), None);
        pace.on_request(at(400));
        assert_eq!(
            RetryStorm::of(&pace, None),
            Some(RetryStorm::Burst { rate_per_s: 10.0 })
        );
    }

    #[test]
    fn registers_a_few_seconds_apart_are_no_burst() {
        let mut pace = Pace::default();
        for i in 0..20 {
            pace.on_request(at(i * 2_000));
        }
        assert_eq!(RetryStorm::of(&pace, None), None);
    }
}
