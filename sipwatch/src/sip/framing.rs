//! Cutting a reassembled TCP stream into SIP messages (RFC 3261 §18.3):
//! each message is its header block plus Content-Length bytes of body.
//!
//! Keep-alive CRLFs between messages are skipped. When the stream cannot be
//! trusted (after a gap, or garbage), the framer drops bytes up to the next
//! line that starts like a SIP message and counts them, rather than emitting
//! a scrambled message. A header block whose Content-Length is absurd or not
//! a number is a message of its own, shown as malformed; what follows it is
//! searched for the next start line.
use sipwatch_common::looks_like_sip_start;

/// Largest header block or body accepted; larger means the stream is lost.
pub const MAX_MESSAGE: usize = 64 << 10;

/// What framing made of the TCP streams: messages cut, and bytes that fit
/// no message (the summary warns about skipped bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FramingStats {
    /// Whole messages cut out of TCP streams (UDP messages are not framed
    /// and not counted here).
    pub messages: u64,
    /// Bytes dropped while resynchronising.
    pub skipped_bytes: u64,
    /// Times the framer had to resynchronise.
    pub resyncs: u64,
    /// Messages whose Content-Length was missing (taken as 0).
    pub missing_content_length: u64,
    /// Messages whose Content-Length was not a number or over
    /// [`MAX_MESSAGE`]: cut at their header block and shown as malformed,
    /// the stream resynchronised after them.
    pub bad_content_length: u64,
}

/// Cuts one direction of one TCP connection into SIP messages by
/// `Content-Length` (RFC 3261 §18.3), resynchronising on the next start
/// line after a gap, garbage, or a header block or body over
/// [`MAX_MESSAGE`] bytes.
#[derive(Default)]
pub struct SipFramer {
    buf: Vec<u8>,
    /// True when the buffer start is not known to be at a line start.
    lost: bool,
    /// Searching for the next start line (counted once per search).
    resyncing: bool,
    stats: FramingStats,
}

impl SipFramer {
    /// A framer at the start of a stream, nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// What this stream's framing has counted so far.
    pub fn stats(&self) -> FramingStats {
        self.stats
    }

    /// Bytes waiting for the rest of their message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Adds stream bytes; appends every message they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        self.buf.extend_from_slice(bytes);
        self.extract(out);
    }

    /// Bytes are missing before the next push: what is buffered cannot be
    /// completed, and the next bytes may start mid-message.
    pub fn gap(&mut self) {
        if !self.buf.is_empty() {
            self.stats.skipped_bytes += self.buf.len() as u64;
            self.buf.clear();
        }
        self.lost = true;
    }

    /// Bytes are missing, and the next push starts where a writer's call
    /// began (TLS plaintext read inside a process: one `SSL_write` is
    /// usually one message): what is buffered is dropped and counted, and
    /// the next bytes are taken as a message when they start like one,
    /// else searched for the next start line.
    pub fn gap_at_write(&mut self) {
        if !self.buf.is_empty() {
            self.stats.skipped_bytes += self.buf.len() as u64;
            self.buf.clear();
        }
        self.lost = false;
        self.resyncing = false;
    }

    /// The next push starts where a writer's call began, with nothing
    /// missing: when what is buffered is not the start of a SIP message
    /// (another protocol's bytes on the connection, an HTTP body without
    /// a final line end), it is dropped and counted, so that a message
    /// the call starts is taken from its first byte. A message split over
    /// calls is kept whole.
    pub fn at_write(&mut self) {
        let partial_start = self.buf.len() < 8
            && self
                .buf
                .iter()
                .all(|&b| b.is_ascii_uppercase() || b"/2.0 ".contains(&b));
        if self.lost || !(self.buf.is_empty() || starts_like_sip(&self.buf) || partial_start) {
            self.gap_at_write();
        }
    }

    /// The stream ended: an unfinished message is dropped and counted.
    pub fn end(&mut self) {
        let leftover = self
            .buf
            .iter()
            .filter(|&&b| b != b'\r' && b != b'\n')
            .count();
        if leftover > 0 {
            self.stats.skipped_bytes += self.buf.len() as u64;
        }
        self.buf.clear();
        self.lost = false;
        self.resyncing = false;
    }

    fn extract(&mut self, out: &mut Vec<Vec<u8>>) {
        loop {
            let start = self.buf.iter().position(|&b| b != b'\r' && b != b'\n');
            match start {
                None => {
                    self.buf.clear();
                    return;
                }
                Some(0) => {}
                Some(n) => {
                    self.buf.drain(..n);
                }
            }
            if self.lost || !starts_like_sip(&self.buf) {
                if self.buf.len() < 8 && !self.lost {
                    return; // too short to judge yet
                }
                if !self.resync() {
                    return;
                }
            }
            self.resyncing = false;
            let Some(header_end) = find_end_of_headers(&self.buf).map(|i| i + 4) else {
                if self.buf.len() > MAX_MESSAGE {
                    self.lose_sync();
                    continue;
                }
                return;
            };
            let length = match content_length(&self.buf[..header_end]) {
                Ok(Some(n)) if n <= MAX_MESSAGE => n,
                Ok(Some(_)) | Err(()) => {
                    // An absurd or unreadable length: the header block is
                    // shown (malformed); nothing after it can be trusted
                    // until the next start line.
                    out.push(self.buf.drain(..header_end).collect());
                    self.stats.messages += 1;
                    self.stats.bad_content_length += 1;
                    continue;
                }
                Ok(None) => {
                    self.stats.missing_content_length += 1;
                    0
                }
            };
            let total = header_end + length;
            if self.buf.len() < total {
                return;
            }
            out.push(self.buf.drain(..total).collect());
            self.stats.messages += 1;
        }
    }

    /// Drops the first byte and searches on, so the current start is skipped.
    fn lose_sync(&mut self) {
        self.lost = true;
        self.stats.skipped_bytes += 1;
        self.buf.drain(..1);
    }

    /// Drops bytes up to the next line that starts like a SIP message.
    /// False when none is in the buffer yet; a short last line is kept, as
    /// it may be the beginning of one.
    fn resync(&mut self) -> bool {
        if !self.resyncing {
            self.resyncing = true;
            self.stats.resyncs += 1;
        }
        let lost = self.lost;
        let buf = &self.buf;
        let found = (0..buf.len()).find(|&i| {
            let line_start = if i == 0 { !lost } else { buf[i - 1] == b'\n' };
            line_start && starts_like_sip(&buf[i..])
        });
        if let Some(i) = found {
            self.stats.skipped_bytes += i as u64;
            self.buf.drain(..i);
            self.lost = false;
            self.resyncing = false;
            return true;
        }
        match self.buf.iter().rposition(|&b| b == b'\n') {
            Some(p) if self.buf.len() - (p + 1) < 8 => {
                self.stats.skipped_bytes += (p + 1) as u64;
                self.buf.drain(..=p);
                self.lost = false;
            }
            _ => {
                self.stats.skipped_bytes += self.buf.len() as u64;
                self.buf.clear();
                self.lost = true;
            }
        }
        false
    }
}

fn starts_like_sip(b: &[u8]) -> bool {
    looks_like_sip_start(b)
}

/// The blank line that ends a header block; the searcher is built once.
fn find_end_of_headers(haystack: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(haystack)
}

/// The Content-Length (or compact `l`) header's value, if present. Bytes,
/// not text: this runs for every message on every TCP stream.
fn content_length(head: &[u8]) -> Result<Option<usize>, ()> {
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).map_err(|_| ())?;
            return value.parse().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize, body: &str) -> Vec<u8> {
        format!(
            "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: {i}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn frame_all(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, FramingStats) {
        let mut f = SipFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out);
        }
        f.end();
        (out, f.stats())
    }

    #[test]
    fn several_messages_in_one_segment_are_split_by_content_length() {
        let stream = [msg(1, "hello"), msg(2, ""), msg(3, "x\r\n\r\ny")].concat();
        let (out, stats) = frame_all(&[&stream]);
        assert_eq!(out, vec![msg(1, "hello"), msg(2, ""), msg(3, "x\r\n\r\ny")]);
        assert_eq!(stats.skipped_bytes, 0);
    }

    #[test]
    fn one_message_across_many_segments_comes_out_whole() {
        let m = msg(1, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
        let chunks: Vec<&[u8]> = m.chunks(3).collect();
        let (out, _) = frame_all(&chunks);
        assert_eq!(out, vec![m]);
    }

    #[test]
    fn keep_alive_crlfs_between_messages_are_ignored() {
        let stream = [
            b"\r\n\r\n".to_vec(),
            msg(1, ""),
            b"\r\n\r\n\r\n".to_vec(),
            msg(2, ""),
        ]
        .concat();
        let (out, stats) = frame_all(&[&stream]);
        assert_eq!(out, vec![msg(1, ""), msg(2, "")]);
        assert_eq!(stats.skipped_bytes, 0);
    }

    #[test]
    fn compact_content_length_is_understood() {
        let m = b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc".to_vec();
        let (out, _) = frame_all(&[&m, &msg(2, "")]);
        assert_eq!(out, vec![m, msg(2, "")]);
    }

    #[test]
    fn after_a_gap_the_framer_resyncs_at_the_next_start_line_and_counts() {
        let mut f = SipFramer::new();
        let mut out = Vec::new();
        let first = msg(1, "abcdef");
        f.push(&first[..20], &mut out);
        f.gap();
        // The rest of a message we lost the start of, then a whole one.
        let tail = b"Call-ID: 9\r\nContent-Length: 0\r\n\r\n";
        f.push(&[tail.as_slice(), &msg(2, "ok")].concat(), &mut out);
        assert_eq!(out, vec![msg(2, "ok")]);
        let s = f.stats();
        assert_eq!(s.resyncs, 1);
        assert_eq!(s.skipped_bytes, 20 + tail.len() as u64);
    }

    #[test]
    fn garbage_before_a_message_is_skipped_and_counted() {
        let garbage = b"\x16\x03\x01 garbage line\r\n";
        let stream = [garbage.to_vec(), msg(1, "")].concat();
        let (out, stats) = frame_all(&[&stream]);
        assert_eq!(out, vec![msg(1, "")]);
        assert_eq!(stats.skipped_bytes, garbage.len() as u64);
    }

    #[test]
    fn an_absurd_content_length_is_shown_and_does_not_swallow_the_next_messages() {
        let bad = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n".to_vec();
        let stream = [bad.clone(), msg(1, ""), msg(2, "z")].concat();
        let (out, stats) = frame_all(&[&stream]);
        assert_eq!(out, vec![bad, msg(1, ""), msg(2, "z")]);
        assert_eq!(stats.bad_content_length, 1);
    }

    #[test]
    fn a_content_length_that_is_no_number_is_shown_and_the_body_skipped() {
        let bad = b"REGISTER sip:b SIP/2.0\r\nContent-Length: ten\r\n\r\n".to_vec();
        // The body's lines (an SDP's end in CRLF) up to the next start line.
        let stream = [bad.clone(), b"v=0\r\no=x\r\n".to_vec(), msg(3, "")].concat();
        let (out, stats) = frame_all(&[&stream]);
        assert_eq!(out, vec![bad, msg(3, "")]);
        assert_eq!(stats.bad_content_length, 1);
        assert_eq!(stats.skipped_bytes, 10);
    }

    #[test]
    fn a_content_length_larger_than_the_data_waits_then_is_counted_at_the_end() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 50\r\n\r\nshort".to_vec();
        let (out, stats) = frame_all(&[&m]);
        assert!(out.is_empty());
        assert_eq!(stats.skipped_bytes, m.len() as u64);
    }

    #[test]
    fn a_start_line_split_across_pushes_after_garbage_is_found() {
        let mut f = SipFramer::new();
        let mut out = Vec::new();
        let m = b"REGISTER sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        f.push(b"junk junk junk junk\r\nREG", &mut out);
        assert!(out.is_empty());
        f.push(&m[3..], &mut out);
        assert_eq!(out, vec![m.to_vec()]);
    }
}
