//! One SIP message as it crossed the wire.
use std::{net::SocketAddr, time::SystemTime};

use sipwatch_common::Direction;

use crate::net::Transport;

/// A whole SIP message (or, over UDP, a datagram that should have been
/// one) with where it went, and its bytes exactly as they were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// When its first (UDP) or last (TCP) byte was seen.
    pub timestamp: SystemTime,
    pub direction: Option<Direction>,
    pub transport: Transport,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub vlans: Vec<u16>,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    pub bytes: Vec<u8>,
}
