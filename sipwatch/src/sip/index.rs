//! The fast path: one pass over a message that finds its start line, its
//! header lines (verbatim, with their unfolded values) and its body. It never
//! fails: what it cannot make sense of is recorded as a [`Problem`] and the
//! bytes stay as they were.
use std::ops::Range;

use serde::Serialize;

/// The first line of a request or a response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0` (RFC 3261 §7.1).
    Request {
        /// The method as written (`REGISTER`, `OPTIONS`…); any token is
        /// accepted, known or not.
        method: String,
        /// The Request-URI as written (for a REGISTER, the registrar's
        /// domain: `sip:provider.example`).
        uri: String,
    },
    /// `SIP/2.0 code reason` (RFC 3261 §7.2).
    Response {
        /// The status code, 100 to 699 (401 and 407: a digest challenge;
        /// 423: the Expires asked for is too brief).
        code: u16,
        /// The reason phrase as written, possibly empty; the code, not
        /// this, is what counts.
        reason: String,
    },
}

/// One header as it was written, possibly over several (folded) lines.
/// Ranges point into the message's bytes; nothing is copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderLine {
    /// The header's bytes in the message, folding and line ends included.
    pub raw: Range<usize>,
    /// The name exactly as written (`v`, `VIA`, `Via`).
    pub name: Range<usize>,
    /// The full lower-case name when sipwatch knows the header (`via` for `v`).
    pub canonical: Option<&'static str>,
    /// The value, trimmed; over several lines when `folded`.
    pub value: Range<usize>,
    /// Continued on further lines that start with a space or tab (RFC 3261
    /// §7.3.1); deprecated, and some devices mishandle it.
    pub folded: bool,
}

/// Something in the message that does not follow RFC 3261.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The first line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    BadStartLine,
    /// A header line without a colon (the line number, from 1 for the start line).
    BadHeaderLine(usize),
    /// No blank line ends the headers.
    NoEndOfHeaders,
    /// Content-Length says one thing, the body has another length: over
    /// UDP a receiver drops the extra bytes, and answers 400 to a body too
    /// short (RFC 3261 §18.3). Often the mark of an ALG that rewrote the
    /// body and not its length.
    ContentLengthMismatch {
        /// The Content-Length header's value, in bytes.
        declared: usize,
        /// The bytes actually after the blank line that ends the headers.
        actual: usize,
    },
    /// The bytes are not valid UTF-8 (shown lossily).
    NotUtf8,
    /// The Content-Length header is not a number (RFC 3261 §20.14): a
    /// receiver cannot tell where the message ends.
    BadContentLength,
}

/// Where the start line, each header and the body are in a message's bytes,
/// found in one pass that never fails ([`MessageIndex::parse`]): the typed
/// fields ([`fields`](super::fields)) are read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageIndex<'a> {
    /// The whole message, exactly as captured; every range points into it.
    pub bytes: &'a [u8],
    /// The message as text, when it is valid UTF-8 (checked once, here):
    /// ranges end at ASCII delimiters, so they slice it on char boundaries.
    text: Option<&'a str>,
    /// The start line, `None` when it is neither a request nor a response
    /// line (then [`Problem::BadStartLine`] is among the problems).
    pub start: Option<StartLine>,
    /// Every header in the order written, repeated ones included.
    pub headers: Vec<HeaderLine>,
    /// The body's bytes in the message.
    pub body: Range<usize>,
    /// What does not follow RFC 3261, in the order found; empty for a
    /// well-formed message.
    pub problems: Vec<Problem>,
}

/// The full lower-case name of a header sipwatch reads, by every name it
/// may be written with (RFC 3261 §7.3.3 compact forms and a few from later
/// RFCs). Per header of every message: a `match`, not a table scan.
fn canonical_name(name: &[u8]) -> Option<&'static str> {
    let mut buf = [0u8; 24];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"via" | b"v" => "via",
        b"from" | b"f" => "from",
        b"to" | b"t" => "to",
        b"call-id" | b"i" => "call-id",
        b"cseq" => "cseq",
        b"contact" | b"m" => "contact",
        b"content-length" | b"l" => "content-length",
        b"content-type" | b"c" => "content-type",
        b"content-encoding" | b"e" => "content-encoding",
        b"supported" | b"k" => "supported",
        b"subject" | b"s" => "subject",
        b"event" | b"o" => "event",
        b"allow-events" | b"u" => "allow-events",
        b"refer-to" | b"r" => "refer-to",
        b"referred-by" | b"b" => "referred-by",
        b"session-expires" | b"x" => "session-expires",
        b"max-forwards" => "max-forwards",
        b"authorization" => "authorization",
        b"proxy-authorization" => "proxy-authorization",
        b"www-authenticate" => "www-authenticate",
        b"proxy-authenticate" => "proxy-authenticate",
        b"expires" => "expires",
        b"min-expires" => "min-expires",
        b"retry-after" => "retry-after",
        b"user-agent" => "user-agent",
        b"server" => "server",
        b"warning" => "warning",
        b"record-route" => "record-route",
        b"route" => "route",
        _ => return None,
    })
}

fn trim(bytes: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && matches!(bytes[r.start], b' ' | b'\t') {
        r.start += 1;
    }
    while r.end > r.start && matches!(bytes[r.end - 1], b' ' | b'\t') {
        r.end -= 1;
    }
    r
}

impl<'a> MessageIndex<'a> {
    /// Indexes one message. Never fails: what cannot be read is a
    /// [`Problem`], and whatever could be found is still indexed.
    pub fn parse(bytes: &'a [u8]) -> MessageIndex<'a> {
        let mut problems = Vec::new();
        let text = std::str::from_utf8(bytes).ok();
        if text.is_none() {
            problems.push(Problem::NotUtf8);
        }
        let header_end = find_end_of_headers(bytes);
        let (head_len, body_start) = match header_end {
            Some(i) => (i, i + 4),
            None => {
                problems.push(Problem::NoEndOfHeaders);
                (bytes.len(), bytes.len())
            }
        };
        let mut start_line = None;
        let mut headers: Vec<HeaderLine> = Vec::with_capacity(16);
        let mut line_start = 0;
        let mut line_no = 0;
        while line_start <= head_len {
            let nl = memchr::memchr(b'\n', &bytes[line_start..head_len]);
            let (end, next) = match nl {
                Some(i) => (line_start + i, line_start + i + 1),
                None => (head_len, head_len + 1),
            };
            let end = if end > line_start && bytes[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            let line = line_start..end;
            line_no += 1;
            line_start = next;
            if line_no == 1 {
                start_line = parse_start_line(&String::from_utf8_lossy(&bytes[line]));
                if start_line.is_none() {
                    problems.push(Problem::BadStartLine);
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if matches!(bytes[line.start], b' ' | b'\t')
                && let Some(h) = headers.last_mut()
            {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                h.raw.end = line.end;
                h.value.end = trim(bytes, line).end;
                h.folded = true;
                continue;
            }
            let Some(colon) = bytes[line.clone()].iter().position(|&b| b == b':') else {
                problems.push(Problem::BadHeaderLine(line_no));
                continue;
            };
            let name = trim(bytes, line.start..line.start + colon);
            headers.push(HeaderLine {
                raw: line.clone(),
                canonical: canonical_name(&bytes[name.clone()]),
                name,
                value: trim(bytes, line.start + colon + 1..line.end),
                folded: false,
            });
        }
        let mut index = MessageIndex {
            bytes,
            text,
            start: start_line,
            headers,
            body: body_start..bytes.len(),
            problems,
        };
        let actual = index.body.len();
        if let Some(value) = index.header("content-length") {
            match value.trim().parse::<usize>() {
                Ok(declared) if header_end.is_some() && declared != actual => index
                    .problems
                    .push(Problem::ContentLengthMismatch { declared, actual }),
                Ok(_) => {}
                Err(_) => index.problems.push(Problem::BadContentLength),
            }
        }
        index
    }

    /// A header's name as written.
    pub fn name_of(&self, h: &HeaderLine) -> std::borrow::Cow<'a, str> {
        self.slice(h.name.clone())
    }

    fn slice(&self, r: Range<usize>) -> std::borrow::Cow<'a, str> {
        match self.text.and_then(|t| t.get(r.clone())) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => String::from_utf8_lossy(&self.bytes[r]),
        }
    }

    /// A header's value, folding joined by single spaces.
    pub fn value_of(&self, h: &HeaderLine) -> std::borrow::Cow<'a, str> {
        let raw = self.slice(h.value.clone());
        if !h.folded {
            return raw;
        }
        let joined: Vec<&str> = raw
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        std::borrow::Cow::Owned(joined.join(" "))
    }

    fn matches(&self, h: &HeaderLine, name: &str) -> bool {
        match h.canonical {
            Some(c) => c == name,
            None => self.bytes[h.name.clone()].eq_ignore_ascii_case(name.as_bytes()),
        }
    }

    /// The value of the first header called `name` (full lower-case name;
    /// compact forms are found too).
    pub fn header(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        self.headers
            .iter()
            .find(|h| self.matches(h, name))
            .map(|h| self.value_of(h))
    }

    /// Every value of the headers called `name`, in order.
    pub fn headers_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + 's {
        self.headers
            .iter()
            .filter(move |h| self.matches(h, name))
            .map(|h| self.value_of(h))
    }
}

fn parse_start_line(line: &str) -> Option<StartLine> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().ok().filter(|c| (100..700).contains(c))?;
        return Some(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let mut parts = line.split(' ');
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    if version != "SIP/2.0" || parts.next().is_some() || !token(method) || uri.is_empty() {
        return None;
    }
    Some(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

/// The blank line that ends the headers; the searcher is built once.
fn find_end_of_headers(haystack: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(haystack)
}
