//! INVITE client transactions (RFC 3261 §17.1.1.2): after a provisional
//! response there is no Timer B; a final response that comes minutes
//! later attaches to its transaction, and no timeout is told.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

fn timeouts(events: &[Event]) -> Vec<&Transaction> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Timeout(tx) => Some(&**tx),
            _ => None,
        })
        .collect()
}

/// The INVITE of `call`, as the tracker holds it.
fn invite_tx<'t>(t: &'t Tracker, wire: &Wire, call: u32) -> Option<&'t Transaction> {
    let call_id = format!("call-{call}-{}@pbx", wire.user);
    t.transactions
        .values()
        .map(|e| &e.0)
        .find(|tx| tx.method == "INVITE" && tx.call_id == call_id)
}

/// INVITE at 0, `provisional` at `p`, `last` at `f` (s); ticks to `end`.
fn call(
    wire: &Wire,
    provisional: &str,
    p: f64,
    last: &str,
    f: f64,
    end: f64,
) -> (Tracker, Vec<Event>) {
    let inv = wire.invite(1);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(
        &mut t,
        &mut events,
        wire,
        &[
            (inv.clone(), 0.0, true),
            (wire.answer(&inv, provisional, ""), p, false),
            (wire.answer(&inv, last, ""), f, false),
        ],
    );
    t.tick(at(end), &mut events);
    (t, events)
}

#[test]
fn a_late_408_after_100_trying_attaches_to_its_invite_over_udp_v4() {
    // The case: 100 Trying, then the INVITE's own 408 at 36.8 s,
    // past the 32 s a non-INVITE would have.
    let wire = Wire::new(
        "192.168.1.20:5060",
        "198.51.100.40:5060",
        Transport::Udp,
        "trunk7",
    );
    let (t, events) = call(&wire, "100 Trying", 0.04, "408 Request Timeout", 36.8, 40.0);
    assert_attached(&t, &events, &wire, 408);
}

/// No timeout told, and the final `code` attached to the INVITE.
fn assert_attached(t: &Tracker, events: &[Event], wire: &Wire, code: u16) {
    assert!(timeouts(events).is_empty(), "{events:?}");
    assert_eq!(t.stats().timeouts, 0);
    assert_eq!(t.stats().unmatched_responses, 0);
    let tx = invite_tx(t, wire, 1).expect("kept until its final response");
    assert_eq!(tx.final_response.as_ref().map(|f| f.code), Some(code));
    assert_eq!(tx.state, TransactionState::Completed);
}

#[test]
fn a_call_ringing_for_minutes_over_tcp_v6_is_answered_not_timed_out() {
    let wire = Wire::new(
        "[2001:db8:1::20]:41234",
        "[2001:db8:ff::1]:5080",
        Transport::Tcp,
        "alice",
    );
    let (t, events) = call(&wire, "180 Ringing", 1.5, "200 OK", 95.0, 120.0);
    assert_attached(&t, &events, &wire, 200);
}

#[test]
fn an_invite_with_no_answer_at_all_still_times_out_at_timer_b() {
    for wire in [
        Wire::new("10.0.0.2:5060", "203.0.113.9:5060", Transport::Udp, "u"),
        Wire::new("[fd00::2]:5060", "[2001:db8::9]:5060", Transport::Tcp, "u"),
    ] {
        let mut t = Tracker::default();
        let mut events = Vec::new();
        feed_wire(&mut t, &mut events, &wire, &[(wire.invite(1), 0.0, true)]);
        t.tick(at(40.0), &mut events);
        let told = timeouts(&events);
        assert_eq!(told.len(), 1, "{events:?}");
        assert_eq!(told[0].method, "INVITE");
        assert!(told[0].provisional.is_none());
    }
}

#[test]
fn an_invite_in_proceeding_that_nothing_ends_is_forgotten_without_a_timeout() {
    let wire = Wire::new("10.0.0.2:5060", "203.0.113.9:5060", Transport::Udp, "u");
    let inv = wire.invite(1);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(
        &mut t,
        &mut events,
        &wire,
        &[
            (inv.clone(), 0.0, true),
            (wire.answer(&inv, "183 Session Progress", ""), 2.0, false),
        ],
    );
    t.tick(at(100.0), &mut events);
    assert!(
        invite_tx(&t, &wire, 1).is_some(),
        "still proceeding at 100 s"
    );
    t.tick(at(2.0 + TIMER_C.as_secs_f64() + 1.0), &mut events);
    t.finish(&mut events);
    assert!(invite_tx(&t, &wire, 1).is_none(), "forgotten after Timer C");
    assert!(timeouts(&events).is_empty(), "{events:?}");
    assert_eq!(t.stats().timeouts, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_late_final_attaches_to_its_invite(
        wire in any_wire(),
        calls in 1u32..6,
        provisional_ms in 1u64..30_000,
        final_after_s in 33u64..170,
        code in prop::sample::select(vec!["200 OK", "408 Request Timeout", "486 Busy Here", "487 Request Terminated", "603 Decline"]),
        ringing in any::<bool>(),
    ) {
        let provisional = if ringing { "180 Ringing" } else { "100 Trying" };
        let mut steps = Vec::new();
        for c in 0..calls {
            let inv = wire.invite(c);
            let start = f64::from(c) * 0.7;
            steps.push((inv.clone(), start, true));
            steps.push((wire.answer(&inv, provisional, ""), start + provisional_ms as f64 / 1000.0, false));
            steps.push((wire.answer(&inv, code, ""), start + final_after_s as f64, false));
        }
        steps.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut t = Tracker::default();
        let mut events = Vec::new();
        feed_wire(&mut t, &mut events, &wire, &steps);
        t.tick(at(f64::from(calls) + final_after_s as f64 + 1.0), &mut events);
        prop_assert!(timeouts(&events).is_empty(), "{:?}", events);
        prop_assert_eq!(t.stats().timeouts, 0);
        prop_assert_eq!(t.stats().unmatched_responses, 0);
        for c in 0..calls {
            let tx = invite_tx(&t, &wire, c);
            prop_assert!(tx.is_some());
            let code_seen = tx.and_then(|tx| tx.final_response.as_ref()).map(|f| f.code.to_string());
            prop_assert_eq!(code_seen.as_deref(), code.split(' ').next());
        }
    }
}
