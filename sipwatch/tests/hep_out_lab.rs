//! `attach --hep` live, in the lab: a REGISTER with a wrong password from
//! the PBX to the lab's Kamailio, captured on the PBX's interface and sent
//! as HEP to hep-js inside the PBX's namespace (its own 127.0.0.1, so the
//! HEP never crosses the captured interface). What hep-js decodes, over UDP
//! and TCP, is every SIP message tshark reads in the `--write` capture of
//! the same run, with the diagnosis beside them as a log record with the
//! REGISTER's Call-ID. And a REGISTER this host's own firewall drops goes
//! out as a log record with the kernel's reason and its Call-ID.
mod support;

use std::{path::Path, time::Duration};

use sipwatch_lab::{
    Lab, NetnsChild, PBX_IF, PROVIDER_V4, Personality, kamailio, kamailio::Kamailio,
};
use support::{
    asterisk_register,
    hep::{HepJs, log_records, sip_messages, tshark},
    lab, pbx_udp_socket, sipsak, wait_until_attached,
};

/// `sipwatch attach` on the PBX, writing `file`, sending HEP to `hep` over
/// UDP and TCP; attached when this returns.
fn attach_with_hep(lab: &Lab, hep: &HepJs, file: &Path) -> NetnsChild {
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
    wait_until_attached(lab);
    capture
}

/// Stops `attach` with SIGTERM; its standard output, checked for no HEP lost.
fn stop(capture: NetnsChild) -> String {
    let out = capture
        .stop(libc::SIGTERM, Duration::from_secs(20))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("HEP packets not sent"), "{stdout}");
    stdout
}

#[test]
fn attach_sends_every_message_live_and_the_wrong_password_beside_them() {
    let lab = lab(Personality::PlainNat);
    let _k = Kamailio::start(&lab.provider).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let hep = HepJs::start_with(|argv| lab.pbx.command(argv));
    let tmp = support::temp_dir("hep-live");
    let file = tmp.path().join("run.pcapng");
    let capture = attach_with_hep(&lab, &hep, &file);
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

#[test]
fn a_register_this_hosts_firewall_drops_goes_out_with_the_kernels_reason_and_its_call_id() {
    let lab = lab(Personality::PlainNat);
    let rules = format!(
        "table inet pbx_local {{\n\tchain output {{\n\t\ttype filter hook output priority filter; policy accept;\n\t\tip daddr {PROVIDER_V4} udp dport 5060 drop\n\t}}\n}}\n"
    );
    lab.pbx
        .run_with_stdin(&["nft", "-f", "-"], Some(&rules))
        .unwrap();
    let hep = HepJs::start_with(|argv| lab.pbx.command(argv));
    let tmp = support::temp_dir("hep-drop");
    let capture = attach_with_hep(&lab, &hep, &tmp.path().join("run.pcapng"));
    let socket = pbx_udp_socket(&lab, Duration::from_secs(1));
    let register = asterisk_register("hep-drop", kamailio::USER, 1, 300);
    // Sending fails or not: the firewall takes it after the socket.
    let _ = socket.send_to(register.as_bytes(), (PROVIDER_V4, 5060));
    std::thread::sleep(Duration::from_millis(500));
    let stdout = stop(capture);
    assert!(stdout.contains("DROPPED HERE"), "{stdout}");
    let call_id = format!("hep-drop-{}@{}", kamailio::USER, sipwatch_lab::PBX_V4);
    let packets = hep.packets();
    for over in ["udp", "tcp"] {
        let logs = log_records(&packets, over);
        assert!(
            logs.iter().any(|(c, text)| *c == call_id
                && text.contains("DROPPED HERE UDP")
                && text.contains("NETFILTER_DROP")),
            "no log record of the drop for {call_id} over {over}: {logs:#?}"
        );
    }
}
