//! `sipwatch analyze FILE`: the live pipeline over a capture file.
use std::{io::Write, path::Path};

use crate::{
    capture::file::{CaptureFileReader, FileError},
    net::SipSelection,
    pipeline::Pipeline,
    report::{CaptureSummary, LogView, write_summary},
};

/// What an analysis read, and why it stopped early if it did.
pub struct Analysis {
    pub summary: CaptureSummary,
    pub format: &'static str,
    /// Set when the file was cut short or corrupt: everything before was analysed.
    pub stopped: Option<FileError>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Open(#[from] FileError),
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
}

/// Analyses a file, taking as SIP what `attach` selects by default.
pub fn run(path: &Path, view: LogView, out: impl Write) -> Result<Analysis, AnalyzeError> {
    run_with(path, view, SipSelection::default(), out)
}

/// Analyses a file, taking as SIP what `selection` says (`--port`, `--no-sniff`).
pub fn run_with(
    path: &Path,
    view: LogView,
    selection: SipSelection,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    let mut reader = CaptureFileReader::open(path)?;
    let format = reader.format_name();
    let mut pipeline = Pipeline::new(out, view).with_selection(selection);
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
    let (mut out, pipeline, tracker) = pipeline.finish()?;
    let summary = CaptureSummary {
        pipeline,
        ..CaptureSummary::default()
    };
    if view != LogView::Json {
        writeln!(out, "--- {} ({format}) ---", path.display())?;
    }
    write_summary(&mut out, &summary, &tracker, false, view)?;
    out.flush()?;
    Ok(Analysis {
        summary,
        format,
        stopped,
    })
}
