//! Between addresses on one host, or two in one private subnet, no router
//! stands: no NAT, no SIP ALG. A timeout there is never told to disable an
//! ALG or check DNS, and a Contact the registrar rewrote is the
//! registrar's own doing, never an ALG's.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// A REGISTER sent 11 times over UDP (once over TCP), never answered.
fn unanswered(wire: &Wire) -> Tracker {
    let r = wire.register(1, 600, false);
    let mut steps = vec![(r.clone(), 0.0, true)];
    if wire.transport == Transport::Udp {
        for k in [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5] {
            steps.push((r.clone(), k, true));
        }
    }
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(&mut t, &mut events, wire, &steps);
    t.tick(at(40.0), &mut events);
    t
}

/// The timeout's fix, asserting it claims no router between.
fn assert_no_router_timeout(wire: &Wire) {
    let t = unanswered(wire);
    let reg = only(&t);
    let d = &reg.diagnoses[0];
    assert!(
        matches!(
            d,
            Diagnosis::Timeout {
                no_router: true,
                ..
            }
        ),
        "{d:?}"
    );
    let (_, fix) = d.explain();
    assert!(fix.contains("no router, NAT or SIP ALG"), "{fix}");
    assert!(!fix.contains("disable any SIP ALG"), "{fix}");
    assert!(!fix.contains("dig"), "{fix}");
    assert!(fix.contains(&wire.registrar.to_string()), "{fix}");
}

/// 200 OK listing our user at a public address: ALG-shaped, unless no
/// router can stand between the two ends.
fn rewritten_to_public(wire: &Wire) -> Registration {
    let r = wire.register(1, 600, false);
    let ok = wire.answer(
        &r,
        "200 OK",
        &format!(
            "Contact: <sip:{}@198.51.100.200:5060>;expires=600\r\n",
            wire.user
        ),
    );
    let mut t = Tracker::default();
    feed_wire(
        &mut t,
        &mut Vec::new(),
        wire,
        &[(r, 0.0, true), (ok, 0.02, false)],
    );
    only(&t)
}

#[test]
fn a_timeout_between_two_addresses_of_one_private_v4_subnet_claims_no_alg() {
    assert_no_router_timeout(&Wire::new(
        "10.20.30.5:5060",
        "10.20.30.1:5060",
        Transport::Udp,
        "lan",
    ));
}

#[test]
fn a_timeout_on_one_host_over_tcp_v6_claims_no_alg() {
    assert_no_router_timeout(&Wire::new(
        "[::1]:40500",
        "[::1]:5080",
        Transport::Tcp,
        "local",
    ));
}

#[test]
fn a_timeout_to_a_public_registrar_keeps_the_generic_advice() {
    let t = unanswered(&Wire::new(
        "10.20.30.5:5060",
        "203.0.113.1:5060",
        Transport::Udp,
        "wan",
    ));
    let (_, fix) = only(&t).diagnoses[0].explain();
    assert!(fix.contains("disable any SIP ALG"), "{fix}");
}

#[test]
fn a_contact_rewritten_in_one_private_subnet_is_the_registrars_doing_not_an_alg() {
    let wire = Wire::new(
        "192.168.50.10:5060",
        "192.168.50.1:5060",
        Transport::Udp,
        "200",
    );
    let reg = rewritten_to_public(&wire);
    let kept = reg.contacts_kept.as_ref().unwrap();
    assert_eq!(kept.rewritten_by, Some(Rewriter::Registrar));
    for (seen, means) in kept.words(&reg.key.contact) {
        assert!(!seen.contains("ALG on the path"), "{seen}");
        assert!(seen.contains("rewrote it itself"), "{seen}");
        assert!(!means.contains("disable the ALG"), "{means}");
    }
    // Across a router the same answer is an ALG's sign.
    let routed = Wire {
        registrar: "203.0.113.77:5060".parse().unwrap(),
        ..wire
    };
    let kept = rewritten_to_public(&routed).contacts_kept.unwrap();
    assert_eq!(kept.rewritten_by, Some(Rewriter::Alg));
}

/// Two addresses of one private subnet, or one host's.
fn no_router_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u8>(), 1u8..255, 1u8..255).prop_map(|(c, a, b)| (
            IpAddr::V4(Ipv4Addr::new(192, 168, c, a)),
            IpAddr::V4(Ipv4Addr::new(192, 168, c, b)),
        )),
        (any::<u8>(), any::<u8>(), 1u8..255, 1u8..255).prop_map(|(x, y, a, b)| (
            IpAddr::V4(Ipv4Addr::new(10, x, y, a)),
            IpAddr::V4(Ipv4Addr::new(10, x, y, b)),
        )),
        (any::<u16>(), 1u16..0xffff, 1u16..0xffff).prop_map(|(n, a, b)| (
            IpAddr::V6(Ipv6Addr::new(0xfd00, n, 0, 1, 0, 0, 0, a)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, n, 0, 1, 0, 0, 0, b)),
        )),
        Just((
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
        )),
        Just((
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn between_addresses_no_router_separates_no_alg_is_ever_claimed(
        wire in any_wire(),
        (pbx, registrar) in no_router_pair(),
    ) {
        let wire = Wire {
            pbx: SocketAddr::new(pbx, wire.pbx.port()),
            registrar: SocketAddr::new(registrar, wire.registrar.port()),
            ..wire
        };
        prop_assume!(wire.pbx != wire.registrar);
        assert_no_router_timeout(&wire);
        let reg = rewritten_to_public(&wire);
        prop_assert!(reg.diagnoses.iter().all(|d| !matches!(d, Diagnosis::AlgSign { .. })), "{:?}", reg.diagnoses);
        let kept = reg.contacts_kept.as_ref().unwrap();
        prop_assert_ne!(kept.rewritten_by, Some(Rewriter::Alg));
        for (seen, means) in kept.words(&reg.key.contact) {
            prop_assert!(!seen.contains("ALG on the path"), "{}", seen);
            prop_assert!(!means.contains("disable the ALG"), "{}", means);
        }
    }
}
