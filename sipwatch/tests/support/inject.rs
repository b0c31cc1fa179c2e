//! Writing whole Ethernet frames onto a lab interface with a packet socket.
//! Frames written this way pass the interface's TC egress hook and arrive at
//! the peer's XDP hook like any other; the lab uses it for VLAN-tagged
//! frames, which a kernel without 802.1Q cannot make by itself.
use std::{ffi::CString, time::Duration};

use sipwatch_lab::Netns;

/// Sends `frames` out of `interface` in namespace `ns`, pausing briefly
/// every few frames so the peer's receive queue never overflows.
pub fn inject_frames(ns: &Netns, interface: &str, frames: &[Vec<u8>]) {
    let name = CString::new(interface).unwrap();
    ns.enter(|| {
        // SAFETY: plain socket calls with valid arguments; the fd is closed below.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let ifindex = libc::if_nametoindex(name.as_ptr());
            assert!(ifindex > 0, "no interface {interface}");
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = ifindex as i32;
            let rc = libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(
                rc,
                0,
                "bind packet socket: {}",
                std::io::Error::last_os_error()
            );
            for (i, frame) in frames.iter().enumerate() {
                let n = libc::send(fd, frame.as_ptr().cast(), frame.len(), 0);
                assert_eq!(
                    n,
                    frame.len() as isize,
                    "send: {}",
                    std::io::Error::last_os_error()
                );
                if i % 32 == 31 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            libc::close(fd);
        }
    })
    .unwrap();
}
