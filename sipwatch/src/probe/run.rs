//! Sending the probes and reading what came back: the SIP client
//! ([`crate::client`]) sends and matches; what an answer's mirror says is
//! read here.
use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::{Duration, Instant, SystemTime},
};

use super::{
    nic::{NicView, NicWatch},
    report::{
        ForeignAnswer, Leg, NicObservation, ProbeMethod, ProbeOutcome, ProbeReport, Withheld,
    },
};
use crate::{
    alg::compare,
    client::{self, Channel, Exchange, Outcome, Timers},
    echo::wire::{self, Mirror},
    net::Transport,
    sip::MessageIndex,
};

/// What to probe, and how.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// The echo (SIP port).
    pub target: SocketAddr,
    /// The echo's query channel, to tell where an unanswered probe was lost
    /// (by default the echo's host, [`crate::echo::DEFAULT_QUERY_PORT`]).
    pub query: Option<SocketAddr>,
    /// The transports to probe over, in order (`--transport`, UDP and TCP by
    /// default).
    pub transports: Vec<Transport>,
    /// The shared key the echo was started with (`--key`): probes are signed
    /// with it and answers checked against it. `None` for an echo without key.
    pub key: Option<Vec<u8>>,
    /// Local port to send from (a PBX uses 5060; 0 picks a free one).
    pub local_port: u16,
    /// How long to wait for an answer (UDP retransmits meanwhile).
    pub timeout: Duration,
    /// Observe this host's own leg with the eBPF capture (needs root).
    pub watch_nic: bool,
    /// The echo's ports to probe (empty: the target's own).
    pub ports: Vec<u16>,
}

/// Why nothing could be probed at all (a lost or rewritten probe is a
/// finding in the report, not an error). `sipwatch probe` exits 1 on these.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The kernel has no route to the echo, so this host's own address
    /// toward it (what goes in Via, Contact and SDP) is unknown: check the
    /// address and `ip route get <address>`.
    #[error("no route to {0}: cannot find this host's address toward it")]
    NoRoute(SocketAddr, #[source] std::io::Error),
    /// The echo is this host's own address and the port probes are sent
    /// from: the probes would come back to their own socket (an echo there
    /// would have the port already): `--local-port 0`, or the echo's real
    /// address.
    #[error(
        "{0} is this host's own address and the port the probes are sent from (--local-port): they would come back to themselves; is the echo on another port or host? (--local-port 0 sends from a free port)"
    )]
    ToItself(SocketAddr),
    #[error(
        "cannot send from port {port}: {source}; another SIP server (Asterisk?) holds it — use --local-port 0 to send from a free port, with that port in the headers"
    )]
    /// The UDP socket could not be bound to `--local-port` on this host's
    /// address: usually a PBX already holds 5060; `--local-port 0` sends from
    /// a free port instead.
    Bind {
        /// The local port asked for (`--local-port`, 5060 by default).
        port: u16,
        /// The operating system's error (`EADDRINUSE`, `EACCES`, …).
        #[source]
        source: std::io::Error,
    },
}

/// The address this host uses toward `target` (what a PBX would put in Via).
fn source_address(target: SocketAddr) -> Result<IpAddr, ProbeError> {
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("literal");
    let s = UdpSocket::bind(any).map_err(|e| ProbeError::NoRoute(target, e))?;
    s.connect(target)
        .map_err(|e| ProbeError::NoRoute(target, e))?;
    Ok(s.local_addr()
        .map_err(|e| ProbeError::NoRoute(target, e))?
        .ip())
}

/// Sends every probe (each port, transport and method in turn) and
/// returns the report. Errors only where nothing could be sent at all.
pub fn probe(config: &ProbeConfig) -> Result<ProbeReport, ProbeError> {
    let started = SystemTime::now();
    let local_ip = source_address(config.target)?;
    for port in ports(config) {
        let echo = SocketAddr::new(config.target.ip(), port);
        if echo.ip() == local_ip && port == config.local_port {
            return Err(ProbeError::ToItself(echo));
        }
    }
    let watch = if config.watch_nic {
        NicWatch::start(local_ip, &ports(config))
    } else {
        Err("not asked for (--no-nic)".into())
    };
    let run = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros()
            % 0xffff_ffff
    );
    let mut outcomes = Vec::new();
    for port in ports(config) {
        let config = &ProbeConfig {
            target: SocketAddr::new(config.target.ip(), port),
            ..config.clone()
        };
        for &transport in &config.transports {
            for kind in ProbeMethod::ALL {
                let id = format!(
                    "sw-{run}-{port}-{}-{}",
                    transport.to_string().to_lowercase(),
                    kind.to_string().to_lowercase()
                );
                let outcome = match transport {
                    Transport::Udp => probe_udp(config, local_ip, kind, &id)?,
                    Transport::Tcp => probe_tcp(config, local_ip, kind, &id),
                    // `--transport` offers UDP and TCP only.
                    Transport::Tls | Transport::Ws | Transport::Wss => continue,
                };
                outcomes.push(outcome);
            }
        }
    }
    let nic = watch.and_then(NicWatch::finish);
    if let Ok(view) = &nic {
        for o in &mut outcomes {
            refine(o, view);
        }
    }
    let this_host = match nic {
        Ok(view) => NicObservation::Yes {
            interface: view.interface,
        },
        Err(reason) => NicObservation::No { reason },
    };
    Ok(ProbeReport::new(started, this_host, outcomes))
}

fn ports(config: &ProbeConfig) -> Vec<u16> {
    if config.ports.is_empty() {
        vec![config.target.port()]
    } else {
        config.ports.clone()
    }
}

/// What the NIC saw turns an unanswered probe's leg into this host's own.
fn refine(o: &mut ProbeOutcome, view: &NicView) {
    let left = view.left.contains_key(&o.id);
    if let Some(at_nic) = view.left.get(&o.id) {
        // A against B, and B against C: this host's changes apart from the
        // path's, each claimed only where both of its copies exist.
        if !o.sent_bytes.is_empty() {
            o.on_this_host = compare(&o.sent_bytes, at_nic);
        }
        if let Some(mirrored) = &o.mirrored_bytes {
            o.out = compare(at_nic, mirrored);
        }
    }
    let answered = view.arrived.contains(&o.id);
    o.left_nic = Some(left);
    o.answer_at_nic = Some(answered);
    if o.leg == Leg::Delivered || o.leg == Leg::TcpConnectFailed {
        return;
    }
    if !left && o.sent > 0 {
        o.leg = Leg::DroppedOnThisHost;
        o.kernel_drop = view.dropped.get(&o.id).cloned();
    } else if answered {
        o.leg = Leg::AnswerDroppedOnThisHost;
        o.kernel_drop = view.answer_dropped.get(&o.id).cloned();
    }
}

fn probe_udp(
    config: &ProbeConfig,
    local_ip: IpAddr,
    kind: ProbeMethod,
    id: &str,
) -> Result<ProbeOutcome, ProbeError> {
    let socket =
        UdpSocket::bind(SocketAddr::new(local_ip, config.local_port)).map_err(|source| {
            ProbeError::Bind {
                port: config.local_port,
                source,
            }
        })?;
    let local = socket.local_addr().map_err(|source| ProbeError::Bind {
        port: config.local_port,
        source,
    })?;
    let request = request(kind, "UDP", local, config.target, id, config.key.as_deref());
    // Connected, so that an ICMP port unreachable comes back as an error:
    // nothing listens there, which is not a drop.
    let mut channel = Channel::udp(socket, config.target);
    let timers = Timers::default().with_timeout(config.timeout);
    let exchange = client::exchange(&mut channel, config.target, &request, &timers);
    let mirrored = |bytes: &[u8], at: Duration| {
        let sent = exchange.sent_by(at);
        answered(
            config,
            kind,
            Transport::Udp,
            &request,
            bytes,
            local,
            sent,
            at,
            id,
        )
    };
    if let Some(outcome) = mirror_among(&exchange, config.target, mirrored) {
        return Ok(outcome);
    }
    let mut outcome = unanswered(
        config,
        kind,
        Transport::Udp,
        local,
        exchange.sent(),
        id,
        &request,
    );
    if let Outcome::Refused(_) = exchange.outcome {
        outcome.leg = Leg::Refused;
        outcome.query_error = None;
    } else {
        not_a_mirror(&exchange, config.target, &mut outcome);
    }
    Ok(outcome)
}

/// An unanswered probe to which something answered that is no mirror:
/// an invalid answer, with what answered in its place.
fn not_a_mirror(exchange: &Exchange, echo: SocketAddr, outcome: &mut ProbeOutcome) {
    if let Some(problem) = first_problem(exchange, echo) {
        outcome.leg = Leg::InvalidAnswer;
        outcome.answer_problem = Some(problem);
        outcome.answered_instead = answers(exchange, echo).find_map(|(bytes, _)| foreign(bytes));
        outcome.query_error = None;
    }
}

/// A SIP response that is no mirror, as [`ForeignAnswer`].
fn foreign(answer: &[u8]) -> Option<ForeignAnswer> {
    mirror_problem(answer)?;
    let index = MessageIndex::parse(answer);
    let Some(crate::sip::StartLine::Response { code, reason, .. }) = &index.start else {
        return None;
    };
    Some(ForeignAnswer {
        code: *code,
        reason: reason.clone(),
        server: index
            .header("server")
            .or_else(|| index.header("user-agent"))
            .map(|s| s.trim().to_owned()),
    })
}

/// What came back from the echo's address, in order of arrival: every
/// response and datagram the client ignored or took as provisional, then
/// the final response.
fn answers(exchange: &Exchange, echo: SocketAddr) -> impl Iterator<Item = (&[u8], Duration)> {
    let early = exchange
        .received
        .iter()
        .filter(move |r| r.from.ip() == echo.ip())
        .map(|r| (r.bytes.as_slice(), r.at));
    let last = match &exchange.outcome {
        Outcome::Final(r) => Some((r.bytes.as_slice(), r.at)),
        _ => None,
    };
    early.chain(last)
}

/// This probe's mirror among what came back: the final response as a rule;
/// an answer the client did not match (a path that rewrote the Via branch
/// or the CSeq) still counts, as the mirror names the probe.
fn mirror_among(
    exchange: &Exchange,
    echo: SocketAddr,
    mirrored: impl Fn(&[u8], Duration) -> Option<ProbeOutcome>,
) -> Option<ProbeOutcome> {
    answers(exchange, echo).find_map(|(bytes, at)| mirrored(bytes, at))
}

/// The first answer from the echo that is no mirror at all, in words.
fn first_problem(exchange: &Exchange, echo: SocketAddr) -> Option<String> {
    answers(exchange, echo).find_map(|(bytes, _)| mirror_problem(bytes))
}

/// Why `answer` is not an echo's mirror at all, in words; `None` when it
/// is one (of another probe, perhaps: a late answer, not a fault).
fn mirror_problem(answer: &[u8]) -> Option<String> {
    let index = MessageIndex::parse(answer);
    if !matches!(index.start, Some(crate::sip::StartLine::Response { .. })) {
        return Some("not a SIP response".into());
    }
    let body = answer.get(index.body.clone()).unwrap_or_default();
    if body.is_empty() {
        return Some("a SIP response without a body".into());
    }
    let Some(mirror) = wire::decode_body(body) else {
        return Some("its body is not a mirror (JSON)".into());
    };
    if mirror.request_bytes().is_none() || mirror.response_head_bytes().is_none() {
        return Some("its mirror's fields are not base64".into());
    }
    None
}

fn probe_tcp(config: &ProbeConfig, local_ip: IpAddr, kind: ProbeMethod, id: &str) -> ProbeOutcome {
    let start = Instant::now();
    let unreachable = |local| unanswered(config, kind, Transport::Tcp, local, 0, id, &[]);
    let stream = match client::connect_tcp(None, config.target, config.timeout) {
        Ok(s) => s,
        // Nothing was sent: the echo's query channel cannot tell the way.
        Err(e) => {
            let leg = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                Leg::Refused
            } else {
                Leg::TcpConnectFailed
            };
            return ProbeOutcome {
                leg,
                query_error: None,
                ..unreachable(SocketAddr::new(local_ip, 0))
            };
        }
    };
    let local = stream.local_addr().unwrap_or(SocketAddr::new(local_ip, 0));
    let request = request(kind, "TCP", local, config.target, id, config.key.as_deref());
    // The answer's time counts from before the handshake, as the time a
    // PBX waits does.
    let connected = start.elapsed();
    let timers = Timers::default().with_timeout(config.timeout.saturating_sub(connected));
    let exchange = client::exchange(
        &mut Channel::stream(stream),
        config.target,
        &request,
        &timers,
    );
    if let Outcome::Unsent(_) = exchange.outcome {
        return unanswered(config, kind, Transport::Tcp, local, 0, id, &request);
    }
    let mirrored = |bytes: &[u8], at: Duration| {
        answered(
            config,
            kind,
            Transport::Tcp,
            &request,
            bytes,
            local,
            1,
            connected + at,
            id,
        )
    };
    mirror_among(&exchange, config.target, mirrored).unwrap_or_else(|| {
        let mut outcome = unanswered(config, kind, Transport::Tcp, local, 1, id, &request);
        not_a_mirror(&exchange, config.target, &mut outcome);
        outcome
    })
}

/// A realistic request of `kind` with this host's address in Via, Contact and SDP.
fn request(
    kind: ProbeMethod,
    transport: &str,
    local: SocketAddr,
    target: SocketAddr,
    id: &str,
    key: Option<&[u8]>,
) -> Vec<u8> {
    let host = |a: SocketAddr| match a {
        SocketAddr::V4(v) => v.ip().to_string(),
        SocketAddr::V6(v) => format!("[{}]", v.ip()),
    };
    let (me, them) = (host(local), host(target));
    let port = local.port();
    let auth = key
        .map(|k| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            format!(
                "{}: {}\r\n",
                wire::AUTH_HEADER,
                wire::probe_auth(k, id, now)
            )
        })
        .unwrap_or_default();
    let ip_kind = if local.is_ipv4() { "IP4" } else { "IP6" };
    let sdp = format!(
        "v=0\r\no=- 1 1 IN {ip_kind} {}\r\ns=sipwatch probe\r\nc=IN {ip_kind} {}\r\nt=0 0\r\nm=audio 40{:03} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        local.ip(),
        local.ip(),
        port % 1000
    );
    let (uri, body, extra) = match kind {
        ProbeMethod::Invite => (
            format!("sip:probe@{them}"),
            sdp.as_str(),
            "Content-Type: application/sdp\r\n",
        ),
        ProbeMethod::Register => (format!("sip:{them}"), "", "Expires: 300\r\n"),
        ProbeMethod::Options => (format!("sip:{them}"), "", ""),
    };
    format!(
        "{kind} {uri} SIP/2.0\r\nVia: SIP/2.0/{transport} {me}:{port};branch=z9hG4bK-{id};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@{them}>;tag={id}\r\nTo: <sip:probe@{them}>\r\nCall-ID: {id}@{me}\r\nCSeq: 1 {kind}\r\n\
         Contact: <sip:probe@{me}:{port}>\r\nUser-Agent: sipwatch probe\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
         Supported: replaces, timer\r\n{extra}{}: {id}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        wire::PROBE_HEADER,
        body.len()
    )
    .into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn answered(
    config: &ProbeConfig,
    kind: ProbeMethod,
    transport: Transport,
    request: &[u8],
    answer: &[u8],
    local: SocketAddr,
    sent: u32,
    rtt: Duration,
    id: &str,
) -> Option<ProbeOutcome> {
    let index = MessageIndex::parse(answer);
    let mirror: Mirror = wire::decode_body(answer.get(index.body.clone())?)?;
    if mirror.probe != id {
        return None;
    }
    let head_end = memchr::memmem::find(answer, b"Content-Length:")?;
    // A request the echo left out to keep its UDP answer unfragmented
    // comes from its query channel.
    let (mirrored, withheld) = match mirror.withheld_answer_bytes {
        None => (Some(mirror.request_bytes()?), None),
        Some(answer_bytes) => {
            let fetched = config
                .query
                .ok_or_else(|| "no query channel was given".to_owned())
                .and_then(|q| {
                    client::mirror(q, id, config.key.as_deref())
                        .map_err(|why| format!("the echo's query channel at {q} {why}"))
                });
            let query_error = fetched.as_ref().err().cloned();
            (
                fetched.ok(),
                Some(Withheld {
                    answer_bytes,
                    query_error,
                }),
            )
        }
    };
    // The head the echo sent: mirrored, or rebuilt from the request it got.
    let sent_head = mirror.response_head_bytes().or_else(|| {
        let r = mirrored.as_deref()?;
        Some(wire::answer_head(&MessageIndex::parse(r), r, id).into_bytes())
    });
    Some(ProbeOutcome {
        id: id.to_owned(),
        target: config.target,
        method: kind,
        transport,
        local,
        sent,
        rtt_ms: Some(rtt.as_secs_f64() * 1000.0),
        leg: Leg::Delivered,
        query_error: None,
        answer_problem: None,
        answered_instead: None,
        nat_source: mirror.source_addr(),
        out: mirrored
            .as_deref()
            .map(|m| compare(request, m))
            .unwrap_or_default(),
        withheld,
        on_this_host: Vec::new(),
        back: sent_head
            .map(|h| compare(&h, &without_signature(&answer[..head_end])))
            .unwrap_or_default(),
        sent_bytes: request.to_vec(),
        mirrored_bytes: mirrored,
        left_nic: None,
        answer_at_nic: None,
        kernel_drop: None,
    })
}

/// The answer's head without the echo's own signature
/// (`X-Sipwatch-Auth`, with `--key`): the echo adds it after the head it
/// mirrors, since it signs the body, so it is no change the path made.
fn without_signature(head: &[u8]) -> Vec<u8> {
    let name = format!("{}:", wire::AUTH_HEADER).to_ascii_lowercase();
    let mut out = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        if !line.to_ascii_lowercase().starts_with(name.as_bytes()) {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A probe that got no answer: the query channel tells which way it was
/// lost, or why it cannot. `request` is what was sent (empty when nothing
/// was), kept for the comparison with the NIC's copy.
fn unanswered(
    config: &ProbeConfig,
    kind: ProbeMethod,
    transport: Transport,
    local: SocketAddr,
    sent: u32,
    id: &str,
    request: &[u8],
) -> ProbeOutcome {
    let (leg, query_error) = match config.query.map(|q| (q, crate::client::seen(q, id))) {
        Some((_, Ok(client::Fate::Arrived))) => (Leg::LostOnTheWayBack, None),
        Some((_, Ok(client::Fate::NotArrived))) => (Leg::DroppedOnTheWayOut, None),
        // Nothing lost: what the path does cannot be told from this probe.
        Some((_, Ok(client::Fate::Refused(why)))) => (Leg::RefusedByEcho, Some(why)),
        Some((q, Err(why))) => (
            Leg::NoAnswer,
            Some(format!(
                "the echo's query channel at {q} {why}: let TCP port {} through to the echo (or pass the one it was started with, --query)",
                q.port()
            )),
        ),
        None => (Leg::NoAnswer, Some("no query channel was given".to_owned())),
    };
    ProbeOutcome {
        id: id.to_owned(),
        target: config.target,
        method: kind,
        transport,
        local,
        sent,
        rtt_ms: None,
        leg,
        query_error,
        answer_problem: None,
        answered_instead: None,
        withheld: None,
        nat_source: None,
        out: Vec::new(),
        on_this_host: Vec::new(),
        back: Vec::new(),
        sent_bytes: request.to_vec(),
        mirrored_bytes: None,
        left_nic: None,
        answer_at_nic: None,
        kernel_drop: None,
    }
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;
    use crate::echo::{EchoPolicy, Responder};

    /// An echo on 127.0.0.1 (UDP) whose answers pass through `path` on the
    /// way back; it stops after 2 s of silence.
    fn udp_echo(path: fn(Vec<u8>) -> Vec<u8>) -> SocketAddr {
        udp_echo_with(EchoPolicy::default(), path)
    }

    /// [`udp_echo`] under `policy` (a key, limits).
    fn udp_echo_with(policy: EchoPolicy, path: fn(Vec<u8>) -> Vec<u8>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        thread::spawn(move || {
            let mut responder = Responder::new(policy);
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if let Ok(answer) =
                    responder.answer(&buf[..n], "UDP", from, addr, SystemTime::now())
                {
                    socket.send_to(&path(answer), from).unwrap();
                }
            }
        });
        addr
    }

    /// What a registrar answers any request: 401 with its Server header.
    fn registrar_answer(request: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(request);
        let keep: Vec<&str> = text
            .split("\r\n")
            .filter(|l| {
                ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                    .iter()
                    .any(|h| l.starts_with(h))
            })
            .collect();
        format!(
            "SIP/2.0 401 Unauthorized\r\n{}\r\nWWW-Authenticate: Digest realm=\"lab\", nonce=\"n\"\r\nServer: kamailio (5.7.4 (x86_64/linux))\r\nContent-Length: 0\r\n\r\n",
            keep.join("\r\n")
        )
        .into_bytes()
    }

    /// A registrar, not an echo, on UDP and TCP of one port.
    fn registrar() -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                udp.send_to(&registrar_answer(&buf[..n]), from).unwrap();
            }
        });
        thread::spawn(move || {
            for stream in tcp.incoming().take(3) {
                let Ok(mut stream) = stream else { break };
                let mut buf = vec![0u8; 65_536];
                if let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
                    let _ = std::io::Write::write_all(&mut stream, &registrar_answer(&buf[..n]));
                }
            }
        });
        addr
    }

    #[test]
    fn a_registrar_probed_instead_of_an_echo_is_named_by_what_it_answered_udp_and_tcp() {
        let target = registrar();
        for transport in [Transport::Udp, Transport::Tcp] {
            let report = probe(&config(target, transport)).unwrap();
            for o in &report.probes {
                assert_eq!(o.leg, Leg::InvalidAnswer, "{transport}: {o:?}");
                let a = o
                    .answered_instead
                    .as_ref()
                    .unwrap_or_else(|| panic!("{o:?}"));
                assert_eq!((a.code, a.reason.as_str()), (401, "Unauthorized"));
                assert!(
                    a.server
                        .as_deref()
                        .is_some_and(|s| s.starts_with("kamailio")),
                    "{a:?}"
                );
            }
            let mut text = Vec::new();
            super::super::write_report(&mut text, &report, false).unwrap();
            let text = String::from_utf8(text).unwrap();
            assert!(
                text.contains("401 Unauthorized, Server: kamailio"),
                "{text}"
            );
            assert!(text.contains("not a sipwatch echo"), "{text}");
            assert!(!text.contains("nothing came back"), "{text}");
        }
    }

    fn config(target: SocketAddr, transport: Transport) -> ProbeConfig {
        ProbeConfig {
            target,
            query: None,
            transports: vec![transport],
            key: None,
            local_port: 0,
            timeout: Duration::from_millis(700),
            watch_nic: false,
            ports: Vec::new(),
        }
    }

    fn legs(report: &ProbeReport) -> Vec<(Leg, u32)> {
        report.probes.iter().map(|o| (o.leg, o.sent)).collect()
    }

    #[test]
    fn a_probe_to_its_own_address_and_port_is_refused_not_answered_by_itself() {
        let mut c = config("127.0.0.1:5060".parse().unwrap(), Transport::Udp);
        c.local_port = 5060;
        match probe(&c) {
            Err(ProbeError::ToItself(echo)) => assert_eq!(echo.port(), 5060),
            other => panic!("{:?}", other.map(|r| r.verdict)),
        }
    }

    #[test]
    fn each_probe_is_answered_once_sent_through_the_client() {
        // A path that loses what would leave as fragments: every answer,
        // the INVITE's with its SDP too, fits one datagram.
        let unfragmented = |a: Vec<u8>| {
            assert!(a.len() <= wire::UDP_ANSWER_MAX, "{} bytes", a.len());
            a
        };
        let report = probe(&config(udp_echo(unfragmented), Transport::Udp)).unwrap();
        assert_eq!(legs(&report), [(Leg::Delivered, 1); 3]);
        assert!(report.probes.iter().all(|o| o.out.is_empty()));
        assert!(report.probes.iter().all(|o| o.mirrored_bytes.is_some()));
    }

    #[test]
    fn a_keyed_echos_signature_is_no_change_on_the_way_back() {
        let key = b"s3cret".to_vec();
        let policy = EchoPolicy {
            key: Some(key.clone()),
            ..EchoPolicy::default()
        };
        let mut c = config(udp_echo_with(policy, |a| a), Transport::Udp);
        c.key = Some(key);
        let report = probe(&c).unwrap();
        assert_eq!(legs(&report), [(Leg::Delivered, 1); 3]);
        for o in &report.probes {
            assert!(o.back.is_empty(), "{}: {:?}", o.id, o.back);
        }
        assert_eq!(report.verdict, super::super::report::Verdict::Clean);
    }

    /// An echo whose probes grow on the way out by `pad` bytes of noise in
    /// a header (an ALG's rewrite, too large to mirror in one datagram),
    /// with its query channel (TCP, same port) answering `MIRROR?`.
    fn echo_behind_a_growing_path(pad: usize) -> SocketAddr {
        let policy = EchoPolicy {
            amplification: 100,
            ..EchoPolicy::default()
        };
        echo_with_query(policy, pad)
    }

    /// An echo under `policy` on 127.0.0.1 with its query channel (TCP,
    /// same port) answering `SEEN?` and `MIRROR?` as `sipwatch echo` does;
    /// probes grow by `pad` bytes of noise in a header on the way out.
    fn echo_with_query(policy: EchoPolicy, pad: usize) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let query = TcpListener::bind(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let responder = std::sync::Arc::new(std::sync::Mutex::new(Responder::new(policy)));
        let r = responder.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                // Pseudo-random, so that compression cannot shrink it.
                let mut seed = 0x2545_f491_4f6c_dd1d_u64;
                let noise: String = (0..pad)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (b'!' + (seed % 90) as u8) as char
                    })
                    .collect();
                let grown = if pad == 0 {
                    text.into_owned()
                } else {
                    text.replacen(
                        "Max-Forwards:",
                        &format!("X-Path: {noise}\r\nMax-Forwards:"),
                        1,
                    )
                };
                let answer = r.lock().unwrap().answer(
                    grown.as_bytes(),
                    "UDP",
                    from,
                    addr,
                    SystemTime::now(),
                );
                if let Ok(answer) = answer {
                    assert!(answer.len() <= wire::UDP_ANSWER_MAX);
                    socket.send_to(&answer, from).unwrap();
                }
            }
        });
        thread::spawn(move || {
            for stream in query.incoming().take(6) {
                let Ok(mut stream) = stream else { break };
                let mut line = String::new();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut line)
                    .unwrap();
                let (question, id) = line.trim().split_once(' ').unwrap();
                let r = responder.lock().unwrap();
                let reply = match (question, r.withheld(id), r.refused(id)) {
                    ("MIRROR?", Some(request), _) => wire::mirror_line(id, request, None),
                    ("SEEN?", _, Some(why)) => format!("REFUSED {id} {}\n", why.name()),
                    ("SEEN?", _, None) if r.seen(id).is_some() => format!("SEEN {id} UDP - 0\n"),
                    _ => format!("UNSEEN {id}\n"),
                };
                std::io::Write::write_all(&mut stream, reply.as_bytes()).unwrap();
            }
        });
        addr
    }

    #[test]
    fn a_probe_the_echo_refuses_is_no_drop_and_says_why() {
        let policy = EchoPolicy {
            key: Some(b"s3cret".to_vec()),
            ..EchoPolicy::default()
        };
        let echo = echo_with_query(policy, 0);
        let mut c = config(echo, Transport::Udp);
        c.query = Some(echo);
        let report = probe(&c).unwrap();
        let legs: Vec<Leg> = report.probes.iter().map(|o| o.leg).collect();
        assert_eq!(legs, [Leg::RefusedByEcho; 3]);
        assert_eq!(report.verdict, super::super::report::Verdict::CouldNotTest);
        let mut text = Vec::new();
        super::super::write_report(&mut text, &report, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("not signed with the echo's key"), "{text}");
        assert!(!text.contains("dropped on the way out"), "{text}");
    }

    #[test]
    fn a_request_too_large_to_mirror_in_one_datagram_is_compared_from_the_query_channel() {
        let echo = echo_behind_a_growing_path(3_000);
        let mut c = config(echo, Transport::Udp);
        c.query = Some(echo);
        let report = probe(&c).unwrap();
        for o in &report.probes {
            let w = o
                .withheld
                .as_ref()
                .unwrap_or_else(|| panic!("{}: not withheld", o.id));
            assert!(
                w.answer_bytes > wire::UDP_ANSWER_MAX && w.query_error.is_none(),
                "{w:?}"
            );
            assert!(
                o.out.iter().any(|f| f.header.contains("X-Path")),
                "the path's header is found from the query channel's copy: {:?}",
                o.out
            );
        }
        // Without the query channel: said, and no clean verdict.
        let report = probe(&config(echo_behind_a_growing_path(3_000), Transport::Udp)).unwrap();
        assert_eq!(report.verdict, super::super::report::Verdict::CouldNotTest);
        let mut text = Vec::new();
        super::super::write_report(&mut text, &report, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("cross any path unfragmented"), "{text}");
        assert!(text.contains("no query channel was given"), "{text}");
        assert!(text.contains("could not test the way out"), "{text}");
    }

    #[test]
    fn a_mirror_whose_via_branch_the_path_rewrote_is_still_this_probes_answer() {
        let rewrite = |a: Vec<u8>| {
            String::from_utf8(a)
                .unwrap()
                .replacen(";branch=z9hG4bK-", ";branch=z9hG4bK-alg-", 1)
                .into_bytes()
        };
        let report = probe(&config(udp_echo(rewrite), Transport::Udp)).unwrap();
        for o in &report.probes {
            assert_eq!(o.leg, Leg::Delivered, "{o:?}");
            assert!(!o.back.is_empty(), "the rewrite is a finding: {o:?}");
        }
    }

    #[test]
    fn an_answer_that_is_no_mirror_is_an_invalid_answer() {
        let report = probe(&config(udp_echo(|_| b"hello".to_vec()), Transport::Udp)).unwrap();
        for o in &report.probes {
            assert_eq!(o.leg, Leg::InvalidAnswer, "{o:?}");
            assert_eq!(o.answer_problem.as_deref(), Some("not a SIP response"));
            assert!(o.sent >= 2, "retransmitted meanwhile: {o:?}");
        }
    }

    #[test]
    fn nothing_listening_is_refused_over_udp_and_tcp() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        for transport in [Transport::Udp, Transport::Tcp] {
            let report = probe(&config(closed, transport)).unwrap();
            for o in &report.probes {
                assert_eq!(o.leg, Leg::Refused, "{transport}: {o:?}");
            }
        }
    }
}
