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

/// python3 under a name of its own for this run and `tag` (the kernel's
/// `comm` is the name it was started by), so that `attach --process`
/// reads this test's PBX and no other test's Python; its path.
fn pbx_program(dir: &Path, tag: &str) -> (String, std::path::PathBuf) {
    let name = format!("pbx{}{tag}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "{name}: a comm holds 15 bytes");
    // The interpreter itself, not a wrapper (pyenv's shim) that would
    // look for a python of the link's name.
    let python = run(&["python3", "-c", "import sys; print(sys.executable)"]);
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let program = dir.join(&name);
    std::os::unix::fs::symlink(python, &program).unwrap();
    (name, program)
}

/// The plaintext probes' counts that are losses, from a summary.
fn plaintext_losses(records: &[Value]) -> Vec<&Value> {
    let summary = records.last().expect("a summary");
    summary["counts"]
        .as_array()
        .map(|counts| {
            counts
                .iter()
                .filter(|c| {
                    c["by"]
                        .as_str()
                        .is_some_and(|b| b.starts_with("TLS plaintext"))
                })
                .filter(|c| c["loss"] == true)
                .collect()
        })
        .unwrap_or_default()
}

/// No keys and nothing changed in either process: the PBX's TLS read in
/// clear by uprobes on its OpenSSL (`attach --process`, its name), and
/// the registrar's (`attach --pid`, Kamailio's processes), with OpenSSL
/// on the socket (Python's `ssl`, Kamailio) and on memory buffers moved
/// by the caller (as pjproject inside Asterisk does).
fn in_clear(version: &str, bio: &str, tag: &str) {
    let lab = lab(Personality::PlainNat);
    let pki = Pki::new();
    let kamailio = registrar(
        &lab,
        &[
            support::tls_port(&pki, 5061, &[NAME], None, false),
            support::tls_port(&pki, 5062, &[NAME], Some((2020, 1, 1)), false),
        ],
    );
    let tmp = support::temp_dir(&format!("tls-clear-{tag}"));
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (name, program) = pbx_program(tmp.path(), tag);
    let pbx = lab
        .pbx
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PBX_IF,
            "--json",
            "--tls-port",
            "5061,5062",
            "--process",
            &name,
        ])
        .unwrap();
    // The main process: its children, forked or to come, are read too.
    let main = kamailio.pid().to_string();
    let provider = lab
        .provider
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PROVIDER_IF,
            "--json",
            "--pid",
            &main,
        ])
        .unwrap();
    wait_until_attached(&lab);
    support::wait_for_xdp(&lab.provider, PROVIDER_IF);
    let keylog = tmp.path().join("unused-keys.log");
    let register_at = |port: &str, user: &str, password: &str| {
        lab.pbx
            .run(&[
                program.to_str().unwrap(),
                CLIENT,
                &PROVIDER_V4.to_string(),
                port,
                NAME,
                ca.to_str().unwrap(),
                keylog.to_str().unwrap(),
                version,
                user,
                password,
                bio,
            ])
            .unwrap()
    };
    let register = |user: &str, password: &str| register_at("5061", user, password);
    let right = register("1001", kamailio::PASSWORD);
    assert_eq!(
        right, "SIP/2.0 401 Unauthorized\nSIP/2.0 200 OK\n",
        "{right}"
    );
    let wrong = register("1002", "not-the-password");
    assert!(wrong.ends_with("SIP/2.0 401 Unauthorized\n"), "{wrong}");
    // What the probes cannot see, the NIC tells: a handshake refused.
    let expired = register_at("5062", "1001", kamailio::PASSWORD);
    assert!(expired.contains("certificate has expired"), "{expired}");
    std::thread::sleep(Duration::from_secs(1));
    let at_pbx = stop_json(pbx);
    let at_provider = stop_json(provider);
    // As over UDP, and as from the capture with its keys (above).
    let want = [
        format!(
            "\"sip:1001@{PROVIDER_V4}\" \"registered\" 200 [\"nat_rewrites_via\", \"private_contact\"]"
        ),
        format!("\"sip:1002@{PROVIDER_V4}\" \"rejected\" 401 [\"credentials_rejected\"]"),
    ];
    assert_eq!(registration_outcomes(&at_pbx), want, "at the PBX");
    let sessions: Vec<&Value> = at_pbx
        .iter()
        .filter(|r| r["type"] == "tls_session")
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "only the failed handshake is listed: {sessions:?}"
    );
    assert_eq!(
        sessions[0]["server"],
        format!("{PROVIDER_V4}:5062"),
        "{}",
        sessions[0]
    );
    let failure = &sessions[0]["failure"];
    if version == "1.2" {
        // TLS 1.2 shows the certificate and the client's alert in clear.
        assert_eq!(failure["alert"], "certificate_expired", "{failure}");
        assert_eq!(failure["certificate"]["kind"], "expired", "{failure}");
    } else {
        // TLS 1.3 encrypts both: the client ending the handshake is what
        // the wire shows without keys.
        assert_eq!(failure["by"], "client", "{failure}");
    }
    for (view, records, public) in [
        ("at the PBX", &at_pbx, false),
        ("at the registrar", &at_provider, true),
    ] {
        let messages: Vec<&Value> = records.iter().filter(|r| r["type"] == "message").collect();
        assert_eq!(
            messages.len(),
            8,
            "{view}: four exchanges of two: {messages:?}"
        );
        for m in &messages {
            assert_eq!(m["transport"], "TLS", "{view}: {m}");
            assert!(
                m["pid"].as_u64().is_some(),
                "{view}: read in a process: {m}"
            );
            let registrar_end = if m["direction"] == "out" {
                &m["dst"]
            } else {
                &m["src"]
            };
            let pbx_end = if m["direction"] == "out" {
                &m["src"]
            } else {
                &m["dst"]
            };
            let (registrar_end, pbx_end) = if public {
                (pbx_end, registrar_end)
            } else {
                (registrar_end, pbx_end)
            };
            assert_eq!(registrar_end, &format!("{PROVIDER_V4}:5061"), "{view}: {m}");
            // The PBX's end as each host's socket has it: private at the
            // PBX, the router's public address at the registrar (NAT).
            let ip = pbx_end.as_str().unwrap().rsplit_once(':').unwrap().0;
            let want_ip = if public {
                ROUTER_WAN_V4.to_string()
            } else {
                PBX_V4.to_string()
            };
            assert_eq!(ip, want_ip, "{view}: {m}");
        }
        let first = messages[0];
        let way = if public { "in" } else { "out" };
        assert_eq!(
            (
                first["direction"].as_str(),
                first["start_line"]["method"].as_str()
            ),
            (Some(way), Some("REGISTER")),
            "{view}: the REGISTER first, {way}"
        );
        assert!(
            plaintext_losses(records).is_empty(),
            "{view}: nothing lost: {:?}",
            plaintext_losses(records)
        );
    }
    // The registrar's view of the same two registrations.
    let outcomes = registration_outcomes(&at_provider);
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(outcomes[0].contains("\"registered\" 200"), "{outcomes:?}");
    assert!(
        outcomes[1].contains("\"rejected\" 401 [\"credentials_rejected\"]"),
        "{outcomes:?}"
    );
}

#[test]
fn in_clear_over_tls12_with_openssl_on_the_socket() {
    in_clear("1.2", "socket", "s2");
}

#[test]
fn in_clear_over_tls13_with_openssl_on_memory_buffers_as_pjproject() {
    in_clear("1.3", "memory", "m3");
}

/// `--pid` of no process, of a thread, of a kernel thread: refused,
/// saying why, before anything is attached; of a process without OpenSSL
/// yet: said, and the system's libssl probed; a path given to `--process`
/// is refused.
#[test]
fn the_probes_refuse_what_is_no_process_and_say_when_openssl_is_not_mapped() {
    let attach = |args: &[&str]| {
        let mut argv = vec![support::SIPWATCH, "attach", "lo", "--duration", "1"];
        argv.extend(args);
        Command::new(argv[0]).args(&argv[1..]).output().unwrap()
    };
    let refused = |args: &[&str]| {
        let out = attach(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = refused(&["--pid", "999999999"]);
    assert!(
        missing.contains("no process 999999999 (--pid)"),
        "{missing}"
    );
    let kernel = refused(&["--pid", "2"]);
    assert!(kernel.contains("2 is a kernel thread"), "{kernel}");
    let path = refused(&["--process", "/usr/sbin/asterisk"]);
    assert!(path.contains("not a path"), "{path}");
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let out = attach(&["--pid", &sleeper.id().to_string()]);
    sleeper.kill().unwrap();
    let _ = sleeper.wait();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("maps no OpenSSL libssl yet") && said.contains("--tls-keylog"),
        "{said}"
    );
}
