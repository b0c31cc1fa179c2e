//! The one path every frame takes, live or from a file: decode, assemble
//! whole SIP messages, track transactions and registrations, log.
use std::io::{self, Write};

use crate::{
    capture::Frame,
    net::{DecodeStats, Decoder},
    report::{LogView, MessageLog},
    sip::{AssemblyStats, Message, MessageAssembler},
    track::{Event, TrackStats, Tracker},
};
use sipwatch_common::looks_like_sip_start;

pub struct Pipeline<W: Write> {
    decoder: Decoder,
    assembler: MessageAssembler,
    log: MessageLog<W>,
    frames: u64,
    messages_logged: u64,
    tracker: Tracker,
    /// Reused between frames.
    messages: Vec<Message>,
    events: Vec<Event>,
}

/// What the pipeline counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    pub frames: u64,
    /// SIP messages (and non-SIP datagrams on SIP ports) passed to the log.
    pub messages: u64,
    pub decode: DecodeStats,
    pub assembly: AssemblyStats,
    pub tracking: TrackStats,
}

impl<W: Write> Pipeline<W> {
    pub fn new(out: W, view: LogView) -> Self {
        Self {
            decoder: Decoder::new(),
            assembler: MessageAssembler::default(),
            log: MessageLog::new(out, view),
            frames: 0,
            messages_logged: 0,
            tracker: Tracker::default(),
            messages: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn push(&mut self, frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        if let Some(datagram) = self.decoder.push(frame) {
            self.assembler.push(datagram, &mut self.messages);
            self.log_messages()?;
        }
        Ok(())
    }

    fn log_messages(&mut self) -> io::Result<()> {
        for m in self.messages.drain(..) {
            self.messages_logged += 1;
            // Parsed once, for the tracker and the log alike.
            let parsed = looks_like_sip_start(&m.bytes).then(|| m.parsed());
            if let Some(p) = &parsed {
                // Timers due before this message are told before it.
                self.tracker.tick(m.timestamp, &mut self.events);
                for e in self.events.drain(..) {
                    self.log.write_event(&e)?;
                }
                self.tracker.push(p, &mut self.events);
            }
            self.log.write(&m, parsed.as_ref())?;
            for e in self.events.drain(..) {
                self.log.write_event(&e)?;
            }
        }
        Ok(())
    }

    /// Live: time passes without messages (timers fire); the table view
    /// is redrawn.
    pub fn tick(&mut self, now: std::time::SystemTime) -> io::Result<()> {
        self.tracker.tick(now, &mut self.events);
        for e in self.events.drain(..) {
            self.log.write_event(&e)?;
        }
        if self.log.view() == LogView::Table {
            return self.log.redraw_table(&self.tracker);
        }
        self.log.flush()
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.log.flush()
    }

    /// Ends the run: what waits behind TCP gaps is framed, incomplete
    /// fragments and messages are counted; returns the output and the counts.
    pub fn finish(mut self) -> io::Result<(W, PipelineStats, Tracker)> {
        self.decoder.finish();
        self.assembler.finish(&mut self.messages);
        self.log_messages()?;
        self.tracker.finish(&mut self.events);
        for e in self.events.drain(..) {
            self.log.write_event(&e)?;
        }
        self.log.flush()?;
        let stats = PipelineStats {
            frames: self.frames,
            messages: self.messages_logged,
            decode: self.decoder.stats(),
            assembly: self.assembler.stats(),
            tracking: self.tracker.stats(),
        };
        Ok((self.log.into_inner(), stats, self.tracker))
    }
}
