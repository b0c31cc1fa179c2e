//! Capture files: reading classic pcap and pcapng (as written by tcpdump,
//! Wireshark/tshark or `sipwatch attach --write`) and writing pcapng.
//!
//! Reading yields the same [`Frame`]s as the live capture, so `analyze`
//! runs the very pipeline `attach` does. A file that ends early or turns to
//! garbage yields what was readable and then one [`FileError`] that says at
//! which byte and why.
//!
//! ```no_run
//! use sipwatch::capture::file::CaptureFileReader;
//! for frame in CaptureFileReader::open("trunk.pcapng".as_ref())? {
//!     let frame = frame?;
//! }
//! # Ok::<(), sipwatch::capture::file::FileError>(())
//! ```
mod cursor;
mod pcap;
mod pcapng;
mod writer;

use std::{fs::File, io::BufReader, path::Path};

pub use writer::{PcapNgWriter, Rotation};

use super::Frame;
use cursor::Cursor;

/// Why reading a capture file stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a pcap or pcapng file (it starts with {0:02x?})")]
    UnknownFormat([u8; 4]),
    #[error("the file ends in the middle of a {what} at byte {offset}: it was cut short")]
    Truncated { what: &'static str, offset: u64 },
    #[error("corrupt {what} at byte {offset}: {reason}")]
    Corrupt {
        what: &'static str,
        offset: u64,
        reason: String,
    },
    #[error("reading failed at byte {offset}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the capture file {path} failed")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

enum Format {
    Pcap(pcap::PcapReader),
    PcapNg(pcapng::PcapNgReader),
}

/// Frames from a pcap or pcapng file, in file order.
pub struct CaptureFileReader {
    cursor: Cursor<BufReader<File>>,
    format: Format,
    done: bool,
}

impl CaptureFileReader {
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let file = File::open(path).map_err(|source| FileError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let mut cursor = Cursor::new(BufReader::with_capacity(1 << 20, file));
        let magic = cursor.peek4("file header")?;
        let format = match magic {
            pcapng::SHB_MAGIC_BYTES => Format::PcapNg(pcapng::PcapNgReader::new()),
            m if pcap::is_pcap_magic(m) => Format::Pcap(pcap::PcapReader::start(&mut cursor)?),
            other => return Err(FileError::UnknownFormat(other)),
        };
        Ok(Self {
            cursor,
            format,
            done: false,
        })
    }

    /// "pcap" or "pcapng".
    pub fn format_name(&self) -> &'static str {
        match self.format {
            Format::Pcap(_) => "pcap",
            Format::PcapNg(_) => "pcapng",
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.cursor.offset()
    }
}

impl Iterator for CaptureFileReader {
    type Item = Result<Frame, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match &mut self.format {
            Format::Pcap(r) => r.next_frame(&mut self.cursor),
            Format::PcapNg(r) => r.next_frame(&mut self.cursor),
        };
        match next {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// pcap link types sipwatch decodes.
pub(crate) mod linktype {
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

#[cfg(test)]
mod tests;
