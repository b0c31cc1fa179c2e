//! One SIP message as it crossed the wire.
use std::{borrow::Cow, net::SocketAddr, time::SystemTime};

use serde::Serialize;
use sipwatch_common::Direction;

use super::{
    fields::{
        Challenge, Credentials, NameAddr, Sdp, Via, parse_challenges, parse_credentials,
        parse_name_addr, parse_sdp, parse_via, split_list,
    },
    index::{MessageIndex, StartLine},
};
use crate::net::Transport;

/// A whole SIP message (or, over UDP, a datagram that should have been
/// one) with where it went, and its bytes exactly as they were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// When its first (UDP) or last (TCP) byte was seen.
    pub timestamp: SystemTime,
    pub direction: Option<Direction>,
    pub transport: Transport,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub vlans: Vec<u16>,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    pub bytes: Vec<u8>,
}

impl Message {
    /// Indexes the message (one pass) for the typed accessors.
    pub fn parsed(&self) -> ParsedMessage<'_> {
        ParsedMessage {
            message: self,
            index: MessageIndex::parse(&self.bytes),
        }
    }
}

/// CSeq: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CSeq {
    pub seq: u32,
    pub method: String,
}

/// A message with its index: the fields the rest of sipwatch reads.
pub struct ParsedMessage<'a> {
    pub message: &'a Message,
    pub index: MessageIndex<'a>,
}

impl<'a> ParsedMessage<'a> {
    pub fn start_line(&self) -> Option<&StartLine> {
        self.index.start.as_ref()
    }

    /// The request's method.
    pub fn method(&self) -> Option<&str> {
        match &self.index.start {
            Some(StartLine::Request { method, .. }) => Some(method),
            _ => None,
        }
    }

    /// The response's status code.
    pub fn status(&self) -> Option<u16> {
        match &self.index.start {
            Some(StartLine::Response { code, .. }) => Some(*code),
            _ => None,
        }
    }

    pub fn call_id(&self) -> Option<Cow<'a, str>> {
        self.index.header("call-id")
    }

    pub fn cseq(&self) -> Option<CSeq> {
        let value = self.index.header("cseq")?;
        let (seq, method) = value.split_once(char::is_whitespace)?;
        Some(CSeq {
            seq: seq.trim().parse().ok()?,
            method: method.trim().to_owned(),
        })
    }

    /// Every value of a list header, split at its commas.
    fn list<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
        let mut out = Vec::new();
        for value in self.index.headers_named(name) {
            out.extend(split_list(&value).into_iter().filter_map(&parse));
        }
        out
    }

    /// Every Via value, top (most recent hop) first.
    pub fn vias(&self) -> Vec<Via> {
        self.list("via", parse_via)
    }

    pub fn from(&self) -> Option<NameAddr> {
        parse_name_addr(&self.index.header("from")?)
    }

    pub fn to(&self) -> Option<NameAddr> {
        parse_name_addr(&self.index.header("to")?)
    }

    pub fn contacts(&self) -> Vec<NameAddr> {
        self.list("contact", parse_name_addr)
    }

    pub fn authorization(&self) -> Option<Credentials> {
        self.index
            .header("authorization")
            .map(|v| parse_credentials(&v))
    }

    pub fn proxy_authorization(&self) -> Option<Credentials> {
        self.index
            .header("proxy-authorization")
            .map(|v| parse_credentials(&v))
    }

    pub fn www_authenticate(&self) -> Vec<Challenge> {
        self.index
            .headers_named("www-authenticate")
            .flat_map(|v| parse_challenges(&v))
            .collect()
    }

    pub fn proxy_authenticate(&self) -> Vec<Challenge> {
        self.index
            .headers_named("proxy-authenticate")
            .flat_map(|v| parse_challenges(&v))
            .collect()
    }

    fn number(&self, name: &str) -> Option<u32> {
        let v = self.index.header(name)?;
        let digits: &str = v.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    }

    pub fn expires(&self) -> Option<u32> {
        self.number("expires")
    }

    pub fn min_expires(&self) -> Option<u32> {
        self.number("min-expires")
    }

    pub fn retry_after(&self) -> Option<u32> {
        self.number("retry-after")
    }

    pub fn user_agent(&self) -> Option<Cow<'a, str>> {
        self.index.header("user-agent")
    }

    pub fn server(&self) -> Option<Cow<'a, str>> {
        self.index.header("server")
    }

    pub fn warning(&self) -> Option<Cow<'a, str>> {
        self.index.header("warning")
    }

    pub fn content_length(&self) -> Option<usize> {
        self.index.header("content-length")?.parse().ok()
    }

    /// The SDP lines, when the body is SDP.
    pub fn sdp(&self) -> Option<Sdp> {
        let body = self.message.bytes.get(self.index.body.clone())?;
        let is_sdp = self
            .index
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/sdp"))
            || body.starts_with(b"v=0");
        is_sdp.then(|| parse_sdp(&String::from_utf8_lossy(body)))
    }

    /// The strict, typed parse (rsip). Costlier than the index: for where a
    /// typed view is needed, and to flag what rsip cannot model.
    pub fn rsip(&self) -> Result<rsip::SipMessage, rsip::Error> {
        rsip::SipMessage::try_from(self.message.bytes.as_slice())
    }

    /// rsip's objection to the message, if any.
    pub fn rsip_error(&self) -> Option<String> {
        self.rsip().err().map(|e| e.to_string())
    }
}
