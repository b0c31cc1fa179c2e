//! `sipwatch analyze -` reads the capture from standard input and prints
//! what `sipwatch analyze FILE` prints for the same capture (the summary
//! names it "standard input"). No root needed.
use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn analyze(args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .arg("analyze")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipwatch runs");
    if let Some(bytes) = stdin {
        // Written from another thread: a large capture fills the pipe
        // while sipwatch's output fills the other one.
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || pipe.write_all(&bytes).unwrap());
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "sipwatch analyze {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_capture_piped_into_analyze_dash_reads_as_the_file_does() {
    for name in [
        "nonce-expired-no-stale-retry.pcap",
        "sll-loopback-any-v2.pcap",
        "wildcard-unregister.pcap",
    ] {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        let file = path.to_str().unwrap();
        for view in ["--json", "--verbose"] {
            let from_file = analyze(&[view, file], None);
            let from_stdin = analyze(&[view, "-"], Some(&bytes));
            assert!(!from_file.is_empty());
            assert_eq!(
                from_stdin,
                from_file.replace(file, "standard input"),
                "{name} {view}"
            );
        }
    }
}

#[test]
fn analyze_dash_with_nothing_on_standard_input_says_so() {
    let output = Command::new(env!("CARGO_BIN_EXE_sipwatch"))
        .args(["analyze", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("analysing standard input"), "{stderr}");
}
