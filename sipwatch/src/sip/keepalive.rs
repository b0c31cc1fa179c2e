//! Keep-alives on a SIP port: what a datagram that is no SIP message but
//! keeps a NAT binding open looks like, and how often each flow sends them.
//!
//! RFC 5626 §4.4.1 (CRLF "ping", CRLF "pong" over a connection; STUN
//! binding requests over UDP, §4.4.2 and RFC 5389), and what phones and
//! PBXes send besides: whitespace-only datagrams, "jaK" (Linksys/Sipura
//! firmware), a few NUL bytes, an empty datagram.
//!
//! ```
//! use sipwatch::sip::{KeepAlive, keep_alive};
//! assert_eq!(keep_alive(b"\r\n\r\n"), Some(KeepAlive::CrlfPing));
//! assert_eq!(keep_alive(b"jaK"), Some(KeepAlive::Jak));
//! assert_eq!(keep_alive(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), None);
//! ```
use std::{net::SocketAddr, time::SystemTime};

use crate::net::Transport;

/// What a keep-alive datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepAlive {
    /// CRLF CRLF: the RFC 5626 §3.5.1 "ping".
    CrlfPing,
    /// A single CRLF: the RFC 5626 §3.5.1 "pong".
    CrlfPong,
    /// Other runs of CR and LF.
    Crlf,
    /// No payload at all.
    Empty,
    /// Spaces and tabs (with or without line ends).
    Whitespace,
    /// The three bytes "jaK" (Linksys/Sipura and their descendants).
    Jak,
    /// A few NUL bytes.
    Nul,
    /// A STUN binding request (RFC 5389 §6, magic cookie 0x2112A442): the
    /// RFC 5626 §4.4.2 keep-alive over UDP.
    StunBindingRequest,
    /// A STUN binding response, the answer to one.
    StunBindingResponse,
}

impl std::fmt::Display for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeepAlive::CrlfPing => "CRLF CRLF",
            KeepAlive::CrlfPong => "CRLF",
            KeepAlive::Crlf => "CR/LF",
            KeepAlive::Empty => "empty",
            KeepAlive::Whitespace => "whitespace",
            KeepAlive::Jak => "\"jaK\"",
            KeepAlive::Nul => "NUL bytes",
            KeepAlive::StunBindingRequest => "STUN binding request",
            KeepAlive::StunBindingResponse => "STUN binding response",
        })
    }
}

impl KeepAlive {
    /// Made of line ends only (or nothing): what the log has always shown
    /// as a plain "(keep-alive, N bytes)".
    pub fn is_line_ends(self) -> bool {
        matches!(
            self,
            KeepAlive::CrlfPing | KeepAlive::CrlfPong | KeepAlive::Crlf | KeepAlive::Empty
        )
    }
}

/// NUL keep-alives longer than this are not taken for one.
const MAX_NUL_BYTES: usize = 8;
/// STUN (RFC 5389 §6): the header's length, magic cookie, and the
/// binding method's request and success-response types.
const STUN_HEADER_LEN: usize = 20;
const STUN_MAGIC_COOKIE: [u8; 4] = 0x2112_a442u32.to_be_bytes();
const STUN_BINDING_REQUEST: u16 = 0x0001;
const STUN_BINDING_RESPONSE: u16 = 0x0101;

/// What keep-alive `payload` is, if it is one.
pub fn keep_alive(payload: &[u8]) -> Option<KeepAlive> {
    let is_line_end = |b: &u8| *b == b'\r' || *b == b'\n';
    match payload {
        [] => Some(KeepAlive::Empty),
        b"\r\n\r\n" => Some(KeepAlive::CrlfPing),
        b"\r\n" => Some(KeepAlive::CrlfPong),
        b"jaK" => Some(KeepAlive::Jak),
        p if p.iter().all(is_line_end) => Some(KeepAlive::Crlf),
        p if p
            .iter()
            .all(|b| is_line_end(b) || *b == b' ' || *b == b'\t') =>
        {
            Some(KeepAlive::Whitespace)
        }
        p if p.len() <= MAX_NUL_BYTES && p.iter().all(|&b| b == 0) => Some(KeepAlive::Nul),
        p => stun(p),
    }
}

fn stun(p: &[u8]) -> Option<KeepAlive> {
    if p.len() < STUN_HEADER_LEN || p[4..8] != STUN_MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if STUN_HEADER_LEN + length != p.len() || !length.is_multiple_of(4) {
        return None;
    }
    match u16::from_be_bytes([p[0], p[1]]) {
        STUN_BINDING_REQUEST => Some(KeepAlive::StunBindingRequest),
        STUN_BINDING_RESPONSE => Some(KeepAlive::StunBindingResponse),
        _ => None,
    }
}

/// The keep-alives of one flow (one direction, one transport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeepAliveFlow {
    /// The sender.
    pub src: SocketAddr,
    /// Whom they keep the binding to.
    pub dst: SocketAddr,
    /// UDP, or TCP (CRLF pings and pongs between messages).
    pub transport: Transport,
    /// What the latest one was.
    pub kind: KeepAlive,
    /// How many.
    pub count: u64,
    /// The first one.
    #[serde(serialize_with = "crate::time::serialize")]
    pub first_sent: SystemTime,
    /// The latest one.
    #[serde(serialize_with = "crate::time::serialize")]
    pub last_sent: SystemTime,
}

impl KeepAliveFlow {
    /// The mean interval between them (ms), from two on.
    pub fn interval_ms(&self) -> Option<u64> {
        let span = self.last_sent.duration_since(self.first_sent).ok()?;
        (self.count >= 2).then(|| span.as_millis() as u64 / (self.count - 1))
    }
}

/// Flows counted apart at most; keep-alives of further flows are counted
/// in `other_flows` (bounded and `Copy`, like the rest of the run's counts).
pub const MAX_KEEPALIVE_FLOWS: usize = 8;

/// The keep-alives seen on the SIP ports, per flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepAlives {
    flows: [Option<KeepAliveFlow>; MAX_KEEPALIVE_FLOWS],
    /// Keep-alives of flows past the first [`MAX_KEEPALIVE_FLOWS`].
    other_flows: u64,
}

impl KeepAlives {
    /// Counts one keep-alive of `kind` from `src` to `dst` at `at`.
    pub fn add(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        kind: KeepAlive,
        at: SystemTime,
    ) {
        for slot in &mut self.flows {
            match slot {
                Some(f) if f.src == src && f.dst == dst && f.transport == transport => {
                    f.count += 1;
                    f.kind = kind;
                    f.last_sent = f.last_sent.max(at);
                    return;
                }
                None => {
                    *slot = Some(KeepAliveFlow {
                        src,
                        dst,
                        transport,
                        kind,
                        count: 1,
                        first_sent: at,
                        last_sent: at,
                    });
                    return;
                }
                Some(_) => {}
            }
        }
        self.other_flows += 1;
    }

    /// Each flow, in the order first seen.
    pub fn flows(&self) -> impl Iterator<Item = &KeepAliveFlow> {
        self.flows.iter().flatten()
    }

    /// Keep-alives of flows not counted apart.
    pub fn other_flows(&self) -> u64 {
        self.other_flows
    }

    /// None seen.
    pub fn is_empty(&self) -> bool {
        self.flows[0].is_none()
    }
}

/// The JSON form: `{"flows":[{…, "interval_ms": 30000}], "other_flows": 0}`.
impl serde::Serialize for KeepAlives {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Flow<'a> {
            #[serde(flatten)]
            flow: &'a KeepAliveFlow,
            interval_ms: Option<u64>,
        }
        #[derive(serde::Serialize)]
        struct All<'a> {
            flows: Vec<Flow<'a>>,
            other_flows: u64,
        }
        let flows = self
            .flows()
            .map(|flow| Flow {
                flow,
                interval_ms: flow.interval_ms(),
            })
            .collect();
        serde::Serialize::serialize(
            &All {
                flows,
                other_flows: self.other_flows,
            },
            s,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_kind_of_keep_alive_is_named_and_sip_is_not_one() {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[7; 12]);
        let cases: [(&[u8], Option<KeepAlive>); 12] = [
            (b"\r\n\r\n", Some(KeepAlive::CrlfPing)),
            (b"\r\n", Some(KeepAlive::CrlfPong)),
            (b"\n", Some(KeepAlive::Crlf)),
            (b"", Some(KeepAlive::Empty)),
            (b" \r\n\r\n", Some(KeepAlive::Whitespace)),
            (b"\t", Some(KeepAlive::Whitespace)),
            (b"jaK", Some(KeepAlive::Jak)),
            (b"\0\0\0\0", Some(KeepAlive::Nul)),
            (&stun, Some(KeepAlive::StunBindingRequest)),
            (b"OPTIONS sip:x SIP/2.0\r\n\r\n", None),
            (&[0u8; 9], None),
            (&stun[..19], None),
        ];
        for (bytes, want) in cases {
            assert_eq!(keep_alive(bytes), want, "{bytes:?}");
        }
        let mut response = stun.clone();
        response[..2].copy_from_slice(&[0x01, 0x01]);
        assert_eq!(keep_alive(&response), Some(KeepAlive::StunBindingResponse));
        let mut wrong_cookie = stun;
        wrong_cookie[4] = 0;
        assert_eq!(keep_alive(&wrong_cookie), None);
    }

    #[test]
    fn keep_alives_are_counted_per_flow_with_their_interval_and_bounded() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let a: SocketAddr = "192.168.77.10:5060".parse().unwrap();
        let b: SocketAddr = "203.0.113.2:5060".parse().unwrap();
        let mut k = KeepAlives::default();
        assert!(k.is_empty());
        for i in 0..12 {
            let at = t0 + Duration::from_secs(30 * i);
            k.add(a, b, Transport::Udp, KeepAlive::CrlfPing, at);
        }
        k.add(b, a, Transport::Udp, KeepAlive::CrlfPong, t0);
        let flows: Vec<_> = k.flows().collect();
        assert_eq!(flows.len(), 2);
        assert_eq!((flows[0].count, flows[0].interval_ms()), (12, Some(30_000)));
        assert_eq!(flows[1].interval_ms(), None);
        for port in 0..20 {
            let c = SocketAddr::new(a.ip(), 6000 + port);
            k.add(c, b, Transport::Udp, KeepAlive::Jak, t0);
        }
        assert_eq!(k.flows().count(), MAX_KEEPALIVE_FLOWS);
        assert_eq!(k.other_flows(), 20 - (MAX_KEEPALIVE_FLOWS as u64 - 2));
    }
}
