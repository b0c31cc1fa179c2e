//! The shared registration cases about faults on the path, read from one
//! capture (issue 20): answers from another address, lost fragments, a dead
//! TCP connection, a NAT mapping lost between refreshes, a ban after failed
//! logins. One test per case file, named after the case, asserting what
//! its `expected.md` asks for; the further tests of each kind are unit
//! tests beside the code (`src/track/path_tests.rs`, `src/net/connection.rs`).
//!
//! The cases are committed in `tests/cases/`; a missing file fails the test
//! with the path it looked for, never skips.
mod support;

use serde_json::Value;
use sipwatch::report::{Detail, View};

/// `analyze` of the case in `view`, as text.
fn analyzed(case: &str, file: &str, view: View) -> String {
    support::analyzed::text(&support::cases::case_file(case, file), view)
}

/// The registrations of the final JSON summary.
fn summary_registrations(case: &str, file: &str) -> Vec<Value> {
    let records = support::analyzed::json(&support::cases::case_file(case, file));
    support::analyzed::summary(&records)["registrations"]
        .as_array()
        .expect("registrations")
        .clone()
}

/// The one diagnosis of `kind` of the one registration.
fn the_diagnosis(regs: &[Value], kind: &str) -> Value {
    assert_eq!(regs.len(), 1, "{regs:#?}");
    let found = regs[0]["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .find(|d| d["kind"] == kind)
        .cloned();
    found.unwrap_or_else(|| panic!("no {kind} diagnosis in {:#}", regs[0]))
}

/// The text view (message log, events, table, causes, totals).
fn words(case: &str, file: &str) -> String {
    analyzed(case, file, View::Text(Detail::FirstLine))
}

/// Nothing in a path fault's words sends the admin to DNS, the password
/// or "try TCP" where the capture shows otherwise.
fn no_wrong_way(text: &str) {
    for wrong in [
        "check DNS",
        "resolves (dig)",
        "try TCP",
        "never sent credentials",
    ] {
        assert!(!text.contains(wrong), "{wrong:?} in {text}");
    }
}

// Source: BelledonneCommunications/linphone-android#520, linphone-sdk#17,
// belle-sip PR #13 (registrar-answers-from-other-address/expected.md).
#[test]
fn registrar_answers_from_other_address() {
    let case = "registrar-answers-from-other-address";
    let regs = summary_registrations(case, "other-address.pcap");
    let d = the_diagnosis(&regs, "answers_from_other_address");
    assert_eq!(d["request_destination"], "[2001:db8:a::10]:5060");
    assert_eq!(d["response_source"], "[2001:db8:b::10]:5060");
    assert_eq!(d["answers_from_other_address"], 41);
    assert_eq!(d["registers"], 41, "the re-registration rate: 41 REGISTERs");
    assert_eq!(d["registers_over_ms"], 3950, "… in 3.95 s");
    let text = words(case, "other-address.pcap");
    let hint = text
        .lines()
        .find(|l| l.contains("answers came from"))
        .unwrap_or_else(|| panic!("no hint line: {text}"));
    assert!(
        hint.contains("2001:db8:a::10") && hint.contains("2001:db8:b::10"),
        "{hint}"
    );
    assert!(text.contains("bind=[2001:db8:a::10]:5060"), "{text}");
    no_wrong_way(&text);
}

// Source: BelledonneCommunications/linphone-android#750, #1322, #1688;
// SonicWall KB 170505805848271 (register-fragment-lost/expected.md).
#[test]
fn register_fragment_lost() {
    let case = "register-fragment-lost";
    let regs = summary_registrations(case, "first-fragment-only.pcap");
    let d = the_diagnosis(&regs, "fragments_lost");
    assert_eq!(d["source"], "203.0.113.50:41000");
    assert_eq!(d["datagrams"], 22);
    assert_eq!(d["fragment_bytes"], 1500);
    assert_eq!(d["datagram_bytes"], 1532);
    let kinds: Vec<&str> = regs[0]["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"no_credentials"), "{kinds:?}");
    let text = words(case, "first-fragment-only.pcap");
    assert!(!text.contains("no_credentials"), "{text}");
    assert!(text.contains("0 OK, 1 failing"), "{text}");
    assert!(text.contains("TCP"), "the fix names TCP: {text}");
    no_wrong_way(&text);
}

// Source: pjsip/pjproject#5033, ASTERISK-27978, Asterisk commit 2c9757bc90
// (tcp-idle-connection-dropped/expected.md).
#[test]
fn tcp_idle_connection_dropped() {
    let case = "tcp-idle-connection-dropped";
    let regs = summary_registrations(case, "dead-connection.pcap");
    let d = the_diagnosis(&regs, "connection_failed");
    assert_eq!(d["fault"], "unacknowledged");
    assert_eq!(d["retransmissions"], 8);
    let idle_ms = d["idle_before_ms"].as_u64().expect("idle_before_ms");
    assert_eq!((idle_ms + 500) / 1000, 590, "idle 590 s");
    let text = words(case, "dead-connection.pcap");
    assert!(text.contains("idle for 590 s"), "{text}");
    assert!(text.contains("8 times without any ACK"), "{text}");
    assert!(text.contains("keep_alive_interval"), "{text}");
    assert!(text.contains("0 OK, 1 failing"), "{text}");
    no_wrong_way(&text);
}

// Source: jitsi/jitsi#196, i-p-tel/sipdroid#72, usecallmanagernz/tftpboot#3
// (nat-mapping-lost-between-refreshes/expected.md).
#[test]
fn nat_mapping_lost_between_refreshes() {
    let case = "nat-mapping-lost-between-refreshes";
    let regs = summary_registrations(case, "port-changes.pcap");
    let d = the_diagnosis(&regs, "nat_mapping_lost");
    assert_eq!(
        d["public_ports"],
        serde_json::json!([40001, 40217, 40533, 40761])
    );
    assert_eq!(d["changes"], 3);
    assert_eq!(d["interval_s"], 590);
    assert_eq!(d["local"], "192.168.40.5:5060");
    let text = words(case, "port-changes.pcap");
    assert!(text.contains("1 OK, 0 failing"), "{text}");
    assert!(text.contains("40001 → 40217 → 40533"), "{text}");
    assert!(text.contains("qualify_frequency"), "{text}");
    assert!(!text.contains("rewrite_contact"), "{text}");
}

// Source: fail2ban's SIP jail action (REJECT with icmp-port-unreachable),
// fusionpbx/fusionpbx#2869 (provider-ban-after-failed-logins/expected.md).
#[test]
fn provider_ban_after_failed_logins() {
    let case = "provider-ban-after-failed-logins";
    let regs = summary_registrations(case, "b-fail2ban-reject.pcap");
    let d = the_diagnosis(&regs, "banned");
    assert_eq!(d["rejections"], 5);
    assert_eq!(d["icmp"], "port_unreachable");
    assert_eq!(d["icmp_count"], 22);
    assert_eq!(d["registrar"], "198.51.100.71:5060");
    assert_eq!(d["answers_stopped_at"], "2025-11-30T10:58:20.135000Z");
    let text = words(case, "b-fail2ban-reject.pcap");
    assert!(text.contains("0 OK, 1 failing"), "{text}");
    assert!(text.contains("rejected 5 times"), "{text}");
    assert!(text.contains("banned this address"), "{text}");
    assert!(
        text.contains(
            "the same registrar (198.51.100.71) answers every REGISTER with ICMP port unreachable"
        ),
        "{text}"
    );
    assert!(text.contains("auth_rejection_permanent=yes"), "{text}");
    no_wrong_way(&text);
}

/// A capture cut short (a copy interrupted, a disk full) is analysed as far
/// as it goes, and its JSON summary says why it stopped, so that a reader
/// of the JSON alone knows the analysis is partial.
#[test]
fn a_capture_cut_short_says_so_in_its_json_summary() {
    let whole = std::fs::read(support::cases::case_file(
        "provider-ban-after-failed-logins",
        "b-fail2ban-reject.pcap",
    ))
    .unwrap();
    let tmp = support::temp_dir("cut");
    let path = tmp.path().join("cut.pcap");
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let records = support::analyzed::json(&path);
    let stopped = support::analyzed::summary(&records)["stopped"]
        .as_str()
        .expect("the summary says why it stopped")
        .to_owned();
    assert!(stopped.contains("cut short"), "{stopped}");
    let whole = support::analyzed::json(&support::cases::case_file(
        "provider-ban-after-failed-logins",
        "b-fail2ban-reject.pcap",
    ));
    assert!(support::analyzed::summary(&whole).get("stopped").is_none());
}
