//! Monotonic tallies of concluded attempts: how many ended each way, the
//! failures by code and diagnosis, and the registration request delays
//! (RFC 6076 §4.1) of the successful ones in fixed buckets. Events are
//! rate-limited and a binding's state tells only its latest attempt, so a
//! rate (attempts a minute, a success ratio) is taken from these counts.
//! Each binding keeps its own; the tracker keeps the sum of the bindings it
//! dropped, so that a total never goes down ([`super::Tracker::tally`]).
use std::collections::BTreeMap;

use serde::Serialize;

use super::{Diagnosis, Outcome, Purpose};

/// How a concluded attempt ended, in the words of metrics labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptEnd {
    /// A 2xx to a register or refresh.
    Registered,
    /// A final failure response (401 / 407 only when credentials sent were
    /// refused: a challenge answered is part of one attempt, not a failure).
    Rejected,
    /// No final response by Timer F (the PBX's 408).
    NoAnswer,
    /// A 401 / 407 challenge the client never answered.
    AbandonedChallenge,
    /// A 2xx to an un-REGISTER.
    Unregistered,
    /// A 2xx to a binding query.
    Queried,
}

impl AttemptEnd {
    /// Every end, so that each is exported (0 too).
    pub const ALL: [AttemptEnd; 6] = [
        AttemptEnd::Registered,
        AttemptEnd::Rejected,
        AttemptEnd::NoAnswer,
        AttemptEnd::AbandonedChallenge,
        AttemptEnd::Unregistered,
        AttemptEnd::Queried,
    ];

    fn of(o: Outcome) -> AttemptEnd {
        match o {
            Outcome::Registered { .. } => AttemptEnd::Registered,
            Outcome::Unregistered => AttemptEnd::Unregistered,
            Outcome::Queried => AttemptEnd::Queried,
            Outcome::Rejected { .. } => AttemptEnd::Rejected,
            Outcome::NoAnswer => AttemptEnd::NoAnswer,
            Outcome::Abandoned { .. } => AttemptEnd::AbandonedChallenge,
        }
    }
}

/// Upper bounds (seconds) of the request delay buckets: from a registrar
/// next door to Timer F (32 s), past which an attempt has no answer.
pub const RRD_BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 32.0,
];

/// Request delays of successful attempts, as a histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelayBuckets {
    /// Delays in each bucket of [`RRD_BUCKETS_S`] (not cumulative), the
    /// last one past them all.
    pub counts: [u64; RRD_BUCKETS_S.len() + 1],
    /// Their sum, µs.
    pub sum_us: u64,
}

impl DelayBuckets {
    fn observe(&mut self, us: u64) {
        let s = us as f64 / 1e6;
        let i = RRD_BUCKETS_S
            .iter()
            .position(|&le| s <= le)
            .unwrap_or(RRD_BUCKETS_S.len());
        self.counts[i] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// Delays observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn add(&mut self, other: &DelayBuckets) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

/// A failure's code and the kind of diagnosis that explains it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FailureKey {
    /// The code the PBX shows: the response's, 408 for no answer, the
    /// challenge's for one never answered.
    pub code: u16,
    /// The diagnosis's `kind`, as JSON names it (`credentials_rejected`).
    pub kind: String,
}

/// Concluded attempts of one binding, or of many summed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Attempts by how they ended.
    pub attempts: BTreeMap<AttemptEnd, u64>,
    /// Failed registrations and refreshes (not un-REGISTERs) by code and
    /// diagnosis kind: a bounded set (SIP codes, diagnosis kinds).
    pub failures: BTreeMap<FailureKey, u64>,
    /// Request delays of the successful registrations and refreshes.
    pub delays: DelayBuckets,
    /// REGISTERs sent again for a transaction already seen (the client's
    /// Timer E: no answer yet), counted by the tracker, not per binding.
    pub register_retransmissions: u64,
}

impl Tally {
    /// An attempt for `purpose` ended in `outcome`; `failure`: the
    /// diagnosis of a failed one.
    pub(super) fn on_outcome(
        &mut self,
        outcome: Outcome,
        purpose: Purpose,
        failure: Option<&Diagnosis>,
    ) {
        *self.attempts.entry(AttemptEnd::of(outcome)).or_default() += 1;
        if let (Some(d), false) = (failure, purpose == Purpose::Unregister) {
            let key = FailureKey {
                code: outcome.code().unwrap_or(0),
                kind: kind(d),
            };
            *self.failures.entry(key).or_default() += 1;
        }
    }

    /// A successful registration took `us` from its first REGISTER.
    pub(super) fn on_delay(&mut self, us: u64) {
        self.delays.observe(us);
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        for (k, n) in &other.attempts {
            *self.attempts.entry(*k).or_default() += n;
        }
        for (k, n) in &other.failures {
            *self.failures.entry(k.clone()).or_default() += n;
        }
        self.delays.add(&other.delays);
        self.register_retransmissions += other.register_retransmissions;
    }
}

/// A diagnosis's `kind`, as JSON writes it.
fn kind(d: &Diagnosis) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "other".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_falls_in_the_first_bucket_that_holds_it_and_past_32_s_in_the_last() {
        let mut d = DelayBuckets::default();
        d.observe(5_000);
        d.observe(5_001);
        d.observe(40_000_000);
        assert_eq!(d.counts[0], 1);
        assert_eq!(d.counts[1], 1);
        assert_eq!(d.counts[RRD_BUCKETS_S.len()], 1);
        assert_eq!(d.count(), 3);
        assert_eq!(d.sum_us, 40_010_001);
    }
}
