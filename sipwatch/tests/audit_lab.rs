//! `sipwatch attach --echo`: the PBX's own REGISTERs audited through a
//! `sipwatch echo` beside the registrar (Kamailio), through each router
//! personality. A test-owned UDP socket on the PBX's 5060 plays the PBX: it
//! registers, and must receive nothing but its registrar's answers. Needs
//! root; fails, saying why, without.
mod support;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use serde_json::Value;
use sipwatch_lab::{kamailio::Kamailio, *};
use support::{asterisk_register, lab, pbx_udp_socket, stop_json, wait_until_attached};

/// The PBX's one REGISTER for `user` (300 s).
fn register_once(user: &str) -> String {
    asterisk_register("audit", user, 1, 300)
}

/// What one audited run gave.
struct Run {
    /// `attach --json` output, one object a line.
    json: Vec<Value>,
    /// The metrics endpoint as Prometheus's own parser (Python's
    /// `prometheus_client`, OpenMetrics) read it at the end: one sample a
    /// line, `name{label="v",…} value`, labels sorted.
    metrics: Vec<String>,
    /// Every datagram the PBX's socket received: (from, first line).
    received: Vec<(SocketAddr, String)>,
}

/// `sipwatch echo` on the provider's second addresses (IPv4 and IPv6),
/// once its query channel serves.
fn echo_beside_the_registrar(lab: &Lab) -> NetnsChild {
    lab.add_echo_address().unwrap();
    let echo = lab
        .provider
        .spawn(&[
            support::SIPWATCH,
            "echo",
            "--listen",
            &format!("{ECHO_V4}:5060"),
            "--listen",
            &format!("[{ECHO_V6}]:5060"),
        ])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !lab
        .provider
        .run(&["ss", "-Hltn", "sport = :5099"])
        .is_ok_and(|o| !o.trim().is_empty())
    {
        assert!(Instant::now() < deadline, "sipwatch echo did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    echo
}

/// `sipwatch attach --json --echo ECHO` on the PBX (plus `extra`), once
/// attached; the echo's IPv4 address unless `echo` says otherwise.
fn attach_audited(lab: &Lab, echo: Option<&str>, extra: &[&str]) -> NetnsChild {
    let v4 = ECHO_V4.to_string();
    let mut argv = vec![
        support::SIPWATCH,
        "attach",
        PBX_IF,
        "--json",
        "--echo",
        echo.unwrap_or(&v4),
    ];
    argv.extend_from_slice(extra);
    let capture = lab.pbx.spawn(&argv).unwrap();
    wait_until_attached(lab);
    capture
}

/// The metrics as Prometheus's own parser reads them (see [`SCRAPE`]).
fn scrape(lab: &Lab) -> Vec<String> {
    // Metrics are re-read every second.
    std::thread::sleep(Duration::from_millis(1500));
    lab.pbx
        .run(&["/usr/bin/python3", "-c", SCRAPE])
        .unwrap_or_else(|e| panic!("scraping the metrics with prometheus_client: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Kamailio at the provider, the echo beside it, `attach --echo` on the
/// PBX; the PBX's socket registers `user` once and listens for `listen`.
fn audited(personality: Personality, user: &str, listen: Duration) -> Run {
    audited_with(personality, user, listen, &[], None)
}

/// The same, with `extra` arguments to `attach` and, when given, UDP
/// mappings on the router that the NAT forgets after `nat_timeout_s` of silence.
fn audited_with(
    personality: Personality,
    user: &str,
    listen: Duration,
    extra: &[&str],
    nat_timeout_s: Option<u32>,
) -> Run {
    let lab = lab(personality);
    if let Some(t) = nat_timeout_s {
        // Per namespace: the router's conntrack alone.
        lab.router
            .run(&[
                "sysctl",
                "-qw",
                &format!("net.netfilter.nf_conntrack_udp_timeout={t}"),
                &format!("net.netfilter.nf_conntrack_udp_timeout_stream={t}"),
            ])
            .unwrap();
    }
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let mut args = vec!["--metrics", METRICS];
    args.extend_from_slice(extra);
    let capture = attach_audited(&lab, None, &args);
    let pbx = pbx_udp_socket(&lab, Duration::from_millis(200));
    pbx.send_to(register_once(user).as_bytes(), (PROVIDER_V4, 5060))
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 65_536];
    let until = Instant::now() + listen;
    while Instant::now() < until {
        if let Ok((n, from)) = pbx.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            received.push((from, text.lines().next().unwrap_or("").to_owned()));
        }
    }
    let metrics = scrape(&lab);
    let json = stop_json(capture);
    Run {
        json,
        metrics,
        received,
    }
}

/// Where `attach --metrics` serves, inside the PBX's namespace.
const METRICS: &str = "127.0.0.1:9560";

/// Scrapes the endpoint and parses it with Prometheus's Python client
/// (Debian's python3-prometheus-client, hence Debian's own python3),
/// printing every sample.
const SCRAPE: &str = r#"
import urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen("http://127.0.0.1:9560/metrics", timeout=5).read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;

/// The value of the sample written exactly as `sample` (name and labels).
fn sample(run: &Run, sample: &str) -> f64 {
    run.metrics
        .iter()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in {:#?}", run.metrics))
}

fn audits<'a>(run: &'a Run, aor: &str) -> Vec<&'a Value> {
    run.json
        .iter()
        .filter(|v| v["type"] == "path_audit" && v["binding"]["aor"] == aor)
        .collect()
}

fn consumed(run: &Run) -> u64 {
    let summary = run.json.last().expect("a summary");
    assert_eq!(summary["type"], "summary");
    summary["kernel"]["ingress"]["consumed"].as_u64().unwrap()
}

/// The PBX's socket got its registrar's answer and nothing else.
fn assert_pbx_undisturbed(run: &Run) {
    let registrar: SocketAddr = (PROVIDER_V4, 5060).into();
    assert!(
        run.received.iter().any(|(_, l)| l == "SIP/2.0 200 OK"),
        "the PBX registered: {:?}",
        run.received
    );
    for (from, line) in &run.received {
        assert_eq!(*from, registrar, "the PBX received {line:?} from {from}");
    }
}

#[test]
fn the_kernel_alg_is_found_rewriting_the_pbx_own_register_and_the_pbx_sees_nothing_of_it() {
    let run = audited(Personality::SipAlg, "alice", Duration::from_secs(2));
    assert_pbx_undisturbed(&run);
    let aor = format!("sip:alice@{PROVIDER_V4}");
    let found = audits(&run, &aor);
    let compared = found
        .iter()
        .find(|a| a["outcome"] == "compared")
        .unwrap_or_else(|| panic!("no comparison for {aor}: {:?}", run.json));
    assert_eq!(compared["alg"], true, "{compared}");
    let rewritten: Vec<(&str, &str)> = compared["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["header"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    for header in ["Via", "Contact"] {
        assert!(
            rewritten.contains(&(header, "address_rewritten")),
            "{header} not rewritten in {rewritten:?}"
        );
    }
    let contact = compared["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["header"] == "Contact")
        .unwrap();
    assert_eq!(contact["before"], format!("<sip:alice@{PBX_V4}:5060>"));
    assert_eq!(
        contact["after"],
        format!("<sip:alice@{ROUTER_WAN_V4}:5060>")
    );
    assert!(consumed(&run) >= 1, "the echo's answer was consumed at XDP");
    // The same, as a Prometheus scraper reads it.
    let binding = format!(
        r#"aor="sip:alice@{PROVIDER_V4}",contact="sip:alice@{PBX_V4}:5060",registrar="sip:{PROVIDER_V4}""#
    );
    assert_eq!(
        sample(&run, r#"sipwatch_registrations{state="registered"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &run,
            &format!("sipwatch_registration_registered{{{binding}}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &run,
            &format!("sipwatch_registration_last_code{{{binding}}}")
        ),
        200.0
    );
    assert_eq!(
        sample(&run, r#"sipwatch_register_responses_total{code="200"}"#),
        1.0
    );
    assert!(
        sample(
            &run,
            r#"sipwatch_path_findings_total{kind="address_rewritten"}"#
        ) >= 2.0
    );
    assert_eq!(sample(&run, "sipwatch_path_alg_registrations{}"), 1.0);
    // Still 1 after the NAT lifetime results that follow the comparison.
    assert_eq!(
        sample(&run, &format!("sipwatch_path_alg{{{binding}}}")),
        1.0
    );
    assert_eq!(sample(&run, "sipwatch_registrations_active{}"), 1.0);
    let registered = sample(
        &run,
        r#"sipwatch_registration_attempts_total{outcome="registered"}"#,
    );
    assert!(registered >= 1.0);
    assert_eq!(
        sample(&run, "sipwatch_registration_request_delay_seconds_count{}"),
        registered
    );
    assert!(sample(&run, "sipwatch_shadows_sent_total{}") >= 1.0);
    assert!(sample(&run, "sipwatch_shadows_answered_total{}") >= 1.0);
    assert!(sample(&run, r#"sipwatch_packets_copied_total{direction="in"}"#) >= 1.0);
    assert_eq!(
        sample(&run, r#"sipwatch_packets_lost_total{direction="out"}"#),
        0.0
    );
}

#[test]
fn plain_nat_leaves_the_register_unchanged_and_its_mapping_is_reported() {
    let run = audited(Personality::PlainNat, "alice", Duration::from_secs(2));
    assert_pbx_undisturbed(&run);
    let found = audits(&run, &format!("sip:alice@{PROVIDER_V4}"));
    let compared = found
        .iter()
        .find(|a| a["outcome"] == "compared")
        .unwrap_or_else(|| panic!("no comparison: {:?}", run.json));
    assert_eq!(compared["findings"], serde_json::json!([]), "{compared}");
    assert_eq!(compared["alg"], false);
    assert_eq!(compared["nat_source"], format!("{ROUTER_WAN_V4}:5060"));
}

/// `--echo` given the registrar's own address: the first REGISTER the PBX
/// sends there shows it, the audit stops and XDP no longer consumes those
/// answers, so the PBX's retransmission is answered and it registers.
#[test]
fn an_echo_address_that_is_the_registrar_stops_the_audit_not_the_pbx() {
    let lab = lab(Personality::PlainNat);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let capture = attach_audited(&lab, Some(&PROVIDER_V4.to_string()), &[]);
    let pbx = pbx_udp_socket(&lab, Duration::from_millis(500));
    let request = register_once("alice");
    let mut buf = [0u8; 4096];
    let mut answered = false;
    // Sent again after T1 as a PBX does (RFC 3261 §17.1.2.2).
    for _ in 0..4 {
        pbx.send_to(request.as_bytes(), (PROVIDER_V4, 5060))
            .unwrap();
        if let Ok((n, _)) = pbx.recv_from(&mut buf) {
            answered = buf[..n].starts_with(b"SIP/2.0 200 OK");
            break;
        }
    }
    let json = stop_json(capture);
    assert!(answered, "the PBX never got its 200 OK: {json:?}");
    let summary = json.last().unwrap();
    assert!(
        summary["audit_stopped"]
            .as_str()
            .is_some_and(|s| s.contains("not a `sipwatch echo`")),
        "{summary}"
    );
    let alice = summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["aor"] == format!("sip:alice@{PROVIDER_V4}"))
        .unwrap_or_else(|| panic!("the PBX's registration is tracked: {summary}"));
    assert_eq!(alice["state"]["state"], "registered", "{alice}");
    // An answer consumed before the audit stopped is not blamed on the host.
    assert!(
        alice["diagnoses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] != "answer_not_delivered"),
        "{alice}"
    );
}

/// When sipwatch stops, the echo's NAT keep-alives still due stop too:
/// nothing reaches the PBX's port once XDP no longer consumes them.
#[test]
fn keep_alives_stop_with_sipwatch_and_never_reach_the_pbx() {
    let lab = lab(Personality::PlainNat);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let capture = attach_audited(&lab, None, &["--nat-gaps", "3"]);
    let pbx = pbx_udp_socket(&lab, Duration::from_millis(200));
    pbx.send_to(register_once("alice").as_bytes(), (PROVIDER_V4, 5060))
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let json = stop_json(capture);
    assert!(
        json.iter()
            .any(|v| v["type"] == "path_audit" && v["outcome"] == "compared"),
        "the shadow was answered: {json:?}"
    );
    // The keep-alive was due 3 s after the answer; listen past it.
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(5);
    let mut received = Vec::new();
    while Instant::now() < until {
        if let Ok((n, from)) = pbx.recv_from(&mut buf) {
            received.push((from, String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    }
    let registrar: SocketAddr = (PROVIDER_V4, 5060).into();
    assert!(
        received.iter().all(|(from, _)| *from == registrar),
        "after sipwatch stopped, the PBX received {received:?}"
    );
}

/// A REGISTER that times out (Timer F, 32 s) behind `personality`: the
/// leg the audit puts it on.
fn timeout_leg(personality: Personality, user: &str) -> String {
    let run = audited(personality, user, Duration::from_secs(36));
    let found = audits(&run, &format!("sip:{user}@{PROVIDER_V4}"));
    let located = found
        .iter()
        .find(|a| a["outcome"] == "timeout_located")
        .unwrap_or_else(|| panic!("timeout not located: {:?}", run.json));
    assert!(
        run.received.is_empty(),
        "nothing reached the PBX: {:?}",
        run.received
    );
    // The router's drops are in its own namespace: not this host's.
    assert!(
        run.json.iter().all(|v| v["type"] != "kernel_drop"),
        "{:?}",
        run.json
    );
    let leg = located["leg"].as_str().unwrap().to_owned();
    // The same, as a Prometheus scraper reads it.
    assert_eq!(
        sample(&run, r#"sipwatch_timeouts_total{method="REGISTER"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &run,
            &format!(r#"sipwatch_path_timeouts_total{{leg="{leg}"}}"#)
        ),
        1.0
    );
    assert_eq!(
        sample(&run, r#"sipwatch_registrations{state="timeout"}"#),
        1.0
    );
    leg
}

#[test]
fn a_timeout_behind_an_outbound_firewall_is_located_on_the_way_out() {
    assert_eq!(
        timeout_leg(Personality::DropOutbound, "carol"),
        "dropped_on_the_way_out"
    );
}

#[test]
fn a_timeout_behind_a_return_path_firewall_is_located_on_the_way_back() {
    assert_eq!(
        timeout_leg(Personality::DropReturn, "dave"),
        "lost_on_the_way_back"
    );
}

#[test]
fn a_nat_that_forgets_udp_mappings_after_3_s_is_measured_between_2_and_6_s() {
    let run = audited_with(
        Personality::PlainNat,
        "alice",
        Duration::from_secs(14),
        &["--nat-gaps", "1,2,6"],
        Some(3),
    );
    assert_pbx_undisturbed(&run);
    let found = audits(&run, &format!("sip:alice@{PROVIDER_V4}"));
    let lifetime = found
        .iter()
        .find(|a| a["outcome"] == "nat_lifetime")
        .unwrap_or_else(|| panic!("no NAT lifetime measured: {:?}", run.json));
    assert_eq!(
        (
            lifetime["at_least_s"].as_u64(),
            lifetime["less_than_s"].as_u64()
        ),
        (Some(2), Some(6)),
        "{lifetime}"
    );
    assert_eq!(lifetime["refresh_s"], 300);
    let binding = format!(
        r#"aor="sip:alice@{PROVIDER_V4}",contact="sip:alice@{PBX_V4}:5060",registrar="sip:{PROVIDER_V4}""#
    );
    assert_eq!(
        sample(
            &run,
            &format!("sipwatch_nat_mapping_lifetime_min_seconds{{{binding}}}")
        ),
        2.0
    );
    assert_eq!(
        sample(
            &run,
            &format!("sipwatch_nat_mapping_lifetime_max_seconds{{{binding}}}")
        ),
        6.0
    );
}

#[test]
fn a_pbx_registering_over_tcp_is_audited_over_tcp_and_the_alg_found() {
    use std::io::{Read, Write};
    let lab = lab(Personality::SipAlg);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let capture = attach_audited(&lab, None, &[]);
    let answer = lab
        .pbx
        .enter(|| {
            let mut pbx = std::net::TcpStream::connect((PROVIDER_V4, 5060)).unwrap();
            let port = pbx.local_addr().unwrap().port();
            let register = register_once("alice")
                .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
                .replace(
                    &format!("{PBX_V4}:5060;branch"),
                    &format!("{PBX_V4}:{port};branch"),
                );
            pbx.write_all(register.as_bytes()).unwrap();
            pbx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut buf = [0u8; 4096];
            let n = pbx.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .unwrap();
    assert!(answer.starts_with("SIP/2.0 200 OK"), "{answer}");
    std::thread::sleep(Duration::from_secs(2));
    let json = stop_json(capture);
    let compared = json
        .iter()
        .find(|v| v["type"] == "path_audit" && v["outcome"] == "compared")
        .unwrap_or_else(|| panic!("no TCP shadow compared: {json:?}"));
    assert_eq!(
        compared["binding"]["aor"],
        format!("sip:alice@{PROVIDER_V4}")
    );
    let contact = compared["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["header"] == "Contact")
        .unwrap_or_else(|| panic!("Contact not rewritten over TCP: {compared}"));
    assert_eq!(contact["kind"], "address_rewritten");
    assert_eq!(
        contact["after"],
        format!("<sip:alice@{ROUTER_WAN_V4}:5060>")
    );
}

/// baresip as the PBX: a real user agent registering with its password
/// (a 401 challenge answered) through the router's kernel SIP ALG. Its own
/// REGISTER is shadowed and the ALG found on its binding, which is
/// registered: the audit changed nothing for it.
#[test]
fn a_real_user_agent_registering_through_the_kernel_alg_is_found_rewritten() {
    use sipwatch_lab::baresip::{Account, Baresip};
    let lab = lab(Personality::SipAlg);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let capture = attach_audited(&lab, None, &[]);
    let aor = format!("sip:{}@{PROVIDER_V4}", sipwatch_lab::kamailio::USER);
    let pbx = Baresip::start(
        &lab.pbx,
        (PBX_V4, 5060).into(),
        &Account {
            aor: &aor,
            password: Some(sipwatch_lab::kamailio::PASSWORD),
            regint: 60,
        },
    )
    .unwrap_or_else(|e| panic!("baresip (cargo xtask setup installs baresip-core): {e}"));
    std::thread::sleep(Duration::from_secs(4));
    let json = stop_json(capture);
    drop(pbx);
    let summary = json.last().unwrap();
    let registration = summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["aor"] == aor)
        .unwrap_or_else(|| panic!("no registration of {aor}: {summary}"));
    assert_eq!(
        registration["state"]["state"], "registered",
        "{registration}"
    );
    let compared = json
        .iter()
        .find(|v| {
            v["type"] == "path_audit" && v["outcome"] == "compared" && v["binding"]["aor"] == aor
        })
        .unwrap_or_else(|| panic!("baresip's REGISTER not shadowed: {json:?}"));
    assert_eq!(compared["alg"], true, "{compared}");
    let contact = compared["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["header"] == "Contact")
        .unwrap_or_else(|| panic!("Contact not rewritten: {compared}"));
    assert_eq!(contact["kind"], "address_rewritten");
    assert!(
        contact["after"]
            .as_str()
            .is_some_and(|a| a.contains(&ROUTER_WAN_V4.to_string())),
        "{contact}"
    );
}

/// A PBX registering over UDP on IPv6 is shadowed over IPv6, from its own
/// address and port: the router's NAT66 mapping reported, nothing changed,
/// and the PBX's socket hears only its registrar.
#[test]
fn a_pbx_registering_over_udp_on_ipv6_is_audited_over_ipv6() {
    let lab = lab(Personality::PlainNat);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let capture = attach_audited(&lab, Some(&format!("[{ECHO_V6}]")), &[]);
    let pbx = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind((PBX_V6, 5060)))
        .unwrap()
        .unwrap();
    pbx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let register = register_once("alice")
        .replace(&PROVIDER_V4.to_string(), &format!("[{PROVIDER_V6}]"))
        .replace(&PBX_V4.to_string(), &format!("[{PBX_V6}]"));
    pbx.send_to(register.as_bytes(), (PROVIDER_V6, 5060))
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 65_536];
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok((n, from)) = pbx.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            received.push((from, text.lines().next().unwrap_or("").to_owned()));
        }
    }
    let json = stop_json(capture);
    let registrar: SocketAddr = (PROVIDER_V6, 5060).into();
    assert!(
        received.contains(&(registrar, "SIP/2.0 200 OK".to_owned())),
        "the PBX registered over IPv6: {received:?}"
    );
    assert!(
        received.iter().all(|(from, _)| *from == registrar),
        "{received:?}"
    );
    let compared = json
        .iter()
        .find(|v| v["type"] == "path_audit" && v["outcome"] == "compared")
        .unwrap_or_else(|| panic!("no IPv6 shadow compared: {json:?}"));
    assert_eq!(compared["findings"], serde_json::json!([]), "{compared}");
    assert_eq!(compared["nat_source"], format!("[{ROUTER_WAN_V6}]:5060"));
    let counters = &json.last().unwrap()["audit_counters"];
    assert_eq!(counters["skipped_transport"], 0, "{counters}");
    assert!(
        counters["shadows_answered"].as_u64() >= Some(1),
        "{counters}"
    );
}

/// nftables on the PBX host itself: REGISTERs from port 5060 dropped in
/// OUTPUT, answers to port 5062 dropped in INPUT. Both are this host's
/// doing, named with the kernel's reason (the drop tracer on `kfree_skb`),
/// and the audit does not misplace them on the path.
#[test]
fn the_pbx_hosts_own_firewall_is_named_with_the_kernels_reason_both_ways() {
    let lab = lab(Personality::PlainNat);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let _echo = echo_beside_the_registrar(&lab);
    let rules = format!(
        "table inet pbxfw {{
           chain out {{ type filter hook output priority 0; udp sport 5060 udp dport 5060 ip daddr {PROVIDER_V4} drop; }}
           chain in {{ type filter hook input priority 0; udp sport 5060 udp dport 5062 drop; }}
         }}"
    );
    lab.pbx
        .run_with_stdin(&["nft", "-f", "-"], Some(&rules))
        .unwrap();
    let capture = attach_audited(&lab, None, &["--metrics", METRICS]);
    // erin on 5060: its REGISTER never leaves (OUTPUT), so Timer F fires.
    let out_blocked = pbx_udp_socket(&lab, Duration::from_millis(200));
    let sent = out_blocked.send_to(register_once("erin").as_bytes(), (PROVIDER_V4, 5060));
    assert!(sent.is_err(), "the OUTPUT rule refuses the send: {sent:?}");
    // alice on 5062: registered, but the 200 OK is dropped in INPUT.
    let in_blocked = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind((PBX_V4, 5062)))
        .unwrap()
        .unwrap();
    in_blocked
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let alice =
        register_once("alice").replace(&format!("{PBX_V4}:5060"), &format!("{PBX_V4}:5062"));
    in_blocked
        .send_to(alice.as_bytes(), (PROVIDER_V4, 5060))
        .unwrap();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(35);
    let mut received = Vec::new();
    while Instant::now() < until {
        for socket in [&out_blocked, &in_blocked] {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                received.push((from, String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
        }
    }
    assert!(received.is_empty(), "nothing got through: {received:?}");
    let metrics = scrape(&lab);
    let json = stop_json(capture);
    let run = Run {
        json,
        metrics,
        received: Vec::new(),
    };

    let drops: Vec<&Value> = run
        .json
        .iter()
        .filter(|v| v["type"] == "kernel_drop")
        .collect();
    let leaving = drops
        .iter()
        .find(|d| d["way"] == "leaving")
        .unwrap_or_else(|| panic!("no drop leaving: {drops:?}"));
    assert_eq!(leaving["reason"], "NETFILTER_DROP");
    assert_eq!(leaving["chain"], "output");
    assert_eq!(leaving["src"], format!("{PBX_V4}:5060"));
    assert_eq!(
        leaving["start_line"],
        format!("REGISTER sip:{PROVIDER_V4} SIP/2.0")
    );
    let arriving = drops
        .iter()
        .find(|d| d["way"] == "arriving")
        .unwrap_or_else(|| panic!("no drop arriving: {drops:?}"));
    assert_eq!(arriving["reason"], "NETFILTER_DROP");
    assert_eq!(arriving["chain"], "input");
    assert_eq!(arriving["dst"], format!("{PBX_V4}:5062"));
    assert_eq!(arriving["start_line"], "SIP/2.0 200 OK");

    let summary = run.json.last().unwrap();
    let diagnosis = |user: &str, kind: &str| -> Value {
        summary["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"]["aor"] == format!("sip:{user}@{PROVIDER_V4}"))
            .flat_map(|r| r["diagnoses"].as_array().unwrap().iter())
            .find(|d| d["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} for {user}: {summary}"))
    };
    let timeout = diagnosis("erin", "timeout");
    assert_eq!(timeout["leg"], "dropped_on_this_host", "{timeout}");
    assert_eq!(timeout["left_this_host"], false);
    assert_eq!(timeout["dropped_on_this_host"]["reason"], "NETFILTER_DROP");
    assert_eq!(timeout["dropped_on_this_host"]["way"], "leaving");
    // The PBX never got alice's 200 OK: not registered, timed out.
    let alice = summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["aor"] == format!("sip:alice@{PROVIDER_V4}"))
        .unwrap();
    assert_eq!(alice["state"]["state"], "timeout", "{alice}");
    let lost = diagnosis("alice", "answer_not_delivered");
    assert_eq!(lost["code"], 200);
    assert_eq!(lost["dropped_on_this_host"]["reason"], "NETFILTER_DROP");
    assert_eq!(lost["dropped_on_this_host"]["way"], "arriving");
    // The audit does not put erin's timeout on the path.
    assert!(
        audits(&run, &format!("sip:erin@{PROVIDER_V4}"))
            .iter()
            .all(|a| a["outcome"] != "timeout_located"),
        "{:?}",
        run.json
    );
    assert_eq!(
        sample(
            &run,
            r#"sipwatch_kernel_drops_total{reason="NETFILTER_DROP",way="leaving"}"#
        ),
        1.0
    );
    assert!(
        sample(
            &run,
            r#"sipwatch_kernel_drops_total{reason="NETFILTER_DROP",way="arriving"}"#
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &run,
            r#"sipwatch_path_timeouts_total{leg="dropped_on_this_host"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &run,
            r#"sipwatch_path_timeouts_total{leg="answer_dropped_on_this_host"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&run, r#"sipwatch_registrations{state="registered"}"#),
        0.0
    );
}
