//! Lab tests of the capture foundation: sipwatch attached to the PBX's
//! interface in a real namespace lab, real kernel hooks, real traffic.
//! They need root; without it they fail and say why.
mod support;

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use aya::programs::{SchedClassifier, TcAttachType};
use sipwatch::{
    capture::{Capture, CaptureConfig, CaptureError, Direction},
    net::{Datagram, Decoder, Transport},
};
use sipwatch_lab::*;
use support::{
    capture_during,
    inject::inject_frames,
    lab,
    peers::{Responder, multiset, tcp_exchange, udp_exchange},
};

const PER_FLAVOUR: u64 = 2_500;
const LARGE_INVITES: u64 = 100;
const LARGE_INVITE_BODY: usize = 3_000;

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn requests(
    local: SocketAddr,
    remote: SocketAddr,
    transport: &'static str,
    first: u64,
) -> Vec<Vec<u8>> {
    let f = SipMessageFactory {
        local,
        remote,
        transport,
    };
    (first..first + PER_FLAVOUR)
        .map(|seq| f.request(seq))
        .collect()
}

#[test]
fn attach_captures_every_sip_message_both_ways_exactly_once_with_its_bytes() {
    let lab = lab(Personality::PlainNat);
    let provider = [sa(PROVIDER_V4, 5060), sa(PROVIDER_V6, 5060)];
    let responder = Responder::start(&lab.provider, &provider);

    let (run, exchanges) = capture_during(
        &lab,
        |_| {},
        || {
            let mut udp = Vec::new();
            for (i, (local, remote)) in [
                (sa(PBX_V4, 5060), provider[0]),
                (sa(PBX_V6, 5060), provider[1]),
                (sa(PBX_V4, 5080), provider[0]),
                (sa(PBX_V6, 5080), provider[1]),
            ]
            .into_iter()
            .enumerate()
            {
                let msgs = requests(local, remote, "UDP", i as u64 * 1_000_000);
                udp.push(udp_exchange(&lab.pbx, local, remote, &msgs));
            }
            // INVITEs larger than the MTU, so they fragment: IPv4 and IPv6.
            for (local, remote) in [
                (sa(PBX_V4, 5062), provider[0]),
                (sa(PBX_V6, 5062), provider[1]),
            ] {
                let msgs: Vec<_> = (0..LARGE_INVITES)
                    .map(|seq| invite_with_sdp(local, remote, "UDP", seq, LARGE_INVITE_BODY))
                    .collect();
                assert!(msgs[0].len() > 1500);
                udp.push(udp_exchange(&lab.pbx, local, remote, &msgs));
            }
            let mut tcp = Vec::new();
            for (i, remote) in [provider[0], provider[1]].into_iter().enumerate() {
                let local = sa(
                    if remote.is_ipv4() {
                        IpAddr::from(PBX_V4)
                    } else {
                        PBX_V6.into()
                    },
                    0,
                );
                let msgs = requests(local, remote, "TCP", 5_000_000 + i as u64 * 1_000_000);
                tcp.push(tcp_exchange(&lab.pbx, remote, &msgs));
            }
            (udp, tcp)
        },
    );
    let (udp, tcp) = exchanges;
    let provider_side = responder.finish();

    // The kernel's counters agree with what user space read.
    let c = run.counters;
    for (name, d) in [("ingress", c.ingress), ("egress", c.egress)] {
        assert_eq!(d.ring_full, 0, "{name}: ring full");
        assert_eq!(d.read_errors, 0, "{name}: read errors");
        assert_eq!(d.truncated, 0, "{name}: truncated");
        assert_eq!(d.frag_table_full, 0, "{name}: fragment table full");
        assert_eq!(d.selected, d.copied, "{name}: selected but not copied");
        assert!(d.seen >= d.selected, "{name}: seen < selected");
    }
    // Frames off the wire (the drop tracer's records are counted apart).
    let read = |dir| {
        run.frames
            .iter()
            .filter(|f| f.direction == Some(dir) && f.kernel_drop.is_none())
            .count() as u64
    };
    assert_eq!(read(Direction::Egress), c.egress.copied);
    assert_eq!(read(Direction::Ingress), c.ingress.copied);
    assert_eq!(run.malformed_records, 0);
    // IPv4 fragments: 3 per INVITE; IPv6 ones are 3 as well at this size.
    assert!(
        c.egress.fragments >= 2 * LARGE_INVITES * 2,
        "{:?}",
        c.egress
    );

    let mut decoder = Decoder::new();
    let datagrams: Vec<Datagram> = run.frames.iter().filter_map(|f| decoder.push(f)).collect();
    decoder.finish();
    let stats = decoder.stats();
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.fragment_errors, 0);
    assert_eq!(stats.fragments_timed_out, 0);
    assert_eq!(stats.reassembled, 2 * LARGE_INVITES, "{stats:?}");

    // UDP: every message captured exactly once, byte for byte, each way.
    let payloads = |dir, transport| -> Vec<Vec<u8>> {
        datagrams
            .iter()
            .filter(|d| d.direction == Some(dir) && d.transport == transport)
            .map(|d| d.payload.clone())
            .collect()
    };
    let sent: Vec<Vec<u8>> = udp.iter().flat_map(|t| t.sent.clone()).collect();
    let answered: Vec<Vec<u8>> = udp.iter().flat_map(|t| t.received.clone()).collect();
    assert!(sent.len() as u64 >= 4 * PER_FLAVOUR + 2 * LARGE_INVITES);
    let egress_udp = payloads(Direction::Egress, Transport::Udp);
    let ingress_udp = payloads(Direction::Ingress, Transport::Udp);
    assert_eq!(
        egress_udp.len(),
        sent.len(),
        "UDP requests captured leaving"
    );
    assert_eq!(multiset(&egress_udp), multiset(&sent));
    assert_eq!(
        ingress_udp.len(),
        answered.len(),
        "UDP responses captured arriving"
    );
    assert_eq!(multiset(&ingress_udp), multiset(&answered));
    assert!(
        multiset(&egress_udp).values().all(|&n| n == 1),
        "a request captured twice"
    );

    // TCP: each connection's byte stream, both ways, exactly as written.
    for (local, transcript) in &tcp {
        let remote = datagrams
            .iter()
            .find(|d| d.transport == Transport::Tcp && d.src == *local)
            .map(|d| d.dst)
            .expect("TCP connection captured");
        assert_eq!(
            stream(&datagrams, Direction::Egress, *local, remote),
            transcript.sent.concat(),
            "TCP stream {local} -> {remote}"
        );
        assert_eq!(
            stream(&datagrams, Direction::Ingress, remote, *local),
            transcript.received.concat(),
            "TCP stream {remote} -> {local}"
        );
    }
    let tcp_requests: usize = tcp.iter().map(|(_, t)| t.sent.len()).sum();
    assert_eq!(tcp_requests as u64, 2 * PER_FLAVOUR);
    assert_eq!(
        provider_side.received.len(),
        sent.len() + tcp_requests,
        "the provider received every request"
    );
}

/// One direction of a TCP connection, reassembled from the captured
/// segments by sequence number (retransmissions counted once).
fn stream(datagrams: &[Datagram], dir: Direction, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let segments: Vec<&Datagram> = datagrams
        .iter()
        .filter(|d| {
            d.direction == Some(dir)
                && d.transport == Transport::Tcp
                && d.src == src
                && d.dst == dst
        })
        .collect();
    let syn = segments
        .iter()
        .find_map(|d| d.tcp.filter(|t| t.syn))
        .unwrap_or_else(|| panic!("no SYN captured for {src} -> {dst}"));
    let base = syn.seq.wrapping_add(1);
    let mut by_offset = BTreeMap::new();
    for d in segments.iter().filter(|d| !d.payload.is_empty()) {
        let offset = d.tcp.unwrap().seq.wrapping_sub(base);
        if let Some(previous) = by_offset.insert(offset, d.payload.clone()) {
            assert_eq!(previous, d.payload, "retransmission with other bytes");
        }
    }
    let mut out = Vec::new();
    for (offset, payload) in by_offset {
        assert_eq!(
            offset as usize,
            out.len(),
            "gap in captured TCP stream {src} -> {dst}"
        );
        out.extend_from_slice(&payload);
    }
    out
}

/// A SIP message in a VLAN-tagged Ethernet frame.
struct TaggedMessage {
    tags: Vec<u16>,
    payload: Vec<u8>,
    frame: Vec<u8>,
}

#[test]
fn vlan_tagged_frames_are_captured_with_their_tags_on_both_hooks() {
    let lab = lab(Personality::PlainNat);
    // Alternate 802.1Q single tags and 802.1ad double tags, IPv4 and IPv6.
    let build = |seq: u64, from: SocketAddr, to: SocketAddr, payload: Vec<u8>| -> TaggedMessage {
        let mac_a = [2, 0, 0, 0, 0, 1];
        let mac_b = [2, 0, 0, 0, 0, 2];
        let eth = etherparse::PacketBuilder::ethernet2(mac_a, mac_b);
        let (tags, step) = if seq.is_multiple_of(2) {
            (vec![VLAN_ID], eth.single_vlan(VLAN_ID.try_into().unwrap()))
        } else {
            (
                vec![OUTER_VLAN_ID, VLAN_ID],
                eth.double_vlan(
                    OUTER_VLAN_ID.try_into().unwrap(),
                    VLAN_ID.try_into().unwrap(),
                ),
            )
        };
        let step = match (from.ip(), to.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => step.ipv4(a.octets(), b.octets(), 64),
            (IpAddr::V6(a), IpAddr::V6(b)) => step.ipv6(a.octets(), b.octets(), 64),
            _ => unreachable!(),
        };
        let builder = step.udp(from.port(), to.port());
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, &payload).unwrap();
        TaggedMessage {
            tags,
            payload,
            frame,
        }
    };
    let pairs = [
        (sa(PBX_V4, 5060), sa(PROVIDER_V4, 5060)),
        (sa(PBX_V6, 5060), sa(PROVIDER_V6, 5060)),
    ];
    let mut outgoing = Vec::new();
    let mut incoming = Vec::new();
    for seq in 0..PER_FLAVOUR {
        let (pbx, provider) = pairs[(seq / 2 % 2) as usize];
        let f = SipMessageFactory {
            local: pbx,
            remote: provider,
            transport: "UDP",
        };
        let request = f.request(seq);
        let response = response_to(&request, 200, "OK");
        outgoing.push(build(seq, pbx, provider, request));
        incoming.push(build(seq, provider, pbx, response));
    }
    let frames = |v: &[TaggedMessage]| v.iter().map(|m| m.frame.clone()).collect::<Vec<_>>();
    let (run, ()) = capture_during(
        &lab,
        |_| {},
        || {
            inject_frames(&lab.pbx, PBX_IF, &frames(&outgoing));
            inject_frames(&lab.router, ROUTER_LAN_IF, &frames(&incoming));
        },
    );
    let mut decoder = Decoder::new();
    let captured: Vec<Datagram> = run.frames.iter().filter_map(|f| decoder.push(f)).collect();
    for (dir, expected) in [
        (Direction::Egress, &outgoing),
        (Direction::Ingress, &incoming),
    ] {
        let mut got: Vec<(Vec<u16>, Vec<u8>)> = captured
            .iter()
            .filter(|d| d.direction == Some(dir) && !d.vlans.is_empty())
            .map(|d| (d.vlans.clone(), d.payload.clone()))
            .collect();
        let mut want: Vec<(Vec<u16>, Vec<u8>)> = expected
            .iter()
            .map(|m| (m.tags.clone(), m.payload.clone()))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len(), "{dir:?}: tagged frames captured");
        assert!(got == want, "{dir:?}: tags or bytes differ");
    }
    assert_eq!(
        run.counters.egress.ring_full + run.counters.ingress.ring_full,
        0
    );
}

#[test]
fn a_full_ring_is_counted_and_every_copied_packet_is_delivered() {
    let lab = lab(Personality::PlainNat);
    let remote = sa(PROVIDER_V4, 5060);
    let (run, sent) = capture_during(
        &lab,
        |c| {
            c.ring_bytes = 4096;
            c.hooks = vec![sipwatch::capture::Hook::Tc];
        },
        || {
            let socket = lab
                .pbx
                .enter(|| std::net::UdpSocket::bind(sa(PBX_V4, 5060)))
                .unwrap()
                .unwrap();
            // Small enough not to fragment: one selected packet per send.
            let invite = invite_with_sdp(sa(PBX_V4, 5060), remote, "UDP", 1, 600);
            let mut sent = 0u64;
            for _ in 0..3_000 {
                if socket.send_to(&invite, remote).is_ok() {
                    sent += 1;
                }
            }
            sent
        },
    );
    let e = run.counters.egress;
    assert!(
        e.ring_full > 0,
        "a 4 KiB ring should overflow under a burst: {e:?}"
    );
    assert_eq!(e.selected, sent, "every sent request was selected");
    assert_eq!(
        e.copied + e.ring_full,
        e.selected,
        "selected = copied + lost"
    );
    assert_eq!(
        run.frames
            .iter()
            .filter(|f| f.kernel_drop.is_none())
            .count() as u64,
        e.copied,
        "every copied frame was read"
    );
}

/// A flood of SIP this host's own firewall drops (a scanner): every drop
/// is counted, at most 2000 a second per CPU copied, and the wire's own
/// capture loses nothing to them.
#[test]
fn a_flood_this_hosts_firewall_drops_is_counted_without_crowding_out_the_wire() {
    let lab = lab(Personality::PlainNat);
    lab.pbx
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some("table inet scan {\n chain in {\n  type filter hook input priority 0; udp dport 5060 drop;\n }\n}\n"),
        )
        .unwrap();
    let pbx = sa(PBX_V4, 5060);
    let (run, sent) = capture_during(
        &lab,
        |_| {},
        || {
            // From the router's LAN side, which reaches the PBX directly.
            let socket = lab
                .router
                .enter(|| std::net::UdpSocket::bind(sa(ROUTER_LAN_V4, 0)))
                .unwrap()
                .unwrap();
            let options = b"OPTIONS sip:100@192.168.77.10 SIP/2.0\r\nCall-ID: scan\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
            (0..20_000)
                .filter(|_| socket.send_to(options, pbx).is_ok())
                .count() as u64
        },
    );
    let i = run.counters.ingress;
    assert!(i.selected > sent / 2, "{i:?} of {sent}");
    assert_eq!(i.copied, i.selected, "the wire lost nothing: {i:?}");
    assert_eq!(i.ring_full, 0, "{i:?}");
    assert_eq!(i.kernel_dropped, i.selected, "every drop counted: {i:?}");
    assert!(
        i.kernel_drop_not_copied > 0,
        "a flood is counted, not copied: {i:?}"
    );
    let copies = run
        .frames
        .iter()
        .filter(|f| f.kernel_drop.is_some())
        .count() as u64;
    assert_eq!(
        copies + i.kernel_drop_not_copied + i.kernel_drop_lost,
        i.kernel_dropped
    );
}

#[test]
fn a_second_xdp_attach_is_refused_with_a_hint_to_use_tc() {
    let lab = lab(Personality::PlainNat);
    let first = lab
        .pbx
        .enter(|| Capture::attach(&CaptureConfig::new(PBX_IF)))
        .unwrap();
    let _first = first.expect("first attach");
    let second = lab
        .pbx
        .enter(|| Capture::attach(&CaptureConfig::new(PBX_IF)).map(|_| ()))
        .unwrap();
    match second {
        Err(e @ CaptureError::XdpBusy { .. }) => {
            assert!(e.to_string().contains("--hook tc"), "{e}");
        }
        other => panic!("expected XdpBusy, got {other:?}"),
    }
    // TC alone still attaches beside the first capture.
    let tc_only = lab
        .pbx
        .enter(|| {
            let mut c = CaptureConfig::new(PBX_IF);
            c.hooks = vec![sipwatch::capture::Hook::Tc];
            Capture::attach(&c).map(|_| ())
        })
        .unwrap();
    tc_only.expect("TC attaches beside another TC program");
}

#[test]
fn sigterm_detaches_everything_and_prints_the_counters() {
    let lab = lab(Personality::PlainNat);
    let child = lab
        .pbx
        .spawn(&[support::SIPWATCH, "attach", PBX_IF])
        .unwrap();
    let show_link = || lab.pbx.run(&["ip", "link", "show", PBX_IF]).unwrap();
    // TCX links are not listed by `tc` (nor by older bpftool): ask the kernel.
    let tcx_programs = || -> Vec<String> {
        lab.pbx
            .enter(|| SchedClassifier::query_tcx(PBX_IF, TcAttachType::Egress))
            .unwrap()
            .expect("query TCX egress programs")
            .1
            .iter()
            .map(|p| p.name_as_str().unwrap_or("?").to_owned())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(show_link().contains("xdp") && tcx_programs().contains(&"sipwatch_tc".to_owned())) {
        assert!(
            Instant::now() < deadline,
            "sipwatch did not attach: {:?}",
            tcx_programs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let local = sa(PBX_V4, 5060);
    let register = SipMessageFactory {
        local,
        remote: sa(PROVIDER_V4, 5060),
        transport: "UDP",
    }
    .request(0);
    let socket = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind(local))
        .unwrap()
        .unwrap();
    socket.send_to(&register, sa(PROVIDER_V4, 5060)).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let output = child.stop(libc::SIGTERM, Duration::from_secs(10)).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "OUT UDP 192.168.77.10:5060 -> 203.0.113.2:5060 REGISTER sip:203.0.113.2 SIP/2.0"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ingress (XDP): ")
            && stdout.contains("egress (TC) : ")
            && stdout.contains("1 copied"),
        "{stdout}"
    );

    let link = show_link();
    assert!(!link.contains("xdp"), "XDP still attached: {link}");
    assert!(
        tcx_programs().is_empty(),
        "TCX programs left: {:?}",
        tcx_programs()
    );
    let filters = lab
        .pbx
        .run(&["tc", "filter", "show", "dev", PBX_IF, "egress"])
        .unwrap();
    assert!(filters.trim().is_empty(), "tc filters left: {filters}");
}

#[test]
fn an_unknown_interface_is_a_clear_error() {
    let lab = lab(Personality::PlainNat);
    let err = lab
        .pbx
        .run(&[support::SIPWATCH, "attach", "nosuch0"])
        .unwrap_err();
    assert!(
        err.to_string().contains("no interface named \"nosuch0\""),
        "{err}"
    );
}

#[test]
fn without_capabilities_the_error_names_them() {
    let lab = lab(Personality::PlainNat);
    let err = lab
        .pbx
        .run(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            support::SIPWATCH,
            "attach",
            PBX_IF,
        ])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON"),
        "{err}"
    );
}
