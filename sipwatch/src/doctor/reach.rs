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
    net::{IcmpKind, icmp_kind},
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
    PortUnreachable {
        /// Who sent the ICMP error, when the kernel said.
        from: Option<IpAddr>,
    },
    /// Other ICMP errors came back and no answer (host or network
    /// unreachable, administratively prohibited).
    Unreachable {
        /// Transmissions made.
        sent: u32,
        /// The first ICMP error.
        icmp: Icmp,
    },
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
    /// No answer from the target, but an answer to the OPTIONS from another
    /// address or port (a load balancer, a NAT on the provider's side): a
    /// PBX's connected socket (and its transaction) never takes it.
    AnsweredElsewhere {
        /// Where it came from.
        from: SocketAddr,
        /// Its status code.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The TLS handshake failed (the port may not speak TLS).
    TlsFailed {
        /// rustls's or the system's words.
        error: String,
    },
    /// This transport is not tested by this version.
    NotTested,
}

/// One ICMP error the kernel queued for the socket (`IP_RECVERR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Icmp {
    /// What it said ([`crate::net::icmp_kind`]); `None` for a type that is
    /// not an error about a packet.
    pub kind: Option<IcmpKind>,
    /// Its ICMP type.
    pub icmp_type: u8,
    /// Its ICMP code.
    pub icmp_code: u8,
    /// Who sent it (the host itself, or a router on the way).
    pub from: Option<IpAddr>,
}

impl Icmp {
    fn of(v6: bool, icmp_type: u8, icmp_code: u8, from: Option<IpAddr>) -> Icmp {
        Icmp {
            kind: icmp_kind(if v6 { 6 } else { 4 }, icmp_type, icmp_code),
            icmp_type,
            icmp_code,
            from,
        }
    }
}

/// Asks the kernel to queue the ICMP errors of `socket`'s datagrams with
/// their sender (`IP_RECVERR` / `IPV6_RECVERR`, ip(7)); without it only a
/// port unreachable reaches a connected socket.
fn queue_icmp_errors(socket: &UdpSocket, v6: bool) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    // SAFETY: a valid socket, a c_int option of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The ICMP errors queued for `socket` (at most 16), read without
/// blocking (`MSG_ERRQUEUE`).
fn icmp_errors(socket: &UdpSocket) -> Vec<Icmp> {
    use std::os::fd::AsRawFd;
    let mut out = Vec::new();
    for _ in 0..16 {
        let mut data = [0u8; 512];
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: zeroed msghdr is valid; its buffers live through the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: as above.
        let n = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            break;
        }
        // SAFETY: the kernel filled msg_control; the CMSG macros walk it
        // within msg_controllen.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
                let v6 = level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR;
                if v6 || (level == libc::SOL_IP && kind == libc::IP_RECVERR) {
                    let ee = libc::CMSG_DATA(cmsg) as *const libc::sock_extended_err;
                    let ee_value = std::ptr::read_unaligned(ee);
                    let icmp_origin = if v6 {
                        libc::SO_EE_ORIGIN_ICMP6
                    } else {
                        libc::SO_EE_ORIGIN_ICMP
                    };
                    if ee_value.ee_origin == icmp_origin {
                        let offender = libc::SO_EE_OFFENDER(ee);
                        let from = offender_ip(offender);
                        out.push(Icmp::of(v6, ee_value.ee_type, ee_value.ee_code, from));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    out
}

/// The address in a `SO_EE_OFFENDER` sockaddr.
///
/// # Safety
/// `sa` points into the control buffer, at a sockaddr the kernel wrote.
unsafe fn offender_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    // SAFETY: the caller's; the family says which sockaddr it is.
    unsafe {
        match i32::from(std::ptr::read_unaligned(sa).sa_family) {
            libc::AF_INET => {
                let sin = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>());
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>());
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
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
    let header = |n: &str| index.header(n).map(|v| super::clean(v.trim()));
    let via = index.header("via").and_then(|v| {
        let first = fields::split_list(&v).into_iter().next()?.to_owned();
        fields::parse_via(&first)
    });
    Answer {
        code: response.code,
        reason: super::clean(&response.reason),
        rtt_ms: ms(response.at),
        sent: exchange.sent_by(response.at),
        server: header("server"),
        user_agent: header("user-agent"),
        allow: header("allow"),
        supported: header("supported"),
        received: via
            .as_ref()
            .and_then(|v| v.received.as_deref().map(super::clean)),
        rport: via.as_ref().and_then(|v| v.rport),
        rport_present: via.as_ref().is_some_and(|v| v.rport_present),
    }
}

/// An open channel to a target, with the local address it sends from.
pub(crate) struct Opened {
    pub(crate) channel: Channel,
    pub(crate) local: SocketAddr,
    /// Over UDP, a second socket on the same port, not connected: the
    /// kernel gives it what comes from any other address (the connected
    /// socket matches the peer's datagrams better), so that an answer from
    /// another address is seen.
    pub(crate) strays: Option<UdpSocket>,
}

/// A UDP socket on `addr` that shares its port (`SO_REUSEADDR`).
fn shared_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A SIP response to an OPTIONS that came to `strays` from another
/// address than the target's.
fn stray_answer(strays: &UdpSocket) -> Option<(SocketAddr, u16, String)> {
    strays.set_nonblocking(true).ok()?;
    let mut buf = vec![0u8; crate::sip::MAX_MESSAGE + 1];
    for _ in 0..32 {
        let (n, from) = strays.recv_from(&mut buf).ok()?;
        let index = MessageIndex::parse(&buf[..n]);
        let options = index
            .header("cseq")
            .is_some_and(|c| c.trim_end().ends_with("OPTIONS"));
        if let Some(crate::sip::StartLine::Response { code, reason }) = &index.start
            && options
        {
            return Some((from, *code, super::clean(reason)));
        }
    }
    None
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
            let any = any_address(peer);
            let strays = shared_udp(SocketAddr::new(any, config.from_port)).map_err(failed)?;
            let port = strays.local_addr().map_err(failed)?.port();
            let socket = shared_udp(SocketAddr::new(any, port)).map_err(failed)?;
            queue_icmp_errors(&socket, peer.is_ipv6());
            socket.connect(peer).map_err(failed)?;
            let local = socket.local_addr().map_err(failed)?;
            Ok(Opened {
                channel: Channel::udp(socket, peer),
                local,
                strays: Some(strays),
            })
        }
        Transport::Tcp => {
            let stream = tcp(target, config)?;
            let local = stream.local_addr().map_err(failed)?;
            Ok(Opened {
                channel: Channel::stream(stream),
                local,
                strays: None,
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
                        strays: None,
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
        Outcome::Refused(_) => Reached::PortUnreachable { from: None },
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
    let Opened {
        mut channel,
        local,
        strays,
    } = match open(provider, target, config) {
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
    let icmp = match &channel {
        Channel::Udp { socket, .. } => icmp_errors(socket),
        Channel::Stream(_) => Vec::new(),
    };
    let reached = match (&exchange.outcome, icmp.first()) {
        (Outcome::Final(response), _) => Reached::Answered(read_answer(response, &exchange)),
        (Outcome::Refused(_), _) => Reached::PortUnreachable {
            from: icmp
                .iter()
                .find(|i| i.kind == Some(IcmpKind::PortUnreachable))
                .and_then(|i| i.from),
        },
        (Outcome::Timeout, _)
            if let Some((from, code, reason)) = strays.as_ref().and_then(stray_answer) =>
        {
            Reached::AnsweredElsewhere { from, code, reason }
        }
        (Outcome::Timeout, Some(&icmp)) => Reached::Unreachable {
            sent: exchange.sent(),
            icmp,
        },
        _ => unanswered(&exchange, config),
    };
    Reach {
        target: target.clone(),
        local: Some(local),
        reached,
    }
}
