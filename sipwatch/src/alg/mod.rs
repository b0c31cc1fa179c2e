//! What changed on the way: a message as it was sent compared with the same
//! message as it arrived, header by header and SDP line by line, as typed
//! [`Finding`]s. `sipwatch probe` feeds it with the echo's mirrors; it
//! only needs the two byte strings.
//!
//! ```
//! use sipwatch::alg::{compare, FindingKind};
//! let sent = b"REGISTER sip:p SIP/2.0\r\nContact: <sip:a@192.168.77.10:5060>\r\nContent-Length: 0\r\n\r\n";
//! let got = b"REGISTER sip:p SIP/2.0\r\nContact: <sip:a@203.0.113.1:5060>\r\nContent-Length: 0\r\n\r\n";
//! let findings = compare(sent, got);
//! assert_eq!(findings[0].kind, FindingKind::AddressRewritten);
//! assert_eq!(
//!     findings[0].describe(),
//!     "Contact: address rewritten 192.168.77.10:5060 → 203.0.113.1:5060"
//! );
//! ```
mod compare;
mod describe;

pub use compare::{Finding, FindingKind, alg_suspected, compare, sip_changed};
