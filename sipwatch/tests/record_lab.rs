//! The failure record, continuity and the Contact the registrar kept,
//! live against a real registrar: Kamailio in the provider namespace, a
//! test-owned UDP socket on the PBX's 5060 registering like Asterisk, and
//! `sipwatch attach --json` on the PBX's interface. Needs root; fails,
//! saying why, without.
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use sipwatch_lab::{kamailio::Kamailio, *};
use support::{asterisk_register, lab, pbx_udp_socket, stop_json, wait_until_attached};

/// Kamailio, `attach --json` on the PBX, and the PBX's socket sending
/// `user`'s REGISTERs after each delay; the last registration object
/// `attach` wrote for `user` (its summary's).
fn registration(personality: Personality, user: &str, expires: u32, delays: &[u64]) -> Value {
    let lab = lab(personality);
    let _kamailio = Kamailio::start(&lab.provider).unwrap();
    let capture = lab
        .pbx
        .spawn(&[support::SIPWATCH, "attach", PBX_IF, "--json"])
        .unwrap();
    wait_until_attached(&lab);
    let pbx = pbx_udp_socket(&lab, Duration::from_millis(500));
    let mut buf = [0u8; 65_536];
    for (i, delay) in delays.iter().enumerate() {
        std::thread::sleep(Duration::from_secs(*delay));
        let cseq = i as u32 + 1;
        pbx.send_to(
            asterisk_register("rec", user, cseq, expires).as_bytes(),
            (PROVIDER_V4, 5060),
        )
        .unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            let _ = pbx.recv_from(&mut buf);
        }
    }
    let lines = stop_json(capture);
    let summary = lines.last().expect("a summary");
    assert_eq!(summary["type"], "summary");
    let aor = format!("sip:{user}@{PROVIDER_V4}");
    summary["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["aor"] == aor.as_str())
        .unwrap_or_else(|| panic!("no registration for {aor}: {summary}"))
        .clone()
}

#[test]
fn a_forbidden_trunk_keeps_its_record_and_asterisk_retrying_it_is_called_a_configuration_that_differs()
 {
    let r = registration(Personality::PlainNat, "banned", 300, &[0, 2, 2]);
    let record = &r["failure_record"];
    assert_eq!(record["code"], 403, "{r}");
    assert_eq!(record["reason"], "Forbidden");
    assert!(
        record["warning"]
            .as_str()
            .is_some_and(|w| w.contains("account disabled")),
        "{record}"
    );
    assert_eq!(record["ended_by"], "registrar");
    assert_eq!(record["attempts"], 3, "{record}");
    let interval = record["interval_ms"].as_u64().unwrap();
    assert!((1_900..=3_500).contains(&interval), "{record}");
    assert_eq!(r["pbx"], "asterisk");
    // Asterisk stops after a 403 by default: one that went on is configured otherwise.
    assert_eq!(r["next_move"]["next"], "config_differs", "{r}");
    assert!(
        r["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Rejected 403 ×3 since ")),
        "{r}"
    );
}

#[test]
fn a_registrar_that_puts_the_address_it_saw_in_the_contact_is_a_nat_fixup() {
    let r = registration(Personality::PlainNat, "natted", 300, &[0]);
    let kept = &r["contacts_kept"];
    let returned = kept["returned"].as_array().expect("the 200's Contacts");
    assert_eq!(returned.len(), 1, "{kept}");
    assert_eq!(
        returned[0]["uri"],
        format!("sip:natted@{ROUTER_WAN_V4}:5060"),
        "{kept}"
    );
    assert_eq!(returned[0]["relation"], "rewritten", "{kept}");
    assert_eq!(kept["rewritten_by"], "registrar_nat_fixup", "{kept}");
}

#[test]
fn a_refresh_after_the_granted_binding_lapsed_is_a_gap_with_its_length() {
    // Kamailio grants the 60 s asked (its minimum); the refresh comes 64 s later.
    let r = registration(Personality::PlainNat, "alice", kamailio_min(), &[0, 64]);
    let c = &r["continuity"];
    assert_eq!(c["gaps"], 1, "{r}");
    let gap = c["last_gap"]["length_ms"].as_u64().unwrap();
    assert!((2_000..=6_000).contains(&gap), "{c}");
    assert!(c["rrd_last_us"].as_u64().is_some_and(|us| us > 0), "{c}");
}

fn kamailio_min() -> u32 {
    sipwatch_lab::kamailio::MIN_EXPIRES
}
