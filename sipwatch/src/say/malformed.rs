//! What is wrong with a message the parser could not read strictly, in
//! words (the log line's `[malformed: …]`, the UI's parsed fields).
use crate::sip::Problem;

/// Problems in words: "line 3 is not a header, not UTF-8".
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p {
            Problem::BadStartLine => "bad start line".to_owned(),
            Problem::BadHeaderLine(n) => format!("line {n} is not a header"),
            Problem::NoEndOfHeaders => "no end of headers".to_owned(),
            Problem::ContentLengthMismatch { declared, actual } => {
                format!("Content-Length {declared} but {actual} body bytes")
            }
            Problem::NotUtf8 => "not UTF-8".to_owned(),
            Problem::BadContentLength => "Content-Length is not a number".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
