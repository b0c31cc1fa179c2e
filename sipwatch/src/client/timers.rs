//! RFC 3261 §17.1 timers and the retransmission schedule of a request over
//! UDP.
use std::time::Duration;

pub use crate::sip::timers::{T1, T2, TIMER_F};

/// The timers of one client transaction. [`Timers::default`] is RFC 3261's
/// (T1 = 500 ms, T2 = 4 s, Timer B / F = 32 s); a test uses
/// [`Timers::scaled`] with a small T1 to run the same schedule in
/// milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// T1: the first retransmission interval over UDP, doubled at each
    /// retransmission.
    pub t1: Duration,
    /// T2: the cap on a non-INVITE request's retransmission interval, and
    /// its interval once a provisional response came (RFC 3261 §17.1.2.2).
    /// An INVITE's interval is not capped (§17.1.1.2).
    pub t2: Duration,
    /// Timer B / F: how long to wait for a final response, from the first
    /// transmission, over any transport. It also bounds an INVITE after a
    /// provisional response (where RFC 3261 leaves the wait to the caller),
    /// so that no exchange waits forever.
    pub timeout: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: T1,
            t2: T2,
            timeout: TIMER_F,
        }
    }
}

impl Timers {
    /// RFC 3261's ratios around another T1: T2 = 8×T1, Timer B / F = 64×T1.
    pub fn scaled(t1: Duration) -> Timers {
        Timers {
            t1,
            t2: t1 * 8,
            timeout: t1 * 64,
        }
    }

    /// These timers with another overall wait (`sipwatch probe --timeout`).
    pub fn with_timeout(self, timeout: Duration) -> Timers {
        Timers { timeout, ..self }
    }
}

/// When a request goes out over UDP, as offsets from its first
/// transmission: 0, T1, 3×T1, 7×T1… the interval doubling at each
/// retransmission (Timer A / E), capped at T2 for a non-INVITE request
/// (RFC 3261 §17.1.1.2, §17.1.2.2). After a provisional response a
/// non-INVITE request goes on every T2, an INVITE not at all.
///
/// ```
/// use std::time::Duration;
/// use sipwatch::client::{Schedule, Timers};
/// let ms = |v: u64| Duration::from_millis(v);
/// let offsets: Vec<_> = Schedule::new(&Timers::default(), false).take(7).collect();
/// assert_eq!(offsets, [ms(0), ms(500), ms(1500), ms(3500), ms(7500), ms(11500), ms(15500)]);
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    next: Option<Duration>,
    interval: Duration,
    cap: Option<Duration>,
    t2: Duration,
    invite: bool,
}

impl Schedule {
    /// The schedule of an INVITE (`invite`) or of any other request.
    pub fn new(timers: &Timers, invite: bool) -> Schedule {
        Schedule {
            next: Some(Duration::ZERO),
            interval: timers.t1,
            cap: (!invite).then_some(timers.t2),
            t2: timers.t2,
            invite,
        }
    }

    /// A provisional response came (the Proceeding state): an INVITE is not
    /// sent again; another request goes on at the time already set, then
    /// every T2.
    pub fn proceeding(&mut self) {
        if self.invite {
            self.next = None;
        } else {
            self.interval = self.t2;
        }
    }

    /// When the next transmission is due, without taking it.
    pub fn peek(&self) -> Option<Duration> {
        self.next
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let due = self.next?;
        self.next = Some(due.saturating_add(self.interval));
        let doubled = self.interval.saturating_mul(2);
        self.interval = match self.cap {
            Some(cap) => doubled.min(cap),
            None => doubled,
        };
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn an_invite_doubles_without_cap_and_stops_after_a_provisional() {
        let mut s = Schedule::new(&Timers::default(), true);
        let offsets: Vec<_> = s.by_ref().take(7).collect();
        assert_eq!(
            offsets,
            [
                ms(0),
                ms(500),
                ms(1500),
                ms(3500),
                ms(7500),
                ms(15500),
                ms(31500)
            ]
        );
        s.proceeding();
        assert_eq!(s.next(), None);
    }

    #[test]
    fn a_non_invite_goes_on_every_t2_after_a_provisional() {
        let mut s = Schedule::new(&Timers::default(), false);
        assert_eq!(s.next(), Some(ms(0)));
        assert_eq!(s.next(), Some(ms(500)));
        s.proceeding();
        // The retransmission already set stays; the ones after are T2 apart.
        let offsets: Vec<_> = s.take(3).collect();
        assert_eq!(offsets, [ms(1500), ms(5500), ms(9500)]);
    }

    #[test]
    fn scaled_timers_keep_the_rfc_ratios() {
        let t = Timers::scaled(ms(10));
        assert_eq!((t.t2, t.timeout), (ms(80), ms(640)));
        assert_eq!(Timers::scaled(T1), Timers::default());
    }
}
