//! `attach --hep` live, in the lab: a REGISTER with a wrong password from
//! the PBX to the lab's Kamailio, captured on the PBX's interface and sent
//! as HEP to hep-js inside the PBX's namespace (its own 127.0.0.1, so the
//! HEP never crosses the captured interface). What hep-js decodes, over UDP
//! and TCP, is every SIP message tshark reads in the `--write` capture of
//! the same run, with the diagnosis beside them as a log record with the
//! REGISTER's Call-ID.
mod support;

use std::time::Duration;

use sipwatch_lab::{PBX_IF, Personality, kamailio, kamailio::Kamailio};
use support::{
    asterisk_register,
    hep::{HepJs, log_records, sip_messages, tshark},
    lab, sipsak, wait_until_attached,
};

#[test]
fn attach_sends_every_message_live_and_the_wrong_password_beside_them() {
    let lab = lab(Personality::PlainNat);
    let _k = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let hep = HepJs::start_with(|argv| lab.pbx.command(argv));
    let tmp = support::temp_dir("hep-live");
    let file = tmp.path().join("run.pcapng");
    let udp = format!("udp:127.0.0.1:{}", hep.udp);
    let tcp = format!("tcp:127.0.0.1:{}", hep.tcp);
    let capture = lab
        .pbx
        .spawn(&[
            support::SIPWATCH,
            "attach",
            PBX_IF,
            "--events",
            "--write",
            file.to_str().unwrap(),
            "--hep",
            &udp,
            "--hep",
            &tcp,
            "--hep-id",
            "4242",
            "--hep-node-name",
            "lab-node",
        ])
        .unwrap();
    wait_until_attached(&lab);
    sipsak(
        &lab,
        "hep-live",
        &asterisk_register("hep-live", kamailio::USER, 1, 300),
        Some("not-the-password"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = capture
        .stop(libc::SIGTERM, Duration::from_secs(20))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("HEP packets not sent"), "{stdout}");
    assert!(stdout.contains("check the password"), "{stdout}");
    let want = tshark(&file);
    assert!(want.len() >= 4, "{want:#?}");
    let call_id = want[0].call_id.clone();
    let packets = hep.packets();
    for over in ["udp", "tcp"] {
        assert_eq!(sip_messages(&packets, over), want, "over {over}");
        let logs = log_records(&packets, over);
        assert!(
            logs.iter()
                .any(|(c, text)| *c == call_id && text.contains("check the password")),
            "no log record with the fix for {call_id} over {over}: {logs:#?}"
        );
    }
}
