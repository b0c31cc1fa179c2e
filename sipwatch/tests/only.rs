//! `--aor`, `--host`, `--call-id`: only the messages they name reach the
//! tracker and the views; the others are counted in the summary, not lost
//! silently. On a committed case with one trunk (42 REGISTERs and
//! answers) and one OPTIONS exchange (2 messages).
mod support;

use std::path::PathBuf;

use serde_json::Value;

fn analyze_json(args: &[&str]) -> Vec<Value> {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/provider-ban-after-failed-logins/b-fail2ban-reject.pcap");
    support::analyzed::json_with(&case, &[&["--config-dir", ""], args].concat())
}

/// (messages shown, messages left out as the summary counts them,
/// registrations in the summary).
fn seen(args: &[&str]) -> (usize, u64, usize) {
    let records = analyze_json(args);
    let messages = records.iter().filter(|r| r["type"] == "message").count();
    let summary = records.last().unwrap();
    // Counts are listed when not zero.
    let left_out = summary["counts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["by"] == "--aor / --host / --call-id")
        .map_or(0, |c| c["n"].as_u64().unwrap());
    let regs = summary["registrations"].as_array().unwrap().len();
    (messages, left_out, regs)
}

#[test]
fn without_a_filter_every_message_is_taken_and_nothing_is_counted_left_out() {
    assert_eq!(seen(&[]), (44, 0, 1));
}

#[test]
fn aor_takes_the_trunks_messages_only() {
    assert_eq!(seen(&["--aor", "4420555017"]), (42, 2, 1));
    assert_eq!(seen(&["--aor", "nobody"]), (0, 44, 0));
}

#[test]
fn host_takes_the_messages_from_or_to_that_address() {
    // The ban's 22 ICMP errors are about the registrar, not this host.
    assert_eq!(seen(&["--host", "203.0.113.62"]), (2, 42 + 22, 0));
    let records = analyze_json(&["--host", "198.51.100.71"]);
    assert_eq!(records.iter().filter(|r| r["type"] == "icmp").count(), 22);
    assert_eq!(seen(&["--host", "voice.example.net"]), (42, 2, 1));
}

#[test]
fn call_id_takes_one_dialog_exactly() {
    let records = analyze_json(&[]);
    let options = records
        .iter()
        .find(|r| r["type"] == "message" && r["start_line"]["method"] == "OPTIONS")
        .expect("an OPTIONS in the case");
    let id = options["call_id"].as_str().expect("its Call-ID").to_owned();
    assert_eq!(seen(&["--call-id", &id]), (2, 42, 0));
    assert_eq!(seen(&["--call-id", &id[..id.len() - 1]]), (0, 44, 0));
}

/// A REGISTER for `user` (Call-ID `user`) from the PBX to the registrar.
fn register(user: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{user}\r\n\
         From: <sip:{user}@192.0.2.1>;tag=f{user}\r\nTo: <sip:{user}@192.0.2.1>\r\nCall-ID: {user}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.10:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn the_time_of_messages_left_out_still_fires_the_timers_of_those_kept() {
    // alice's REGISTER gets no answer; bob's traffic goes on 40 s later.
    // With --aor alice, bob's messages are left out, but their time still
    // passes: alice's REGISTER times out as it does without the filter.
    let ip = |payload: &[u8]| {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4([192, 0, 2, 10], [192, 0, 2, 1], 64)
            .udp(5060, 5060)
            .write(&mut out, payload)
            .unwrap();
        out
    };
    let frames = [(0u32, ip(&register("alice"))), (40, ip(&register("bob")))];
    let mut file = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 101] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    for (s, f) in &frames {
        let len = f.len() as u32;
        for v in [1_700_000_000 + s, 0, len, len] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(f);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("left-out.pcap");
    std::fs::write(&path, file).unwrap();
    let records = support::analyzed::json_with(&path, &["--config-dir", "", "--aor", "alice"]);
    let summary = support::analyzed::summary(&records);
    let regs = summary["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{summary}");
    assert_eq!(regs[0]["state"]["state"], "timeout", "{summary}");
}
