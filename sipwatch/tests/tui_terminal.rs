//! `sipwatch analyze FILE --tui`, the real binary in a real terminal:
//! tmux at 80×24 (send-keys, capture-pane) through trunks → flow → raw →
//! diff → save, the saved pcapng read back by tshark, and the terminal
//! left clean (no alternate screen, the line discipline as before) after
//! `q` and after Ctrl-C. Needs tmux and tshark (`cargo xtask setup`);
//! without them it fails, naming the one to install.
mod support;

use std::{
    path::PathBuf,
    thread::sleep,
    time::{Duration, Instant},
};

use support::tmux::{Tmux, save_quit_and_check, stty};

fn case() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/provider-ban-after-failed-logins/b-fail2ban-reject.pcap")
}

#[test]
fn an_admin_goes_from_the_failing_trunk_to_its_ladder_raw_diff_and_a_saved_pcap_and_quits_clean() {
    let t = Tmux::start("sipwatch-tui");
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

    // A resize redraws at the new size: wide, the dialogs show From.
    t.tmux(&["resize-window", "-t", "0", "-x", "120", "-y", "40"]);
    t.keys(&["Tab"]);
    let s = t.wait_for("sipwatch · Dialogs");
    assert!(s.contains("FROM"), "{s}");
    t.tmux(&["resize-window", "-t", "0", "-x", "80", "-y", "24"]);
    t.keys(&["Tab"]);
    t.wait_for("sipwatch · Trunks");
    let s = t.screen();
    assert_eq!(s.lines().count(), 24, "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");

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

    // The summary stays in the shell once the screen is left (the lab:
    // the capture stopped).
    let saved = save_quit_and_check(
        &t,
        "saved 42 messages of 1 dialog to sipwatch-saved.pcapng",
        "registrations: 0 OK, 1 failing",
        &before,
    );
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
