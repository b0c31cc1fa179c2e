//! A bounded UDP flood for benchmarks: as fast as one thread can send, for
//! a fixed time and at most a fixed count, to an address inside the lab.
use std::{
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

/// Messages handed to the kernel per `sendmmsg` call.
const BATCH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloodReport {
    /// Datagrams the kernel accepted.
    pub sent: u64,
    /// Sends the kernel refused (e.g. ENOBUFS).
    pub refused: u64,
    pub elapsed: Duration,
}

impl FloodReport {
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `messages` round-robin from `socket` (connected to its target)
/// until `duration` has passed or `max_messages` were sent.
pub fn udp_flood(
    socket: &UdpSocket,
    messages: &[Vec<u8>],
    duration: Duration,
    max_messages: u64,
) -> FloodReport {
    assert!(!messages.is_empty(), "nothing to send");
    let start = Instant::now();
    let mut sent = 0u64;
    let mut refused = 0u64;
    let mut next = 0usize;
    let mut iovecs: Vec<libc::iovec> = Vec::with_capacity(BATCH);
    let mut headers: Vec<libc::mmsghdr> = Vec::with_capacity(BATCH);
    while start.elapsed() < duration && sent < max_messages {
        iovecs.clear();
        headers.clear();
        for _ in 0..BATCH {
            let m = &messages[next % messages.len()];
            next += 1;
            iovecs.push(libc::iovec {
                iov_base: m.as_ptr() as *mut libc::c_void,
                iov_len: m.len(),
            });
        }
        for iov in iovecs.iter_mut() {
            // SAFETY: zeroed mmsghdr is valid (no name, no control data).
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            headers.push(h);
        }
        // SAFETY: headers point at iovecs that point at live message buffers.
        let n =
            unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), BATCH as u32, 0) };
        if n < 0 {
            refused += 1;
            std::thread::yield_now();
        } else {
            sent += n as u64;
            refused += (BATCH - n as usize) as u64;
        }
    }
    FloodReport {
        sent,
        refused,
        elapsed: start.elapsed(),
    }
}

/// A connected UDP socket for [`udp_flood`], to be created inside the
/// sending namespace.
pub fn flood_socket(local: SocketAddr, target: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(local)?;
    socket.connect(target)?;
    Ok(socket)
}
