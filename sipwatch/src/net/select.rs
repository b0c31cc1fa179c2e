//! Which traffic is SIP: the kernel programs' selection, in user space.
//!
//! A capture file holds everything on the wire (RTP, RTCP, SNMP, HTTP, DNS…),
//! while `attach` copies only what its eBPF programs select. Applying the
//! same rules to every datagram makes `analyze` see what `attach` would
//! have seen, and keeps the message log and its counts about SIP:
//!
//! * UDP or TCP to or from a SIP port is SIP, whatever it holds (a
//!   keep-alive or garbage there is shown for what it is);
//! * UDP on any other port is SIP when its payload starts like a SIP
//!   message (the kernel's "sniff", off with `--no-sniff`);
//! * a TCP stream on another port is SIP when its first bytes start like a
//!   SIP message (the kernel cannot judge a stream; a file can).
//!
//! ```
//! use sipwatch::net::SipSelection;
//! let selection = SipSelection::default();
//! assert!(selection.on_sip_port(&"192.0.2.1:40000".parse()?, &"192.0.2.2:5060".parse()?));
//! assert!(selection.starts_like_sip(b"REGISTER sip:example.net SIP/2.0\r\n"));
//! assert!(!selection.starts_like_sip(b"GET / HTTP/1.1\r\n"));
//! # Ok::<(), std::net::AddrParseError>(())
//! ```
use std::net::SocketAddr;

use sipwatch_common::{DEFAULT_SIP_PORTS, looks_like_sip_start};

use super::IcmpError;

/// The SIP ports and whether payloads on other ports are looked at; and
/// which SIP messages are taken at all ([`Only`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipSelection {
    sip_ports: Vec<u16>,
    sniff: bool,
    only: Only,
}

/// `--aor`, `--host`, `--call-id`: only the SIP messages they name go on
/// to the tracker and every output (the others are counted, not shown);
/// empty, every message. The pipeline matches them once a message is
/// parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Only {
    /// Found (any case) in the From or To URI: `1001`, `alice@example.com`.
    pub aor: Option<String>,
    /// The source or destination address, or found in the Request-URI or
    /// To URI's host: `203.0.113.2`, `sip.provider.example`.
    pub host: Option<String>,
    /// The Call-ID, exactly.
    pub call_id: Option<String>,
}

impl Only {
    /// Whether nothing is asked: every message is taken.
    pub fn is_empty(&self) -> bool {
        self.aor.is_none() && self.host.is_none() && self.call_id.is_none()
    }
}

impl Default for SipSelection {
    /// What `attach` selects by default: ports 5060 and 5080, sniffing on.
    fn default() -> Self {
        Self::new(&DEFAULT_SIP_PORTS, true)
    }
}

impl SipSelection {
    /// `sniff`: whether traffic on other ports is SIP when it starts like SIP.
    pub fn new(sip_ports: &[u16], sniff: bool) -> Self {
        Self {
            sip_ports: sip_ports.to_vec(),
            sniff,
            only: Only::default(),
        }
    }

    /// Only the messages `only` names ([`Only`]).
    pub fn taking_only(mut self, only: Only) -> Self {
        self.only = only;
        self
    }

    /// Which messages are taken.
    pub fn only(&self) -> &Only {
        &self.only
    }

    /// Either end is on a SIP port.
    pub fn on_sip_port(&self, src: &SocketAddr, dst: &SocketAddr) -> bool {
        self.sip_ports.contains(&src.port()) || self.sip_ports.contains(&dst.port())
    }

    /// Bytes on another port start like a SIP message (after the CRLF
    /// keep-alives a stream may begin with), and such bytes are looked at.
    pub fn starts_like_sip(&self, payload: &[u8]) -> bool {
        let start = payload
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(payload.len());
        self.sniff && looks_like_sip_start(&payload[start..])
    }

    /// A UDP datagram is SIP (or on a SIP port, where it is shown whatever it is).
    pub fn udp_is_sip(&self, src: &SocketAddr, dst: &SocketAddr, payload: &[u8]) -> bool {
        self.on_sip_port(src, dst) || self.starts_like_sip(payload)
    }

    /// An ICMP error is about SIP: the packet it quotes was on a SIP port,
    /// or its quoted payload starts like SIP.
    pub fn icmp_is_about_sip(&self, e: &IcmpError) -> bool {
        let q = &e.quoted;
        self.on_sip_port(&q.src, &q.dst) || self.starts_like_sip(&q.payload)
    }
}

/// What was passed over as not SIP: traffic on other ports that does not
/// start like SIP. Counted, so that nothing disappears unaccounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NotSipStats {
    /// UDP datagrams off the SIP ports that did not start like SIP (RTP,
    /// RTCP, DNS…), or any such datagram when sniffing is off.
    pub udp_datagrams: u64,
    /// Their payload bytes (UDP headers not included).
    pub udp_bytes: u64,
    /// ICMP errors about packets that were not SIP.
    pub icmp_errors: u64,
    /// TCP directions whose first bytes were not SIP (a connection is two).
    pub tcp_streams: u64,
    /// Segments with payload in those streams.
    pub tcp_segments: u64,
    /// Their payload bytes (TCP headers not included).
    pub tcp_bytes: u64,
}

impl NotSipStats {
    /// Nothing was passed over (the summary then leaves out its "not SIP,
    /// passed over" line).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sip_ports_select_whatever_they_carry() {
        let s = SipSelection::default();
        let (a, b) = (addr("192.0.2.1:40000"), addr("192.0.2.2:5080"));
        assert!(s.udp_is_sip(&a, &b, b"\r\n\r\n"));
        assert!(s.udp_is_sip(&b, &a, b"\x80\x00garbage"));
    }

    #[test]
    fn other_ports_are_sip_only_when_they_start_like_sip() {
        let s = SipSelection::default();
        let (a, b) = (addr("192.0.2.1:40000"), addr("192.0.2.2:8000"));
        assert!(s.udp_is_sip(&a, &b, b"OPTIONS sip:x SIP/2.0\r\n\r\n"));
        assert!(s.starts_like_sip(b"\r\n\r\nSIP/2.0 200 OK\r\n"));
        // RTP, DNS, SNMP.
        assert!(!s.udp_is_sip(&a, &b, &[0x80, 0x00, 0x12, 0x34, 0, 0, 0, 0, 1, 2, 3, 4]));
        assert!(!s.udp_is_sip(
            &a,
            &addr("192.0.2.2:53"),
            b"\x12\x34\x01\x00\x00\x01\x00\x00"
        ));
        assert!(!s.udp_is_sip(
            &a,
            &addr("192.0.2.2:161"),
            b"\x30\x26\x02\x01\x01\x04\x06public"
        ));
    }

    #[test]
    fn without_sniffing_only_ports_count() {
        let s = SipSelection::new(&[5062], false);
        let (a, b) = (addr("192.0.2.1:40000"), addr("192.0.2.2:5060"));
        assert!(!s.udp_is_sip(&a, &b, b"OPTIONS sip:x SIP/2.0\r\n\r\n"));
        assert!(s.udp_is_sip(&a, &addr("192.0.2.2:5062"), b""));
    }
}
