//! Continuity of a registration: the gaps during which the registrar held
//! no binding although the PBX meant to be registered (a refresh that came
//! after the granted expiry: inbound calls could not reach the PBX), and
//! the registration request delay of RFC 6076 §4.1 (RRD: from the first
//! REGISTER of an attempt to its final answer, for the attempts that
//! succeed). Worded by [`crate::say::continuity`].
use std::time::SystemTime;

use serde::Serialize;

use super::{record::millis, state::Grant};

/// A time the binding was not held between two registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// When the previous grant lapsed (the registrar's expiry).
    #[serde(serialize_with = "crate::time::serialize")]
    pub lapsed_at: SystemTime,
    /// When the registration was granted again.
    #[serde(serialize_with = "crate::time::serialize")]
    pub registered_at: SystemTime,
    /// Its length, ms.
    pub length_ms: u64,
}

/// Gaps and request delays of one binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Continuity {
    /// The last successful attempt's RRD (RFC 6076 §4.1), µs.
    pub rrd_last_us: Option<u64>,
    /// The largest RRD seen, µs.
    pub rrd_max_us: Option<u64>,
    /// Gaps seen.
    pub gaps: u32,
    /// The latest gap.
    pub last_gap: Option<Gap>,
    /// The longest gap, ms.
    pub longest_gap_ms: Option<u64>,
}

impl Continuity {
    /// A registration granted at `at` by an attempt that started at
    /// `started`; `previous`: the grant it replaces, if any.
    pub fn on_registered(&mut self, previous: Option<Grant>, started: SystemTime, at: SystemTime) {
        let rrd = at
            .duration_since(started)
            .unwrap_or_default()
            .as_micros()
            .try_into()
            .unwrap_or(u64::MAX);
        self.rrd_last_us = Some(rrd);
        self.rrd_max_us = Some(self.rrd_max_us.map_or(rrd, |m| m.max(rrd)));
        let Some(prev) = previous.filter(|g| g.until < at) else {
            return;
        };
        let gap = Gap {
            lapsed_at: prev.until,
            registered_at: at,
            length_ms: millis(at, prev.until),
        };
        self.gaps = self.gaps.saturating_add(1);
        self.last_gap = Some(gap);
        self.longest_gap_ms = Some(
            self.longest_gap_ms
                .map_or(gap.length_ms, |m| m.max(gap.length_ms)),
        );
    }
}
