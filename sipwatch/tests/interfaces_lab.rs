//! Lab tests of capture on the interfaces a PBX talks on besides Ethernet
//! (issue 28): loopback, where a local SBC or Kamailio in front of the PBX
//! talks to it, and a layer-3 tunnel to the provider (a `tun` device, as
//! OpenVPN and WireGuard-go use; this kernel has no ipip, GRE or WireGuard
//! module), whose packets begin with the IP header; and SIP inside tunnels
//! an Ethernet interface carries (a real VXLAN; IP-in-IP, GRE, ERSPAN and
//! Geneve frames made here), opened by the kernel programs. Each SIP
//! message is captured once, both directions, with its bytes. They need
//! root.
mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use sipwatch::{
    capture::{Direction, LinkType},
    net::Decoder,
};
use sipwatch_lab::{Netns, Personality, SipMessageFactory};
use support::{
    capture_on, lab,
    peers::{Responder, multiset, udp_exchange},
};

const MESSAGES: u64 = 200;

fn requests(local: SocketAddr, remote: SocketAddr) -> Vec<Vec<u8>> {
    let f = SipMessageFactory {
        local,
        remote,
        transport: "UDP",
    };
    (0..MESSAGES).map(|seq| f.request(seq)).collect()
}

/// The UDP payloads captured from `src` to `dst`, with their directions.
fn payloads(
    frames: &[sipwatch::capture::Frame],
    src: SocketAddr,
    dst: SocketAddr,
) -> Vec<(Option<Direction>, Vec<u8>)> {
    let mut decoder = Decoder::new();
    frames
        .iter()
        .filter_map(|f| decoder.push(f))
        .filter(|d| d.src == src && d.dst == dst)
        .map(|d| (d.direction, d.payload))
        .collect()
}

#[test]
fn attach_on_loopback_captures_a_local_peer_both_ways_once() {
    let lab = lab(Personality::PlainNat);
    let kamailio = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060);
    let pbx = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5070);
    let responder = Responder::start(&lab.pbx, &[kamailio]);
    let (hooks, (run, transcript)) = capture_on(
        &lab.pbx,
        "lo",
        |_| {},
        || udp_exchange(&lab.pbx, pbx, kamailio, &requests(pbx, kamailio)),
    );
    responder.finish();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0].starts_with("TC (egress)") && hooks[0].contains("captured once, leaving"),
        "start-up says which hook serves both directions and why: {hooks:?}"
    );
    assert!(run.frames.iter().all(|f| f.link == LinkType::Ethernet));
    // Both directions leave through lo: each is captured once, without a
    // direction (as `tcpdump -i lo` records it).
    assert_each_once(&run.frames, pbx, kamailio, &transcript, [None, None]);
    let summary = summary_text(run.counters);
    assert!(
        summary.contains("ingress (no hook): ") && summary.contains("egress (TC) : "),
        "{summary}"
    );
}

/// Every request the PBX sent and every answer it received was captured
/// exactly once, with its bytes, requests and answers in `directions`.
fn assert_each_once(
    frames: &[sipwatch::capture::Frame],
    pbx: SocketAddr,
    peer: SocketAddr,
    transcript: &support::peers::Transcript,
    directions: [Option<Direction>; 2],
) {
    let out = payloads(frames, pbx, peer);
    let back = payloads(frames, peer, pbx);
    assert!(out.iter().all(|(d, _)| *d == directions[0]));
    assert!(back.iter().all(|(d, _)| *d == directions[1]));
    let sent: Vec<Vec<u8>> = out.into_iter().map(|(_, p)| p).collect();
    let answered: Vec<Vec<u8>> = back.into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        multiset(&sent),
        multiset(&transcript.sent),
        "requests, once each"
    );
    assert_eq!(
        multiset(&answered),
        multiset(&transcript.received),
        "responses, once each"
    );
}

/// A `tun` device in `ns` named `name` (no packet information header), its
/// file descriptor held by the caller.
fn tun(ns: &Netns, name: &str) -> OwnedFd {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const IFF_TUN: libc::c_short = 0x0001;
    const IFF_NO_PI: libc::c_short = 0x1000;
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let fd = ns
        .enter(|| {
            // SAFETY: opening a device file; the result is checked.
            let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR) };
            assert!(
                fd >= 0,
                "open /dev/net/tun: {}",
                std::io::Error::last_os_error()
            );
            let mut req = IfReq {
                name: [0; 16],
                flags: IFF_TUN | IFF_NO_PI,
                _pad: [0; 22],
            };
            req.name[..name.len()].copy_from_slice(name.as_bytes());
            // SAFETY: TUNSETIFF with an ifreq-sized buffer.
            let r = unsafe { libc::ioctl(fd, TUNSETIFF, &mut req) };
            assert_eq!(r, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
            fd
        })
        .unwrap();
    // SAFETY: a descriptor just opened and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Copies packets from `from` to `to` until `stop`.
fn relay(from: Arc<OwnedFd>, to: Arc<OwnedFd>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::SeqCst) {
            let mut poll = libc::pollfd {
                fd: from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut poll, 1, 50) } <= 0 {
                continue;
            }
            // SAFETY: reading into and writing from a buffer of its length.
            let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                unsafe { libc::write(to.as_raw_fd(), buf.as_ptr().cast(), n as usize) };
            }
        }
    })
}

/// A layer-3 tunnel between the PBX and the provider: a `tun0` in each
/// namespace (10.99.0.2 and 10.99.0.1) and two threads carrying the
/// packets between them, until dropped.
struct Tunnel {
    stop: Arc<AtomicBool>,
    relays: Vec<thread::JoinHandle<()>>,
}

const TUNNEL_PBX: &str = "10.99.0.2:5060";
const TUNNEL_PROVIDER: &str = "10.99.0.1:5060";

impl Tunnel {
    fn new(lab: &sipwatch_lab::Lab) -> Tunnel {
        let (pbx_fd, provider_fd) = (
            Arc::new(tun(&lab.pbx, "tun0")),
            Arc::new(tun(&lab.provider, "tun0")),
        );
        for (ns, local, peer) in [
            (&lab.pbx, "10.99.0.2", "10.99.0.1"),
            (&lab.provider, "10.99.0.1", "10.99.0.2"),
        ] {
            ns.run(&["ip", "addr", "add", local, "peer", peer, "dev", "tun0"])
                .unwrap();
            ns.run(&["ip", "link", "set", "tun0", "up"]).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let relays = vec![
            relay(pbx_fd.clone(), provider_fd.clone(), stop.clone()),
            relay(provider_fd, pbx_fd, stop.clone()),
        ];
        Tunnel { stop, relays }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for r in self.relays.drain(..) {
            let _ = r.join();
        }
    }
}

#[test]
fn attach_on_a_layer_3_tunnel_captures_both_ways_at_tc() {
    let lab = lab(Personality::PlainNat);
    let tunnel = Tunnel::new(&lab);
    let provider: SocketAddr = TUNNEL_PROVIDER.parse().unwrap();
    let pbx: SocketAddr = TUNNEL_PBX.parse().unwrap();
    let responder = Responder::start(&lab.provider, &[provider]);
    let (hooks, (run, transcript)) = capture_on(
        &lab.pbx,
        "tun0",
        |_| {},
        || udp_exchange(&lab.pbx, pbx, provider, &requests(pbx, provider)),
    );
    responder.finish();
    drop(tunnel);
    assert!(
        hooks.iter().any(|h| h.starts_with("TC (ingress)")
            && h.contains("tun0 has no Ethernet header: XDP cannot read its packets")),
        "{hooks:?}"
    );
    assert!(
        hooks.iter().any(|h| h.starts_with("TC (egress)")),
        "{hooks:?}"
    );
    assert!(run.frames.iter().all(|f| f.link == LinkType::RawIp));
    assert_each_once(
        &run.frames,
        pbx,
        provider,
        &transcript,
        [Some(Direction::Egress), Some(Direction::Ingress)],
    );
    assert_eq!(run.counters.ingress.lost() + run.counters.egress.lost(), 0);
    let summary = summary_text(run.counters);
    assert!(
        summary.contains("ingress (TC): ") && summary.contains("egress (TC) : "),
        "{summary}"
    );
    assert!(!summary.contains("(XDP)"), "{summary}");
}

/// The end-of-run summary's text for a live run that counted `counters`.
fn summary_text(counters: sipwatch::capture::Counters) -> String {
    let summary = sipwatch::report::CaptureSummary {
        kernel: counters,
        ..Default::default()
    };
    let tracker = sipwatch::track::Tracker::default();
    let end = sipwatch::report::RunEnd {
        summary: &summary,
        tracker: &tracker,
        live: true,
        audit: None,
        source: None,
        kernel_drops: &[],
        drop_problem: None,
        stopped: None,
        counts: &[],
        hep: None,
        tls_sessions: &[],
        keylog_errors: &[],
    };
    let mut out = Vec::new();
    sipwatch::report::write_summary(&mut out, &end).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_kernel_drop_tracer_sees_sip_dropped_behind_a_layer_3_tunnel() {
    let lab = lab(Personality::PlainNat);
    let _tunnel = Tunnel::new(&lab);
    let provider: SocketAddr = TUNNEL_PROVIDER.parse().unwrap();
    let pbx: SocketAddr = TUNNEL_PBX.parse().unwrap();
    // The PBX's own firewall drops the provider's answers.
    lab.pbx
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some(
                "table inet sipwatch_test {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr 10.99.0.1 udp sport 5060 drop\n\t}\n}\n",
            ),
        )
        .unwrap();
    let responder = Responder::start(&lab.provider, &[provider]);
    let (_, (run, ())) = capture_on(
        &lab.pbx,
        "tun0",
        |_| {},
        || {
            let socket = lab
                .pbx
                .enter(|| std::net::UdpSocket::bind(pbx))
                .unwrap()
                .unwrap();
            for request in requests(pbx, provider).iter().take(5) {
                socket.send_to(request, provider).unwrap();
            }
            thread::sleep(std::time::Duration::from_millis(500));
        },
    );
    responder.finish();
    let dropped = run
        .frames
        .iter()
        .filter(|f| f.kernel_drop.is_some())
        .count();
    assert_eq!(dropped, 5, "every dropped answer traced");
}

/// `payload` in UDP from `src` to `dst` (IPv4), wrapped by `wrap` into an
/// Ethernet frame's payload under `ether_type`.
fn encapsulated(ether_type: u16, wrap: fn(&[u8]) -> Vec<u8>, payload: &[u8]) -> Vec<u8> {
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
        .udp(5060, 5060)
        .write(&mut ip, payload)
        .unwrap();
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(&wrap(&ip));
    frame
}

/// `outgoing` frames sent from the PBX and `incoming` ones from the router
/// toward it, captured on the PBX's interface: each UDP payload to port
/// 5060 with its direction, sorted.
fn injected_and_captured(
    lab: &sipwatch_lab::Lab,
    outgoing: &[Vec<u8>],
    incoming: &[Vec<u8>],
) -> Vec<(Option<Direction>, String)> {
    use sipwatch_lab::{PBX_IF, ROUTER_LAN_IF};
    let (_, (run, ())) = capture_on(
        &lab.pbx,
        PBX_IF,
        |_| {},
        || {
            support::inject::inject_frames(&lab.pbx, PBX_IF, outgoing);
            support::inject::inject_frames(&lab.router, ROUTER_LAN_IF, incoming);
        },
    );
    let mut decoder = Decoder::new();
    let mut got: Vec<(Option<Direction>, String)> = run
        .frames
        .iter()
        .filter_map(|f| decoder.push(f))
        .filter(|d| d.dst.port() == 5060)
        .map(|d| {
            (
                d.direction,
                String::from_utf8_lossy(&d.payload).into_owned(),
            )
        })
        .collect();
    got.sort_by_key(|(d, p)| (format!("{d:?}"), p.clone()));
    got
}

#[test]
fn attach_on_ethernet_reads_sip_inside_pppoe_sessions_and_mpls_both_ways() {
    let lab = lab(Personality::PlainNat);
    let pppoe = |ip: &[u8]| {
        let mut p = vec![0x11, 0x00, 0x00, 0x07];
        p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        p.extend_from_slice(&[0x00, 0x21]);
        p.extend_from_slice(ip);
        p
    };
    let mpls = |ip: &[u8]| [&[0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40][..], ip].concat();
    let payload = |kind: &str, way: &str| format!("OPTIONS sip:{kind}-{way} SIP/2.0\r\n\r\n");
    let mut outgoing = Vec::new();
    let mut incoming = Vec::new();
    for (kind, ether_type, wrap) in [
        ("pppoe", 0x8864, pppoe as fn(&[u8]) -> Vec<u8>),
        ("mpls", 0x8847, mpls),
    ] {
        outgoing.push(encapsulated(
            ether_type,
            wrap,
            payload(kind, "out").as_bytes(),
        ));
        incoming.push(encapsulated(
            ether_type,
            wrap,
            payload(kind, "in").as_bytes(),
        ));
    }
    let got = injected_and_captured(&lab, &outgoing, &incoming);
    let mut want = Vec::new();
    for kind in ["pppoe", "mpls"] {
        want.push((Some(Direction::Egress), payload(kind, "out")));
        want.push((Some(Direction::Ingress), payload(kind, "in")));
    }
    want.sort_by_key(|(d, p)| (format!("{d:?}"), p.clone()));
    assert_eq!(got, want);
}

/// An Ethernet frame of `ether_type` around `payload`.
fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// SIP in UDP 5060 → 5060 between the PBX and the provider: IPv4, or IPv6.
fn sip_packet(v6: bool, text: &str) -> Vec<u8> {
    let mut ip = Vec::new();
    let builder = if v6 {
        etherparse::PacketBuilder::ipv6(
            sipwatch_lab::PBX_V6.octets(),
            sipwatch_lab::PROVIDER_V6.octets(),
            64,
        )
    } else {
        etherparse::PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
    };
    builder
        .udp(5060, 5060)
        .write(&mut ip, text.as_bytes())
        .unwrap();
    ip
}

/// `inner` in an outer IPv4 packet of protocol `proto` between two tunnel
/// ends (10.9.0.1 → 10.9.0.2).
fn in_ip(proto: u8, inner: &[u8]) -> Vec<u8> {
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 9, 0, 1], [10, 9, 0, 2], 64)
        .write(&mut ip, etherparse::IpNumber(proto), inner)
        .unwrap();
    ip
}

/// `inner` in UDP to `port` between the tunnel ends.
fn in_udp(port: u16, inner: &[u8]) -> Vec<u8> {
    let mut ip = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 9, 0, 1], [10, 9, 0, 2], 64)
        .udp(40_000, port)
        .write(&mut ip, inner)
        .unwrap();
    ip
}

#[test]
fn attach_on_ethernet_opens_sip_inside_ip_tunnels_gre_erspan_vxlan_geneve_and_tzsp_both_ways() {
    // This kernel has no ipip, GRE or ERSPAN devices: the frames are made
    // here (as a tunnel end or a port mirror sends them) and pass through
    // the real interface, where the eBPF programs choose them by the SIP
    // inside. VXLAN, which the kernel has, is also tested end to end below.
    let lab = lab(Personality::PlainNat);
    let frame = |kind: &str, way: &str| -> Vec<u8> {
        let text = format!("OPTIONS sip:{kind}-{way} SIP/2.0\r\n\r\n");
        let v4 = sip_packet(false, &text);
        let inner_eth = ethernet(0x0800, &v4);
        let seq = [0, 0, 0, 7];
        match kind {
            "ipip" => ethernet(0x0800, &in_ip(4, &v4)),
            "6in4" => ethernet(0x0800, &in_ip(41, &sip_packet(true, &text))),
            "gre" => ethernet(0x0800, &in_ip(47, &[&[0, 0, 0x08, 0x00][..], &v4].concat())),
            "gretap" => ethernet(
                0x0800,
                &in_ip(
                    47,
                    &[&[0x30, 0, 0x65, 0x58, 0, 0, 0, 1][..], &seq, &inner_eth].concat(),
                ),
            ),
            "erspan2" => ethernet(
                0x0800,
                &in_ip(
                    47,
                    &[
                        &[0x10, 0, 0x88, 0xbe][..],
                        &seq,
                        &[0x10, 0x64, 0, 0x7b, 0, 0, 0, 0],
                        &inner_eth,
                    ]
                    .concat(),
                ),
            ),
            "erspan3" => ethernet(
                0x0800,
                &in_ip(
                    47,
                    &[
                        &[0x10, 0, 0x22, 0xeb][..],
                        &seq,
                        &[0x20, 0x64, 0, 0x7b],
                        &[0; 8],
                        &inner_eth,
                    ]
                    .concat(),
                ),
            ),
            "vxlan" => ethernet(
                0x0800,
                &in_udp(
                    4789,
                    &[&[0x08, 0, 0, 0, 0, 0, 0x2a, 0][..], &inner_eth].concat(),
                ),
            ),
            "geneve" => ethernet(
                0x0800,
                &in_udp(
                    6081,
                    &[&[0, 0, 0x65, 0x58, 0, 0, 5, 0][..], &inner_eth].concat(),
                ),
            ),
            // Version 1, received, Ethernet; a padding byte, an RSSI tag, END.
            "tzsp" => ethernet(
                0x0800,
                &in_udp(
                    37008,
                    &[&[1, 0, 0, 1, 0, 10, 1, 0xc4, 1][..], &inner_eth].concat(),
                ),
            ),
            _ => unreachable!(),
        }
    };
    let kinds = [
        "ipip", "6in4", "gre", "gretap", "erspan2", "erspan3", "vxlan", "geneve", "tzsp",
    ];
    let outgoing: Vec<Vec<u8>> = kinds.iter().map(|k| frame(k, "out")).collect();
    let incoming: Vec<Vec<u8>> = kinds.iter().map(|k| frame(k, "in")).collect();
    let got = injected_and_captured(&lab, &outgoing, &incoming);
    let mut want = Vec::new();
    for kind in kinds {
        want.push((
            Some(Direction::Egress),
            format!("OPTIONS sip:{kind}-out SIP/2.0\r\n\r\n"),
        ));
        want.push((
            Some(Direction::Ingress),
            format!("OPTIONS sip:{kind}-in SIP/2.0\r\n\r\n"),
        ));
    }
    want.sort_by_key(|(d, p)| (format!("{d:?}"), p.clone()));
    assert_eq!(
        got, want,
        "each tunnel opened in the kernel, both ways, once"
    );
}

#[test]
fn attach_on_the_physical_interface_reads_sip_through_a_real_vxlan_tunnel() {
    // A VXLAN tunnel (the kernel's own) between the router and the
    // provider; `attach` on the router's WAN interface, which carries only
    // the tunnel's UDP 4789: the SIP inside is chosen and read with its
    // inner addresses, both ways.
    use sipwatch_lab::{PROVIDER_IF, PROVIDER_V4, ROUTER_WAN_IF, ROUTER_WAN_V4};
    let lab = lab(Personality::PlainNat);
    for (ns, dev, local, remote, inner) in [
        (
            &lab.router,
            ROUTER_WAN_IF,
            ROUTER_WAN_V4,
            PROVIDER_V4,
            "10.42.0.1/24",
        ),
        (
            &lab.provider,
            PROVIDER_IF,
            PROVIDER_V4,
            ROUTER_WAN_V4,
            "10.42.0.2/24",
        ),
    ] {
        let (local, remote) = (local.to_string(), remote.to_string());
        for argv in [
            &[
                "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "local", &local, "remote",
                &remote, "dstport", "4789", "dev", dev,
            ][..],
            &["ip", "addr", "add", inner, "dev", "vx0"],
            &["ip", "link", "set", "vx0", "up"],
        ] {
            ns.run(argv).unwrap();
        }
    }
    let router: SocketAddr = "10.42.0.1:5060".parse().unwrap();
    let provider: SocketAddr = "10.42.0.2:5060".parse().unwrap();
    let responder = Responder::start(&lab.provider, &[provider]);
    let (_, (run, transcript)) = capture_on(
        &lab.router,
        ROUTER_WAN_IF,
        |_| {},
        || udp_exchange(&lab.router, router, provider, &requests(router, provider)),
    );
    responder.finish();
    assert_each_once(
        &run.frames,
        router,
        provider,
        &transcript,
        [Some(Direction::Egress), Some(Direction::Ingress)],
    );
}

#[test]
fn sipwatch_attach_on_loopback_says_why_and_tracks_the_registration() {
    let lab = lab(Personality::PlainNat);
    let registrar = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060);
    let pbx = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5070);
    let responder = Responder::start(&lab.pbx, &[registrar]);
    let capture = lab
        .pbx
        .spawn(&[support::SIPWATCH, "attach", "lo", "--json"])
        .unwrap();
    wait_until_linked(capture.id().expect("a running sipwatch"));
    let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-lo-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:7001@127.0.0.1>;tag=lo1\r\n\
         To: <sip:7001@127.0.0.1>\r\n\
         Call-ID: lo-1@127.0.0.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:7001@127.0.0.1:5070>\r\n\
         Expires: 120\r\n\
         User-Agent: Asterisk PBX 22.0.0\r\n\
         Content-Length: 0\r\n\r\n";
    let transcript = udp_exchange(&lab.pbx, pbx, registrar, &[register.as_bytes().to_vec()]);
    assert_eq!(transcript.received.len(), 1);
    thread::sleep(std::time::Duration::from_millis(500));
    let out = capture
        .stop(libc::SIGTERM, std::time::Duration::from_secs(20))
        .unwrap();
    responder.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("capturing SIP on lo: TC (egress)")
            && stderr.contains("every packet leaves and arrives"),
        "{stderr}"
    );
    let records = support::json_lines(&out.stdout);
    let messages: Vec<_> = records.iter().filter(|r| r["type"] == "message").collect();
    assert_eq!(messages.len(), 2, "{records:?}");
    assert!(messages.iter().all(|m| m["direction"].is_null()));
    let summary = records.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        summary["pipeline"]["tracking"]["transactions"], 1,
        "{summary}"
    );
    assert_eq!(summary["pipeline"]["tracking"]["timeouts"], 0, "{summary}");
}

/// Waits until process `pid` holds a BPF link (TCX links do not show in
/// `ip link`, as XDP does): its hook is attached.
fn wait_until_linked(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let linked = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy().contains("bpf_link"))
            });
        if linked {
            thread::sleep(std::time::Duration::from_millis(300));
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sipwatch did not attach within 30 s"
        );
        thread::sleep(std::time::Duration::from_millis(50));
    }
}
