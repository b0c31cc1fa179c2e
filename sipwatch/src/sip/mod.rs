//! SIP messages: whole messages out of datagrams and TCP streams
//! ([`MessageAssembler`]), with their original bytes kept exactly, and a
//! parsed view ([`ParsedMessage`]) that is an annotation on those bytes,
//! never a gate: a message nothing can parse is still shown, raw.
//!
//! ```
//! use sipwatch::sip::MessageIndex;
//! let idx = MessageIndex::parse(b"SIP/2.0 200 OK\r\ni: abc\r\nl: 0\r\n\r\n");
//! assert_eq!(idx.header("call-id").as_deref(), Some("abc"));
//! assert!(idx.problems.is_empty());
//! ```
mod assembler;
pub mod fields;
mod framing;
mod index;
mod keepalive;
mod message;
pub mod timers;

pub use assembler::{AssemblyStats, MessageAssembler};
pub use framing::{FramingStats, MAX_MESSAGE, SipFramer};
pub use index::{HeaderLine, MessageIndex, Problem, StartLine};
pub use keepalive::{KeepAlive, KeepAliveFlow, KeepAlives, MAX_KEEPALIVE_FLOWS, keep_alive};
pub use message::{CSeq, Clock, Message, Origin, ParsedMessage};

#[cfg(test)]
mod tests;
