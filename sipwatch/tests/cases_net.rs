//! The shared registration cases about what the network layer reads: link
//! types (`sll-loopback-any`) and traffic that is not SIP (`non-sip-noise`).
//! One test per case file, each asserting what the case's `expected.md`
//! asks for; then tests of our own that cover the rest of each kind, with
//! capture files written by the test itself.
//!
//! The cases are committed in `tests/cases/`; a missing file fails the test
//! with the path it looked for.
mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sipwatch::report::{Detail, View};
use support::frames::udp_packet;

/// What `analyze --json` writes for a file: every object, the summary last.
struct Json {
    objects: Vec<Value>,
}

impl Json {
    fn of(path: &Path) -> Json {
        let mut out = Vec::new();
        let analysis = sipwatch::analyze::run(path, View::Json.outputs(), &mut out)
            .unwrap_or_else(|e| panic!("analysing {}: {e}", path.display()));
        assert!(
            analysis.stopped.is_none(),
            "{} was not read to its end: {:?}",
            path.display(),
            analysis.stopped
        );
        let objects = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        Json { objects }
    }

    fn summary(&self) -> &Value {
        let last = self.objects.last().expect("a summary object");
        assert_eq!(last["type"], "summary");
        last
    }

    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["type"] == kind).collect()
    }

    /// The one registration, registered with `expires_s`.
    fn assert_registered(&self, aor: &str, expires_s: u64) {
        let regs = self.summary()["registrations"].as_array().unwrap();
        assert_eq!(regs.len(), 1, "{regs:?}");
        assert_eq!(regs[0]["key"]["aor"], aor);
        assert_eq!(regs[0]["state"]["state"], "registered", "{}", regs[0]);
        assert_eq!(regs[0]["state"]["expires_s"], expires_s, "{}", regs[0]);
    }
}

fn sll_loopback_any(file: &str) {
    let json = Json::of(&support::cases::case_file("sll-loopback-any", file));
    let pipeline = &json.summary()["pipeline"];
    assert_eq!(pipeline["decode"]["malformed"], 0, "{pipeline}");
    assert_eq!(pipeline["messages"], 4, "{pipeline}");
    assert_eq!(json.of_type("message").len(), 4);
    json.assert_registered("sip:7001@example.net", 120);
}

/// sll-loopback-any: heplify's `sip_ipv4_tcp_retrans.pcap` loopback frames,
/// reproduced on `lo` under `tcpdump -i any -y LINUX_SLL` (hatype 772).
#[test]
fn sll_loopback_any_v1_loopback_frames_are_read() {
    sll_loopback_any("any-lo-sll1.pcap");
}

/// sll-loopback-any: the same exchange under `tcpdump -i any -y LINUX_SLL2`.
#[test]
fn sll_loopback_any_v2_loopback_frames_are_read() {
    sll_loopback_any("any-lo-sll2.pcap");
}

/// non-sip-noise: a public office capture (two softphones registering during
/// a call, 17 SIP frames among 4269 of RTP, RTCP, SNMP, HTTP, …), cut down
/// to one RTP datagram, one HTTP exchange on TCP 80 and a REGISTER / 200 OK.
#[test]
fn non_sip_noise_rtp_and_http_are_not_messages() {
    let json = Json::of(&support::cases::case_file(
        "non-sip-noise",
        "minimal-noise.pcap",
    ));
    let messages = json.of_type("message");
    assert_eq!(messages.len(), 2, "{messages:?}");
    for m in &messages {
        assert!(
            !m["start_line"].is_null(),
            "not SIP listed as a message: {m}"
        );
        assert_ne!(m["dst"], "192.0.2.204:8000", "the RTP datagram: {m}");
    }
    let pipeline = &json.summary()["pipeline"];
    assert_eq!(pipeline["messages"], 2, "{pipeline}");
    let assembly = &pipeline["assembly"];
    assert_eq!(assembly["framing"]["skipped_bytes"], 0, "{assembly}");
    assert_eq!(assembly["tcp"]["lost_bytes"], 0, "{assembly}");
    assert_eq!(assembly["not_sip"]["udp_datagrams"], 1, "{assembly}");
    assert_eq!(assembly["not_sip"]["tcp_streams"], 2, "{assembly}");
    json.assert_registered("sip:ivo@example.com", 20);
}

// ---- our own captures, written here: the rest of each kind ----

/// A REGISTER from `pbx` and its 200 OK granting `expires` s.
fn register_exchange(pbx: &str, expires: u32) -> [Vec<u8>; 2] {
    let register = format!(
        "REGISTER sip:example.net SIP/2.0\r\nVia: SIP/2.0/UDP {pbx};branch=z9hG4bK-1\r\n\
         From: <sip:7002@example.net>;tag=a\r\nTo: <sip:7002@example.net>\r\nCall-ID: c1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:7002@{pbx}>\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n"
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {pbx};branch=z9hG4bK-1\r\n\
         From: <sip:7002@example.net>;tag=a\r\nTo: <sip:7002@example.net>;tag=b\r\nCall-ID: c1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:7002@{pbx}>;expires={expires}\r\nContent-Length: 0\r\n\r\n"
    );
    [register.into_bytes(), ok.into_bytes()]
}

/// Writes a classic little-endian pcap of `link` with one record per
/// frame, a millisecond apart, into a fresh temporary file.
fn write_pcap(name: &str, link: u32, frames: &[Vec<u8>]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipwatch-cases-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    support::frames::write_pcap(&path, link, frames);
    path
}

/// A registration over `link`, with each IP packet behind `header(ip)`.
fn registration_over(
    name: &str,
    link: u32,
    pbx: &str,
    registrar: &str,
    header: impl Fn(&[u8]) -> Vec<u8>,
) {
    let [register, ok] = register_exchange(pbx, 300);
    let frames = [
        header(&udp_packet(pbx, registrar, &register)),
        header(&udp_packet(registrar, pbx, &ok)),
    ];
    let json = Json::of(&write_pcap(name, link, &frames));
    let pipeline = &json.summary()["pipeline"];
    assert_eq!(pipeline["decode"]["malformed"], 0, "{name}: {pipeline}");
    assert_eq!(pipeline["messages"], 2, "{name}: {pipeline}");
    json.assert_registered("sip:7002@example.net", 300);
}

fn with_prefix(prefix: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |ip| [prefix, ip].concat()
}

#[test]
fn bsd_loopback_captures_are_read_in_either_byte_order_and_every_af_inet6() {
    let (v6_pbx, v6_registrar) = ("[2001:db8::10]:5060", "[2001:db8::2]:5060");
    // DLT_NULL, written on a little-endian Mac (AF_INET6 = 30) and a
    // big-endian FreeBSD box (28); DLT_LOOP (OpenBSD, AF_INET6 = 24).
    registration_over(
        "null-mac.pcap",
        0,
        v6_pbx,
        v6_registrar,
        with_prefix(&30u32.to_le_bytes()),
    );
    registration_over(
        "null-freebsd-be.pcap",
        0,
        v6_pbx,
        v6_registrar,
        with_prefix(&28u32.to_be_bytes()),
    );
    registration_over(
        "loop-openbsd.pcap",
        108,
        v6_pbx,
        v6_registrar,
        with_prefix(&24u32.to_be_bytes()),
    );
    registration_over(
        "null-v4.pcap",
        0,
        "127.0.0.1:5070",
        "127.0.0.1:5060",
        with_prefix(&2u32.to_le_bytes()),
    );
}

#[test]
fn raw_ip_captures_are_read_whichever_number_the_writer_gave_raw() {
    for link in [12, 14, 101] {
        registration_over(
            &format!("raw-{link}.pcap"),
            link,
            "192.0.2.10:5060",
            "203.0.113.2:5060",
            |ip| ip.to_vec(),
        );
    }
    registration_over(
        "ipv6-229.pcap",
        229,
        "[2001:db8::10]:5060",
        "[2001:db8::2]:5060",
        |ip| ip.to_vec(),
    );
}

#[test]
fn cooked_captures_of_tunnels_and_vlans_are_read() {
    // SLL v1 from a tun device (ARPHRD_NONE), no address, protocol IPv4.
    let mut tun = vec![0, 0, 0xff, 0xfe, 0, 0];
    tun.extend_from_slice(&[0; 8]);
    tun.extend_from_slice(&[0x08, 0x00]);
    registration_over(
        "sll1-tun.pcap",
        113,
        "10.8.0.2:5060",
        "203.0.113.2:5060",
        with_prefix(&tun),
    );
    // SLL v2 of an Ethernet NIC whose VLAN tag was left in the packet.
    let mut vlan = vec![0x81, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6];
    vlan.extend_from_slice(&[2; 8]);
    vlan.extend_from_slice(&[0, 42, 0x86, 0xdd]);
    registration_over(
        "sll2-vlan.pcap",
        276,
        "[2001:db8::10]:5060",
        "[2001:db8::2]:5060",
        with_prefix(&vlan),
    );
    // Ethernet with an 802.1ad outer and an 802.1Q inner tag.
    let mut qinq = vec![2; 12];
    qinq.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00]);
    registration_over(
        "qinq.pcap",
        1,
        "192.0.2.10:5060",
        "203.0.113.2:5060",
        with_prefix(&qinq),
    );
}

#[test]
fn ppp_cisco_hdlc_and_nflog_captures_are_read() {
    let (pbx, registrar) = ("192.0.2.10:5060", "203.0.113.2:5060");
    registration_over(
        "ppp.pcap",
        9,
        pbx,
        registrar,
        with_prefix(&[0xff, 0x03, 0x00, 0x21]),
    );
    registration_over("ppp-hdlc.pcap", 50, pbx, registrar, with_prefix(&[0x21]));
    registration_over(
        "chdlc.pcap",
        104,
        pbx,
        registrar,
        with_prefix(&[0x0f, 0x00, 0x08, 0x00]),
    );
    // NFLOG as an x86 host writes it: a packet-header attribute, then the
    // payload attribute, lengths and types little-endian.
    registration_over("nflog.pcap", 239, pbx, registrar, |ip| {
        let mut frame = vec![2, 0, 0, 5, 8, 0, 1, 0, 0x08, 0x00, 3, 0];
        frame.extend_from_slice(&(4 + ip.len() as u16).to_le_bytes());
        frame.extend_from_slice(&9u16.to_le_bytes());
        frame.extend_from_slice(ip);
        frame
    });
}

#[test]
fn a_link_type_sipwatch_cannot_read_stops_analyze_with_its_name() {
    let path = write_pcap("wifi.pcap", 105, &[vec![0; 40], vec![0; 40]]);
    let Err(e) = sipwatch::analyze::run(&path, View::Json.outputs(), Vec::new()) else {
        panic!("an 802.11 capture was analysed");
    };
    assert!(
        e.to_string()
            .starts_with("link type 105 (IEEE 802.11) is not one sipwatch reads: "),
        "{e}"
    );
}

/// An IP packet carrying one TCP segment.
fn tcp_packet(src: &str, dst: &str, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    use etherparse::PacketBuilder;
    use std::net::SocketAddrV4;
    let (src, dst): (SocketAddrV4, SocketAddrV4) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut builder = PacketBuilder::ipv4(src.ip().octets(), dst.ip().octets(), 64).tcp(
        src.port(),
        dst.port(),
        seq,
        65535,
    );
    if syn {
        builder = builder.syn();
    }
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

#[test]
fn dns_snmp_and_a_web_admin_page_beside_sip_are_passed_over_and_counted() {
    let (pbx, registrar) = ("192.0.2.10:5060", "203.0.113.2:5060");
    let [register, ok] = register_exchange(pbx, 300);
    let (browser, web) = ("192.0.2.10:51000", "192.0.2.1:443");
    let frames: Vec<Vec<u8>> = [
        // DNS query and answer for the registrar (issue 9.7).
        udp_packet("192.0.2.10:53124", "192.0.2.1:53", b"\x9a\x1f\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03net\x00\x00\x01\x00\x01"),
        udp_packet("192.0.2.1:53", "192.0.2.10:53124", b"\x9a\x1f\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x03net\x00\x00\x01\x00\x01"),
        // An SNMP get.
        udp_packet("192.0.2.50:40000", "192.0.2.10:161", b"\x30\x26\x02\x01\x01\x04\x06public\xa0\x19"),
        // The router's admin page, TLS on 443, with a gap in it.
        tcp_packet(browser, web, 1000, true, b""),
        tcp_packet(browser, web, 1001, false, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        tcp_packet(browser, web, 9001, false, b"\x17\x03\x03\x00\x20 later bytes"),
        udp_packet(pbx, registrar, &register),
        udp_packet(registrar, pbx, &ok),
    ]
    .into_iter()
    .map(|ip| [&[0u8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00][..], &ip].concat())
    .collect();
    let json = Json::of(&write_pcap("office.pcap", 1, &frames));
    assert_eq!(json.of_type("message").len(), 2);
    let assembly = &json.summary()["pipeline"]["assembly"];
    assert_eq!(assembly["framing"]["skipped_bytes"], 0, "{assembly}");
    assert_eq!(assembly["tcp"]["lost_bytes"], 0, "{assembly}");
    assert_eq!(assembly["not_sip"]["udp_datagrams"], 3, "{assembly}");
    assert_eq!(assembly["not_sip"]["tcp_streams"], 1, "{assembly}");
    assert_eq!(assembly["not_sip"]["tcp_segments"], 2, "{assembly}");
    json.assert_registered("sip:7002@example.net", 300);
    // In words too, in one line of the summary.
    let mut text = Vec::new();
    sipwatch::analyze::run(
        &write_pcap("office.pcap", 1, &frames),
        View::Text(Detail::FirstLine).outputs(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(!text.contains("not a SIP start line"), "{text}");
    assert!(
        text.contains(
            "not SIP, passed over: 3 UDP datagrams (73 bytes), 1 TCP streams (2 segments, 28 bytes)"
        ),
        "{text}"
    );
}

#[test]
fn sip_over_tcp_on_another_port_is_found_by_its_first_bytes() {
    let (pbx, registrar) = ("192.0.2.10:40000", "203.0.113.2:15060");
    let [register, ok] = register_exchange("192.0.2.10:40000", 300);
    let frames = [
        tcp_packet(pbx, registrar, 1000, true, b""),
        tcp_packet(registrar, pbx, 7000, true, b""),
        tcp_packet(pbx, registrar, 1001, false, &register[..30]),
        tcp_packet(pbx, registrar, 1031, false, &register[30..]),
        tcp_packet(registrar, pbx, 7001, false, &ok),
    ];
    let json = Json::of(&write_pcap("tcp-15060.pcap", 101, &frames));
    let messages = json.of_type("message");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["transport"], "TCP");
    assert_eq!(messages[0]["start_line"]["method"], "REGISTER");
    json.assert_registered("sip:7002@example.net", 300);
}

/// An ICMP (v4) or ICMPv6 error from `reporter` to `to` quoting `quote`.
fn icmp_packet(
    reporter: &str,
    to: &str,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    quote: &[u8],
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    use std::net::IpAddr;
    let (reporter, to): (IpAddr, IpAddr) = (reporter.parse().unwrap(), to.parse().unwrap());
    let mut out = Vec::new();
    match (reporter, to) {
        (IpAddr::V4(r), IpAddr::V4(t)) => PacketBuilder::ipv4(r.octets(), t.octets(), 64)
            .icmpv4_raw(icmp_type, code, rest)
            .write(&mut out, quote)
            .unwrap(),
        (IpAddr::V6(r), IpAddr::V6(t)) => PacketBuilder::ipv6(r.octets(), t.octets(), 64)
            .icmpv6_raw(icmp_type, code, rest)
            .write(&mut out, quote)
            .unwrap(),
        _ => panic!("mixed address families"),
    }
    out
}

#[test]
fn icmp_errors_about_sip_are_evidence_in_the_log_and_in_json() {
    let (pbx, registrar) = ("192.168.77.10:5060", "203.0.113.2:5060");
    let [register, _] = register_exchange(pbx, 300);
    let sent = udp_packet(pbx, registrar, &register);
    let (pbx6, registrar6) = ("[2001:db8::10]:5060", "[2001:db8::2]:5060");
    let sent6 = udp_packet(pbx6, registrar6, &register);
    let dns = udp_packet(
        "192.168.77.10:53124",
        "192.0.2.53:53",
        b"\x9a\x1f\x01\x00\x00\x01\x00\x00",
    );
    let frames = [
        sent.clone(),
        // Nothing listens: the whole REGISTER quoted, as Linux does.
        icmp_packet("203.0.113.2", "192.168.77.10", 3, 3, [0; 4], &sent),
        // A router on the way, quoting 8 bytes only, with the MTU.
        icmp_packet(
            "198.51.100.1",
            "192.168.77.10",
            3,
            4,
            [0, 0, 0x05, 0x78],
            &sent[..28],
        ),
        // A firewall that rejects.
        icmp_packet("198.51.100.1", "192.168.77.10", 3, 13, [0; 4], &sent),
        sent6.clone(),
        icmp_packet(
            "2001:db8::1",
            "2001:db8::10",
            2,
            0,
            1280u32.to_be_bytes(),
            &sent6,
        ),
        // Not about SIP: passed over and counted.
        icmp_packet("192.0.2.53", "192.168.77.10", 3, 3, [0; 4], &dns),
    ];
    let path = write_pcap("icmp.pcap", 101, &frames);
    let json = Json::of(&path);
    let icmp = json.of_type("icmp");
    assert_eq!(icmp.len(), 4, "{icmp:?}");
    assert_eq!(icmp[0]["from"], "203.0.113.2");
    assert_eq!(icmp[0]["to"], "192.168.77.10");
    assert_eq!(icmp[0]["error"], "port_unreachable");
    assert_eq!(icmp[0]["quoted"]["transport"], "UDP");
    assert_eq!(icmp[0]["quoted"]["src"], pbx);
    assert_eq!(icmp[0]["quoted"]["dst"], registrar);
    assert_eq!(
        icmp[0]["quoted"]["start_line"],
        "REGISTER sip:example.net SIP/2.0"
    );
    assert!(icmp[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        (&icmp[1]["error"], &icmp[1]["mtu_bytes"]),
        (&"fragmentation_needed".into(), &1400.into())
    );
    assert!(icmp[1]["quoted"]["start_line"].is_null());
    assert_eq!(icmp[2]["error"], "administratively_prohibited");
    assert_eq!(
        (&icmp[3]["error"], &icmp[3]["mtu_bytes"]),
        (&"packet_too_big".into(), &1280.into())
    );
    assert_eq!(icmp[3]["quoted"]["dst"], registrar6);
    let summary = json.summary();
    assert_eq!(summary["pipeline"]["decode"]["icmp_errors"], 5);
    assert_eq!(summary["pipeline"]["assembly"]["not_sip"]["icmp_errors"], 1);

    let mut text = Vec::new();
    sipwatch::analyze::run(&path, View::Text(Detail::FirstLine).outputs(), &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("ICMP"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].ends_with(
            "ICMP 203.0.113.2 -> 192.168.77.10 port unreachable for UDP 192.168.77.10:5060 -> 203.0.113.2:5060 (REGISTER sip:example.net SIP/2.0)"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(
            "ICMP 198.51.100.1 -> 192.168.77.10 fragmentation needed (MTU 1400) for UDP 192.168.77.10:5060 -> 203.0.113.2:5060"
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn analyze_takes_the_ports_attach_was_given() {
    // A keep-alive on 5062 says nothing by its bytes: only the port makes it SIP.
    let frames = [udp_packet(
        "192.0.2.10:5062",
        "203.0.113.2:5062",
        b"\r\n\r\n",
    )];
    let path = write_pcap("port-5062.pcap", 101, &frames);
    let count = |selection: sipwatch::net::SipSelection| {
        let mut out = Vec::new();
        let analysis =
            sipwatch::analyze::run_with(&path, View::Json.outputs(), selection, &mut out).unwrap();
        analysis.summary.pipeline.messages
    };
    assert_eq!(count(sipwatch::net::SipSelection::default()), 0);
    assert_eq!(count(sipwatch::net::SipSelection::new(&[5062], true)), 1);
}
