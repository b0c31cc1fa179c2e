//! Packets this host's kernel dropped (the drop tracer's records): what
//! they were, and what the kernel's reason means for a PBX admin.
//!
//! The kernel names its reasons (`enum skb_drop_reason`, Linux 5.17 and
//! later, `include/net/dropreason-core.h`); the words that say which part
//! of this host did it and what to look at are in [`crate::say::kernel_drop`].
use std::{
    net::{IpAddr, SocketAddr},
    time::SystemTime,
};

use serde::Serialize;
use sipwatch_common::Direction;

use super::Transport;
use crate::capture::{DropReasons, Frame};

/// Which way a dropped packet was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropWay {
    /// This host was sending it (a REGISTER from the PBX, an answer from a
    /// registrar here): dropped on the way out (OUTPUT, POSTROUTING, the
    /// neighbour table, a queue).
    Leaving,
    /// It had arrived at this host (an answer for the PBX): dropped before
    /// it reached a socket (PREROUTING, INPUT, no socket, a full buffer).
    Arriving,
}

/// The netfilter chain that dropped a packet (`NETFILTER_DROP`), told from
/// where it was in the stack: leaving without an output device yet is
/// OUTPUT, with one POSTROUTING; arriving before routing is PREROUTING,
/// after it INPUT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Chain {
    /// Arriving, before the routing decision (`prerouting` hook).
    Prerouting,
    /// Arriving for this host (`input` hook).
    Input,
    /// Sent by this host, before routing put it on a device (`output`).
    Output,
    /// Passing through this host (`forward`, or `postrouting` on its way
    /// out): routed, addressed to another host.
    Forward,
    /// Leaving, on its device (`postrouting` hook).
    Postrouting,
}

impl Chain {
    /// iptables' and nftables' name of the hook.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Prerouting => "PREROUTING",
            Chain::Input => "INPUT",
            Chain::Output => "OUTPUT",
            Chain::Forward => "FORWARD",
            Chain::Postrouting => "POSTROUTING",
        }
    }
}

/// Why this host's kernel dropped a packet, as the kernel said it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct KernelDrop {
    /// The kernel's name of its reason (`NETFILTER_DROP`, `NO_SOCKET`,
    /// `SOCKET_RCVBUFF`…); `None` where the kernel gives none (before 5.17).
    pub reason: Option<String>,
    /// Leaving this host or arriving at it.
    pub way: DropWay,
    /// For `NETFILTER_DROP`: the chain, as far as the packet's state
    /// tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
}

impl KernelDrop {
    /// Nothing of the PBX's traffic was lost: a copy of what already
    /// arrived ([`KernelDrop::is_duplicate`]), or a frame addressed to
    /// another host ([`KernelDrop::is_for_another_host`]). Counted, not
    /// shown as a fault.
    pub fn is_no_loss(&self) -> bool {
        self.is_duplicate() || self.is_for_another_host()
    }

    /// A frame addressed to another host's MAC address (`OTHERHOST`): the
    /// copy a mirror (SPAN) port or a promiscuous interface receives, which
    /// this host's kernel drops after sipwatch read it; the frame itself
    /// went to its destination.
    pub fn is_for_another_host(&self) -> bool {
        self.reason.as_deref() == Some("OTHERHOST")
    }

    /// A copy of data that already arrived (a TCP retransmission of bytes
    /// received, a segment merged into the out-of-order queue, a duplicate
    /// fragment): nothing was lost. Counted, not shown as a fault.
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self.reason.as_deref(),
            Some("TCP_OLD_DATA" | "TCP_OFOMERGE" | "TCP_OLD_SEQUENCE" | "DUP_FRAG")
        )
    }
}

/// A SIP packet this host's kernel dropped, as the log and JSON
/// (`{"type":"kernel_drop",…}`) show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DroppedPacket {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When the kernel dropped it.
    #[serde(serialize_with = "crate::time::serialize")]
    pub time: SystemTime,
    /// Why and which way.
    #[serde(flatten)]
    pub drop: KernelDrop,
    /// UDP or TCP.
    pub transport: Transport,
    /// Source `ip:port`.
    pub src: SocketAddr,
    /// Destination `ip:port`.
    pub dst: SocketAddr,
    /// The interface it had arrived on (0 when leaving).
    pub ifindex: u32,
    /// The IP packet's length, in bytes.
    pub bytes: u32,
    /// The UDP payload or TCP segment data, as far as copied.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// The SIP start line it carries, when it starts like SIP.
    pub start_line: Option<String>,
}

impl DroppedPacket {
    /// Reads a drop tracer record (an IP packet, perhaps cut at the snap
    /// length or a first fragment: read as far as it goes); `None` for one
    /// that is not UDP or TCP or is cut short before its ports.
    pub fn from_frame(frame: &Frame, reasons: &DropReasons) -> Option<DroppedPacket> {
        let record = frame.kernel_drop?;
        let code = record.reason;
        // Lax: a copy cut at the snap length, a large datagram, the first
        // fragment of one are still read as far as they go.
        let sliced = etherparse::LaxSlicedPacket::from_ip(&frame.data).ok()?;
        let (src_ip, dst_ip, ip): (IpAddr, IpAddr, _) = match sliced.net.as_ref()? {
            etherparse::LaxNetSlice::Ipv4(v4) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
                v4.payload(),
            ),
            etherparse::LaxNetSlice::Ipv6(v6) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
                v6.payload(),
            ),
            _ => return None,
        };
        let (transport, header_len) = match ip.ip_number {
            etherparse::IpNumber::UDP => (Transport::Udp, 8),
            etherparse::IpNumber::TCP => {
                let offset = usize::from(ip.payload.get(12)? >> 4) * 4;
                (Transport::Tcp, offset.max(20))
            }
            _ => return None,
        };
        let ports = ip.payload.get(..4)?;
        let (sport, dport) = (
            u16::from_be_bytes([ports[0], ports[1]]),
            u16::from_be_bytes([ports[2], ports[3]]),
        );
        let payload = ip.payload.get(header_len..).unwrap_or_default();
        let start_line =
            super::sip_start_line(payload).map(|l| String::from_utf8_lossy(l).into_owned());
        let way = match frame.direction {
            Some(Direction::Ingress) => DropWay::Arriving,
            _ => DropWay::Leaving,
        };
        let reason = reasons
            .name(code)
            .map(str::to_owned)
            .or_else(|| (code != 0).then(|| format!("reason {code}")));
        let chain = (reason.as_deref() == Some("NETFILTER_DROP")).then_some(match way {
            DropWay::Leaving if record.had_device => Chain::Postrouting,
            DropWay::Leaving => Chain::Output,
            DropWay::Arriving if record.had_route => Chain::Input,
            DropWay::Arriving => Chain::Prerouting,
        });
        Some(DroppedPacket {
            kind: "kernel_drop",
            time: frame.timestamp,
            drop: KernelDrop { reason, way, chain },
            transport,
            src: SocketAddr::new(src_ip, sport),
            dst: SocketAddr::new(dst_ip, dport),
            ifindex: frame.ifindex,
            bytes: frame.wire_len,
            payload: payload.to_vec(),
            start_line,
        })
    }

    /// Whether it carried SIP bytes: a TCP segment without data (an ACK,
    /// a FIN after the socket closed) is counted, never shown as a fault.
    pub fn carries_data(&self) -> bool {
        !self.payload.is_empty()
    }

    /// Told apart with this host's own addresses: an arriving packet
    /// dropped after routing and addressed to another host was passing
    /// through (FORWARD), not for this host (INPUT).
    pub fn place(&mut self, is_local: impl Fn(IpAddr) -> bool) {
        if self.drop.chain == Some(Chain::Input) && !is_local(self.dst.ip()) {
            self.drop.chain = Some(Chain::Forward);
        }
    }

    /// Whether the capture's hooks saw this packet too: an answer that
    /// arrived on the captured interface (XDP saw it first), or one this
    /// host sent that a queue dropped after TC egress. Such a packet is
    /// the wire's copy's fate, not one more copy.
    pub fn seen_on_the_wire(&self, captured_ifindex: Option<u32>) -> bool {
        match self.drop.way {
            DropWay::Arriving => captured_ifindex == Some(self.ifindex),
            DropWay::Leaving => self.drop.reason.as_deref().is_some_and(|r| {
                r.starts_with("QDISC_")
                    || r.starts_with("FQ_")
                    || matches!(r, "CAKE_FLOOD" | "DEV_READY" | "FULL_RING" | "NO_TX_TARGET")
            }),
        }
    }
}

/// What the drop tracer delivered, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropStats {
    /// SIP packets this host sent and its kernel dropped.
    pub leaving: u64,
    /// SIP packets that arrived and its kernel dropped before a socket.
    pub arriving: u64,
    /// Drop records that were not UDP or TCP, or were cut short before
    /// their ports (counted, not shown).
    pub unreadable: u64,
    /// Frames addressed to another host that the kernel dropped after
    /// sipwatch read them (`OTHERHOST`: a mirror port's copies, a
    /// promiscuous interface): not in `leaving` or `arriving`, no fault.
    pub for_another_host: u64,
}

/// Drops by reason and way, for the summary and metrics.
#[derive(Clone, Debug, Default)]
pub struct DropTally {
    stats: DropStats,
    by_reason: std::collections::HashMap<KernelDrop, u64>,
}

impl DropTally {
    /// One more drop.
    pub fn count(&mut self, drop: &KernelDrop) {
        if drop.is_for_another_host() {
            self.stats.for_another_host += 1;
            return;
        }
        match drop.way {
            DropWay::Leaving => self.stats.leaving += 1,
            DropWay::Arriving => self.stats.arriving += 1,
        }
        *self.by_reason.entry(drop.clone()).or_default() += 1;
    }

    /// One record that could not be read.
    pub fn unreadable(&mut self) {
        self.stats.unreadable += 1;
    }

    /// The counts.
    pub fn stats(&self) -> DropStats {
        self.stats
    }

    /// Each reason and way with its count, most frequent first.
    pub fn by_reason(&self) -> Vec<(KernelDrop, u64)> {
        let mut v: Vec<(KernelDrop, u64)> = self
            .by_reason
            .iter()
            .map(|(d, n)| (d.clone(), *n))
            .collect();
        v.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.0.reason.cmp(&b.0.reason))
                .then_with(|| (a.0.way as u8).cmp(&(b.0.way as u8)))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use etherparse::PacketBuilder;

    use super::*;
    use crate::capture::LinkType;

    fn dropped(payload: &[u8], direction: Direction, code: u32) -> Frame {
        let builder = PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 5], 64).udp(5060, 5060);
        let mut data = Vec::new();
        builder.write(&mut data, payload).unwrap();
        Frame {
            timestamp: SystemTime::now(),
            ifindex: 0,
            direction: Some(direction),
            link: LinkType::RawIp,
            wire_len: data.len() as u32,
            data,
            truncated: false,
            kernel_drop: Some(crate::capture::DropRecord {
                reason: code,
                had_device: false,
                had_route: false,
            }),
        }
    }

    #[test]
    fn a_dropped_register_reads_with_its_reason_and_way() {
        let reasons = DropReasons::new([(12, "SKB_DROP_REASON_NETFILTER_DROP".to_owned())]);
        let frame = dropped(
            b"REGISTER sip:example.com SIP/2.0\r\n\r\n",
            Direction::Egress,
            12,
        );
        let d = DroppedPacket::from_frame(&frame, &reasons).unwrap();
        assert_eq!(d.drop.reason.as_deref(), Some("NETFILTER_DROP"));
        assert_eq!(d.drop.way, DropWay::Leaving);
        assert_eq!(d.src.to_string(), "192.168.77.10:5060");
        assert_eq!(
            d.start_line.as_deref(),
            Some("REGISTER sip:example.com SIP/2.0")
        );
        assert_eq!(d.drop.chain, Some(Chain::Output));
        assert!(!d.seen_on_the_wire(Some(3)));
        assert!(!d.drop.is_duplicate());
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["type"], "kernel_drop");
        assert_eq!(json["reason"], "NETFILTER_DROP");
        assert_eq!(json["way"], "leaving");
        assert_eq!(json["chain"], "output");
    }

    #[test]
    fn a_packet_for_another_host_dropped_after_routing_was_passing_through() {
        let reasons = DropReasons::new([(12, "NETFILTER_DROP".to_owned())]);
        let mut frame = dropped(b"SIP/2.0 200 OK\r\n\r\n", Direction::Ingress, 12);
        frame.kernel_drop = Some(crate::capture::DropRecord {
            reason: 12,
            had_device: true,
            had_route: true,
        });
        let mut d = DroppedPacket::from_frame(&frame, &reasons).unwrap();
        assert_eq!(d.drop.chain, Some(Chain::Input));
        // 203.0.113.5 is the destination: for this host, INPUT stays.
        let mut mine = d.clone();
        mine.place(|ip| ip.to_string() == "203.0.113.5");
        assert_eq!(mine.drop.chain, Some(Chain::Input));
        d.place(|_| false);
        assert_eq!(d.drop.chain, Some(Chain::Forward));
    }

    #[test]
    fn an_unnamed_reason_and_garbage_are_handled() {
        let frame = dropped(b"SIP/2.0 200 OK\r\n\r\n", Direction::Ingress, 999);
        let d = DroppedPacket::from_frame(&frame, &DropReasons::default()).unwrap();
        assert_eq!(d.drop.reason.as_deref(), Some("reason 999"));
        assert_eq!(d.drop.way, DropWay::Arriving);
        let mut garbage = frame.clone();
        garbage.data.truncate(10);
        assert!(DroppedPacket::from_frame(&garbage, &DropReasons::default()).is_none());
        // Cut after its start line (the snap length, a first fragment):
        // still read, as far as it goes.
        let mut cut = frame.clone();
        cut.data.truncate(20 + 8 + 16);
        let d = DroppedPacket::from_frame(&cut, &DropReasons::default()).unwrap();
        assert_eq!(d.start_line.as_deref(), Some("SIP/2.0 200 OK"));
        assert_eq!(d.dst.port(), 5060);
        let old = dropped(b"x", Direction::Ingress, 0);
        let d = DroppedPacket::from_frame(&old, &DropReasons::default()).unwrap();
        assert_eq!(d.drop.reason, None);
    }
}
