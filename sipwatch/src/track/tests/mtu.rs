//! Path MTU: a router's ICMP "fragmentation needed" (IPv6 "packet too
//! big") quoting only the IP header and the first 8 bytes of UDP, as RFC
//! 792 routers do, is tied to the REGISTER by addresses and ports, the MTU
//! named; and a credentialed REGISTER a few hundred bytes larger than the
//! answered first one, never answered, is a path-MTU black hole even under
//! 1300 bytes.
use std::net::SocketAddr;

use proptest::prelude::*;

use super::{
    wire::{Wire, any_ip, feed_wire},
    *,
};
use crate::net::{IcmpError, IcmpKind, QuotedPacket};

/// UDP copies of a request until Timer F (first included).
const COPIES: [f64; 11] = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];

/// `request` grown by `bytes` of padding.
fn grown(request: String, bytes: usize) -> String {
    if bytes == 0 {
        return request;
    }
    request.replacen(
        "Content-Length",
        &format!("X-Pad: {}\r\nContent-Length", "p".repeat(bytes)),
        1,
    )
}

/// A REGISTER answered 401, then the credentialed one (`extra` bytes
/// larger again) sent through Timer F, never answered; `icmp` for each of
/// its copies, from `router`.
fn challenged_then_silent(wire: &Wire, extra: usize, icmp: Option<(SocketAddr, u32)>) -> Tracker {
    let r1 = wire.register(1, 600, false);
    let r2 = grown(wire.register(2, 600, true), extra);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(
        &mut t,
        &mut events,
        wire,
        &[
            (r1.clone(), 0.0, true),
            (wire.answer(&r1, "401 Unauthorized", CHALLENGE), 0.03, false),
        ],
    );
    for k in COPIES {
        feed_wire(&mut t, &mut events, wire, &[(r2.clone(), 0.05 + k, true)]);
        if let Some((router, mtu)) = icmp {
            t.push_icmp(&too_big(wire, router, mtu, 0.051 + k), &mut events);
        }
    }
    t.tick(at(40.0), &mut events);
    t
}

/// A router's error about `wire`'s REGISTER quoting the IP header and the
/// 8 bytes of the UDP header only: no SIP byte.
fn too_big(wire: &Wire, router: SocketAddr, mtu: u32, secs: f64) -> IcmpError {
    let v4 = wire.pbx.is_ipv4();
    IcmpError {
        timestamp: at(secs),
        direction: Some(Direction::Ingress),
        reporter: router.ip(),
        to: wire.pbx.ip(),
        ip_version: if v4 { 4 } else { 6 },
        icmp_type: if v4 { 3 } else { 2 },
        code: if v4 { 4 } else { 0 },
        kind: if v4 {
            IcmpKind::FragmentationNeeded
        } else {
            IcmpKind::PacketTooBig
        },
        mtu: Some(mtu),
        quoted: QuotedPacket {
            transport: Transport::Udp,
            src: wire.pbx,
            dst: wire.registrar,
            payload: Vec::new(),
        },
    }
}

#[test]
fn a_frag_needed_quoting_eight_bytes_of_udp_is_tied_to_the_register_with_its_mtu_v4() {
    let wire = Wire::new(
        "192.168.1.10:5060",
        "203.0.113.5:5060",
        Transport::Udp,
        "pbx",
    );
    let t = challenged_then_silent(&wire, 0, Some(("192.168.1.1:0".parse().unwrap(), 576)));
    let d = only(&t).diagnoses[0].clone();
    let Diagnosis::Unreachable {
        icmp,
        mtu,
        count,
        start_line,
        destination,
        ..
    } = &d
    else {
        panic!("{d:?}");
    };
    assert_eq!(
        (*icmp, *mtu, *count),
        (IcmpKind::FragmentationNeeded, Some(576), 11)
    );
    assert_eq!(*start_line, None, "the quote holds no SIP byte");
    assert_eq!(*destination, wire.registrar);
    assert_eq!(t.stats().icmp_attached, 11);
    let (cause, fix) = d.explain();
    assert!(cause.contains("192.168.1.1"), "{cause}");
    assert!(fix.contains("576"), "{fix}");
    assert!(!fix.contains("dig"), "{fix}");
}

#[test]
fn a_packet_too_big_quoting_eight_bytes_is_tied_to_the_register_v6() {
    let wire = Wire::new(
        "[2001:db8:1::10]:5060",
        "[2001:db8:2::5]:5080",
        Transport::Udp,
        "pbx6",
    );
    let t = challenged_then_silent(&wire, 0, Some(("[2001:db8:1::1]:0".parse().unwrap(), 1280)));
    let d = only(&t).diagnoses[0].clone();
    assert!(
        matches!(
            d,
            Diagnosis::Unreachable {
                icmp: IcmpKind::PacketTooBig,
                mtu: Some(1280),
                ..
            }
        ),
        "{d:?}"
    );
}

fn assert_black_hole(t: &Tracker, under_limit: bool) {
    let d = only(t).diagnoses[0].clone();
    let Diagnosis::LargeRequestUnanswered {
        bytes,
        largest_answered_bytes,
        ..
    } = &d
    else {
        panic!("{d:?}");
    };
    assert!(
        bytes >= &(largest_answered_bytes + 100),
        "{bytes} vs {largest_answered_bytes}"
    );
    let (cause, fix) = d.explain();
    if under_limit {
        assert!(*bytes <= UDP_REQUEST_LIMIT);
        assert!(cause.contains("path-MTU black hole"), "{cause}");
    }
    assert!(fix.contains("TCP"), "{fix}");
    assert!(!fix.contains("dig"), "{fix}");
}

#[test]
fn credentials_three_hundred_bytes_larger_never_answered_under_1300_are_a_path_mtu_black_hole_v4() {
    // The plain REGISTER (~400 bytes) is answered; with credentials and a
    // few more headers (~700 bytes) it is not.
    let wire = Wire::new(
        "10.8.0.2:5060",
        "198.51.100.9:5060",
        Transport::Udp,
        "office",
    );
    assert_black_hole(&challenged_then_silent(&wire, 100, None), true);
}

#[test]
fn credentials_larger_never_answered_over_v6_are_a_path_mtu_black_hole() {
    let wire = Wire::new(
        "[fd00:8::2]:5060",
        "[2001:db8:9::9]:5060",
        Transport::Udp,
        "branch",
    );
    assert_black_hole(&challenged_then_silent(&wire, 300, None), true);
}

#[test]
fn a_register_no_larger_than_the_answered_one_is_no_size_problem() {
    // A few dozen bytes more than the answered one: silence, not a size.
    let wire = Wire::new(
        "10.8.0.2:5060",
        "198.51.100.9:5060",
        Transport::Udp,
        "office",
    );
    let r1 = wire.register(1, 600, false);
    let r2 = grown(wire.register(2, 600, false), 60);
    let mut t = Tracker::default();
    let mut events = Vec::new();
    feed_wire(
        &mut t,
        &mut events,
        &wire,
        &[
            (r1.clone(), 0.0, true),
            (
                wire.answer(
                    &r1,
                    "200 OK",
                    &format!("Contact: <{}>;expires=600\r\n", wire.contact()),
                ),
                0.03,
                false,
            ),
        ],
    );
    for k in COPIES {
        feed_wire(&mut t, &mut events, &wire, &[(r2.clone(), 590.0 + k, true)]);
    }
    t.tick(at(640.0), &mut events);
    let d = &only(&t).diagnoses[0];
    assert!(matches!(d, Diagnosis::Timeout { .. }), "{d:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_credentialed_register_lost_for_its_size_is_named_so(
        pbx in any_ip(),
        registrar in any_ip(),
        port in prop::sample::select(vec![5060u16, 5080, 5160]),
        user in "[a-z0-9]{1,12}",
        extra in 0usize..700,
        router_mtu in prop::option::of(prop::sample::select(vec![576u32, 1280, 1400, 1452])),
    ) {
        prop_assume!(pbx != registrar && pbx.is_ipv4() == registrar.is_ipv4());
        let wire = Wire {
            pbx: SocketAddr::new(pbx, 5060),
            registrar: SocketAddr::new(registrar, port),
            transport: Transport::Udp,
            user,
            domain: "sip.example.net".into(),
        };
        let router = SocketAddr::new(pbx, 0);
        let t = challenged_then_silent(&wire, extra, router_mtu.map(|m| (router, m)));
        let growth = grown(wire.register(2, 600, true), extra).len() - wire.register(1, 600, false).len();
        let d = &only(&t).diagnoses[0];
        match router_mtu {
            Some(mtu) => {
                prop_assert!(matches!(d, Diagnosis::Unreachable { mtu: Some(m), .. } if *m == mtu), "{:?}", d);
            }
            None if growth >= 100 => assert_black_hole(&t, false),
            // A few dozen bytes more is no evidence of a size limit.
            None => prop_assert!(matches!(d, Diagnosis::Timeout { .. }), "{:?}", d),
        }
    }
}
