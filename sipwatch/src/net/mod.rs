//! From captured frames to transport payloads: link and IP decoding (VLANs,
//! IPv4, IPv6), IP defragmentation, UDP, and TCP stream reassembly ([`tcp`]).
//!
//! ```
//! use sipwatch::net::Decoder;
//! let mut decoder = Decoder::new();
//! // for frame in frames { if let Some(d) = decoder.push(&frame) { ... } }
//! assert_eq!(decoder.stats().frames, 0);
//! ```
mod datagram;
mod decoder;
pub mod tcp;

pub use datagram::{Datagram, TcpSegmentInfo, Transport};
pub use decoder::{DecodeStats, Decoder, FRAGMENT_TIMEOUT};
