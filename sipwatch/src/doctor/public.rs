//! Step 3: the address the provider sees this host at, read from the top
//! Via of its answers: `received=` (RFC 3261 §18.2.1: added when the
//! source address differs from the Via's host) and `rport=` (RFC 3581: the
//! source port, when asked for).
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::{Timed, Transport, reach::Reach};

/// The address seen, against the local one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// The transport of the answer read.
    pub transport: Transport,
    /// The target that answered.
    pub target: SocketAddr,
    /// The address sent from.
    pub local: SocketAddr,
    /// The address the provider saw: the one to whitelist.
    pub public: SocketAddr,
    /// The provider did not say the port (no `rport=`): `public`'s port is
    /// the local one, assumed.
    pub port_assumed: bool,
    /// The address differs from the local one: a NAT is on the way.
    pub nat: bool,
    /// The NAT kept the source port.
    pub port_preserved: bool,
    /// Other answers that saw another address (several public addresses,
    /// or a NAT that maps per destination).
    pub others: Vec<SocketAddr>,
}

/// The step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Public {
    /// An answer told the address.
    Seen(Seen),
    /// No target answered: nothing to read.
    NoAnswer,
}

/// The public address from the answers of step 2: the first answer over
/// UDP (the one a PBX's registration uses most), else over TCP.
pub fn from_answers(reach: &[Timed<Reach>]) -> Public {
    let seen: Vec<(Transport, SocketAddr, SocketAddr, SocketAddr, bool)> = reach
        .iter()
        .filter_map(|r| {
            let r = &r.result;
            let answer = r.answer()?;
            let local = r.local?;
            let ip = answer
                .received
                .as_deref()
                .and_then(|s| s.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                .unwrap_or(local.ip());
            let (port, assumed) = match answer.rport {
                Some(p) => (p, false),
                None => (local.port(), r.target.transport == Transport::Udp),
            };
            Some((
                r.target.transport,
                r.target.address,
                local,
                SocketAddr::new(ip, port),
                assumed,
            ))
        })
        .collect();
    let first = seen
        .iter()
        .find(|s| s.0 == Transport::Udp)
        .or_else(|| seen.first());
    let Some(&(transport, target, local, public, port_assumed)) = first else {
        return Public::NoAnswer;
    };
    let mut others: Vec<SocketAddr> = Vec::new();
    for s in &seen {
        // A TCP connection's port is its own: only addresses compare.
        let differs = if s.0 == transport {
            s.3 != public
        } else {
            s.3.ip() != public.ip()
        };
        if differs && !others.contains(&s.3) {
            others.push(s.3);
        }
    }
    Public::Seen(Seen {
        transport,
        target,
        local,
        public,
        port_assumed,
        nat: public.ip() != local.ip(),
        port_preserved: public.port() == local.port(),
        others,
    })
}
