//! This host's own addresses (in the calling thread's network namespace):
//! to tell traffic for this host from traffic passing through it, and to
//! find the interface that holds an address.
use std::net::IpAddr;

/// Every address of every interface, with the interface's name.
pub fn addresses() -> Vec<(String, IpAddr)> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list freed below; it is only read.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr of the family it says.
            let addr = unsafe {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        Some(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ))
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        Some(IpAddr::from(sin6.sin6_addr.s6_addr))
                    }
                    _ => None,
                }
            };
            if let Some(addr) = addr {
                // SAFETY: ifa_name is a NUL-terminated string.
                let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
                    .to_string_lossy()
                    .into_owned();
                found.push((name, addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(addrs) };
    found
}

/// The interface that holds `ip`.
pub fn interface_of(ip: IpAddr) -> Option<String> {
    addresses()
        .into_iter()
        .find_map(|(name, a)| (a == ip).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_one_of_this_hosts_addresses() {
        let all = addresses();
        assert!(all.iter().any(|(_, a)| a.is_loopback()), "{all:?}");
        assert!(interface_of("127.0.0.1".parse().unwrap()).is_some());
        assert_eq!(interface_of("192.0.2.123".parse().unwrap()), None);
    }
}
