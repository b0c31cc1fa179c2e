//! Lab tests of capture files: what `attach --write` writes, Wireshark's
//! tools read; what tcpdump and tshark write, `analyze` reads, every message
//! byte for byte. Need root; fail, saying why, without.
mod support;

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use sipwatch::{
    capture::{Direction, file::CaptureFileReader},
    net::Decoder,
    sip::{Message, MessageAssembler},
};
use sipwatch_lab::*;
use support::{
    lab,
    peers::{Responder, Transcript, assert_same_messages, tcp_exchange, udp_exchange},
    wait_until_attached,
};

/// REGISTER/OPTIONS and INVITEs larger than the MTU, over UDP, IPv4 and
/// IPv6; with `tcp`, REGISTER/OPTIONS over TCP too.
fn traffic(lab: &Lab, tcp: bool) -> Vec<Transcript> {
    let mut out = Vec::new();
    for (pbx, provider) in [
        (
            SocketAddr::new(PBX_V4.into(), 5060),
            SocketAddr::new(PROVIDER_V4.into(), 5060),
        ),
        (
            SocketAddr::new(PBX_V6.into(), 5060),
            SocketAddr::new(PROVIDER_V6.into(), 5060),
        ),
    ] {
        let f = SipMessageFactory {
            local: pbx,
            remote: provider,
            transport: "UDP",
        };
        let mut msgs: Vec<Vec<u8>> = (0..200).map(|seq| f.request(seq)).collect();
        msgs.extend((0..20).map(|seq| f.invite(seq, 3000)));
        out.push(udp_exchange(&lab.pbx, pbx, provider, &msgs));
        if tcp {
            let f = SipMessageFactory {
                transport: "TCP",
                ..f
            };
            let msgs: Vec<Vec<u8>> = (1000..1200).map(|seq| f.request(seq)).collect();
            out.push(tcp_exchange(&lab.pbx, provider, &msgs).1);
        }
    }
    out
}

fn responder(lab: &Lab) -> Responder {
    Responder::start(
        &lab.provider,
        &[
            SocketAddr::new(PROVIDER_V4.into(), 5060),
            SocketAddr::new(PROVIDER_V6.into(), 5060),
        ],
    )
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} not ready after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The SIP messages in a capture file, as `analyze` assembles them.
fn messages(path: &Path) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let mut assembler = MessageAssembler::default();
    let mut out = Vec::new();
    for frame in CaptureFileReader::open(path).unwrap() {
        let frame = frame.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(d) = decoder.push(&frame) {
            assembler.push(d, &mut out);
        }
    }
    decoder.finish();
    assembler.finish(&mut out);
    assert_eq!(decoder.stats().fragments_timed_out, 0, "{}", path.display());
    let a = assembler.stats();
    assert_eq!(
        (a.tcp.lost_bytes, a.framing.skipped_bytes),
        (0, 0),
        "{}",
        path.display()
    );
    out
}

/// Every request sent and every response received, each exactly once.
fn assert_all_messages(path: &Path, transcripts: &[Transcript], directions_known: bool) {
    let found = messages(path);
    let requests: Vec<Vec<u8>> = transcripts.iter().flat_map(|t| t.sent.clone()).collect();
    let responses: Vec<Vec<u8>> = transcripts
        .iter()
        .flat_map(|t| t.received.clone())
        .collect();
    let pbx = [std::net::IpAddr::from(PBX_V4), PBX_V6.into()];
    let (sent, got): (Vec<&Message>, Vec<&Message>) =
        found.iter().partition(|m| pbx.contains(&m.src.ip()));
    let bytes = |v: &[&Message]| v.iter().map(|m| m.bytes.clone()).collect::<Vec<_>>();
    assert_same_messages(
        &bytes(&sent),
        &requests,
        &format!("{}: requests", path.display()),
    );
    assert_same_messages(
        &bytes(&got),
        &responses,
        &format!("{}: responses", path.display()),
    );
    if directions_known {
        assert!(sent.iter().all(|m| m.direction == Some(Direction::Egress)));
        assert!(got.iter().all(|m| m.direction == Some(Direction::Ingress)));
    }
}

#[test]
fn attach_write_produces_a_pcapng_that_tshark_reads_with_the_messages_sipwatch_printed() {
    let lab = lab(Personality::PlainNat);
    let tmp = support::temp_dir("write");
    let dir = tmp.path();
    let file = dir.join("trunk.pcapng");
    let responder = responder(&lab);
    let capture = lab
        .pbx
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PBX_IF,
            "--write",
            file.to_str().unwrap(),
        ])
        .unwrap();
    wait_until_attached(&lab);
    let transcripts = traffic(&lab, false);
    std::thread::sleep(Duration::from_millis(300));
    let out = capture
        .stop(libc::SIGTERM, Duration::from_secs(20))
        .unwrap();
    responder.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // The frames written are the frames captured.
    let copied: u64 = stdout
        .lines()
        .filter(|l| l.starts_with("ingress (XDP)") || l.starts_with("egress (TC)"))
        .map(|l| number_before(l, " copied"))
        .sum();
    let written = stdout
        .lines()
        .find_map(|l| l.strip_prefix("written: "))
        .expect("written line");
    assert_eq!(written, format!("{copied} frames"));
    assert_eq!(
        CaptureFileReader::open(&file).unwrap().count() as u64,
        copied
    );
    assert_all_messages(&file, &transcripts, true);

    // tshark sees the same SIP messages sipwatch printed, in the same order.
    let printed: Vec<String> = stdout
        .lines()
        .filter(|l| l.contains(" UDP ") && !l.contains(" ICMP "))
        .map(|l| {
            l.split(" -> ")
                .nth(1)
                .unwrap()
                .split_once(' ')
                .unwrap()
                .1
                .trim_start_matches("(reassembled) ")
                .to_owned()
        })
        .collect();
    let tshark = lab
        .pbx
        .run(&support::tshark_sip_lines(file.to_str().unwrap()))
        .expect("tshark reads the file");
    let shown: Vec<String> = tshark.lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(printed.len(), 2 * 2 * 220, "sipwatch printed every message");
    assert_eq!(shown, printed);
}

fn number_before(line: &str, label: &str) -> u64 {
    let at = line.find(label).unwrap();
    line[..at]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn captures_written_by_tcpdump_and_tshark_are_analysed_with_every_message() {
    let lab = lab(Personality::PlainNat);
    let tmp = support::temp_dir("readers");
    let dir = tmp.path();
    let files = [
        (
            "tcpdump-eth0.pcap",
            vec!["tcpdump", "-i", PBX_IF, "-B", "16384", "-w"],
        ),
        (
            "tcpdump-any-nanos.pcap",
            vec![
                "tcpdump",
                "-i",
                "any",
                "-B",
                "16384",
                "--time-stamp-precision=nano",
                "-w",
            ],
        ),
        (
            "tshark-eth0.pcapng",
            vec!["tshark", "-i", PBX_IF, "-q", "-w"],
        ),
    ];
    let responder = responder(&lab);
    let mut writers = Vec::new();
    for (name, argv) in &files {
        let path = dir.join(name);
        let mut argv: Vec<&str> = argv.clone();
        let p = path.to_str().unwrap().to_owned();
        // No filter: the lab carries little else, and a port filter would
        // miss later fragments (the very thing users complain of).
        argv.push(&p);
        writers.push(lab.pbx.spawn(&argv).unwrap());
    }
    // Both tools create their file once they capture.
    wait_for("the capture tools", || {
        files.iter().all(|(n, _)| dir.join(n).exists())
    });
    std::thread::sleep(Duration::from_secs(1));
    let transcripts = traffic(&lab, true);
    // libpcap hands packets over in ring blocks retired after a 1 s timeout;
    // a tool stopped sooner loses the last block's packets unsaid.
    std::thread::sleep(Duration::from_millis(2500));
    let mut tool_reports = String::new();
    for w in writers {
        let out = w.stop(libc::SIGINT, Duration::from_secs(10)).unwrap();
        tool_reports.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // A tool that dropped packets itself cannot be used to judge the reader.
    assert!(
        !tool_reports.contains(" 1 packet dropped by kernel")
            && !tool_reports
                .lines()
                .any(|l| l.ends_with("dropped by kernel") && !l.starts_with("0 ")),
        "{tool_reports}"
    );
    responder.finish();
    for (name, _) in &files {
        let path = dir.join(name);
        // Only cooked (-i any) captures record the direction.
        assert_all_messages(&path, &transcripts, name.contains("any"));
        let out = std::process::Command::new(support::SIPWATCH)
            .args(["analyze", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "analyze {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" UDP ") && !l.contains(" ICMP "))
            .count();
        assert_eq!(lines, 2 * 2 * 220, "{name}");
    }
    // JSON Lines: every message an object with its fields, then the summary.
    let path = dir.join("tshark-eth0.pcapng");
    let out = std::process::Command::new(support::SIPWATCH)
        .args(["analyze", "--json", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect();
    let (summary, rest) = records.split_last().unwrap();
    let messages: Vec<&serde_json::Value> =
        rest.iter().filter(|r| r["type"] == "message").collect();
    // The lab's REGISTERs were answered 200: the tracker reports them.
    assert!(
        rest.iter()
            .any(|r| r["type"] == "registration" && r["state"]["state"] == "registered")
    );
    assert!(
        summary["registrations"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["lost"], 0);
    assert_eq!(messages.len(), 2 * 2 * 220 + 2 * 2 * 200);
    assert!(
        messages
            .iter()
            .all(|m| m["type"] == "message" && m["call_id"].is_string())
    );
    assert!(
        messages
            .iter()
            .all(|m| m["problems"].as_array().unwrap().is_empty())
    );
    let invites = messages
        .iter()
        .filter(|m| m["start_line"]["method"] == "INVITE")
        .count();
    assert_eq!(invites, 2 * 20);
    assert!(
        messages
            .iter()
            .filter(|m| m["start_line"]["method"] == "INVITE")
            .all(|m| m["sdp"]["media"][0].is_string())
    );
}

#[test]
fn analyze_of_a_cut_file_shows_what_it_read_and_fails_saying_where() {
    let tmp = support::temp_dir("cut");
    let dir = tmp.path();
    let path = dir.join("cut.pcapng");
    let mut w = sipwatch::capture::file::PcapNgWriter::create(&path, None).unwrap();
    let f = SipMessageFactory {
        local: SocketAddr::new(PBX_V4.into(), 5060),
        remote: SocketAddr::new(PROVIDER_V4.into(), 5060),
        transport: "UDP",
    };
    for seq in 0..3u64 {
        let builder = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(PBX_V4.octets(), PROVIDER_V4.octets(), 64)
            .udp(5060, 5060);
        let payload = f.request(seq);
        let mut data = Vec::new();
        builder.write(&mut data, &payload).unwrap();
        w.write(&sipwatch::capture::Frame {
            timestamp: std::time::SystemTime::now(),
            ifindex: 0,
            direction: None,
            link: sipwatch::capture::LinkType::Ethernet,
            wire_len: data.len() as u32,
            data,
            truncated: false,
            kernel_drop: None,
        })
        .unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 30]).unwrap();
    let out = std::process::Command::new(support::SIPWATCH)
        .args(["analyze", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains(" UDP ") && !l.contains(" ICMP "))
            .count(),
        2,
        "{stdout}"
    );
    assert!(
        stderr.contains("analysed 2 frames, then stopped") && stderr.contains("cut short"),
        "{stderr}"
    );
}
