//! A TCP connection to the registrar that never comes up (SYNs unanswered,
//! or refused with RST) before any SIP byte was sent: a failing
//! registration attempt to that address, one per connection tried, whose
//! binding the first REGISTER that gets through then names.
use std::net::SocketAddr;

use proptest::prelude::*;

use super::{
    wire::{Wire, any_ip, feed_wire},
    *,
};
use crate::net::{ConnectionEvent, ConnectionFault};

/// How one connection attempt failed: refused, or `syns` SYNs unanswered.
#[derive(Clone, Copy, Debug)]
enum Tried {
    Refused,
    Unanswered { syns: u32 },
}

/// The events the connection watch gives for one attempt from `client`
/// to `server` starting at `secs` (RST after 1 ms; SYNs 1, 3, 7… s apart).
fn attempt(
    client: SocketAddr,
    server: SocketAddr,
    secs: f64,
    tried: Tried,
) -> Vec<ConnectionEvent> {
    let event = |at_s: f64, fault| ConnectionEvent {
        at: at(at_s),
        client,
        server,
        fault,
    };
    match tried {
        Tried::Refused => vec![event(secs + 0.001, ConnectionFault::Refused { by: server })],
        Tried::Unanswered { syns } => (2..=syns)
            .map(|n| {
                event(
                    secs + f64::from((1u32 << (n - 1)) - 1),
                    ConnectionFault::NoAnswer { syns: n },
                )
            })
            .collect(),
    }
}

fn connections(t: &mut Tracker, events: &mut Vec<Event>, faults: &[ConnectionEvent]) {
    for e in faults {
        t.push_connection(*e, events);
    }
}

/// The binding of `server` failing `attempts` times with `last` as its
/// evidence, said in words that name the address.
fn assert_failing(reg: &Registration, server: SocketAddr, attempts: u32, last: ConnectionFault) {
    assert!(reg.key.is_unsent(), "{:?}", reg.key);
    assert_eq!(reg.registrar_address, server);
    assert!(reg.state().is_failing(), "{:?}", reg.state());
    assert_eq!(reg.failures.map(|f| f.count), Some(attempts));
    assert_eq!(
        reg.diagnoses,
        [Diagnosis::ConnectionFailed {
            side: Side::Client,
            destination: server,
            connection: last,
        }]
    );
    let (cause, _) = reg.diagnoses[0].explain();
    assert!(cause.contains(&server.to_string()), "{cause}");
    let _ = (reg.status(), serde_json::to_string(reg).unwrap());
}

#[test]
fn syns_unanswered_to_a_v4_registrar_are_a_failing_registration() {
    let (client, server) = (
        "192.168.50.2:41000".parse().unwrap(),
        "198.51.100.5:5060".parse().unwrap(),
    );
    let mut t = Tracker::default();
    let mut events = Vec::new();
    connections(
        &mut t,
        &mut events,
        &attempt(client, server, 0.0, Tried::Unanswered { syns: 4 }),
    );
    assert_eq!(events.len(), 1, "one failure per attempt: {events:?}");
    assert_failing(&only(&t), server, 1, ConnectionFault::NoAnswer { syns: 4 });
}

#[test]
fn connections_refused_by_a_v6_registrar_count_one_failure_each() {
    let server: SocketAddr = "[2001:db8:40::1]:5061".parse().unwrap();
    let mut t = Tracker::default();
    let mut events = Vec::new();
    for (i, port) in [40001u16, 40007, 40013].into_iter().enumerate() {
        let client = SocketAddr::new("2001:db8:1::9".parse().unwrap(), port);
        connections(
            &mut t,
            &mut events,
            &attempt(client, server, i as f64 * 60.0, Tried::Refused),
        );
    }
    assert_failing(
        &only(&t),
        server,
        3,
        ConnectionFault::Refused { by: server },
    );
}

#[test]
fn the_first_register_that_gets_through_names_the_binding_and_ends_the_failures() {
    let wire = Wire::new(
        "10.9.0.4:38000",
        "203.0.113.60:5060",
        Transport::Tcp,
        "trunk",
    );
    let mut t = Tracker::default();
    let mut events = Vec::new();
    connections(
        &mut t,
        &mut events,
        &attempt(wire.pbx, wire.registrar, 0.0, Tried::Refused),
    );
    assert!(only(&t).key.is_unsent());
    let r = wire.register(1, 600, false);
    let ok = wire.answer(
        &r,
        "200 OK",
        &format!("Contact: <{}>;expires=600\r\n", wire.contact()),
    );
    feed_wire(
        &mut t,
        &mut events,
        &wire,
        &[(r, 60.0, true), (ok, 60.05, false)],
    );
    let reg = only(&t);
    assert!(!reg.key.is_unsent());
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 600 });
}

fn tried() -> impl Strategy<Value = Tried> {
    prop_oneof![
        Just(Tried::Refused),
        (2u32..7).prop_map(|syns| Tried::Unanswered { syns })
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn every_connection_that_never_comes_up_is_a_failing_attempt_to_its_registrar(
        client_ip in any_ip(),
        servers in prop::collection::btree_set((any_ip(), prop::sample::select(vec![5060u16, 5061, 5080, 15060])), 1..4),
        attempts in prop::collection::vec((tried(), 1u64..300_000), 1..5),
    ) {
        let servers: Vec<SocketAddr> = servers.into_iter().map(|(ip, port)| SocketAddr::new(ip, port)).collect();
        let mut faults = Vec::new();
        let mut secs = 0.0;
        for (i, (how, gap_ms)) in attempts.iter().enumerate() {
            for (j, server) in servers.iter().enumerate() {
                let client = SocketAddr::new(client_ip, 30000 + (i * 8 + j) as u16);
                faults.extend(attempt(client, *server, secs + j as f64 * 0.01, *how));
            }
            secs += 70.0 + *gap_ms as f64 / 1000.0;
        }
        faults.sort_by_key(|e| e.at);
        let mut t = Tracker::default();
        let mut events = Vec::new();
        connections(&mut t, &mut events, &faults);
        let regs = t.registrations();
        prop_assert_eq!(regs.len(), servers.len());
        let last = match attempts.last().unwrap().0 {
            Tried::Refused => None,
            Tried::Unanswered { syns } => Some(ConnectionFault::NoAnswer { syns }),
        };
        for server in &servers {
            let reg = regs.iter().find(|r| r.registrar_address == *server);
            prop_assert!(reg.is_some());
            let last = last.unwrap_or(ConnectionFault::Refused { by: *server });
            assert_failing(reg.unwrap(), *server, attempts.len() as u32, last);
        }
    }
}

#[test]
fn a_failing_tcp_connection_to_a_registrar_registered_over_udp_is_no_registration() {
    let wire = Wire::new(
        "10.9.0.4:5060",
        "203.0.113.60:5060",
        Transport::Udp,
        "trunk",
    );
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let r = wire.register(1, 600, false);
    let ok = wire.answer(
        &r,
        "200 OK",
        &format!("Contact: <{}>;expires=600\r\n", wire.contact()),
    );
    feed_wire(
        &mut t,
        &mut events,
        &wire,
        &[(r, 0.0, true), (ok, 0.05, false)],
    );
    let client = "10.9.0.4:41000".parse().unwrap();
    connections(
        &mut t,
        &mut events,
        &attempt(client, wire.registrar, 10.0, Tried::Refused),
    );
    let reg = only(&t);
    assert!(!reg.key.is_unsent());
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 600 });
}

#[test]
fn the_table_shows_the_registrar_of_a_connection_that_never_came_up() {
    let server: SocketAddr = "198.51.100.5:5060".parse().unwrap();
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let client = "192.168.50.2:41000".parse().unwrap();
    connections(
        &mut t,
        &mut events,
        &attempt(client, server, 0.0, Tried::Refused),
    );
    let mut out = Vec::new();
    crate::report::registrations::write_table(&mut out, &t.registrations(), t.now()).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(!table.contains("(no REGISTER seen)"), "{table}");
    assert!(
        table.contains("sip:198.51.100.5:5060;transport=tcp"),
        "{table}"
    );
    assert!(table.contains(UNSENT_AOR), "{table}");
    assert!(table.contains("connection refused"), "{table}");
}
