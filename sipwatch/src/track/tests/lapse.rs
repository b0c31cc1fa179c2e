//! A binding that lapsed: the PBX refreshed after the granted expiry had
//! run out, and the registrar held no binding in between. The gap is
//! reported, however the grant was written (our Contact's `expires`, the
//! Expires header, among other bindings), whether the refresh was
//! challenged, on either transport and family.
use proptest::prelude::*;

use super::{
    wire::{Wire, any_wire, feed_wire},
    *,
};

/// How the 200 OK writes the grant.
#[derive(Clone, Copy, Debug)]
enum Written {
    /// `expires=` on our Contact.
    ContactParam,
    /// Only an Expires header; our Contact without `expires`.
    Header,
    /// Our Contact with `expires=` among another device's.
    AmongOthers,
    /// Only another device's Contact, with a long expiry, and the grant in
    /// the Expires header: that device's expiry is not ours.
    OthersOnly,
}

fn ok_for(wire: &Wire, request: &str, granted: u32, written: Written) -> String {
    let ours = wire.contact();
    let extra = match written {
        Written::ContactParam => format!("Contact: <{ours}>;expires={granted}\r\n"),
        Written::Header => format!("Contact: <{ours}>\r\nExpires: {granted}\r\n"),
        Written::AmongOthers => format!(
            "Contact: <sip:{}-b@198.51.100.200:5070>;expires=3000, <{ours}>;expires={granted}\r\n",
            wire.user
        ),
        Written::OthersOnly => format!(
            "Contact: <sip:{}-b@198.51.100.200:5070>;expires=3412\r\nExpires: {granted}\r\n",
            wire.user
        ),
    };
    wire.answer(request, "200 OK", &extra)
}

/// Registered at 0 for `granted` s, refreshed at `refresh_at` (challenged
/// first when `challenged`).
fn lapsed(
    wire: &Wire,
    granted: u32,
    refresh_at: f64,
    written: Written,
    challenged: bool,
) -> Registration {
    let challenge =
        "WWW-Authenticate: Digest realm=\"sip.example.net\", nonce=\"n2\", algorithm=MD5\r\n";
    let r1 = wire.register(1, granted, false);
    let mut steps = vec![
        (r1.clone(), 0.0, true),
        (ok_for(wire, &r1, granted, written), 0.02, false),
    ];
    let mut secs = refresh_at;
    let mut cseq = 2;
    if challenged {
        let r = wire.register(cseq, granted, false);
        steps.push((r.clone(), secs, true));
        steps.push((
            wire.answer(&r, "401 Unauthorized", challenge),
            secs + 0.02,
            false,
        ));
        cseq += 1;
        secs += 0.03;
    }
    let r = wire.register(cseq, granted, challenged);
    steps.push((r.clone(), secs, true));
    steps.push((ok_for(wire, &r, granted, written), secs + 0.02, false));
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(&mut t, &mut events, wire, &steps);
    only(&t)
}

fn assert_gap(reg: &Registration, granted: u32, refresh_at: f64) {
    assert_eq!(reg.continuity.gaps, 1, "{:?}", reg.continuity);
    let gap = reg.continuity.last_gap.expect("a gap");
    assert_eq!(
        gap.lapsed_at,
        at(0.02) + Duration::from_secs(granted.into())
    );
    let expected_ms = ((refresh_at - f64::from(granted)) * 1000.0).round() as i64;
    assert!(
        (gap.length_ms as i64 - expected_ms).abs() <= 100,
        "{} ms, expected about {expected_ms}",
        gap.length_ms
    );
    let words = reg.continuity.gap_words().expect("the gap in words");
    assert!(words.starts_with("not registered from"), "{words}");
}

#[test]
fn a_refresh_after_the_grant_ran_out_is_a_gap_udp_v4() {
    let wire = Wire::new(
        "192.168.4.4:5060",
        "203.0.113.9:5060",
        Transport::Udp,
        "300",
    );
    for written in [
        Written::ContactParam,
        Written::Header,
        Written::AmongOthers,
        Written::OthersOnly,
    ] {
        let reg = lapsed(&wire, 60, 95.0, written, false);
        assert_gap(&reg, 60, 95.0);
    }
}

#[test]
fn a_challenged_refresh_after_the_grant_ran_out_is_a_gap_tcp_v6() {
    let wire = Wire::new(
        "[2001:db8:4::4]:40400",
        "[2001:db8:9::9]:5060",
        Transport::Tcp,
        "300",
    );
    let reg = lapsed(&wire, 120, 400.0, Written::AmongOthers, true);
    assert_gap(&reg, 120, 400.0);
}

#[test]
fn a_refresh_in_time_is_no_gap() {
    let wire = Wire::new(
        "192.168.4.4:5060",
        "203.0.113.9:5060",
        Transport::Udp,
        "300",
    );
    let reg = lapsed(&wire, 60, 50.0, Written::Header, true);
    assert_eq!(reg.continuity.gaps, 0);
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        Just(Written::ContactParam),
        Just(Written::Header),
        Just(Written::AmongOthers)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn every_refresh_after_the_grant_ran_out_is_a_gap(
        wire in any_wire(),
        granted in 30u32..3600,
        late_ms in 1_000u64..600_000,
        written in written(),
        challenged in any::<bool>(),
    ) {
        let refresh_at = f64::from(granted) + late_ms as f64 / 1000.0;
        let reg = lapsed(&wire, granted, refresh_at, written, challenged);
        assert_gap(&reg, granted, refresh_at);
    }
}
