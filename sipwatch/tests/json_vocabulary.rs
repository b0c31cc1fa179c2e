//! One JSON vocabulary across all commands (docs/json.md): every object has
//! one `type`, every time is RFC 3339 UTC, every duration names its unit,
//! and every type written is documented with an example. No root needed.
mod fixtures;
mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use sipwatch::report::View;

/// Keys that hold a point in time.
const TIME_KEYS: &[&str] = &[
    "time",
    "last_change",
    "expires_at",
    "first_sent",
    "last_sent",
    "at",
    "since",
    "last_success_at",
    "next_at",
    "lapsed_at",
    "registered_at",
    "not_before",
    "not_after",
];
/// Keys that once held a duration without its unit.
const UNITLESS: &[&str] = &["expires", "retry_after", "min_expires", "asked", "rtt"];

fn analyze_json(path: &std::path::Path) -> Vec<Value> {
    support::analyzed::json(path)
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && s.ends_with('Z')
        && s[..4].bytes().all(|c| c.is_ascii_digit())
}

/// Every nested object obeys the time and unit rules.
fn check(v: &Value, path: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let here = format!("{path}.{k}");
                assert_ne!(k, "secs_since_epoch", "a raw SystemTime at {here}");
                assert_ne!(k, "event", "a second type tag at {here}");
                assert!(
                    !UNITLESS.contains(&k.as_str()),
                    "a duration without its unit at {here}"
                );
                if TIME_KEYS.contains(&k.as_str()) && !child.is_null() {
                    assert!(
                        child.as_str().is_some_and(is_rfc3339_utc),
                        "{here} = {child} is not RFC 3339 UTC"
                    );
                }
                check(child, &here);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| check(i, path)),
        _ => {}
    }
}

/// Every object says when it happened in its `time` (a summary of a
/// capture with no packet has `null`).
fn has_time(object: &Value, path: &str) {
    assert!(object.get("time").is_some(), "{path}: no `time`: {object}");
}

/// The `type` of every example object in docs/json.md.
fn documented_types() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/json.md"),
    )
    .expect("docs/json.md");
    let mut types = BTreeSet::new();
    for block in doc.split("```json").skip(1) {
        let text = block.split("```").next().unwrap_or("");
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        check(&v, "(docs)");
        has_time(&v, "(docs)");
        let t = v["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no type: {text}"));
        types.insert(t.to_owned());
    }
    types
}

#[test]
fn every_object_analyze_writes_has_one_type_rfc3339_times_and_units_in_names() {
    let lines = analyze_json(&fixtures::registrations());
    let mut types = BTreeSet::new();
    for line in &lines {
        let t = line["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no type: {line}"));
        types.insert(t.to_owned());
        check(line, t);
        has_time(line, t);
    }
    let text = support::analyzed::text(&fixtures::registrations(), View::Json);
    for line in text.lines() {
        let after_type = line.split_once("\",").map(|(_, rest)| rest);
        assert!(
            after_type.is_some_and(|r| r.starts_with("\"time\":")),
            "`time` comes right after `type`: {line}"
        );
    }
    let want: BTreeSet<String> = ["message", "registration", "timeout", "summary"]
        .map(String::from)
        .into();
    assert_eq!(types, want, "the fixture writes every kind of object");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    let registered = lines
        .iter()
        .find(|l| l["type"] == "registration" && l["state"]["state"] == "registered")
        .expect("alice registers");
    assert_eq!(registered["time"], "2026-11-29T16:00:00.010500Z");
    assert_eq!(registered["last_change"], "2026-11-29T16:00:00.010500Z");
    let timeout = lines
        .iter()
        .find(|l| l["type"] == "timeout")
        .expect("a timeout");
    assert_eq!(
        timeout["time"], "2026-11-29T16:00:34.000000Z",
        "when Timer F fired"
    );
    assert_eq!(
        lines.last().unwrap()["time"],
        "2026-11-29T16:00:40.000300Z",
        "the capture's clock at its end: its last packet"
    );
    assert_eq!(registered["state"]["expires_s"], 300);
    assert_eq!(registered["expires_at"], "2026-11-29T16:05:00.010500Z");
}

#[test]
fn the_failure_record_next_move_and_continuity_use_the_same_vocabulary() {
    let lines = analyze_json(&fixtures::failure_record());
    lines.iter().for_each(|l| check(l, "failure-record"));
    let summary = lines.last().expect("a summary");
    let regs = summary["registrations"].as_array().expect("registrations");
    let trunk = regs
        .iter()
        .find(|r| r["key"]["aor"] == "sip:trunk@203.0.113.2")
        .expect("the trunk");
    let record = &trunk["failure_record"];
    assert_eq!(record["code"], 403);
    assert_eq!(record["reason"], "Forbidden");
    assert_eq!(record["warning"], "399 provider.lab \"Account suspended\"");
    assert_eq!(record["ended_by"], "registrar");
    assert_eq!(record["since"], "2026-11-29T16:00:50.000400Z");
    assert_eq!(record["attempts"], 7);
    assert_eq!(record["last_success_at"], "2026-11-29T16:00:00.010500Z");
    assert_eq!(record["interval_ms"], 10_000);
    assert_eq!(trunk["next_move"]["next"], "config_differs");
    assert_eq!(
        trunk["contacts_kept"]["rewritten_by"],
        "registrar_nat_fixup"
    );
    let backup = regs
        .iter()
        .find(|r| r["key"]["aor"] == "sip:backup@203.0.113.2")
        .expect("the backup");
    assert_eq!(backup["continuity"]["last_gap"]["length_ms"], 14_000);
    assert_eq!(backup["continuity"]["gaps"], 1);
}

#[test]
fn every_type_any_command_writes_is_documented_with_an_example() {
    let documented = documented_types();
    for t in [
        "message",
        "registration",
        "timeout",
        "summary",
        "icmp",
        "tls_session",
        "path_audit",
        "probe_report",
        "doctor_report",
        "echo_summary",
        "lint_report",
    ] {
        assert!(documented.contains(t), "docs/json.md has no example of {t}");
    }
}

/// A failed TLS handshake's `tls_session` follows the same rules.
#[test]
fn a_tls_session_is_one_typed_object_with_its_time_first() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls/tls12-expired-failed.pcap");
    let lines = analyze_json(&path);
    let session = lines
        .iter()
        .find(|l| l["type"] == "tls_session")
        .expect("the failed session");
    check(session, "tls_session");
    has_time(session, "tls_session");
    let text = support::analyzed::text(&path, View::Json);
    assert!(
        text.starts_with("{\"type\":\"tls_session\",\"time\":"),
        "{text}"
    );
}

/// `lint --json` writes one `lint_report` that follows the same rules.
#[test]
fn a_lint_report_is_one_typed_object_with_its_time_first() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk");
    let report = sipwatch::lint::lint_dir(&dir).expect("the fixture reads");
    let text = serde_json::to_string(&sipwatch::say::lint::json(&report)).unwrap();
    assert!(
        text.starts_with("{\"type\":\"lint_report\",\"time\":"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    check(&v, "lint_report");
    has_time(&v, "lint_report");
    assert!(is_rfc3339_utc(v["time"].as_str().unwrap()));
}

/// What only a live capture writes (the kernel's own drops) obeys the same
/// rules and is documented: a REGISTER dropped in OUTPUT, fed to the
/// pipeline as the drop tracer delivers it.
#[test]
fn a_kernel_drop_is_one_typed_object_and_documented() {
    use sipwatch::{
        capture::{Direction, DropReasons, Frame, LinkType},
        pipeline::Pipeline,
    };
    let register = "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-d1;rport\r\n\
                    From: <sip:erin@203.0.113.2>;tag=1\r\nTo: <sip:erin@203.0.113.2>\r\nCall-ID: d1\r\nCSeq: 1 REGISTER\r\n\
                    Contact: <sip:erin@192.168.77.10:5060>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n";
    let mut data = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
        .udp(5060, 5060)
        .write(&mut data, register.as_bytes())
        .unwrap();
    let frame = Frame {
        timestamp: std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(1_800_000_000),
        ifindex: 0,
        direction: Some(Direction::Egress),
        link: LinkType::RawIp,
        wire_len: data.len() as u32,
        data,
        truncated: false,
        kernel_drop: Some(sipwatch::capture::DropRecord {
            reason: 12,
            had_device: false,
            had_route: false,
        }),
    };
    let mut out = Vec::new();
    let mut pipeline = Pipeline::new(&mut out, View::Json.outputs()).with_kernel_drops(
        DropReasons::new([
            (12, "SKB_DROP_REASON_NETFILTER_DROP".to_owned()),
            (33, "SKB_DROP_REASON_TCP_OLD_DATA".to_owned()),
        ]),
        Some(2),
        None,
    );
    pipeline.push(&frame).unwrap();
    // A TCP retransmission the kernel discards as old data lost nothing:
    // counted in the summary, not shown as a drop.
    let mut duplicate = frame.clone();
    duplicate.kernel_drop = Some(sipwatch::capture::DropRecord {
        reason: 33,
        had_device: false,
        had_route: true,
    });
    duplicate.direction = Some(Direction::Ingress);
    pipeline.push(&duplicate).unwrap();
    // A TCP segment without data (an ACK after the socket closed): no fault.
    let mut ack = Vec::new();
    etherparse::PacketBuilder::ipv4([203, 0, 113, 2], [192, 168, 77, 10], 64)
        .tcp(5060, 40000, 1, 1000)
        .ack(1)
        .write(&mut ack, &[])
        .unwrap();
    let mut bare = frame.clone();
    bare.wire_len = ack.len() as u32;
    bare.data = ack;
    bare.direction = Some(Direction::Ingress);
    pipeline.push(&bare).unwrap();
    pipeline.finish(None, 0, None).unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.iter().for_each(|l| check(l, "kernel-drop"));
    let drops: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "kernel_drop")
        .collect();
    assert_eq!(drops.len(), 1, "{drops:?}");
    let drop = drops[0];
    assert_eq!(drop["reason"], "NETFILTER_DROP");
    assert_eq!(drop["way"], "leaving");
    assert!(documented_types().contains("kernel_drop"));
    // The dropped REGISTER is the PBX's: its registration is tracked.
    assert!(lines.iter().any(|l| l["type"] == "registration"));
    let summary = lines.last().unwrap();
    assert_eq!(summary["pipeline"]["kernel_drops"]["leaving"], 1);
    assert_eq!(summary["pipeline"]["kernel_drops"]["arriving"], 2);
    let mut reasons: Vec<(&str, &str)> = summary["kernel_drops_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["way"].as_str().unwrap()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("NETFILTER_DROP", "arriving"),
            ("NETFILTER_DROP", "leaving"),
            ("TCP_OLD_DATA", "arriving")
        ]
    );
}

/// `doctor --json` on loopback (a UDP answerer that fills in `received` and
/// `rport`, a TCP port nothing listens on) obeys the same rules, with `type`
/// and `time` first.
#[test]
fn the_doctor_report_uses_the_same_vocabulary() {
    use std::net::UdpSocket;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let header = |name: &str| {
                request
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or("")
                    .to_owned()
            };
            let via = header("Via: ").replace(
                ";rport",
                &format!(";received=198.51.100.7;rport={}", from.port()),
            );
            let answer = format!(
                "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {}\r\nTo: {};tag=x\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
                header("From: "),
                header("To: "),
                header("Call-ID: "),
                header("CSeq: ")
            );
            socket.send_to(answer.as_bytes(), from).ok();
        }
    });
    let mut config = sipwatch::doctor::Config::new(&addr.to_string());
    config.timeout = std::time::Duration::from_secs(1);
    let report = sipwatch::doctor::run(&config).unwrap();
    let written = serde_json::to_string(&sipwatch::say::doctor::json(&report)).unwrap();
    assert!(
        written.starts_with("{\"type\":\"doctor_report\",\"time\":\""),
        "{written}"
    );
    let v: Value = serde_json::from_str(&written).unwrap();
    check(&v, "doctor_report");
    assert!(is_rfc3339_utc(v["time"].as_str().unwrap()));
    assert_eq!(v["reach"][0]["outcome"], "answered");
    assert_eq!(v["reach"][1]["outcome"], "refused");
    assert_eq!(
        v["public"]["public"].as_str().unwrap().split(':').next(),
        Some("198.51.100.7")
    );
}
