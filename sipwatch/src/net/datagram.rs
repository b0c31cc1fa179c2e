//! A transport payload with where it came from and went to.
use std::{net::SocketAddr, time::SystemTime};

use sipwatch_common::Direction;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Transport {
    Udp,
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        })
    }
}

/// The TCP header fields that stream reassembly needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegmentInfo {
    /// The sequence number of the segment's first byte (of the SYN).
    pub seq: u32,
    /// The next sequence number the sender expects from its peer, when
    /// the ACK flag is set: what the peer's data was acknowledged up to.
    pub ack: Option<u32>,
    /// SYN: opens the connection (with ACK: accepts it).
    pub syn: bool,
    /// FIN: the sender has no more to send.
    pub fin: bool,
    /// RST: the connection is refused or torn down.
    pub rst: bool,
}

/// One UDP datagram (reassembled if it was fragmented) or one TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub timestamp: SystemTime,
    /// Unknown for capture files that do not record it.
    pub direction: Option<Direction>,
    pub transport: Transport,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// VLAN ids, outer first.
    pub vlans: Vec<u16>,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    pub tcp: Option<TcpSegmentInfo>,
    pub payload: Vec<u8>,
}
