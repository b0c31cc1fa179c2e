//! Datagrams in, SIP messages out: UDP one to one, TCP through stream
//! reassembly and Content-Length framing, per direction of each connection.
//!
//! Only SIP goes in ([`SipSelection`]): a UDP datagram on a SIP port or
//! starting like SIP, a TCP stream on a SIP port or whose first bytes start
//! like SIP. The rest is counted ([`NotSipStats`]) and never reassembled,
//! so an HTTP connection neither shows up as messages nor as SIP bytes lost.
use std::{collections::HashMap, time::SystemTime};

use super::{FramingStats, KeepAlive, KeepAlives, Message, SipFramer, keep_alive};
use crate::{
    net::{
        Datagram, IcmpError, NotSipStats, SipEndpoints, SipSelection, Transport,
        tcp::{Flow, StreamEvent, TcpLimits, TcpReassembler, TcpStats},
    },
    tls::{self, KeyLog, KeyLogRead, SessionReport, TlsCounts},
};

/// What assembly made of the datagrams: TCP reassembly, framing, and what
/// was passed over as not SIP (the run summary's counts and loss warnings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssemblyStats {
    /// Stream reassembly of the SIP streams: segments, lost bytes, evicted
    /// connections.
    pub tcp: TcpStats,
    /// Cutting those streams into messages: messages, bytes skipped while
    /// resynchronising.
    pub framing: FramingStats,
    /// Bytes still waiting in framers when the capture ended.
    pub unfinished_bytes: u64,
    /// Traffic passed over as not SIP.
    pub not_sip: NotSipStats,
    /// Endpoints off the SIP ports where SIP was sniffed, forgotten to stay
    /// within bounds: ICMP errors and TCP about them may since have been
    /// passed over as not SIP (see [`SipEndpoints`]).
    pub sip_endpoints_evicted: u64,
    /// Keep-alives on the SIP ports (UDP), per flow; absent from the JSON
    /// when there were none.
    #[serde(skip_serializing_if = "KeepAlives::is_empty")]
    pub keep_alives: KeepAlives,
    /// TLS sessions: seen, decrypted, unreadable, failed; absent from the
    /// JSON when there were none.
    #[serde(skip_serializing_if = "TlsCounts::is_empty")]
    pub tls: TlsCounts,
}

struct Stream {
    framer: SipFramer,
    last_seen: SystemTime,
    /// The last segment's addressing, stamped on the messages it completes.
    template: Message,
}

/// Turns [`Datagram`]s into whole SIP [`Message`]s: a UDP datagram is one
/// message, TCP goes through stream reassembly and a [`SipFramer`] per
/// direction of each connection. One per capture; bounded by
/// [`TcpLimits::max_flows`] streams at once.
pub struct MessageAssembler {
    tcp: TcpReassembler,
    streams: HashMap<Flow, Stream>,
    max_streams: usize,
    /// Framing counts of streams already closed.
    closed: FramingStats,
    unfinished_bytes: u64,
    selection: SipSelection,
    /// TCP directions off the SIP ports, once their first bytes were judged.
    judged: HashMap<Flow, Judged>,
    not_sip: NotSipStats,
    keep_alives: KeepAlives,
    /// Endpoints off the SIP ports where UDP was sniffed as SIP.
    endpoints: SipEndpoints,
    /// TLS connections, found by their first bytes on any port.
    tls: tls::Connections,
}

/// What the first bytes of a TCP direction off the SIP ports said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamKind {
    Sip,
    NotSip,
}

#[derive(Clone, Copy, Debug)]
struct Judged {
    kind: StreamKind,
    last_seen: SystemTime,
}

impl Default for MessageAssembler {
    fn default() -> Self {
        Self::new(TcpLimits::default())
    }
}

impl MessageAssembler {
    /// An assembler within `limits` that takes as SIP what `attach` selects
    /// by default (ports 5060 and 5080, sniffing on).
    pub fn new(limits: TcpLimits) -> Self {
        Self::with_selection(limits, SipSelection::default())
    }

    /// An assembler that takes as SIP what `selection` says is SIP.
    pub fn with_selection(limits: TcpLimits, selection: SipSelection) -> Self {
        Self {
            tcp: TcpReassembler::new(limits),
            streams: HashMap::new(),
            max_streams: limits.max_flows,
            closed: FramingStats::default(),
            unfinished_bytes: 0,
            selection,
            judged: HashMap::new(),
            not_sip: NotSipStats::default(),
            keep_alives: KeepAlives::default(),
            endpoints: SipEndpoints::default(),
            tls: tls::Connections::default(),
        }
    }

    /// TLS sessions are opened with `keys` (`--tls-keylog`).
    pub fn with_keys(mut self, keys: KeyLog) -> Self {
        self.tls = tls::Connections::new(keys);
        self
    }

    /// TLS plaintext is read inside the process (`attach --pid`,
    /// `--process`): the wire's TLS sessions are followed for their
    /// handshakes only, a session without a key no loss.
    pub fn tls_read_in_process(&mut self) {
        self.tls.read_in_process();
    }

    /// More TLS secrets, as a capture's Decryption Secrets Block carries
    /// them (NSS key log text), `source_name`d in errors.
    pub fn add_keys(&mut self, text: &[u8], source_name: &str) -> KeyLogRead {
        self.tls.add_keys(text, source_name)
    }

    /// The TLS sessions not read or whose handshake failed, first seen
    /// first (complete once [`MessageAssembler::finish`] ran).
    pub fn tls_sessions(&self) -> &[SessionReport] {
        self.tls.listed()
    }

    /// Either end is an endpoint off the SIP ports where UDP was sniffed as
    /// SIP (see [`SipEndpoints`]).
    pub fn sip_endpoint(&self, src: &std::net::SocketAddr, dst: &std::net::SocketAddr) -> bool {
        self.endpoints.either(src, dst)
    }

    /// What assembly has counted so far, streams still open included.
    pub fn stats(&self) -> AssemblyStats {
        let mut framing = self.closed;
        for s in self.streams.values() {
            add(&mut framing, &s.framer.stats());
        }
        AssemblyStats {
            tcp: self.tcp.stats(),
            framing,
            unfinished_bytes: self.unfinished_bytes,
            not_sip: self.not_sip,
            sip_endpoints_evicted: self.endpoints.evicted,
            keep_alives: self.keep_alives,
            tls: self.tls.counts(),
        }
    }

    /// Appends the messages `d` completes to `out`; what is not SIP is
    /// only counted.
    pub fn push(&mut self, d: Datagram, out: &mut Vec<Message>) {
        match d.transport {
            Transport::Udp => {
                let on_port = self.selection.on_sip_port(&d.src, &d.dst);
                let sniffed = !on_port && self.selection.starts_like_sip(&d.payload);
                if sniffed {
                    self.endpoints.learn(d.src, d.dst);
                }
                if on_port || sniffed || self.endpoints.either(&d.src, &d.dst) {
                    if let Some(kind) = keep_alive(&d.payload) {
                        self.keep_alives
                            .add(d.src, d.dst, d.transport, kind, d.timestamp);
                    }
                    out.push(message(d));
                } else {
                    self.not_sip.udp_datagrams += 1;
                    self.not_sip.udp_bytes += d.payload.len() as u64;
                }
            }
            Transport::Tcp if self.is_tls(&d) => self.push_tls(d, out),
            Transport::Tcp => {
                if !self.tcp_is_sip(&d) {
                    return;
                }
                let keep_alive = self.tcp_keep_alive(&d);
                let duplicates_before = self.tcp.stats().duplicate_bytes;
                let (flow, events) = self.tcp.push(&d);
                // A retransmitted ping is one ping: count it only when its
                // bytes were new to the stream.
                let retransmitted =
                    self.tcp.stats().duplicate_bytes - duplicates_before >= d.payload.len() as u64;
                if let Some(kind) = keep_alive
                    && !retransmitted
                {
                    self.keep_alives
                        .add(d.src, d.dst, d.transport, kind, d.timestamp);
                }
                if events.is_empty() {
                    return;
                }
                // The framed bytes replace the segment's in each message.
                let template = Message {
                    bytes: Vec::new(),
                    ..message(d)
                };
                self.apply(flow, events, Some(template), out);
            }
            // Never decoded from frames: these come as whole messages.
            Transport::Tls | Transport::Ws | Transport::Wss => out.push(message(d)),
        }
    }

    /// Whether `d` belongs to a TLS connection: one already known, or a
    /// direction not yet judged whose first bytes are a TLS record (on any
    /// port). A new connection is started here.
    fn is_tls(&mut self, d: &Datagram) -> bool {
        if self.tls.side(d.src, d.dst).is_some() {
            return true;
        }
        let flow = Flow {
            src: d.src,
            dst: d.dst,
        };
        let reverse = Flow {
            src: d.dst,
            dst: d.src,
        };
        let known = [flow, reverse]
            .iter()
            .any(|f| self.streams.contains_key(f) || self.judged.contains_key(f));
        if known || !tls::starts_like_tls(&d.payload) {
            return false;
        }
        // The ClientHello's sender is the client; a capture that starts
        // later guesses the server by its lower port.
        let hello = tls::hello(&d.payload);
        let src_is_client = match hello {
            Some(tls::Hello::Client(_)) => true,
            Some(tls::Hello::Server) => false,
            None => d.src.port() > d.dst.port(),
        };
        // Off the SIP ports, TLS is taken as SIP only where the key log
        // can open it (and its plaintext then starts like SIP): an HTTPS
        // page beside SIP is passed over like any other stream.
        let on_port = self.selection.on_sip_port(&d.src, &d.dst)
            || [d.src.port(), d.dst.port()]
                .iter()
                .any(|p| sipwatch_common::DEFAULT_TLS_PORTS.contains(p));
        let keyed = matches!(hello, Some(tls::Hello::Client(random)) if self.tls.has_key(&random));
        if !on_port && !keyed {
            return false;
        }
        let (client, server) = if src_is_client {
            (d.src, d.dst)
        } else {
            (d.dst, d.src)
        };
        self.tls.start(client, server, d.timestamp);
        true
    }

    /// A segment of a TLS connection: reassembled, its records opened, and
    /// the plaintext framed as SIP with transport TLS.
    fn push_tls(&mut self, d: Datagram, out: &mut Vec<Message>) {
        let (src, dst, now) = (d.src, d.dst, d.timestamp);
        let reset = d.tcp.is_some_and(|t| t.rst);
        let (flow, events) = self.tcp.push(&d);
        let mut plain = Vec::with_capacity(events.len());
        for event in events {
            match event {
                StreamEvent::Data(bytes) => {
                    let mut p = Vec::new();
                    self.tls.push(src, dst, &bytes, now, &mut p);
                    if !p.is_empty() && self.tls_plaintext_is_sip(flow, &p, now) {
                        plain.push(StreamEvent::Data(p));
                    }
                }
                StreamEvent::Gap(n) => {
                    self.tls.gap(src, dst);
                    plain.push(StreamEvent::Gap(n));
                }
                StreamEvent::End => {
                    self.tls.close(src, dst, reset);
                    plain.push(StreamEvent::End);
                }
            }
        }
        if plain.is_empty() {
            return;
        }
        let template = Message {
            bytes: Vec::new(),
            transport: Transport::Tls,
            ..message(d)
        };
        self.apply(flow, plain, Some(template), out);
    }

    /// At the end of a capture: what waits behind gaps is framed, and what
    /// no message completes is counted.
    pub fn finish(&mut self, out: &mut Vec<Message>) {
        for (flow, events) in self.tcp.finish() {
            let events = if self.tls.side(flow.src, flow.dst).is_some() {
                self.tls_tail(flow, events)
            } else {
                events
            };
            self.apply(flow, events, None, out);
        }
        self.tls.finish();
        for (_, mut s) in self.streams.drain() {
            self.unfinished_bytes += s.framer.pending() as u64;
            s.framer.end();
            add(&mut self.closed, &s.framer.stats());
        }
    }

    fn apply(
        &mut self,
        flow: Flow,
        events: Vec<StreamEvent>,
        template: Option<Message>,
        out: &mut Vec<Message>,
    ) {
        if !self.streams.contains_key(&flow) {
            let Some(template) = template.clone() else {
                return;
            };
            self.make_room();
            self.streams.insert(
                flow,
                Stream {
                    framer: SipFramer::new(),
                    last_seen: template.timestamp,
                    template,
                },
            );
        }
        let stream = self.streams.get_mut(&flow).expect("present");
        if let Some(t) = template {
            stream.last_seen = t.timestamp;
            stream.template = t;
        }
        let mut framed = Vec::new();
        let mut ended = false;
        for event in events {
            match event {
                StreamEvent::Data(bytes) => stream.framer.push(&bytes, &mut framed),
                StreamEvent::Gap(_) => stream.framer.gap(),
                StreamEvent::End => ended = true,
            }
        }
        out.extend(framed.into_iter().map(|bytes| Message {
            bytes,
            ..stream.template.clone()
        }));
        if ended && let Some(mut s) = self.streams.remove(&flow) {
            self.unfinished_bytes += s.framer.pending() as u64;
            s.framer.end();
            add(&mut self.closed, &s.framer.stats());
        }
    }

    /// Whether a TLS direction's plaintext is SIP: on the SIP ports and
    /// 5061 it is; elsewhere its first bytes (or its reverse's) decide, as
    /// for TCP.
    /// What is not SIP is counted and dropped.
    fn tls_plaintext_is_sip(&mut self, flow: Flow, plain: &[u8], now: SystemTime) -> bool {
        // SIP's own TLS port (5061) too: a TLS library writing small
        // records must not have its first bytes judged alone.
        let tls_port = [flow.src.port(), flow.dst.port()]
            .iter()
            .any(|p| sipwatch_common::DEFAULT_TLS_PORTS.contains(p));
        if tls_port || self.selection.on_sip_port(&flow.src, &flow.dst) {
            return true;
        }
        let reverse = Flow {
            src: flow.dst,
            dst: flow.src,
        };
        let kind = match self.judged.get(&flow) {
            Some(j) => j.kind,
            None => {
                let reverse_is_sip = self
                    .judged
                    .get(&reverse)
                    .is_some_and(|j| j.kind == StreamKind::Sip);
                let kind = if reverse_is_sip || self.selection.starts_like_sip(plain) {
                    StreamKind::Sip
                } else {
                    self.not_sip.tcp_streams += 1;
                    StreamKind::NotSip
                };
                self.judge(flow, kind, now);
                kind
            }
        };
        if kind == StreamKind::NotSip {
            self.not_sip.tcp_bytes += plain.len() as u64;
        }
        kind == StreamKind::Sip
    }

    /// What waits behind a gap in a TLS stream at the end: the gap makes
    /// the rest unreadable, so only the gap itself is passed on.
    fn tls_tail(&mut self, flow: Flow, events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        events
            .into_iter()
            .filter_map(|e| match e {
                StreamEvent::Gap(n) => {
                    self.tls.gap(flow.src, flow.dst);
                    Some(StreamEvent::Gap(n))
                }
                StreamEvent::End => Some(StreamEvent::End),
                StreamEvent::Data(_) => None,
            })
            .collect()
    }

    /// Whether an ICMP error is about SIP; the others are counted.
    pub fn select_icmp(&mut self, e: &IcmpError) -> bool {
        let q = &e.quoted;
        let about_sip =
            self.selection.icmp_is_about_sip(e) || self.endpoints.either(&q.src, &q.dst);
        if !about_sip {
            self.not_sip.icmp_errors += 1;
        }
        about_sip
    }

    /// Whether a TCP segment belongs to a SIP stream: on a SIP port, or in
    /// a direction whose first bytes (or whose reverse's) started like SIP.
    /// Segments before the first payload carry nothing to judge and are
    /// passed over; the stream then starts at its first payload.
    fn tcp_is_sip(&mut self, d: &Datagram) -> bool {
        if self.selection.on_sip_port(&d.src, &d.dst) || self.endpoints.either(&d.src, &d.dst) {
            return true;
        }
        let flow = Flow {
            src: d.src,
            dst: d.dst,
        };
        let ends = d.tcp.is_some_and(|t| t.fin || t.rst);
        let kind = match self.judged.get_mut(&flow) {
            Some(j) => {
                j.last_seen = d.timestamp;
                j.kind
            }
            None if d.payload.is_empty() => return false,
            None => {
                let reverse = Flow {
                    src: d.dst,
                    dst: d.src,
                };
                let reverse_is_sip = self
                    .judged
                    .get(&reverse)
                    .is_some_and(|j| j.kind == StreamKind::Sip);
                let kind = if reverse_is_sip || self.selection.starts_like_sip(&d.payload) {
                    StreamKind::Sip
                } else if d.payload.iter().all(|&b| b == b'\r' || b == b'\n') {
                    return false; // a keep-alive says nothing yet
                } else {
                    self.not_sip.tcp_streams += 1;
                    StreamKind::NotSip
                };
                self.judge(flow, kind, d.timestamp);
                kind
            }
        };
        if ends {
            self.judged.remove(&flow);
        }
        if kind == StreamKind::NotSip && !d.payload.is_empty() {
            self.not_sip.tcp_segments += 1;
            self.not_sip.tcp_bytes += d.payload.len() as u64;
        }
        kind == StreamKind::Sip
    }

    /// A segment that is a CRLF ping or pong (RFC 5626 §3.5.1) between two
    /// messages of a SIP stream: framing steps over it, so it is counted by
    /// the caller.
    fn tcp_keep_alive(&self, d: &Datagram) -> Option<KeepAlive> {
        let kind @ (KeepAlive::CrlfPing | KeepAlive::CrlfPong) = keep_alive(&d.payload)? else {
            return None;
        };
        let flow = Flow {
            src: d.src,
            dst: d.dst,
        };
        // Inside a message (its header block split at a blank line), not between two.
        let between = self
            .streams
            .get(&flow)
            .is_none_or(|s| s.framer.pending() == 0);
        between.then_some(kind)
    }

    /// Remembers a judgement, within the same bound as the streams.
    fn judge(&mut self, flow: Flow, kind: StreamKind, now: SystemTime) {
        if self.judged.len() >= self.max_streams {
            // A forgotten judgement is made again from the next bytes.
            crate::net::evict_oldest(&mut self.judged, |j| j.last_seen);
        }
        self.judged.insert(
            flow,
            Judged {
                kind,
                last_seen: now,
            },
        );
    }

    fn make_room(&mut self) {
        if self.streams.len() < self.max_streams {
            return;
        }
        // An eighth at a time (see `net::bounded`), each closed and counted.
        for oldest in crate::net::oldest_eighth(&self.streams, |s| s.last_seen) {
            if let Some(mut s) = self.streams.remove(&oldest) {
                self.unfinished_bytes += s.framer.pending() as u64;
                s.framer.end();
                add(&mut self.closed, &s.framer.stats());
            }
        }
    }
}

fn message(d: Datagram) -> Message {
    Message {
        timestamp: d.timestamp,
        direction: d.direction,
        transport: d.transport,
        src: d.src,
        dst: d.dst,
        vlans: d.vlans,
        outer: d.outer,
        reassembled: d.reassembled,
        origin: crate::sip::Origin::CaptureFile,
        bytes: d.payload,
    }
}

fn add(total: &mut FramingStats, s: &FramingStats) {
    total.messages += s.messages;
    total.skipped_bytes += s.skipped_bytes;
    total.resyncs += s.resyncs;
    total.missing_content_length += s.missing_content_length;
    total.bad_content_length += s.bad_content_length;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::TcpSegmentInfo;

    fn datagram(src: &str, dst: &str, payload: &[u8], tcp: Option<TcpSegmentInfo>) -> Datagram {
        Datagram {
            timestamp: SystemTime::UNIX_EPOCH,
            direction: None,
            transport: if tcp.is_some() {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            tcp,
            payload: payload.to_vec(),
        }
    }

    fn segment(seq: u32, syn: bool, fin: bool) -> Option<TcpSegmentInfo> {
        Some(TcpSegmentInfo {
            seq,
            ack: None,
            syn,
            fin,
            rst: false,
        })
    }

    const OPTIONS: &[u8] = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    /// A router's ICMP error about `src` → `dst` quoting the UDP header only.
    fn router_error(src: &str, dst: &str, kind: crate::net::IcmpKind) -> IcmpError {
        IcmpError {
            timestamp: SystemTime::UNIX_EPOCH,
            direction: None,
            reporter: "192.0.2.254".parse().unwrap(),
            to: "192.0.2.1".parse().unwrap(),
            ip_version: 4,
            icmp_type: 3,
            code: 4,
            kind,
            mtu: Some(1400),
            quoted: crate::net::QuotedPacket {
                transport: Transport::Udp,
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                payload: Vec::new(),
            },
        }
    }

    #[test]
    fn icmp_and_tcp_about_an_endpoint_sniffed_as_sip_off_the_ports_are_sips() {
        let mut a = MessageAssembler::default();
        let mut out = Vec::new();
        let (pbx, registrar) = ("192.0.2.1:5070", "198.51.100.2:5090");
        let frag = crate::net::IcmpKind::FragmentationNeeded;
        // Before any SIP there, a quote without SIP bytes is not SIP's.
        assert!(!a.select_icmp(&router_error(pbx, registrar, frag)));
        a.push(datagram(pbx, registrar, OPTIONS, None), &mut out);
        assert_eq!(out.len(), 1, "sniffed as SIP");
        assert!(a.select_icmp(&router_error(pbx, registrar, frag)));
        assert!(a.sip_endpoint(
            &"192.0.2.1:40000".parse().unwrap(),
            &registrar.parse().unwrap()
        ));
        // Another endpoint of the same hosts is not.
        assert!(!a.select_icmp(&router_error("192.0.2.1:5071", "198.51.100.2:5091", frag)));
        // A keep-alive to that endpoint is SIP's too, as the kernel selects it.
        a.push(datagram(pbx, registrar, b"\r\n\r\n", None), &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn udp_off_the_sip_ports_is_a_message_only_when_it_starts_like_sip() {
        let mut a = MessageAssembler::default();
        let mut out = Vec::new();
        let rtp = [
            0x80, 0x00, 0x01, 0x02, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff,
        ];
        a.push(
            datagram("192.0.2.1:40000", "192.0.2.2:8000", &rtp, None),
            &mut out,
        );
        a.push(
            datagram(
                "192.0.2.1:53000",
                "192.0.2.2:53",
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00",
                None,
            ),
            &mut out,
        );
        a.push(
            datagram("192.0.2.1:40000", "192.0.2.2:7000", OPTIONS, None),
            &mut out,
        );
        a.push(
            datagram("192.0.2.1:40000", "192.0.2.2:5060", b"\r\n\r\n", None),
            &mut out,
        );
        assert_eq!(
            out.len(),
            2,
            "the sniffed OPTIONS and the keep-alive on 5060"
        );
        let n = a.stats().not_sip;
        assert_eq!((n.udp_datagrams, n.udp_bytes), (2, 26));
    }

    #[test]
    fn an_http_connection_is_passed_over_and_loses_no_sip_bytes() {
        let mut a = MessageAssembler::default();
        let mut out = Vec::new();
        let (c, s) = ("192.0.2.1:40000", "192.0.2.2:80");
        a.push(datagram(c, s, b"", segment(99, true, false)), &mut out);
        a.push(
            datagram(
                c,
                s,
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                segment(100, false, false),
            ),
            &mut out,
        );
        // A gap in the HTTP stream is no concern of SIP's.
        a.push(
            datagram(s, c, b"HTTP/1.1 200 OK\r\n", segment(5000, false, false)),
            &mut out,
        );
        a.push(
            datagram(s, c, b"more", segment(9000, false, true)),
            &mut out,
        );
        a.finish(&mut out);
        assert!(out.is_empty());
        let stats = a.stats();
        assert_eq!(stats.framing.skipped_bytes, 0);
        assert_eq!(stats.tcp.lost_bytes, 0);
        assert_eq!(stats.tcp.segments, 0, "never reassembled");
        assert_eq!(
            (stats.not_sip.tcp_streams, stats.not_sip.tcp_segments),
            (2, 3)
        );
    }

    #[test]
    fn sip_over_tcp_off_the_sip_ports_is_found_by_its_first_bytes() {
        let mut a = MessageAssembler::default();
        let mut out = Vec::new();
        let (c, s) = ("192.0.2.1:40000", "192.0.2.2:7070");
        a.push(datagram(c, s, b"", segment(99, true, false)), &mut out);
        a.push(
            datagram(c, s, b"\r\n\r\n", segment(100, false, false)),
            &mut out,
        );
        a.push(
            datagram(c, s, &OPTIONS[..10], segment(104, false, false)),
            &mut out,
        );
        a.push(
            datagram(c, s, &OPTIONS[10..], segment(114, false, false)),
            &mut out,
        );
        // The answer is SIP because its request was.
        a.push(
            datagram(
                s,
                c,
                b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                segment(7, false, false),
            ),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bytes, OPTIONS);
        assert!(a.stats().not_sip.is_empty(), "{:?}", a.stats().not_sip);
    }
}
