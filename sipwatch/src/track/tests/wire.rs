//! Exchanges built for any peers: addresses (IPv4 or IPv6), ports,
//! transport, user and domain are parameters, so that a rule is tested on
//! exchanges of its kind, not on one capture's particulars. The property
//! tests draw them at random ([`any_wire`]).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::*;

/// The two ends of one exchange and how they talk.
#[derive(Clone, Debug)]
pub struct Wire {
    /// This host (the PBX registering), `ip:port`.
    pub pbx: SocketAddr,
    /// The registrar, `ip:port`.
    pub registrar: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The account: the user of From, To and Contact.
    pub user: String,
    /// The registrar's domain (Request-URI host).
    pub domain: String,
}

impl Wire {
    /// A PBX at `pbx` registering `user` to `registrar` over `transport`.
    pub fn new(pbx: &str, registrar: &str, transport: Transport, user: &str) -> Wire {
        Wire {
            pbx: pbx.parse().unwrap(),
            registrar: registrar.parse().unwrap(),
            transport,
            user: user.to_owned(),
            domain: "sip.example.net".to_owned(),
        }
    }

    /// The message as captured, sent by the PBX (`outbound`) or the
    /// registrar.
    pub fn message(&self, text: &str, secs: f64, outbound: bool) -> Message {
        Message {
            timestamp: at(secs),
            direction: Some(if outbound {
                Direction::Egress
            } else {
                Direction::Ingress
            }),
            transport: self.transport,
            src: if outbound { self.pbx } else { self.registrar },
            dst: if outbound { self.registrar } else { self.pbx },
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            bytes: text.as_bytes().to_vec(),
            origin: crate::sip::Origin::CaptureFile,
        }
    }

    /// The PBX's own Contact URI (`sip:user@ip:port`, IPv6 in brackets).
    pub fn contact(&self) -> String {
        format!("sip:{}@{}", self.user, self.pbx)
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "Via: SIP/2.0/{} {};branch=z9hG4bK-{branch};rport\r\n",
            self.transport, self.pbx
        )
    }

    /// A REGISTER for `expires` s, with credentials (any nonce) when `auth`.
    pub fn register(&self, cseq: u32, expires: u32, auth: bool) -> String {
        let (user, domain) = (&self.user, &self.domain);
        let auth = if auth {
            format!(
                "Authorization: Digest username=\"{user}\", realm=\"{domain}\", nonce=\"n\", uri=\"sip:{domain}\", response=\"0123456789abcdef\", algorithm=MD5\r\n"
            )
        } else {
            String::new()
        };
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\n{}From: <sip:{user}@{domain}>;tag=f\r\nTo: <sip:{user}@{domain}>\r\n\
             Call-ID: reg-{user}@pbx\r\nCSeq: {cseq} REGISTER\r\nContact: <{}>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n",
            self.via(&format!("r{user}{cseq}")),
            self.contact()
        )
    }

    /// An INVITE from `user` (one call, `call`) to a number at the domain.
    pub fn invite(&self, call: u32) -> String {
        let (user, domain) = (&self.user, &self.domain);
        format!(
            "INVITE sip:5551234@{domain} SIP/2.0\r\n{}From: <sip:{user}@{domain}>;tag=f{call}\r\nTo: <sip:5551234@{domain}>\r\n\
             Call-ID: call-{call}-{user}@pbx\r\nCSeq: 1 INVITE\r\nContact: <{}>\r\nContent-Length: 0\r\n\r\n",
            self.via(&format!("i{user}{call}")),
            self.contact()
        )
    }

    /// The answer `status` ("200 OK") to `request`, with `extra` headers.
    pub fn answer(&self, request: &str, status: &str, extra: &str) -> String {
        let keep: Vec<&str> = request
            .split("\r\n")
            .filter(|l| {
                ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| l.strip_suffix("\r\n").unwrap_or(l))
            .collect();
        let keep = keep
            .join("\r\n")
            .replacen(">\r\nCall-ID", ">;tag=t\r\nCall-ID", 1);
        format!("SIP/2.0 {status}\r\n{keep}\r\n{extra}Content-Length: 0\r\n\r\n")
    }
}

/// Feeds `steps` (text, time, sent by the PBX) of `wire` to `t`.
pub fn feed_wire(
    t: &mut Tracker,
    events: &mut Vec<Event>,
    wire: &Wire,
    steps: &[(String, f64, bool)],
) {
    for (text, secs, outbound) in steps {
        t.push(&wire.message(text, *secs, *outbound).parsed(), events);
    }
}

/// Any unicast address: private or public, IPv4 or IPv6.
pub fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (1u8..224, any::<u8>(), any::<u8>(), 1u8..255)
            .prop_map(|(a, b, c, d)| IpAddr::V4(Ipv4Addr::new(a, b, c, d))),
        (0x2001u16..0x2fff, any::<u16>(), any::<u16>(), 1u16..0xffff)
            .prop_map(|(a, b, c, d)| IpAddr::V6(Ipv6Addr::new(a, b, 0, 0, c, 0, 0, d))),
        (any::<u8>(), 1u8..255).prop_map(|(c, d)| IpAddr::V4(Ipv4Addr::new(192, 168, c, d))),
        (any::<u16>(), 1u16..0xffff)
            .prop_map(|(b, d)| IpAddr::V6(Ipv6Addr::new(0xfd00, b, 0, 0, 0, 0, 0, d))),
    ]
}

/// Any two peers, on any ports, over UDP or TCP, with any user.
pub fn any_wire() -> impl Strategy<Value = Wire> {
    (
        any_ip(),
        any_ip(),
        1024u16..65535,
        prop::sample::select(vec![5060u16, 5080, 5160, 15060]),
        prop_oneof![Just(Transport::Udp), Just(Transport::Tcp)],
        "[a-z0-9]{1,12}",
    )
        .prop_filter("two hosts", |(a, b, ..)| a != b)
        .prop_map(|(pbx, registrar, pbx_port, port, transport, user)| Wire {
            pbx: SocketAddr::new(pbx, pbx_port),
            registrar: SocketAddr::new(registrar, port),
            transport,
            user,
            domain: "sip.example.net".to_owned(),
        })
}
