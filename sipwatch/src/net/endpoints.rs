//! Endpoints off the SIP ports where a UDP payload was sniffed as SIP, as
//! the kernel programs remember them (`SIP_ENDPOINTS`): UDP and TCP to or
//! from them, and ICMP errors quoting a packet of theirs, are SIP's too. A
//! router's ICMP error quotes only the IP header and 8 bytes of UDP (RFC
//! 792), and a TCP connection refused carries no byte at all: nothing to
//! sniff, so the endpoint tells. `analyze` applies the same rule as
//! `attach`, so both give the same answer.
use std::{
    collections::{HashSet, VecDeque},
    net::SocketAddr,
};

use sipwatch_common::SIP_ENDPOINT_ENTRIES;

/// A bounded set of endpoints (the oldest learned goes first, as the
/// kernel's LRU map lets its least recent go).
#[derive(Debug, Default)]
pub struct SipEndpoints {
    known: HashSet<SocketAddr>,
    order: VecDeque<SocketAddr>,
    /// Endpoints forgotten to stay within [`SIP_ENDPOINT_ENTRIES`].
    pub evicted: u64,
}

impl SipEndpoints {
    /// SIP was sniffed on a datagram from `src` to `dst`.
    pub fn learn(&mut self, src: SocketAddr, dst: SocketAddr) {
        for e in [src, dst] {
            if self.known.insert(e) {
                self.order.push_back(e);
            }
        }
        while self.known.len() > SIP_ENDPOINT_ENTRIES as usize {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.known.remove(&oldest);
            self.evicted += 1;
        }
    }

    /// Either end is a known SIP endpoint.
    pub fn either(&self, src: &SocketAddr, dst: &SocketAddr) -> bool {
        self.known.contains(src) || self.known.contains(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_endpoint_sniffed_as_sip_is_known_either_way_and_bounded() {
        let mut e = SipEndpoints::default();
        e.learn(addr("192.0.2.1:5070"), addr("198.51.100.2:5090"));
        assert!(e.either(&addr("198.51.100.2:5090"), &addr("192.0.2.9:40000")));
        assert!(e.either(&addr("[2001:db8::1]:1"), &addr("192.0.2.1:5070")));
        assert!(!e.either(&addr("198.51.100.2:5091"), &addr("192.0.2.1:5071")));
        for i in 0..SIP_ENDPOINT_ENTRIES {
            let a = SocketAddr::new(addr("10.0.0.1:1").ip(), 1024 + i as u16);
            e.learn(a, a);
        }
        assert!(!e.either(&addr("192.0.2.1:5070"), &addr("192.0.2.1:5070")));
        assert_eq!(e.evicted, 2);
    }
}
