//! Evidence from below SIP, attached to what it is about: an ICMP error to
//! the transaction whose packet it quotes, a TCP connection's fault to the
//! transactions sent on it, the first fragments of REGISTERs that never
//! arrived whole to their binding.
//!
//! The tables here are bounded, like every table the tracker keeps; what
//! they drop is counted in [`super::TrackStats::path_evidence_evicted`].
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    time::SystemTime,
};

use serde::Serialize;

use super::{
    Diagnosis, Event, FailureRun, LastOutcome, Outcome, Purpose, Registration, Tracker,
    TransactionKey, binding_key, transaction::Transaction,
};
use crate::{
    net::{
        ConnectionAcked, ConnectionEvent, ConnectionFault, FragmentHead, IcmpError, IcmpKind,
        Transport, evict_oldest, sip_start_line,
    },
    sip::Message,
};

/// Connection faults kept at once at most (one per connection, the latest).
pub const MAX_CONNECTION_FAULTS: usize = 16_384;

/// The ICMP errors that quote one transaction's request (or its answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IcmpSeen {
    /// What the first one said.
    pub kind: IcmpKind,
    /// The host or router that sent it.
    pub reporter: IpAddr,
    /// How many quoted this transaction.
    pub count: u32,
    /// When the first one was seen.
    #[serde(serialize_with = "crate::time::serialize")]
    pub first_at: SystemTime,
    /// The next hop's MTU, for fragmentation needed / packet too big.
    pub mtu: Option<u32>,
    /// The quoted SIP start line, when the quote reaches that far.
    pub start_line: Option<String>,
}

impl IcmpSeen {
    /// The first error about a transaction.
    pub fn new(e: &IcmpError) -> IcmpSeen {
        IcmpSeen {
            kind: e.kind,
            reporter: e.reporter,
            count: 1,
            first_at: e.timestamp,
            mtu: e.mtu,
            start_line: e
                .quoted
                .sip_start_line()
                .map(|l| String::from_utf8_lossy(l).into_owned()),
        }
    }
}

/// The first fragments of one binding's REGISTERs (at the registrar: its
/// client's) that never completed: the message was lost on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentTally {
    /// Where they came from and went to (UDP).
    pub source: SocketAddr,
    /// Where they were sent.
    pub destination: SocketAddr,
    /// First fragments seen.
    pub heads: u32,
    /// Of which completed later (a reassembled REGISTER arrived).
    pub completed: u32,
    /// The latest head's IP packet and the whole datagram's, in bytes.
    pub fragment_bytes: u32,
    /// The whole datagram's IP packet, in bytes.
    pub datagram_bytes: u32,
    /// The latest head's SIP start line.
    pub start_line: Option<String>,
    /// When the latest head was seen.
    pub last_at: SystemTime,
}

impl FragmentTally {
    /// Datagrams whose other fragments never came.
    pub fn lost(&self) -> u32 {
        self.heads.saturating_sub(self.completed)
    }
}

/// Where a request went, to find the transaction an ICMP error quotes.
pub type FlowKey = (Transport, SocketAddr, SocketAddr);

/// The latest fault of each TCP connection, by (client, server).
#[derive(Default)]
pub struct ConnectionFaults {
    faults: HashMap<(SocketAddr, SocketAddr), ConnectionEvent>,
    /// Faults dropped to stay within [`MAX_CONNECTION_FAULTS`].
    pub evicted: u64,
}

impl ConnectionFaults {
    /// Keeps `e` as its connection's latest fault.
    pub fn insert(&mut self, e: ConnectionEvent) {
        let key = (e.client, e.server);
        if !self.faults.contains_key(&key) && self.faults.len() >= MAX_CONNECTION_FAULTS {
            self.evicted += evict_oldest(&mut self.faults, |f| f.at) as u64;
        }
        self.faults.insert(key, e);
    }

    /// The fault of the connection from `client` to `server` seen at or
    /// after `since`, or a close by the server at any time before (a
    /// request then sent on it is lost with it).
    pub fn since(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        since: SystemTime,
    ) -> Option<ConnectionEvent> {
        self.faults
            .get(&(client, server))
            .filter(|f| f.at >= since || matches!(f.fault, ConnectionFault::Closed { .. }))
            .copied()
    }
}

impl Tracker {
    /// Remembers `tx` as the latest transaction on its flow; the index is
    /// pruned of transactions gone once it doubles the table's bound.
    pub(super) fn note_flow(&mut self, tx: &Transaction, key: TransactionKey) {
        if self.flows.len() > 2 * self.limits.max_transactions {
            let live = &self.transactions;
            self.flows.retain(|_, k| live.contains_key(k));
        }
        self.flows.insert((tx.transport, tx.src, tx.dst), key);
    }

    /// An ICMP or ICMPv6 error about SIP: attached to the latest
    /// transaction on the flow it quotes (the request's, or, quoting an
    /// answer, the reverse), sent no later than the error. A REGISTER's
    /// timeout then names it instead of "nothing came back".
    pub fn push_icmp(&mut self, e: &IcmpError, events: &mut Vec<Event>) {
        self.advance(e.timestamp, events);
        let q = &e.quoted;
        self.directions.hear(e.reporter, q.src.ip());
        let key = [(q.transport, q.src, q.dst), (q.transport, q.dst, q.src)]
            .iter()
            .find_map(|f| self.flows.get(f).copied());
        let tx = key
            .and_then(|k| self.transactions.get_mut(&k))
            .map(|e| &mut e.0)
            .filter(|tx| tx.first_sent <= e.timestamp);
        let Some(tx) = tx else {
            self.stats.icmp_unattached += 1;
            return;
        };
        self.stats.icmp_attached += 1;
        match &mut tx.icmp {
            Some(seen) => seen.count = seen.count.saturating_add(1),
            None => tx.icmp = Some(IcmpSeen::new(e)),
        }
    }

    /// A TCP connection's fault (refused, unanswered, reset, closed, dead):
    /// kept as the connection's latest, for the timeout of a REGISTER sent
    /// on it.
    pub fn push_connection(&mut self, e: ConnectionEvent, events: &mut Vec<Event>) {
        self.advance(e.at, events);
        self.connection_faults.insert(e);
        // A REGISTER that already timed out on this connection: its
        // diagnosis takes the growing evidence (retransmissions go on
        // after Timer F).
        // Only a server no REGISTER went to, over any transport: a failing
        // TCP connection to a registrar registered over UDP is about
        // something else (a call, a probe).
        let known = self
            .registrations
            .values()
            .any(|r| r.registrar_address == e.server);
        if !known && first_sign(&e.fault) == Some(true) {
            // No SIP byte ever went to this registrar: the connection that
            // never came up is the PBX's registration attempt.
            self.make_room_for_registration();
            self.insert_registration(Registration::unsent(e.client, e.server, e.at));
        }
        for reg in self.registrations.values_mut() {
            if reg.path.on_later_connection_fault(e) {
                for d in &mut reg.diagnoses {
                    if let Diagnosis::ConnectionFailed { connection, .. } = d {
                        *connection = e.fault;
                    }
                }
            } else if connection_never_carried_the_register(reg, &e) && reg.take_event(e.at) {
                events.push(Event::Registration(reg.clone()));
            }
        }
    }

    /// The server's TCP acknowledged everything its client had sent on a
    /// connection: the latest request sent on it, sent no later, reached
    /// the server's host (a timeout then says so, rather than "whether it
    /// left this host is not known").
    pub fn push_acked(&mut self, e: ConnectionAcked) {
        self.directions.hear(e.server.ip(), e.client.ip());
        let tx = self
            .flows
            .get(&(Transport::Tcp, e.client, e.server))
            .and_then(|k| self.transactions.get_mut(k))
            .map(|entry| &mut entry.0)
            .filter(|tx| tx.first_sent <= e.at);
        if let Some(tx) = tx {
            tx.tcp_acked_at.get_or_insert(e.at);
        }
    }

    /// The first fragment of a UDP datagram not (yet) whole. When it starts
    /// a REGISTER of a known binding (or an answer to one), the binding
    /// counts it: if the rest never comes, that message was lost on the
    /// way, and its attempt's failure says so rather than "never sent
    /// credentials" or "nothing came back".
    pub fn push_fragment_head(&mut self, head: &FragmentHead, events: &mut Vec<Event>) {
        self.advance(head.timestamp, events);
        self.directions.hear(head.src.ip(), head.dst.ip());
        let m = Message {
            timestamp: head.timestamp,
            direction: head.direction,
            transport: Transport::Udp,
            src: head.src,
            dst: head.dst,
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            origin: crate::sip::Origin::CaptureFile,
            bytes: head.payload.clone(),
        };
        let p = m.parsed();
        let start_line =
            sip_start_line(&head.payload).map(|l| String::from_utf8_lossy(l).into_owned());
        // A REGISTER names its binding; an answer, its transaction's.
        let bindings = match p.method() {
            Some("REGISTER") => binding_key(&p).map(|(k, _)| vec![k]).unwrap_or_default(),
            Some(_) => return,
            None => TransactionKey::of(&p, &self.keys)
                .and_then(|k| self.transactions.get(&k))
                .map(|e| e.1.clone())
                .unwrap_or_default(),
        };
        for key in bindings {
            if let Some(reg) = self.registrations.get_mut(&key) {
                reg.path.on_fragment_head(head, start_line.clone());
            }
        }
    }
}

/// A connection to the binding's registrar, from the address its REGISTERs
/// came from, refused or never answered: the REGISTER could not even be
/// sent, so no transaction will time out; the PBX reports the failure
/// itself (Asterisk: a transport error, then `retry_interval`). Counted as
/// one failure per connection attempt (at its RST, or at its second SYN;
/// later SYNs only add to the evidence). Returns whether it was counted.
fn connection_never_carried_the_register(reg: &mut Registration, e: &ConnectionEvent) -> bool {
    let Some(first_sign) = first_sign(&e.fault) else {
        return false;
    };
    let ours = reg.transport == Transport::Tcp
        && reg.registrar_address == e.server
        && reg.path.sends_from(e.client.ip());
    if !ours {
        return false;
    }
    let failure = Diagnosis::ConnectionFailed {
        side: reg.side,
        destination: e.server,
        connection: e.fault,
    };
    if !first_sign {
        // Later SYNs of the same attempt: the evidence grows, no new failure.
        for d in &mut reg.diagnoses {
            if matches!(d, Diagnosis::ConnectionFailed { .. }) {
                *d = failure.clone();
            }
        }
        return false;
    }
    let purpose = if reg.expires_at().is_some() {
        Purpose::Refresh
    } else {
        Purpose::Register
    };
    reg.last_code = Some(408);
    reg.tally
        .on_outcome(Outcome::NoAnswer, purpose, Some(&failure));
    reg.last_outcome = Some(LastOutcome {
        outcome: Outcome::NoAnswer,
        purpose,
        at: e.at,
    });
    reg.failures = Some(FailureRun::after(reg.failures, Outcome::NoAnswer, e.at));
    reg.diagnoses = vec![failure];
    true
}

/// Whether a connection fault is the first sign of a connection that never
/// came up (its RST, or its second SYN), `Some(false)` for a later SYN of
/// the same attempt, `None` for a fault of a connection that did.
fn first_sign(fault: &ConnectionFault) -> Option<bool> {
    match fault {
        ConnectionFault::Refused { .. } => Some(true),
        ConnectionFault::NoAnswer { syns } => Some(*syns == 2),
        _ => None,
    }
}
