//! The doctor on loopback only: RFC 3263 ordering on records built here
//! (a fake [`Dns`]), and a tiny SIP responder on 127.0.0.1 answering
//! OPTIONS (with `received` / `rport`) and REGISTER (401, then 200 / 403
//! for digest).
use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, UdpSocket},
    time::Duration,
};

use super::{
    dns::{self, Address, Answer, Dns, Failure, Kind, Naptr, Resolution, Srv, Via},
    report::{Mark, dns_mark},
    *,
};
use crate::{
    say::doctor::{self as words, Line, checklist, json, write_report},
    sip::MessageIndex,
    track::DigestAlgorithm,
};

// ---------------------------------------------------------------- DNS

#[derive(Default)]
struct FakeDns {
    answers: HashMap<(String, &'static str), Result<Answer, Failure>>,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Naptr => "NAPTR",
        Kind::Srv => "SRV",
        Kind::Address => "A",
    }
}

impl FakeDns {
    fn set(&mut self, name: &str, kind: Kind, answer: Result<Answer, Failure>) {
        self.answers
            .insert((format!("{name}."), kind_name(kind)), answer);
    }
    fn naptr(&mut self, name: &str, records: &[(u16, u16, &str, &str)]) {
        let naptr = records
            .iter()
            .map(|&(order, preference, services, replacement)| Naptr {
                name: name.into(),
                order,
                preference,
                flags: "s".into(),
                services: services.into(),
                replacement: replacement.into(),
                ttl_s: 300,
            })
            .collect();
        self.set(
            name,
            Kind::Naptr,
            Ok(Answer {
                naptr,
                ..Answer::default()
            }),
        );
    }
    fn srv(&mut self, name: &str, records: &[(u16, u16, u16, &str)]) {
        let srv = records
            .iter()
            .map(|&(priority, weight, port, target)| Srv {
                name: name.into(),
                priority,
                weight,
                port,
                target: target.into(),
                ttl_s: 60,
            })
            .collect();
        self.set(
            name,
            Kind::Srv,
            Ok(Answer {
                srv,
                ..Answer::default()
            }),
        );
    }
    fn a(&mut self, name: &str, ips: &[&str]) {
        let addresses = ips
            .iter()
            .map(|ip| Address {
                name: name.into(),
                ip: ip.parse().unwrap(),
                ttl_s: 30,
            })
            .collect();
        self.set(
            name,
            Kind::Address,
            Ok(Answer {
                addresses,
                ..Answer::default()
            }),
        );
    }
}

impl Dns for FakeDns {
    fn query(&self, name: &str, kind: Kind) -> Result<Answer, Failure> {
        self.answers
            .get(&(name.to_owned(), kind_name(kind)))
            .cloned()
            .unwrap_or(Err(Failure::NoRecords))
    }
    fn servers(&self) -> String {
        "192.0.2.53:53 (--dns)".into()
    }
}

fn resolve(fake: &FakeDns, target: &str, transports: &[Transport]) -> Resolution {
    let mut config = Config::new(target);
    config.transports = transports.to_vec();
    dns::resolve(fake, &Provider::parse(target).unwrap(), &config)
}

fn targets(r: &Resolution) -> Vec<String> {
    r.targets
        .iter()
        .map(|t| format!("{} {} {}", t.transport, t.address, t.host))
        .collect()
}

fn dns_line(r: &Resolution) -> Line {
    words::dns(
        &Timed {
            took_ms: 1.0,
            result: r.clone(),
        },
        dns_mark(r),
    )
}

#[test]
fn naptr_then_srv_then_addresses_in_rfc_3263_order() {
    let mut fake = FakeDns::default();
    // TCP preferred over UDP at the same order; TLS not asked for.
    fake.naptr(
        "provider.example",
        &[
            (10, 50, "SIP+D2U", "_sip._udp.provider.example"),
            (10, 20, "SIP+D2T", "_sip._tcp.provider.example"),
            (20, 10, "SIPS+D2T", "_sips._tcp.provider.example"),
        ],
    );
    fake.srv(
        "_sip._udp.provider.example",
        &[
            (20, 0, 5060, "backup.provider.example"),
            (10, 10, 5060, "b.provider.example"),
            (10, 90, 5080, "a.provider.example"),
        ],
    );
    fake.srv(
        "_sip._tcp.provider.example",
        &[(10, 0, 5060, "a.provider.example")],
    );
    fake.a("a.provider.example", &["192.0.2.1"]);
    fake.a("b.provider.example", &["192.0.2.2", "2001:db8::2"]);
    fake.a("backup.provider.example", &["192.0.2.9"]);
    let r = resolve(
        &fake,
        "sip:provider.example",
        &[Transport::Udp, Transport::Tcp],
    );
    assert_eq!(r.failure, None);
    assert_eq!(
        targets(&r),
        [
            "TCP 192.0.2.1:5060 a.provider.example",
            "UDP 192.0.2.1:5080 a.provider.example",
            "UDP 192.0.2.2:5060 b.provider.example",
            "UDP [2001:db8::2]:5060 b.provider.example",
            "UDP 192.0.2.9:5060 backup.provider.example",
        ]
    );
    assert!(r.targets.iter().all(|t| t.via == Via::Naptr));
    assert_eq!(dns_mark(&r), Mark::Pass);
    let line = dns_line(&r);
    assert_eq!(
        line.seen,
        "provider.example resolves to 5 targets, asked 192.0.2.53:53 (--dns)"
    );
    assert!(line.details.contains(&"NAPTR provider.example order 10 preference 20 flags \"s\" SIP+D2T → _sip._tcp.provider.example (TTL 300 s)".to_owned()), "{:#?}", line.details);
    assert!(line.details.contains(&"SRV _sip._udp.provider.example priority 10 weight 90 port 5080 → a.provider.example (TTL 60 s)".to_owned()));
    assert!(line.details.contains(
        &"the targets a PJSIP server_uri sip:provider.example tries, in order:".to_owned()
    ));
    assert!(
        line.details
            .contains(&"  1. TCP 192.0.2.1:5060 (a.provider.example, from NAPTR → SRV)".to_owned())
    );
}

#[test]
fn srv_order_is_priority_then_heaviest_weight() {
    let mut records: Vec<Srv> = [(20u16, 100u16), (10, 5), (10, 60)]
        .iter()
        .map(|&(priority, weight)| Srv {
            name: "_sip._udp.x".into(),
            priority,
            weight,
            port: 5060,
            target: format!("{priority}-{weight}"),
            ttl_s: 1,
        })
        .collect();
    dns::srv_order(&mut records);
    let order: Vec<&str> = records.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(order, ["10-60", "10-5", "20-100"]);
}

#[test]
fn without_naptr_srv_per_transport_and_a_transport_without_srv_is_named() {
    let mut fake = FakeDns::default();
    fake.srv(
        "_sip._udp.provider.example",
        &[(10, 0, 5060, "sip.provider.example")],
    );
    fake.a("sip.provider.example", &["192.0.2.1"]);
    let r = resolve(&fake, "provider.example", &[Transport::Udp, Transport::Tcp]);
    assert_eq!(targets(&r), ["UDP 192.0.2.1:5060 sip.provider.example"]);
    assert!(r.targets.iter().all(|t| t.via == Via::Srv));
    let line = dns_line(&r);
    assert!(line.details.contains(&"no NAPTR record for SIP: the SRV records of each transport are looked up (RFC 3263 §4.1)".to_owned()));
    assert!(
        line.details.contains(
            &"no SRV record _sip._tcp.provider.example: TCP is not offered through DNS".to_owned()
        ),
        "{:#?}",
        line.details
    );
    assert_eq!(line.mark, Mark::Pass);
}

#[test]
fn no_srv_falls_back_to_the_name_on_5060() {
    let mut fake = FakeDns::default();
    fake.a("provider.example", &["192.0.2.7"]);
    let r = resolve(&fake, "provider.example", &[Transport::Udp, Transport::Tls]);
    assert_eq!(
        targets(&r),
        [
            "UDP 192.0.2.7:5060 provider.example",
            "TLS 192.0.2.7:5061 provider.example"
        ]
    );
    let line = dns_line(&r);
    assert!(line.details.contains(&"no SRV record: a PBX uses the name's A / AAAA records on port 5060 (5061 for TLS), RFC 3263 §4.2".to_owned()));
    assert_eq!(line.mark, Mark::Pass);
}

#[test]
fn nxdomain_is_a_failure_with_its_fix() {
    let mut fake = FakeDns::default();
    fake.set("nope.example", Kind::Naptr, Err(Failure::NxDomain));
    let r = resolve(&fake, "nope.example", &[Transport::Udp]);
    assert_eq!(r.failure, Some(Failure::NxDomain));
    let line = dns_line(&r);
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.seen,
        "the name does not exist (NXDOMAIN) for nope.example, asked 192.0.2.53:53 (--dns)"
    );
    assert_eq!(
        line.cause.as_deref(),
        Some("nope.example does not exist in DNS")
    );
    assert!(line.fix.unwrap().contains("`server_uri`"));
    assert!(!r.unreachable());
}

#[test]
fn an_srv_target_without_address_makes_the_records_disagree() {
    let mut fake = FakeDns::default();
    fake.srv(
        "_sip._udp.provider.example",
        &[
            (10, 0, 5060, "gone.provider.example"),
            (20, 0, 5060, "ok.provider.example"),
        ],
    );
    fake.set(
        "gone.provider.example",
        Kind::Address,
        Err(Failure::NxDomain),
    );
    fake.a("ok.provider.example", &["192.0.2.3"]);
    let r = resolve(&fake, "provider.example", &[Transport::Udp]);
    assert_eq!(targets(&r), ["UDP 192.0.2.3:5060 ok.provider.example"]);
    let line = dns_line(&r);
    assert_eq!(line.mark, Mark::Fail);
    assert!(line.details.contains(&"the SRV record _sip._udp.provider.example points at gone.provider.example, which has no address (the name does not exist (NXDOMAIN)): the records disagree".to_owned()), "{:#?}", line.details);
    assert_eq!(
        line.cause.as_deref(),
        Some(
            "_sip._udp.provider.example names gone.provider.example, which has no address: a PBX that tries it fails before sending anything"
        )
    );
}

#[test]
fn a_dns_timeout_means_could_not_test() {
    let mut fake = FakeDns::default();
    fake.set("provider.example", Kind::Naptr, Err(Failure::Timeout));
    let r = resolve(&fake, "provider.example", &[Transport::Udp]);
    assert!(r.unreachable());
    assert_eq!(
        dns_line(&r).seen,
        "no DNS server answered in time for provider.example, asked 192.0.2.53:53 (--dns)"
    );
}

#[test]
fn a_port_given_skips_naptr_and_srv() {
    let mut fake = FakeDns::default();
    fake.naptr(
        "provider.example",
        &[(10, 10, "SIP+D2U", "_sip._udp.provider.example")],
    );
    fake.a("provider.example", &["192.0.2.4"]);
    let r = resolve(&fake, "provider.example:5080", &[Transport::Udp]);
    assert_eq!(targets(&r), ["UDP 192.0.2.4:5080 provider.example"]);
    assert!(r.naptr.is_empty());
}

#[test]
fn targets_beyond_the_limit_are_cut_and_said() {
    let mut fake = FakeDns::default();
    fake.a(
        "provider.example",
        &[
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.4",
            "192.0.2.5",
        ],
    );
    let r = resolve(&fake, "provider.example", &[Transport::Udp]);
    assert_eq!(r.targets.len(), 4);
    assert!(
        dns_line(&r)
            .details
            .contains(&"5 targets found; the first of each transport are tried".to_owned())
    );
}

#[test]
fn providers_parse_from_uris_hosts_and_literals() {
    let p = Provider::parse("sip:alice@provider.example:5080;transport=udp").unwrap();
    assert_eq!(
        (p.host.as_str(), p.port, p.ip),
        ("provider.example", Some(5080), None)
    );
    let p = Provider::parse("[::1]:5062").unwrap();
    assert_eq!((p.ip, p.port), (Some("::1".parse().unwrap()), Some(5062)));
    assert!(Provider::parse("sip:").is_err());
    assert!(Provider::parse("bad host").is_err());
    assert!(Provider::parse("bad/host").is_err());
}

// ---------------------------------------------------------------- digest

#[test]
fn digest_responses_match_the_rfc_examples() {
    // RFC 2617 §3.5 (MD5, qop auth).
    let md5 = dns_free_digest(
        &DigestAlgorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(("00000001", "0a4f113b")),
    );
    assert_eq!(md5, "6629fae49393a05397450978507c4ef1");
    // RFC 7616 §3.9.1 (SHA-256, qop auth).
    let sha = dns_free_digest(
        &DigestAlgorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
    );
    assert_eq!(
        sha,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert!(
        credentials::digest_response(&credentials::DigestInput {
            algorithm: &DigestAlgorithm::Other("X".into()),
            username: "u",
            realm: "r",
            password: "p",
            method: "REGISTER",
            uri: "sip:x",
            nonce: "n",
            qop_auth: None,
        })
        .is_none()
    );
}

#[allow(clippy::too_many_arguments)]
fn dns_free_digest(
    algorithm: &DigestAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop_auth: Option<(&str, &str)>,
) -> String {
    credentials::digest_response(&credentials::DigestInput {
        algorithm,
        username,
        realm,
        password,
        method,
        uri,
        nonce,
        qop_auth,
    })
    .unwrap()
}

// ---------------------------------------------------------------- responder

/// How the loopback registrar behaves.
#[derive(Clone)]
struct Registrar {
    password: &'static str,
    algorithm: &'static str,
    qop: bool,
    /// 403 after correct credentials (a suspended account).
    forbid: bool,
    /// Answer everything with this instead.
    garbage: Option<&'static [u8]>,
    /// `received` / `rport` to put in the Via.
    seen_as: Option<(&'static str, u16)>,
    /// Answer UDP from this address instead (a load balancer's other leg).
    answer_from: Option<&'static str>,
    /// Over TLS, ask for a client certificate issued by this CA.
    client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
    /// Answer every REGISTER at once with this status line and extra
    /// headers (no challenge); an empty status: never answer it.
    register_answer: Option<(&'static str, &'static str)>,
}

impl Default for Registrar {
    fn default() -> Registrar {
        Registrar {
            password: "s3cret-pw",
            algorithm: "MD5",
            qop: true,
            forbid: false,
            garbage: None,
            seen_as: Some(("198.51.100.7", 5060)),
            answer_from: None,
            client_ca: None,
            register_answer: None,
        }
    }
}

impl Registrar {
    fn answer(&self, request: &[u8], from: SocketAddr) -> Vec<u8> {
        if let Some(g) = self.garbage {
            return g.to_vec();
        }
        let index = MessageIndex::parse(request);
        let h = |n: &str| index.header(n).map(|v| v.into_owned()).unwrap_or_default();
        let (ip, port) = self
            .seen_as
            .map_or((from.ip().to_string(), from.port()), |(i, p)| {
                (i.to_owned(), p)
            });
        let via = h("via").replace(";rport", &format!(";received={ip};rport={port}"));
        let method = h("cseq").split_whitespace().nth(1).unwrap_or("").to_owned();
        let (status, extra) = if method == "OPTIONS" {
            ("200 OK", "Server: LabRegistrar 1.0\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER\r\nSupported: path, outbound\r\n".to_owned())
        } else if let Some((status, extra)) = self.register_answer {
            if status.is_empty() {
                return Vec::new();
            }
            (status, extra.to_owned())
        } else if let Some(auth) = index.header("authorization") {
            let get = |n: &str| crate::sip::fields::auth_param(&auth, n).unwrap_or_default();
            let qop = get("qop");
            let expected = credentials::digest_response(&credentials::DigestInput {
                algorithm: &DigestAlgorithm::named(Some(&get("algorithm"))),
                username: &get("username"),
                realm: "lab",
                password: self.password,
                method: "REGISTER",
                uri: &get("uri"),
                nonce: &get("nonce"),
                qop_auth: (!qop.is_empty())
                    .then_some((get("nc").as_str(), get("cnonce").as_str()))
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .as_ref()
                    .map(|(a, b)| (a.as_str(), b.as_str())),
            })
            .unwrap_or_default();
            if get("response") != expected
                || get("opaque") != "op4que"
                || get("username") != "alice-auth"
            {
                ("401 Unauthorized", self.challenge())
            } else if self.forbid {
                (
                    "403 Forbidden",
                    "Warning: 399 lab \"Account suspended\"\r\n".to_owned(),
                )
            } else {
                ("200 OK", "Contact: <sip:alice@203.0.113.50:5060>;expires=117, <sip:alice@[2001:db8::50]:5060;transport=tcp>;expires=3600\r\n".to_owned())
            }
        } else {
            ("401 Unauthorized", self.challenge())
        };
        format!(
            "SIP/2.0 {status}\r\nVia: {via}\r\nFrom: {}\r\nTo: {};tag=lab\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
            h("from"),
            h("to"),
            h("call-id"),
            h("cseq")
        )
        .into_bytes()
    }

    fn challenge(&self) -> String {
        let qop = if self.qop { ", qop=\"auth\"" } else { "" };
        format!(
            "WWW-Authenticate: Digest realm=\"lab\", nonce=\"n-{}\", opaque=\"op4que\", algorithm={}{qop}\r\n",
            token(),
            self.algorithm
        )
    }

    /// Serves UDP on 127.0.0.1, forever (the thread ends with the test
    /// process).
    fn udp(self) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let out = self.answer_from.map(|a| UdpSocket::bind(a).unwrap());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let answer = self.answer(&buf[..n], from);
                if !answer.is_empty() {
                    out.as_ref().unwrap_or(&socket).send_to(&answer, from).ok();
                }
            }
        });
        addr
    }

    /// Serves TCP on 127.0.0.1: each connection read request by request
    /// (no body: each ends at its blank line).
    fn tcp(self) -> SocketAddr {
        self.stream_server(|s| Some(Box::new(s)))
    }

    /// Serves TLS on 127.0.0.1 with `chain` and `key`.
    fn tls(
        self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: Vec<u8>,
    ) -> SocketAddr {
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match self.client_ca.clone() {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    std::sync::Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = std::sync::Arc::new(
            builder
                .with_single_cert(chain, rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))
                .unwrap(),
        );
        self.stream_server(move |s| {
            let conn = rustls::ServerConnection::new(config.clone()).ok()?;
            Some(Box::new(rustls::StreamOwned::new(conn, s)))
        })
    }

    fn stream_server(
        self,
        wrap: impl Fn(std::net::TcpStream) -> Option<Box<dyn ReadWrite>> + Send + 'static,
    ) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let from = stream.peer_addr().unwrap();
                let Some(mut stream) = wrap(stream) else {
                    continue;
                };
                let me = self.clone();
                std::thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let request: Vec<u8> = pending.drain(..end + 4).collect();
                            if stream
                                .write_all(&me.answer(&request, from))
                                .and_then(|()| stream.flush())
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A port nothing listens on, UDP and TCP (bound, then closed).
fn closed_port() -> u16 {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    drop(udp);
    port
}

fn config(target: SocketAddr, transports: &[Transport]) -> Config {
    let mut c = Config::new(&format!("sip:{target}"));
    c.transports = transports.to_vec();
    c.timeout = Duration::from_millis(1500);
    c
}

fn alice(password: &str) -> Option<Account> {
    Some(Account {
        user: "alice".into(),
        auth_user: Some("alice-auth".into()),
        password: password.into(),
    })
}

/// The doctor against `registrar` over UDP with alice's `password`: the
/// report and its credentials line.
fn with_credentials(registrar: Registrar, password: &str) -> (Report, Line) {
    let mut c = config(registrar.udp(), &[Transport::Udp]);
    c.account = alice(password);
    let report = run(&c).unwrap();
    let line = checklist(&report)
        .into_iter()
        .find(|l| l.step == "credentials")
        .unwrap();
    (report, line)
}

fn text(report: &Report) -> String {
    let mut out = Vec::new();
    write_report(&mut out, report).unwrap();
    String::from_utf8(out).unwrap()
}

/// The lines without their times, which vary.
fn untimed(report: &Report) -> Vec<String> {
    checklist(report)
        .iter()
        .map(|l| format!("{} {}: {}", l.mark.symbol(), l.step, l.seen))
        .collect()
}

#[test]
fn a_healthy_registrar_over_udp_passes_every_step() {
    let addr = Registrar::default().udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.account = alice("s3cret-pw");
    let report = run(&c).unwrap();
    let lines = untimed(&report);
    assert_eq!(
        lines,
        [
            "– DNS: 127.0.0.1 is an IP address: nothing to resolve".to_owned(),
            format!("✓ UDP {addr}: {}", lines[1].split_once(": ").unwrap().1),
            "✓ public address: the provider sees this host as 198.51.100.7:5060 — the address to whitelist".to_owned(),
            "✓ credentials: the credentials work for sip:alice@127.0.0.1: the registrar holds 2 bindings".to_owned(),
            "– TLS: not asked (add tls to --transport)".to_owned(),
        ]
    );
    assert!(lines[1].contains(": 200 OK in "), "{}", lines[1]);
    assert!(lines[1].ends_with("after 1 transmission"), "{}", lines[1]);
    let all = text(&report);
    assert!(all.contains("    Server: LabRegistrar 1.0\n"), "{all}");
    assert!(all.contains("    Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER\n"));
    assert!(all.contains("    Supported: path, outbound\n"));
    assert!(
        all.contains("behind NAT: this host sends from 127.0.0.1:"),
        "{all}"
    );
    assert!(all.contains("the port is rewritten to 5060"), "{all}");
    assert!(
        all.contains("    binding <sip:alice@203.0.113.50:5060> for 117 s more\n"),
        "{all}"
    );
    assert!(
        all.contains("    binding <sip:alice@[2001:db8::50]:5060;transport=tcp> for 3600 s more\n"),
        "{all}"
    );
    assert!(
        all.contains("user alice-auth, 2 requests, digest MD5"),
        "{all}"
    );
    assert!(all.ends_with("all checks passed (exit 0)\n"), "{all}");
    assert_eq!(report.exit_code(), 0);
    assert!(!all.contains("s3cret-pw"));
}

#[test]
fn sha256_without_qop_is_answered() {
    let addr = Registrar {
        algorithm: "SHA-256",
        qop: false,
        ..Registrar::default()
    }
    .udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.account = alice("s3cret-pw");
    let report = run(&c).unwrap();
    assert_eq!(report.exit_code(), 0, "{}", text(&report));
    assert!(text(&report).contains("digest SHA-256"));
}

#[test]
fn a_wrong_password_is_said_with_the_asterisk_fix_and_never_printed() {
    let (report, line) = with_credentials(Registrar::default(), "wrong-pw-123");
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.seen,
        "challenged again after the credentials for alice-auth"
    );
    // The tracker's reading, in the words a capture of it would print.
    let super::credentials::Credentials::Tested(tested) = &report.credentials.result else {
        panic!("not tested");
    };
    assert!(matches!(
        tested.diagnoses.as_slice(),
        [crate::track::Diagnosis::CredentialsRejected { .. }]
    ));
    let (cause, fix) =
        crate::say::diagnosis::explain(&tested.diagnoses[0], &crate::say::Context::default());
    assert_eq!(line.cause.as_deref(), Some(cause.as_str()));
    assert_eq!(line.fix.as_deref(), Some(fix.as_str()));
    assert_eq!(
        cause,
        "401 Unauthorized to the REGISTER that answered the challenge: user alice-auth for realm lab; the auth user (alice-auth) differs from the From user (alice)"
    );
    assert!(fix.contains("`outbound_auth`"), "{fix}");
    assert!(fix.contains("`defaultuser`"), "{fix}");
    assert_eq!(report.exit_code(), 2);
    let all = text(&report);
    assert!(
        all.contains("    cause: 401 Unauthorized to the REGISTER"),
        "{all}"
    );
    assert!(!all.contains("wrong-pw-123"));
    assert!(
        !serde_json::to_string(&json(&report))
            .unwrap()
            .contains("wrong-pw-123")
    );
    assert!(!format!("{:?}", alice("wrong-pw-123")).contains("wrong-pw-123"));
}

/// The doctor's credentials line for a registrar that answers every
/// REGISTER with `status` and `extra`: its diagnoses, and the line, whose
/// cause and fix must be the capture's words for the first.
fn refused_with(
    status: &'static str,
    extra: &'static str,
) -> (Vec<crate::track::Diagnosis>, crate::say::doctor::Line) {
    let addr = Registrar {
        register_answer: Some((status, extra)),
        ..Registrar::default()
    }
    .udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.account = alice("s3cret-pw");
    let report = run(&c).unwrap();
    let super::credentials::Credentials::Tested(tested) = &report.credentials.result else {
        panic!("not tested");
    };
    let line = crate::say::doctor::credentials(
        &report.credentials,
        super::report::credentials_mark(&report.credentials.result),
    );
    let (cause, fix) =
        crate::say::diagnosis::explain(&tested.diagnoses[0], &crate::say::Context::default());
    assert_eq!(line.cause.as_deref(), Some(cause.as_str()));
    assert_eq!(line.fix.as_deref(), Some(fix.as_str()));
    assert_eq!(report.exit_code(), 2);
    (tested.diagnoses.clone(), line)
}

#[test]
fn the_query_refused_is_judged_as_a_captured_registration() {
    use crate::track::Diagnosis;
    let (d, line) = refused_with("404 Not Found", "");
    assert!(matches!(d[0], Diagnosis::UnknownUser { .. }), "{d:?}");
    assert_eq!(
        line.seen,
        "404: the registrar does not know sip:alice@127.0.0.1"
    );
    let (d, line) = refused_with("423 Interval Too Brief", "Min-Expires: 600\r\n");
    assert!(
        matches!(
            d[0],
            Diagnosis::IntervalTooBrief {
                min_expires: Some(600),
                ..
            }
        ),
        "{d:?}"
    );
    assert!(
        line.cause
            .unwrap()
            .contains("the registrar wants at least 600 s")
    );
    let (d, line) = refused_with("503 Service Unavailable", "Retry-After: 120\r\n");
    assert!(
        matches!(
            d[0],
            Diagnosis::Unavailable {
                retry_after: Some(120),
                ..
            }
        ),
        "{d:?}"
    );
    assert!(line.cause.unwrap().contains("retry after 120 s"));
    let (d, _) = refused_with("403 Forbidden", "");
    assert!(
        matches!(
            d[0],
            Diagnosis::Forbidden {
                after_challenge: false,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn a_query_never_answered_is_the_captured_timeout() {
    let (d, line) = refused_with("", "");
    assert!(
        matches!(d[0], crate::track::Diagnosis::Timeout { .. }),
        "{d:?}"
    );
    assert!(
        line.seen
            .starts_with("the REGISTER had no answer: no answer to "),
        "{}",
        line.seen
    );
    // What only the doctor knows is kept beside the capture's words.
    assert!(
        line.details.contains(&"OPTIONS were answered but the REGISTER was not: ask the provider whether REGISTER from this address is dropped (rate limit, fail2ban-like ban)".to_owned()),
        "{:?}",
        line.details
    );
}

#[test]
fn a_suspended_account_is_forbidden_after_the_challenge() {
    let addr = Registrar {
        forbid: true,
        ..Registrar::default()
    }
    .tcp();
    let mut c = config(addr, &[Transport::Tcp]);
    c.account = alice("s3cret-pw");
    let report = run(&c).unwrap();
    let lines = untimed(&report);
    assert!(
        lines[1].starts_with(&format!("✓ TCP {addr}: 200 OK in ")),
        "{lines:?}"
    );
    assert_eq!(
        lines[3],
        "✗ credentials: 403 Forbidden after the credentials (Warning: 399 lab \"Account suspended\")"
    );
    // Over TCP the port is the connection's own: no NAT port advice.
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn udp_port_unreachable_and_tcp_refused_are_told_apart() {
    let port = closed_port();
    let addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
    let report = run(&config(addr, &[Transport::Udp, Transport::Tcp])).unwrap();
    let lines = untimed(&report);
    assert_eq!(
        lines[1..4],
        [
            format!(
                "✗ UDP {addr}: ICMP port unreachable from 127.0.0.1: the host is there, nothing listens on UDP port {port}"
            ),
            format!(
                "✗ TCP {addr}: TCP connection refused (RST): nothing listens on TCP port {port}"
            ),
            "– public address: no answer to read it from".to_owned(),
        ]
    );
    let all = text(&report);
    assert!(
        all.contains("    fix: use the transport the provider offers"),
        "{all}"
    );
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn an_answer_from_another_address_is_seen_and_said() {
    let addr = Registrar {
        answer_from: Some("127.0.0.2:0"),
        ..Registrar::default()
    }
    .udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.timeout = Duration::from_millis(700);
    let report = run(&c).unwrap();
    let line = &checklist(&report)[1];
    assert_eq!(line.mark, Mark::Fail);
    assert!(
        line.seen.starts_with(&format!(
            "no answer from {addr}, but 200 OK from 127.0.0.2:"
        )),
        "{}",
        line.seen
    );
    assert!(
        line.cause
            .as_deref()
            .unwrap()
            .contains("a load balancer or a NAT on the provider's side")
    );
}

#[test]
fn garbage_answers_are_no_answer_not_a_panic() {
    let addr = Registrar {
        garbage: Some(b"SIP/2.0 200 OK\r\nVia: ;;;received=\r\nCSeq: x\r\n\r\n\xff\xfe"),
        ..Registrar::default()
    }
    .udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.timeout = Duration::from_millis(700);
    let report = run(&c).unwrap();
    let lines = untimed(&report);
    assert_eq!(
        lines[1],
        format!("✗ UDP {addr}: no answer to 2 OPTIONS in 0.7 s")
    );
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn what_a_peer_sends_is_printed_safely() {
    assert_eq!(clean("Asterisk\x1b[2J 20"), "Asterisk\u{fffd}[2J 20");
    let long = "x".repeat(MAX_SHOWN + 10);
    let shown = clean(&long);
    assert_eq!(shown.chars().count(), MAX_SHOWN + 1);
    assert!(shown.ends_with('…'));
}

#[test]
fn hostile_challenges_are_said_not_answered() {
    let registrar = Registrar {
        algorithm: "ROT13",
        ..Registrar::default()
    };
    let (_, line) = with_credentials(registrar, "s3cret-pw");
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.seen,
        "challenged with ROT13 only, which the doctor cannot answer"
    );
}

#[test]
fn no_nat_when_the_provider_sees_the_local_address() {
    let addr = Registrar {
        seen_as: None,
        ..Registrar::default()
    }
    .udp();
    let report = run(&config(addr, &[Transport::Udp])).unwrap();
    let all = text(&report);
    assert!(all.contains("✓ public address"), "{all}");
    assert!(
        all.contains("no NAT: the same as the local address 127.0.0.1:"),
        "{all}"
    );
    assert!(all.contains("– credentials: not tested (give --user and --password)"));
}

#[test]
fn the_json_report_is_one_typed_object_with_units_in_its_names() {
    let addr = Registrar::default().udp();
    let mut c = config(addr, &[Transport::Udp]);
    c.account = alice("s3cret-pw");
    let written = serde_json::to_string(&json(&run(&c).unwrap())).unwrap();
    assert!(
        written.starts_with("{\"type\":\"doctor_report\",\"time\":\""),
        "{written}"
    );
    let v: serde_json::Value = serde_json::from_str(&written).unwrap();
    let time = v["time"].as_str().unwrap();
    assert_eq!(time.len(), 27, "{time}");
    assert!(time.ends_with('Z'));
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["reach"][0]["outcome"], "answered");
    assert_eq!(v["reach"][0]["code"], 200);
    assert!(v["reach"][0]["rtt_ms"].as_f64().is_some());
    assert_eq!(v["reach"][0]["mark"], "pass");
    assert_eq!(v["public"]["public"], "198.51.100.7:5060");
    assert_eq!(v["public"]["nat"], true);
    assert_eq!(v["credentials"]["state"], "tested");
    assert_eq!(v["credentials"]["outcome"], "registered");
    assert_eq!(v["credentials"]["bindings"][0]["expires_s"], 117);
    assert_eq!(v["credentials"]["algorithm"], "MD5");
    assert_eq!(v["tls"]["state"], "not_asked");
    assert_eq!(v["checklist"][2]["mark"], "pass");
    assert!(!v.to_string().contains("s3cret-pw"));
}

// ---------------------------------------------------------------- TLS

use super::tls::{self as tls_step, NameMatch, Session, Trust};

use sipwatch_lab::pki::Pki;

/// `pki`'s certificate for `names` as a rustls chain and key.
fn server(
    pki: &Pki,
    names: &[&str],
    until: Option<(i32, u8, u8)>,
    self_signed: bool,
) -> (Vec<rustls::pki_types::CertificateDer<'static>>, Vec<u8>) {
    let issued = pki.server(names, until, self_signed);
    (vec![issued.der.into()], issued.key_der)
}

/// The CA's certificate in a file, for `--ca`.
fn ca_file(pki: &Pki) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sipwatch-doctor-ca-{}.pem", token()));
    std::fs::write(&path, &pki.ca_pem).unwrap();
    path
}

fn tls_target(addr: SocketAddr) -> dns::Target {
    dns::Target {
        transport: Transport::Tls,
        host: "sip.provider.test".into(),
        address: addr,
        via: Via::Srv,
    }
}

fn tls_check(addr: SocketAddr, ca: Option<std::path::PathBuf>) -> (Timed<tls_step::Checked>, Line) {
    let provider = Provider::parse("sip:provider.test").unwrap();
    let mut config = Config::new("sip:provider.test");
    config.timeout = Duration::from_millis(800);
    config.transports = vec![Transport::Tls];
    let roots = std::sync::Arc::new(tls_step::roots(ca.as_deref()).unwrap());
    let checked = timed(|| tls_step::check(&provider, &tls_target(addr), &config, &roots));
    let line = words::tls_target(&checked, report::tls_mark(&checked.result));
    (checked, line)
}

/// A TLS registrar with a certificate for `names` (valid until `until`,
/// self-signed or by the lab CA), checked with the CA given by --ca or not.
fn tls_case(
    names: &[&str],
    until: Option<(i32, u8, u8)>,
    self_signed: bool,
    with_ca: bool,
) -> (Timed<tls_step::Checked>, Line) {
    let pki = Pki::new();
    let (chain, key) = server(&pki, names, until, self_signed);
    let addr = Registrar::default().tls(chain, key);
    let ca = with_ca.then(|| ca_file(&pki));
    let checked = tls_check(addr, ca.clone());
    if let Some(ca) = ca {
        std::fs::remove_file(ca).ok();
    }
    checked
}

fn handshake(c: &Timed<tls_step::Checked>) -> &tls_step::Handshake {
    match &c.result.session {
        Session::Completed(h) => h,
        other => panic!("no handshake: {other:?}"),
    }
}

#[test]
fn a_valid_chain_for_the_domain_and_the_target_passes_and_carries_sip() {
    let (checked, line) = tls_case(&["provider.test", "sip.provider.test"], None, false, true);
    let h = handshake(&checked);
    assert_eq!(h.trust, Trust::Trusted);
    assert_eq!(
        (h.domain_match, h.target_match),
        (NameMatch::Exact, Some(NameMatch::Exact))
    );
    assert!(!h.client_certificate_requested);
    assert_eq!(line.mark, Mark::Pass, "{line:?}");
    assert!(
        line.seen
            .starts_with("certificate verified, TLSv1_3 TLS13_"),
        "{}",
        line.seen
    );
    assert!(
        line.details
            .contains(&"the SIP domain provider.test is among the certificate's names".to_owned())
    );
    assert!(line.details[0].starts_with("certificate 1: CN=provider.test, issued by CN=Lab CA, DNS names provider.test, sip.provider.test, valid until "), "{:?}", line.details);
    // The same TLS carries the OPTIONS of step 2.
    let provider = Provider::parse("sip:provider.test").unwrap();
    let mut config = Config::new("sip:provider.test");
    config.timeout = Duration::from_millis(800);
    let reach = reach::check(&provider, &checked.result.target, &config);
    assert_eq!(reach.answer().map(|a| a.code), Some(200), "{reach:?}");
}

#[test]
fn without_the_ca_the_chain_is_fetched_and_said_untrusted() {
    let (checked, line) = tls_case(&["provider.test"], None, false, false);
    assert_eq!(handshake(&checked).trust, Trust::UnknownIssuer);
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.cause.as_deref(),
        Some("the chain ends at CN=Lab CA, a CA this host does not trust")
    );
    assert!(line.fix.as_deref().unwrap().contains("`ca_list_file`"));
}

#[test]
fn an_expired_certificate_is_said_with_its_date() {
    let (checked, line) = tls_case(&["provider.test"], Some((2020, 1, 1)), false, true);
    let h = handshake(&checked);
    assert_eq!(h.trust, Trust::Expired);
    assert!(h.chain[0].days_left < -300);
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.cause.as_deref(),
        Some("the certificate expired on 2020-01-01T00:00:00.000000Z")
    );
    assert!(
        line.seen.contains("expired") && line.seen.contains("days ago"),
        "{}",
        line.seen
    );
}

#[test]
fn a_certificate_for_another_name_fails_on_the_name() {
    let (checked, line) = tls_case(&["other.test"], None, false, true);
    let h = handshake(&checked);
    assert_eq!(h.trust, Trust::Trusted);
    assert_eq!(
        (h.domain_match, h.target_match),
        (NameMatch::No, Some(NameMatch::No))
    );
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.cause.as_deref(),
        Some("the certificate covers other.test, not provider.test")
    );
}

#[test]
fn a_certificate_for_the_srv_target_only_passes_and_says_so() {
    let (_, line) = tls_case(&["sip.provider.test"], None, false, true);
    assert_eq!(line.mark, Mark::Pass);
    assert!(
        line.details.contains(
            &"the SIP domain provider.test is not among the certificate's names".to_owned()
        )
    );
    assert!(
        line.details.contains(
            &"the SRV target sip.provider.test is among the certificate's names".to_owned()
        )
    );
}

#[test]
fn a_self_signed_certificate_is_named_so() {
    let (checked, line) = tls_case(&["provider.test"], None, true, false);
    assert!(handshake(&checked).chain[0].self_signed);
    assert_eq!(line.mark, Mark::Fail);
    assert!(
        line.seen
            .starts_with("certificate self-signed, not trusted"),
        "{}",
        line.seen
    );
    assert_eq!(
        line.cause.as_deref(),
        Some("the certificate is self-signed: no CA this host trusts vouches for it")
    );
}

#[test]
fn plain_sip_on_the_tls_port_and_tls_on_a_plain_port() {
    // TLS asked of a plain SIP port: the handshake fails, said as such.
    let plain = Registrar::default().tcp();
    let (checked, line) = tls_check(plain, None);
    assert!(
        matches!(checked.result.session, Session::HandshakeFailed { .. }),
        "{checked:?}"
    );
    assert_eq!(line.mark, Mark::Fail);
    assert!(
        line.cause
            .unwrap()
            .starts_with("the port does not speak TLS")
    );
    // Plain SIP sent to a TLS port: the connection ends without an answer.
    let pki = Pki::new();
    let (chain, key) = server(&pki, &["provider.test"], None, false);
    let tls = Registrar::default().tls(chain, key);
    let provider = Provider::parse("sip:provider.test").unwrap();
    let mut config = Config::new("sip:provider.test");
    config.timeout = Duration::from_millis(800);
    let target = dns::Target {
        transport: Transport::Tcp,
        ..tls_target(tls)
    };
    let reach = reach::check(&provider, &target, &config);
    assert!(
        matches!(
            reach.reached,
            reach::Reached::Closed | reach::Reached::Reset | reach::Reached::NoAnswer { .. }
        ),
        "{reach:?}"
    );
}

#[test]
fn names_match_exactly_or_by_one_wildcard_label() {
    let names = vec!["*.provider.test".to_owned(), "Provider.Test".to_owned()];
    assert_eq!(
        tls_step::name_match("provider.test.", &names, None),
        NameMatch::Exact
    );
    assert_eq!(
        tls_step::name_match("sip.provider.test", &names, None),
        NameMatch::Wildcard
    );
    assert_eq!(
        tls_step::name_match("a.sip.provider.test", &names, None),
        NameMatch::No
    );
    assert_eq!(
        tls_step::name_match("provider.test", &[], Some("provider.test")),
        NameMatch::Exact
    );
}

#[test]
fn a_cname_chain_and_a_server_error_are_said() {
    let mut fake = FakeDns::default();
    fake.set(
        "alias.example",
        Kind::Address,
        Ok(Answer {
            addresses: vec![Address {
                name: "real.example".into(),
                ip: "192.0.2.8".parse().unwrap(),
                ttl_s: 30,
            }],
            cnames: vec![dns::Cname {
                name: "alias.example".into(),
                target: "real.example".into(),
                ttl_s: 600,
            }],
            ..Answer::default()
        }),
    );
    let r = resolve(&fake, "alias.example", &[Transport::Udp]);
    let line = dns_line(&r);
    assert_eq!(line.mark, Mark::Pass);
    assert!(
        line.details
            .contains(&"CNAME alias.example → real.example (TTL 600 s)".to_owned()),
        "{:#?}",
        line.details
    );
    assert!(
        line.details
            .contains(&"A real.example 192.0.2.8 (TTL 30 s)".to_owned())
    );

    let mut fake = FakeDns::default();
    fake.set(
        "broken.example",
        Kind::Naptr,
        Err(Failure::ServerError {
            code: "SERVFAIL (Server Failure)".into(),
        }),
    );
    let r = resolve(&fake, "broken.example", &[Transport::Udp]);
    let line = dns_line(&r);
    assert_eq!(line.mark, Mark::Fail);
    assert_eq!(
        line.cause.as_deref(),
        Some(
            "the DNS server answered SERVFAIL (Server Failure): the provider's zone or this resolver is broken"
        )
    );
    assert!(!r.unreachable());
}

#[test]
fn a_server_asking_for_a_client_certificate_is_said() {
    let pki = Pki::new();
    let (chain, key) = server(&pki, &["provider.test"], None, false);
    let addr = Registrar {
        client_ca: Some(pki.ca_der.clone().into()),
        ..Registrar::default()
    }
    .tls(chain, key);
    let ca = ca_file(&pki);
    let (checked, line) = tls_check(addr, Some(ca.clone()));
    std::fs::remove_file(ca).ok();
    assert!(handshake(&checked).client_certificate_requested);
    assert_eq!(line.mark, Mark::Pass);
    assert!(
        line.details.iter().any(|d| d
            .starts_with("the server asks for a client certificate: PJSIP transport `cert_file`")),
        "{:#?}",
        line.details
    );
}
