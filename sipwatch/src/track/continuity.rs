//! Continuity of a registration: the gaps during which the registrar held
//! no binding although the PBX meant to be registered (a refresh that came
//! after the granted expiry: inbound calls could not reach the PBX), and
//! the registration request delay of RFC 6076 §4.1 (RRD: from the first
//! REGISTER of an attempt to its final answer, for the attempts that
//! succeed).
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

    /// The detail line about the request delay, once one succeeded:
    /// "10 ms last, 30 ms at most (RFC 6076 RRD: …)".
    pub fn rrd_words(&self) -> Option<String> {
        let (last, max) = (self.rrd_last_us?, self.rrd_max_us?);
        Some(format!(
            "{} last, {} at most (RFC 6076 registration request delay: first REGISTER of an attempt to its final answer)",
            human_us(last),
            human_us(max)
        ))
    }

    /// The detail line about the latest gap, if there was one.
    pub fn gap_words(&self) -> Option<String> {
        let g = self.last_gap?;
        let more = if self.gaps > 1 {
            format!(
                " ({} gaps, the longest {})",
                self.gaps,
                super::record::interval(self.longest_gap_ms.unwrap_or(g.length_ms))
            )
        } else {
            String::new()
        };
        Some(format!(
            "not registered from {} to {} ({}){more}: the refresh came after the registrar's binding had expired, and inbound calls could not reach the PBX meanwhile",
            crate::time::clock(g.lapsed_at),
            crate::time::clock(g.registered_at),
            super::record::interval(g.length_ms)
        ))
    }
}

/// A delay for people: "0.3 ms", "12.0 ms", "2.5 s".
fn human_us(us: u64) -> String {
    if us < 100_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        super::record::interval(us / 1000)
    }
}
