//! Registration diagnosis against a real registrar: Kamailio with digest
//! authentication in the provider namespace, sipsak registering from the
//! PBX. Each case is checked twice: from `sipwatch attach` in the lab, and
//! from `sipwatch analyze` of the capture `attach --write` made of the same
//! run. Needs root; fails, saying why, without.
mod support;

use std::{path::PathBuf, time::Duration};

use serde_json::Value;
use sipwatch_lab::{
    kamailio::{self, Kamailio},
    *,
};
use support::{asterisk_register, json_lines, lab, sipsak, stop_json, wait_until_attached};

struct Case {
    /// sipwatch attach --json output.
    live: Vec<Value>,
    /// sipwatch analyze --json of the written capture.
    analysed: Vec<Value>,
    /// The capture `attach --write` made, in a folder removed with the case.
    capture: PathBuf,
    _dir: tempfile::TempDir,
}

/// Runs sipwatch attach on the PBX while `client` runs, then analyses the
/// capture it wrote.
fn observe(lab: &Lab, test: &str, linger: Duration, client: impl FnOnce()) -> Case {
    let tmp = support::temp_dir(&format!("reg-{test}"));
    let dir = tmp.path();
    let file: PathBuf = dir.join("run.pcapng");
    let capture = lab
        .pbx
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PBX_IF,
            "--json",
            "--write",
            file.to_str().unwrap(),
        ])
        .unwrap();
    wait_until_attached(lab);
    client();
    std::thread::sleep(linger);
    // A last packet, so the capture's own clock has passed every timer the
    // live view fired on wall-clock time (as continuing traffic would).
    let ping = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind((PBX_V4, 5099)))
        .unwrap()
        .unwrap();
    let options = format!(
        "OPTIONS sip:{PROVIDER_V4} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX_V4}:5099;branch=z9hG4bK-ping-{test}\r\nFrom: <sip:ping@{PBX_V4}>;tag=p\r\nTo: <sip:{PROVIDER_V4}>\r\nCall-ID: ping-{test}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    ping.send_to(options.as_bytes(), (PROVIDER_V4, 5060))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let live = stop_json(capture);
    let analysed = std::process::Command::new(support::SIPWATCH)
        .args(["analyze", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        analysed.status.success(),
        "{}",
        String::from_utf8_lossy(&analysed.stderr)
    );
    Case {
        live,
        analysed: json_lines(&analysed.stdout),
        capture: file,
        _dir: tmp,
    }
}

/// The registration of `user` in the final summary.
fn registration<'a>(records: &'a [Value], user: &str) -> &'a Value {
    let summary = records
        .last()
        .filter(|s| s["type"] == "summary")
        .expect("summary last");
    summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["key"]["aor"]
                .as_str()
                .is_some_and(|a| a.contains(&format!("sip:{user}@")))
        })
        .unwrap_or_else(|| panic!("no registration for {user} in {summary}"))
}

/// Both views agree on the state and the diagnosis kind; returns the live one.
fn both<'a>(case: &'a Case, user: &str, state: &str, diagnosis: Option<&str>) -> &'a Value {
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let r = registration(records, user);
        assert_eq!(r["state"]["state"], state, "{view}: {r}");
        let kinds = support::diagnosis_kinds(r);
        match diagnosis {
            Some(kind) => assert!(kinds.contains(&kind), "{view}: wanted {kind} in {r}"),
            None => assert!(
                kinds
                    .iter()
                    .all(|k| ["nat_rewrites_via", "private_contact", "alg_sign"].contains(k)),
                "{view}: unexpected failure in {r}"
            ),
        }
    }
    registration(&case.live, user)
}

fn registrar(lab: &Lab) -> Kamailio {
    Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"))
}

#[test]
fn the_right_password_registers_after_the_digest_challenge() {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    let case = observe(&lab, "ok", Duration::from_millis(500), || {
        let reply = sipsak(
            &lab,
            "ok",
            &asterisk_register("reg", kamailio::USER, 1, 300),
            Some(kamailio::PASSWORD),
        );
        assert!(reply.contains("200 OK"), "{reply}");
    });
    let r = both(&case, kamailio::USER, "registered", None);
    assert_eq!(r["state"]["expires_s"], 300);
    assert_eq!(r["last_code"], 200);
    assert!(r["response_us"].is_u64(), "response time measured: {r}");
}

#[test]
fn a_wrong_password_is_diagnosed_with_user_and_realm() {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    let case = observe(&lab, "wrong", Duration::from_millis(500), || {
        sipsak(
            &lab,
            "wrong",
            &asterisk_register("reg", kamailio::USER, 1, 300),
            Some("not-the-password"),
        );
    });
    let r = both(
        &case,
        kamailio::USER,
        "rejected",
        Some("credentials_rejected"),
    );
    let d = &r["diagnoses"][0];
    assert_eq!(d["username"], kamailio::USER);
    assert_eq!(d["realm_asked"], kamailio::REALM);
    assert_eq!(r["state"]["code"], 401);

    // The same capture held against an Asterisk configuration: the digest
    // sipsak computed tells which password was sent.
    let said = |password_line: &str| analyze_with_password(&case, password_line);
    let sent = said("password = not-the-password");
    assert!(
        sent.contains("computed with exactly the password of [provider-auth]")
            && sent.contains("the registrar holds another password for this user")
            && !sent.contains("which Asterisk strips"),
        "{sent}"
    );
    let other = said("password = secret");
    assert!(
        other.contains("was not computed with the password of [provider-auth]")
            && other.contains("`pjsip reload`"),
        "{other}"
    );
    let quoted = said("password = \"not-the-password\"");
    assert!(
        quoted.contains("without the quotes the file has"),
        "{quoted}"
    );
    let pasted = said("password = not-the-password   ");
    assert!(
        pasted.contains("computed with exactly the password")
            && pasted.contains("spaces after it (pasted?), which Asterisk strips"),
        "{pasted}"
    );
    for text in [sent, other, quoted, pasted] {
        assert!(
            !text.contains("not-the-password"),
            "a password printed: {text}"
        );
    }
}

/// `sipwatch analyze` of the case's capture with a pjsip.conf whose auth
/// section has `password_line`; the failing registration's lines.
fn analyze_with_password(case: &Case, password_line: &str) -> String {
    let dir = support::temp_dir("pjsip-conf");
    std::fs::write(
        dir.path().join("pjsip.conf"),
        format!(
            "[provider-reg]\ntype=registration\nserver_uri=sip:{PROVIDER_V4}\n\
             client_uri=sip:{user}@{PROVIDER_V4}\noutbound_auth=provider-auth\n\n\
             [provider-auth]\ntype=auth\nusername={user}\n{password_line}\n",
            user = kamailio::USER
        ),
    )
    .unwrap();
    let out = std::process::Command::new(support::SIPWATCH)
        .arg("analyze")
        .arg(&case.capture)
        .arg("--config-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_unknown_user_a_forbidden_one_a_busy_registrar_and_a_short_expiry_are_told_apart() {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    let case = observe(&lab, "codes", Duration::from_millis(500), || {
        for (user, expires) in [
            ("ghost", 300),
            ("banned", 300),
            ("busy", 300),
            (kamailio::USER, 10),
        ] {
            sipsak(
                &lab,
                user,
                &asterisk_register("reg", user, 1, expires),
                Some(kamailio::PASSWORD),
            );
        }
    });
    let r = both(&case, "ghost", "rejected", Some("unknown_user"));
    assert_eq!(r["diagnoses"][0]["user"], "ghost");
    let r = both(&case, "banned", "rejected", Some("forbidden"));
    assert!(
        r["diagnoses"][0]["warning"]
            .as_str()
            .unwrap()
            .contains("account disabled")
    );
    assert_eq!(r["diagnoses"][0]["after_challenge"], false);
    let r = both(&case, "busy", "rejected", Some("unavailable"));
    assert_eq!(r["diagnoses"][0]["retry_after_s"], 30);
    let r = both(
        &case,
        kamailio::USER,
        "rejected",
        Some("interval_too_brief"),
    );
    assert_eq!(r["diagnoses"][0]["asked_s"], 10);
    assert_eq!(r["diagnoses"][0]["min_expires_s"], kamailio::MIN_EXPIRES);
}

/// A registrar that never answers (outbound drop) or whose answers never
/// come back (return-path drop): Timer F fires, the PBX would say 408.
fn timeout_case(personality: Personality, name: &str) {
    let lab = lab(personality);
    let _k = registrar(&lab);
    let tmp = support::temp_dir(&format!("timeout-{name}"));
    let dir = tmp.path();
    let file = dir.join("register.sip");
    std::fs::write(&file, asterisk_register("reg", kamailio::USER, 1, 300)).unwrap();
    let case = observe(&lab, name, Duration::from_secs(34), || {
        let target = format!("sip:{}@{PROVIDER_V4}", kamailio::USER);
        // sipsak retransmits on the RFC 3261 schedule until it gives up.
        let client = lab
            .pbx
            .spawn(&[
                "sipsak",
                "-f",
                file.to_str().unwrap(),
                "-s",
                &target,
                "-S",
                "-l",
                "5060",
                "--no-via",
                "--no-crlf",
            ])
            .unwrap();
        std::mem::forget(client); // ends by itself; the lab kills it at the latest
    });
    // Capture time must pass Timer F in the file too: a later ping does it,
    // as any continuing traffic would.
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let r = registration(records, kamailio::USER);
        assert_eq!(r["state"]["state"], "timeout", "{view}: {r}");
        let d = &r["diagnoses"][0];
        assert_eq!(d["kind"], "timeout", "{view}: {r}");
        assert!(
            d["sent"].as_u64().unwrap() >= 5,
            "{view}: retransmissions counted: {d}"
        );
        assert_eq!(d["left_this_host"], true, "{view}: {d}");
        assert_eq!(d["provisional_seen"], false);
    }
}

#[test]
fn a_registrar_behind_an_outbound_drop_times_out_after_timer_f() {
    timeout_case(Personality::DropOutbound, "out");
}

#[test]
fn answers_dropped_on_the_way_back_time_out_too() {
    timeout_case(Personality::DropReturn, "back");
}

#[test]
fn attach_table_redraws_the_registration_table_in_place() {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    let capture = lab
        .pbx
        .spawn(&[support::SIPWATCH, "attach", PBX_IF, "--table"])
        .unwrap();
    wait_until_attached(&lab);
    let reply = sipsak(
        &lab,
        "table",
        &asterisk_register("reg", kamailio::USER, 1, 300),
        Some(kamailio::PASSWORD),
    );
    assert!(reply.contains("200 OK"), "{reply}");
    std::thread::sleep(Duration::from_millis(2500));
    let out = capture
        .stop(libc::SIGTERM, Duration::from_secs(20))
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    // Redrawn at least once after the registration, in place.
    let last_frame = screen.rsplit("\x1b[H\x1b[2J").next().unwrap();
    assert!(screen.matches("\x1b[H\x1b[2J").count() >= 2, "{screen}");
    assert!(
        last_frame.contains("sip:1001@203.0.113.2") && last_frame.contains("Registered"),
        "{last_frame}"
    );
    assert!(
        !screen.contains("REGISTER sip:"),
        "no message log in the table view"
    );
}

/// The diagnosis kinds of `user`'s registration (or of the binding
/// `aor` names) in both views.
fn kinds_in_both(case: &Case, aor_part: &str) -> [Vec<String>; 2] {
    [&case.live, &case.analysed].map(|records| {
        let summary = records
            .last()
            .filter(|s| s["type"] == "summary")
            .expect("summary last");
        summary["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["key"]["aor"]
                    .as_str()
                    .is_some_and(|a| a.contains(aor_part))
            })
            .flat_map(|r| r["diagnoses"].as_array().unwrap().iter())
            .filter_map(|d| d["kind"].as_str().map(str::to_owned))
            .collect()
    })
}

#[test]
fn icmp_and_a_refused_connection_on_a_port_outside_the_sip_ports_are_told_live_as_from_the_file() {
    // Nothing listens on 5090 at the provider, a port `attach` does not
    // select: the REGISTER is sniffed as SIP, and so must be the port
    // unreachable that answers it and the TCP connection refused there.
    let lab = lab(Personality::PlainNat);
    let case = observe(&lab, "offport", Duration::from_secs(2), || {
        let udp = lab
            .pbx
            .enter(|| std::net::UdpSocket::bind((PBX_V4, 5070)))
            .unwrap()
            .unwrap();
        let text = asterisk_register("offport", "offport", 1, 300)
            .replace(&format!("{PBX_V4}:5060"), &format!("{PBX_V4}:5070"));
        for wait in [0, 500, 1000] {
            std::thread::sleep(Duration::from_millis(wait));
            udp.send_to(text.as_bytes(), (PROVIDER_V4, 5090)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
        let refused = lab
            .pbx
            .enter(|| {
                std::net::TcpStream::connect_timeout(
                    &(PROVIDER_V4, 5090).into(),
                    Duration::from_secs(3),
                )
            })
            .unwrap();
        assert!(refused.is_err(), "nothing listens on 5090");
    });
    let [live, analysed] = kinds_in_both(&case, "sip:offport@");
    assert!(live.iter().any(|k| k == "unreachable"), "attach: {live:?}");
    assert!(
        analysed.iter().any(|k| k == "unreachable"),
        "analyze: {analysed:?}"
    );
    // The refused connection to that endpoint is watched in both.
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let summary = records.last().unwrap();
        let faults = &summary["pipeline"]["connections"]["faults"];
        assert!(
            faults.as_u64().is_some_and(|n| n >= 1),
            "{view}: {faults} in {summary}"
        );
    }
    // Live, the kernel remembered both ends and forgot none.
    let kernel = &case.live.last().unwrap()["kernel"];
    assert!(
        kernel["egress"]["endpoints_remembered"]
            .as_u64()
            .is_some_and(|n| n >= 2),
        "{kernel}"
    );
    assert_eq!(kernel["sip_endpoints_forgotten"], 0, "{kernel}");
}

#[test]
fn endpoints_the_kernels_table_forgets_are_counted() {
    // SIP sniffed from 5,000 source ports to a port off the SIP ports:
    // 5,001 endpoints for a table of 4,096, least recently used evicted.
    let lab = lab(Personality::PlainNat);
    let case = observe(&lab, "forgotten", Duration::from_secs(1), || {
        lab.pbx
            .enter(|| {
                for port in 20_000..25_000u16 {
                    let udp = std::net::UdpSocket::bind((PBX_V4, port)).unwrap();
                    let text = format!(
                        "OPTIONS sip:{PROVIDER_V4}:5090 SIP/2.0\r\nCall-ID: {port}\r\n\r\n"
                    );
                    udp.send_to(text.as_bytes(), (PROVIDER_V4, 5090)).unwrap();
                }
            })
            .unwrap();
    });
    let summary = case.live.last().unwrap();
    let kernel = &summary["kernel"];
    let added = kernel["egress"]["endpoints_remembered"].as_u64().unwrap();
    let forgotten = kernel["sip_endpoints_forgotten"].as_u64().unwrap();
    assert_eq!(added, 5_001, "{kernel}");
    assert!(
        (5_001 - 4_096..=5_001).contains(&forgotten),
        "{forgotten} forgotten: {kernel}"
    );
}

#[test]
fn a_dead_first_target_is_named_after_registering_through_the_next_one() {
    // The provider's first target (5090) drops everything; the PBX gives
    // up on it at Timer F and registers through Kamailio on 5060 (what
    // Asterisk does over DNS SRV: a new transaction to the next target).
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    lab.provider
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some(
                "table inet dead_target {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tudp dport 5090 drop\n\t}\n}\n",
            ),
        )
        .unwrap();
    let case = observe(&lab, "failover", Duration::from_millis(500), || {
        let socket = support::pbx_udp_socket(&lab, Duration::from_millis(10));
        let first = asterisk_register("failover", kamailio::USER, 1, 300);
        let start = std::time::Instant::now();
        for at in [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
        ] {
            std::thread::sleep(Duration::from_millis(at).saturating_sub(start.elapsed()));
            socket
                .send_to(first.as_bytes(), (PROVIDER_V4, 5090))
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(32_200).saturating_sub(start.elapsed()));
        drop(socket);
        let reply = sipsak(
            &lab,
            "failover",
            &asterisk_register("failover", kamailio::USER, 2, 300),
            Some(kamailio::PASSWORD),
        );
        assert!(reply.contains("200 OK"), "{reply}");
    });
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let dead = dead_target_named(view, records, 5090);
        assert!(dead["sent"].as_u64().unwrap() >= 10, "{view}: {dead}");
    }
}

/// The one registration, registered through Kamailio on 5060, and its
/// `dead_target` hint naming the provider's `port`.
fn dead_target_named<'a>(view: &str, records: &'a [Value], port: u16) -> &'a Value {
    let r = registration(records, kamailio::USER);
    assert_eq!(r["state"]["state"], "registered", "{view}: {r}");
    let dead = r["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "dead_target")
        .unwrap_or_else(|| panic!("{view}: no dead_target in {r}"));
    assert_eq!(
        dead["dead"],
        format!("{PROVIDER_V4}:{port}"),
        "{view}: {dead}"
    );
    assert_eq!(
        dead["registered_through"],
        format!("{PROVIDER_V4}:5060"),
        "{view}: {dead}"
    );
    dead
}

/// Failover over TCP: the PBX's TCP connection to the provider's first
/// target (5080, a SIP port nothing answers on) never comes up, so no
/// REGISTER reaches it, and it registers over TCP through Kamailio on
/// 5060. With `dropped` the SYNs go unanswered (a firewall drops them),
/// else the connection is refused (RST). The dead target is named on the
/// registered binding, live and from the capture.
fn tcp_failover(test: &str, dropped: bool) {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    if dropped {
        lab.provider
            .run_with_stdin(
                &["nft", "-f", "-"],
                Some(
                    "table inet dead_target {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 5080 drop\n\t}\n}\n",
                ),
            )
            .unwrap();
    }
    let case = observe(&lab, test, Duration::from_millis(500), || {
        let first = lab
            .pbx
            .enter(|| {
                std::net::TcpStream::connect_timeout(
                    &(PROVIDER_V4, 5080).into(),
                    Duration::from_millis(3500),
                )
            })
            .unwrap();
        assert!(first.is_err(), "nothing answers on 5080");
        let text =
            asterisk_register(test, kamailio::USER, 1, 300).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        let reply = support::sipsak_over(&lab, test, &text, Some(kamailio::PASSWORD), "tcp");
        assert!(reply.contains("200 OK"), "{reply}");
    });
    let fault = if dropped { "no_answer" } else { "refused" };
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let summary = records.last().unwrap();
        let registrations = summary["registrations"].as_array().unwrap();
        assert_eq!(
            registrations.len(),
            1,
            "{view}: no binding of its own for the dead target: {registrations:?}"
        );
        let dead = dead_target_named(view, records, 5080);
        assert_eq!(dead["transport"], "TCP", "{view}: {dead}");
        assert_eq!(dead["connection"]["fault"], fault, "{view}: {dead}");
    }
}

#[test]
fn a_first_target_whose_tcp_syns_go_unanswered_is_named_after_registering_over_tcp() {
    tcp_failover("tcpdead", true);
}

#[test]
fn a_first_target_refusing_tcp_is_named_after_registering_over_tcp() {
    tcp_failover("tcprefused", false);
}

/// The router's WAN link narrowed to 576 bytes: the plain REGISTER fits,
/// the one with credentials does not, and leaves the PBX with Don't
/// Fragment set. With `drop_icmp`, the router's "fragmentation needed" is
/// dropped (a path-MTU black hole); else it reaches the PBX, MTU named.
fn mtu_case(name: &str, drop_icmp: bool) -> Case {
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    lab.router
        .run(&["ip", "link", "set", ROUTER_WAN_IF, "mtu", "576"])
        .unwrap();
    if drop_icmp {
        lab.router
            .run_with_stdin(
                &["nft", "-f", "-"],
                Some(
                    "table inet mtu_black_hole {\n\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t\ticmp type destination-unreachable icmp code frag-needed drop\n\t}\n}\n",
                ),
            )
            .unwrap();
    }
    let tmp = support::temp_dir(&format!("mtu-{name}"));
    let file = tmp.path().join("register.sip");
    std::fs::write(&file, asterisk_register(name, kamailio::USER, 1, 300)).unwrap();
    observe(&lab, name, Duration::from_secs(34), || {
        let target = format!("sip:{}@{PROVIDER_V4}", kamailio::USER);
        let client = lab
            .pbx
            .spawn(&[
                "sipsak",
                "-f",
                file.to_str().unwrap(),
                "-s",
                &target,
                "-S",
                "-l",
                "5060",
                "--no-via",
                "--no-crlf",
                "-a",
                kamailio::PASSWORD,
                "-u",
                kamailio::USER,
            ])
            .unwrap();
        std::mem::forget(client); // ends by itself; the lab kills it at the latest
    })
}

#[test]
fn credentials_lost_to_a_narrow_link_whose_icmp_is_dropped_are_a_path_mtu_black_hole() {
    let case = mtu_case("mtuhole", true);
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let r = registration(records, kamailio::USER);
        let d = &r["diagnoses"][0];
        assert_eq!(d["kind"], "large_request_unanswered", "{view}: {r}");
        assert!(d["bytes"].as_u64().unwrap() < 1300, "{view}: {d}");
    }
}

#[test]
fn credentials_refused_by_a_narrow_link_name_its_mtu() {
    let case = mtu_case("mtuicmp", false);
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let r = registration(records, kamailio::USER);
        let d = &r["diagnoses"][0];
        assert_eq!(d["kind"], "unreachable", "{view}: {r}");
        assert_eq!(d["icmp"], "fragmentation_needed", "{view}: {d}");
        assert_eq!(d["mtu"], 576, "{view}: {d}");
    }
}

#[test]
fn trunks_silenced_by_a_flood_ban_after_a_burst_are_told_the_ban_live_and_from_the_file() {
    // The provider's flood protection: past 12 packets in a burst from one
    // source, that source is banned (nftables dynamic sets).
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    lab.provider
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some(
                "table inet flood_ban {\n\tset banned {\n\t\ttype ipv4_addr\n\t\tflags dynamic, timeout\n\t\ttimeout 5m\n\t}\n\tset rate {\n\t\ttype ipv4_addr\n\t\tflags dynamic\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr @banned drop\n\t\tudp dport 5060 update @rate { ip saddr limit rate over 20/minute burst 12 packets } add @banned { ip saddr } drop\n\t}\n}\n",
            ),
        )
        .unwrap();
    let mut answered = 0;
    let case = observe(&lab, "flood", Duration::from_secs(34), || {
        // A PBX starting up registers its 16 trunks at once.
        let socket = support::pbx_udp_socket(&lab, Duration::from_millis(100));
        let mut buf = [0u8; 4096];
        for trunk in 0..16 {
            let text = asterisk_register("flood", &format!("trunk{trunk}"), 1, 300);
            socket
                .send_to(text.as_bytes(), (PROVIDER_V4, 5060))
                .unwrap();
            if socket.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
        }
    });
    assert!(
        (10..16).contains(&answered),
        "the burst passed, then the ban: {answered}"
    );
    for (view, records) in [("attach", &case.live), ("analyze", &case.analysed)] {
        let r = registration(records, "trunk15");
        let d = &r["diagnoses"][0];
        assert_eq!(d["kind"], "banned", "{view}: {r}");
        assert_eq!(d["rejections"], 0, "{view}: {d}");
        assert!(d["answered_burst"].as_u64().unwrap() >= 10, "{view}: {d}");
    }
}

#[test]
fn a_mirror_of_the_pbxs_outbound_leg_says_answers_not_in_this_capture_not_timeout() {
    // tcpdump keeps only what the PBX sends (a mirror of one leg): the
    // challenge and the 200 OK are not in the file, but the PBX answered
    // the challenge, so the REGISTER is no timeout.
    let lab = lab(Personality::PlainNat);
    let _k = registrar(&lab);
    let tmp = support::temp_dir("oneway");
    let file = tmp.path().join("outbound.pcap");
    let filter = format!("src host {PBX_V4}");
    let writer = lab
        .pbx
        .spawn(&[
            "tcpdump",
            "-i",
            PBX_IF,
            "-U",
            "-w",
            file.to_str().unwrap(),
            &filter,
        ])
        .unwrap();
    // Live, the same one leg: the router mirrors what arrives from the PBX
    // (tc mirred, as a switch's SPAN port would) to mir0, and `attach`
    // reads its peer mir1, where the copies arrive addressed to another
    // host (the kernel drops them as OTHERHOST once read).
    for argv in [
        &[
            "ip", "link", "add", "mir0", "type", "veth", "peer", "name", "mir1",
        ][..],
        &["ip", "link", "set", "mir0", "up"],
        &["ip", "link", "set", "mir1", "up"],
        &["tc", "qdisc", "add", "dev", ROUTER_LAN_IF, "clsact"],
        &[
            "tc",
            "filter",
            "add",
            "dev",
            ROUTER_LAN_IF,
            "ingress",
            "u32",
            "match",
            "u32",
            "0",
            "0",
            "action",
            "mirred",
            "egress",
            "mirror",
            "dev",
            "mir0",
        ],
    ] {
        lab.router.run(argv).unwrap();
    }
    let mirror = lab
        .router
        .spawn(&[support::SIPWATCH, "attach", "mir1", "--json"])
        .unwrap();
    let start = std::time::Instant::now();
    while !(file.exists()
        && lab
            .router
            .run(&["ip", "link", "show", "mir1"])
            .unwrap()
            .contains("xdp"))
    {
        assert!(start.elapsed() < Duration::from_secs(30), "not attached");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let reply = sipsak(
        &lab,
        "oneway",
        &asterisk_register("oneway", kamailio::USER, 1, 300),
        Some(kamailio::PASSWORD),
    );
    assert!(reply.contains("200 OK"), "registered on the wire: {reply}");
    // A later packet of the PBX moves the file's time past Timer F.
    std::thread::sleep(Duration::from_secs(33));
    let ping = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind((PBX_V4, 5099)))
        .unwrap()
        .unwrap();
    let options = format!(
        "OPTIONS sip:{PROVIDER_V4} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX_V4}:5099;branch=z9hG4bK-ping-oneway\r\nFrom: <sip:ping@{PBX_V4}>;tag=p\r\nTo: <sip:{PROVIDER_V4}>\r\nCall-ID: ping-oneway\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    ping.send_to(options.as_bytes(), (PROVIDER_V4, 5060))
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    writer.stop(libc::SIGINT, Duration::from_secs(10)).unwrap();
    let live = stop_json(mirror);
    let out = std::process::Command::new(support::SIPWATCH)
        .args(["analyze", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let analysed = json_lines(&out.stdout);
    for (view, records) in [("analyze", &analysed), ("attach on a mirror", &live)] {
        let r = registration(records, kamailio::USER);
        let kinds: Vec<&str> = r["diagnoses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["answers_not_captured"], "{view}: {r}");
        assert_ne!(r["state"]["state"], "timeout", "{view}: {r}");
        let summary = records.last().unwrap();
        assert_eq!(
            summary["pipeline"]["tracking"]["timeouts"], 0,
            "{view}: {summary}"
        );
        assert!(
            records
                .iter()
                .all(|e| e["type"] != "timeout" && e["type"] != "kernel_drop"),
            "{view}: no timeout, and a mirror's copies are no drops"
        );
    }
    // The mirror's copies were dropped as another host's, and counted so.
    let drops = &live.last().unwrap()["pipeline"]["kernel_drops"];
    assert!(
        drops["for_another_host"].as_u64().is_some_and(|n| n > 0),
        "{drops}"
    );
    assert_eq!(
        (&drops["leaving"], &drops["arriving"]),
        (&0.into(), &0.into()),
        "{drops}"
    );
}
