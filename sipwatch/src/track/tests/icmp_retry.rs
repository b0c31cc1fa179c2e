//! ICMP port unreachable on UDP with a real Asterisk: an ICMP error does
//! not end a UDP client transaction (no connection for it to close), so
//! Asterisk 22 keeps sending the REGISTER through Timer F (11 copies in
//! 32 s), reports 408, and tries again `retry_interval` (60 s) after Timer
//! F. The prediction follows that, whether the capture holds whole rounds
//! or ends before Timer F, and never reads the default as another
//! configuration.
use std::net::SocketAddr;

use proptest::prelude::*;

use super::{
    wire::{Wire, any_ip, feed_wire},
    *,
};
use crate::net::{IcmpError, IcmpKind, QuotedPacket};

/// When a UDP non-INVITE request is sent again (T1 = 0.5 s doubling to
/// T2 = 4 s), first copy included: 11 copies before Timer F.
const COPIES: [f64; 11] = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];

const ASTERISK: &str = "Asterisk PBX 22.5.2";

/// The registrar's host refusing the copy of `wire`'s REGISTER sent at `secs`.
fn port_unreachable(wire: &Wire, secs: f64) -> IcmpError {
    IcmpError {
        timestamp: at(secs),
        direction: Some(Direction::Ingress),
        reporter: wire.registrar.ip(),
        to: wire.pbx.ip(),
        ip_version: if wire.pbx.is_ipv4() { 4 } else { 6 },
        icmp_type: if wire.pbx.is_ipv4() { 3 } else { 1 },
        code: if wire.pbx.is_ipv4() { 3 } else { 4 },
        kind: IcmpKind::PortUnreachable,
        mtu: None,
        quoted: QuotedPacket {
            transport: Transport::Udp,
            src: wire.pbx,
            dst: wire.registrar,
            payload: Vec::new(),
        },
    }
}

/// `rounds` Asterisk registrations refused by ICMP, each sent through
/// Timer F and the next `retry` s after it; the capture ends `tail` s
/// after the last round began (past Timer F, or before it).
fn asterisk_refused(wire: &Wire, rounds: u32, retry: f64, tail: f64) -> Tracker {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut start = 0.0;
    for i in 0..rounds {
        let r = wire.register(i + 1, 3600, false).replace(
            "Content-Length",
            &format!("User-Agent: {ASTERISK}\r\nContent-Length"),
        );
        let last = i + 1 == rounds;
        for k in COPIES.iter().filter(|&&k| !last || k <= tail) {
            feed_wire(&mut t, &mut events, wire, &[(r.clone(), start + k, true)]);
            t.push_icmp(&port_unreachable(wire, start + k + 0.0004), &mut events);
        }
        if !last {
            start += 32.0 + retry;
        }
    }
    t.tick(at(start + tail), &mut events);
    t.finish(&mut events);
    t
}

/// The next move is Asterisk's `retry_interval` after the last Timer F.
fn assert_retry_interval_after_timer_f(t: &Tracker, rounds: u32, retry: f64) {
    let reg = only(t);
    assert!(
        matches!(
            reg.diagnoses[0],
            Diagnosis::Unreachable {
                icmp: IcmpKind::PortUnreachable,
                ..
            }
        ),
        "{:?}",
        reg.diagnoses
    );
    let last_start = f64::from(rounds - 1) * (32.0 + retry);
    let due = at(last_start + 32.0 + 60.0);
    match reg.next_move() {
        NextMove::RetriesAt {
            at: when,
            wait_s: 60,
            rule: Rule::AsteriskRetryInterval,
            ..
        } => {
            let off = when.duration_since(due).unwrap_or_else(|e| e.duration());
            assert!(off < Duration::from_millis(600), "{when:?} vs {due:?}");
        }
        other => panic!("{other:?}"),
    }
    let words = reg.next_move().words(PbxKind::Asterisk).unwrap();
    assert!(!words.contains("differs"), "{words}");
    assert!(words.contains("retry_interval"), "{words}");
}

#[test]
fn asterisk_refused_by_icmp_over_udp_v4_retries_sixty_seconds_after_timer_f() {
    let wire = Wire::new(
        "192.168.77.10:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "trunk",
    );
    let t = asterisk_refused(&wire, 3, 60.0, 40.0);
    assert_retry_interval_after_timer_f(&t, 3, 60.0);
    let reg = only(&t);
    let record = reg.record().unwrap();
    assert_eq!(record.ended_by, Some(EndedBy::Icmp));
    assert_eq!(record.attempts, 3);
    // On the wire a REGISTER starts every Timer F + retry_interval.
    assert_eq!(record.interval_ms, Some(92_000));
    let Diagnosis::Unreachable { count, .. } = reg.diagnoses[0] else {
        unreachable!()
    };
    assert_eq!(count, 11, "every copy drew its error");
}

#[test]
fn a_capture_ending_before_timer_f_over_v6_predicts_the_retry_from_timer_f_not_the_end() {
    let wire = Wire::new(
        "[2001:db8:1::10]:5060",
        "[2001:db8:2::2]:5060",
        Transport::Udp,
        "trunk6",
    );
    // The second round's capture ends 2 s in: the PBX still sends it
    // until Timer F, then waits 60 s.
    let t = asterisk_refused(&wire, 2, 60.0, 2.0);
    assert_retry_interval_after_timer_f(&t, 2, 60.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_asterisk_refused_by_icmp_is_predicted_from_timer_f(
        pbx in any_ip(),
        registrar in any_ip(),
        port in prop::sample::select(vec![5060u16, 5080, 5160]),
        rounds in 1u32..5,
        tail in prop_oneof![0.6f64..31.0, 33.0f64..80.0],
    ) {
        prop_assume!(pbx != registrar && pbx.is_ipv4() == registrar.is_ipv4());
        let wire = Wire {
            pbx: SocketAddr::new(pbx, 5060),
            registrar: SocketAddr::new(registrar, port),
            transport: Transport::Udp,
            user: "trunk".into(),
            domain: "sip.example.net".into(),
        };
        let t = asterisk_refused(&wire, rounds, 60.0, tail);
        assert_retry_interval_after_timer_f(&t, rounds, 60.0);
    }
}
