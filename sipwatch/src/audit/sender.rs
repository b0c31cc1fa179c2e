//! Putting a shadow on the wire from the PBX's own address and port.
//!
//! A raw IPv4 socket (`IPPROTO_RAW`, the IP and UDP headers written here):
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
//! connection, so nothing reaches the PBX.
use std::{
    io,
    net::{SocketAddr, SocketAddrV4},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use etherparse::PacketBuilder;

/// Why a shadow could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The raw socket could not be opened (no `CAP_NET_RAW`).
    #[error("cannot open a raw socket for the shadow REGISTERs (needs CAP_NET_RAW): {0}")]
    Socket(#[source] io::Error),
    /// Only UDP over IPv4 is shadowed so far.
    #[error("only UDP over IPv4 is shadowed so far ({0} is not IPv4)")]
    NotIpv4(SocketAddr),
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

/// The raw socket shadows leave through.
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket (`socket(AF_INET, SOCK_RAW, IPPROTO_RAW)`).
    pub fn open() -> Result<RawSender, SendError> {
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(SendError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(RawSender {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends `payload` as one UDP datagram from `from` to `to`.
    pub fn send(&self, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Result<(), SendError> {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (from, to) else {
            return Err(SendError::NotIpv4(if from.is_ipv4() { to } else { from }));
        };
        let packet = datagram(src, dst, payload);
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(dst.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: the buffer and the address outlive the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(SendError::Send {
                to,
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// Sends `payload` over a new TCP connection from `from` (any port) to
/// `to`, in a thread of its own; waits up to 5 s for the answer (which the
/// capture reads off the wire) and closes. The result comes on `done`.
pub fn send_tcp(
    from: std::net::IpAddr,
    to: SocketAddr,
    payload: Vec<u8>,
    done: impl FnOnce(Result<(), String>) + Send + 'static,
) {
    std::thread::spawn(move || done(tcp_exchange(from, to, &payload)));
}

fn tcp_exchange(from: std::net::IpAddr, to: SocketAddr, payload: &[u8]) -> Result<(), String> {
    use std::io::{Read, Write};
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(|e| format!("cannot open a TCP socket: {e}"))?;
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .map_err(|e| format!("cannot send from {from}: {e}"))?;
    socket
        .connect_timeout(&to.into(), std::time::Duration::from_secs(3))
        .map_err(|e| format!("TCP to the echo at {to}: {e}"))?;
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .write_all(payload)
        .map_err(|e| format!("sending the shadow to {to} over TCP: {e}"))?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    let mut buf = [0u8; 16_384];
    // Until the echo has answered (one read) or the time is up.
    let _ = stream.read(&mut buf);
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
}
