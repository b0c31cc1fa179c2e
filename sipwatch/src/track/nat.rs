//! What a registrar's answer says about the path: NAT (its `received` /
//! `rport` on our Via), a private Contact it kept, and the passive signs of
//! a SIP ALG that rewrote the answer on its way back. Only hints: the
//! active check is `sipwatch probe`.
use std::net::{IpAddr, SocketAddr};

use super::diagnosis::{AlgSignKind, Diagnosis, Side};
use crate::sip::{ParsedMessage, fields::Via};

/// What the registrar is told about this binding's request path.
pub struct Path<'a> {
    pub contact: &'a str,
    pub registrar: SocketAddr,
    pub side: Side,
    /// Our top Via asked for `rport`.
    pub asked_rport: bool,
    /// The transport of the REGISTER: over TCP the connection's source
    /// port is ephemeral and differs from Via's port with or without NAT.
    pub transport: crate::net::Transport,
    /// Where the 2xx was delivered: this host's end of the connection when
    /// this host sent the REGISTER.
    pub local: SocketAddr,
}

/// The hints a 2xx to a REGISTER gives.
pub fn hints(p: &ParsedMessage<'_>, path: &Path<'_>) -> Vec<Diagnosis> {
    let mut hints = Vec::new();
    let Some(via) = p.vias().into_iter().next() else {
        return hints;
    };
    let nat = match path.transport {
        crate::net::Transport::Udp => nat_seen(&via),
        // Every connection's source port is ephemeral, TLS and WebSockets
        // included.
        crate::net::Transport::Tcp
        | crate::net::Transport::Tls
        | crate::net::Transport::Ws
        | crate::net::Transport::Wss => nat_seen_over_tcp(&via, path),
    };
    if nat {
        hints.push(Diagnosis::NatRewritesVia {
            side: path.side,
            sent_by: via.sent_by.clone(),
            received: via.received.clone(),
            rport: via.rport,
        });
    }
    // No ALG between a registrar on a private address, or on this very
    // host (loopback), and this host.
    if path.side == Side::Registrar
        || is_private(path.registrar.ip())
        || same_link(path.registrar.ip(), path.local.ip())
    {
        return hints;
    }
    let registrar = path.registrar.to_string();
    let received_ip = via.received.as_deref().and_then(ip_of);
    if received_ip.is_some_and(is_private) {
        hints.push(Diagnosis::AlgSign {
            sign: AlgSignKind::ReceivedPrivate,
            received: via.received.clone(),
            registrar: registrar.clone(),
        });
    } else if path.asked_rport && via.received.is_none() && via.rport.is_none() {
        hints.push(Diagnosis::AlgSign {
            sign: AlgSignKind::ViaStripped,
            received: None,
            registrar: registrar.clone(),
        });
    }
    // Where the registrar saw our own private address there is no NAT to
    // blame; where it listed our Contact with its public address it fixed
    // the Contact itself.
    let contact_private =
        ip_of(&crate::sip::fields::parse_uri(path.contact).host).is_some_and(is_private);
    let contacts = p.contacts();
    let kept = contacts.is_empty()
        || contacts
            .iter()
            .any(|c| c.uri.text.trim_matches(['<', '>']) == path.contact);
    if nat && contact_private && kept {
        hints.push(Diagnosis::PrivateContact {
            contact: path.contact.to_owned(),
            registrar,
        });
    }
    hints
}

/// The address the registrar saw us at, from its answer's top Via
/// (`received`, else our sent-by host, with `rport`), when it says so.
pub fn seen_as(p: &ParsedMessage<'_>) -> Option<String> {
    let via = p.vias().into_iter().next()?;
    if via.received.is_none() && via.rport.is_none() {
        return None;
    }
    let host = via.received.unwrap_or(via.host);
    Some(match via.rport {
        Some(port) if host.contains(':') && !host.starts_with('[') => format!("[{host}]:{port}"),
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The registrar saw another address or port than the Via announced.
fn nat_seen(via: &Via) -> bool {
    let unbracket = |h: &str| h.trim_matches(['[', ']']).to_owned();
    let received_differs = via
        .received
        .as_deref()
        .is_some_and(|r| unbracket(r) != unbracket(&via.host));
    let port_differs = via
        .rport
        .is_some_and(|r| Some(r) != via.port.or(Some(5060)));
    received_differs || port_differs
}

/// Over TCP (RFC 3261 §18.2.1): the registrar saw another address than
/// the Via's, or (this host being the client) another port than the one
/// this host's end of the connection really has. The Via's own port says
/// where the client listens, not where the connection comes from, so a
/// difference from it is no evidence of NAT.
fn nat_seen_over_tcp(via: &Via, path: &Path<'_>) -> bool {
    let unbracket = |h: &str| h.trim_matches(['[', ']']).to_owned();
    let received_differs = via
        .received
        .as_deref()
        .is_some_and(|r| unbracket(r) != unbracket(&via.host));
    let port_translated =
        path.side == Side::Client && via.rport.is_some_and(|r| r != path.local.port());
    received_differs || port_translated
}

fn ip_of(host: &str) -> Option<IpAddr> {
    host.trim_matches(['[', ']']).parse().ok()
}

/// RFC 1918, CGNAT (RFC 6598), link-local and IPv6 ULA.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether no router can stand between `a` and `b`: the same address, both
/// loopback, or two private addresses in one subnet (IPv4: one /24, the
/// common LAN size; IPv6: one /64, RFC 4291 §2.5.4). No NAT or SIP ALG then
/// sits between them. A wider subnet reads as "maybe routed": only a claim
/// is withheld, never evidence.
pub fn same_link(a: IpAddr, b: IpAddr) -> bool {
    if a == b || (a.is_loopback() && b.is_loopback()) {
        return true;
    }
    if !(is_private(a) && is_private(b)) {
        return false;
    }
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..4] == b.segments()[..4],
        _ => false,
    }
}
