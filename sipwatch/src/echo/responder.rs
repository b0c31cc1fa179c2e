//! The echo's decisions, free of sockets: is this a probe, may it be
//! answered, and what exactly is the answer.
use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::wire::{self, AUTH_HEADER, Mirror, PROBE_HEADER};
use crate::sip::{MessageIndex, StartLine};

/// Probes remembered for the query side channel.
pub const PROBE_LOG_SIZE: usize = 10_000;
/// Requests withheld from UDP answers ([`wire::UDP_ANSWER_MAX`]) kept for
/// the query channel's `MIRROR?`, and probes refused kept for `SEEN?`: at
/// most this many of each, the oldest forgotten first (each request at most
/// [`MAX_REQUEST`] bytes: 16 MiB in all).
pub const WITHHELD_LOG_SIZE: usize = 1_000;
/// Sources with a rate-limit bucket at once.
const MAX_BUCKETS: usize = 10_000;
/// Largest request answered (bytes).
pub const MAX_REQUEST: usize = 16 << 10;

/// What the echo answers and how much: the safety limits that make it fit
/// to expose on a public address. `sipwatch echo --key --rate --burst` set
/// them; the defaults are 10 probes a second per source, bursts of 20, no
/// key, answers at most 4 times the probe's size over UDP.
#[derive(Clone, Debug)]
pub struct EchoPolicy {
    /// The shared key (`--key`): when set, only probes whose
    /// `X-Sipwatch-Auth` carries a valid HMAC-SHA256 are answered, and every
    /// answer is signed. `None` answers every well-formed probe.
    pub key: Option<Vec<u8>>,
    /// Sustained probes per second per source address.
    pub rate: f64,
    /// Probes a source address may send at once before the rate applies
    /// (the token bucket's depth).
    pub burst: f64,
    /// Over UDP an answer is at most this many times the request's size, so
    /// that a spoofed source cannot turn the echo into an amplifier.
    pub amplification: usize,
}

impl Default for EchoPolicy {
    fn default() -> Self {
        Self {
            key: None,
            rate: 10.0,
            burst: 20.0,
            amplification: 4,
        }
    }
}

/// Why a datagram or message got no answer. Counted, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a SIP request (garbage, a response, a keep-alive): ignored.
    NotSip,
    /// A SIP request without a valid `X-Sipwatch-Probe` id: someone else's
    /// traffic (a scanner, a stray PBX), never answered.
    NotAProbe,
    /// Larger than [`MAX_REQUEST`] bytes; nothing sipwatch sends is.
    TooLarge,
    /// The echo has a key and the probe's `X-Sipwatch-Auth` is missing,
    /// wrong, or older than [`wire::MAX_CLOCK_SKEW`] seconds: check that
    /// prober and echo use the same `--key` and that their clocks agree.
    Unauthorized,
    /// The source address has used up its token bucket
    /// ([`EchoPolicy::rate`], [`EchoPolicy::burst`]), or the table of
    /// buckets is full of active sources.
    RateLimited,
    /// The answer would exceed the amplification bound.
    AnswerTooLarge,
}

impl Refusal {
    /// Its name on the query channel (`REFUSED <id> <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotSip => "not_sip",
            Refusal::NotAProbe => "not_a_probe",
            Refusal::TooLarge => "too_large",
            Refusal::Unauthorized => "unauthorized",
            Refusal::RateLimited => "rate_limited",
            Refusal::AnswerTooLarge => "answer_too_large",
        }
    }
}

/// What the [`Responder`] did with every datagram and message: one counter
/// for answers and one per [`Refusal`], so that every request is counted
/// exactly once. Part of the `echo_summary` JSON object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EchoStats {
    /// Probes answered with a mirror.
    pub answered: u64,
    /// NAT keep-alives sent to probes that asked for them.
    pub keepalives_sent: u64,
    /// Keep-alive schedules dropped to stay within bounds.
    pub keepalive_schedules_evicted: u64,
    /// Keep-alive schedules their prober stopped (it went away).
    pub keepalives_stopped: u64,
    /// Requests refused as [`Refusal::NotSip`].
    pub not_sip: u64,
    /// Requests refused as [`Refusal::NotAProbe`].
    pub not_probes: u64,
    /// Requests refused as [`Refusal::TooLarge`].
    pub too_large: u64,
    /// Probes refused as [`Refusal::Unauthorized`].
    pub unauthorized: u64,
    /// Probes refused as [`Refusal::RateLimited`].
    pub rate_limited: u64,
    /// Probes refused as [`Refusal::AnswerTooLarge`].
    pub answer_too_large: u64,
}

/// Where and how a probe arrived, for the side channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `"UDP"` or `"TCP"`.
    pub transport: &'static str,
    /// The source address and port the probe came from: the NAT mapping.
    pub source: SocketAddr,
    /// When it arrived, in microseconds since the Unix epoch.
    pub received_us: u64,
}

/// Where and when a probe arrived, for its answer.
#[derive(Clone, Copy)]
struct Received {
    transport: &'static str,
    source: SocketAddr,
    local: SocketAddr,
    unix: Duration,
}

/// How a mirror carries the request and the head ([`wire::Mirror`]).
#[derive(Clone, Copy)]
enum Packing {
    /// Base64, as they are.
    Plain,
    /// The request compressed ([`Mirror::request_deflated`]), the head left
    /// for the prober to rebuild from it ([`wire::answer_head`]).
    Deflated,
    /// Neither: the request is given on the query channel; the answer
    /// would have had this many bytes with it compressed.
    Withheld(usize),
}

/// A probe's NAT keep-alives still to send.
struct Schedule {
    source: SocketAddr,
    /// The echo's own address the probe reached: its keep-alives leave from there.
    local: SocketAddr,
    id: String,
    gaps: Vec<u64>,
    /// Index of the next keep-alive.
    next: usize,
    /// When the last datagram (the answer, then each keep-alive) went out.
    last: SystemTime,
}

/// Keep-alive schedules at once (one per source address and port).
const MAX_SCHEDULES: usize = 1024;

struct Bucket {
    tokens: f64,
    at: SystemTime,
}

/// The echo's decisions for one request at a time, without sockets (so that
/// unit tests drive it with bytes and a clock): is it a probe, may it be
/// answered under the [`EchoPolicy`], what is the answer. It remembers the
/// last [`PROBE_LOG_SIZE`] probes answered for the query channel.
pub struct Responder {
    policy: EchoPolicy,
    buckets: HashMap<IpAddr, Bucket>,
    log: VecDeque<(String, Seen)>,
    /// Requests left out of their UDP answers, for `MIRROR?`, oldest first.
    withheld: VecDeque<(String, Vec<u8>)>,
    /// Probes refused (key, rate, size), for `SEEN?`, oldest first.
    refused: VecDeque<(String, Refusal)>,
    /// NAT keep-alives still to send, oldest first.
    schedules: VecDeque<Schedule>,
    /// Everything decided so far.
    pub stats: EchoStats,
}

impl Responder {
    /// A responder with no probes seen and no rate-limit state.
    pub fn new(policy: EchoPolicy) -> Self {
        Self {
            policy,
            buckets: HashMap::new(),
            log: VecDeque::new(),
            withheld: VecDeque::new(),
            refused: VecDeque::new(),
            schedules: VecDeque::new(),
            stats: EchoStats::default(),
        }
    }

    /// Where the probe `id` arrived from, if it did (newest first).
    pub fn seen(&self, id: &str) -> Option<&Seen> {
        self.log.iter().rev().find(|(i, _)| i == id).map(|(_, s)| s)
    }

    /// The request of probe `id` as it arrived, when it was left out of its
    /// UDP answer to keep that unfragmented (newest first).
    pub fn withheld(&self, id: &str) -> Option<&[u8]> {
        self.withheld
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, r)| r.as_slice())
    }

    /// Why probe `id` was refused, when it was (and never answered since).
    pub fn refused(&self, id: &str) -> Option<Refusal> {
        if self.seen(id).is_some() {
            return None;
        }
        self.refused
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, why)| *why)
    }

    /// The shared key, to sign the query channel's answers with.
    pub fn key(&self) -> Option<&[u8]> {
        self.policy.key.as_deref()
    }

    /// The answer to `request`, or why there is none.
    pub fn answer(
        &mut self,
        request: &[u8],
        transport: &'static str,
        source: SocketAddr,
        local: SocketAddr,
        now: SystemTime,
    ) -> Result<Vec<u8>, Refusal> {
        let result = self.decide(request, transport, source, local, now);
        if let Err(why @ (Refusal::Unauthorized | Refusal::RateLimited | Refusal::AnswerTooLarge)) =
            result
        {
            // A probe refused, not lost: the query channel says so.
            let index = MessageIndex::parse(request);
            if let Some(id) = index
                .header(&PROBE_HEADER.to_ascii_lowercase())
                .filter(|i| wire::valid_id(i))
            {
                if self.refused.len() == WITHHELD_LOG_SIZE {
                    self.refused.pop_front();
                }
                self.refused.push_back((id.into_owned(), why));
            }
        }
        let counter = match result {
            Ok(_) => &mut self.stats.answered,
            Err(Refusal::NotSip) => &mut self.stats.not_sip,
            Err(Refusal::NotAProbe) => &mut self.stats.not_probes,
            Err(Refusal::TooLarge) => &mut self.stats.too_large,
            Err(Refusal::Unauthorized) => &mut self.stats.unauthorized,
            Err(Refusal::RateLimited) => &mut self.stats.rate_limited,
            Err(Refusal::AnswerTooLarge) => &mut self.stats.answer_too_large,
        };
        *counter += 1;
        result
    }

    fn decide(
        &mut self,
        request: &[u8],
        transport: &'static str,
        source: SocketAddr,
        local: SocketAddr,
        now: SystemTime,
    ) -> Result<Vec<u8>, Refusal> {
        if request.len() > MAX_REQUEST {
            return Err(Refusal::TooLarge);
        }
        let index = MessageIndex::parse(request);
        if !matches!(index.start, Some(StartLine::Request { .. })) {
            return Err(Refusal::NotSip);
        }
        let id = index
            .header(&PROBE_HEADER.to_ascii_lowercase())
            .map(|v| v.into_owned());
        let Some(id) = id.filter(|i| wire::valid_id(i)) else {
            return Err(Refusal::NotAProbe);
        };
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        if let Some(key) = &self.policy.key {
            let auth = index.header(&AUTH_HEADER.to_ascii_lowercase());
            if !auth.is_some_and(|a| wire::probe_auth_ok(key, &id, &a, unix.as_secs())) {
                return Err(Refusal::Unauthorized);
            }
        }
        if !self.take_token(source.ip(), now) {
            return Err(Refusal::RateLimited);
        }
        // Over UDP: plain when it fits one unfragmented datagram, else
        // compressed, else without the request (the query channel has it).
        let at = Received {
            transport,
            source,
            local,
            unix,
        };
        let mut response = self.build(&index, request, &id, &at, Packing::Plain);
        let mut withheld = false;
        if transport == "UDP" && response.len() > wire::UDP_ANSWER_MAX {
            response = self.build(&index, request, &id, &at, Packing::Deflated);
            if response.len() > wire::UDP_ANSWER_MAX {
                let whole = response.len();
                response = self.build(&index, request, &id, &at, Packing::Withheld(whole));
                withheld = true;
            }
            // Headers the answer must copy (Via, From, To…) alone too large.
            if response.len() > wire::UDP_ANSWER_MAX {
                return Err(Refusal::AnswerTooLarge);
            }
        }
        if transport == "UDP" && response.len() > self.policy.amplification * request.len() {
            return Err(Refusal::AnswerTooLarge);
        }
        if self.log.len() == PROBE_LOG_SIZE {
            self.log.pop_front();
        }
        if transport == "UDP"
            && let Some(mut gaps) = index
                .header(&wire::KEEPALIVE_HEADER.to_ascii_lowercase())
                .and_then(|v| wire::keepalive_gaps(&v))
        {
            // The keep-alives count toward the same amplification bound as
            // the answer: as many as fit, the earliest first.
            let budget = (self.policy.amplification * request.len()).saturating_sub(response.len());
            let mut used = 0;
            let fits = gaps
                .iter()
                .enumerate()
                .take_while(|(seq, gap)| {
                    used += wire::keepalive(&id, *seq, **gap).len();
                    used <= budget
                })
                .count();
            gaps.truncate(fits);
            if !gaps.is_empty() {
                self.schedule(source, local, &id, gaps, now);
            }
        }
        if withheld {
            if self.withheld.len() == WITHHELD_LOG_SIZE {
                self.withheld.pop_front();
            }
            self.withheld.push_back((id.clone(), request.to_vec()));
        }
        self.log.push_back((
            id,
            Seen {
                transport,
                source,
                received_us: unix.as_micros() as u64,
            },
        ));
        Ok(response)
    }

    /// A datagram from `source` that stops one of its probes' keep-alives
    /// ([`wire::keepalive_stop`]): `true` when it is one (then it is never
    /// answered, whether or not it stopped anything); with a key, only a
    /// signed stop counts.
    pub fn stop_keepalives(&mut self, bytes: &[u8], source: SocketAddr, now: SystemTime) -> bool {
        let Some((id, auth)) = wire::parse_keepalive_stop(bytes) else {
            return false;
        };
        if let Some(key) = &self.policy.key {
            let unix = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            if !auth.is_some_and(|a| wire::probe_auth_ok(key, &id, &a, unix)) {
                return true;
            }
        }
        let before = self.schedules.len();
        self.schedules
            .retain(|s| !(s.source == source && s.id == id));
        self.stats.keepalives_stopped += (before - self.schedules.len()) as u64;
        true
    }

    /// Keep-alives for a probe just answered; a later probe from the same
    /// source replaces its schedule, and the oldest make room.
    fn schedule(
        &mut self,
        source: SocketAddr,
        local: SocketAddr,
        id: &str,
        gaps: Vec<u64>,
        now: SystemTime,
    ) {
        self.schedules.retain(|s| s.source != source);
        if self.schedules.len() >= MAX_SCHEDULES {
            self.schedules.pop_front();
            self.stats.keepalive_schedules_evicted += 1;
        }
        self.schedules.push_back(Schedule {
            source,
            local,
            id: id.to_owned(),
            gaps,
            next: 0,
            last: now,
        });
    }

    /// The keep-alives due at `now` from the echo's address `local`:
    /// (where to, the datagram). Only ever to a source that sent a probe
    /// that passed every check (key, rate).
    pub fn due_keepalives(
        &mut self,
        local: SocketAddr,
        now: SystemTime,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut due = Vec::new();
        for s in self.schedules.iter_mut().filter(|s| s.local == local) {
            let gap = s.gaps[s.next];
            if now.duration_since(s.last).unwrap_or_default() >= Duration::from_secs(gap) {
                due.push((s.source, wire::keepalive(&s.id, s.next, gap)));
                s.next += 1;
                s.last = now;
            }
        }
        self.schedules.retain(|s| s.next < s.gaps.len());
        self.stats.keepalives_sent += due.len() as u64;
        due
    }

    /// Token bucket per source address; the table is bounded.
    fn take_token(&mut self, ip: IpAddr, now: SystemTime) -> bool {
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(&ip) {
            let stale = Duration::from_secs_f64(self.policy.burst / self.policy.rate.max(0.001));
            self.buckets
                .retain(|_, b| now.duration_since(b.at).unwrap_or_default() < stale);
            if self.buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let (rate, burst) = (self.policy.rate, self.policy.burst);
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.duration_since(b.at).unwrap_or_default().as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn build(
        &self,
        index: &MessageIndex<'_>,
        request: &[u8],
        id: &str,
        at: &Received,
        packing: Packing,
    ) -> Vec<u8> {
        let Received {
            transport,
            source,
            local,
            unix,
        } = *at;
        let head = wire::answer_head(index, request, id);
        let mirror = Mirror {
            version: 1,
            probe: id.to_owned(),
            transport: transport.to_owned(),
            source: wire::encode(source.to_string().as_bytes()),
            local: wire::encode(local.to_string().as_bytes()),
            received_us: unix.as_micros() as u64,
            request: match packing {
                Packing::Plain => wire::encode(request),
                _ => String::new(),
            },
            response_head: match packing {
                Packing::Plain => wire::encode(head.as_bytes()),
                _ => String::new(),
            },
            request_deflated: match packing {
                Packing::Deflated => Some(wire::deflate(request)),
                _ => None,
            },
            withheld_answer_bytes: match packing {
                Packing::Withheld(whole) => Some(whole),
                _ => None,
            },
        };
        let body = wire::encode_body(&mirror);
        let mut out = head;
        if let Some(key) = &self.policy.key {
            out.push_str(&format!(
                "{AUTH_HEADER}: {}\r\n",
                wire::body_auth(key, body.as_bytes())
            ));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(id: &str, auth: Option<&str>) -> Vec<u8> {
        let auth = auth
            .map(|a| format!("{AUTH_HEADER}: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "OPTIONS sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{id}\r\n\
             From: <sip:p@192.168.77.10>;tag=f\r\nTo: <sip:203.0.113.2>\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\n\
             Contact: <sip:p@192.168.77.10:5060>\r\nMax-Forwards: 70\r\n\
             User-Agent: Asterisk PBX 20.5.0\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, NOTIFY, INFO, REFER\r\n\
             Supported: replaces, timer, path\r\nAccept: application/sdp\r\n{PROBE_HEADER}: {id}\r\n{auth}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ask(r: &mut Responder, request: &[u8], at: f64) -> Result<Vec<u8>, Refusal> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_800_000_000.0 + at);
        r.answer(
            request,
            "UDP",
            addr("203.0.113.1:40000"),
            addr("203.0.113.2:5060"),
            now,
        )
    }

    #[test]
    fn a_probe_is_answered_with_what_arrived_and_where_from() {
        let mut r = Responder::new(EchoPolicy::default());
        let request = probe("p1", None);
        let answer = ask(&mut r, &request, 0.0).unwrap();
        let index = MessageIndex::parse(&answer);
        assert!(matches!(
            index.start,
            Some(StartLine::Response { code: 200, .. })
        ));
        let mirror = wire::decode_body(&answer[index.body.clone()]).unwrap();
        assert_eq!(mirror.request_bytes().unwrap(), request);
        assert_eq!(mirror.source_addr(), Some(addr("203.0.113.1:40000")));
        let head = mirror.response_head_bytes().unwrap();
        assert!(
            answer.starts_with(&head),
            "the mirrored head is the answer's own"
        );
        assert!(answer.len() <= 4 * request.len());
        assert_eq!(r.seen("p1").unwrap().source, addr("203.0.113.1:40000"));
    }

    /// A probe with a body of `body_len` bytes; `noise` makes it
    /// incompressible (a seeded byte stream, printable).
    fn probe_with_body(id: &str, body_len: usize, noise: bool) -> Vec<u8> {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let body: String = (0..body_len)
            .map(|i| {
                if !noise {
                    return ["v=0", "a=rtpmap:0 PCMU/8000", "m=audio 40000 RTP/AVP 0"][i % 3]
                        .as_bytes()[i % 3] as char;
                }
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (b'!' + (seed % 90) as u8) as char
            })
            .collect();
        let text = String::from_utf8(probe(id, None)).unwrap();
        let head = text.trim_end_matches("Content-Length: 0\r\n\r\n");
        format!("{head}Content-Type: application/sdp\r\nContent-Length: {body_len}\r\n\r\n{body}")
            .into_bytes()
    }

    fn mirror_of(answer: &[u8]) -> Mirror {
        let index = MessageIndex::parse(answer);
        wire::decode_body(&answer[index.body.clone()]).unwrap()
    }

    #[test]
    fn a_udp_answer_never_leaves_as_fragments_compressed_then_withheld() {
        let mut r = Responder::new(EchoPolicy::default());
        // Small: plain, as before.
        let small = format!(
            "OPTIONS sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-s\r\n\
             Call-ID: s\r\nCSeq: 1 OPTIONS\r\n{PROBE_HEADER}: small\r\nUser-Agent: {}\r\nContent-Length: 0\r\n\r\n",
            "x".repeat(140)
        )
        .into_bytes();
        let answer = ask(&mut r, &small, 0.0).unwrap();
        assert!(answer.len() <= wire::UDP_ANSWER_MAX);
        let m = mirror_of(&answer);
        assert!(m.request_deflated.is_none() && m.withheld_answer_bytes.is_none());
        // An INVITE with its SDP (the 560-byte probe whose plain mirror was
        // 1,908 bytes): compressed into one datagram, request and head whole.
        for id in ["sdp", "sdp-v6-longer-id-0123456789"] {
            let invite = probe_with_body(id, 300, false);
            let answer = ask(&mut r, &invite, 1.0).unwrap();
            assert!(answer.len() <= wire::UDP_ANSWER_MAX, "{}", answer.len());
            let m = mirror_of(&answer);
            assert!(
                m.request_deflated.is_some() && m.request.is_empty(),
                "{m:?}"
            );
            assert_eq!(m.request_bytes().unwrap(), invite);
            let head = m.response_head_bytes().unwrap();
            assert!(
                answer.starts_with(&head),
                "the head rebuilt from the request is the one sent"
            );
            assert!(r.withheld(id).is_none());
        }
        // Incompressible and large: the request is withheld, kept for the
        // query channel, and the answer still fits.
        let big = probe_with_body("big", 2_000, true);
        let answer = ask(&mut r, &big, 2.0).unwrap();
        assert!(answer.len() <= wire::UDP_ANSWER_MAX, "{}", answer.len());
        let m = mirror_of(&answer);
        assert!(m.withheld_answer_bytes.unwrap() > wire::UDP_ANSWER_MAX);
        assert_eq!(m.request_bytes(), None, "no request pretended");
        assert_eq!(
            m.response_head_bytes(),
            None,
            "rebuilt from the query channel's copy"
        );
        let rebuilt = wire::answer_head(&MessageIndex::parse(&big), &big, "big");
        assert!(answer.starts_with(rebuilt.as_bytes()));
        assert_eq!(r.withheld("big"), Some(big.as_slice()));
        // The query channel's line, signed and checked.
        let line = wire::mirror_line("big", &big, Some(b"k"));
        assert_eq!(
            wire::parse_mirror_line(&line, "big", Some(b"k")),
            Ok(Some(big.clone()))
        );
        assert!(wire::parse_mirror_line(&line, "big", Some(b"other")).is_err());
        assert!(wire::parse_mirror_line(&line, "other-id", None).is_err());
        assert_eq!(
            wire::parse_mirror_line("UNSEEN big\n", "big", None),
            Ok(None)
        );
        // Headers an answer must copy, alone too large: refused, and the
        // query channel says so.
        let vias: String = (0..40)
            .map(|i| format!("Via: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-many-{i}\r\n"))
            .collect();
        let many = String::from_utf8(probe("many", None)).unwrap().replacen(
            "Max-Forwards:",
            &format!("{vias}Max-Forwards:"),
            1,
        );
        assert_eq!(
            ask(&mut r, many.as_bytes(), 3.0),
            Err(Refusal::AnswerTooLarge)
        );
        assert_eq!(r.refused("many"), Some(Refusal::AnswerTooLarge));
        assert_eq!(r.refused("big"), None, "answered: not refused");
        // Over TCP nothing fragments: always plain.
        let answer = r
            .answer(
                &big,
                "TCP",
                addr("203.0.113.1:40001"),
                addr("203.0.113.2:5060"),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_003),
            )
            .unwrap();
        assert_eq!(mirror_of(&answer).request_bytes().unwrap(), big);
    }

    #[test]
    fn anything_but_a_probe_gets_nothing_and_is_counted() {
        let mut r = Responder::new(EchoPolicy::default());
        assert_eq!(ask(&mut r, b"\x00\x01garbage", 0.0), Err(Refusal::NotSip));
        assert_eq!(
            ask(&mut r, b"SIP/2.0 200 OK\r\n\r\n", 0.0),
            Err(Refusal::NotSip)
        );
        let plain = String::from_utf8(probe("p1", None))
            .unwrap()
            .replace("X-Sipwatch-Probe: p1\r\n", "");
        assert_eq!(ask(&mut r, plain.as_bytes(), 0.0), Err(Refusal::NotAProbe));
        assert_eq!(
            ask(&mut r, &vec![b'A'; MAX_REQUEST + 1], 0.0),
            Err(Refusal::TooLarge)
        );
        assert_eq!(
            (
                r.stats.not_sip,
                r.stats.not_probes,
                r.stats.too_large,
                r.stats.answered
            ),
            (2, 1, 1, 0)
        );
    }

    #[test]
    fn with_a_key_only_signed_probes_are_answered_and_answers_are_signed() {
        let key = b"shared".to_vec();
        let mut r = Responder::new(EchoPolicy {
            key: Some(key.clone()),
            ..EchoPolicy::default()
        });
        assert_eq!(
            ask(&mut r, &probe("p1", None), 0.0),
            Err(Refusal::Unauthorized)
        );
        let wrong = wire::probe_auth(b"wrong", "p1", 1_800_000_000);
        assert_eq!(
            ask(&mut r, &probe("p1", Some(&wrong)), 0.0),
            Err(Refusal::Unauthorized)
        );
        let good = wire::probe_auth(&key, "p1", 1_800_000_000);
        let answer = ask(&mut r, &probe("p1", Some(&good)), 0.0).unwrap();
        let index = MessageIndex::parse(&answer);
        let body = &answer[index.body.clone()];
        assert_eq!(
            index.header("x-sipwatch-auth").as_deref(),
            Some(wire::body_auth(&key, body).as_str())
        );
    }

    #[test]
    fn a_flood_from_one_source_is_limited_then_served_again() {
        let mut r = Responder::new(EchoPolicy::default());
        let answered = (0..100)
            .filter(|i| ask(&mut r, &probe(&format!("f{i}"), None), 0.0).is_ok())
            .count();
        assert_eq!(answered, 20, "the burst");
        assert_eq!(r.stats.rate_limited, 80);
        assert!(
            ask(&mut r, &probe("later", None), 1.0).is_ok(),
            "tokens come back with time"
        );
    }

    #[test]
    fn keep_alives_go_only_to_an_answered_probe_after_each_silence_asked_for() {
        let mut r = Responder::new(EchoPolicy::default());
        let echo = addr("203.0.113.2:5060");
        let t = |at: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_800_000_000.0 + at);
        let asking = String::from_utf8(probe("ka1", None)).unwrap().replace(
            "Content-Length: 0",
            "X-Sipwatch-Keepalive: 2,5\r\nContent-Length: 0",
        );
        ask(&mut r, asking.as_bytes(), 0.0).unwrap();
        // A request that is no probe asks for nothing.
        let plain = asking.replace("X-Sipwatch-Probe: ka1\r\n", "");
        assert!(ask(&mut r, plain.as_bytes(), 0.0).is_err());
        assert!(r.due_keepalives(echo, t(1.9)).is_empty());
        let first = r.due_keepalives(echo, t(2.0));
        assert_eq!(
            first,
            [(addr("203.0.113.1:40000"), wire::keepalive("ka1", 0, 2))]
        );
        assert!(
            r.due_keepalives(addr("203.0.113.9:5060"), t(9.0))
                .is_empty()
        );
        assert!(r.due_keepalives(echo, t(6.9)).is_empty());
        assert_eq!(r.due_keepalives(echo, t(7.0)).len(), 1);
        assert!(r.due_keepalives(echo, t(100.0)).is_empty(), "all sent");
        assert_eq!(r.stats.keepalives_sent, 2);
        assert_eq!(
            wire::parse_keepalive(&wire::keepalive("ka1", 1, 5)),
            Some(("ka1".to_owned(), 1, 5))
        );
        assert_eq!(wire::keepalive_gaps("1,2,x"), None);
        assert_eq!(wire::keepalive_gaps("0"), None);
        assert_eq!(wire::keepalive_gaps("20, 40"), Some(vec![20, 40]));
    }

    #[test]
    fn a_prober_going_away_stops_its_keep_alives_and_no_one_else_can() {
        let t = |at: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_800_000_000.0 + at);
        let echo = addr("203.0.113.2:5060");
        let prober = addr("203.0.113.1:40000");
        let asking = |id: &str, auth: Option<&str>| {
            String::from_utf8(probe(id, auth)).unwrap().replace(
                "Content-Length: 0",
                "X-Sipwatch-Keepalive: 2,5\r\nContent-Length: 0",
            )
        };
        let mut r = Responder::new(EchoPolicy::default());
        ask(&mut r, asking("ka3", None).as_bytes(), 0.0).unwrap();
        // From another source, or for another id: stops nothing.
        assert!(r.stop_keepalives(
            &wire::keepalive_stop("ka3", None),
            addr("198.51.100.7:5060"),
            t(0.5)
        ));
        assert!(r.stop_keepalives(&wire::keepalive_stop("other", None), prober, t(0.5)));
        assert_eq!(r.stats.keepalives_stopped, 0);
        assert!(r.stop_keepalives(&wire::keepalive_stop("ka3", None), prober, t(0.5)));
        assert_eq!(r.stats.keepalives_stopped, 1);
        assert!(r.due_keepalives(echo, t(30.0)).is_empty());
        // Not a stop: left to the probe path.
        assert!(!r.stop_keepalives(b"SIPWATCH-KEEPALIVE ka3 0 2\r\n", prober, t(1.0)));
        // With a key, only a signed stop counts.
        let key = b"k".to_vec();
        let mut keyed = Responder::new(EchoPolicy {
            key: Some(key.clone()),
            ..EchoPolicy::default()
        });
        let good = wire::probe_auth(&key, "ka4", 1_800_000_000);
        ask(&mut keyed, asking("ka4", Some(&good)).as_bytes(), 0.0).unwrap();
        assert!(keyed.stop_keepalives(&wire::keepalive_stop("ka4", None), prober, t(0.5)));
        assert_eq!(keyed.stats.keepalives_stopped, 0);
        let stop = wire::keepalive_stop("ka4", Some(&wire::probe_auth(&key, "ka4", 1_800_000_000)));
        assert!(keyed.stop_keepalives(&stop, prober, t(0.5)));
        assert_eq!(keyed.stats.keepalives_stopped, 1);
    }

    #[test]
    fn keep_alives_stay_within_the_amplification_bound_with_the_answer() {
        let mut r = Responder::new(EchoPolicy::default());
        let echo = addr("203.0.113.2:5060");
        let t = |at: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_800_000_000.0 + at);
        let asking = String::from_utf8(probe("ka2", None)).unwrap().replace(
            "Content-Length: 0",
            "X-Sipwatch-Keepalive: 1,1,1,1,1,1,1,1\r\nContent-Length: 0",
        );
        let answer = ask(&mut r, asking.as_bytes(), 0.0).unwrap();
        let mut sent = answer.len();
        for i in 1..=10 {
            sent += r
                .due_keepalives(echo, t(f64::from(i)))
                .iter()
                .map(|(_, d)| d.len())
                .sum::<usize>();
        }
        assert!(
            sent <= 4 * asking.len(),
            "{sent} bytes for a {}-byte probe",
            asking.len()
        );
    }
}
