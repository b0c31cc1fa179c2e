//! The NSS key log format (`SSLKEYLOGFILE`), as OpenSSL, Python's `ssl`,
//! baresip and browsers write it, and as a pcapng Decryption Secrets Block
//! carries it: one secret per line, `LABEL <client random> <secret>`, both
//! in hex (NSS's "Key Log Format" page).
//!
//! TLS 1.2 needs `CLIENT_RANDOM` (the 48-byte master secret); TLS 1.3 needs
//! the four traffic secrets (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`,
//! `SERVER_TRAFFIC_SECRET_0`). Other labels (early data, exporter secrets,
//! `RSA`) are passed over. A malformed line is one error naming its line;
//! every other line is still used.
use std::collections::HashMap;

/// The random a ClientHello carries: it names a session in the key log.
pub type ClientRandom = [u8; 32];

/// What the key log holds for one client random.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// TLS 1.2: the master secret (48 bytes).
    pub master: Option<Vec<u8>>,
    /// TLS 1.3: `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3: `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3: `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3: `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
}

/// Why one line of a key log was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogLineError {
    /// Not three fields separated by spaces.
    #[error("expected LABEL CLIENT_RANDOM SECRET, three fields")]
    Fields,
    /// The client random is not 64 hex digits.
    #[error("the client random is not 64 hex digits")]
    ClientRandom,
    /// The secret is not hex, or has a length no TLS secret has.
    #[error("the secret is not hex of a TLS secret's length")]
    Secret,
}

/// One malformed line: its number (from 1) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}, line {line}: {error}")]
pub struct KeyLogError {
    /// The key log's name (a path, or "the capture's secrets block").
    pub source_name: String,
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub error: KeyLogLineError,
}

/// Every secret of one or more key logs, by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: HashMap<ClientRandom, SessionSecrets>,
    /// A key log was given (or is followed, or a capture carried one):
    /// secrets may still come for a session not in it yet.
    expecting: bool,
}

/// The lines of a key log that could not be used, and how many could.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLogRead {
    /// Secrets taken.
    pub secrets: usize,
    /// Malformed lines, each named.
    pub errors: Vec<KeyLogError>,
}

impl KeyLog {
    /// An empty key log: every session it is asked about has no key.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty key log that more secrets will join (`attach --tls-keylog`
    /// follows the file): encrypted records wait a little for theirs.
    pub fn expecting() -> Self {
        Self {
            expecting: true,
            ..Self::default()
        }
    }

    /// Whether secrets may still come: a key log was given, is followed, or
    /// a capture carried one. Without, records never wait for keys.
    pub fn expects_more(&self) -> bool {
        self.expecting
    }

    /// Adds the secrets of `text` (a key log file's or a secrets block's
    /// bytes), `source_name`d in errors. Malformed lines are returned; the
    /// others are used. Blank lines and `#` comments are passed over, as
    /// are labels sipwatch does not need.
    pub fn add(&mut self, text: &[u8], source_name: &str) -> KeyLogRead {
        self.expecting = true;
        let mut read = KeyLogRead::default();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Ok(line) = std::str::from_utf8(line) else {
                read.errors.push(KeyLogError {
                    source_name: source_name.to_owned(),
                    line: i + 1,
                    error: KeyLogLineError::Fields,
                });
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match self.add_line(line) {
                Ok(true) => read.secrets += 1,
                Ok(false) => {}
                Err(error) => read.errors.push(KeyLogError {
                    source_name: source_name.to_owned(),
                    line: i + 1,
                    error,
                }),
            }
        }
        read
    }

    /// Whether it holds no secret at all.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// What the key log holds for the session that `random` names.
    pub fn get(&self, random: &ClientRandom) -> Option<&SessionSecrets> {
        self.sessions.get(random)
    }

    /// `Ok(true)`: a secret taken; `Ok(false)`: a label not needed
    /// ([`NEEDED`]).
    fn add_line(&mut self, line: &str) -> Result<bool, KeyLogLineError> {
        let mut fields = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(KeyLogLineError::Fields);
        };
        // Labels not needed (RSA, early data, exporter secrets) are passed
        // over whatever their fields hold.
        if !NEEDED.contains(&label) {
            return Ok(false);
        }
        let random: ClientRandom = hex(random)
            .and_then(|r| r.try_into().ok())
            .ok_or(KeyLogLineError::ClientRandom)?;
        let secret = hex(secret).ok_or(KeyLogLineError::Secret)?;
        let s = self.sessions.entry(random).or_default();
        let (slot, lengths): (_, &[usize]) = match label {
            "CLIENT_RANDOM" => (&mut s.master, &[48]),
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => (&mut s.client_handshake, &[32, 48]),
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => (&mut s.server_handshake, &[32, 48]),
            "CLIENT_TRAFFIC_SECRET_0" => (&mut s.client_traffic, &[32, 48]),
            "SERVER_TRAFFIC_SECRET_0" => (&mut s.server_traffic, &[32, 48]),
            _ => return Ok(false),
        };
        if !lengths.contains(&secret.len()) {
            return Err(KeyLogLineError::Secret);
        }
        *slot = Some(secret);
        Ok(true)
    }
}

/// The labels whose secrets open SIP's sessions.
const NEEDED: [&str; 5] = [
    "CLIENT_RANDOM",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
];

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: &str = "0102030405060708091011121314151617181920212223242526272829303132";

    #[test]
    fn a_malformed_line_is_named_and_the_others_are_used() {
        let mut log = KeyLog::new();
        let text = format!(
            "# from python\nCLIENT_RANDOM {RANDOM} {}\nCLIENT_RANDOM {RANDOM} 12\n\
             SERVER_TRAFFIC_SECRET_0 zz {}\nEXPORTER_SECRET {RANDOM} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {RANDOM}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {}",
            "ab".repeat(48),
            "cd".repeat(32),
            "ef".repeat(32),
            "11".repeat(32),
        );
        let read = log.add(text.as_bytes(), "keys.log");
        assert_eq!(read.secrets, 2);
        let lines: Vec<_> = read
            .errors
            .iter()
            .map(|e| (e.line, e.error.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, KeyLogLineError::Secret),
                (4, KeyLogLineError::ClientRandom),
                (6, KeyLogLineError::Fields)
            ]
        );
        assert_eq!(
            read.errors[0].to_string(),
            "keys.log, line 3: the secret is not hex of a TLS secret's length"
        );
        let s = log.get(&hex(RANDOM).unwrap().try_into().unwrap()).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.client_handshake.as_deref(), Some(&[0x11; 32][..]));
        assert!(s.server_traffic.is_none());
        // OpenSSL's `RSA` line (the encrypted premaster's first 8 bytes) is
        // a label not needed: passed over without a warning.
        let read = log.add(
            format!("RSA 0123456789abcdef {}\n", "aa".repeat(48)).as_bytes(),
            "keys.log",
        );
        assert!(read.errors.is_empty(), "{:?}", read.errors);
    }

    #[test]
    fn a_truncated_last_line_is_an_error_and_windows_line_ends_are_read() {
        let mut log = KeyLog::new();
        let full = format!("CLIENT_RANDOM {RANDOM} {}\r\n", "ab".repeat(48));
        let text = format!("{full}{}", &full[..60]);
        let read = log.add(text.as_bytes(), "k");
        assert_eq!(read.secrets, 1);
        assert_eq!(read.errors.len(), 1);
        assert_eq!(read.errors[0].line, 2);
    }
}
