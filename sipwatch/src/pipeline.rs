//! The one path every frame takes, live or from a file: decode, assemble
//! whole SIP messages, log them.
use std::io::{self, Write};

use crate::{
    capture::Frame,
    net::{DecodeStats, Decoder},
    report::{LogView, MessageLog},
    sip::{AssemblyStats, Message, MessageAssembler},
};

pub struct Pipeline<W: Write> {
    decoder: Decoder,
    assembler: MessageAssembler,
    log: MessageLog<W>,
    frames: u64,
    messages_logged: u64,
    /// Reused between frames.
    messages: Vec<Message>,
}

/// What the pipeline counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    pub frames: u64,
    /// SIP messages (and non-SIP datagrams on SIP ports) passed to the log.
    pub messages: u64,
    pub decode: DecodeStats,
    pub assembly: AssemblyStats,
}

impl<W: Write> Pipeline<W> {
    pub fn new(out: W, view: LogView) -> Self {
        Self {
            decoder: Decoder::new(),
            assembler: MessageAssembler::default(),
            log: MessageLog::new(out, view),
            frames: 0,
            messages_logged: 0,
            messages: Vec::new(),
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
            self.log.write(&m)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.log.flush()
    }

    /// Ends the run: what waits behind TCP gaps is framed, incomplete
    /// fragments and messages are counted; returns the output and the counts.
    pub fn finish(mut self) -> io::Result<(W, PipelineStats)> {
        self.decoder.finish();
        self.assembler.finish(&mut self.messages);
        self.log_messages()?;
        self.log.flush()?;
        let stats = PipelineStats {
            frames: self.frames,
            messages: self.messages_logged,
            decode: self.decoder.stats(),
            assembly: self.assembler.stats(),
        };
        Ok((self.log.into_inner(), stats))
    }
}
