//! `sipwatch lint` on a hand-made Asterisk configuration
//! (tests/fixtures/asterisk/: pjsip.conf with an included pjsip.d/,
//! pjsip_wizard.conf, sip.conf), one classic mistake per trunk: each
//! finding's file:line, section and fix, the exit code, and the JSON.
//! No root needed.
use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk")
}

fn lint(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("lint")
        .arg("--config-dir")
        .arg(dir())
        .args(args)
        .output()
        .expect("sipwatch runs");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).expect("UTF-8"),
    )
}

/// (file, line, section, kind, a piece of the fix)
#[rustfmt::skip]
const EXPECTED: &[(&str, u32, &str, &str, &str)] = &[
    ("pjsip.conf", 12, "transport-udp", "nat_unconfigured", "external_signaling_address=<your public address>"),
    ("pjsip.conf", 32, "provider-a-auth", "password_trailing_space", "remove the trailing whitespace"),
    ("pjsip.conf", 43, "provider-a-identify", "identify_by_hostname", "signalling addresses or networks"),
    ("pjsip.conf", 48, "provider-b-auth", "account_id_as_username", "often bob"),
    ("pjsip.conf", 49, "provider-b-auth", "password_cut_by_comment", "as `\\;`"),
    ("pjsip.conf", 64, "provider-c-auth", "auth_type_md5", "auth_type=userpass"),
    ("pjsip.conf", 66, "provider-c-auth", "password_quoted", "remove the quotes"),
    ("pjsip.conf", 66, "provider-c-auth", "password_special", "letters and digits"),
    ("pjsip.conf", 68, "provider-c-reg", "forbidden_retry_zero", "forbidden_retry_interval=300"),
    ("pjsip.conf", 73, "provider-c-reg", "max_retries_low", "raise max_retries"),
    ("pjsip.conf", 74, "provider-c-reg", "expiration_low", "60 or more"),
    ("pjsip.conf", 80, "provider-c-identify", "identify_by_hostname", "signalling addresses or networks"),
    ("pjsip.conf", 105, "provider-c", "reference_dangling", "add [transport-tls] with type=transport"),
    ("pjsip.conf", 121, "provider-i-reg", "transport_mismatch", "a transport with protocol=tcp"),
    ("pjsip.conf", 123, "provider-i-reg", "unknown_option", "write retry_interval"),
    ("pjsip.conf", 124, "provider-i-reg", "bad_value", "a whole number of seconds"),
    ("pjsip.conf", 127, "provider-i-reg2", "unknown_type", "write type=registration"),
    ("pjsip.conf", 133, "provider-i-again", "same_aor_twice", "one registration per AOR"),
    ("pjsip.conf", 135, "provider-i-again", "uri_cut_by_comment", "sip:proxy.example.net\\;lr"),
    ("pjsip.conf", 142, "provider-i", "from_differs", "from_user=ivan"),
    ("pjsip.conf", 144, "provider-i", "duplicate_section", "[name](+)"),
    ("pjsip.d/provider-d.conf", 3, "provider-d-reg", "outbound_auth_missing", "add outbound_auth="),
    ("pjsip.d/provider-d.conf", 5, "provider-d-reg", "no_identify", "match=sip.provider-d.example.net"),
    ("pjsip.d/provider-d.conf", 13, "provider-e", "reference_dangling", "add [provider-e] with type=aor"),
    ("pjsip.d/provider-d.conf", 19, "provider-e-reg", "outbound_auth_dangling", "add [provider-e] with type=auth"),
    ("pjsip.d/provider-d.conf", 26, "provider-e-identify", "identify_by_hostname", "signalling addresses or networks"),
    ("pjsip_wizard.conf", 10, "provider-f", "forbidden_retry_zero", "set registration/forbidden_retry_interval=300"),
    ("pjsip_wizard.conf", 15, "provider-f", "password_quoted", "remove the quotes"),
    ("sip.conf", 10, "provider-g", "chan_sip_users_swapped", "defaultuser=5551234"),
    ("sip.conf", 17, "provider-h", "chan_sip_username_and_defaultuser", "keep only defaultuser"),
];

#[test]
fn every_classic_mistake_is_found_at_its_file_and_line_with_its_fix() {
    let (code, text) = lint(&[]);
    assert_eq!(code, 2, "findings exit 2:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), EXPECTED.len() + 1, "{text}");
    for (line, (file, n, section, _, fix)) in lines.iter().zip(EXPECTED) {
        let place = format!("{}:{n} [{section}]", dir().join(file).display());
        assert!(line.starts_with(&place), "{line}\nwanted {place}");
        let (_, after) = line.split_once(" Fix: ").expect("a fix");
        assert!(after.contains(fix), "{line}\nwanted the fix {fix:?}");
    }
    assert!(
        lines.last().unwrap().ends_with(
            "4 files read, 30 findings: 18 break the registration or its calls, 12 risks."
        ),
        "{text}"
    );
}

#[test]
fn no_password_is_printed() {
    let (_, text) = lint(&[]);
    let (_, json) = lint(&["--json"]);
    for secret in [
        "Tr0ub4dor",
        "k8",
        "c4r0l",
        "fr4nk",
        "s3cret",
        "h4nk",
        "1v4n",
    ] {
        assert!(!text.contains(secret), "{secret} in the text");
        assert!(!json.contains(secret), "{secret} in the JSON");
    }
}

#[test]
fn the_json_is_one_lint_report_with_every_finding() {
    let (code, out) = lint(&["--json"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    assert!(out.starts_with("{\"type\":\"lint_report\",\"time\":\""));
    assert_eq!(v["verdict"], "breaks");
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), EXPECTED.len());
    for (f, (file, n, section, kind, fix)) in findings.iter().zip(EXPECTED) {
        assert_eq!(f["file"], dir().join(file).display().to_string());
        assert_eq!(f["line"], *n);
        assert_eq!(f["section"], *section);
        assert_eq!(f["kind"], *kind);
        assert!(f["fix"].as_str().unwrap().contains(fix));
        assert!(f["what"].is_string() && f["why"].is_string());
        assert!(["breaks", "risk"].contains(&f["severity"].as_str().unwrap()));
    }
}

#[test]
fn a_clean_configuration_exits_0_and_a_missing_one_1() {
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(
        clean.path().join("pjsip.conf"),
        "[t]\ntype=transport\nbind=0.0.0.0\nexternal_signaling_address=203.0.113.5\nlocal_net=192.168.0.0/16\n\
         [a]\ntype=auth\nusername=alice\npassword=s3cret\n\
         [r]\ntype=registration\nserver_uri=sip:sip.example.net\nclient_uri=sip:alice@sip.example.net\n\
         outbound_auth=a\nforbidden_retry_interval=600\n\
         [i]\ntype=identify\nendpoint=trunk\nmatch=203.0.113.0/24\n\
         [trunk]\ntype=endpoint\noutbound_auth=a\n",
    )
    .unwrap();
    let run = |d: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_sipwatch"))
            .args(["lint", "--config-dir"])
            .arg(d)
            .output()
            .unwrap()
    };
    let out = run(clean.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("1 file read, no mistake found.\n"));
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no pjsip.conf, pjsip_wizard.conf or sip.conf here")
    );
}

#[test]
fn a_broken_file_is_an_error_naming_its_line() {
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("pjsip.conf");
    let run = |path: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
            .arg("lint")
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::write(&conf, "[a]\ntype=auth\n[b](missing)\n").unwrap();
    let err = run(d.path());
    assert!(
        err.contains("pjsip.conf:3: [b] inherits from [missing]"),
        "{err}"
    );
    // A directory named by #include: Asterisk reads regular files only.
    std::fs::create_dir(d.path().join("pjsip.d")).unwrap();
    std::fs::write(&conf, "[a]\ntype=auth\n#include pjsip.d\n").unwrap();
    let err = run(&conf);
    assert!(
        err.contains("pjsip.conf:3: #include pjsip.d names a directory")
            && err.contains("#include pjsip.d/*.conf"),
        "{err}"
    );
    // A file that is not there: said once, with the system's reason once,
    // naming the file (pjsip.conf's name included).
    for missing in ["nowhere.conf", "gone/pjsip.conf"] {
        let err = run(&d.path().join(missing));
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        assert!(err.contains(missing), "{err}");
    }
    // A FIFO, and a device that never ends: no file of Asterisk's.
    let fifo = d.path().join("fifo.conf");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success(),
        "mkfifo"
    );
    std::fs::write(&conf, "[a]\ntype=auth\n#include fifo.conf\n").unwrap();
    let err = run(&conf);
    assert!(
        err.contains("pjsip.conf:3: #include fifo.conf is not a regular file"),
        "{err}"
    );
    std::fs::write(&conf, "[a]\ntype=auth\n#include /dev/zero\n").unwrap();
    let err = run(&conf);
    assert!(
        err.contains("#include /dev/zero is not a regular file"),
        "{err}"
    );
    let err = run(std::path::Path::new("/dev/zero"));
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

#[test]
fn a_path_names_the_directory_or_one_file() {
    let (code, text) = lint(&[]);
    let by_path = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("lint")
        .arg(dir())
        .output()
        .unwrap();
    assert_eq!(by_path.status.code(), Some(code));
    // Only the times differ: none is printed in the text.
    assert_eq!(String::from_utf8_lossy(&by_path.stdout), text);
    let wizard = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("lint")
        .arg(dir().join("pjsip_wizard.conf"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&wizard.stdout);
    assert!(
        !text.is_empty()
            && text
                .lines()
                .all(|l| l.contains("pjsip_wizard.conf") || l.contains("1 file read")),
        "{text}"
    );
    assert!(
        text.contains("registration/forbidden_retry_interval"),
        "{text}"
    );
}

/// `sipwatch analyze` of a committed capture with a 401 after credentials
/// (tests/cases/sha256-digest-challenge/e-md5-second-wrongpw.pcap), with
/// `--config-dir DIR` when given.
fn analyze_401(config_dir: Option<&std::path::Path>) -> std::process::Output {
    let capture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/sha256-digest-challenge/e-md5-second-wrongpw.pcap");
    let mut run = Command::new(env!("CARGO_BIN_EXE_sipwatch"));
    run.arg("analyze").arg(&capture);
    if let Some(dir) = config_dir {
        run.arg("--config-dir").arg(dir);
    }
    run.output().expect("sipwatch runs")
}

/// `analyze --config-dir`: the 401 of a committed capture
/// (tests/cases/sha256-digest-challenge/e-md5-second-wrongpw.pcap) names
/// the `type=registration` section whose client_uri is its AOR, with the
/// file and line, in the event line and in the fix.
#[test]
fn a_failing_registration_names_the_section_that_sends_it() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pjsip.conf"),
        "[other-reg]\ntype=registration\nserver_uri=sip:other.example\n\n\
         [alice-reg]\ntype=registration\nserver_uri=sip:sip.example.net\n\
         client_uri=sip:alice.w@sip.example.net\noutbound_auth=alice-auth\n",
    )
    .unwrap();
    let out = analyze_401(Some(d.path()));
    let text = String::from_utf8_lossy(&out.stdout);
    let place = format!("[alice-reg] ({}:5)", d.path().join("pjsip.conf").display());
    let event = text
        .lines()
        .find(|l| l.contains(" REGISTRATION ") && l.contains("Rejected 401"))
        .expect("a registration event");
    assert!(event.ends_with(&place), "{event}");
    let fix = text
        .lines()
        .find(|l| l.trim_start().starts_with("fix  :"))
        .expect("a fix");
    assert!(
        fix.ends_with(&format!("; in this configuration: {place}")),
        "{fix}"
    );
    // Without the configuration, the words are the wire's alone.
    let plain = analyze_401(None);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("in this configuration"));
    // `--config-dir ''` turns the configuration off (the default would
    // read /etc/asterisk); `--asterisk-config` is the same option.
    let capture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/sha256-digest-challenge/e-md5-second-wrongpw.pcap");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
            .arg("analyze")
            .arg(&capture)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!run(&["--config-dir".as_ref(), "".as_ref()]).contains("in this configuration"));
    assert_eq!(
        run(&["--asterisk-config".as_ref(), d.path().as_os_str()]),
        text
    );
}

#[test]
fn analyze_with_a_config_dir_without_pjsip_conf_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = analyze_401(Some(empty.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pjsip.conf or pjsip_wizard.conf here")
    );
}

/// Risks alone (a hostname in `match`, `forbidden_retry_interval` left at
/// 0) are listed and exit 0: nothing there breaks the registration yet.
#[test]
fn risks_alone_are_listed_and_exit_0() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pjsip.conf"),
        "[a]\ntype=auth\nusername=alice\npassword=s3cret\n\
         [r]\ntype=registration\nserver_uri=sip:sip.example.net\nclient_uri=sip:alice@sip.example.net\n\
         outbound_auth=a\n\
         [i]\ntype=identify\nendpoint=trunk\nmatch=sip.example.net\n\
         [trunk]\ntype=endpoint\noutbound_auth=a\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .args(["lint", "--json", "--config-dir"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "risks");
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["forbidden_retry_zero", "identify_by_hostname"]);
}

/// `analyze --json --config-dir`: each registration (its events and the
/// summary's) carries `config`, the section that sends it, its auth
/// section and what the refused digest says of the configured password
/// (this capture's digest is not a real one: `not_configured`).
#[test]
fn the_json_carries_the_section_its_auth_and_the_password_check() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pjsip.conf"),
        "[alice-reg]\ntype=registration\nserver_uri=sip:sip.example.net\n\
         client_uri=sip:alice.w@sip.example.net\noutbound_auth=alice-auth\n\
         [alice-auth]\ntype=auth\nusername=alice.w\npassword=n0t-it\n",
    )
    .unwrap();
    let capture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/sha256-digest-challenge/e-md5-second-wrongpw.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .args(["analyze", "--json", "--config-dir"])
        .arg(d.path())
        .arg(&capture)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("n0t-it"), "a password printed");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    let last_event = lines
        .iter()
        .rev()
        .find(|v| v["type"] == "registration")
        .expect("a registration event");
    for r in [&summary["registrations"][0], last_event] {
        let c = &r["config"];
        assert_eq!(c["section"], "alice-reg", "{r}");
        assert_eq!(c["line"], 1);
        assert_eq!(c["auth"]["section"], "alice-auth");
        assert_eq!(c["auth"]["line"], 9, "the password's line");
        assert_eq!(c["auth"]["password_check"]["verdict"], "not_configured");
        assert_eq!(c["auth"]["password_check"]["username_sent"], "alice.w");
    }
    // Without the configuration, no `config`.
    let plain = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .args(["analyze", "--json", "--config-dir", ""])
        .arg(&capture)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("\"config\""));
}
