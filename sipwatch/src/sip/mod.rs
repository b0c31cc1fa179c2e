//! SIP messages: whole messages out of datagrams and TCP streams
//! ([`MessageAssembler`]), with their original bytes kept exactly.
mod assembler;
mod framing;
mod message;

pub use assembler::{AssemblyStats, MessageAssembler};
pub use framing::{FramingStats, MAX_MESSAGE, SipFramer};
pub use message::Message;
