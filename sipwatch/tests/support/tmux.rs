//! A terminal for `--tui` tests: a tmux server of the test's own (its own
//! socket), 80×24, a plain shell in a folder removed with it; keys sent
//! with send-keys, the screen read with capture-pane. Needs tmux (`cargo
//! xtask setup`); without it the test fails, naming it.
use std::{
    path::Path,
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

/// One tmux server of our own (its own socket), killed even on failure.
pub struct Tmux {
    socket: String,
    /// The shell's folder (where F2 saves).
    pub dir: tempfile::TempDir,
}

impl Tmux {
    /// A server and a shell, started in `prefix`'s own folder.
    pub fn start(prefix: &str) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux {
            socket: format!("{prefix}-{}", std::process::id()),
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

    pub fn tmux(&self, args: &[&str]) -> String {
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
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "0", k]);
            sleep(Duration::from_millis(if *k == "Escape" { 300 } else { 60 }));
        }
    }

    /// Types `text` and Enter.
    pub fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        self.tmux(&["send-keys", "-t", "0", "Enter"]);
    }

    /// What the pane shows.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// Waits up to 20 s for `text` on screen; the screen is the failure.
    pub fn wait_for(&self, text: &str) -> String {
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

    /// Whether a program holds the alternate screen.
    pub fn alternate_screen(&self) -> bool {
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

/// The terminal's line settings, as `stty -g` prints them, in the pane.
pub fn stty(t: &Tmux, mark: &str) -> String {
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
pub fn tshark_sip(path: &Path) -> Vec<String> {
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

/// From a flow: F2 and Enter save it (the news says `saved`), `q` back
/// to the trunks, `q` out; then the summary's `summary` line is in the
/// shell, the alternate screen is off and the line settings are `before`'s
/// again. The SIP messages tshark reads in what was saved.
pub fn save_quit_and_check(t: &Tmux, saved: &str, summary: &str, before: &str) -> Vec<String> {
    t.keys(&["F2"]);
    t.wait_for("Save to");
    t.keys(&["Enter"]);
    t.wait_for(saved);
    t.keys(&["q"]);
    t.wait_for("sipwatch · Trunks");
    t.keys(&["q"]);
    t.wait_for(summary);
    assert!(
        !t.alternate_screen(),
        "the alternate screen is still on after q"
    );
    assert_eq!(
        stty(t, "AFTERQ")["AFTERQ".len()..],
        before["BEFORE".len()..]
    );
    tshark_sip(&t.dir.path().join("sipwatch-saved.pcapng"))
}
