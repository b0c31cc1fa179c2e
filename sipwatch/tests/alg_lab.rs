//! The comparison against the real kernel SIP ALG: what the PBX sent, and
//! what arrived at the provider through the lab's router. Needs root; fails,
//! saying why, without.
mod support;

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use sipwatch::alg::{FindingKind, alg_suspected, compare};
use sipwatch_lab::*;
use support::lab;

const PBX: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(PBX_V4), 5060);
const PROVIDER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(PROVIDER_V4), 5060);

/// Sends `message` from the PBX's 5060 and returns what the provider got.
fn across(lab: &Lab, message: &[u8]) -> Vec<u8> {
    let provider = lab
        .provider
        .enter(|| UdpSocket::bind(PROVIDER))
        .unwrap()
        .unwrap();
    let pbx = lab.pbx.enter(|| UdpSocket::bind(PBX)).unwrap().unwrap();
    provider
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    pbx.send_to(message, PROVIDER).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = provider
        .recv_from(&mut buf)
        .expect("the message crossed the router");
    buf[..n].to_vec()
}

fn finding<'a>(f: &'a [sipwatch::alg::Finding], header: &str) -> &'a sipwatch::alg::Finding {
    f.iter()
        .find(|x| x.header == header)
        .unwrap_or_else(|| panic!("no finding on {header}: {f:?}"))
}

#[test]
fn the_kernel_alg_is_caught_rewriting_a_register_and_an_invite_with_sdp() {
    let lab = lab(Personality::SipAlg);
    let factory = SipMessageFactory {
        local: PBX,
        remote: PROVIDER,
        transport: "UDP",
    };

    let register = factory.request(0);
    let f = compare(&register, &across(&lab, &register));
    assert!(alg_suspected(&f));
    let via = finding(&f, "Via");
    assert_eq!(via.kind, FindingKind::AddressRewritten);
    assert!(
        via.before
            .as_deref()
            .unwrap()
            .contains("192.168.77.10:5060")
    );
    assert!(via.after.as_deref().unwrap().contains("203.0.113.1:5060"));
    let contact = finding(&f, "Contact");
    assert_eq!(
        contact.before.as_deref(),
        Some("<sip:1001@192.168.77.10:5060>")
    );
    assert_eq!(
        contact.after.as_deref(),
        Some("<sip:1001@203.0.113.1:5060>")
    );

    let invite = invite_with_sdp(PBX, PROVIDER, "UDP", 42, 400);
    let f = compare(&invite, &across(&lab, &invite));
    for header in ["Via", "Contact", "sdp o=", "sdp c="] {
        assert_eq!(
            finding(&f, header).kind,
            FindingKind::AddressRewritten,
            "{header}: {f:?}"
        );
    }
    assert_eq!(
        finding(&f, "sdp c=").after.as_deref(),
        Some("IN IP4 203.0.113.1")
    );
    assert_eq!(
        finding(&f, "Content-Length").kind,
        FindingKind::ContentLengthChanged
    );
}

#[test]
fn plain_nat_changes_nothing_in_the_sip_message() {
    let lab = lab(Personality::PlainNat);
    let invite = invite_with_sdp(PBX, PROVIDER, "UDP", 43, 400);
    let f = compare(&invite, &across(&lab, &invite));
    assert!(f.is_empty(), "{f:?}");
    assert!(!alg_suspected(&f));
}
