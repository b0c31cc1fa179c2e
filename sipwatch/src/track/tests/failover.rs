//! DNS SRV failover: REGISTERs to a first target get no answer at all,
//! the PBX registers through the next one. The registration is fine; the
//! dead target is named (it is tried first again at every refresh), on
//! either transport and family, whatever the timings.
use std::net::SocketAddr;

use crate::net::{ConnectionEvent, ConnectionFault};

use proptest::prelude::*;

use super::{
    wire::{Wire, any_ip, any_wire, feed_wire},
    *,
};

/// Over UDP a REGISTER is sent again at these offsets (s) until Timer F
/// (T1 = 0.5 s doubling to T2 = 4 s); over TCP, once.
const UDP_RETRANSMITS: [f64; 10] = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];

/// Steps (text, time, sent by the PBX) of one target.
type Steps = Vec<(String, f64, bool)>;

/// One registration round from `start`: REGISTER `cseq` to `dead` never
/// answered, then `failover_after` s after it was first sent the same
/// binding REGISTERs to `alive`, is challenged and registered. Returns the
/// steps of each target and when the 200 came.
fn round(
    dead: &Wire,
    alive: &Wire,
    cseq: u32,
    start: f64,
    failover_after: f64,
) -> (Steps, Steps, f64) {
    let r = dead.register(cseq, 300, false);
    let mut to_dead = vec![(r.clone(), start, true)];
    if dead.transport == Transport::Udp {
        to_dead.extend(
            UDP_RETRANSMITS
                .iter()
                .filter(|&&k| k < failover_after)
                .map(|k| (r.clone(), start + k, true)),
        );
    }
    let t = start + failover_after;
    let r1 = alive.register(cseq + 1, 300, false);
    let r2 = alive.register(cseq + 2, 300, true);
    let ok = alive.answer(
        &r2,
        "200 OK",
        &format!("Contact: <{}>;expires=300\r\n", alive.contact()),
    );
    let to_alive = vec![
        (r1.clone(), t, true),
        (
            alive.answer(&r1, "401 Unauthorized", CHALLENGE),
            t + 0.02,
            false,
        ),
        (r2, t + 0.04, true),
        (ok, t + 0.06, false),
    ];
    (to_dead, to_alive, t + 0.06)
}

/// Both targets' steps in time order, fed as each one's wire.
fn run_targets(
    dead: &Wire,
    alive: &Wire,
    rounds: &[(Steps, Steps)],
    end: f64,
) -> (Tracker, Vec<Event>) {
    let mut steps: Vec<(&Wire, &(String, f64, bool))> = Vec::new();
    for (to_dead, to_alive) in rounds {
        steps.extend(to_dead.iter().map(|s| (dead, s)));
        steps.extend(to_alive.iter().map(|s| (alive, s)));
    }
    steps.sort_by(|a, b| a.1.1.total_cmp(&b.1.1));
    let mut t = Tracker::default();
    let mut events = Vec::new();
    for (wire, step) in steps {
        feed_wire(&mut t, &mut events, wire, std::slice::from_ref(step));
    }
    t.tick(at(end), &mut events);
    (t, events)
}

fn dead_target(reg: &Registration) -> Option<&Diagnosis> {
    reg.diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::DeadTarget { .. }))
}

/// The one binding is registered, with the dead target named (not a
/// failure) in data and words.
fn assert_dead_named(t: &Tracker, dead: &Wire, alive: &Wire) {
    let regs = t.registrations();
    assert_eq!(regs.len(), 1, "one binding: {regs:?}");
    let reg = regs[0];
    assert!(
        matches!(reg.state(), RegistrationState::Registered { .. }),
        "{:?}",
        reg.state()
    );
    assert!(
        reg.diagnoses.iter().all(|d| !d.is_failure()),
        "{:?}",
        reg.diagnoses
    );
    let d = dead_target(reg).unwrap_or_else(|| panic!("{:?}", reg.diagnoses));
    let Diagnosis::DeadTarget {
        dead: named,
        registered_through,
        transport,
        ..
    } = d
    else {
        unreachable!()
    };
    assert_eq!(*named, dead.registrar);
    assert_eq!(*registered_through, alive.registrar);
    assert_eq!(*transport, dead.transport);
    let (cause, fix) = d.explain();
    assert!(cause.contains(&dead.registrar.to_string()), "{cause}");
    assert!(cause.contains("next refresh"), "{cause}");
    assert!(fix.contains(&alive.registrar.to_string()), "{fix}");
    assert!(!fix.contains("dig"), "{fix}");
}

#[test]
fn a_dead_first_srv_target_over_udp_v4_is_named_after_registering_through_the_next() {
    let dead = Wire::new(
        "192.168.1.20:5060",
        "198.51.100.10:5060",
        Transport::Udp,
        "trunk",
    );
    let alive = Wire {
        registrar: "198.51.100.11:5060".parse().unwrap(),
        ..dead.clone()
    };
    // Asterisk fails over when Timer F fires (its 408).
    let (a, b, ok) = round(&dead, &alive, 1, 0.0, 32.01);
    let (t, events) = run_targets(&dead, &alive, &[(a, b)], ok + 5.0);
    assert_dead_named(&t, &dead, &alive);
    let Diagnosis::DeadTarget { sent, delay_ms, .. } = dead_target(t.registrations()[0]).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(*sent, 11);
    assert!((32_000..33_000).contains(delay_ms), "{delay_ms}");
    let (cause, _) = dead_target(t.registrations()[0]).unwrap().explain();
    assert!(cause.contains("lapses for about 23 s"), "{cause}");
    // The change is told as it happens.
    assert!(events.iter().any(|e| matches!(e, Event::Registration(r)
        if dead_target(r).is_some())));
}

#[test]
fn a_dead_first_target_over_tcp_v6_failed_over_before_timer_f_is_named_when_it_fires() {
    // A transport error fails over at once: the success is seen before
    // the dead target's Timer F.
    let dead = Wire::new(
        "[2001:db8:1::20]:40312",
        "[2001:db8:9::10]:5060",
        Transport::Tcp,
        "office",
    );
    let alive = Wire {
        registrar: "[2001:db8:9::11]:5080".parse().unwrap(),
        ..dead.clone()
    };
    let (a, b, ok) = round(&dead, &alive, 7, 100.0, 2.5);
    let (t, events) = run_targets(&dead, &alive, &[(a, b)], ok + 40.0);
    assert_dead_named(&t, &dead, &alive);
    let told = events
        .iter()
        .filter_map(|e| match e {
            Event::Registration(r) => dead_target(r).map(|_| r.state()),
            _ => None,
        })
        .next_back();
    assert!(
        matches!(told, Some(RegistrationState::Registered { .. })),
        "{told:?}"
    );
    let (cause, _) = dead_target(t.registrations()[0]).unwrap().explain();
    assert!(!cause.contains("lapses"), "{cause}");
}

#[test]
fn every_refresh_through_the_dead_target_names_it_again_until_it_answers() {
    let dead = Wire::new("10.0.0.5:5060", "203.0.113.50:5060", Transport::Udp, "pbx");
    let alive = Wire {
        registrar: "203.0.113.51:5060".parse().unwrap(),
        ..dead.clone()
    };
    let (a1, b1, _) = round(&dead, &alive, 1, 0.0, 32.01);
    let (a2, b2, ok2) = round(&dead, &alive, 10, 290.0, 32.01);
    let rounds = [(a1, b1), (a2, b2)];
    let (t, _) = run_targets(&dead, &alive, &rounds, ok2 + 1.0);
    assert_dead_named(&t, &dead, &alive);
    // Then the first target answers a refresh: nothing dead any more.
    let r = dead.register(20, 300, true);
    let ok = dead.answer(
        &r,
        "200 OK",
        &format!("Contact: <{}>;expires=300\r\n", dead.contact()),
    );
    let back = (vec![(r, 600.0, true), (ok, 600.02, false)], Vec::new());
    let [first, second] = rounds;
    let (t, _) = run_targets(&dead, &alive, &[first, second, back], 601.0);
    let reg = t.registrations()[0];
    assert!(dead_target(reg).is_none(), "{:?}", reg.diagnoses);
}

#[test]
fn a_retry_to_the_same_target_after_a_timeout_names_no_dead_target() {
    let w = Wire::new(
        "192.168.5.5:5062",
        "198.51.100.77:5060",
        Transport::Udp,
        "alone",
    );
    let (a, _, _) = round(&w, &w, 1, 0.0, 40.0);
    let r = w.register(5, 300, false);
    let ok = w.answer(
        &r,
        "200 OK",
        &format!("Contact: <{}>;expires=300\r\n", w.contact()),
    );
    let (t, _) = run_targets(
        &w,
        &w,
        &[(a, vec![(r, 92.0, true), (ok, 92.01, false)])],
        95.0,
    );
    let reg = t.registrations()[0];
    assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
    assert!(dead_target(reg).is_none(), "{:?}", reg.diagnoses);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_srv_failover_names_the_dead_target_and_stays_registered(
        wire in any_wire(),
        alive_ip in any_ip(),
        alive_port in prop::sample::select(vec![5060u16, 5061, 5080, 15060]),
        trunks in 1usize..4,
        start_ms in 0u64..600_000,
        // At Timer F (a timeout) or earlier (an ICMP or connection error).
        failover_ms in prop_oneof![32_000u64..33_500, 50u64..31_000],
    ) {
        let alive_addr = SocketAddr::new(alive_ip, alive_port);
        prop_assume!(alive_addr != wire.registrar);
        let mut rounds = Vec::new();
        let mut end = 0.0f64;
        let wires: Vec<(Wire, Wire)> = (0..trunks)
            .map(|i| {
                let dead = Wire { user: format!("{}t{i}", wire.user), ..wire.clone() };
                let alive = Wire { registrar: alive_addr, ..dead.clone() };
                (dead, alive)
            })
            .collect();
        for (i, (dead, alive)) in wires.iter().enumerate() {
            let (a, b, ok) = round(dead, alive, 1, start_ms as f64 / 1000.0 + i as f64 * 0.7, failover_ms as f64 / 1000.0);
            rounds.push((dead, alive, a, b));
            end = end.max(ok);
        }
        let mut t = Tracker::default();
        let mut events = Vec::new();
        let mut steps: Vec<(&Wire, (String, f64, bool))> = Vec::new();
        for (dead, alive, a, b) in rounds {
            steps.extend(a.into_iter().map(|s| (dead, s)));
            steps.extend(b.into_iter().map(|s| (alive, s)));
        }
        steps.sort_by(|x, y| x.1.1.total_cmp(&y.1.1));
        for (w, s) in &steps {
            feed_wire(&mut t, &mut events, w, std::slice::from_ref(s));
        }
        t.tick(at(end + 40.0), &mut events);
        let regs = t.registrations();
        prop_assert_eq!(regs.len(), trunks);
        for ((dead, alive), reg) in wires.iter().zip(&regs) {
            prop_assert!(reg.key.aor.contains(&dead.user));
            let d = dead_target(reg);
            prop_assert!(d.is_some(), "{:?}", reg.diagnoses);
            prop_assert!(matches!(reg.state(), RegistrationState::Registered { .. }), "{:?}", reg.state());
            if let Some(Diagnosis::DeadTarget { dead: named, registered_through, .. }) = d {
                prop_assert_eq!(*named, dead.registrar);
                prop_assert_eq!(*registered_through, alive.registrar);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Failover over TCP where the first target never lets a connection
    /// up (SYNs unanswered, or refused): no REGISTER ever reaches it, the
    /// binding registers through the next target (over either transport),
    /// and the dead one is named on it, never left as a failing binding
    /// of its own.
    #[test]
    fn a_first_target_whose_tcp_never_came_up_is_named_after_registering_through_the_next(
        alive in any_wire(),
        dead_ip in any_ip(),
        dead_port in prop::sample::select(vec![5060u16, 5061, 5090]),
        client_port in 1024u16..65535,
        refused in any::<bool>(),
        syns in 2u32..7,
        failover_after in 1.0f64..40.0,
    ) {
        let dead = SocketAddr::new(dead_ip, dead_port);
        prop_assume!(dead != alive.registrar && dead_ip.is_ipv4() == alive.pbx.is_ipv4());
        let client = SocketAddr::new(alive.pbx.ip(), client_port);
        let fault = if refused {
            ConnectionFault::Refused { by: dead }
        } else {
            ConnectionFault::NoAnswer { syns }
        };
        let mut t = Tracker::default();
        let mut events = Vec::new();
        // As the connection watch tells it: at the first SYN sent again
        // (1 s), then at each later one.
        let faults: Vec<(f64, ConnectionFault)> = if refused {
            vec![(0.01, fault)]
        } else {
            (2..=syns)
                .map(|n| (f64::from(1u32 << (n - 2)), ConnectionFault::NoAnswer { syns: n }))
                .collect()
        };
        for (secs, fault) in faults {
            t.push_connection(
                ConnectionEvent { at: at(secs), client, server: dead, fault },
                &mut events,
            );
        }
        let r1 = alive.register(1, 300, false);
        let r2 = alive.register(2, 300, true);
        let ok = alive.answer(&r2, "200 OK", &format!("Contact: <{}>;expires=300\r\n", alive.contact()));
        let s = f64::from(1u32 << (syns - 1)) + failover_after;
        feed_wire(&mut t, &mut events, &alive, &[
            (r1.clone(), s, true),
            (alive.answer(&r1, "401 Unauthorized", CHALLENGE), s + 0.02, false),
            (r2, s + 0.04, true),
            (ok, s + 0.06, false),
        ]);
        let regs = t.registrations();
        prop_assert_eq!(regs.len(), 1, "the dead target is no binding of its own: {:?}", regs);
        let reg = regs[0];
        prop_assert!(matches!(reg.state(), RegistrationState::Registered { .. }), "{:?}", reg.state());
        let Some(Diagnosis::DeadTarget { dead: named, registered_through, connection, sent, .. }) = dead_target(reg) else {
            return Err(TestCaseError::fail(format!("{:?}", reg.diagnoses)));
        };
        prop_assert_eq!(*named, dead);
        prop_assert_eq!(*registered_through, alive.registrar);
        prop_assert_eq!(*connection, Some(fault));
        prop_assert_eq!(*sent, 0);
        let (cause, _) = dead_target(reg).unwrap().explain();
        prop_assert!(cause.contains(&format!("TCP connection to {dead}")), "{}", cause);
    }
}
