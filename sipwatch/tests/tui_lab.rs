//! `sipwatch attach IFACE --tui` live, in the lab (root, network
//! namespaces; see docs/lab.md): the real binary in tmux at 80×24 on the
//! PBX's interface while a REGISTER with a wrong password goes to
//! Kamailio. The failing trunk shows up on the trunks screen with its
//! cause, its ladder holds the REGISTERs and 401s, F2 saves them (tshark
//! reads the file), `q` stops the capture and leaves the summary on a clean
//! terminal, and so does Ctrl-C.
mod support;

use std::{thread::sleep, time::Duration};

use sipwatch_lab::{PBX_IF, Personality, kamailio::Kamailio};
use support::{
    SIPWATCH, asterisk_register, lab, sipsak,
    tmux::{Tmux, save_quit_and_check, stty},
    wait_until_attached,
};

#[test]
fn attach_tui_shows_a_rejected_trunk_live_its_ladder_saves_it_and_quits_clean() {
    let lab = lab(Personality::PlainNat);
    let _k = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let t = Tmux::start("sipwatch-tui-lab");
    let before = stty(&t, "BEFORE");
    let run = format!(
        "ip netns exec {} {SIPWATCH} attach {PBX_IF} --tui --config-dir ''",
        lab.pbx.name()
    );
    t.line(&run);
    wait_until_attached(&lab);
    t.wait_for("live ");
    // sipsak answers the challenge with the wrong password: 401 again.
    sipsak(
        &lab,
        "tui",
        &asterisk_register("tui", sipwatch_lab::kamailio::USER, 1, 300),
        Some("not-the-password"),
    );
    // Within a tick or two, on the first screen, failing, with its cause.
    let s = t.wait_for("Rejected 401");
    assert!(s.contains("cause:"), "{s}");
    assert!(!s.contains("· LOSS"), "{s}");

    t.keys(&["Enter"]);
    let s = t.wait_for("sipwatch · Flow");
    assert!(
        s.contains("REGISTER───") && s.contains("401 Unauthorized"),
        "{s}"
    );
    // The summary stays in the shell once the screen is left (the lab:
    // the capture stopped).
    let saved = save_quit_and_check(
        &t,
        "to sipwatch-saved.pcapng",
        "registrations: 0 OK, 1 failing",
        &before,
    );
    assert!(saved.len() >= 4, "{saved:?}");
    assert!(
        saved.iter().all(|cseq| cseq.ends_with("REGISTER")),
        "{saved:?}"
    );

    // Ctrl-C on the screen stops the capture as q does.
    t.line("clear");
    t.line(&run);
    wait_until_attached(&lab);
    t.wait_for("live ");
    t.keys(&["C-c"]);
    t.wait_for("--- capture summary ---");
    sleep(Duration::from_millis(300));
    assert!(
        !t.alternate_screen(),
        "the alternate screen is still on after Ctrl-C"
    );
    assert_eq!(
        stty(&t, "AFTERC")["AFTERC".len()..],
        before["BEFORE".len()..]
    );
}
