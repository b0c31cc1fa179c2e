//! Keep-alives on a SIP port are shown as keep-alives, never as "not a SIP
//! start line", and counted per flow with their interval (issue 28): CRLF
//! pings and pongs (RFC 5626 §3.5.1), whitespace-only datagrams, "jaK",
//! NUL bytes and STUN binding requests (RFC 5389). No root needed.
mod support;

use sipwatch::report::{Detail, View};
use support::frames::udp_packet;

const PHONE: &str = "192.168.77.10:5060";
const PROVIDER: &str = "203.0.113.2:5060";

fn stun_binding_request() -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    p.extend_from_slice(b"transaction1");
    p
}

/// Writes `datagrams` (source, destination, payload, second) as a raw-IP
/// capture file.
fn capture(name: &str, datagrams: &[(&str, &str, Vec<u8>, u32)]) -> tempfile::TempDir {
    let packets: Vec<(Vec<u8>, u32)> = datagrams
        .iter()
        .map(|(src, dst, payload, second)| (udp_packet(src, dst, payload), *second))
        .collect();
    write_capture(name, &packets)
}

/// Writes IP `packets`, each at its second, as `capture.pcap` in a fresh
/// temporary folder.
fn write_capture(name: &str, packets: &[(Vec<u8>, u32)]) -> tempfile::TempDir {
    let dir = support::temp_dir(name);
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 101] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for (ip, second) in packets {
        let len = ip.len() as u32;
        for v in [1_700_000_000 + second, 0, len, len] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(ip);
    }
    std::fs::write(dir.path().join("capture.pcap"), file).unwrap();
    dir
}

#[test]
fn every_kind_of_keep_alive_is_shown_as_one_and_counted_per_flow() {
    let mut datagrams = Vec::new();
    for i in 0..12 {
        datagrams.push((PHONE, PROVIDER, b"\r\n\r\n".to_vec(), 30 * i));
    }
    datagrams.push((PROVIDER, PHONE, b"\r\n".to_vec(), 1));
    datagrams.push(("192.168.77.11:5060", PROVIDER, b"  \r\n ".to_vec(), 2));
    datagrams.push(("192.168.77.12:5060", PROVIDER, b"jaK".to_vec(), 3));
    datagrams.push(("192.168.77.13:5060", PROVIDER, vec![0; 4], 4));
    for i in 0..3 {
        datagrams.push((
            "192.168.77.14:5060",
            PROVIDER,
            stun_binding_request(),
            4 + 15 * i,
        ));
    }
    datagrams.sort_by_key(|d| d.3);
    let dir = capture("keep-alives", &datagrams);
    let path = dir.path().join("capture.pcap");
    let text = support::analyzed::text(&path, View::Text(Detail::FirstLine));
    assert!(!text.contains("not a SIP start line"), "{text}");
    for line in [
        "(keep-alive, 4 bytes)",
        "(keep-alive, 2 bytes)",
        "(keep-alive: whitespace, 5 bytes)",
        "(keep-alive: \"jaK\", 3 bytes)",
        "(keep-alive: NUL bytes, 4 bytes)",
        "(keep-alive: STUN binding request, 20 bytes)",
        "keep-alives: 192.168.77.10:5060 -> 203.0.113.2:5060 every 30 s (12, CRLF CRLF)",
        "keep-alives: 203.0.113.2:5060 -> 192.168.77.10:5060 once (CRLF)",
        "keep-alives: 192.168.77.14:5060 -> 203.0.113.2:5060 every 15 s (3, STUN binding request)",
    ] {
        assert!(text.contains(line), "{line}:\n{text}");
    }
    let records = support::analyzed::json(&path);
    for m in records.iter().filter(|r| r["type"] == "message") {
        assert!(m["keep_alive"].is_string(), "{m}");
        assert_eq!(m["problems"], serde_json::json!([]), "{m}");
        assert!(m["parse_error"].is_null(), "{m}");
    }
    let keep_alives = &support::analyzed::summary(&records)["pipeline"]["assembly"]["keep_alives"];
    let first = &keep_alives["flows"][0];
    assert_eq!(first["count"], 12, "{keep_alives}");
    assert_eq!(first["interval_ms"], 30_000, "{keep_alives}");
    assert_eq!(first["kind"], "crlf_ping", "{keep_alives}");
    assert_eq!(keep_alives["flows"].as_array().unwrap().len(), 6);
}

#[test]
fn a_stun_request_off_the_sip_ports_is_not_taken_for_sip() {
    let dir = capture(
        "keep-alives-off-port",
        &[(
            "192.168.77.10:40000",
            "203.0.113.2:3478",
            stun_binding_request(),
            0,
        )],
    );
    let records = support::analyzed::json(&dir.path().join("capture.pcap"));
    let summary = support::analyzed::summary(&records);
    assert_eq!(summary["pipeline"]["messages"], 0, "{summary}");
    assert!(summary["pipeline"]["assembly"].get("keep_alives").is_none());
}

const TCP_REGISTER: &[u8] = b"REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.77.10:5060;branch=z9hG4bK-1\r\nFrom: <sip:a@203.0.113.2>;tag=1\r\nTo: <sip:a@203.0.113.2>\r\nCall-ID: tcp-ka\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";

/// What `analyze` prints of one TCP direction from the phone to the
/// provider: `segments` (sequence offset from the first byte, payload,
/// second).
fn analyzed_tcp(name: &str, segments: &[(u32, &[u8], u32)]) -> String {
    use etherparse::PacketBuilder;
    let mut records = Vec::new();
    for (offset, payload, second) in segments {
        let mut ip = Vec::new();
        PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
            .tcp(5060, 5060, 1000 + offset, 64_000)
            .ack(1)
            .write(&mut ip, payload)
            .unwrap();
        records.push((ip, *second));
    }
    let dir = write_capture(name, &records);
    let path = dir.path().join("capture.pcap");
    support::analyzed::text(&path, View::Text(Detail::FirstLine))
}

#[test]
fn crlf_pings_between_messages_of_a_tcp_stream_are_counted_not_shown() {
    let ping = TCP_REGISTER.len() as u32;
    let text = analyzed_tcp(
        "keep-alives-tcp",
        &[
            (0, TCP_REGISTER, 0),
            (ping, b"\r\n\r\n", 30),
            (ping + 4, b"\r\n\r\n", 60),
            (ping + 8, b"\r\n\r\n", 90),
        ],
    );
    assert!(
        text.contains(
            "keep-alives: 192.168.77.10:5060 -> 203.0.113.2:5060 over TCP every 30 s (3, CRLF CRLF)"
        ),
        "{text}"
    );
    assert!(!text.contains("not a SIP start line"), "{text}");
}

#[test]
fn a_retransmitted_crlf_ping_over_tcp_is_counted_once() {
    let ping = TCP_REGISTER.len() as u32;
    // The ping at 30 s is sent again, same bytes at the same place, at 31 s.
    let text = analyzed_tcp(
        "keep-alives-tcp-retransmitted",
        &[
            (0, TCP_REGISTER, 0),
            (ping, b"\r\n\r\n", 30),
            (ping, b"\r\n\r\n", 31),
            (ping + 4, b"\r\n\r\n", 60),
        ],
    );
    assert!(
        text.contains(
            "keep-alives: 192.168.77.10:5060 -> 203.0.113.2:5060 over TCP every 30 s (2, CRLF CRLF)"
        ),
        "{text}"
    );
}
