//! TCP connections as evidence: refused, never answered, reset, closed by
//! the far end, or dead on the path (data sent again and again, never
//! acknowledged, after a long silence).
//!
//! Stream reassembly ([`super::tcp`]) keeps the bytes and drops what is
//! sent twice; this watch keeps what the flags and acknowledgements say
//! about the connection itself, so that a REGISTER over TCP that gets no
//! answer can be told apart: "connection refused" (RST to the SYN), "no
//! answer" (SYNs unanswered), or a connection a NAT or firewall forgot
//! while it was idle (pjsip/pjproject#5033).
//!
//! ```
//! use std::time::SystemTime;
//! use sipwatch::net::{ConnectionFault, ConnectionWatch, Datagram, TcpSegmentInfo, Transport};
//! let mut watch = ConnectionWatch::default();
//! let segment = |src: &str, dst: &str, syn, rst, ack| Datagram {
//!     timestamp: SystemTime::UNIX_EPOCH,
//!     direction: None,
//!     transport: Transport::Tcp,
//!     src: src.parse().unwrap(),
//!     dst: dst.parse().unwrap(),
//!     vlans: Vec::new(),
//!     outer: None,
//!     reassembled: false,
//!     tcp: Some(TcpSegmentInfo { seq: 1, ack, syn, fin: false, rst }),
//!     payload: Vec::new(),
//! };
//! assert!(watch.push(&segment("192.0.2.1:40000", "192.0.2.2:5060", true, false, None)).is_none());
//! let refused = watch.push(&segment("192.0.2.2:5060", "192.0.2.1:40000", false, true, Some(2)));
//! assert!(matches!(refused.unwrap().fault, ConnectionFault::Refused { .. }));
//! ```
use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::{Datagram, Transport};

/// Connections watched at once at most; beyond it the least recently
/// active is forgotten and counted.
pub const MAX_CONNECTIONS: usize = 16_384;

/// What went wrong with a connection, with its evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum ConnectionFault {
    /// The SYN was answered with RST: the host is up, nothing accepts
    /// connections on that port.
    Refused {
        /// Who sent the RST (the server, or a firewall speaking for it).
        by: SocketAddr,
    },
    /// The SYN was sent `syns` times and never answered.
    NoAnswer {
        /// SYNs sent (1 + retransmissions).
        syns: u32,
    },
    /// An established connection torn down by RST from `by`.
    Reset {
        /// Who sent the RST.
        by: SocketAddr,
    },
    /// The far end (`by`) closed the connection with FIN.
    Closed {
        /// Who sent the FIN.
        by: SocketAddr,
    },
    /// Data sent again and again without an acknowledgement: the
    /// connection is dead on the path (a NAT or firewall dropped its state
    /// without telling either end).
    Unacknowledged {
        /// Who sent the data.
        from: SocketAddr,
        /// Times the same data was sent again.
        retransmissions: u32,
        /// How long the connection had been silent (both ways) before the
        /// data was first sent, in ms.
        idle_before_ms: u64,
    },
}

/// A fault on one connection, when it was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionEvent {
    /// When the segment that shows it was seen.
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: SystemTime,
    /// The end that opened the connection (sent the SYN), or, joined
    /// mid-stream, the end not on the lower port.
    pub client: SocketAddr,
    /// The end that accepted (or was to accept) it.
    pub server: SocketAddr,
    /// What went wrong.
    #[serde(flatten)]
    pub fault: ConnectionFault,
}

/// Counts of the watch, so that nothing is forgotten unaccounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionStats {
    /// Faults reported.
    pub faults: u64,
    /// Connections forgotten to stay within [`MAX_CONNECTIONS`].
    pub evicted: u64,
}

/// One direction's data, for retransmissions.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    /// One past the highest sequence number sent with data.
    end: Option<u32>,
    /// Where the data awaiting acknowledgement starts.
    first_unacked: Option<u32>,
    /// Times that data was sent again.
    retransmissions: u32,
    /// Silence before that data was first sent.
    idle_before: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Connection {
    client: SocketAddr,
    server: SocketAddr,
    established: bool,
    syns: u32,
    /// FIN seen from the client, from the server.
    fins: (bool, bool),
    last_seen: SystemTime,
    from_client: Sent,
    from_server: Sent,
    /// The end of the client's data the server last acknowledged in full.
    acked_end: Option<u32>,
}

/// The far end of a connection acknowledged every byte its client had
/// sent (RFC 9293 §3.4: an ACK at or beyond the end of the data): what was
/// sent reached the server's TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionAcked {
    /// When the acknowledgement was seen (capture time).
    pub at: SystemTime,
    /// The end that opened the connection and sent the data.
    pub client: SocketAddr,
    /// The end that acknowledged it.
    pub server: SocketAddr,
}

/// Watches TCP connections segment by segment and reports their faults.
#[derive(Default)]
pub struct ConnectionWatch {
    /// The latest segment's acknowledgement of all the client's data, until
    /// taken ([`ConnectionWatch::take_acked`]).
    acked: Option<ConnectionAcked>,
    connections: HashMap<(SocketAddr, SocketAddr), Connection>,
    stats: ConnectionStats,
}

/// `a` comes before `b` in sequence space (32-bit wrap).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The key of a connection: its two ends in a fixed order.
fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl ConnectionWatch {
    /// What was counted.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// The acknowledgement the latest segment gave of everything its
    /// connection's client had sent, once: evidence that a request sent on
    /// it reached the server.
    pub fn take_acked(&mut self) -> Option<ConnectionAcked> {
        self.acked.take()
    }

    /// Feeds one TCP segment; returns the fault it shows, if any. A UDP
    /// datagram is ignored.
    pub fn push(&mut self, d: &Datagram) -> Option<ConnectionEvent> {
        let tcp = d.tcp.filter(|_| d.transport == Transport::Tcp)?;
        let k = key(d.src, d.dst);
        if !self.connections.contains_key(&k) {
            if tcp.rst {
                return None; // nothing known to tear down
            }
            self.make_room();
            let (client, server) = if tcp.syn && tcp.ack.is_none() {
                (d.src, d.dst)
            } else if tcp.syn || d.src.port() < d.dst.port() {
                (d.dst, d.src)
            } else {
                (d.src, d.dst)
            };
            self.connections.insert(
                k,
                Connection {
                    client,
                    server,
                    established: !tcp.syn,
                    syns: 0,
                    fins: (false, false),
                    last_seen: d.timestamp,
                    from_client: Sent::default(),
                    from_server: Sent::default(),
                    acked_end: None,
                },
            );
        }
        let c = self.connections.get_mut(&k)?;
        // Every byte up to the client's latest data acknowledged, told once
        // per end of data.
        let fully_acked = d.src == c.server
            && c.from_client.end != c.acked_end
            && tcp
                .ack
                .zip(c.from_client.end)
                .is_some_and(|(ack, end)| !before(ack, end));
        if fully_acked {
            c.acked_end = c.from_client.end;
            self.acked = Some(ConnectionAcked {
                at: d.timestamp,
                client: c.client,
                server: c.server,
            });
        }
        let fault = c.segment(d, tcp);
        if tcp.rst || c.fins == (true, true) {
            self.connections.remove(&k);
        }
        let c = fault?;
        self.stats.faults += 1;
        Some(c)
    }

    fn make_room(&mut self) {
        if self.connections.len() < MAX_CONNECTIONS {
            return;
        }
        self.stats.evicted += super::evict_oldest(&mut self.connections, |c| c.last_seen) as u64;
    }
}

impl Connection {
    fn segment(&mut self, d: &Datagram, tcp: super::TcpSegmentInfo) -> Option<ConnectionEvent> {
        let from_client = d.src == self.client;
        let idle = d
            .timestamp
            .duration_since(self.last_seen)
            .unwrap_or_default();
        self.last_seen = self.last_seen.max(d.timestamp);
        let (client, server) = (self.client, self.server);
        let event = |fault| ConnectionEvent {
            at: d.timestamp,
            client,
            server,
            fault,
        };
        if tcp.syn && tcp.ack.is_none() && from_client {
            self.syns += 1;
            self.established = false;
            self.fins = (false, false);
            self.from_client = Sent::default();
            self.from_server = Sent::default();
            return (self.syns > 1).then(|| event(ConnectionFault::NoAnswer { syns: self.syns }));
        }
        if tcp.syn {
            self.established = true;
            return None;
        }
        if tcp.rst {
            let fault = if self.established {
                ConnectionFault::Reset { by: d.src }
            } else {
                ConnectionFault::Refused { by: d.src }
            };
            return Some(event(fault));
        }
        self.established = true;
        // An acknowledgement clears what it covers on the other side.
        if let Some(ack) = tcp.ack {
            let other = if from_client {
                &mut self.from_server
            } else {
                &mut self.from_client
            };
            if other.first_unacked.is_some_and(|u| before(u, ack)) {
                *other = Sent {
                    end: other.end,
                    ..Sent::default()
                };
            }
        }
        let sent = if from_client {
            &mut self.from_client
        } else {
            &mut self.from_server
        };
        let fault = if d.payload.is_empty() {
            None
        } else {
            let end = tcp.seq.wrapping_add(d.payload.len() as u32);
            let again = sent.end.is_some_and(|e| !before(e, end));
            if again && sent.first_unacked.is_some() {
                sent.retransmissions = sent.retransmissions.saturating_add(1);
                Some(ConnectionFault::Unacknowledged {
                    from: d.src,
                    retransmissions: sent.retransmissions,
                    idle_before_ms: sent.idle_before.as_millis() as u64,
                })
            } else {
                if !again {
                    sent.end = Some(end);
                    if sent.first_unacked.is_none() {
                        sent.first_unacked = Some(tcp.seq);
                        sent.idle_before = idle;
                    }
                }
                None
            }
        };
        if let Some(f) = fault {
            return Some(event(f));
        }
        // The client closing its own connection is no fault; the server
        // closing it first is worth knowing.
        if !tcp.fin {
            return None;
        }
        let client_closed_first = self.fins.0;
        if from_client {
            self.fins.0 = true;
        } else {
            self.fins.1 = true;
        }
        (!from_client && !client_closed_first).then(|| event(ConnectionFault::Closed { by: d.src }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::TcpSegmentInfo;

    const PBX: &str = "192.0.2.5:41234";
    const REGISTRAR: &str = "198.51.100.40:5060";

    /// A segment from the PBX (or the registrar) at `secs`, with `flags`
    /// among S, F, R and `len` bytes of data.
    fn seg(
        from_pbx: bool,
        secs: f64,
        seq: u32,
        ack: Option<u32>,
        flags: &'static str,
        len: usize,
    ) -> Datagram {
        let (src, dst) = if from_pbx {
            (PBX, REGISTRAR)
        } else {
            (REGISTRAR, PBX)
        };
        Datagram {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs),
            direction: None,
            transport: Transport::Tcp,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            tcp: Some(TcpSegmentInfo {
                seq,
                ack,
                syn: flags.contains('S'),
                fin: flags.contains('F'),
                rst: flags.contains('R'),
            }),
            payload: vec![b'x'; len],
        }
    }

    fn faults(segments: &[Datagram]) -> Vec<ConnectionFault> {
        let mut w = ConnectionWatch::default();
        segments
            .iter()
            .filter_map(|s| w.push(s))
            .map(|e| e.fault)
            .collect()
    }

    /// The acknowledgements of all the client's data, segment by segment.
    fn acks(segments: &[Datagram]) -> Vec<Option<ConnectionAcked>> {
        let mut w = ConnectionWatch::default();
        segments
            .iter()
            .map(|s| {
                w.push(s);
                w.take_acked()
            })
            .collect()
    }

    #[test]
    fn an_ack_of_every_byte_the_client_sent_is_told_once_and_a_partial_one_not() {
        let got = acks(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(false, 0.01, 900, Some(101), "S", 0),
            seg(true, 0.02, 101, Some(901), "", 0),
            seg(true, 0.03, 101, Some(901), "", 500),
            seg(false, 0.04, 901, Some(301), "", 0),
            seg(false, 0.05, 901, Some(601), "", 0),
            seg(false, 0.06, 901, Some(601), "", 0),
        ]);
        let told: Vec<usize> = (0..got.len()).filter(|&i| got[i].is_some()).collect();
        assert_eq!(told, [5], "{got:?}");
        let acked = got[5].unwrap();
        assert_eq!(acked.client, PBX.parse().unwrap());
        assert_eq!(acked.server, REGISTRAR.parse().unwrap());
    }

    #[test]
    fn no_segment_makes_the_watch_panic_and_its_table_stays_bounded() {
        let mut next = crate::net::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut w = ConnectionWatch::default();
        for i in 0..(MAX_CONNECTIONS + 2_000) {
            let r = next();
            // Plain segments fill the table first, then anything goes.
            let flags = if i < MAX_CONNECTIONS + 10 {
                "A"
            } else {
                ["S", "SA", "A", "FA", "R", ""][(r % 6) as usize]
            };
            let mut d = seg(
                r & 8 == 0,
                i as f64,
                (r >> 8) as u32,
                Some((r >> 40) as u32),
                flags,
                (r % 3) as usize,
            );
            d.src.set_port(1024 + (i % 60_000) as u16);
            w.push(&d);
        }
        assert!(w.connections.len() <= MAX_CONNECTIONS);
        assert!(w.stats().evicted > 0, "{:?}", w.stats());
    }

    #[test]
    fn a_syn_answered_by_rst_is_a_refused_connection() {
        let f = faults(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(false, 0.01, 0, Some(101), "R", 0),
        ]);
        assert_eq!(
            f,
            [ConnectionFault::Refused {
                by: REGISTRAR.parse().unwrap()
            }]
        );
    }

    #[test]
    fn syns_sent_again_without_answer_are_no_answer() {
        let f = faults(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(true, 1.0, 100, None, "S", 0),
            seg(true, 3.0, 100, None, "S", 0),
        ]);
        assert_eq!(
            f,
            [
                ConnectionFault::NoAnswer { syns: 2 },
                ConnectionFault::NoAnswer { syns: 3 }
            ]
        );
    }

    #[test]
    fn data_sent_again_after_a_long_silence_and_never_acknowledged_is_a_dead_connection() {
        let f = faults(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(false, 0.01, 500, Some(101), "SA", 0),
            seg(true, 0.02, 101, Some(501), "A", 10),
            seg(false, 0.03, 501, Some(111), "A", 20),
            seg(true, 0.5, 111, Some(521), "A", 0),
            seg(true, 590.5, 111, Some(521), "A", 10),
            seg(true, 591.0, 111, Some(521), "A", 10),
            seg(true, 592.0, 111, Some(521), "A", 10),
        ]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            f[1],
            ConnectionFault::Unacknowledged {
                from: PBX.parse().unwrap(),
                retransmissions: 2,
                idle_before_ms: 590_000,
            }
        );
    }

    #[test]
    fn a_close_the_pbx_began_is_no_fault_when_the_registrar_answers_it() {
        let f = faults(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(false, 0.01, 500, Some(101), "SA", 0),
            seg(true, 5.0, 101, Some(501), "FA", 0),
            seg(false, 5.01, 501, Some(102), "FA", 0),
        ]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn acknowledged_data_sent_again_is_no_fault() {
        let f = faults(&[
            seg(true, 0.0, 101, None, "A", 10),
            seg(false, 0.03, 501, Some(111), "A", 0),
            seg(true, 0.5, 111, None, "A", 10),
        ]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_fin_from_the_registrar_is_a_close_by_the_far_end_and_a_later_rst_a_reset() {
        let f = faults(&[
            seg(true, 0.0, 100, None, "S", 0),
            seg(false, 0.01, 500, Some(101), "SA", 0),
            seg(false, 60.0, 501, Some(101), "FA", 0),
        ]);
        assert_eq!(
            f,
            [ConnectionFault::Closed {
                by: REGISTRAR.parse().unwrap()
            }]
        );
        let f = faults(&[
            seg(true, 0.0, 101, Some(501), "A", 10),
            seg(false, 1.0, 501, None, "R", 0),
        ]);
        assert_eq!(
            f,
            [ConnectionFault::Reset {
                by: REGISTRAR.parse().unwrap()
            }]
        );
    }
}
