//! Putting a shadow on the wire from the PBX's own address and port.
//!
//! A raw socket (`IPPROTO_RAW`, the IP and UDP headers written here; IPv4,
//! and IPv6 where the host has it, which implies the header is ours from
//! Linux 4.5 on):
//! the PBX keeps its port (nothing binds it), the packet still crosses this
//! host's netfilter OUTPUT and POSTROUTING like the PBX's own, and the
//! router's NAT and SIP ALG see the PBX's source port, the one written in
//! its Via and Contact (an ALG acts differently when they differ). An eBPF
//! clone at TC egress was the other choice; it would skip this host's
//! firewall, which is one of the things being audited. Needs `CAP_NET_RAW`.
//!
//! A PBX registering over TCP is shadowed over a TCP connection of sipwatch's
//! own from the PBX's address (an ephemeral port: the PBX's connection is
//! its own), to the echo's SIP port: ALGs act on TCP SIP by the address and
//! the port the connection goes to. The answer comes back on that
//! connection, so nothing reaches the PBX. That exchange is a
//! [`crate::client`] transaction; a UDP shadow is not: no socket of ours
//! receives its answer (the capture reads it off the wire), so there is
//! nothing for a client transaction to match or retransmit against, and the
//! PBX retransmits its own REGISTER anyway.
use std::{
    io,
    net::{SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use etherparse::PacketBuilder;

/// Why a shadow could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The raw socket could not be opened (no `CAP_NET_RAW`).
    #[error("cannot open a raw socket for the shadow REGISTERs (needs CAP_NET_RAW): {0}")]
    Socket(#[source] io::Error),
    /// The PBX's address and the echo's are not of one family.
    #[error("the PBX at {from} and the echo at {to} are not both IPv4 or both IPv6")]
    Family {
        /// The PBX's address.
        from: SocketAddr,
        /// The echo's.
        to: SocketAddr,
    },
    /// No raw IPv6 socket (IPv6 disabled on this host).
    #[error("cannot open a raw IPv6 socket for the shadow REGISTERs: {0}")]
    NoIpv6(String),
    /// The kernel refused the datagram (a local firewall, no route).
    #[error("sending the shadow to {to} failed: {source}")]
    Send {
        /// The echo.
        to: SocketAddr,
        /// The system's error from `sendto(2)` (`EPERM`: a local firewall
        /// rule; `ENETUNREACH`: no route to the echo).
        #[source]
        source: io::Error,
    },
}

/// The raw sockets shadows leave through.
pub struct RawSender {
    v4: OwnedFd,
    /// `Err`: why there is none (IPv6 disabled), said when a shadow needs it.
    v6: Result<OwnedFd, String>,
}

fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = unsafe { libc::socket(family, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl RawSender {
    /// Opens the sockets (`socket(AF_INET / AF_INET6, SOCK_RAW,
    /// IPPROTO_RAW)`); only the IPv4 one is required.
    pub fn open() -> Result<RawSender, SendError> {
        let v4 = raw_socket(libc::AF_INET).map_err(SendError::Socket)?;
        let v6 = raw_socket(libc::AF_INET6).map_err(|e| e.to_string());
        Ok(RawSender { v4, v6 })
    }

    /// Sends `payload` as one UDP datagram from `from` to `to`, both IPv4
    /// or both IPv6.
    pub fn send(&self, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Result<(), SendError> {
        let n = match (from, to) {
            (SocketAddr::V4(src), SocketAddr::V4(dst)) => {
                let packet = datagram(src, dst, payload);
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(dst.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                send_to(&self.v4, &packet, &addr)
            }
            (SocketAddr::V6(src), SocketAddr::V6(dst)) => {
                let fd = self.v6.as_ref().map_err(|e| SendError::NoIpv6(e.clone()))?;
                let packet = datagram_v6(src, dst, payload);
                // Port 0: a raw IPv6 socket reads a non-zero port as the
                // protocol (raw(7)).
                let addr = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: dst.ip().octets(),
                    },
                    sin6_scope_id: dst.scope_id(),
                };
                send_to(fd, &packet, &addr)
            }
            _ => return Err(SendError::Family { from, to }),
        };
        n.map_err(|source| SendError::Send { to, source })
    }
}

/// `sendto(2)` of `packet` to the socket address `addr` (a `sockaddr_in`
/// or `sockaddr_in6`).
fn send_to<A>(fd: &OwnedFd, packet: &[u8], addr: &A) -> io::Result<()> {
    // SAFETY: the buffer and the address outlive the call; `A` is the
    // sockaddr of the socket's family, its size passed with it.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `payload` over a new TCP connection from `from` (any port) to
/// `to`, in a thread of its own, as one [`crate::client`] transaction:
/// waits up to 5 s for the final answer (which the capture reads off the
/// wire) and closes. The result comes on `done`.
pub fn send_tcp(
    from: std::net::IpAddr,
    to: SocketAddr,
    payload: Vec<u8>,
    done: impl FnOnce(Result<(), String>) + Send + 'static,
) {
    std::thread::spawn(move || done(tcp_exchange(from, to, &payload)));
}

fn tcp_exchange(from: std::net::IpAddr, to: SocketAddr, payload: &[u8]) -> Result<(), String> {
    use crate::client::{self, Channel, ConnectError, Outcome, Timers};
    let stream = client::connect_tcp(Some(from), to, std::time::Duration::from_secs(3)).map_err(
        |e| match e {
            ConnectError::Socket(e) => format!("cannot open a TCP socket: {e}"),
            ConnectError::Bind { source, .. } => format!("cannot send from {from}: {source}"),
            ConnectError::Connect { source, .. } => format!("TCP to the echo at {to}: {source}"),
        },
    )?;
    // Until the echo has answered or the time is up; what the answer says,
    // the capture reads off the wire.
    let timers = Timers::default().with_timeout(std::time::Duration::from_secs(5));
    let exchange = client::exchange(&mut Channel::stream(stream), to, payload, &timers);
    if let Outcome::Unsent(e) = exchange.outcome {
        return Err(format!("sending the shadow to {to} over TCP: {e}"));
    }
    Ok(())
}

/// IPv4 and UDP headers (checksums computed) in front of `payload`.
fn datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let builder =
        PacketBuilder::ipv4(src.ip().octets(), dst.ip().octets(), 64).udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    // Writing into a Vec cannot fail; a payload too large for one datagram
    // is refused by the auditor before it gets here.
    let _ = builder.write(&mut out, payload);
    out
}

/// IPv6 and UDP headers (the UDP checksum, mandatory in IPv6, computed)
/// in front of `payload`.
fn datagram_v6(src: SocketAddrV6, dst: SocketAddrV6, payload: &[u8]) -> Vec<u8> {
    let builder =
        PacketBuilder::ipv6(src.ip().octets(), dst.ip().octets(), 64).udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    let _ = builder.write(&mut out, payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datagram_carries_the_pbx_source_port_and_a_valid_checksum() {
        let d = datagram(
            "192.168.77.10:5060".parse().unwrap(),
            "203.0.113.20:5060".parse().unwrap(),
            b"REGISTER sip:x SIP/2.0\r\n\r\n",
        );
        let sliced = etherparse::SlicedPacket::from_ip(&d).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("UDP");
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (5060, 5060));
        assert_eq!(udp.payload(), b"REGISTER sip:x SIP/2.0\r\n\r\n");
        let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("IPv4");
        };
        let expected = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), expected);
    }

    #[test]
    fn an_ipv6_datagram_carries_the_pbx_source_port_and_a_valid_checksum() {
        let d = datagram_v6(
            "[fd77::10]:5060".parse().unwrap(),
            "[2001:db8:113::20]:5060".parse().unwrap(),
            b"REGISTER sip:x SIP/2.0\r\n\r\n",
        );
        let sliced = etherparse::SlicedPacket::from_ip(&d).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("UDP");
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (5060, 5060));
        let Some(etherparse::NetSlice::Ipv6(ip)) = sliced.net else {
            panic!("IPv6");
        };
        let expected = udp
            .to_header()
            .calc_checksum_ipv6(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), expected);
        assert_ne!(udp.checksum(), 0);
    }
}
