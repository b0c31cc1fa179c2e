//! Words that agree with the wire: the registrar's own reason phrase
//! quoted; a 403 after a challenge said as such (the credentials were
//! refused, not accepted); no "gave up" on a rejection that never reached
//! the PBX, which times out instead.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

const CHALLENGE_OF: &str =
    "WWW-Authenticate: Digest realm=\"sip.example.net\", nonce=\"n\", algorithm=MD5\r\n";

fn asterisk(request: String) -> String {
    request.replace(
        "Content-Length",
        "User-Agent: Asterisk PBX 22.0.0\r\nContent-Length",
    )
}

/// REGISTER, 401 challenge, REGISTER with credentials answered `status`
/// (with a challenge for a 401); `then` more steps of the same wire.
fn challenged_then(wire: &Wire, status: &str, then: &[(String, f64, bool)]) -> Tracker {
    let r1 = asterisk(wire.register(1, 300, false));
    let r2 = asterisk(wire.register(2, 300, true));
    let extra = if status.starts_with("401") {
        CHALLENGE_OF
    } else {
        ""
    };
    let mut steps = vec![
        (r1.clone(), 0.0, true),
        (
            wire.answer(&r1, "401 Unauthorized", CHALLENGE_OF),
            0.02,
            false,
        ),
        (r2.clone(), 0.03, true),
        (wire.answer(&r2, status, extra), 0.05, false),
    ];
    steps.extend_from_slice(then);
    let mut t = Tracker::default();
    feed_wire(&mut t, &mut Vec::new(), wire, &steps);
    t
}

fn cause_of(t: &Tracker) -> (String, String) {
    let reg = only(t);
    let d = reg
        .diagnoses
        .iter()
        .find(|d| d.is_failure())
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    d.explain()
}

#[test]
fn the_registrars_reason_phrase_is_quoted_udp_v4_and_tcp_v6() {
    for wire in [
        Wire::new(
            "192.168.3.3:5060",
            "203.0.113.7:5060",
            Transport::Udp,
            "201",
        ),
        Wire::new(
            "[2001:db8:3::3]:42000",
            "[2001:db8:7::7]:5060",
            Transport::Tcp,
            "201",
        ),
    ] {
        let t = challenged_then(&wire, "401 nonce has changed", &[]);
        let (cause, _) = cause_of(&t);
        assert!(
            cause.starts_with("401 nonce has changed to the REGISTER"),
            "{cause}"
        );
    }
}

#[test]
fn a_403_after_a_challenge_is_said_so_never_accepted() {
    let wire = Wire::new(
        "192.168.3.3:5060",
        "203.0.113.7:5060",
        Transport::Udp,
        "201",
    );
    let t = challenged_then(&wire, "403 Wrong password", &[]);
    let (cause, fix) = cause_of(&t);
    assert!(
        cause.starts_with("403 Wrong password after a challenge"),
        "{cause}"
    );
    assert!(!cause.contains("accepted"), "{cause}");
    assert!(fix.contains("password"), "{fix}");
}

#[test]
fn at_the_registrar_a_403_after_a_challenge_points_at_the_password_first() {
    let r1 = register(1, None, 3600);
    let r2 = register(2, Some(("1001", "provider.example")), 3600);
    let t = run_at_registrar(&[
        (r1.clone(), 0.0, true),
        (response(&r1, "401 Unauthorized", CHALLENGE), 0.001, false),
        (r2.clone(), 0.002, true),
        (response(&r2, "403 Forbidden", ""), 0.003, false),
    ]);
    let (cause, fix) = cause_of(&t);
    assert!(cause.contains("after a challenge"), "{cause}");
    assert!(
        fix.starts_with("the phone's password or auth user likely does not match"),
        "{fix}"
    );
}

#[test]
fn a_rejection_that_never_reached_the_pbx_is_no_give_up() {
    // The 401 to the credentials was seen here, and the PBX sent the same
    // REGISTER again 0.5 s, 1.5 s later: it never got the 401.
    let wire = Wire::new(
        "192.168.3.3:5060",
        "203.0.113.7:5060",
        Transport::Udp,
        "201",
    );
    let r2 = asterisk(wire.register(2, 300, true));
    let t = challenged_then(
        &wire,
        "401 Unauthorized",
        &[(r2.clone(), 0.6, true), (r2, 1.6, true)],
    );
    let reg = only(&t);
    assert!(
        reg.diagnoses
            .iter()
            .any(|d| matches!(d, Diagnosis::AnswerNotDelivered { .. })),
        "{:?}",
        reg.diagnoses
    );
    assert!(
        !matches!(reg.next_move(), NextMove::GivesUp { .. }),
        "{:?}",
        reg.next_move()
    );
    assert!(!reg.status().contains("gave up"), "{}", reg.status());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn every_refusal_is_quoted_as_written_and_never_called_accepted(
        wire in any_wire(),
        code in prop::sample::select(vec![401u16, 403]),
        reason in "[A-Za-z][A-Za-z ]{0,20}[a-z]",
    ) {
        let t = challenged_then(&wire, &format!("{code} {reason}"), &[]);
        let (cause, fix) = cause_of(&t);
        let written = format!("{code} {reason}");
        prop_assert!(cause.starts_with(&written), "{}", cause);
        prop_assert!(!cause.contains("accepted"), "{}", cause);
        if code == 403 {
            prop_assert!(cause.contains("after a challenge"), "{}", cause);
            prop_assert!(fix.contains("password"), "{}", fix);
        }
    }
}

#[test]
fn a_408_from_the_far_end_and_any_other_code_are_quoted_as_written() {
    let wire = Wire::new(
        "192.168.3.3:5060",
        "203.0.113.7:5060",
        Transport::Udp,
        "201",
    );
    for (status, kind_ok) in [
        ("408 Upstream Timeout", "remote_timeout"),
        ("488 Not Acceptable Here", "failed"),
    ] {
        let r = wire.register(1, 300, false);
        let mut t = Tracker::default();
        feed_wire(
            &mut t,
            &mut Vec::new(),
            &wire,
            &[
                (r.clone(), 0.0, true),
                (wire.answer(&r, status, ""), 0.01, false),
            ],
        );
        let reg = only(&t);
        let d = &reg.diagnoses[0];
        let json = serde_json::to_value(d).unwrap();
        assert_eq!(json["kind"], kind_ok);
        let (cause, _) = d.explain();
        assert!(cause.starts_with(status), "{cause}");
    }
}
