//! `attach --write`: every captured frame into pcapng, as an output.
use std::io::{self, Write};

use super::{Output, RunEnd};
use crate::capture::{
    Frame,
    file::{FileError, PcapNgWriter},
};

/// The pcapng writer as an output; at the end it says how many frames it
/// wrote (`written: N frames`) when `announce` is set (not in JSON).
pub struct PcapNgOutput {
    writer: Option<PcapNgWriter>,
    announce: bool,
}

impl PcapNgOutput {
    /// Writes through `writer`; `announce`: end with a line on stdout.
    pub fn new(writer: PcapNgWriter, announce: bool) -> PcapNgOutput {
        PcapNgOutput {
            writer: Some(writer),
            announce,
        }
    }
}

fn io(e: FileError) -> io::Error {
    io::Error::other(e)
}

impl Output for PcapNgOutput {
    fn frame(&mut self, frame: &Frame) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.write(frame).map_err(io),
            None => Ok(()),
        }
    }

    fn finish(&mut self, out: &mut dyn Write, _end: &RunEnd<'_>) -> io::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let written = writer.finish().map_err(io)?;
        if self.announce {
            writeln!(out, "written: {written} frames")?;
        }
        Ok(())
    }
}
