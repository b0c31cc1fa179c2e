//! Real SIP peers from Debian in the lab: sipsak sends to Kamailio over UDP
//! and TCP (an INVITE large enough to fragment among them), tcpdump
//! captures, and what `analyze` assembles is byte for byte what sipsak sent,
//! with Kamailio's answers. Needs root; fails, saying why, without.
mod support;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use sipwatch::{
    capture::file::CaptureFileReader,
    net::{Decoder, Transport},
    sip::{Message, MessageAssembler},
};
use sipwatch_lab::{kamailio::Kamailio, *};
use support::lab;

fn request(method: &str, transport: &str, local_port: u16, body: &str) -> String {
    let seq = 1;
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:alice@{PROVIDER_V4} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {PBX_V4}:{local_port};branch=z9hG4bK-real-{method}-{transport};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{PROVIDER_V4}>;tag=real{seq}\r\n\
         To: <sip:alice@{PROVIDER_V4}>\r\n\
         Call-ID: real-{method}-{transport}@{PBX_V4}\r\n\
         CSeq: {seq} {method}\r\n\
         Contact: <sip:alice@{PBX_V4}:5060;transport={}>\r\n\
         Expires: 300\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        transport.to_ascii_lowercase(),
        body.len()
    )
}

fn large_sdp() -> String {
    let mut sdp = format!(
        "v=0\r\no=alice 1 1 IN IP4 {PBX_V4}\r\ns=real\r\nc=IN IP4 {PBX_V4}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\n"
    );
    let mut i = 0;
    while sdp.len() < 3000 {
        sdp.push_str(&format!(
            "a=x-codec-{i:04}:PCMU/8000 with a long attribute line\r\n"
        ));
        i += 1;
    }
    sdp
}

#[test]
fn sipsak_to_kamailio_over_udp_and_tcp_is_analysed_byte_for_byte() {
    let lab = lab(Personality::PlainNat);
    let _kamailio = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let tmp = support::temp_dir("real");
    let dir = tmp.path();
    let captures = [dir.join("tcpdump.pcap"), dir.join("tshark.pcapng")];
    let tools = [
        lab.pbx
            .spawn(&["tcpdump", "-i", PBX_IF, "-w", captures[0].to_str().unwrap()])
            .unwrap(),
        lab.pbx
            .spawn(&[
                "tshark",
                "-i",
                PBX_IF,
                "-q",
                "-w",
                captures[1].to_str().unwrap(),
            ])
            .unwrap(),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !captures.iter().all(|c| c.exists()) {
        assert!(Instant::now() < deadline, "tcpdump or tshark did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut sent = Vec::new();
    for transport in ["UDP", "TCP"] {
        for (i, (method, body)) in [("REGISTER", String::new()), ("INVITE", large_sdp())]
            .into_iter()
            .enumerate()
        {
            // A TCP connection's port stays in TIME_WAIT: one port per request.
            let port = if transport == "UDP" {
                5060
            } else {
                5070 + i as u16
            };
            let port_arg = port.to_string();
            let text = request(method, transport, port, &body);
            let file = dir.join(format!("{method}-{transport}.sip"));
            std::fs::write(&file, &text).unwrap();
            let target = format!("sip:alice@{PROVIDER_V4}");
            let mut argv = vec![
                "sipsak",
                "-f",
                file.to_str().unwrap(),
                "-s",
                &target,
                "--no-via",
                "--no-crlf",
                "-vv",
            ];
            argv.extend_from_slice(if transport == "UDP" {
                &["-S", "-l"][..]
            } else {
                &["-E", "tcp", "-l"][..]
            });
            argv.push(&port_arg);
            let out = lab.pbx.command(&argv).output().unwrap();
            let reply = String::from_utf8_lossy(&out.stdout);
            let want = if method == "REGISTER" {
                "200 OK"
            } else {
                "486 Busy Here"
            };
            assert!(
                reply.contains(want),
                "sipsak {method} over {transport}: {reply}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            sent.push((transport, text));
        }
    }
    // Past libpcap's 1 s block timeout, so the last packets are written.
    std::thread::sleep(Duration::from_millis(2500));
    for tool in tools {
        tool.stop(libc::SIGINT, Duration::from_secs(10)).unwrap();
    }
    for capture in &captures {
        check_capture(capture, &sent);
    }
}

/// Every request sipsak sent is in the capture byte for byte, with
/// Kamailio's answers, over both transports.
fn check_capture(capture: &std::path::Path, sent: &[(&str, String)]) {
    let mut decoder = Decoder::new();
    let mut assembler = MessageAssembler::default();
    let mut messages: Vec<Message> = Vec::new();
    for frame in CaptureFileReader::open(capture).unwrap() {
        if let Some(d) = decoder.push(&frame.unwrap()) {
            assembler.push(d, &mut messages);
        }
    }
    assembler.finish(&mut messages);
    for (transport, text) in sent {
        let want = if *transport == "UDP" {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let found = messages
            .iter()
            .filter(|m| m.transport == want && m.bytes == text.as_bytes())
            .count();
        assert_eq!(
            found,
            1,
            "{}: {transport} message not found byte for byte:\n{}",
            capture.display(),
            &text[..200]
        );
    }
    let pbx = SocketAddr::new(PBX_V4.into(), 0).ip();
    let answers: Vec<String> = messages
        .iter()
        .filter(|m| m.dst.ip() == pbx)
        .filter_map(|m| {
            m.parsed()
                .status()
                .map(|s| format!("{:?} {s}", m.transport))
        })
        .collect();
    for want in ["Udp 200", "Udp 486", "Tcp 200", "Tcp 486"] {
        assert!(
            answers.iter().any(|a| a == want),
            "no {want} in {answers:?}"
        );
    }
    assert!(
        decoder.stats().reassembled >= 1,
        "the UDP INVITE fragmented"
    );
}
