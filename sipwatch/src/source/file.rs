//! A capture file as a source: its frames in file order, from a path or
//! any reader (`analyze -` reads standard input).
use std::{io::Read, path::Path};

use super::{Input, Source, SourceEnd};
use crate::capture::file::{CaptureFileReader, FileError};

/// Frames per batch: the pipeline's output is flushed after each.
const BATCH: usize = 4096;

/// Frames from a pcap or pcapng file. A file cut short or corrupt ends the
/// source where it breaks; [`FileSource::stopped`] says why.
pub struct FileSource {
    reader: CaptureFileReader,
    name: String,
    stopped: Option<FileError>,
}

impl FileSource {
    /// Opens the file at `path`; errors as [`CaptureFileReader::open`].
    pub fn open(path: &Path) -> Result<Self, FileError> {
        Ok(Self::new(
            CaptureFileReader::open(path)?,
            &path.display().to_string(),
        ))
    }

    /// Reads a capture from `reader` (a pipe, standard input), `name`d in
    /// the summary; errors as [`CaptureFileReader::from_reader`].
    pub fn from_reader(reader: impl Read + 'static, name: &str) -> Result<Self, FileError> {
        Ok(Self::new(CaptureFileReader::from_reader(reader)?, name))
    }

    /// A source over an open reader.
    pub fn new(reader: CaptureFileReader, name: &str) -> Self {
        Self {
            reader,
            name: name.to_owned(),
            stopped: None,
        }
    }

    /// "pcap" or "pcapng".
    pub fn format_name(&self) -> &'static str {
        self.reader.format_name()
    }

    /// Why reading stopped before the end, if it did.
    pub fn stopped(&mut self) -> Option<FileError> {
        self.stopped.take()
    }

    /// See [`CaptureFileReader::passed_over`].
    pub fn passed_over(&self) -> Option<(u32, u64)> {
        self.reader.passed_over()
    }
}

impl Source for FileSource {
    type Error = std::io::Error;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, Self::Error> {
        for _ in 0..BATCH {
            let next = self.reader.next();
            // A secrets block goes ahead of the frames after it.
            for text in self.reader.take_secrets() {
                let name = crate::say::tls::secrets_block(&self.name);
                batch.push(Input::Secrets(text, name));
            }
            match next {
                Some(Ok(frame)) => batch.push(Input::Frame(frame)),
                Some(Err(e)) => {
                    self.stopped = Some(e);
                    return Ok(false);
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn end(&mut self) -> Result<SourceEnd, Self::Error> {
        Ok(SourceEnd {
            name: Some(format!("{} ({})", self.name, self.format_name())),
            stopped: self.stopped.as_ref().map(ToString::to_string),
            ..SourceEnd::default()
        })
    }
}
