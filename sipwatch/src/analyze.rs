//! `sipwatch analyze FILE`: the live pipeline over a capture file.
use std::{io::Write, path::Path};

use crate::{
    capture::file::{CaptureFileReader, FileError},
    net::SipSelection,
    pipeline::Pipeline,
    report::{CaptureSummary, Output},
};

/// What an analysis read, and why it stopped early if it did.
pub struct Analysis {
    /// What the pipeline counted and found: frames, messages, losses,
    /// registrations (the same summary `attach` ends with, without kernel
    /// counters).
    pub summary: CaptureSummary,
    /// The file's format as detected from its magic number: `"pcap"` or
    /// `"pcapng"`.
    pub format: &'static str,
    /// Set when the file was cut short or corrupt: everything before was analysed.
    pub stopped: Option<FileError>,
    /// Packets passed over on pcapng interfaces of a link type sipwatch
    /// cannot read, while the others were read: (that link type, how many).
    pub passed_over: Option<(u32, u64)>,
}

/// Why an analysis could not be done at all. A file that breaks off part
/// way is not an error but [`Analysis::stopped`].
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The file could not be opened, is not pcap or pcapng (an unknown magic
    /// number), or its header is already cut short or corrupt; the
    /// [`FileError`] says which, with the byte offset.
    #[error(transparent)]
    Open(#[from] FileError),
    /// Writing to the output failed: stdout closed (a pipe into `head`), a
    /// full disk.
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
}

/// Reads `path` through the pipeline into `outputs`, taking as SIP what
/// `attach` selects by default; see [`run_with`].
pub fn run(
    path: &Path,
    outputs: Vec<Box<dyn Output>>,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    run_with(path, outputs, SipSelection::default(), out)
}

/// Reads `path` through the pipeline into `outputs`, writing to `out`,
/// taking as SIP what `selection` says (`--port`, `--no-sniff`). A file
/// that cannot be opened is an error; one cut short or corrupt is analysed
/// as far as it can be read, and [`Analysis::stopped`] says why.
pub fn run_with(
    path: &Path,
    outputs: Vec<Box<dyn Output>>,
    selection: SipSelection,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    let mut reader = CaptureFileReader::open(path)?;
    let format = reader.format_name();
    let mut pipeline = Pipeline::new(out, outputs).with_selection(selection);
    let mut stopped = None;
    for frame in &mut reader {
        match frame {
            Ok(frame) => pipeline.push(&frame)?,
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    let source = format!("{} ({format})", path.display());
    let finished = pipeline.finish(None, 0, Some(&source))?;
    Ok(Analysis {
        summary: finished.summary,
        format,
        stopped,
        passed_over: reader.passed_over(),
    })
}
