//! From captured frames to transport payloads: link decoding (Ethernet and
//! VLANs, Linux cooked v1/v2, raw IP, BSD loopback), encapsulations
//! ([`encapsulation`]: PPPoE, MPLS, IP-in-IP, GRE, ERSPAN, VXLAN, Geneve,
//! TZSP), IPv4 and IPv6, IP defragmentation (with the first fragment of a datagram
//! that never completes, [`FragmentHead`]), UDP, TCP stream reassembly
//! ([`tcp`]), the faults of TCP connections ([`ConnectionWatch`]), and the
//! packets this host's kernel dropped ([`DroppedPacket`]).
//!
//! ```
//! use sipwatch::net::Decoder;
//! let mut decoder = Decoder::new();
//! // for frame in frames { if let Some(d) = decoder.push(&frame) { ... } }
//! assert_eq!(decoder.stats().frames, 0);
//! ```
mod bounded;
mod connection;
mod datagram;
mod decoder;
mod dropped;
pub mod encapsulation;
mod endpoints;
mod icmp;
mod leg;
mod link;
pub mod local;
mod select;
pub mod tcp;

pub use bounded::{evict_oldest, oldest_eighth};
pub use connection::{
    ConnectionAcked, ConnectionEvent, ConnectionFault, ConnectionStats, ConnectionWatch,
    MAX_CONNECTIONS,
};
pub use datagram::{Datagram, TcpSegmentInfo, Transport};
pub use decoder::{DecodeStats, Decoded, Decoder, FRAGMENT_TIMEOUT, FragmentHead};
pub use dropped::{Chain, DropStats, DropTally, DropWay, DroppedPacket, KernelDrop};
pub use encapsulation::{FrameKind, MAX_NESTING, NotOpened, Tunnel};
pub use endpoints::SipEndpoints;
pub use icmp::{IcmpError, IcmpKind, QuotedPacket, icmp_kind, sip_start_line};
pub use leg::Leg;
pub use select::{NotSipStats, Only, SipSelection};

/// A deterministic pseudo-random sequence (xorshift64) for the tests that
/// shake the parsers with mutated input.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
