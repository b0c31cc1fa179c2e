//! Captures holding one direction of a flow only (a mirror of one leg,
//! asymmetric routing): a request whose answers are missing is no timeout
//! when its sender acted on an answer (credentials after a challenge, an
//! ACK, a BYE in the dialog) and nothing came back on the flow; "answers
//! not in this capture". A sender that kept retransmitting, or a flow
//! heard both ways, still times out.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// `rounds` registrations, `every` s apart, as a mirror of the PBX's
/// outbound leg holds them: a REGISTER without credentials, then
/// `creds_after` s later the one with credentials (answered, so sent
/// once); no answer at all.
fn outbound_only(
    wire: &Wire,
    rounds: u32,
    every: f64,
    creds_after: f64,
) -> Vec<(String, f64, bool)> {
    (0..rounds)
        .flat_map(|i| {
            let t = f64::from(i) * every;
            [
                (wire.register(2 * i + 1, 600, false), t, true),
                (wire.register(2 * i + 2, 600, true), t + creds_after, true),
            ]
        })
        .collect()
}

fn run_one(wire: &Wire, steps: &[(String, f64, bool)], end: f64) -> (Tracker, Vec<Event>) {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(&mut t, &mut events, wire, steps);
    t.tick(at(end), &mut events);
    (t, events)
}

fn timeouts(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Timeout(_)))
        .count()
}

fn assert_not_captured(wire: &Wire, t: &Tracker, events: &[Event]) {
    for reg in t.registrations() {
        assert!(
            !reg.state().is_failing(),
            "{:?} {:?}",
            reg.state(),
            reg.diagnoses
        );
        let d = reg
            .diagnoses
            .iter()
            .find(|d| matches!(d, Diagnosis::AnswersNotCaptured { .. }))
            .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
        let Diagnosis::AnswersNotCaptured {
            destination,
            transport,
            acted_on,
            ..
        } = d
        else {
            unreachable!()
        };
        assert_eq!(*destination, wire.registrar);
        assert_eq!(*transport, wire.transport);
        assert_eq!(*acted_on, ActedOn::Credentials);
        assert!(!d.is_failure());
        let (cause, fix) = d.explain();
        assert!(cause.starts_with("answers not in this capture"), "{cause}");
        assert!(!cause.contains("reports 408"), "{cause}");
        assert!(fix.contains("both directions"), "{fix}");
        assert!(!fix.contains("dig"), "{fix}");
    }
    assert_eq!(timeouts(events), 0);
    assert_eq!(t.stats().timeouts, 0);
    assert!(t.stats().answers_not_captured >= 1);
}

#[test]
fn a_mirror_of_the_outbound_leg_over_udp_v4_says_answers_not_in_this_capture() {
    let wire = Wire::new(
        "192.168.10.4:5060",
        "203.0.113.9:5060",
        Transport::Udp,
        "trunk1",
    );
    let steps = outbound_only(&wire, 1, 0.0, 0.031);
    let (t, events) = run_one(&wire, &steps, 60.0);
    assert_not_captured(&wire, &t, &events);
    let mut totals = Vec::new();
    crate::report::registrations::write_totals(&mut totals, &t.registrations(), &t.stats())
        .unwrap();
    let totals = String::from_utf8(totals).unwrap();
    assert!(totals.contains("0 timeouts"), "{totals}");
    assert!(
        totals.contains("not in this capture (one direction only)"),
        "{totals}"
    );
}

#[test]
fn a_mirror_of_the_outbound_leg_over_tcp_v6_says_so_at_every_refresh() {
    let wire = Wire::new(
        "[2001:db8:3::4]:41002",
        "[2001:db8:a::9]:5060",
        Transport::Tcp,
        "desk",
    );
    let steps = outbound_only(&wire, 3, 590.0, 0.2);
    let (t, events) = run_one(&wire, &steps, 1300.0);
    assert_not_captured(&wire, &t, &events);
}

#[test]
fn a_register_retransmitted_through_timer_f_on_a_one_way_flow_still_times_out() {
    // The challenge was answered (not captured), then the REGISTER with
    // credentials was sent again and again: its sender got no answer.
    let wire = Wire::new("10.9.8.7:5060", "198.51.100.4:5060", Transport::Udp, "pbx");
    let mut steps = outbound_only(&wire, 1, 0.0, 0.05);
    let creds = steps[1].0.clone();
    for k in [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5] {
        steps.push((creds.clone(), 0.05 + k, true));
    }
    let (t, events) = run_one(&wire, &steps, 60.0);
    let reg = t.registrations()[0];
    assert!(reg.state().is_failing(), "{:?}", reg.diagnoses);
    assert!(
        matches!(reg.diagnoses[0], Diagnosis::Timeout { sent: 11, .. }),
        "{:?}",
        reg.diagnoses
    );
    assert!(timeouts(&events) >= 1);
}

#[test]
fn a_flow_heard_both_ways_keeps_its_timeout() {
    // The challenge is in the capture: the way back is captured, and the
    // missing answer to the credentials is a timeout.
    let wire = Wire::new(
        "192.168.1.2:5060",
        "203.0.113.3:5060",
        Transport::Tcp,
        "seen",
    );
    let r1 = wire.register(1, 600, false);
    let r2 = wire.register(2, 600, true);
    let steps = vec![
        (r1.clone(), 0.0, true),
        (wire.answer(&r1, "401 Unauthorized", CHALLENGE), 0.02, false),
        (r2, 0.04, true),
    ];
    let (t, _) = run_one(&wire, &steps, 40.0);
    let reg = t.registrations()[0];
    assert!(
        matches!(reg.diagnoses[0], Diagnosis::Timeout { .. }),
        "{:?}",
        reg.diagnoses
    );
    assert_eq!(t.stats().answers_not_captured, 0);
}

#[test]
fn an_invite_acked_and_ended_by_bye_on_a_one_way_capture_is_no_timeout() {
    let wire = Wire::new(
        "192.168.3.3:5060",
        "198.51.100.30:5060",
        Transport::Udp,
        "caller",
    );
    let invite = wire.invite(1);
    let in_dialog = |method: &str, cseq: u32| {
        invite
            .replacen("INVITE sip:", &format!("{method} sip:"), 1)
            .replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} {method}"))
            .replace(
                "To: <sip:5551234@sip.example.net>",
                "To: <sip:5551234@sip.example.net>;tag=callee",
            )
            .replace(
                "branch=z9hG4bK-icaller1",
                &format!("branch=z9hG4bK-{method}{cseq}"),
            )
    };
    let steps = vec![
        (invite.clone(), 0.0, true),
        (in_dialog("ACK", 1), 2.5, true),
        (in_dialog("BYE", 2), 30.0, true),
    ];
    let (t, events) = run_one(&wire, &steps, 80.0);
    assert_eq!(timeouts(&events), 0, "{events:?}");
    assert_eq!(t.stats().timeouts, 0);
    assert_eq!(t.stats().answers_not_captured, 2, "the INVITE and the BYE");
}

#[test]
fn at_the_registrar_a_capture_of_arriving_registers_only_says_answers_not_in_this_capture() {
    let wire = Wire::new("10.0.0.20:5060", "10.0.0.1:5060", Transport::Udp, "201");
    let steps = outbound_only(&wire, 1, 0.0, 0.01);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    for (text, secs, _) in &steps {
        let mut m = wire.message(text, *secs, true);
        m.direction = Some(Direction::Ingress);
        t.push(&m.parsed(), &mut events);
    }
    t.tick(at(60.0), &mut events);
    let reg = t.registrations()[0];
    assert_eq!(reg.side, Side::Registrar);
    let (_, fix) = reg.diagnoses[0].explain();
    assert!(fix.contains("this PBX's own interfaces"), "{fix}");
    assert!(!reg.state().is_failing());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_one_way_capture_of_answered_registrations_claims_no_timeout(
        wire in any_wire(),
        trunks in 1usize..4,
        rounds in 1u32..4,
        every_s in 60u64..3600,
        creds_ms in 1u64..3_000,
    ) {
        let mut all = Vec::new();
        let wires: Vec<Wire> = (0..trunks)
            .map(|i| Wire { user: format!("{}t{i}", wire.user), ..wire.clone() })
            .collect();
        for (i, w) in wires.iter().enumerate() {
            for (text, secs, out) in outbound_only(w, rounds, every_s as f64, creds_ms as f64 / 1000.0) {
                all.push((w, text, secs + i as f64 * 0.4, out));
            }
        }
        all.sort_by(|a, b| a.2.total_cmp(&b.2));
        let mut t = Tracker::default();
        let mut events = Vec::new();
        for (w, text, secs, out) in &all {
            feed_wire(&mut t, &mut events, w, &[(text.clone(), *secs, *out)]);
        }
        let end = f64::from(rounds) * every_s as f64 + 40.0;
        t.tick(at(end), &mut events);
        prop_assert_eq!(t.registrations().len(), trunks);
        assert_not_captured(&wire, &t, &events);
    }
}
