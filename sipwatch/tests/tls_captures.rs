//! SIP over TLS read from captures with their keys: `analyze FILE
//! --tls-keylog KEYLOG`, and pcapng files that carry their keys in a
//! Decryption Secrets Block. The captures and key logs are in
//! `fixtures/tls/`, made by `fixtures/tls/make.py` (a Python `ssl` client
//! and server on loopback, tcpdump, the client's `SSLKEYLOGFILE`).
use std::{path::PathBuf, process::Command};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// `sipwatch analyze ARGS --json`: its JSON objects and its standard error.
fn analyze_json(args: &[&std::ffi::OsStr]) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let objects = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (objects, stderr)
}

fn of_type<'a>(objects: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    objects.iter().filter(|o| o["type"] == kind).collect()
}

/// The first lines of the SIP messages, in order.
fn first_lines(objects: &[serde_json::Value]) -> Vec<String> {
    of_type(objects, "message")
        .iter()
        .map(|m| {
            assert_eq!(m["transport"], "TLS", "{m}");
            let l = &m["start_line"];
            match l["kind"].as_str().unwrap() {
                "request" => format!(
                    "{} {} SIP/2.0",
                    l["method"].as_str().unwrap(),
                    l["uri"].as_str().unwrap()
                ),
                _ => format!("SIP/2.0 {} {}", l["code"], l["reason"].as_str().unwrap()),
            }
        })
        .collect()
}

fn registration_states(objects: &[serde_json::Value]) -> Vec<String> {
    let summary = of_type(objects, "summary")[0];
    summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"]["state"].as_str().unwrap().to_owned())
        .collect()
}

const EXCHANGE: [&str; 4] = [
    "REGISTER sip:provider.lab SIP/2.0",
    "SIP/2.0 401 Unauthorized",
    "REGISTER sip:provider.lab SIP/2.0",
    "SIP/2.0 200 OK",
];

fn decrypts(name: &str) {
    let (objects, stderr) = analyze_json(&[
        fixture(&format!("{name}.pcap")).as_os_str(),
        "--tls-keylog".as_ref(),
        fixture(&format!("{name}.keys")).as_os_str(),
    ]);
    assert_eq!(first_lines(&objects), EXCHANGE, "{stderr}");
    assert_eq!(registration_states(&objects), ["registered"]);
    assert!(of_type(&objects, "tls_session").is_empty());
    let tls = &of_type(&objects, "summary")[0]["pipeline"]["assembly"]["tls"];
    assert_eq!(
        (tls["sessions"].as_u64(), tls["decrypted"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn tls12_aes_256_gcm_on_5061_is_decrypted_with_its_key_log() {
    decrypts("tls12-register");
}

#[test]
fn tls12_chacha20_poly1305_is_decrypted_with_its_key_log() {
    decrypts("tls12-chacha-register");
}

#[test]
fn tls13_aes_256_gcm_on_another_port_is_found_by_its_content_and_decrypted() {
    decrypts("tls13-register");
}

/// `openssl s_client -ciphersuites` offered only the suite: one REGISTER
/// with credentials, registered.
fn decrypts_one_register(name: &str) {
    let (objects, stderr) = analyze_json(&[
        fixture(&format!("{name}.pcap")).as_os_str(),
        "--tls-keylog".as_ref(),
        fixture(&format!("{name}.keys")).as_os_str(),
    ]);
    assert_eq!(
        first_lines(&objects),
        [EXCHANGE[2], EXCHANGE[3]],
        "{stderr}"
    );
    assert_eq!(registration_states(&objects), ["registered"]);
}

#[test]
fn tls13_aes_128_gcm_is_decrypted_with_its_key_log() {
    decrypts_one_register("tls13-aes128-register");
}

#[test]
fn tls13_chacha20_poly1305_is_decrypted_with_its_key_log() {
    decrypts_one_register("tls13-chacha-register");
}

#[test]
fn a_resumed_tls12_session_is_decrypted_like_a_full_one() {
    let (objects, stderr) = analyze_json(&[
        fixture("tls12-resumed-register.pcap").as_os_str(),
        "--tls-keylog".as_ref(),
        fixture("tls12-resumed-register.keys").as_os_str(),
    ]);
    let one = [EXCHANGE[2], EXCHANGE[3]];
    assert_eq!(first_lines(&objects), [one, one].concat(), "{stderr}");
    let tls = &of_type(&objects, "summary")[0]["pipeline"]["assembly"]["tls"];
    assert_eq!(
        (tls["sessions"].as_u64(), tls["decrypted"].as_u64()),
        (Some(2), Some(2))
    );
}

#[test]
fn tls13_after_a_hello_retry_request_is_decrypted() {
    // The server takes only secp384r1; the client's first key share is X25519.
    decrypts_one_register("tls13-retry-register");
}

/// The one `tls_session` object of a run.
fn session(objects: &[serde_json::Value]) -> &serde_json::Value {
    let sessions = of_type(objects, "tls_session");
    assert_eq!(sessions.len(), 1, "{objects:?}");
    sessions[0]
}

#[test]
fn a_session_without_its_key_is_listed_with_its_addresses_sni_version_and_cipher() {
    // The TLS 1.3 capture's key log holds another session's secrets.
    let (objects, _) = analyze_json(&[
        fixture("tls12-register.pcap").as_os_str(),
        "--tls-keylog".as_ref(),
        fixture("tls13-register.keys").as_os_str(),
    ]);
    assert!(of_type(&objects, "message").is_empty());
    let s = session(&objects);
    assert_eq!(s["unreadable"], "no_key");
    assert_eq!(s["server"], "127.0.0.1:5061");
    assert_eq!(s["sni"], "sip.provider.lab");
    assert_eq!(s["version"], "TLS 1.2");
    assert_eq!(s["cipher"], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(s["failure"], serde_json::Value::Null);
}

#[test]
fn the_text_summary_tells_why_a_session_was_not_decrypted() {
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .arg(fixture("tls12-register.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "(sip.provider.lab, TLS 1.2, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384): not decrypted: no key for this session's client random"
        ),
        "{text}"
    );
}

#[test]
fn tls_off_the_sip_ports_without_its_key_is_passed_over_as_not_sip() {
    // Port 7443: it could as well be a web page; only its key makes it SIP's.
    let (objects, _) = analyze_json(&[fixture("tls13-register.pcap").as_os_str()]);
    assert!(of_type(&objects, "tls_session").is_empty());
    let assembly = &of_type(&objects, "summary")[0]["pipeline"]["assembly"];
    assert_eq!(assembly["not_sip"]["tcp_streams"], 2, "{assembly}");
    assert_eq!(assembly["tcp"]["lost_bytes"], 0, "{assembly}");
}

#[test]
fn a_wrong_secret_for_the_right_session_is_told_apart_from_a_missing_one() {
    let keys = std::fs::read_to_string(fixture("tls12-register.keys")).unwrap();
    // The master secret's last byte changed.
    let line = keys
        .lines()
        .find(|l| l.starts_with("CLIENT_RANDOM"))
        .unwrap();
    let last = line.chars().last().unwrap();
    let changed = format!(
        "{}{}",
        &line[..line.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.keys");
    std::fs::write(&wrong, changed).unwrap();
    let (objects, _) = analyze_json(&[
        fixture("tls12-register.pcap").as_os_str(),
        "--tls-keylog".as_ref(),
        wrong.as_os_str(),
    ]);
    assert_eq!(session(&objects)["unreadable"], "wrong_key");
}

#[test]
fn a_malformed_key_log_line_is_named_and_the_others_still_decrypt() {
    let keys = std::fs::read_to_string(fixture("tls13-register.keys")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.keys");
    // A garbled first line, and the log cut in the middle of its last line
    // (the exporter secret, which decryption does not need).
    let mut text = format!("CLIENT_RANDOM nothex 00\n{keys}");
    text.push_str("EXPORTER_SECRET 0011");
    std::fs::write(&path, text).unwrap();
    let (objects, stderr) = analyze_json(&[
        fixture("tls13-register.pcap").as_os_str(),
        "--tls-keylog".as_ref(),
        path.as_os_str(),
    ]);
    assert!(
        stderr.contains(&format!(
            "{}, line 1: the client random is not 64 hex digits",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(", line 8: "), "{stderr}");
    assert_eq!(first_lines(&objects), EXCHANGE);
}

#[test]
fn a_key_log_that_cannot_be_read_is_an_error_that_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .arg(fixture("tls13-register.pcap"))
        .args(["--tls-keylog", "/nonexistent/keys.log"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reading the TLS key log /nonexistent/keys.log"),
        "{stderr}"
    );
}

/// `editcap --inject-secrets tls,KEYS IN OUT` (Wireshark's editcap: `cargo
/// xtask setup` installs it with tshark).
fn inject_secrets(name: &str, dir: &std::path::Path) -> PathBuf {
    let out = dir.join(format!("{name}.pcapng"));
    let status = Command::new("editcap")
        .arg("--inject-secrets")
        .arg(format!(
            "tls,{}",
            fixture(&format!("{name}.keys")).display()
        ))
        .arg(fixture(&format!("{name}.pcap")))
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("editcap (`cargo xtask setup` installs tshark): {e}"));
    assert!(status.success());
    out
}

#[test]
fn a_pcapng_with_a_decryption_secrets_block_needs_no_key_log() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tls12-register", "tls13-register"] {
        let pcapng = inject_secrets(name, dir.path());
        let (objects, stderr) = analyze_json(&[pcapng.as_os_str()]);
        assert_eq!(first_lines(&objects), EXCHANGE, "{name}: {stderr}");
        assert_eq!(registration_states(&objects), ["registered"]);
    }
}

#[test]
fn a_capture_cut_in_the_handshake_tells_so_and_keeps_what_came_before() {
    // The TLS 1.2 capture cut after the ClientHello, in the middle of the
    // ServerHello's frame.
    let whole = std::fs::read(fixture("tls12-register.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..1500]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .arg(&cut)
        .arg("--tls-keylog")
        .arg(fixture("tls12-register.keys"))
        .output()
        .unwrap();
    let (text, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("then stopped: the file ends in the middle of"),
        "{stderr}"
    );
    assert!(
        text.contains("(sip.provider.lab, version not seen, cipher not seen): not decrypted: the capture ended during the handshake"),
        "{text}"
    );
}

/// The one session of a failed handshake's fixture, with its key log or
/// without.
fn failed(name: &str, with_keys: bool) -> serde_json::Value {
    let pcap = fixture(&format!("{name}.pcap"));
    let keys = fixture(&format!("{name}.keys"));
    let mut args = vec![pcap.as_os_str()];
    if with_keys {
        args.extend(["--tls-keylog".as_ref(), keys.as_os_str()]);
    }
    let (objects, _) = analyze_json(&args);
    let s = session(&objects).clone();
    assert_eq!(s["decrypted"], false);
    s
}

#[test]
fn an_expired_certificate_is_told_with_the_alert_and_its_date() {
    let s = failed("tls12-expired-failed", false);
    let f = &s["failure"];
    assert_eq!(
        (&f["kind"], &f["from"], &f["alert"]),
        (
            &"alert".into(),
            &"client".into(),
            &"certificate_expired".into()
        ),
        "{s}"
    );
    assert_eq!(f["certificate"]["kind"], "expired", "{s}");
    assert_eq!(
        s["unreadable"],
        serde_json::Value::Null,
        "a failed handshake has nothing to read"
    );
}

#[test]
fn a_name_mismatch_in_tls13_is_told_from_the_certificate_the_key_log_opens() {
    let s = failed("tls13-wrongname-failed", true);
    let f = &s["failure"];
    assert_eq!(
        (&f["from"], &f["alert"]),
        (&"client".into(), &"bad_certificate".into()),
        "{s}"
    );
    assert_eq!(f["certificate"]["kind"], "name_mismatch", "{s}");
    assert_eq!(f["certificate"]["asked"], "sip.provider.lab");
    assert_eq!(
        f["certificate"]["names"],
        serde_json::json!(["other.example"])
    );
    // Without the key log the certificate stays encrypted: the alert alone.
    let s = failed("tls13-wrongname-failed", false);
    assert_eq!(s["failure"]["alert"], "bad_certificate");
    assert!(s["failure"].get("certificate").is_none(), "{s}");
}

#[test]
fn an_unknown_ca_and_a_version_mismatch_are_told_with_the_side_that_refused() {
    let s = failed("tls12-unknownca-failed", false);
    assert_eq!(
        (&s["failure"]["from"], &s["failure"]["alert"]),
        (&"client".into(), &"unknown_ca".into())
    );
    let s = failed("tls-version-failed", false);
    assert_eq!(
        (
            &s["failure"]["from"],
            &s["failure"]["alert"],
            &s["failure"]["stage"]
        ),
        (
            &"server".into(),
            &"protocol_version".into(),
            &"client_hello".into()
        )
    );
}

#[test]
fn the_summary_words_a_handshake_failure_with_its_asterisk_fix() {
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .arg(fixture("tls12-unknownca-failed.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("handshake failed: the client 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("rejected the server's certificate: fatal alert unknown_ca"),
        "{text}"
    );
    assert!(text.contains("  fix: give Asterisk the CA that issued the provider's certificate: PJSIP transport `ca_list_file=`"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .arg(fixture("tls-version-failed.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("shares no TLS version with the other side: fatal alert protocol_version"),
        "{text}"
    );
    assert!(text.contains("PJSIP transport `method=tlsv1_2`"), "{text}");
}

#[test]
fn a_key_log_for_another_session_loses_nothing_else_of_the_capture() {
    // A UDP capture and a TLS one merged (mergecap, with editcap); the key
    // log is the TLS 1.3 session's, not this TLS 1.2 one's.
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged.pcapng");
    let status = Command::new("mergecap")
        .arg("-w")
        .arg(&merged)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/wildcard-unregister.pcap"),
        )
        .arg(fixture("tls12-register.pcap"))
        .status()
        .unwrap_or_else(|e| {
            panic!("mergecap (`cargo xtask setup` installs wireshark-common): {e}")
        });
    assert!(status.success());
    let (objects, _) = analyze_json(&[
        merged.as_os_str(),
        "--tls-keylog".as_ref(),
        fixture("tls13-register.keys").as_os_str(),
    ]);
    let summary = of_type(&objects, "summary")[0];
    assert_eq!(summary["pipeline"]["messages"], 7, "every UDP message");
    assert_eq!(registration_states(&objects), ["unregistered"]);
    assert_eq!(session(&objects)["unreadable"], "no_key");
}
