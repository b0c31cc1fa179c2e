//! Step 2: an OPTIONS to each target over its transport, through the
//! shared client transaction ([`crate::client`]): over UDP on RFC 3261's
//! retransmission schedule, bounded by [`Config::timeout`]; over TCP after
//! a handshake bounded the same way.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    time::Instant,
};

use serde::Serialize;

use super::{Config, Provider, Timed, Transport, dns::Target, ms, token};
use crate::{
    client::{self, Channel, Exchange, Outcome, Response, Timers},
    sip::{MessageIndex, fields},
};

/// What a target's answer said about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
    /// From the first transmission to the answer, in milliseconds.
    pub rtt_ms: f64,
    /// Transmissions made when it came (UDP retransmits).
    pub sent: u32,
    /// `Server`.
    pub server: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Allow`.
    pub allow: Option<String>,
    /// `Supported`.
    pub supported: Option<String>,
    /// The top Via's `received=`: the address the provider saw.
    pub received: Option<String>,
    /// The top Via's `rport=`: the port the provider saw.
    pub rport: Option<u16>,
    /// The top Via carried `rport` (answered or not).
    pub rport_present: bool,
}

/// How a target's check ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Reached {
    /// A final response came.
    Answered(Answer),
    /// Nothing came within the timeout (UDP: after every retransmission).
    NoAnswer {
        /// Transmissions made.
        sent: u32,
        /// How long was waited, in milliseconds.
        waited_ms: f64,
    },
    /// An ICMP port unreachable came back for the UDP datagram: the host
    /// is there, nothing listens on that port.
    PortUnreachable,
    /// The TCP handshake was answered with a RST: nothing listens.
    Refused,
    /// The TCP handshake was not answered in time: dropped on the way.
    ConnectTimeout {
        /// How long was waited, in milliseconds.
        waited_ms: f64,
    },
    /// The connection was reset after it was open.
    Reset,
    /// The peer closed the connection without answering.
    Closed,
    /// No route, no socket, or another local error.
    Failed {
        /// The system's words.
        error: String,
    },
    /// The TLS handshake failed (the port may not speak TLS).
    TlsFailed {
        /// rustls's or the system's words.
        error: String,
    },
    /// This transport is not tested by this version.
    NotTested,
}

/// One target's check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reach {
    /// The target.
    pub target: Target,
    /// The local address sent from (when a socket was opened).
    pub local: Option<SocketAddr>,
    /// How it ended.
    #[serde(flatten)]
    pub reached: Reached,
}

impl Reach {
    /// The answer, when one came.
    pub fn answer(&self) -> Option<&Answer> {
        match &self.reached {
            Reached::Answered(a) => Some(a),
            _ => None,
        }
    }
}

/// Checks every target, each timed.
pub fn check_all(provider: &Provider, targets: &[Target], config: &Config) -> Vec<Timed<Reach>> {
    targets
        .iter()
        .map(|t| super::timed(|| check(provider, t, config)))
        .collect()
}

fn any_address(peer: SocketAddr) -> IpAddr {
    match peer {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// An OPTIONS from `local` to the provider (RFC 3261 §11), with `rport`
/// asked for (RFC 3581) so the answer tells the address seen.
pub fn options(provider: &Provider, transport: Transport, local: SocketAddr) -> Vec<u8> {
    let host = uri_host(&provider.host);
    let local_host = uri_host(&local.ip().to_string());
    format!(
        "OPTIONS sip:{host} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local_host}:{port};branch=z9hG4bK-swdoc-{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:doctor@{local_host}>;tag={tag}\r\n\
         To: <sip:{host}>\r\n\
         Call-ID: {call}@sipwatch\r\n\
         CSeq: 1 OPTIONS\r\n\
         User-Agent: sipwatch doctor\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port(),
        branch = token(),
        tag = token(),
        call = token(),
    )
    .into_bytes()
}

/// A host for a URI or Via: IPv6 in brackets.
pub(crate) fn uri_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// What the doctor reads in a final response.
pub(crate) fn read_answer(response: &Response, exchange: &Exchange) -> Answer {
    let index = MessageIndex::parse(&response.bytes);
    let header = |n: &str| index.header(n).map(|v| v.trim().to_owned());
    let via = index.header("via").and_then(|v| {
        let first = fields::split_list(&v).into_iter().next()?.to_owned();
        fields::parse_via(&first)
    });
    Answer {
        code: response.code,
        reason: response.reason.clone(),
        rtt_ms: ms(response.at),
        sent: exchange.sent_by(response.at),
        server: header("server"),
        user_agent: header("user-agent"),
        allow: header("allow"),
        supported: header("supported"),
        received: via.as_ref().and_then(|v| v.received.clone()),
        rport: via.as_ref().and_then(|v| v.rport),
        rport_present: via.as_ref().is_some_and(|v| v.rport_present),
    }
}

/// An open channel to a target, with the local address it sends from.
pub(crate) struct Opened {
    pub(crate) channel: Channel,
    pub(crate) local: SocketAddr,
}

/// Opens a channel to `target`: a UDP socket from `config.from_port`
/// (connected, so an ICMP port unreachable is heard), or a TCP connection.
pub(crate) fn open(
    provider: &Provider,
    target: &Target,
    config: &Config,
) -> Result<Opened, Box<Reached>> {
    let peer = target.address;
    let failed = |e: std::io::Error| {
        Box::new(Reached::Failed {
            error: e.to_string(),
        })
    };
    match target.transport {
        Transport::Udp => {
            let socket = UdpSocket::bind(SocketAddr::new(any_address(peer), config.from_port))
                .map_err(failed)?;
            socket.connect(peer).map_err(failed)?;
            let local = socket.local_addr().map_err(failed)?;
            Ok(Opened {
                channel: Channel::udp(socket, peer),
                local,
            })
        }
        Transport::Tcp => {
            let stream = tcp(target, config)?;
            let local = stream.local_addr().map_err(failed)?;
            Ok(Opened {
                channel: Channel::stream(stream),
                local,
            })
        }
        Transport::Tls => {
            // Reachability only: any certificate is accepted here; the TLS
            // step judges it.
            let roots = std::sync::Arc::new(rustls::RootCertStore::empty());
            let stream = tcp(target, config)?;
            match super::tls::handshake(&provider.host, stream, config, &roots) {
                Ok(c) => {
                    let local = c.stream.sock.local_addr().map_err(failed)?;
                    Ok(Opened {
                        channel: Channel::stream(c.stream),
                        local,
                    })
                }
                Err(super::tls::Session::NoConnection { error }) => {
                    Err(Box::new(Reached::Failed { error }))
                }
                Err(super::tls::Session::HandshakeFailed { error }) => {
                    Err(Box::new(Reached::TlsFailed { error }))
                }
                Err(super::tls::Session::Completed(_)) => Err(Box::new(Reached::NotTested)),
            }
        }
    }
}

/// A TCP connection to `target`, or how it failed: refused (RST), timed
/// out, or another error.
fn tcp(target: &Target, config: &Config) -> Result<std::net::TcpStream, Box<Reached>> {
    let start = Instant::now();
    client::connect_tcp(None, target.address, config.timeout).map_err(|e| {
        Box::new(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Reached::Refused,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                Reached::ConnectTimeout {
                    waited_ms: ms(start.elapsed()),
                }
            }
            _ => Reached::Failed {
                error: e.to_string(),
            },
        })
    })
}

/// What a transaction's outcome means for a target, when it is not a
/// final response.
pub(crate) fn unanswered(exchange: &Exchange, config: &Config) -> Reached {
    match &exchange.outcome {
        Outcome::Final(_) => unreachable!("answered"),
        Outcome::Timeout => Reached::NoAnswer {
            sent: exchange.sent(),
            waited_ms: ms(config.timeout),
        },
        Outcome::Refused(_) => Reached::PortUnreachable,
        Outcome::Reset => Reached::Reset,
        Outcome::Closed => Reached::Closed,
        Outcome::Unsent(e) | Outcome::Broken(e) => Reached::Failed {
            error: e.to_string(),
        },
    }
}

/// The RFC 3261 timers bounded by the doctor's timeout.
pub(crate) fn timers(config: &Config) -> Timers {
    Timers::default().with_timeout(config.timeout)
}

/// One OPTIONS to one target.
pub fn check(provider: &Provider, target: &Target, config: &Config) -> Reach {
    let Opened { mut channel, local } = match open(provider, target, config) {
        Ok(o) => o,
        Err(reached) => {
            return Reach {
                target: target.clone(),
                local: None,
                reached: *reached,
            };
        }
    };
    let request = options(provider, target.transport, local);
    let exchange = client::exchange(&mut channel, target.address, &request, &timers(config));
    let reached = match &exchange.outcome {
        Outcome::Final(response) => Reached::Answered(read_answer(response, &exchange)),
        _ => unanswered(&exchange, config),
    };
    Reach {
        target: target.clone(),
        local: Some(local),
        reached,
    }
}
