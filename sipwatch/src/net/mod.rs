//! From captured frames to transport payloads: link decoding (Ethernet and
//! VLANs, Linux cooked v1/v2, raw IP, BSD loopback), IPv4 and IPv6, IP defragmentation, UDP, and TCP stream reassembly ([`tcp`]).
//!
//! ```
//! use sipwatch::net::Decoder;
//! let mut decoder = Decoder::new();
//! // for frame in frames { if let Some(d) = decoder.push(&frame) { ... } }
//! assert_eq!(decoder.stats().frames, 0);
//! ```
mod datagram;
mod decoder;
mod icmp;
mod link;
mod select;
pub mod tcp;

pub use datagram::{Datagram, TcpSegmentInfo, Transport};
pub use decoder::{DecodeStats, Decoded, Decoder, FRAGMENT_TIMEOUT};
pub use icmp::{IcmpError, IcmpKind, QuotedPacket, icmp_kind};
pub use select::{NotSipStats, SipSelection};
