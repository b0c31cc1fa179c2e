//! A TLS key log file followed while the TLS library appends to it
//! (`SSLKEYLOGFILE`): each call hands over the whole lines added since the
//! last, for `attach --write --tls-keylog` to embed and for the live
//! pipeline to decrypt with.
use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use super::FileError;

/// A key log file and how much of it was handed over.
pub struct KeyLogFile {
    path: PathBuf,
    /// Bytes handed over (whole lines only).
    read: u64,
}

impl KeyLogFile {
    /// Follows `path` from its start; an error when it cannot be read now.
    /// A file not there yet is waited for, as long as its folder is there:
    /// the TLS library creates it at its first handshake.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let folder_there = path
            .parent()
            .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir());
        match File::open(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && folder_there => {}
            Err(source) => {
                return Err(FileError::Open {
                    path: path.display().to_string(),
                    source,
                });
            }
            Ok(_) => {}
        }
        Ok(Self {
            path: path.to_owned(),
            read: 0,
        })
    }

    /// Its name, for errors.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The whole lines added since the last call, if any. A line being
    /// written waits for its end; a file briefly unreadable (rotated,
    /// replaced) is tried again on the next call.
    pub fn new_lines(&mut self) -> Option<Vec<u8>> {
        let len = std::fs::metadata(&self.path).ok()?.len();
        if len <= self.read {
            return None;
        }
        let mut file = File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(self.read)).ok()?;
        let mut new = Vec::new();
        file.take(len - self.read).read_to_end(&mut new).ok()?;
        let end = new.iter().rposition(|&b| b == b'\n')?;
        new.truncate(end + 1);
        self.read += new.len() as u64;
        Some(new)
    }
}
