//! `analyze --hep`: the HEP sipwatch sends, decoded by two independent
//! decoders — hep-js (sipcapture's Node.js library, from the npm
//! registry; `cargo xtask setup` installs it in tests/support/hep-js) and
//! sngrep's HEP listener (Debian's sngrep, `sngrep -L udp:…`) — holds
//! every SIP message of the capture as tshark reads it: its original
//! addresses, ports, transport, capture time and Call-ID, over UDP and
//! TCP; and the diagnoses travel beside them as HEP log records with the
//! same Call-ID. Everything stays on 127.0.0.1.
mod support;

use std::{
    net::UdpSocket,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    SIPWATCH,
    cases::case_file,
    frames,
    hep::{HepJs, Seen, log_records, sip_messages, tshark},
    temp_dir,
};

/// `sipwatch analyze FILE --hep …`, which must succeed; its standard output.
fn analyze(pcap: &Path, hep: &[String]) -> String {
    let mut cmd = Command::new(SIPWATCH);
    cmd.arg("analyze")
        .arg(pcap)
        .args(["-q", "--hep-id", "4242"]);
    cmd.args(["--hep-node-name", "lab-node"]);
    for h in hep {
        cmd.args(["--hep", h]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "sipwatch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `analyze --hep` of `pcap` to `hep` over UDP and over TCP: sipwatch's
/// standard output, and every packet hep-js decoded.
fn replay(hep: &HepJs, pcap: &Path) -> (String, Vec<Value>) {
    let summary = analyze(
        pcap,
        &[
            format!("udp:127.0.0.1:{}", hep.udp),
            format!("tcp:127.0.0.1:{}", hep.tcp),
        ],
    );
    (summary, hep.packets())
}

#[test]
fn hep_js_decodes_every_message_of_a_udp_capture_with_its_diagnoses_as_log_records() {
    let pcap = case_file("provider-ban-after-failed-logins", "b-fail2ban-reject.pcap");
    let want = tshark(&pcap);
    assert_eq!(want.len(), 44);
    let (summary, packets) = replay(&HepJs::start(), &pcap);
    for over in ["udp", "tcp"] {
        assert_eq!(sip_messages(&packets, over), want, "over {over}");
        let logs = log_records(&packets, over);
        let call_id = "9ab62b5e-f34a-9854-38bf-df7ee0102229";
        assert!(
            !logs.is_empty() && logs.iter().all(|(c, _)| c == call_id),
            "{logs:#?}"
        );
        // The log's lines, each failure with its fix, beside the messages.
        for words in [
            "REGISTRATION sip:4420555017@voice.example.net",
            "401 Unauthorized to the REGISTER that answered the challenge",
            "correct the `password` in the auth section",
            "TIMEOUT REGISTER 9ab62b5e-f34a-9854-38bf-df7ee0102229",
            "ICMP 198.51.100.71 -> 203.0.113.61 port unreachable",
        ] {
            assert!(
                logs.iter().any(|(_, text)| text.contains(words)),
                "no log record says {words:?} over {over}: {logs:#?}"
            );
        }
    }
    assert!(summary.contains("--hep: "), "{summary}");
    assert!(!summary.contains("HEP packets not sent"), "{summary}");
}

/// A TCP stream cut the hard ways: two messages in one segment, a large
/// INVITE (8 KB of SDP) over three segments, and its answer; plus a UDP
/// exchange.
fn hard_tcp_capture(dir: &Path) -> (PathBuf, Vec<Vec<u8>>) {
    let (client, server) = ("192.0.2.10:40000", "192.0.2.20:5060");
    let message = |start: &str, call: &str, cseq: &str, body: &str| {
        format!(
            "{start}\r\nVia: SIP/2.0/TCP 192.0.2.10:40000;branch=z9hG4bK-{call}-{}\r\n\
             From: <sip:100@example.net>;tag=1\r\nTo: <sip:200@example.net>\r\n\
             Call-ID: {call}\r\nCSeq: {cseq}\r\nContent-Length: {}\r\n\r\n{body}",
            cseq.len(),
            body.len()
        )
        .into_bytes()
    };
    let register = message(
        "REGISTER sip:example.net SIP/2.0",
        "reg-1@192.0.2.10",
        "1 REGISTER",
        "",
    );
    let options = message(
        "OPTIONS sip:example.net SIP/2.0",
        "opt-1@192.0.2.10",
        "1 OPTIONS",
        "",
    );
    let sdp: String = (0..200)
        .map(|i| {
            format!(
                "a=candidate:{i} 1 UDP 2130706431 192.0.2.10 {} typ host\r\n",
                20_000 + i
            )
        })
        .collect();
    let invite = message(
        "INVITE sip:200@example.net SIP/2.0",
        "inv-1@192.0.2.10",
        "1 INVITE",
        &format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n{sdp}"
        ),
    );
    assert!(invite.len() > 8000);
    let answer = message("SIP/2.0 100 Trying", "inv-1@192.0.2.10", "1 INVITE", "");
    let udp_options = message(
        "OPTIONS sip:example.net SIP/2.0",
        "udp-opt@192.0.2.10",
        "7 OPTIONS",
        "",
    );
    let mut shared = register.clone();
    shared.extend_from_slice(&options);
    let (a, rest) = invite.split_at(1400);
    let (b, c) = rest.split_at(5000);
    let mut seq = 1000u32;
    let mut next = |payload: &[u8]| {
        let frame = frames::tcp_packet(client, server, seq, false, payload);
        seq += payload.len() as u32;
        frame
    };
    let frames_ = vec![
        frames::tcp_packet(client, server, 999, true, b""),
        next(&shared),
        next(a),
        next(b),
        next(c),
        frames::tcp_packet(server, client, 5000, false, &answer),
        frames::udp_packet("192.0.2.10:5062", "192.0.2.20:5060", &udp_options),
    ];
    let path = dir.join("hard-tcp.pcap");
    // Link type 101: raw IP.
    frames::write_pcap(&path, 101, &frames_);
    (path, vec![register, options, invite, answer, udp_options])
}

#[test]
fn hep_js_gets_messages_of_one_segment_a_split_message_and_a_large_invite_over_udp_and_tcp() {
    let dir = temp_dir("hep-tcp");
    let (pcap, sent) = hard_tcp_capture(dir.path());
    let want = tshark(&pcap);
    assert_eq!(want.len(), 5, "{want:#?}");
    // Two messages of one segment: one capture time, a microsecond apart.
    assert_eq!(want[1].time_us, want[0].time_us + 1);
    let (_, packets) = replay(&HepJs::start(), &pcap);
    for over in ["udp", "tcp"] {
        assert_eq!(sip_messages(&packets, over), want, "over {over}");
        // Every message's bytes exactly as they were written.
        let mut payloads: Vec<&str> = packets
            .iter()
            .filter(|p| p["over"] == over && p["rcinfo"]["payloadType"] == 1)
            .map(|p| p["payload"].as_str().unwrap())
            .collect();
        let mut written: Vec<&str> = sent
            .iter()
            .map(|m| std::str::from_utf8(m).unwrap())
            .collect();
        payloads.sort();
        written.sort();
        assert_eq!(payloads, written, "over {over}");
    }
}

/// sngrep listening for HEP on `port`, writing what it gets to `pcap`.
struct Sngrep(Child);

impl Sngrep {
    fn start(port: u16, pcap: &Path) -> Sngrep {
        let child = Command::new("sngrep")
            .args(["-N", "-q", "-L", &format!("udp:127.0.0.1:{port}"), "-O"])
            .arg(pcap)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sngrep runs (cargo xtask setup installs Debian's sngrep)");
        // Listening once the port is taken.
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "sngrep did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sngrep(child)
    }

    /// Stops it (SIGTERM: it writes out its capture file) and waits.
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.0.wait().unwrap();
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(self.0.stderr.as_mut().unwrap(), &mut stderr);
        assert!(
            status.success() || status.code().is_none(),
            "sngrep: {status}: {stderr}"
        );
    }
}

impl Drop for Sngrep {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sngrep_reads_from_the_hep_every_message_tshark_reads_in_the_capture() {
    let dir = temp_dir("hep-sngrep");
    let (hard, _) = hard_tcp_capture(dir.path());
    let pcaps = [
        case_file("provider-ban-after-failed-logins", "b-fail2ban-reject.pcap"),
        case_file("sha256-digest-challenge", "e-md5-second-wrongpw.pcap"),
        hard,
    ];
    for pcap in pcaps {
        let port = free_udp_port();
        let out = dir.path().join("sngrep.pcap");
        let sngrep = Sngrep::start(port, &out);
        analyze(&pcap, &[format!("127.0.0.1:{port}")]);
        // sngrep reads its socket on its own time.
        std::thread::sleep(Duration::from_millis(500));
        sngrep.stop();
        // sngrep writes every packet it got over HEP as UDP: its pcap
        // tells addresses, ports, times and messages, not the transport.
        let without_transport = |seen: Vec<Seen>| {
            let mut seen: Vec<Seen> = seen
                .into_iter()
                .map(|s| Seen { transport: "", ..s })
                .collect();
            seen.sort();
            seen
        };
        let want = without_transport(tshark(&pcap));
        let got = without_transport(tshark(&out));
        assert!(!want.is_empty());
        assert_eq!(got, want, "{}", pcap.display());
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn a_receiver_that_is_not_there_is_a_counted_loss_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pcap = case_file("sha256-digest-challenge", "e-md5-second-wrongpw.pcap");
    let started = Instant::now();
    let out = Command::new(SIPWATCH)
        .arg("analyze")
        .arg(&pcap)
        .args(["-q", "--hep", &format!("tcp:127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("WARNING: 6 HEP packets not sent (the receiver refused them or was not connected) (--hep)"),
        "{text}"
    );
}
