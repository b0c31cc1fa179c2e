//! SIP over TLS in the lab: Kamailio's `tls` module as the registrar, with
//! certificates this test makes, and a PBX registering over TLS 1.2 and 1.3
//! with Python's `ssl` (OpenSSL) writing a key log, as SSLKEYLOGFILE makes
//! Asterisk's OpenSSL do. Each run is seen four ways, which must agree with
//! each other and with what the same exchange gives over UDP: `sipwatch
//! attach --tls-keylog` live, `analyze` of the pcapng it wrote (its keys in
//! Decryption Secrets Blocks), `analyze --tls-keylog` of tcpdump's capture,
//! and `analyze` of that capture given its keys by `editcap
//! --inject-secrets`. tshark opens the written pcapng decrypted by itself.
//! Needs root; fails, saying why, without.
mod support;

use std::{path::Path, process::Command, time::Duration};

use serde_json::Value;
use sipwatch_lab::{
    kamailio::{self, Kamailio},
    pki::Pki,
    *,
};
use support::{json_lines, lab, registration_outcomes, stop_json, wait_until_attached};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tls_register.py");
/// The registrar's name, in its good certificate.
const NAME: &str = "sip.provider.lab";

/// What each view made of one run.
struct Views {
    /// `attach --json --tls-keylog`, live.
    live: Vec<Value>,
    /// `analyze --json` of the pcapng attach wrote (keys embedded).
    embedded: Vec<Value>,
    /// `analyze --json --tls-keylog` of tcpdump's pcap.
    keylog: Vec<Value>,
    /// `analyze --json` of tcpdump's pcap given its keys by editcap.
    editcap: Vec<Value>,
    /// tshark's SIP lines of the pcapng attach wrote.
    tshark: String,
}

impl Views {
    fn all(&self) -> [(&str, &Vec<Value>); 4] {
        [
            ("attach", &self.live),
            ("analyze of attach's pcapng", &self.embedded),
            ("analyze --tls-keylog of tcpdump's pcap", &self.keylog),
            ("analyze of editcap's pcapng", &self.editcap),
        ]
    }
}

fn run(argv: &[&str]) -> std::process::Output {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} (`cargo xtask setup` installs it): {e}", argv[0]));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `client(keylog)` in the PBX's namespace under `attach --write
/// --tls-keylog` and tcpdump, then reads what they captured every way.
fn observe(lab: &Lab, test: &str, client: impl FnOnce(&Path)) -> Views {
    let tmp = support::temp_dir(&format!("tls-{test}"));
    let dir = tmp.path().to_owned();
    let dir = dir.as_path();
    if std::env::var_os("SIPWATCH_KEEP").is_some() {
        eprintln!("keeping {}", dir.display());
        std::mem::forget(tmp);
    }
    // Not there yet: the PBX's TLS library creates it, attach waits for it.
    let keylog = dir.join("keys.log");
    let written = dir.join("run.pcapng");
    let dumped = dir.join("tcpdump.pcap");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let attach = lab
        .pbx
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PBX_IF,
            "--json",
            "--write",
            &path(&written),
            "--tls-port",
            "5061,5062,5063",
            "--tls-keylog",
            &path(&keylog),
        ])
        .unwrap();
    let tcpdump = lab
        .pbx
        .spawn(&[
            "tcpdump",
            "-i",
            PBX_IF,
            "--immediate-mode",
            "-U",
            "-w",
            &path(&dumped),
            "tcp",
        ])
        .unwrap();
    wait_until_attached(lab);
    std::thread::sleep(Duration::from_secs(1));
    client(&keylog);
    std::thread::sleep(Duration::from_secs(1));
    let live = stop_json(attach);
    tcpdump.stop(libc::SIGTERM, Duration::from_secs(5)).unwrap();
    let analyze = |args: &[&str]| {
        // The registrar's TLS ports, as attach was told them: a handshake
        // that fails off the SIP ports leaves no key to make it SIP's.
        let mut argv = vec![
            support::SIPWATCH,
            "analyze",
            "--json",
            "--port",
            "5060,5061,5062,5063",
        ];
        argv.extend(args);
        json_lines(&run(&argv).stdout)
    };
    let injected = dir.join("editcap.pcapng");
    run(&[
        "editcap",
        "--inject-secrets",
        &format!("tls,{}", path(&keylog)),
        &path(&dumped),
        &path(&injected),
    ]);
    let tshark = run(&support::tshark_sip_lines(&path(&written)));
    Views {
        live,
        embedded: analyze(&[&path(&written)]),
        keylog: analyze(&[&path(&dumped), "--tls-keylog", &path(&keylog)]),
        editcap: analyze(&[&path(&injected)]),
        tshark: String::from_utf8_lossy(&tshark.stdout).into_owned(),
    }
}

/// The PBX registers `user` with `password` over TLS `version` to `port`,
/// checking the certificate against `ca` for `NAME`; what it printed.
fn register(
    lab: &Lab,
    ca: &Path,
    keylog: &Path,
    port: u16,
    version: &str,
    user: &str,
    password: &str,
) -> String {
    lab.pbx
        .run(&[
            "python3",
            CLIENT,
            &PROVIDER_V4.to_string(),
            &port.to_string(),
            NAME,
            ca.to_str().unwrap(),
            keylog.to_str().unwrap(),
            version,
            user,
            password,
        ])
        .unwrap()
}

fn registrar(lab: &Lab, ports: &[kamailio::TlsPort]) -> Kamailio {
    Kamailio::start_tls(&lab.provider, ports).unwrap_or_else(|e| {
        panic!("Kamailio with TLS (`cargo xtask setup` installs kamailio-tls-modules): {e}")
    })
}

fn right_and_wrong_password_over(version: &str) {
    let lab = lab(Personality::PlainNat);
    let pki = Pki::new();
    let _k = registrar(&lab, &[support::tls_port(&pki, 5061, &[NAME], None, false)]);
    let ca = support::temp_dir("tls-ca");
    let ca = ca.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let views = observe(&lab, &format!("password-{version}"), |keylog| {
        let right = register(&lab, &ca, keylog, 5061, version, "1001", kamailio::PASSWORD);
        assert_eq!(
            right, "SIP/2.0 401 Unauthorized\nSIP/2.0 200 OK\n",
            "{right}"
        );
        let wrong = register(&lab, &ca, keylog, 5061, version, "1002", "not-the-password");
        assert!(wrong.ends_with("SIP/2.0 401 Unauthorized\n"), "{wrong}");
    });
    // As over UDP (registrations_lab.rs): registered after the challenge
    // (the PBX's private Contact and Via behind the lab's NAT noted), and
    // the wrong password diagnosed.
    let want = [
        format!(
            "\"sip:1001@{PROVIDER_V4}\" \"registered\" 200 [\"nat_rewrites_via\", \"private_contact\"]"
        ),
        format!("\"sip:1002@{PROVIDER_V4}\" \"rejected\" 401 [\"credentials_rejected\"]"),
    ];
    for (view, records) in views.all() {
        assert_eq!(registration_outcomes(records), want, "{view}");
        let messages: Vec<&Value> = records.iter().filter(|r| r["type"] == "message").collect();
        assert_eq!(messages.len(), 8, "{view}: four exchanges of two");
        assert!(
            messages.iter().all(|m| m["transport"] == "TLS"),
            "{view}: every message over TLS"
        );
        assert!(
            records.iter().all(|r| r["type"] != "tls_session"),
            "{view}: every session decrypted"
        );
    }
    assert_eq!(
        views.tshark.matches("REGISTER sip:").count(),
        4,
        "tshark reads the keys attach embedded: {}",
        views.tshark
    );
}

#[test]
fn over_tls12_the_right_password_registers_and_the_wrong_one_is_diagnosed() {
    right_and_wrong_password_over("1.2");
}

#[test]
fn over_tls13_the_right_password_registers_and_the_wrong_one_is_diagnosed() {
    right_and_wrong_password_over("1.3");
}

/// The one failed session of a view, by its server port.
fn failure(records: &[Value], port: u16) -> &Value {
    let server = format!("{PROVIDER_V4}:{port}");
    let s = records
        .iter()
        .find(|r| r["type"] == "tls_session" && r["server"] == server.as_str())
        .unwrap_or_else(|| panic!("no session with {server}"));
    &s["failure"]
}

#[test]
fn an_expired_certificate_and_a_name_mismatch_are_told_as_such() {
    let lab = lab(Personality::PlainNat);
    let pki = Pki::new();
    let _k = registrar(
        &lab,
        &[
            support::tls_port(&pki, 5061, &[NAME], None, false),
            support::tls_port(&pki, 5062, &[NAME], Some((2020, 1, 1)), false),
            support::tls_port(&pki, 5063, &["other.example"], None, false),
        ],
    );
    let ca = support::temp_dir("tls-ca");
    let ca = ca.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let views = observe(&lab, "handshakes", |keylog| {
        let expired = register(&lab, &ca, keylog, 5062, "1.2", "1001", kamailio::PASSWORD);
        assert!(expired.contains("certificate has expired"), "{expired}");
        let mismatch = register(&lab, &ca, keylog, 5063, "1.3", "1001", kamailio::PASSWORD);
        assert!(mismatch.contains("Hostname mismatch"), "{mismatch}");
    });
    for (view, records) in views.all() {
        let expired = failure(records, 5062);
        assert_eq!(
            (
                &expired["from"],
                &expired["alert"],
                &expired["certificate"]["kind"]
            ),
            (
                &"client".into(),
                &"certificate_expired".into(),
                &"expired".into()
            ),
            "{view}: {expired}"
        );
        let mismatch = failure(records, 5063);
        assert_eq!(
            (
                &mismatch["from"],
                &mismatch["alert"],
                &mismatch["certificate"]["kind"]
            ),
            (
                &"client".into(),
                &"bad_certificate".into(),
                &"name_mismatch".into()
            ),
            "{view}: {mismatch}"
        );
        assert_eq!(mismatch["certificate"]["asked"], NAME, "{view}");
    }
}
