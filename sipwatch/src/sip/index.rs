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
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// One header as it was written, possibly over several (folded) lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderLine {
    /// The header's bytes in the message, folding and line ends included.
    pub raw: Range<usize>,
    /// The name exactly as written (`v`, `VIA`, `Via`).
    pub name: String,
    /// The full lower-case name (`via` for `v`).
    pub canonical: String,
    /// The value with folding joined by single spaces, trimmed.
    pub value: String,
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
    /// Content-Length says one thing, the body has another length.
    ContentLengthMismatch { declared: usize, actual: usize },
    /// The bytes are not valid UTF-8 (shown lossily).
    NotUtf8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageIndex {
    pub start: Option<StartLine>,
    pub headers: Vec<HeaderLine>,
    /// The body's bytes in the message.
    pub body: Range<usize>,
    pub problems: Vec<Problem>,
}

/// RFC 3261 §7.3.3 compact forms, and a few from later RFCs.
fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let full = match lower.as_str() {
        "i" => "call-id",
        "m" => "contact",
        "f" => "from",
        "t" => "to",
        "v" => "via",
        "l" => "content-length",
        "c" => "content-type",
        "e" => "content-encoding",
        "k" => "supported",
        "s" => "subject",
        "o" => "event",
        "u" => "allow-events",
        "r" => "refer-to",
        "b" => "referred-by",
        "x" => "session-expires",
        _ => return lower,
    };
    full.to_owned()
}

impl MessageIndex {
    pub fn parse(bytes: &[u8]) -> MessageIndex {
        let mut problems = Vec::new();
        if std::str::from_utf8(bytes).is_err() {
            problems.push(Problem::NotUtf8);
        }
        let header_end = find(bytes, b"\r\n\r\n");
        let (head_len, body_start) = match header_end {
            Some(i) => (i, i + 4),
            None => {
                problems.push(Problem::NoEndOfHeaders);
                (bytes.len(), bytes.len())
            }
        };
        let head = &bytes[..head_len];
        // Line starts, by CRLF (a lone LF is tolerated as a line end too).
        let mut lines: Vec<Range<usize>> = Vec::new();
        let mut start = 0;
        for (i, &b) in head.iter().enumerate() {
            if b == b'\n' {
                let end = if i > 0 && head[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                lines.push(start..end);
                start = i + 1;
            }
        }
        lines.push(start..head.len());

        let first = lines
            .first()
            .map(|r| lossy(&bytes[r.clone()]))
            .unwrap_or_default();
        let first = first.as_ref();
        let start_line = parse_start_line(first);
        if start_line.is_none() {
            problems.push(Problem::BadStartLine);
        }

        let mut headers: Vec<HeaderLine> = Vec::new();
        for (n, line) in lines.iter().enumerate().skip(1) {
            let text = lossy(&bytes[line.clone()]);
            if text.starts_with(' ') || text.starts_with('\t') {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                if let Some(h) = headers.last_mut() {
                    h.raw.end = line.end;
                    h.value = format!("{} {}", h.value, text.trim()).trim().to_owned();
                    continue;
                }
            }
            if text.is_empty() {
                continue;
            }
            let Some((name, value)) = text.split_once(':') else {
                problems.push(Problem::BadHeaderLine(n + 1));
                continue;
            };
            let name = name.trim_end().to_owned();
            headers.push(HeaderLine {
                raw: line.clone(),
                canonical: canonical_name(&name),
                name,
                value: value.trim().to_owned(),
            });
        }
        let body = body_start..bytes.len();
        let index = MessageIndex {
            start: start_line,
            headers,
            body: body.clone(),
            problems,
        };
        let mut index = index;
        if let Some(declared) = index
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            && declared != body.len()
            && header_end.is_some()
        {
            index.problems.push(Problem::ContentLengthMismatch {
                declared,
                actual: body.len(),
            });
        }
        index
    }

    /// The value of the first header called `canonical` (full lower-case name).
    pub fn header(&self, canonical: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.canonical == canonical)
            .map(|h| h.value.as_str())
    }

    /// Every value of the headers called `canonical`, in order.
    pub fn headers_named<'a>(&'a self, canonical: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.canonical == canonical)
            .map(|h| h.value.as_str())
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

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
