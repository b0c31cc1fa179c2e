//! One registrar, one key: a Request-URI written with a parameter, with its
//! default port or in capitals names the same registrar as the bare one;
//! the binding is one, and every form stays visible.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// REGISTERs of `wire` to each Request-URI of `forms` in turn, 60 s
/// apart, each answered 200 OK.
fn registered_through(wire: &Wire, forms: &[String]) -> Tracker {
    let mut t = Tracker::default();
    registered_into(&mut t, wire, forms);
    t
}

/// As [`registered_through`], into the tracker `t` (several trunks in one
/// capture).
fn registered_into(t: &mut Tracker, wire: &Wire, forms: &[String]) {
    let mut events = Vec::new();
    for (i, form) in forms.iter().enumerate() {
        let r = wire.register(i as u32 + 1, 120, false).replacen(
            &format!("REGISTER sip:{} ", wire.domain),
            &format!("REGISTER {form} "),
            1,
        );
        let ok = wire.answer(
            &r,
            "200 OK",
            &format!("Contact: <{}>;expires=120\r\n", wire.contact()),
        );
        let secs = i as f64 * 60.0;
        feed_wire(
            t,
            &mut events,
            wire,
            &[(r, secs, true), (ok, secs + 0.02, false)],
        );
    }
}

#[test]
fn transport_udp_and_bare_are_one_registrar_v4() {
    let wire = Wire::new(
        "192.168.1.9:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "1001",
    );
    let forms = [
        "sip:203.0.113.2".to_owned(),
        "sip:203.0.113.2;transport=udp".to_owned(),
    ];
    let t = registered_through(&wire, &forms);
    let reg = only(&t);
    assert_eq!(reg.key.registrar, "sip:203.0.113.2");
    assert_eq!(reg.request_uri_forms, ["sip:203.0.113.2;transport=udp"]);
    assert_eq!(
        crate::say::registration::registrar(&reg),
        "sip:203.0.113.2 | sip:203.0.113.2;transport=udp"
    );
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 120 });
}

#[test]
fn a_default_port_and_capitals_are_one_registrar_v6_tcp() {
    let wire = Wire::new(
        "[2001:db8::9]:40000",
        "[2001:db8::2]:5060",
        Transport::Tcp,
        "1001",
    );
    let forms = [
        "sip:[2001:db8::2];transport=tcp".to_owned(),
        "SIP:[2001:DB8::2]:5060".to_owned(),
        "sip:[2001:db8::2]".to_owned(),
    ];
    let t = registered_through(&wire, &forms);
    let reg = only(&t);
    assert_eq!(reg.key.registrar, forms[0]);
    assert_eq!(reg.request_uri_forms, forms[1..]);
}

#[test]
fn another_port_or_host_is_another_registrar() {
    let wire = Wire::new(
        "192.168.1.9:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "1001",
    );
    let forms = [
        "sip:203.0.113.2".to_owned(),
        "sip:203.0.113.2:5080".to_owned(),
        "sip:203.0.113.3".to_owned(),
    ];
    let t = registered_through(&wire, &forms);
    assert_eq!(t.registrations().len(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn every_form_of_one_registrar_is_one_binding_per_trunk(
        wire in any_wire(),
        trunks in 1usize..4,
        params in prop::collection::vec(prop::sample::select(vec![";transport=udp", ";transport=tcp", ";lr", "", ":5060"]), 1..5),
    ) {
        let host = match wire.registrar.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let forms: Vec<String> = params.iter().map(|p| format!("sip:{host}{p}")).collect();
        let mut t = Tracker::default();
        let wires: Vec<Wire> = (0..trunks)
            .map(|trunk| Wire { user: format!("{}k{trunk}", wire.user), ..wire.clone() })
            .collect();
        for w in &wires {
            registered_into(&mut t, w, &forms);
        }
        let regs = t.registrations();
        prop_assert_eq!(regs.len(), trunks);
        let mut distinct: Vec<&String> = Vec::new();
        for f in &forms[1..] {
            if *f != forms[0] && !distinct.contains(&f) {
                distinct.push(f);
            }
        }
        for reg in regs {
            prop_assert_eq!(&reg.key.registrar, &forms[0]);
            prop_assert_eq!(reg.request_uri_forms.iter().collect::<Vec<_>>(), distinct.clone());
            prop_assert_eq!(reg.state(), RegistrationState::Registered { expires: 120 });
        }
    }
}
