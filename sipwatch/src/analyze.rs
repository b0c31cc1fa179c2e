//! `sipwatch analyze FILE`: the live pipeline over a capture file, read
//! from a path or any reader (`sipwatch analyze -`: standard input).
use std::{
    io::{Read, Write},
    path::Path,
};

use crate::{
    capture::file::FileError,
    net::SipSelection,
    pipeline::Pipeline,
    report::{CaptureSummary, Output, StoreLimits},
    source::{self, FileSource},
    tls::KeyLog,
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

/// How a capture is read: what is taken as SIP (`--port`, `--no-sniff`)
/// and the TLS secrets its sessions are opened with (`--tls-keylog`; a
/// pcapng file's own secrets blocks are added as they come).
#[derive(Default)]
pub struct Reading {
    /// What is taken as SIP.
    pub selection: SipSelection,
    /// TLS secrets.
    pub keys: KeyLog,
}

impl From<SipSelection> for Reading {
    fn from(selection: SipSelection) -> Self {
        Self {
            selection,
            keys: KeyLog::new(),
        }
    }
}

impl Reading {
    fn pipeline<W: Write>(self, out: W, outputs: Vec<Box<dyn Output>>) -> Pipeline<W> {
        Pipeline::new(out, outputs)
            .with_selection(self.selection)
            .with_tls_keys(self.keys)
    }
}

/// Reads `path` through the pipeline into `outputs`, taking as SIP what
/// `attach` selects by default; see [`run_with`].
pub fn run(
    path: &Path,
    outputs: Vec<Box<dyn Output>>,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    run_with(path, outputs, Reading::default(), out)
}

/// Reads `path` through the pipeline into `outputs`, writing to `out`,
/// as `reading` says (what is SIP, the TLS secrets). A file
/// that cannot be opened is an error; one cut short or corrupt is analysed
/// as far as it can be read, and [`Analysis::stopped`] says why.
pub fn run_with(
    path: &Path,
    outputs: Vec<Box<dyn Output>>,
    reading: impl Into<Reading>,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    let source = FileSource::open(path)?;
    run_source(source, reading.into().pipeline(out, outputs))
}

/// As [`run_with`], reading the capture from `reader` (standard input for
/// `sipwatch analyze -`), `name`d in the summary.
pub fn run_reader(
    reader: impl Read + 'static,
    name: &str,
    outputs: Vec<Box<dyn Output>>,
    reading: impl Into<Reading>,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    let source = FileSource::from_reader(reader, name)?;
    run_source(source, reading.into().pipeline(out, outputs))
}

/// What `analyze --tui` reads: a file, or a reader (standard input) with
/// its name.
pub enum Input<'a> {
    /// A capture file.
    Path(&'a Path),
    /// A capture read from this reader, named so in the summary.
    Reader(Box<dyn Read>, &'a str),
}

/// As [`run_with`] or [`run_reader`], every message kept within `limits`
/// ([`crate::report::MessageStore`]) and the whole run handed to each
/// output's [`Output::browse`] once the file is read and the outputs
/// finished (`--tui` browses it until the user quits).
pub fn run_browsing(
    input: Input<'_>,
    outputs: Vec<Box<dyn Output>>,
    reading: impl Into<Reading>,
    limits: StoreLimits,
    out: impl Write,
) -> Result<Analysis, AnalyzeError> {
    let source = match input {
        Input::Path(path) => FileSource::open(path)?,
        Input::Reader(reader, name) => FileSource::from_reader(reader, name)?,
    };
    run_source(
        source,
        reading.into().pipeline(out, outputs).with_store(limits),
    )
}

/// `source` through `pipeline` to the end of the file, then to the outputs
/// that browse the run ([`Output::browse`]; none but `--tui`'s does).
fn run_source(
    mut source: FileSource,
    pipeline: Pipeline<impl Write>,
) -> Result<Analysis, AnalyzeError> {
    let mut finished =
        source::run_ready(source::drive(&mut source, pipeline, std::future::pending()))?;
    finished.browse()?;
    Ok(Analysis {
        summary: finished.summary,
        format: source.format_name(),
        stopped: source.stopped(),
        passed_over: source.passed_over(),
    })
}
