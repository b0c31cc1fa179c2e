//! A 200 OK whose Contact list does not hold ours (RFC 3261 §10.3: it
//! lists every binding of the AOR): our binding is not listed; an ALG is
//! claimed only on its evidence (our user and parameters moved from a
//! private address to a public one), and another device's expiry is never
//! taken as ours.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// REGISTER for `asked` s, answered 200 OK listing `contacts` (header
/// values, expiry included).
fn answered_listing(wire: &Wire, asked: u32, contacts: &[String]) -> Registration {
    let r = wire.register(1, asked, false);
    let list: String = contacts
        .iter()
        .map(|c| format!("Contact: {c}\r\n"))
        .collect();
    let ok = wire.answer(&r, "200 OK", &list);
    let mut t = Tracker::default();
    feed_wire(
        &mut t,
        &mut Vec::new(),
        wire,
        &[(r, 0.0, true), (ok, 0.02, false)],
    );
    only(&t)
}

fn assert_not_listed(reg: &Registration, asked: u32) {
    let kept = reg.contacts_kept.as_ref().expect("contacts listed");
    assert!(kept.ours_missing(), "{kept:?}");
    assert_eq!(kept.rewritten_by, None, "{kept:?}");
    assert!(kept.notable());
    assert_eq!(
        reg.state(),
        RegistrationState::Registered { expires: asked },
        "never another binding's expiry"
    );
    let words = kept.words(&reg.key.contact);
    assert_eq!(words.len(), 1, "{words:?}");
    let (seen, means) = &words[0];
    assert!(seen.contains("is not among them"), "{seen}");
    assert!(seen.contains(&reg.key.contact), "{seen}");
    for w in [seen, means] {
        assert!(!w.contains("ALG"), "{w}");
        assert!(!w.contains("no longer uses"), "{w}");
    }
}

#[test]
fn another_devices_contact_alone_is_not_ours_rewritten_udp_v4() {
    // The case: the only Contact is another device's, expiring in
    // 3412 s; ours asked 600.
    let wire = Wire::new(
        "192.168.20.5:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "7001",
    );
    let reg = answered_listing(
        &wire,
        600,
        &["<sip:7001-desk@198.51.100.77:5060>;expires=3412".into()],
    );
    assert_not_listed(&reg, 600);
}

#[test]
fn our_user_with_other_parameters_is_another_binding_tcp_v6() {
    let wire = Wire::new(
        "[fd00:10::5]:40112",
        "[2001:db8:2::2]:5060",
        Transport::Tcp,
        "7001",
    );
    let reg = answered_listing(
        &wire,
        300,
        &["<sip:7001@[2001:db8:99::7]:5060;transport=tcp;ob>;expires=3000".into()],
    );
    assert_not_listed(&reg, 300);
}

#[test]
fn our_user_and_parameters_moved_from_private_to_public_is_the_alg_evidence_v6() {
    let wire = Wire::new(
        "[fd00:10::5]:5060",
        "[2001:db8:2::2]:5060",
        Transport::Udp,
        "7001",
    );
    let reg = answered_listing(
        &wire,
        300,
        &["<sip:7001@[2001:db8:99::7]:5060>;expires=280".into()],
    );
    let kept = reg.contacts_kept.as_ref().unwrap();
    assert_eq!(kept.rewritten_by, Some(Rewriter::Alg));
    assert_eq!(reg.state(), RegistrationState::Registered { expires: 280 });
}

#[test]
fn a_public_contact_sent_and_another_public_one_listed_is_no_alg() {
    // Nothing an ALG would rewrite: ours was public already.
    let wire = Wire::new(
        "198.51.100.10:5060",
        "203.0.113.2:5060",
        Transport::Udp,
        "7001",
    );
    let reg = answered_listing(
        &wire,
        120,
        &["<sip:7001@198.51.100.11:5060>;expires=90".into()],
    );
    assert_not_listed(&reg, 120);
}

/// A binding of the AOR that is not ours: another user, or ours with
/// other URI parameters, at any address, port and expiry (above 600 s,
/// so it cannot pass for what was asked).
fn other_binding() -> impl Strategy<Value = (bool, std::net::IpAddr, u16, u32)> {
    (
        any::<bool>(),
        super::wire::any_ip(),
        1024u16..65535,
        601u32..7200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn a_list_without_ours_says_so_and_keeps_what_was_asked(
        wire in any_wire(),
        asked in 60u32..600,
        others in prop::collection::vec(other_binding(), 1..6),
    ) {
        let contacts: Vec<String> = others
            .iter()
            .enumerate()
            .map(|(i, (same_user, ip, port, expires))| {
                let at = std::net::SocketAddr::new(*ip, *port);
                if *same_user {
                    format!("<sip:{}@{at};ob;x-dev={i}>;expires={expires}", wire.user)
                } else {
                    format!("<sip:{}d{i}@{at}>;expires={expires}", wire.user)
                }
            })
            .collect();
        let reg = answered_listing(&wire, asked, &contacts);
        assert_not_listed(&reg, asked);
        let kept = reg.contacts_kept.as_ref().unwrap();
        prop_assert_eq!(kept.returned.len(), contacts.len());
        prop_assert!(kept.returned.iter().all(|c| c.relation == Relation::Other));
    }
}
