//! The one path every frame takes, live or from a file: decode, assemble
//! whole SIP messages, track transactions and registrations, and hand each
//! frame, message and event to every output in turn.
use std::io::{self, Write};

use sipwatch_common::looks_like_sip_start;

use crate::{
    capture::{Counters, Frame},
    net::Decoder,
    report::{CaptureSummary, Output, PipelineStats, RunEnd},
    sip::{Message, MessageAssembler},
    track::{Event, Tracker},
};

/// Decoder, assembler and tracker, feeding `outputs`; `out` is the run's
/// standard output, which the outputs share.
pub struct Pipeline<W: Write> {
    decoder: Decoder,
    assembler: MessageAssembler,
    tracker: Tracker,
    out: W,
    outputs: Vec<Box<dyn Output>>,
    frames: u64,
    messages_seen: u64,
    /// Reused between frames.
    messages: Vec<Message>,
    events: Vec<Event>,
}

/// What a run ended with: the counts, and the tracker's final state.
pub struct Finished {
    pub summary: CaptureSummary,
    pub tracker: Tracker,
}

impl<W: Write> Pipeline<W> {
    /// A pipeline writing to `out` through `outputs` (see [`crate::report::View::outputs`]).
    pub fn new(out: W, outputs: Vec<Box<dyn Output>>) -> Self {
        Self {
            decoder: Decoder::new(),
            assembler: MessageAssembler::default(),
            tracker: Tracker::default(),
            out,
            outputs,
            frames: 0,
            messages_seen: 0,
            messages: Vec::new(),
            events: Vec::new(),
        }
    }

    /// One frame through every stage.
    pub fn push(&mut self, frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        for o in &mut self.outputs {
            o.frame(frame)?;
        }
        if let Some(datagram) = self.decoder.push(frame) {
            self.assembler.push(datagram, &mut self.messages);
            self.deliver_messages()?;
        }
        Ok(())
    }

    fn deliver_messages(&mut self) -> io::Result<()> {
        for m in self.messages.drain(..) {
            self.messages_seen += 1;
            // Parsed once, for the tracker and every output alike.
            let parsed = looks_like_sip_start(&m.bytes).then(|| m.parsed());
            if let Some(p) = &parsed {
                self.tracker.push(p, &mut self.events);
            }
            for o in &mut self.outputs {
                o.message(&mut self.out, &m, parsed.as_ref())?;
            }
            deliver_events(&mut self.outputs, &mut self.out, &mut self.events)?;
        }
        Ok(())
    }

    /// Live: time passes without messages (timers fire, the table is redrawn).
    pub fn tick(&mut self, now: std::time::SystemTime) -> io::Result<()> {
        self.tracker.tick(now, &mut self.events);
        deliver_events(&mut self.outputs, &mut self.out, &mut self.events)?;
        for o in &mut self.outputs {
            o.tick(&mut self.out, &self.tracker)?;
        }
        self.out.flush()
    }

    /// The tracker as it stands.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// After a batch: what the outputs wrote reaches the terminal.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the run: what waits behind TCP gaps is framed, incomplete
    /// fragments and messages are counted, timers fire as of the last
    /// message, and every output writes its end. `kernel` and
    /// `malformed_records` are the live capture's own counters (none for a
    /// file, whose `source` names it).
    pub fn finish(
        mut self,
        kernel: Option<Counters>,
        malformed_records: u64,
        source: Option<&str>,
    ) -> io::Result<Finished> {
        self.decoder.finish();
        self.assembler.finish(&mut self.messages);
        self.deliver_messages()?;
        self.tracker.finish(&mut self.events);
        deliver_events(&mut self.outputs, &mut self.out, &mut self.events)?;
        let summary = CaptureSummary {
            kernel: kernel.unwrap_or_default(),
            malformed_records,
            pipeline: PipelineStats {
                frames: self.frames,
                messages: self.messages_seen,
                decode: self.decoder.stats(),
                assembly: self.assembler.stats(),
                tracking: self.tracker.stats(),
            },
        };
        let end = RunEnd {
            summary: &summary,
            tracker: &self.tracker,
            live: kernel.is_some(),
            source,
        };
        for o in &mut self.outputs {
            o.finish(&mut self.out, &end)?;
        }
        self.out.flush()?;
        Ok(Finished {
            summary,
            tracker: self.tracker,
        })
    }
}

fn deliver_events(
    outputs: &mut [Box<dyn Output>],
    out: &mut dyn Write,
    events: &mut Vec<Event>,
) -> io::Result<()> {
    for e in events.drain(..) {
        for o in outputs.iter_mut() {
            o.event(out, &e)?;
        }
    }
    Ok(())
}
