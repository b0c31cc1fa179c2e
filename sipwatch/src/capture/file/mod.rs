//! Capture files: reading classic pcap and pcapng (as written by tcpdump,
//! Wireshark/tshark or `sipwatch attach --write`) and writing pcapng.
//!
//! Reading yields the same [`Frame`]s as the live capture, so `analyze`
//! runs the very pipeline `attach` does. A file that ends early or turns to
//! garbage yields what was readable and then one [`FileError`] that says at
//! which byte and why.
//!
//! A file is read from a path or from any reader (a pipe, standard
//! input: `sipwatch analyze -`), as ripgrep's searcher reads a path or a
//! reader:
//!
//! ```no_run
//! use sipwatch::capture::file::CaptureFileReader;
//! for frame in CaptureFileReader::open("trunk.pcapng".as_ref())? {
//!     let frame = frame?;
//! }
//! for frame in CaptureFileReader::from_reader(std::io::stdin())? {
//!     let frame = frame?;
//! }
//! # Ok::<(), sipwatch::capture::file::FileError>(())
//! ```
mod cursor;
mod keylog;
mod pcap;
mod pcapng;
mod writer;

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

pub use keylog::KeyLogFile;
pub use writer::{PcapNgWriter, Rotation};

use super::Frame;
use cursor::Cursor;

/// `1f 8b 08 08`: a file's first bytes, as a hex dump shows them.
fn hex(bytes: &[u8; 4]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a file that is no capture probably is, from its first bytes.
fn what_it_is(bytes: &[u8; 4]) -> &'static str {
    match bytes {
        [0x1f, 0x8b, ..] => ": gzip-compressed, unpack it first (gunzip)",
        [0x28, 0xb5, 0x2f, 0xfd] => ": zstd-compressed, unpack it first (unzstd)",
        [0xfd, b'7', b'z', b'X'] => ": xz-compressed, unpack it first (unxz)",
        [b'B', b'Z', b'h', _] => ": bzip2-compressed, unpack it first (bunzip2)",
        [b'P', b'K', 3, 4] => ": a zip archive, unpack it first",
        [b's', b'n', b'o', b'o'] => {
            ": a Solaris snoop capture, convert it with `editcap -F pcapng`"
        }
        b if b
            .iter()
            .all(|c| c.is_ascii_graphic() || c.is_ascii_whitespace()) =>
        {
            ": text, perhaps a tshark or sngrep text export rather than the capture"
        }
        _ => "",
    }
}

/// Why reading a capture file stopped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened: check the path and that the user may
    /// read it (captures by `tcpdump` are often owned by root).
    #[error("cannot open {path}")]
    Open {
        /// The path as given.
        path: String,
        /// Why the system refused (not found, permission denied…).
        #[source]
        source: std::io::Error,
    },
    /// The first 4 bytes are neither a pcap nor a pcapng magic number: the
    /// file is something else (a text export, another tool's format, a
    /// compressed file to unpack first). The bytes are given.
    #[error(
        "not a pcap or pcapng capture (it starts with the bytes {}{}); write one with `tcpdump -i eth0 -w FILE port 5060` or save it from Wireshark as pcapng",
        hex(.0),
        what_it_is(.0)
    )]
    UnknownFormat([u8; 4]),
    /// Nothing at all to read: an empty file, or nothing on standard input.
    #[error("it is empty: nothing to analyse")]
    Empty,
    /// The file ends inside a header or record: the capture was stopped
    /// uncleanly or the copy is incomplete. Everything before was read.
    #[error("the file ends in the middle of a {what} at byte {offset}: it was cut short")]
    Truncated {
        /// The part being read (`"pcap record"`, `"pcapng block header"`…).
        what: &'static str,
        /// Byte offset in the file where the data ran out.
        offset: u64,
    },
    /// A header or block holds values no writer produces (a bad byte-order
    /// magic, an unbelievable length, an undescribed interface): the file is
    /// damaged from there on. Everything before was read.
    #[error("corrupt {what} at byte {offset}: {reason}")]
    Corrupt {
        /// The part being read (`"section header"`, `"packet"`…).
        what: &'static str,
        /// Byte offset in the file of the damaged part.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The system failed to read the file part way (an I/O error on the
    /// disk or network share); everything before was read.
    #[error("reading failed at byte {offset}")]
    Io {
        /// Byte offset in the file where the read failed.
        offset: u64,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Named once for the whole file, rather than every frame counted as
    /// malformed: the user needs another capture, not a tally.
    #[error(
        "link type {link}{} is not one sipwatch reads: it reads Ethernet (VLAN tags \
         included), Linux cooked v1 and v2 (`tcpdump -i any`), raw IP, BSD loopback, PPP, \
         Cisco HDLC and NFLOG; \
         capture on the PBX's IP interface or on `any` instead",
        linktype::name(*.link).map(|n| format!(" ({n})")).unwrap_or_default()
    )]
    UnsupportedLinkType {
        /// The file's `LINKTYPE_*` number (tcpdump.org's link-layer header
        /// types list).
        link: u32,
    },
    /// Creating or writing the `attach --write` pcapng file failed: a full
    /// disk (use `--rotate`), a missing directory, no permission.
    #[error("writing the capture file {path} failed")]
    Write {
        /// The file being written (with rotation, the current one).
        path: String,
        /// The system's error.
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
    cursor: Cursor<BufReader<Box<dyn Read>>>,
    format: Format,
    done: bool,
}

impl CaptureFileReader {
    /// Opens `path` and reads its header: the format is told by the magic
    /// number, not the file name. Errors when the file cannot be opened, is
    /// not pcap or pcapng, or its header is cut short or corrupt.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let file = File::open(path).map_err(|source| FileError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_reader(file)
    }

    /// Reads a capture from `reader` (a pipe, standard input) and its
    /// header: errors when it is not pcap or pcapng, or its header is cut
    /// short or corrupt. The reader is read once, front to back.
    pub fn from_reader(reader: impl Read + 'static) -> Result<Self, FileError> {
        let reader: Box<dyn Read> = Box::new(reader);
        let mut cursor = Cursor::new(BufReader::with_capacity(1 << 20, reader));
        let magic = match cursor.peek4("file header") {
            // Not one byte: nothing was ever written there.
            Err(FileError::Truncated { offset: 0, .. }) => return Err(FileError::Empty),
            other => other?,
        };
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

    /// Packets passed over on pcapng interfaces of a link type sipwatch
    /// cannot read, while others were read: (the link type, how many).
    pub fn passed_over(&self) -> Option<(u32, u64)> {
        match &self.format {
            Format::PcapNg(r) => r.passed_over(),
            Format::Pcap(_) => None,
        }
    }
}

impl CaptureFileReader {
    /// The TLS key logs of the pcapng Decryption Secrets Blocks read so
    /// far and not yet taken: take them after each frame, before using it.
    pub fn take_secrets(&mut self) -> Vec<Vec<u8>> {
        match &mut self.format {
            Format::PcapNg(r) => r.take_secrets(),
            Format::Pcap(_) => Vec::new(),
        }
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

/// pcap link types (`LINKTYPE_*`, and the `DLT_*` values some writers put
/// in files instead).
pub(crate) mod linktype {
    use crate::capture::LinkType;

    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const PPP_HDLC: u32 = 50;
    pub const C_HDLC: u32 = 104;
    /// `DLT_RAW` on most systems, written by old libpcap instead of 101.
    pub const DLT_RAW: u32 = 12;
    /// `DLT_RAW` on OpenBSD.
    pub const DLT_RAW_OPENBSD: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;

    /// The link types sipwatch decodes.
    pub fn link_type(network: u32) -> Option<LinkType> {
        match network {
            NULL => Some(LinkType::BsdNull),
            ETHERNET => Some(LinkType::Ethernet),
            LOOP => Some(LinkType::BsdLoop),
            PPP | PPP_HDLC => Some(LinkType::Ppp),
            C_HDLC => Some(LinkType::CiscoHdlc),
            NFLOG => Some(LinkType::Nflog),
            LINUX_SLL => Some(LinkType::LinuxSll),
            LINUX_SLL2 => Some(LinkType::LinuxSll2),
            DLT_RAW | DLT_RAW_OPENBSD | RAW | IPV4 | IPV6 => Some(LinkType::RawIp),
            _ => None,
        }
    }

    /// The number a file gets for frames of `link`.
    pub fn number(link: LinkType) -> u32 {
        match link {
            LinkType::Ethernet => ETHERNET,
            LinkType::LinuxSll => LINUX_SLL,
            LinkType::LinuxSll2 => LINUX_SLL2,
            LinkType::RawIp => RAW,
            LinkType::BsdNull => NULL,
            LinkType::BsdLoop => LOOP,
            LinkType::Ppp => PPP,
            LinkType::CiscoHdlc => C_HDLC,
            LinkType::Nflog => NFLOG,
        }
    }

    /// Names of link types met in captures that sipwatch does not read, so
    /// that the error says what the file is.
    pub fn name(network: u32) -> Option<&'static str> {
        Some(match network {
            3 => "AX.25",
            6 => "IEEE 802.5 Token Ring",
            8 => "SLIP",
            10 => "FDDI",
            51 => "PPPoE",
            105 => "IEEE 802.11",
            107 => "Frame Relay",
            119 => "IEEE 802.11 with Prism header",
            127 => "IEEE 802.11 with radiotap header",
            163 => "IEEE 802.11 with AVS header",
            187 => "Bluetooth HCI",
            189 => "Linux USB",
            192 => "IEEE 802.11 with PPI header",
            195 => "IEEE 802.15.4",
            201 => "Bluetooth HCI with direction",
            220 => "Linux USB (memory-mapped)",
            227 => "SocketCAN",
            249 => "USBPcap",
            253 => "Linux netlink",
            147..=162 => "user-defined",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests;
