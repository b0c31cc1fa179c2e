//! Writing frames to pcapng, with their interface and direction, optionally
//! rotating by size so that a continuous capture never fills the disk.
use std::{
    collections::HashMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::{
    FileError, linktype,
    pcapng::{
        BYTE_ORDER_MAGIC, DSB, EPB, EPB_FLAGS, FLAG_INBOUND, FLAG_OUTBOUND, IDB, IF_NAME,
        IF_TSRESOL, OPT_END, SECRETS_TLS_KEYLOG, SHB, padded,
    },
};
use crate::capture::{Direction, Frame, LinkType};

/// When to start a new file, and how many to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Start a new file once the current one has reached this many bytes.
    pub max_bytes: u64,
    /// Files kept at most; the oldest is deleted when a new one would exceed it.
    pub max_files: u32,
}

/// Nanosecond timestamps (if_tsresol = 9).
const TSRESOL_NANOS: u8 = 9;

/// Writes [`Frame`]s to pcapng (`attach --write`) with nanosecond
/// timestamps, one interface block per capture interface and link type, and
/// each frame's direction as its inbound / outbound flag, so that Wireshark
/// and `sipwatch analyze` see what the live capture saw. Rotates by size
/// with [`Rotation`] (`--rotate`).
pub struct PcapNgWriter {
    base: PathBuf,
    rotation: Option<Rotation>,
    out: BufWriter<File>,
    path: PathBuf,
    /// Files written so far (index of the current one).
    file_index: u32,
    bytes: u64,
    /// Capture interface (ifindex, link type) → interface id in this file.
    interfaces: HashMap<(u32, LinkType), u32>,
    frames: u64,
    /// `--tls-keylog`: the key log embedded as Decryption Secrets Blocks.
    secrets: Option<Secrets>,
}

/// `--tls-keylog` embedded: the key log followed, and every line read so
/// far (each file of a rotation starts with all of them, so that Wireshark
/// opens any of them decrypted).
///
/// A TLS library writes a session's secrets only once its handshake is
/// under way, after the first frames that need them went by: frames are
/// held for [`HOLD`] (at most [`MAX_HELD`] of them) so that the secrets
/// block lands ahead of them, where a one-pass reader (tshark, Wireshark's
/// first pass) needs it.
struct Secrets {
    file: super::KeyLogFile,
    text: Vec<u8>,
    held: std::collections::VecDeque<Frame>,
}

/// How long frames wait for their secrets, by their own timestamps.
const HOLD: std::time::Duration = std::time::Duration::from_millis(500);
/// Frames held at most; beyond, the oldest is written at once.
const MAX_HELD: usize = 8192;

impl PcapNgWriter {
    /// Creates `path` (and, with rotation, `path` with `.1`, `.2`, … before
    /// its extension for the files after it).
    pub fn create(path: &Path, rotation: Option<Rotation>) -> Result<Self, FileError> {
        let out = open(path)?;
        let mut w = Self {
            base: path.to_owned(),
            rotation,
            out,
            path: path.to_owned(),
            file_index: 0,
            bytes: 0,
            interfaces: HashMap::new(),
            frames: 0,
            secrets: None,
        };
        w.section_header()?;
        Ok(w)
    }

    /// Embeds the NSS key log at `keylog` (`--tls-keylog`) as Decryption
    /// Secrets Blocks: what it holds now at once, and the lines the TLS
    /// library appends later ahead of the next frame written. A key log
    /// that cannot be read is an error ([`FileError::Open`]).
    pub fn with_secrets(mut self, keylog: &Path) -> Result<Self, FileError> {
        self.secrets = Some(Secrets {
            file: super::KeyLogFile::open(keylog)?,
            text: Vec::new(),
            held: std::collections::VecDeque::new(),
        });
        self.new_secrets()?;
        Ok(self)
    }

    /// Writes the key log's new whole lines as one secrets block.
    fn new_secrets(&mut self) -> Result<(), FileError> {
        let Some(s) = &mut self.secrets else {
            return Ok(());
        };
        let Some(new) = s.file.new_lines() else {
            return Ok(());
        };
        s.text.extend_from_slice(&new);
        self.secrets_block(&new)
    }

    fn secrets_block(&mut self, text: &[u8]) -> Result<(), FileError> {
        let mut body = Vec::with_capacity(8 + padded(text.len()));
        body.extend_from_slice(&SECRETS_TLS_KEYLOG.to_le_bytes());
        body.extend_from_slice(&(text.len() as u32).to_le_bytes());
        body.extend_from_slice(text);
        body.resize(8 + padded(text.len()), 0);
        self.block(DSB, &body)
    }

    /// Frames written, over all files.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame, starting the next file first when rotation says
    /// so; an error is [`FileError::Write`] (a full disk, or the next file
    /// of a rotation cannot be created).
    pub fn write(&mut self, frame: &Frame) -> Result<(), FileError> {
        let Some(s) = &mut self.secrets else {
            return self.write_now(frame);
        };
        s.held.push_back(frame.clone());
        self.new_secrets()?;
        self.release(Some(frame.timestamp))
    }

    /// Writes the held frames older than [`HOLD`] before `now` (all of
    /// them without `now`), or beyond [`MAX_HELD`].
    fn release(&mut self, now: Option<SystemTime>) -> Result<(), FileError> {
        loop {
            let Some(s) = &mut self.secrets else {
                return Ok(());
            };
            let due = s.held.front().is_some_and(|f| {
                s.held.len() > MAX_HELD
                    || now.is_none_or(|now| {
                        now.duration_since(f.timestamp).unwrap_or_default() >= HOLD
                    })
            });
            if !due {
                return Ok(());
            }
            let frame = s.held.pop_front().expect("a frame is due");
            self.write_now(&frame)?;
        }
    }

    fn write_now(&mut self, frame: &Frame) -> Result<(), FileError> {
        if let Some(r) = self.rotation
            && self.bytes >= r.max_bytes
        {
            self.rotate(r)?;
        }
        let ifid = self.interface(frame)?;
        let nanos = frame
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let flags = match frame.direction {
            Some(Direction::Ingress) => FLAG_INBOUND,
            Some(Direction::Egress) => FLAG_OUTBOUND,
            None => 0,
        };
        let mut body = Vec::with_capacity(40 + frame.data.len());
        body.extend_from_slice(&ifid.to_le_bytes());
        body.extend_from_slice(&((nanos >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(nanos as u32).to_le_bytes());
        body.extend_from_slice(&(frame.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&frame.wire_len.max(frame.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&frame.data);
        body.resize(20 + padded(frame.data.len()), 0);
        if flags != 0 {
            option(&mut body, EPB_FLAGS, &flags.to_le_bytes());
            option(&mut body, OPT_END, &[]);
        }
        self.block(EPB, &body)?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes buffered blocks and syncs the file to disk.
    pub fn finish(mut self) -> Result<u64, FileError> {
        self.new_secrets()?;
        self.release(None)?;
        self.flush()?;
        self.out.get_ref().sync_all().map_err(|e| self.error(e))?;
        Ok(self.frames)
    }

    /// Writes out buffered blocks (1 MiB buffer), so that a reader of the
    /// file being written sees every frame so far.
    pub fn flush(&mut self) -> Result<(), FileError> {
        self.out.flush().map_err(|e| self.error(e))
    }

    fn rotate(&mut self, r: Rotation) -> Result<(), FileError> {
        self.flush()?;
        self.file_index += 1;
        if r.max_files > 0 && self.file_index >= r.max_files {
            let oldest = numbered(&self.base, self.file_index - r.max_files);
            let _ = std::fs::remove_file(oldest);
        }
        self.path = numbered(&self.base, self.file_index);
        self.out = open(&self.path)?;
        self.bytes = 0;
        self.interfaces.clear();
        self.section_header()?;
        let all = self.secrets.as_ref().map(|s| s.text.clone());
        match all {
            Some(text) if !text.is_empty() => self.secrets_block(&text),
            _ => Ok(()),
        }
    }

    fn section_header(&mut self) -> Result<(), FileError> {
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        self.block(SHB, &body)
    }

    fn interface(&mut self, frame: &Frame) -> Result<u32, FileError> {
        let key = (frame.ifindex, frame.link);
        if let Some(&id) = self.interfaces.get(&key) {
            return Ok(id);
        }
        let id = self.interfaces.len() as u32;
        let link = linktype::number(frame.link);
        let mut body = Vec::new();
        body.extend_from_slice(&(link as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes()); // no snap length limit
        if let Some(name) = interface_name(frame.ifindex) {
            option(&mut body, IF_NAME, name.as_bytes());
        }
        option(&mut body, IF_TSRESOL, &[TSRESOL_NANOS]);
        option(&mut body, OPT_END, &[]);
        self.block(IDB, &body)?;
        self.interfaces.insert(key, id);
        Ok(id)
    }

    fn block(&mut self, block_type: u32, body: &[u8]) -> Result<(), FileError> {
        let total = (12 + padded(body.len())) as u32;
        let mut buf = Vec::with_capacity(total as usize);
        buf.extend_from_slice(&block_type.to_le_bytes());
        buf.extend_from_slice(&total.to_le_bytes());
        buf.extend_from_slice(body);
        buf.resize(8 + padded(body.len()), 0);
        buf.extend_from_slice(&total.to_le_bytes());
        self.out.write_all(&buf).map_err(|e| self.error(e))?;
        self.bytes += u64::from(total);
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> FileError {
        FileError::Write {
            path: self.path.display().to_string(),
            source,
        }
    }
}

fn open(path: &Path) -> Result<BufWriter<File>, FileError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| FileError::Write {
            path: path.display().to_string(),
            source,
        })
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    body.resize(body.len() + padded(value.len()) - value.len(), 0);
}

/// `trunk.pcapng` → `trunk.3.pcapng` (index 0 is the name as given).
pub fn numbered(base: &Path, index: u32) -> PathBuf {
    if index == 0 {
        return base.to_owned();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.{index}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{index}"),
    };
    base.with_file_name(name)
}

/// The interface's name in this network namespace, for the file's readers.
fn interface_name(ifindex: u32) -> Option<String> {
    if ifindex == 0 {
        return None;
    }
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}
