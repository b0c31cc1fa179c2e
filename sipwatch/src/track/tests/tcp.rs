//! TCP's own evidence: the connection's source port is ephemeral, so a
//! Via port that differs from it is no NAT; an attempt still in flight
//! when the capture ends is not a timeout.
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::{
    wire::{Wire, any_ip, feed_wire},
    *,
};
use crate::net::{ConnectionEvent, ConnectionFault};

/// A REGISTER over `wire` whose Via names `listen_port` (where the PBX
/// listens, as PJSIP writes it), answered 200 OK with the address the
/// registrar saw (`received`, `rport`).
fn registered(wire: &Wire, listen_port: u16, seen: SocketAddr) -> Registration {
    let sent_by = SocketAddr::new(wire.pbx.ip(), listen_port);
    let r = wire.register(1, 300, false).replacen(
        &format!(" {};branch", wire.pbx),
        &format!(" {sent_by};branch"),
        1,
    );
    let received = match seen.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let ok = wire
        .answer(
            &r,
            "200 OK",
            &format!("Contact: <{}>;expires=300\r\n", wire.contact()),
        )
        .replacen(
            ";rport\r\n",
            &format!(";rport={};received={received}\r\n", seen.port()),
            1,
        );
    let mut t = Tracker::default();
    feed_wire(
        &mut t,
        &mut Vec::new(),
        wire,
        &[(r, 0.0, true), (ok, 0.03, false)],
    );
    only(&t)
}

fn nat_claimed(reg: &Registration) -> bool {
    reg.diagnoses
        .iter()
        .any(|d| matches!(d, Diagnosis::NatRewritesVia { .. }))
}

#[test]
fn an_ephemeral_tcp_source_port_is_no_nat_v4_and_v6() {
    for (pbx, registrar) in [
        ("10.0.0.5:43122", "203.0.113.2:5060"),
        ("[2001:db8:1::5]:51000", "[2001:db8:2::2]:5060"),
    ] {
        let wire = Wire::new(pbx, registrar, Transport::Tcp, "1001");
        let reg = registered(&wire, 5060, wire.pbx);
        assert_eq!(reg.state(), RegistrationState::Registered { expires: 300 });
        assert!(!nat_claimed(&reg), "{:?}", reg.diagnoses);
    }
}

#[test]
fn over_tcp_another_address_seen_is_still_nat() {
    let wire = Wire::new(
        "192.168.1.5:43122",
        "203.0.113.2:5060",
        Transport::Tcp,
        "1001",
    );
    let reg = registered(&wire, 5060, "198.51.100.9:43122".parse().unwrap());
    assert!(nat_claimed(&reg), "{:?}", reg.diagnoses);
    let reg = registered(&wire, 5060, "192.168.1.5:61000".parse().unwrap());
    assert!(nat_claimed(&reg), "a translated port: {:?}", reg.diagnoses);
}

#[test]
fn over_udp_a_port_other_than_vias_is_still_nat() {
    let wire = Wire::new(
        "192.168.1.5:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "1001",
    );
    let reg = registered(&wire, 5060, "192.168.1.5:35000".parse().unwrap());
    assert!(nat_claimed(&reg), "{:?}", reg.diagnoses);
}

#[test]
fn a_tcp_register_in_flight_when_the_capture_ends_is_not_a_timeout() {
    let wire = Wire::new("10.0.0.5:43122", "203.0.113.2:5060", Transport::Tcp, "1001");
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(
        &mut t,
        &mut events,
        &wire,
        &[(wire.register(1, 300, false), 0.0, true)],
    );
    for (i, secs) in [0.2, 0.6, 1.4, 3.0, 6.2].into_iter().enumerate() {
        t.push_connection(
            ConnectionEvent {
                at: at(secs),
                client: wire.pbx,
                server: wire.registrar,
                fault: ConnectionFault::Unacknowledged {
                    from: wire.pbx,
                    retransmissions: i as u32 + 1,
                    idle_before_ms: 0,
                },
            },
            &mut events,
        );
    }
    t.finish(&mut events);
    assert!(
        events.iter().all(|e| !matches!(e, Event::Timeout(_))),
        "{events:?}"
    );
    assert_eq!(only(&t).state(), RegistrationState::RequestSent);
    assert_eq!(t.stats().timeouts, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn tcp_is_called_nat_only_when_the_registrar_saw_another_address_or_port(
        pbx in any_ip(),
        registrar in any_ip(),
        local_port in 1024u16..65535,
        listen_port in prop::sample::select(vec![5060u16, 5061, 5080, 15060]),
        public in prop::option::of((any_ip(), 1024u16..65535)),
        user in "[a-z0-9]{1,10}",
    ) {
        prop_assume!(pbx != registrar);
        let wire = Wire {
            pbx: SocketAddr::new(pbx, local_port),
            registrar: SocketAddr::new(registrar, 5060),
            transport: Transport::Tcp,
            user,
            domain: "sip.example.net".into(),
        };
        let seen = public.map_or(wire.pbx, |(ip, port)| SocketAddr::new(ip, port));
        let reg = registered(&wire, listen_port, seen);
        prop_assert_eq!(reg.state(), RegistrationState::Registered { expires: 300 });
        prop_assert_eq!(nat_claimed(&reg), seen != wire.pbx, "{:?}", reg.diagnoses);
    }
}

/// A TCP REGISTER that the registrar's TCP acknowledged (at `acked_after`
/// s) and nothing answered by Timer F, captured with `direction`.
fn acked_unanswered(wire: &Wire, acked_after: f64, direction: Option<Direction>) -> Registration {
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut m = wire.message(&wire.register(1, 300, false), 0.0, true);
    m.direction = direction;
    t.push(&m.parsed(), &mut events);
    t.push_acked(crate::net::ConnectionAcked {
        at: at(acked_after),
        client: wire.pbx,
        server: wire.registrar,
    });
    t.tick(at(40.0), &mut events);
    only(&t)
}

fn assert_reached_the_registrar(reg: &Registration) {
    let d = &reg.diagnoses[0];
    assert!(
        matches!(
            d,
            Diagnosis::Timeout {
                tcp_acked: true,
                left_this_host: Some(true),
                ..
            }
        ),
        "{d:?}"
    );
    let (cause, fix) = d.explain();
    assert!(cause.contains("acknowledged it"), "{cause}");
    assert_eq!(
        reg.record().and_then(|r| r.ended_by),
        Some(EndedBy::TcpAckedOnly),
        "the fails: line agrees"
    );
    assert!(!cause.contains("is not known"), "{cause}");
    assert!(!fix.contains("dig"), "{fix}");
}

#[test]
fn a_tcp_register_the_registrar_acked_left_this_host_even_without_a_direction() {
    for (pbx, registrar, direction) in [
        ("10.0.0.5:43122", "203.0.113.2:5060", None),
        (
            "[2001:db8:1::5]:51000",
            "[2001:db8:2::2]:5060",
            Some(Direction::Egress),
        ),
    ] {
        let wire = Wire::new(pbx, registrar, Transport::Tcp, "1001");
        assert_reached_the_registrar(&acked_unanswered(&wire, 0.04, direction));
    }
}

#[test]
fn an_ack_on_another_connection_says_nothing_about_this_register() {
    let wire = Wire::new("10.0.0.5:43122", "203.0.113.2:5060", Transport::Tcp, "1001");
    let other = Wire {
        pbx: "10.0.0.5:43999".parse().unwrap(),
        ..wire.clone()
    };
    let mut t = Tracker::default();
    let mut events = Vec::new();
    let mut m = wire.message(&wire.register(1, 300, false), 0.0, true);
    m.direction = None;
    t.push(&m.parsed(), &mut events);
    t.push_acked(crate::net::ConnectionAcked {
        at: at(0.05),
        client: other.pbx,
        server: other.registrar,
    });
    t.tick(at(40.0), &mut events);
    assert!(
        matches!(
            only(&t).diagnoses[0],
            Diagnosis::Timeout {
                tcp_acked: false,
                left_this_host: None,
                ..
            }
        ),
        "{:?}",
        only(&t).diagnoses
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_acked_tcp_register_left_this_host(
        pbx in any_ip(),
        registrar in any_ip(),
        local_port in 1024u16..65535,
        acked_ms in 1u64..20_000,
        with_direction in any::<bool>(),
    ) {
        prop_assume!(pbx != registrar);
        let wire = Wire {
            pbx: SocketAddr::new(pbx, local_port),
            registrar: SocketAddr::new(registrar, 5060),
            transport: Transport::Tcp,
            user: "u".into(),
            domain: "sip.example.net".into(),
        };
        let direction = with_direction.then_some(Direction::Egress);
        assert_reached_the_registrar(&acked_unanswered(&wire, acked_ms as f64 / 1000.0, direction));
    }
}
