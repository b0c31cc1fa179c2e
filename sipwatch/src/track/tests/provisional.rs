//! A REGISTER answered 100 Trying and then never again: the registrar is
//! reachable and took the request; the fault is the provider's side, never
//! the generic DNS / firewall / ALG advice — whatever came before (fast
//! answers, smaller REGISTERs answered), on either transport and family.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// `request` with a header of `bytes` filler (to make it large).
fn padded(request: String, bytes: usize) -> String {
    if bytes == 0 {
        return request;
    }
    request.replace(
        "Content-Length",
        &format!("X-Pad: {}\r\nContent-Length", "p".repeat(bytes)),
    )
}

/// `answered` REGISTERs answered 200 OK 5 ms after they went, `every` s
/// apart; then one (padded by `pad` bytes) answered 100 Trying after
/// `trying` s and then never again.
fn trying_then_silence(
    wire: &Wire,
    answered: u32,
    every: f64,
    trying: f64,
    pad: usize,
) -> (Vec<(String, f64, bool)>, f64) {
    let mut steps = Vec::new();
    let mut secs = 0.0;
    for i in 0..answered {
        let r = wire.register(i + 1, 120, false);
        let ok = wire.answer(
            &r,
            "200 OK",
            &format!("Contact: <{}>;expires=120\r\n", wire.contact()),
        );
        steps.push((r, secs, true));
        steps.push((ok, secs + 0.005, false));
        secs += every;
    }
    let r = padded(wire.register(answered + 1, 120, false), pad);
    steps.push((r.clone(), secs, true));
    steps.push((wire.answer(&r, "100 Trying", ""), secs + trying, false));
    // Over UDP the client keeps sending it (T2 apart once proceeding).
    if wire.transport == Transport::Udp {
        for k in 1..4 {
            steps.push((r.clone(), secs + f64::from(k) * 4.0, true));
        }
    }
    (steps, secs)
}

/// The failure, its words and the record's `ended_by` for the one binding.
fn told(t: &Tracker) -> (Diagnosis, (String, String), Option<EndedBy>) {
    told_of(&only(t))
}

fn told_of(reg: &Registration) -> (Diagnosis, (String, String), Option<EndedBy>) {
    let d = reg
        .diagnoses
        .iter()
        .find(|d| d.is_failure())
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let words = d.explain();
    (d, words, reg.record().and_then(|r| r.ended_by))
}

fn assert_provider_side(wire: &Wire, t: &Tracker) {
    assert_provider_side_of(wire, &only(t));
}

fn assert_provider_side_of(wire: &Wire, reg: &Registration) {
    let (d, (cause, fix), ended_by) = told_of(reg);
    match d {
        Diagnosis::Timeout {
            provisional_seen,
            destination,
            transport,
            ..
        } => {
            assert!(provisional_seen);
            assert_eq!(destination, wire.registrar);
            assert_eq!(transport, wire.transport);
        }
        other => panic!("{other:?}"),
    }
    assert!(cause.contains("100 Trying"), "{cause}");
    assert!(cause.contains("provider's side"), "{cause}");
    assert!(!fix.contains("dig"), "{fix}");
    assert!(!fix.contains("disable any SIP ALG"), "{fix}");
    assert!(!fix.contains("try TCP"), "{fix}");
    assert_eq!(ended_by, Some(EndedBy::ProvisionalOnly));
    let fails = crate::say::record::ended_by(EndedBy::ProvisionalOnly);
    assert!(!fails.contains("no answer at all"), "{fails}");
}

fn run_wire(wire: &Wire, steps: &[(String, f64, bool)], end: f64) -> Tracker {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(&mut t, &mut events, wire, steps);
    t.tick(at(end), &mut events);
    t
}

#[test]
fn trying_then_silence_over_udp_v4_is_the_providers_side() {
    let wire = Wire::new(
        "10.1.2.3:5060",
        "198.51.100.20:5060",
        Transport::Udp,
        "4401",
    );
    let (steps, last) = trying_then_silence(&wire, 0, 0.0, 0.03, 0);
    assert_provider_side(&wire, &run_wire(&wire, &steps, last + 40.0));
}

#[test]
fn trying_then_silence_over_tcp_v6_after_a_burst_is_not_a_ban() {
    // Twelve REGISTERs answered within milliseconds would read as a burst
    // before a ban; the 100 Trying says the registrar still answers.
    let wire = Wire::new(
        "[2001:db8:5::10]:45012",
        "[2001:db8:7::2]:5060",
        Transport::Tcp,
        "office",
    );
    let (steps, last) = trying_then_silence(&wire, 12, 0.2, 1.2, 0);
    assert_provider_side(&wire, &run_wire(&wire, &steps, last + 40.0));
}

#[test]
fn a_large_register_answered_100_trying_is_not_lost_for_its_size() {
    let wire = Wire::new(
        "192.168.9.9:5062",
        "203.0.113.80:5080",
        Transport::Udp,
        "pbx",
    );
    let (steps, last) = trying_then_silence(&wire, 1, 60.0, 0.2, 1400);
    assert_provider_side(&wire, &run_wire(&wire, &steps, last + 40.0));
}

#[test]
fn at_the_registrar_trying_then_silence_is_the_pbxs_own_processing() {
    let r = register(1, None, 3600);
    let t = run_at_registrar(&[
        (r.clone(), 0.0, true),
        (response(&r, "100 Trying", ""), 0.001, false),
        (r.clone(), 4.0, true),
        (r, 40.0, true),
    ]);
    let (d, (cause, fix), _) = told(&t);
    assert!(
        matches!(
            d,
            Diagnosis::Timeout {
                provisional_seen: true,
                side: Side::Registrar,
                ..
            }
        ),
        "{d:?}"
    );
    assert!(cause.contains("did not finish it"), "{cause}");
    assert!(fix.contains("network is not the cause"), "{fix}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_trying_then_silence_is_the_providers_side(
        wire in any_wire(),
        trunks in 1usize..4,
        answered in 0u32..14,
        every_ms in 1u64..90_000,
        trying_ms in 1u64..5_000,
        pad in prop::sample::select(vec![0usize, 300, 1500]),
    ) {
        // Every trunk in one capture, their exchanges interleaved.
        let mut all = Vec::new();
        let mut end = 0.0f64;
        let wires: Vec<Wire> = (0..trunks)
            .map(|trunk| Wire { user: format!("{}t{trunk}", wire.user), ..wire.clone() })
            .collect();
        for (i, w) in wires.iter().enumerate() {
            let (steps, last) = trying_then_silence(w, answered, every_ms as f64 / 1000.0, trying_ms as f64 / 1000.0, pad);
            all.extend(steps.into_iter().map(|(text, secs, out)| (text, secs + i as f64 * 0.3, out)));
            end = end.max(last + i as f64 * 0.3);
        }
        all.sort_by(|a, b| a.1.total_cmp(&b.1));
        let t = run_wire(&wire, &all, end + 40.0);
        let regs = t.registrations();
        prop_assert_eq!(regs.len(), trunks);
        for (w, reg) in wires.iter().zip(&regs) {
            prop_assert!(reg.key.aor.contains(&w.user));
            assert_provider_side_of(w, reg);
        }
    }
}
