//! `sipwatch analyze FILE`: the live pipeline over a capture file.
use std::{io::Write, path::Path};

use crate::{
    capture::file::{CaptureFileReader, FileError},
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

pub fn run(path: &Path, view: LogView, out: impl Write) -> Result<Analysis, AnalyzeError> {
    let mut reader = CaptureFileReader::open(path)?;
    let format = reader.format_name();
    let mut pipeline = Pipeline::new(out, view);
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
