//! Where a run's inputs come from, and the one loop that feeds them to the
//! pipeline.
//!
//! A [`Source`] yields batches of [`Input`]s (frames, or whole SIP messages
//! for the sources that have no IP header to give: a HEP agent, TLS
//! plaintext), and says what its clock reads and how often the pipeline's
//! timers want a tick while it runs. [`drive`] is the loop `attach` and
//! `analyze` share: batches through the pipeline (the source's clocks told
//! after each), a tick every second
//! when the source asks for one, and on stop the source's last inputs
//! (live: hooks detached first, then the ring drained) before the
//! pipeline's end. The shape is smoltcp's `phy::Device`: the NIC ring
//! ([`NicSource`]) and a capture file ([`FileSource`]) are two plain
//! implementations; a HEP socket or a uprobe ring is a third.
//!
//! ```no_run
//! use sipwatch::{pipeline::Pipeline, report::{View, Detail}, source::{self, FileSource}};
//! let file = std::fs::File::open("trunk.pcapng")?;
//! let mut source = FileSource::from_reader(file, "trunk.pcapng")?;
//! let pipeline = Pipeline::new(std::io::stdout(), View::Text(Detail::FirstLine).outputs());
//! let finished = source::run_ready(source::drive(&mut source, pipeline, std::future::pending()))?;
//! println!("{} messages", finished.summary.pipeline.messages);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
mod both;
mod file;
pub mod hep;
mod nic;
pub mod plaintext;
mod process;

use std::{
    future::Future,
    io::{self, Write},
    time::{Duration, SystemTime},
};

pub use both::Both;
pub use file::FileSource;
pub use hep::{HepError, HepSource};
pub use nic::{NicError, NicSource};
pub use process::ProcessSource;

use crate::{
    capture::{Counters, Frame},
    hep::tally::Tally,
    pipeline::{Finished, Pipeline},
    report::Count,
    sip::{Clock, Message},
};

/// One input: a frame as captured, or a whole SIP message with its
/// addresses, time and [`Origin`](crate::sip::Origin).
pub enum Input {
    /// A frame, to be decoded and assembled.
    Frame(Frame),
    /// A whole message (HEP, TLS plaintext).
    Message(Message),
    /// TLS secrets as NSS key log text (a pcapng Decryption Secrets
    /// Block), and where they came from.
    Secrets(Vec<u8>, String),
}

/// What a source says when the run ends, for the summary.
#[derive(Default)]
pub struct SourceEnd {
    /// The kernel programs' counters (a live capture).
    pub kernel: Option<Counters>,
    /// Records the source could not decode (the ring's malformed ones).
    pub malformed_records: u64,
    /// What was read, for a file: `"trunk.pcapng (pcapng)"`.
    pub name: Option<String>,
    /// Why the source stopped before its end (a file cut short or
    /// corrupt), in words; everything before was read.
    pub stopped: Option<String>,
    /// The source's own counts (a HEP listener's refusals), for the
    /// summary.
    pub counts: Vec<Count>,
    /// A HEP listener's counts, for the JSON summary and the metrics.
    pub hep: Option<Tally>,
}

/// A place inputs come from. Every method but [`Source::next_batch`] has a
/// default for a source that needs nothing more (a file).
pub trait Source {
    /// Why the source failed. A source that merely ends (a file read to
    /// its end, or cut short) does not fail: it returns `Ok(false)`.
    type Error: From<io::Error>;

    /// Waits for the next inputs and appends them to `batch`; `Ok(false)`
    /// once the source has ended and nothing more will come.
    fn next_batch(
        &mut self,
        batch: &mut Vec<Input>,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// How often the pipeline is ticked (timers fire, the table is redrawn)
    /// while this source runs: live, every second; never for a file, whose
    /// time is its frames'.
    fn tick_every(&self) -> Option<Duration> {
        None
    }

    /// This source's clocks now, when it knows them without an input (the
    /// NIC: this host's clock; a HEP listener: each agent's, moved on from
    /// its last stamp), so that messages waiting for them go on and the
    /// timers move; see [`crate::pipeline::clocks`].
    fn now(&self) -> Vec<(Clock, SystemTime)> {
        Vec::new()
    }

    /// A HEP listener's counts so far, for the metrics on a tick.
    fn hep(&self) -> Option<Tally> {
        None
    }

    /// Counters to show on a tick (the kernel programs').
    fn counters(&mut self) -> Option<Counters> {
        None
    }

    /// After each batch went through `pipeline`: what the source must do
    /// in answer (live: stop consuming an echo's answers the audit found
    /// in conflict).
    fn after_batch<W: Write>(&mut self, _pipeline: &mut Pipeline<W>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Told to stop: appends the last inputs (live: the hooks detached
    /// first, then the ring drained, so the counters and the frames
    /// describe the same packets).
    fn stop(&mut self, _batch: &mut Vec<Input>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The run is over: what the summary needs from the source.
    fn end(&mut self) -> Result<SourceEnd, Self::Error> {
        Ok(SourceEnd::default())
    }
}

/// A source that may be absent (`attach` without `--hep-listen`): absent,
/// it has ended before it began.
impl<S: Source> Source for Option<S> {
    type Error = S::Error;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, S::Error> {
        match self {
            Some(s) => s.next_batch(batch).await,
            None => Ok(false),
        }
    }

    fn tick_every(&self) -> Option<Duration> {
        self.as_ref()?.tick_every()
    }

    fn now(&self) -> Vec<(Clock, SystemTime)> {
        self.as_ref().map(Source::now).unwrap_or_default()
    }

    fn hep(&self) -> Option<Tally> {
        self.as_ref()?.hep()
    }

    fn counters(&mut self) -> Option<Counters> {
        self.as_mut()?.counters()
    }

    fn after_batch<W: Write>(&mut self, pipeline: &mut Pipeline<W>) -> Result<(), S::Error> {
        match self {
            Some(s) => s.after_batch(pipeline),
            None => Ok(()),
        }
    }

    fn stop(&mut self, batch: &mut Vec<Input>) -> Result<(), S::Error> {
        match self {
            Some(s) => s.stop(batch),
            None => Ok(()),
        }
    }

    fn end(&mut self) -> Result<SourceEnd, S::Error> {
        match self {
            Some(s) => s.end(),
            None => Ok(SourceEnd::default()),
        }
    }
}

/// Runs `source` through `pipeline` until the source ends or `stop`
/// completes, then ends the pipeline (every output writes its end).
/// Errors are the source's, or an output's I/O error (as
/// `S::Error::from`).
pub async fn drive<S: Source, W: Write>(
    source: &mut S,
    mut pipeline: Pipeline<W>,
    stop: impl Future<Output = ()>,
) -> Result<Finished, S::Error> {
    let mut batch = Vec::new();
    let mut timer = source.tick_every().map(tokio::time::interval);
    let mut ended = false;
    // The source's clock runs from its start (see Pipeline::advance_clock).
    for (clock, now) in source.now() {
        pipeline.advance_clock(clock, now)?;
    }
    {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                more = source.next_batch(&mut batch) => {
                    ended = !more?;
                    push(&mut batch, &mut pipeline)?;
                    // Quiet sources' clocks move on with the busy one's
                    // batches, not only on ticks: a flood from one HEP
                    // agent does not pile up behind another's idle clock.
                    for (clock, now) in source.now() {
                        pipeline.advance_clock(clock, now)?;
                    }
                    source.after_batch(&mut pipeline)?;
                    if ended {
                        break;
                    }
                }
                () = tick(&mut timer) => {
                    for (clock, now) in source.now() {
                        pipeline.advance_clock(clock, now)?;
                    }
                    if let Some(tally) = source.hep() {
                        pipeline.note_hep(tally);
                    }
                    pipeline.tick(SystemTime::now(), source.counters())?;
                }
            }
        }
    }
    if !ended {
        source.stop(&mut batch)?;
        push(&mut batch, &mut pipeline)?;
    }
    let end = source.end()?;
    if let Some(why) = end.stopped {
        pipeline.note_stopped(why);
    }
    if let Some(tally) = end.hep {
        pipeline.note_hep(tally);
    }
    pipeline.note_counts(end.counts);
    Ok(pipeline.finish(end.kernel, end.malformed_records, end.name.as_deref())?)
}

/// The next tick of `timer`; never without one.
async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Every input of `batch` through `pipeline`, then its flush.
fn push(batch: &mut Vec<Input>, pipeline: &mut Pipeline<impl Write>) -> io::Result<()> {
    for input in batch.drain(..) {
        match input {
            Input::Frame(frame) => pipeline.push(&frame)?,
            Input::Message(message) => pipeline.push_message(message)?,
            Input::Secrets(text, name) => pipeline.push_secrets(&text, &name),
        }
    }
    pipeline.flush()
}

/// Runs [`drive`] to its end without an async runtime, for a source that
/// never waits (a file, standard input read blocking): polled until done.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // A source that waited after all: give it the CPU and poll again.
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::from_agent;

    /// A source of prepared inputs, one batch each.
    struct Replay(Vec<Vec<Input>>);

    impl Source for Replay {
        type Error = io::Error;

        async fn next_batch(&mut self, batch: &mut Vec<Input>) -> io::Result<bool> {
            if self.0.is_empty() {
                return Ok(false);
            }
            batch.append(&mut self.0.remove(0));
            Ok(!self.0.is_empty())
        }
    }

    const REGISTER: &str = "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-s1\r\n\
        From: <sip:bob@203.0.113.2>;tag=1\r\nTo: <sip:bob@203.0.113.2>\r\nCall-ID: s1\r\nCSeq: 1 REGISTER\r\n\
        Contact: <sip:bob@192.168.77.10:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";

    /// Prepared batches, and one quiet agent whose clock reads `quiet`
    /// once it has sent (in the first batch).
    struct WithQuietAgent {
        batches: Replay,
        quiet: (Clock, SystemTime),
        sent: bool,
    }

    impl Source for WithQuietAgent {
        type Error = io::Error;

        async fn next_batch(&mut self, batch: &mut Vec<Input>) -> io::Result<bool> {
            self.sent = true;
            self.batches.next_batch(batch).await
        }

        fn now(&self) -> Vec<(Clock, SystemTime)> {
            self.sent.then_some(self.quiet).into_iter().collect()
        }
    }

    #[test]
    fn a_busy_agent_does_not_pile_up_behind_a_quiet_agents_clock_between_ticks() {
        let quiet = from_agent(9060, 0, true, REGISTER);
        let busy = |i: u64| {
            let text = format!("OPTIONS sip:x SIP/2.0\r\nCall-ID: b{i}\r\nCSeq: 1 OPTIONS\r\n\r\n");
            Input::Message(from_agent(9061, 1 + i / 100, true, &text))
        };
        let n = crate::pipeline::clocks::MAX_WAITING as u64 + 2_000;
        let mut batches = vec![vec![Input::Message(quiet.clone())]];
        batches.extend((0..4).map(|b| (b * n / 4..(b + 1) * n / 4).map(busy).collect()));
        let far = quiet.timestamp + Duration::from_secs(3600);
        let mut source = WithQuietAgent {
            batches: Replay(batches),
            quiet: (quiet.origin.clock(), far),
            sent: false,
        };
        let pipeline = Pipeline::new(Vec::new(), Vec::new());
        let done = run_ready(drive(&mut source, pipeline, std::future::pending())).unwrap();
        let early = done
            .counts
            .iter()
            .find(|c| c.what.starts_with("messages let go"));
        assert_eq!(early.map(|c| c.n), Some(0), "{:?}", done.counts);
        assert_eq!(done.summary.pipeline.messages, n + 1);
    }

    #[test]
    fn two_message_sources_with_skewed_clocks_are_driven_by_the_slowest() {
        let ok = REGISTER.replacen("REGISTER sip:203.0.113.2 SIP/2.0", "SIP/2.0 200 OK", 1);
        let options = "OPTIONS sip:x SIP/2.0\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let mut source = Replay(vec![
            vec![Input::Message(from_agent(9060, 0, true, REGISTER))],
            // The second agent runs 45 s ahead of the first.
            vec![Input::Message(from_agent(9061, 45_000, true, options))],
            vec![Input::Message(from_agent(9060, 2, false, &ok))],
        ]);
        let pipeline = Pipeline::new(Vec::new(), Vec::new());
        let done = run_ready(drive(&mut source, pipeline, std::future::pending())).unwrap();
        assert_eq!(done.summary.pipeline.messages, 3);
        assert_eq!(done.summary.pipeline.tracking.timeouts, 0);
        assert_eq!(done.tracker.registrations().len(), 1);
    }
}
