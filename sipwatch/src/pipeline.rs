//! The one path every frame takes, live or from a file: decode, then log.
use std::io::{self, Write};

use crate::{
    capture::Frame,
    net::{DecodeStats, Decoder},
    report::{LogView, MessageLog},
};

pub struct Pipeline<W: Write> {
    decoder: Decoder,
    log: MessageLog<W>,
    frames: u64,
}

impl<W: Write> Pipeline<W> {
    pub fn new(out: W, view: LogView) -> Self {
        Self {
            decoder: Decoder::new(),
            log: MessageLog::new(out, view),
            frames: 0,
        }
    }

    pub fn push(&mut self, frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        match self.decoder.push(frame) {
            Some(datagram) => self.log.write(&datagram),
            None => Ok(()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.log.flush()
    }

    /// Ends the run: incomplete fragments are counted; returns the output,
    /// the frames pushed and the decoder's counts.
    pub fn finish(mut self) -> (W, u64, DecodeStats) {
        self.decoder.finish();
        (self.log.into_inner(), self.frames, self.decoder.stats())
    }
}
