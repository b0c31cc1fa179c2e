//! A transport payload with where it came from and went to.
use std::{net::SocketAddr, time::SystemTime};

use sipwatch_common::Direction;

/// The transport a SIP message travelled over, as the `Via` header names
/// it (RFC 3261 §18): shown in the log and JSON as `UDP` / `TCP`, and the
/// `--transport` values of `sipwatch probe` (UDP and TCP only). SIP over
/// TLS cannot be read from the wire: `attach` only counts it
/// (`--tls-port`); TLS, WS and WSS are for sources that hand over whole
/// messages in clear (a HEP agent, TLS plaintext read in the process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Transport {
    /// UDP: one datagram is one SIP message (RFC 3261 §18.3).
    Udp,
    /// TCP: messages framed out of the byte stream by `Content-Length`
    /// (RFC 3261 §18.3).
    Tcp,
    /// TLS (RFC 3261 §26.2): only as plaintext a source hands over.
    #[value(skip)]
    Tls,
    /// SIP over WebSocket (RFC 7118), as a source says.
    #[value(skip)]
    Ws,
    /// SIP over secure WebSocket (RFC 7118), as a source says.
    #[value(skip)]
    Wss,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        })
    }
}

/// The TCP header fields that stream reassembly needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegmentInfo {
    /// Sequence number of the segment's first payload byte (of the SYN
    /// itself when `syn` is set), where it goes in the stream.
    pub seq: u32,
    /// The next sequence number the sender expects from its peer, when
    /// the ACK flag is set: what the peer's data was acknowledged up to.
    pub ack: Option<u32>,
    /// SYN: a new connection; the stream starts at `seq + 1`.
    pub syn: bool,
    /// FIN: the sender has finished this direction of the stream.
    pub fin: bool,
    /// RST: the connection was torn down; what waits behind a gap is lost.
    pub rst: bool,
}

/// One UDP datagram (reassembled if it was fragmented) or one TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// When the frame was captured (for a reassembled datagram, the frame
    /// whose fragment completed it).
    pub timestamp: SystemTime,
    /// Unknown for capture files that do not record it.
    pub direction: Option<Direction>,
    /// Whether `payload` is a whole UDP datagram or one TCP segment's bytes.
    pub transport: Transport,
    /// Source IP address and port, as on the wire at the capture point
    /// (before or after a NAT, depending on where that is).
    pub src: SocketAddr,
    /// Destination IP address and port, as on the wire at the capture point.
    pub dst: SocketAddr,
    /// VLAN ids, outer first.
    pub vlans: Vec<u16>,
    /// The IP tunnel it came in (`src` and `dst` are the inner packet's).
    pub outer: Option<super::Tunnel>,
    /// Reassembled from IP fragments.
    pub reassembled: bool,
    /// The TCP header fields stream reassembly needs; `None` for UDP.
    pub tcp: Option<TcpSegmentInfo>,
    /// The transport payload, exactly as captured (cut short if the frame
    /// was truncated at the snap length).
    pub payload: Vec<u8>,
}
