//! `sipwatch analyze FILE --tui`, the real binary in a real terminal:
//! tmux at 80×24 (send-keys, capture-pane) through trunks → flow → raw →
//! diff → save, the saved pcapng read back by tshark, and the terminal
//! left clean (no alternate screen, the line discipline as before) after
//! `q` and after Ctrl-C. Needs tmux and tshark (`cargo xtask setup`);
//! without them it fails, naming the one to install.
use std::{
    path::{Path, PathBuf},
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

/// One tmux server of our own (its own socket), killed even on failure.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start() -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux {
            socket: format!("sipwatch-tui-{}", std::process::id()),
            dir,
        };
        let started = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "80", "-y", "24", "-c"])
            .arg(t.dir.path())
            .args(["env", "PS1=$ ", "bash", "--norc", "--noprofile"])
            .status()
            .unwrap_or_else(|e| {
                panic!("tmux could not start ({e}): install tmux (cargo xtask setup)")
            });
        assert!(started.success(), "tmux could not start a session");
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Keys as tmux names them (`Enter`, `F6`, `C-c`, `Space`); a pause
    /// after each, so that Esc is not read as the start of the next key.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "0", k]);
            sleep(Duration::from_millis(if *k == "Escape" { 300 } else { 60 }));
        }
    }

    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        self.tmux(&["send-keys", "-t", "0", "Enter"]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// Waits up to 20 s for `text` on screen; the screen is the failure.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited for {text:?}; the screen:\n{s}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn alternate_screen(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "0", "#{alternate_on}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn case() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/provider-ban-after-failed-logins/b-fail2ban-reject.pcap")
}

/// The terminal's line settings, as `stty -g` prints them, in the pane.
fn stty(t: &Tmux, mark: &str) -> String {
    t.line(&format!("echo {mark}=$(stty -g)"));
    let start = Instant::now();
    loop {
        // Joined: the settings are longer than a line of 80 columns.
        let s = t.tmux(&["capture-pane", "-p", "-J", "-t", "0"]);
        if let Some(line) = s.lines().find(|l| l.starts_with(&format!("{mark}="))) {
            return line.to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {mark} line:\n{s}"
        );
        sleep(Duration::from_millis(100));
    }
}

/// The SIP messages tshark reads in `path`.
fn tshark_sip(path: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "sip", "-T", "fields", "-e", "sip.CSeq"])
        .output()
        .unwrap_or_else(|e| {
            panic!("tshark could not run ({e}): install tshark (cargo xtask setup)")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_admin_goes_from_the_failing_trunk_to_its_ladder_raw_diff_and_a_saved_pcap_and_quits_clean() {
    let t = Tmux::start();
    let before = stty(&t, "BEFORE");
    let run = format!(
        "{} analyze {} --tui --config-dir ''",
        env!("CARGO_BIN_EXE_sipwatch"),
        case().display()
    );
    t.line(&run);
    let s = t.wait_for("Trunks: registrations, failing first");
    assert!(s.contains("Timeout (408) ×7"), "{s}");
    assert!(
        s.contains("cause: the password was rejected 5 times"),
        "{s}"
    );
    assert!(
        s.contains("file b-fail2ban-reject.pcap · 66 frames · 44 messages · no loss"),
        "{s}"
    );

    t.keys(&["Enter"]);
    let s = t.wait_for("sipwatch · Flow");
    assert!(s.contains("───────REGISTER───────>"), "{s}");
    assert!(s.contains("<──401 Unauthorized────"), "{s}");

    t.keys(&["F6"]);
    let s = t.wait_for("Raw (digest responses masked)");
    assert!(s.contains("REGISTER sip:voice.example.net SIP/2.0"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("sipwatch · Flow");

    t.keys(&["Space", "j", "j", "Space"]);
    let s = t.wait_for("sipwatch · Diff");
    assert!(
        s.contains("CSeq: 701 REGISTER") && s.contains("CSeq: 702 REGISTER"),
        "{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("sipwatch · Flow");

    t.keys(&["F2"]);
    t.wait_for("Save to");
    t.keys(&["Enter"]);
    t.wait_for("saved 42 messages of 1 dialog to sipwatch-saved.pcapng");

    t.keys(&["q"]);
    t.wait_for("sipwatch · Trunks");
    t.keys(&["q"]);
    // The summary stays in the shell once the screen is left.
    t.wait_for("registrations: 0 OK, 1 failing");
    assert!(
        !t.alternate_screen(),
        "the alternate screen is still on after q"
    );
    assert_eq!(
        stty(&t, "AFTERQ")["AFTERQ".len()..],
        before["BEFORE".len()..]
    );

    let saved = tshark_sip(&t.dir.path().join("sipwatch-saved.pcapng"));
    assert_eq!(saved.len(), 42, "{saved:?}");
    assert_eq!(saved[0], "701 REGISTER");

    // Ctrl-C leaves as clean as q.
    t.line(&run);
    t.wait_for("Trunks: registrations, failing first");
    t.keys(&["C-c"]);
    let start = Instant::now();
    while t.alternate_screen() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "Ctrl-C did not leave the screen"
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(
        stty(&t, "AFTERC")["AFTERC".len()..],
        before["BEFORE".len()..]
    );
}
