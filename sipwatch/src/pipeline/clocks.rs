//! Each source keeps its own clock. The tracker's timers (Timer F, a
//! registration's expiry) fire by message times; a source whose clock runs
//! ahead of the others (a PBX's HEP agent a minute fast) must not fire
//! them early for everyone else's messages.
//!
//! The rule (an event-time watermark, as stream processors use): each
//! clock reads the latest time its source reported, by a message or by
//! [`Clocks::advance`] when it is idle; the tracker may be told the time
//! only as far as the *slowest* clock has come. A message stamped beyond
//! that waits here, in time order, until every other clock has caught up
//! (or the run ends, or [`MAX_WAITING`] are waiting). With one source, the
//! slowest clock is its own and nothing ever waits.
use std::{collections::BTreeMap, time::SystemTime};

use crate::sip::{Clock, Message};

/// Messages held for a slower clock at most; beyond it the oldest go on
/// (counted in [`Clocks::released_early`]) so memory stays bounded.
pub const MAX_WAITING: usize = 10_000;

/// The sources' clocks, and the messages ahead of the slowest.
#[derive(Default)]
pub struct Clocks {
    clocks: BTreeMap<Clock, SystemTime>,
    /// By (time, arrival number): time order, ties in arrival order.
    waiting: BTreeMap<(SystemTime, u64), Message>,
    arrivals: u64,
    /// Messages let go before the slowest clock reached them, for want of
    /// room.
    pub released_early: u64,
}

impl Clocks {
    /// `clock` reads `now` (never goes back).
    pub fn advance(&mut self, clock: Clock, now: SystemTime) {
        let c = self.clocks.entry(clock).or_insert(now);
        *c = (*c).max(now);
    }

    /// As far as every clock has come; `None` before any has started.
    pub fn slowest(&self) -> Option<SystemTime> {
        self.clocks.values().min().copied()
    }

    /// Takes `m`'s time on its clock; `Some(m)` when it may go to the
    /// tracker now, `None` when it waits for a slower clock.
    pub fn arrive(&mut self, m: Message) -> Option<Message> {
        self.advance(m.origin.clock(), m.timestamp);
        if self.clocks.len() < 2 && self.waiting.is_empty() {
            return Some(m);
        }
        self.arrivals += 1;
        self.waiting.insert((m.timestamp, self.arrivals), m);
        None
    }

    /// The waiting messages the slowest clock has reached, oldest first
    /// (all of them when `all`, at the end of a run), and the oldest
    /// beyond [`MAX_WAITING`].
    pub fn due(&mut self, all: bool) -> Vec<Message> {
        let slowest = self.slowest();
        let mut out = Vec::new();
        loop {
            let crowded = self.waiting.len() > MAX_WAITING;
            let Some(entry) = self.waiting.first_entry() else {
                break;
            };
            let reached = all || slowest.is_some_and(|s| entry.key().0 <= s);
            if !reached && !crowded {
                break;
            }
            if !reached {
                self.released_early += 1;
            }
            out.push(entry.remove());
        }
        out
    }

    /// Whether more than one source's clock runs.
    pub fn is_several(&self) -> bool {
        self.clocks.len() > 1
    }

    /// Whether any message waits.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}
