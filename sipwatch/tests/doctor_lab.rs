//! `sipwatch doctor` from the lab's PBX, through the router's plain NAT, to
//! the provider: dnsmasq there serves NAPTR, SRV and A records for the
//! provider's names (asked with `--dns`, or through the namespace's own
//! `/etc/netns/NAME/resolv.conf`: `Lab::use_dns`), Kamailio is the registrar. Each
//! checklist line is asserted. Needs root and dnsmasq (`cargo xtask setup`
//! installs it); fails, saying why, without.
mod support;

use std::time::{Duration, Instant};

use sipwatch_lab::{kamailio::Kamailio, *};
use support::{asterisk_register, lab, pbx_udp_socket};

/// dnsmasq at the provider, on its address, port 53: the lab's zone.
fn dnsmasq(lab: &Lab) -> NetnsChild {
    let p = PROVIDER_V4;
    let records = [
        "--local=/lab/".to_owned(),
        "--naptr-record=provider.lab,10,50,s,SIP+D2U,,_sip._udp.provider.lab".to_owned(),
        "--naptr-record=provider.lab,10,60,s,SIP+D2T,,_sip._tcp.provider.lab".to_owned(),
        "--srv-host=_sip._udp.provider.lab,sip.provider.lab,5060,10,100".to_owned(),
        "--srv-host=_sip._tcp.provider.lab,sip.provider.lab,5060,10,100".to_owned(),
        format!("--host-record=sip.provider.lab,{p}"),
        format!("--host-record=nosrv.lab,{p}"),
        "--srv-host=_sip._udp.broken.lab,gone.broken.lab,5060,10,0".to_owned(),
        format!("--host-record=broken.lab,{p}"),
    ];
    // The TLS cases: each domain's `_sips._tcp` SRV leads to its own port.
    let records: Vec<String> = records
        .into_iter()
        .chain(TLS_CASES.iter().flat_map(|(domain, port)| {
            [
                format!("--srv-host=_sips._tcp.{domain},sip.{domain},{port},10,100"),
                format!("--host-record=sip.{domain},{p}"),
            ]
        }))
        .collect();
    let listen = format!("--listen-address={p}");
    let mut argv = vec![
        "dnsmasq",
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--user=root",
        "--pid-file=",
        "--port=53",
        &listen,
    ];
    argv.extend(records.iter().map(String::as_str));
    let child = lab
        .provider
        .spawn(&argv)
        .unwrap_or_else(|e| panic!("dnsmasq (`cargo xtask setup` installs it): {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab
        .provider
        .run(&["ss", "-Hlun", "sport = :53"])
        .unwrap_or_default()
        .contains(":53")
    {
        assert!(Instant::now() < deadline, "dnsmasq does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs the doctor in the PBX's namespace: (exit code, stdout).
fn doctor(lab: &Lab, args: &[&str]) -> (i32, String) {
    let mut argv = vec![support::SIPWATCH, "doctor"];
    argv.extend(args);
    let out = lab.pbx.command(&argv).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.stderr.is_empty(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The doctor over UDP with `user` and `password`: (exit code, stdout).
fn with_credentials(lab: &Lab, dns: &str, user: &str, password: &str, json: bool) -> (i32, String) {
    let mut args = vec![
        "sip:provider.lab",
        "--dns",
        dns,
        "--transport",
        "udp",
        "--user",
        user,
        "--password",
        password,
    ];
    if json {
        args.push("--json");
    }
    doctor(lab, &args)
}

/// The doctor over UDP only, waiting 1 s: (exit code, stdout).
fn udp_for_a_second(lab: &Lab, target: &str) -> (i32, String) {
    doctor(lab, &[target, "--transport", "udp", "--timeout", "1"])
}

/// The line of `text` that starts with `start`, or a panic showing all.
fn line<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{text}"))
}

#[test]
fn the_checklist_in_the_lab() {
    let lab = lab(Personality::PlainNat);
    let _registrar = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let _dns = dnsmasq(&lab);
    let dns = PROVIDER_V4.to_string();

    // The whole checklist, right credentials.
    let (code, text) = doctor(
        &lab,
        &[
            "sip:provider.lab",
            "--dns",
            &dns,
            "--user",
            kamailio::USER,
            "--password",
            kamailio::PASSWORD,
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        line(&text, "✓ DNS").ends_with(&format!(
            "provider.lab resolves to 2 targets, asked {dns}:53 (--dns)"
        )),
        "{text}"
    );
    assert!(text.contains("    NAPTR provider.lab order 10 preference 50 flags \"s\" SIP+D2U → _sip._udp.provider.lab (TTL "), "{text}");
    assert!(text.contains("    SRV _sip._tcp.provider.lab priority 10 weight 100 port 5060 → sip.provider.lab (TTL "), "{text}");
    assert!(
        text.contains("      1. UDP 203.0.113.2:5060 (sip.provider.lab, from NAPTR → SRV)\n"),
        "{text}"
    );
    assert!(
        text.contains("      2. TCP 203.0.113.2:5060 (sip.provider.lab, from NAPTR → SRV)\n"),
        "{text}"
    );
    assert!(
        line(&text, "✓ UDP 203.0.113.2:5060").contains(": 200 OK in "),
        "{text}"
    );
    assert!(
        line(&text, "✓ TCP 203.0.113.2:5060").contains(": 200 OK in "),
        "{text}"
    );
    assert!(
        line(&text, "✓ public address").contains("the provider sees this host as 203.0.113.1:"),
        "{text}"
    );
    assert!(
        text.contains("; behind NAT: this host sends from 192.168.77.10:"),
        "{text}"
    );
    assert!(
        line(&text, "✓ credentials").ends_with(&format!(
            "the credentials work for sip:{}@provider.lab: the registrar holds 0 bindings",
            kamailio::USER
        )),
        "{text}"
    );
    assert!(
        text.contains("no binding: the PBX is not registered there now"),
        "{text}"
    );
    assert!(!text.contains(kamailio::PASSWORD), "{text}");

    // A wrong password, an unknown user, a banned account.
    let (code, text) = with_credentials(&lab, &dns, kamailio::USER, "wrong", false);
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ credentials").ends_with(&format!(
            "challenged again after the credentials for {}",
            kamailio::USER
        )),
        "{text}"
    );
    // The cause and fix are the tracker's, as a capture would say them.
    assert!(
        text.contains(&format!(
            "    cause: 401 Unauthorized to the REGISTER that answered the challenge: user {} for realm {}\n",
            kamailio::USER,
            kamailio::REALM
        )),
        "{text}"
    );
    let (code, text) = with_credentials(&lab, &dns, "busy", "x", false);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("    cause: 503 Service Unavailable, retry after 30 s\n"),
        "{text}"
    );
    let (code, text) = with_credentials(&lab, &dns, "ghost", "x", false);
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ credentials")
            .ends_with("404: the registrar does not know sip:ghost@provider.lab"),
        "{text}"
    );
    let (code, text) = with_credentials(&lab, &dns, "banned", "x", false);
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ credentials").contains(
            "403 Forbidden before any challenge (Warning: 399 provider.lab \"account disabled\")"
        ),
        "{text}"
    );

    // The bindings the registrar holds, left as they were.
    let pbx = pbx_udp_socket(&lab, Duration::from_secs(2));
    pbx.send_to(
        asterisk_register("doctor", "alice", 1, 300).as_bytes(),
        (PROVIDER_V4, 5060),
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = pbx.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let (code, text) = with_credentials(&lab, &dns, "alice", "x", true);
    assert_eq!(code, 0, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["type"], "doctor_report");
    assert_eq!(report["credentials"]["outcome"], "registered");
    let bindings = report["credentials"]["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1, "{report}");
    assert_eq!(bindings[0]["contact"], "sip:alice@192.168.77.10:5060");
    assert!(bindings[0]["expires_s"].as_u64().unwrap() > 250, "{report}");
    assert_eq!(
        report["public"]["public"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("203.0.113.1")
    );

    // DNS failures, each in words.
    let (code, text) = doctor(&lab, &["sip:nope.lab", "--dns", &dns]);
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ DNS").contains("the name does not exist (NXDOMAIN) for nope.lab"),
        "{text}"
    );
    let (code, text) = doctor(
        &lab,
        &["sip:nosrv.lab", "--dns", &dns, "--transport", "udp"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("    no SRV record: a PBX uses the name's A / AAAA records on port 5060 (5061 for TLS), RFC 3263 §4.2\n"), "{text}");
    let (code, text) = doctor(
        &lab,
        &["sip:broken.lab", "--dns", &dns, "--transport", "udp"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ DNS").contains("no SRV target of broken.lab has an address"),
        "{text}"
    );
    assert!(
        text.contains("points at gone.broken.lab, which has no address"),
        "{text}"
    );

    // No DNS server there: could not test.
    let (code, text) = doctor(
        &lab,
        &[
            "sip:provider.lab",
            "--dns",
            "203.0.113.99",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("could not test"), "{text}");
}

/// The router drops SIP on its way out: UDP has no answer after its
/// retransmissions, the TCP handshake times out; each named as such, and
/// the whole run costs about the documented timeouts.
#[test]
fn sip_dropped_by_the_router_is_told_as_timeouts() {
    let lab = lab(Personality::DropOutbound);
    let _registrar = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let start = Instant::now();
    let (code, text) = doctor(&lab, &["sip:203.0.113.2", "--timeout", "1"]);
    let took = start.elapsed();
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ UDP 203.0.113.2:5060").ends_with("no answer to 2 OPTIONS in 1.0 s"),
        "{text}"
    );
    assert!(
        line(&text, "✗ TCP 203.0.113.2:5060")
            .ends_with("the TCP handshake went unanswered for 1.0 s"),
        "{text}"
    );
    assert!(
        text.contains("    cause: the requests or their answers are dropped on the way"),
        "{text}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// ICMP errors are told apart and their sender named: a port nothing
/// listens on at the provider, a port the router rejects as
/// administratively prohibited, one it rejects with a port unreachable of
/// its own.
#[test]
fn icmp_errors_name_what_and_who() {
    let lab = lab(Personality::PlainNat);
    lab.router
        .run_with_stdin(
            &["nft", "-f", "-"],
            Some(&format!(
                "table inet doctor_reject {{\n\
                 \tchain forward {{\n\
                 \t\ttype filter hook forward priority filter - 1; policy accept;\n\
                 \t\tiifname \"{ROUTER_LAN_IF}\" udp dport 5070 reject with icmp type admin-prohibited\n\
                 \t\tiifname \"{ROUTER_LAN_IF}\" udp dport 5071 reject\n\
                 \t}}\n\
                 }}\n"
            )),
        )
        .unwrap();
    let (code, text) = udp_for_a_second(&lab, "sip:203.0.113.2:5099");
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ UDP 203.0.113.2:5099").ends_with(
            "ICMP port unreachable from 203.0.113.2: the host is there, nothing listens on UDP port 5099"
        ),
        "{text}"
    );
    let (code, text) = udp_for_a_second(&lab, "sip:203.0.113.2:5070");
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ UDP 203.0.113.2:5070").ends_with(&format!(
            "ICMP administratively prohibited from {ROUTER_LAN_V4}"
        )),
        "{text}"
    );
    assert!(
        text.contains("    cause: a firewall on the way rejects the traffic\n"),
        "{text}"
    );
    let (code, text) = udp_for_a_second(&lab, "sip:203.0.113.2:5071");
    assert_eq!(code, 2, "{text}");
    assert!(
        line(&text, "✗ UDP 203.0.113.2:5071")
            .contains(&format!("ICMP port unreachable from {ROUTER_LAN_V4}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("    cause: {ROUTER_LAN_V4}, not the target, refused the port: a firewall on the way rejects it\n")),
        "{text}"
    );
}

/// Without `--dns`, the doctor asks the resolver of its namespace
/// (`/etc/netns/NAME/resolv.conf`, which `ip netns exec` mounts over
/// `/etc/resolv.conf`): the lab's dnsmasq answers, and the line says so.
#[test]
fn without_dns_the_namespace_resolver_answers() {
    let lab = lab(Personality::PlainNat);
    let _registrar = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let _dns = dnsmasq(&lab);
    lab.use_dns(PROVIDER_V4.into()).unwrap();
    let resolv = format!("/etc/netns/{}/resolv.conf", lab.pbx.name());
    assert!(std::path::Path::new(&resolv).exists(), "{resolv}");
    let (code, text) = doctor(&lab, &["sip:provider.lab", "--transport", "udp"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        line(&text, "✓ DNS").ends_with(&format!(
            "provider.lab resolves to 1 target, asked {PROVIDER_V4} (from /etc/resolv.conf)"
        )),
        "{text}"
    );
    assert!(
        text.contains("      1. UDP 203.0.113.2:5060 (sip.provider.lab, from NAPTR → SRV)\n"),
        "{text}"
    );
    drop(lab);
    assert!(
        !std::path::Path::new(&resolv).exists(),
        "{resolv} left behind"
    );
}

/// The TLS registrar's domains and ports, one certificate each.
const TLS_CASES: [(&str, u16); 5] = [
    ("valid.lab", 5061),
    ("expired.lab", 5062),
    ("wrongname.lab", 5063),
    ("selfsigned.lab", 5064),
    ("srvonly.lab", 5065),
];

/// The TLS step's line for `address` (the reach step's line for the same
/// target starts the same way, with the OPTIONS' answer).
fn tls_line<'a>(text: &'a str, mark: &str, address: &str) -> &'a str {
    let start = format!("{mark} TLS {address}");
    text.lines()
        .find(|l| {
            l.starts_with(&start)
                && (l.contains(": certificate ") || l.contains(": the TLS handshake"))
        })
        .unwrap_or_else(|| panic!("no TLS line {start:?} in:\n{text}"))
}

/// Kamailio's TLS module with a certificate per port, the test's own: each
/// TLS checklist line, and TLS asked of the plain SIP port.
#[test]
fn each_tls_certificate_is_judged_on_its_own_line() {
    let lab = lab(Personality::PlainNat);
    let pki = pki::Pki::new();
    let ports = [
        support::tls_port(&pki, 5061, &["valid.lab", "sip.valid.lab"], None, false),
        support::tls_port(
            &pki,
            5062,
            &["expired.lab", "sip.expired.lab"],
            Some((2020, 1, 1)),
            false,
        ),
        support::tls_port(&pki, 5063, &["other.example"], None, false),
        support::tls_port(
            &pki,
            5064,
            &["selfsigned.lab", "sip.selfsigned.lab"],
            None,
            true,
        ),
        support::tls_port(&pki, 5065, &["sip.srvonly.lab"], None, false),
    ];
    let _registrar = Kamailio::start_tls(&lab.provider, &ports).unwrap_or_else(|e| {
        panic!("Kamailio with TLS (`cargo xtask setup` installs kamailio-tls-modules): {e}")
    });
    let _dns = dnsmasq(&lab);
    let dns = PROVIDER_V4.to_string();
    let ca =
        std::env::temp_dir().join(format!("sipwatch-doctor-lab-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let ca_path = ca.display().to_string();
    let tls = |domain: &str| {
        doctor(
            &lab,
            &[
                &format!("sip:{domain}"),
                "--dns",
                &dns,
                "--transport",
                "tls",
                "--ca",
                &ca_path,
            ],
        )
    };

    let (code, text) = tls("valid.lab");
    assert!(
        tls_line(&text, "✓", "203.0.113.2:5061").contains(": certificate verified, TLSv1_"),
        "{text}"
    );
    assert!(
        text.contains("    the SIP domain valid.lab is among the certificate's names\n"),
        "{text}"
    );
    assert!(
        line(&text, "✓ TLS 203.0.113.2:5061").contains(": 200 OK in "),
        "the OPTIONS over TLS: {text}"
    );
    assert_eq!(code, 0, "{text}");

    let (code, text) = tls("expired.lab");
    assert_eq!(code, 2, "{text}");
    tls_line(&text, "✗", "203.0.113.2:5062");
    assert!(
        text.contains("    cause: the certificate expired on 2020-01-01T00:00:00.000000Z\n"),
        "{text}"
    );

    let (code, text) = tls("wrongname.lab");
    assert_eq!(code, 2, "{text}");
    tls_line(&text, "✗", "203.0.113.2:5063");
    assert!(
        text.contains("    cause: the certificate covers other.example, not wrongname.lab\n"),
        "{text}"
    );

    let (code, text) = tls("selfsigned.lab");
    assert_eq!(code, 2, "{text}");
    assert!(
        tls_line(&text, "✗", "203.0.113.2:5064").contains(": certificate self-signed, not trusted"),
        "{text}"
    );
    assert!(
        text.contains(
            "    cause: the certificate is self-signed: no CA this host trusts vouches for it\n"
        ),
        "{text}"
    );

    let (code, text) = tls("srvonly.lab");
    tls_line(&text, "✓", "203.0.113.2:5065");
    assert!(
        text.contains("    the SIP domain srvonly.lab is not among the certificate's names\n"),
        "{text}"
    );
    assert!(
        text.contains("    the SRV target sip.srvonly.lab is among the certificate's names\n"),
        "{text}"
    );
    assert_eq!(code, 0, "{text}");

    // TLS asked of the plain SIP port.
    let (code, text) = doctor(
        &lab,
        &[
            "sip:203.0.113.2:5060",
            "--transport",
            "tls",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 2, "{text}");
    tls_line(&text, "✗", "203.0.113.2:5060");
    assert!(
        text.contains("    cause: the port does not speak TLS (plain SIP on it?)"),
        "{text}"
    );
    // Plain SIP sent to a TLS port.
    let (code, text) = doctor(
        &lab,
        &[
            "sip:203.0.113.2:5061",
            "--transport",
            "tcp",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 2, "{text}");
    line(&text, "✗ TCP 203.0.113.2:5061");
    assert!(text.contains("(TLS expected on this port?)"), "{text}");
    std::fs::remove_file(&ca).ok();
}
