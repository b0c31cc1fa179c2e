//! `sipwatch probe` from the PBX against `sipwatch echo` at the provider,
//! through each router personality: the verdict, the findings and the leg.
//! Needs root; fails, saying why, without.
mod support;

use serde_json::Value;
use sipwatch_lab::*;
use support::{lab, start_echo};

/// Runs echo at the provider and probe at the PBX, both with their
/// defaults (the query channel included); (exit code, report).
fn run(personality: Personality) -> (i32, Value) {
    run_with_local_firewall(personality, None)
}

/// Nothing on this host changed anything: no probe, delivered or dropped,
/// may claim a rewrite here (a dropped probe has no NIC copy to compare).
fn assert_nothing_on_this_host(report: &Value) {
    for p in probes(report) {
        assert!(
            p["on_this_host"].as_array().unwrap().is_empty(),
            "nothing changes on this host: {p}"
        );
    }
}

/// The same, with an nftables rule set on the PBX itself.
fn run_with_local_firewall(personality: Personality, pbx_rules: Option<&str>) -> (i32, Value) {
    let lab = lab(personality);
    if let Some(rules) = pbx_rules {
        lab.pbx
            .run_with_stdin(&["nft", "-f", "-"], Some(rules))
            .unwrap();
    }
    let _echo = start_echo(&lab, &[]);
    probe_from_the_pbx(&lab)
}

/// `sipwatch probe 203.0.113.2 --json` from the PBX: (exit code, report).
fn probe_from_the_pbx(lab: &Lab) -> (i32, Value) {
    let out = lab
        .pbx
        .command(&[
            support::SIPWATCH,
            "probe",
            "203.0.113.2",
            "--timeout",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

fn probes(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().unwrap()
}

#[test]
fn plain_nat_is_clean_and_the_nat_mapping_is_reported() {
    let (code, report) = run(Personality::PlainNat);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (0, Some("clean")),
        "{report}"
    );
    assert_eq!(
        probes(&report).len(),
        6,
        "REGISTER, INVITE, OPTIONS over UDP and TCP"
    );
    assert_eq!(report["type"], "probe_report", "{report}");
    assert!(
        report["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 27),
        "RFC 3339 UTC: {report}"
    );
    assert_eq!(
        report["this_host"],
        serde_json::json!({"observed": "yes", "interface": "eth0"}),
        "{report}"
    );
    for p in probes(&report) {
        assert_eq!(p["leg"], "delivered", "{p}");
        assert!(
            p["on_this_host"].as_array().unwrap().is_empty(),
            "nothing changes on this host: {p}"
        );
        assert_eq!(
            (p["left_nic"].as_bool(), p["answer_at_nic"].as_bool()),
            (Some(true), Some(true)),
            "{p}"
        );
        assert!(
            p["nat_source"]
                .as_str()
                .unwrap()
                .starts_with("203.0.113.1:"),
            "{p}"
        );
        assert!(
            p["out"].as_array().unwrap().is_empty() && p["back"].as_array().unwrap().is_empty(),
            "{p}"
        );
    }
}

#[test]
fn the_kernel_alg_is_found_with_its_rewrites() {
    let (code, report) = run(Personality::SipAlg);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (2, Some("alg_found")),
        "{report}"
    );
    let udp_invite = probes(&report)
        .iter()
        .find(|p| p["transport"] == "UDP" && p["method"] == "INVITE")
        .unwrap();
    let rewritten: Vec<&str> = udp_invite["out"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "address_rewritten")
        .filter_map(|f| f["header"].as_str())
        .collect();
    for header in ["Via", "Contact", "sdp c=", "sdp o="] {
        assert!(rewritten.contains(&header), "{header} not in {rewritten:?}");
    }
}

#[test]
fn the_kernel_alg_rewrites_tcp_too_and_not_on_this_host() {
    let (code, report) = run(Personality::SipAlg);
    assert_eq!(code, 2, "{report}");
    let tcp_invite = probes(&report)
        .iter()
        .find(|p| p["transport"] == "TCP" && p["method"] == "INVITE")
        .unwrap();
    let contact = tcp_invite["out"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["header"] == "Contact");
    assert_eq!(
        contact.map(|f| &f["kind"]),
        Some(&Value::from("address_rewritten")),
        "{tcp_invite}"
    );
    for p in probes(&report) {
        assert!(
            p["on_this_host"].as_array().unwrap().is_empty(),
            "the rewrite is on the path, not here: {p}"
        );
    }
}

#[test]
fn an_outbound_firewall_is_found_dropping_on_the_way_out() {
    let (code, report) = run(Personality::DropOutbound);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (3, Some("drops_found")),
        "{report}"
    );
    assert_nothing_on_this_host(&report);
    for p in probes(&report) {
        let want = if p["transport"] == "UDP" {
            "dropped_on_the_way_out"
        } else {
            "tcp_connect_failed"
        };
        assert_eq!(p["leg"], want, "{p}");
    }
}

#[test]
fn a_path_that_drops_ip_fragments_loses_no_answer() {
    // The router drops every IP fragment but the first before reassembly
    // (priority -450, ahead of conntrack's defragmentation), as many
    // firewalls do: an echo answer larger than the path MTU would be lost
    // and read as a return-path firewall.
    let lab = lab(Personality::PlainNat);
    lab.router
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some(
                "table inet fragments {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority -450; policy accept;\n\t\tip frag-off & 0x1fff != 0 counter drop\n\t}\n}\n",
            ),
        )
        .unwrap();
    let _echo = start_echo(&lab, &[]);
    let (code, report) = probe_from_the_pbx(&lab);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (0, Some("clean")),
        "{report}"
    );
    for p in probes(&report) {
        assert_eq!(p["leg"], "delivered", "{p}");
        assert!(p.get("withheld").is_none(), "compressed, not withheld: {p}");
    }
    let count = || {
        lab.router
            .run(&["nft", "list", "table", "inet", "fragments"])
            .unwrap()
    };
    assert!(
        count().contains("counter packets 0 "),
        "no answer was fragmented: {}",
        count()
    );
    // The rule is live: a datagram larger than the MTU is lost on it.
    let wan = ROUTER_WAN_V4.to_string();
    let ping = lab
        .provider
        .run(&["ping", "-c", "1", "-W", "1", "-s", "2000", &wan]);
    assert!(ping.is_err(), "a fragmented ping crossed: {ping:?}");
    assert!(!count().contains("counter packets 0 "), "{}", count());
}

#[test]
fn a_return_path_firewall_is_found_losing_the_answers() {
    let (code, report) = run(Personality::DropReturn);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (3, Some("drops_found")),
        "{report}"
    );
    assert_nothing_on_this_host(&report);
    for p in probes(&report) {
        let want = if p["transport"] == "UDP" {
            "lost_on_the_way_back"
        } else {
            "tcp_connect_failed"
        };
        assert_eq!(p["leg"], want, "{p}");
    }
}

fn local_rules(hook: &str, rule: &str) -> String {
    format!(
        "table inet pbx_local {{\n\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter; policy accept;\n\t\t{rule}\n\t}}\n}}\n"
    )
}

/// With `rule` on the PBX's own `hook`, UDP probes end on `leg`, with what
/// the NIC saw (left, answer arrived) and the kernel's reason for the drop;
/// TCP (not matched) goes through.
fn local_firewall_case(hook: &str, rule: &str, leg: &str, nic: (bool, bool)) {
    let (code, report) =
        run_with_local_firewall(Personality::PlainNat, Some(&local_rules(hook, rule)));
    assert_eq!(
        (code, report["verdict"].as_str()),
        (3, Some("drops_found")),
        "{report}"
    );
    for p in probes(&report) {
        if p["transport"] == "UDP" {
            assert_eq!(p["leg"], leg, "{p}");
            assert_eq!(
                (p["left_nic"].as_bool(), p["answer_at_nic"].as_bool()),
                (Some(nic.0), Some(nic.1)),
                "{p}"
            );
            // The kernel's own reason, from the drop tracer.
            assert_eq!(p["kernel_drop"]["reason"], "NETFILTER_DROP", "{p}");
        } else {
            assert_eq!(p["leg"], "delivered", "{p}");
        }
    }
}

#[test]
fn a_firewall_on_this_host_dropping_sip_out_is_named() {
    local_firewall_case(
        "output",
        "udp dport 5060 drop",
        "dropped_on_this_host",
        (false, false),
    );
}

#[test]
fn a_firewall_on_this_host_dropping_the_answers_is_named() {
    local_firewall_case(
        "input",
        "udp sport 5060 drop",
        "answer_dropped_on_this_host",
        (true, true),
    );
}

#[test]
fn several_ports_and_ipv6_are_probed() {
    let lab = lab(Personality::PlainNat);
    let _echo = start_echo(
        &lab,
        &[
            "--listen",
            "203.0.113.2:5080",
            "--listen",
            "[2001:db8:113::2]:5060",
        ],
    );
    let probe = |args: &[&str]| -> (i32, Value) {
        let mut argv = vec![support::SIPWATCH, "probe"];
        argv.extend_from_slice(args);
        argv.extend(["--timeout", "2", "--json"]);
        let out = lab.pbx.command(&argv).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    };
    let (code, report) = probe(&["203.0.113.2", "--ports", "5060,5080"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(probes(&report).len(), 12);
    for port in [5060, 5080] {
        let target = format!("203.0.113.2:{port}");
        assert_eq!(
            probes(&report)
                .iter()
                .filter(|p| p["target"] == target.as_str() && p["leg"] == "delivered")
                .count(),
            6
        );
    }
    // The query channel by default on every address the echo listens on.
    let (code, report) = probe(&["[2001:db8:113::2]:5060"]);
    assert_eq!(code, 0, "{report}");
    for p in probes(&report) {
        assert!(
            p["nat_source"]
                .as_str()
                .unwrap()
                .starts_with("[2001:db8:113::1]:"),
            "{p}"
        );
    }
}

#[test]
fn a_probe_that_cannot_reach_the_query_channel_says_why_and_what_to_open() {
    let lab = lab(Personality::DropOutbound);
    let _echo = start_echo(&lab, &["--no-query"]);
    let out = lab
        .pbx
        .command(&[
            support::SIPWATCH,
            "probe",
            "203.0.113.2",
            "--transport",
            "udp",
            "--timeout",
            "1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("query channel at 203.0.113.2:5099 refused the connection")
            && text.contains("let TCP port 5099 through"),
        "{text}"
    );
    assert!(!text.contains("on this host:"), "{text}");
}

#[test]
fn the_human_report_reads_like_a_diff_in_the_admins_words() {
    let lab = lab(Personality::SipAlg);
    let _echo = start_echo(&lab, &[]);
    let out = lab
        .pbx
        .command(&[support::SIPWATCH, "probe", "203.0.113.2", "--timeout", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for want in [
        "out: Contact: address rewritten 192.168.77.10:5060 → 203.0.113.1:5060",
        "out: SDP c=: address rewritten 192.168.77.10 → 203.0.113.1",
        "verdict: SIP ALG found",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    for rust_name in ["AddressRewritten", "HeaderAdded", "(none)"] {
        assert!(!text.contains(rust_name), "{rust_name} in:\n{text}");
    }
}

/// Pointed at a registrar instead of an echo (the lab's Kamailio, over UDP
/// and TCP through the NAT), the probe says what answered, with its code
/// and Server header, and gives no verdict on the path: never a lost
/// answer or a firewall.
#[test]
fn a_registrar_probed_instead_of_an_echo_is_named_by_what_it_answered() {
    let lab = lab(Personality::PlainNat);
    let _registrar = sipwatch_lab::kamailio::Kamailio::start(&lab.provider).unwrap();
    let (_, report) = probe_from_the_pbx(&lab);
    assert_eq!(report["verdict"], "could_not_test", "{report}");
    let probes = probes(&report);
    assert!(probes.len() >= 2, "UDP and TCP: {report}");
    for p in probes {
        assert_eq!(p["leg"], "invalid_answer", "{p}");
        let answer = &p["answered_instead"];
        // Kamailio's answers in the lab: a challenge to a REGISTER, 486
        // to an INVITE, 200 to the rest.
        assert!(
            [200, 401, 486].contains(&answer["code"].as_u64().unwrap_or(0)),
            "{p}"
        );
        assert!(
            answer["server"]
                .as_str()
                .is_some_and(|s| s.starts_with("kamailio")),
            "{p}"
        );
    }
    let transports: std::collections::BTreeSet<&str> = probes
        .iter()
        .filter_map(|p| p["transport"].as_str())
        .collect();
    assert!(
        transports.contains("UDP") && transports.contains("TCP"),
        "{transports:?}"
    );
}
