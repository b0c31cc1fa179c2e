//! The router personalities do to SIP what real routers do; the demo and the
//! ALG / drop diagnoses stand on this. Needs root: fails, saying why, without.
use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use sipwatch_lab::*;

fn lab(personality: Personality) -> Lab {
    Lab::new(personality).unwrap_or_else(|e| panic!("lab tests need root and the lab's tools: {e}"))
}

const PBX: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(PBX_V4), 5060);
const PROVIDER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(PROVIDER_V4), 5060);

struct Exchange {
    /// What arrived at the provider, if anything.
    at_provider: Option<String>,
    /// The provider's answer as it arrived back at the PBX, if it did.
    back_at_pbx: Option<String>,
}

/// Sends `request` from the PBX's port 5060 to the provider, which answers
/// with a 200 OK copying Via, From, To, Call-ID and CSeq.
fn exchange(lab: &Lab, request: &[u8]) -> Exchange {
    let provider = lab
        .provider
        .enter(|| UdpSocket::bind(PROVIDER))
        .unwrap()
        .unwrap();
    let pbx = lab.pbx.enter(|| UdpSocket::bind(PBX)).unwrap().unwrap();
    for s in [&provider, &pbx] {
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
    }
    pbx.send_to(request, PROVIDER).unwrap();
    let mut buf = vec![0u8; 65_536];
    let Ok((n, from)) = provider.recv_from(&mut buf) else {
        return Exchange {
            at_provider: None,
            back_at_pbx: None,
        };
    };
    let at_provider = buf[..n].to_vec();
    provider
        .send_to(&response_to(&at_provider, 200, "OK"), from)
        .unwrap();
    let back_at_pbx = pbx
        .recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    Exchange {
        at_provider: Some(String::from_utf8_lossy(&at_provider).into_owned()),
        back_at_pbx,
    }
}

fn register() -> Vec<u8> {
    SipMessageFactory {
        local: PBX,
        remote: PROVIDER,
        transport: "UDP",
    }
    .request(0)
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .split("\r\n")
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {message}"))
}

#[test]
fn kernel_alg_rewrites_via_and_contact_of_a_udp_register_and_restores_the_reply() {
    let lab = lab(Personality::SipAlg);
    let x = exchange(&lab, &register());
    let arrived = x.at_provider.expect("REGISTER reached the provider");
    assert!(
        header(&arrived, "Via:").contains("203.0.113.1:5060"),
        "{arrived}"
    );
    assert!(
        header(&arrived, "Contact:").contains("203.0.113.1:5060"),
        "{arrived}"
    );
    let reply = x.back_at_pbx.expect("the 200 OK came back");
    assert!(
        header(&reply, "Via:").contains("192.168.77.10:5060"),
        "{reply}"
    );
}

#[test]
fn kernel_alg_rewrites_the_sdp_of_an_invite_and_its_content_length_follows() {
    let lab = lab(Personality::SipAlg);
    let invite = invite_with_sdp(PBX, PROVIDER, "UDP", 7, 400);
    let arrived = exchange(&lab, &invite)
        .at_provider
        .expect("INVITE reached the provider");
    assert!(arrived.contains("c=IN IP4 203.0.113.1\r\n"), "{arrived}");
    assert!(
        arrived.contains("IN IP4 203.0.113.1\r\ns="),
        "o= line: {arrived}"
    );
    let (head, body) = arrived.split_once("\r\n\r\n").unwrap();
    let length: usize = header(head, "Content-Length:")[15..]
        .trim()
        .parse()
        .unwrap();
    assert_eq!(length, body.len());
}

#[test]
fn plain_nat_leaves_sip_untouched() {
    let lab = lab(Personality::PlainNat);
    let request = register();
    let x = exchange(&lab, &request);
    assert_eq!(
        x.at_provider.as_deref().map(str::as_bytes),
        Some(&request[..])
    );
    assert!(x.back_at_pbx.is_some());
}

#[test]
fn an_outbound_firewall_drops_sip_before_the_provider() {
    let lab = lab(Personality::DropOutbound);
    let x = exchange(&lab, &register());
    assert!(x.at_provider.is_none());
}

#[test]
fn a_return_path_firewall_lets_requests_out_but_not_answers_back() {
    let lab = lab(Personality::DropReturn);
    let x = exchange(&lab, &register());
    assert!(x.at_provider.is_some());
    assert!(x.back_at_pbx.is_none());
}

#[test]
fn dropping_a_lab_removes_its_namespaces() {
    let names: Vec<String> = {
        let lab = lab(Personality::PlainNat);
        lab.namespaces()
            .iter()
            .map(|n| n.name().to_owned())
            .collect()
    };
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names {
        assert!(!list.contains(&name), "{name} left behind");
    }
}
