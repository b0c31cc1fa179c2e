//! Reading a capture file byte by byte while knowing where we are, so every
//! error can name its offset.
use std::io::Read;

use super::FileError;

pub struct Cursor<R> {
    inner: R,
    offset: u64,
    peeked: Option<[u8; 4]>,
}

impl<R: Read> Cursor<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            peeked: None,
        }
    }

    pub fn offset(&self) -> u64 {
        self.offset - if self.peeked.is_some() { 4 } else { 0 }
    }

    /// The next 4 bytes, left to be read again.
    pub fn peek4(&mut self, what: &'static str) -> Result<[u8; 4], FileError> {
        if let Some(p) = self.peeked {
            return Ok(p);
        }
        let mut buf = [0u8; 4];
        self.fill(&mut buf, what)?;
        self.peeked = Some(buf);
        Ok(buf)
    }

    /// `Ok(false)` at a clean end of file (no byte of a next record).
    pub fn at_end(&mut self) -> Result<bool, FileError> {
        if self.peeked.is_some() {
            return Ok(false);
        }
        let mut first = [0u8; 1];
        loop {
            match self.inner.read(&mut first) {
                Ok(0) => return Ok(true),
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(FileError::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        self.offset += 1;
        let mut rest = [0u8; 3];
        self.fill(&mut rest, "record header")?;
        self.peeked = Some([first[0], rest[0], rest[1], rest[2]]);
        Ok(false)
    }

    pub fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), FileError> {
        let mut start = 0;
        if let Some(p) = self.peeked.take() {
            let n = buf.len().min(4);
            buf[..n].copy_from_slice(&p[..n]);
            if n < 4 {
                // Never happens: every read after a peek is at least 4 bytes.
                return Err(self.corrupt(what, "internal: short read after peek".into()));
            }
            start = 4;
        }
        self.fill(&mut buf[start..], what)
    }

    pub fn read_vec(&mut self, len: usize, what: &'static str) -> Result<Vec<u8>, FileError> {
        let mut v = vec![0u8; len];
        self.read_exact(&mut v, what)?;
        Ok(v)
    }

    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), FileError> {
        let mut done = 0;
        while done < buf.len() {
            match self.inner.read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(FileError::Truncated {
                        what,
                        offset: self.offset + done as u64,
                    });
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(FileError::Io {
                        offset: self.offset + done as u64,
                        source,
                    });
                }
            }
        }
        self.offset += buf.len() as u64;
        Ok(())
    }

    pub fn corrupt(&self, what: &'static str, reason: String) -> FileError {
        FileError::Corrupt {
            what,
            offset: self.offset(),
            reason,
        }
    }
}

/// Byte order of a file or section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    pub fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
}
