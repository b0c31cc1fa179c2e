//! Captures that hold one direction of a flow only (a mirror of one leg,
//! asymmetric routing, a tunnel not opened): a request whose answers are
//! missing is no timeout when nothing ever came back on its flow in this
//! capture and its sender acted on an answer anyway (credentials after a
//! challenge, an ACK, a request inside a dialog). Then the capture cannot
//! tell how it was answered, and says so. Over UDP a sender that kept
//! sending the request well into Timer F shows it got no answer: that
//! stays a timeout.
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::Duration,
};

use serde::Serialize;

use super::{attempt::has_credentials, transaction::Transaction};
use crate::{net::Transport, sip::ParsedMessage};

/// Address pairs remembered at most (each table): beyond it nothing is
/// claimed, as a flow heard both ways may have been forgotten.
const MAX_PAIRS: usize = 16_384;

/// A UDP request still sent again this long after its first copy (half of
/// Timer F) was waiting for an answer that never came.
const STILL_WAITING: Duration = Duration::from_secs(16);

/// What the sender did that only an answer explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActedOn {
    /// It sent credentials after a REGISTER without them on the same
    /// flow: a challenge came back (RFC 3261 §22.2).
    Credentials,
    /// It sent an ACK: a final answer to its INVITE came back (§17.1.1.3,
    /// §13.2.2.4).
    Ack,
    /// It sent a request inside a dialog (a To tag: BYE, re-INVITE…): an
    /// answer established that dialog (§12.1.2).
    InDialog,
}

/// Which ways each pair of addresses was heard, and what senders did
/// that only an answer explains.
#[derive(Default)]
pub struct Directions {
    /// (from, to) of every message seen.
    heard: HashSet<(IpAddr, IpAddr)>,
    /// (from, to) pairs whose sender sent a REGISTER without credentials.
    plain_register: HashSet<(IpAddr, IpAddr)>,
    /// (from, to): the first thing the sender did that only an answer
    /// explains.
    acted: HashMap<(IpAddr, IpAddr), ActedOn>,
    /// A table was full: nothing is claimed any more.
    full: bool,
}

impl Directions {
    /// A SIP message seen (either way).
    pub fn on_message(&mut self, p: &ParsedMessage<'_>) {
        let pair = (p.message.src.ip(), p.message.dst.ip());
        self.hear(pair.0, pair.1);
        let Some(method) = p.method() else { return };
        let acted = match method {
            "ACK" => Some(ActedOn::Ack),
            _ if p.to().is_some_and(|t| t.tag.is_some()) => Some(ActedOn::InDialog),
            "REGISTER" if has_credentials(p) => self
                .plain_register
                .contains(&pair)
                .then_some(ActedOn::Credentials),
            "REGISTER" => {
                self.note_plain_register(pair);
                None
            }
            _ => None,
        };
        if let Some(a) = acted
            && !self.acted.contains_key(&pair)
        {
            if self.acted.len() >= MAX_PAIRS {
                self.full = true;
                return;
            }
            self.acted.insert(pair, a);
        }
    }

    /// Something (a TCP acknowledgement, an ICMP error) came from `from`
    /// to `to`: that way is in the capture.
    pub fn hear(&mut self, from: IpAddr, to: IpAddr) {
        self.full |= !insert_bounded(&mut self.heard, (from, to));
    }

    fn note_plain_register(&mut self, pair: (IpAddr, IpAddr)) {
        self.full |= !insert_bounded(&mut self.plain_register, pair);
    }

    /// Why the unanswered `tx` is no timeout: nothing came back on its flow
    /// in this capture, and its sender acted on an answer. `None`: a
    /// timeout as far as the capture tells (over UDP, a request sent again
    /// and again shows a sender that got no answer).
    pub fn answers_missing(&self, tx: &Transaction) -> Option<ActedOn> {
        let (src, dst) = (tx.src.ip(), tx.dst.ip());
        let answered = tx.final_response.is_some()
            || tx.provisional.is_some()
            || tx.icmp.is_some()
            || tx.tcp_acked_at.is_some();
        if self.full || answered || tx.dropped_here > 0 || self.heard.contains(&(dst, src)) {
            return None;
        }
        // Over UDP a sender still sending it well into Timer F got no
        // answer (RFC 3261 §17.1.2.2): a timeout, whatever else it did.
        let sent_for = tx
            .last_sent
            .duration_since(tx.first_sent)
            .unwrap_or_default();
        if tx.transport == Transport::Udp && sent_for >= STILL_WAITING {
            return None;
        }
        self.acted.get(&(src, dst)).copied()
    }
}

/// Inserts `pair` unless the set is full; whether it is in the set now.
fn insert_bounded(set: &mut HashSet<(IpAddr, IpAddr)>, pair: (IpAddr, IpAddr)) -> bool {
    if set.contains(&pair) {
        return true;
    }
    if set.len() >= MAX_PAIRS {
        return false;
    }
    set.insert(pair)
}
