//! One SIP message as it crossed the wire.
use std::{borrow::Cow, net::SocketAddr, time::SystemTime};

use serde::Serialize;
use sipwatch_common::Direction;

use super::{
    fields::{
        Challenge, Credentials, DigestProof, NameAddr, Sdp, Via, parse_challenges,
        parse_credentials, parse_digest_proof, parse_name_addr, parse_sdp, parse_via, split_list,
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
    /// Arriving at or leaving the interface; unknown for capture files that
    /// do not record it.
    pub direction: Option<Direction>,
    /// UDP or TCP, as it was carried (which the top Via should name).
    pub transport: Transport,
    /// Source address and port as seen at the capture point.
    pub src: SocketAddr,
    /// Destination address and port as seen at the capture point.
    pub dst: SocketAddr,
    /// VLAN ids, outer first; empty when untagged.
    pub vlans: Vec<u16>,
    /// The IP tunnel it came in (`src` and `dst` are the inner packet's).
    pub outer: Option<crate::net::Tunnel>,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    /// The message's bytes exactly as they were on the wire, never
    /// rewritten: every parsed view points into them.
    pub bytes: Vec<u8>,
    /// Where sipwatch got it: the NIC, a capture file, a HEP agent, TLS
    /// plaintext. The same message may come twice (the NIC's copy and a
    /// HEP agent's): the pipeline takes the second as a copy, not as a
    /// retransmission, by its different origin.
    pub origin: Origin,
}

/// Where a message came from: each source of messages is one origin, and
/// keeps its own clock ([`Origin::clock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The eBPF capture on the NIC: arriving (XDP) or leaving (TC).
    Nic(Direction),
    /// A capture file (pcap, pcapng), or frames from a library caller.
    CaptureFile,
    /// A HEP (Homer encapsulation protocol) agent, by its capture id
    /// (`capture_agent_id`, HEPv3 chunk 12) and the address it sent from.
    Hep {
        /// The agent's capture id.
        agent_id: u32,
        /// The address the HEP packet came from.
        agent: SocketAddr,
    },
    /// TLS plaintext read inside a process (uprobes on its TLS library).
    TlsPlaintext {
        /// The process id.
        pid: u32,
    },
}

/// Whose clock a message's time is in: one per source of messages. The
/// NIC's two directions share the kernel's clock; each HEP agent and each
/// process has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Clock {
    /// The capturing host's kernel (both directions of the NIC).
    Nic,
    /// A capture file's timestamps.
    CaptureFile,
    /// One HEP agent's timestamps, by its address.
    Hep(SocketAddr),
    /// One process's TLS plaintext, by its process id.
    TlsPlaintext(u32),
}

impl Origin {
    /// The clock this origin's timestamps are in.
    pub fn clock(&self) -> Clock {
        match *self {
            Origin::Nic(_) => Clock::Nic,
            Origin::CaptureFile => Clock::CaptureFile,
            Origin::Hep { agent, .. } => Clock::Hep(agent),
            Origin::TlsPlaintext { pid } => Clock::TlsPlaintext(pid),
        }
    }
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
    /// The sequence number; a client raises it by one for each new REGISTER
    /// of a registration (RFC 3261 §10.2).
    pub seq: u32,
    /// The request's method, repeated in its responses: what a response
    /// answers.
    pub method: String,
}

/// A message with its index: the fields the rest of sipwatch reads.
pub struct ParsedMessage<'a> {
    /// The message parsed, with its addressing and original bytes.
    pub message: &'a Message,
    /// Where its start line, headers and body are, and its problems.
    pub index: MessageIndex<'a>,
}

impl<'a> ParsedMessage<'a> {
    /// The request or status line; `None` when it is neither.
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

    /// The Call-ID, which a client keeps for every REGISTER to the same
    /// registrar (RFC 3261 §10.2).
    pub fn call_id(&self) -> Option<Cow<'a, str>> {
        self.index.header("call-id")
    }

    /// The CSeq; `None` when missing or not `number METHOD`.
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

    /// The From header: in a REGISTER, who registers (RFC 3261 §10.2).
    pub fn from(&self) -> Option<NameAddr> {
        parse_name_addr(&self.index.header("from")?)
    }

    /// The To header: in a REGISTER, the address of record being bound.
    pub fn to(&self) -> Option<NameAddr> {
        parse_name_addr(&self.index.header("to")?)
    }

    /// Every Contact, in order: in a REGISTER, where calls are to be sent;
    /// in its 200 OK, every binding the registrar holds, each with its
    /// `expires=` (RFC 3261 §10.3).
    pub fn contacts(&self) -> Vec<NameAddr> {
        self.list("contact", parse_name_addr)
    }

    /// The Authorization header: the answer to a 401's challenge (RFC 3261
    /// §22.2), the response hash masked.
    pub fn authorization(&self) -> Option<Credentials> {
        self.index
            .header("authorization")
            .map(|v| parse_credentials(&v))
    }

    /// The Proxy-Authorization header: the answer to a 407's challenge
    /// (RFC 3261 §22.3), the response hash masked.
    pub fn proxy_authorization(&self) -> Option<Credentials> {
        self.index
            .header("proxy-authorization")
            .map(|v| parse_credentials(&v))
    }

    /// The digest this request's Authorization (else Proxy-Authorization)
    /// was computed over, whole, for a password check offline; `None` when
    /// it has none or lacks a parameter the hash needs.
    pub fn digest_proof(&self) -> Option<DigestProof> {
        let method = self.method()?;
        let body = self
            .message
            .bytes
            .get(self.index.body.clone())
            .unwrap_or_default();
        ["authorization", "proxy-authorization"]
            .iter()
            .find_map(|h| parse_digest_proof(&self.index.header(h)?, method, body))
    }

    /// Every WWW-Authenticate challenge (a registrar's 401), in order: one
    /// per algorithm offered when several are (RFC 8760).
    pub fn www_authenticate(&self) -> Vec<Challenge> {
        self.index
            .headers_named("www-authenticate")
            .flat_map(|v| parse_challenges(&v))
            .collect()
    }

    /// Every Proxy-Authenticate challenge (a proxy's 407), in order.
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

    /// A header that is `delta-seconds` and nothing else (Expires,
    /// Min-Expires; RFC 3261 §25.1: `1*DIGIT`): `0x10` or `1e3` is no
    /// number at all, not 0 or 1; past 2^32−1 it is 2^32−1 (§20.19).
    fn delta_seconds(&self, name: &str) -> Option<u32> {
        let v = self.index.header(name)?;
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(
            v.parse::<u64>()
                .map_or(u32::MAX, |n| n.min(u64::from(u32::MAX)) as u32),
        )
    }

    /// The Expires header, in seconds: in a REGISTER the lifetime asked for
    /// its bindings (PJSIP: `expiration` of the registration), 0 to
    /// unregister; a Contact's own `expires=` overrides it.
    pub fn expires(&self) -> Option<u32> {
        self.delta_seconds("expires")
    }

    /// The Min-Expires header of a 423 (Interval Too Brief), in seconds: the
    /// shortest registration the registrar accepts (RFC 3261 §10.3).
    pub fn min_expires(&self) -> Option<u32> {
        self.delta_seconds("min-expires")
    }

    /// The Retry-After header, in seconds: how long the server asks the
    /// client to wait before trying again (503, 480…; RFC 3261 §20.33).
    pub fn retry_after(&self) -> Option<u32> {
        self.number("retry-after")
    }

    /// The User-Agent header: the client's software (Asterisk's is set by
    /// `user_agent` in the PJSIP `global` section).
    pub fn user_agent(&self) -> Option<Cow<'a, str>> {
        self.index.header("user-agent")
    }

    /// The Server header: the answering server's software.
    pub fn server(&self) -> Option<Cow<'a, str>> {
        self.index.header("server")
    }

    /// The first Warning header (`code agent "text"`, RFC 3261 §20.43),
    /// where some servers say why they refused.
    pub fn warning(&self) -> Option<Cow<'a, str>> {
        self.index.header("warning")
    }

    /// The Content-Length header, in bytes; `None` when missing or not a
    /// number.
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
