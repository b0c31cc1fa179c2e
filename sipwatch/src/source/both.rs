//! Two sources as one (`attach IFACE --hep-listen ADDR:PORT`: the NIC and
//! a HEP listener): whichever has inputs first gives its batch; each keeps
//! its clocks; the first one's counters and kernel are the run's (the
//! second's when the first has none). Stopped in order: the first first. The
//! pipeline takes another origin's copy of a message once
//! ([`crate::pipeline::copies`]).
use std::{io::Write, time::Duration};

use super::{Input, Source, SourceEnd};
use crate::{capture::Counters, hep::tally::Tally, pipeline::Pipeline, sip::Clock};

/// `first` and `second`, run together; the second's errors become the
/// first's kind.
pub struct Both<A, B> {
    /// The main source (the NIC: its kernel counters are the run's).
    pub first: A,
    /// The other.
    pub second: B,
    /// Each has not ended yet.
    running: (bool, bool),
    /// The second's batch (both futures hold a batch at once).
    spare: Vec<Input>,
}

impl<A, B> Both<A, B> {
    /// Runs `first` and `second` together.
    pub fn new(first: A, second: B) -> Self {
        Both {
            first,
            second,
            running: (true, true),
            spare: Vec::new(),
        }
    }
}

impl<A: Source, B: Source> Source for Both<A, B>
where
    A::Error: From<B::Error>,
{
    type Error = A::Error;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, A::Error> {
        // Both sources' `next_batch` are cancel-safe (`drive` relies on it
        // already): the one not chosen loses nothing.
        tokio::select! {
            more = self.first.next_batch(batch), if self.running.0 => self.running.0 = more?,
            more = self.second.next_batch(&mut self.spare), if self.running.1 => self.running.1 = more?,
            else => return Ok(false),
        }
        batch.append(&mut self.spare);
        Ok(self.running.0 || self.running.1)
    }

    fn tick_every(&self) -> Option<Duration> {
        match (self.first.tick_every(), self.second.tick_every()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn now(&self) -> Vec<(Clock, std::time::SystemTime)> {
        let mut clocks = self.first.now();
        clocks.extend(self.second.now());
        clocks
    }

    fn hep(&self) -> Option<Tally> {
        self.first.hep().or_else(|| self.second.hep())
    }

    fn counters(&mut self) -> Option<Counters> {
        match self.first.counters() {
            Some(c) => Some(c),
            None => self.second.counters(),
        }
    }

    fn after_batch<W: Write>(&mut self, pipeline: &mut Pipeline<W>) -> Result<(), A::Error> {
        self.first.after_batch(pipeline)?;
        Ok(self.second.after_batch(pipeline)?)
    }

    fn stop(&mut self, batch: &mut Vec<Input>) -> Result<(), A::Error> {
        self.first.stop(batch)?;
        Ok(self.second.stop(batch)?)
    }

    fn end(&mut self) -> Result<SourceEnd, A::Error> {
        let mut end = self.first.end()?;
        let second = self.second.end()?;
        end.kernel = end.kernel.or(second.kernel);
        end.malformed_records += second.malformed_records;
        end.name = end.name.or(second.name);
        end.stopped = end.stopped.or(second.stopped);
        end.counts.extend(second.counts);
        end.hep = end.hep.or(second.hep);
        Ok(end)
    }
}
