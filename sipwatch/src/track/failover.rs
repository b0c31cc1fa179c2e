//! Targets of one binding that never answered, kept until the binding
//! registers: a PBX whose registrar's domain has several DNS SRV targets
//! (RFC 3263 §4.4) sends to the first, waits Timer F (32 s) on it, and
//! registers through the next one. The registration is fine, but the dead
//! first target is tried first again at every refresh (Asterisk's
//! `ast_sip_failover_request` after a 408 or transport error; pjsip
//! resolves the SRV set again for each new request), so it is named.
use std::{net::SocketAddr, time::SystemTime};

use super::{diagnosis::Diagnosis, diagnosis::Side, transaction::Transaction};
use crate::net::{ConnectionEvent, Transport};

/// Dead targets kept per binding (the last ones to time out).
const KEPT: usize = 4;

/// A destination a REGISTER of the binding went to, with no answer at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unanswered {
    destination: SocketAddr,
    transport: Transport,
    sent: u32,
    first_sent: SystemTime,
    timed_out_at: SystemTime,
}

/// The destinations of one binding whose REGISTERs got no answer at all
/// (no final, no provisional) since its last success.
#[derive(Clone, Debug, Default)]
pub struct Failover {
    unanswered: Vec<Unanswered>,
}

impl Failover {
    /// Timer F fired on `tx` (at `at`). Returns the hint when the binding
    /// had already registered through another destination after `tx` was
    /// sent (`registered`: when, and through which): the capture told that
    /// success first.
    pub fn on_timeout(
        &mut self,
        tx: &Transaction,
        at: SystemTime,
        registered: Option<(SystemTime, SocketAddr)>,
        side: Side,
    ) -> Option<Diagnosis> {
        if tx.final_response.is_some() || tx.provisional.is_some() {
            return None; // the registrar answered: alive
        }
        self.unanswered.retain(|u| u.destination != tx.dst);
        if self.unanswered.len() == KEPT {
            self.unanswered.remove(0);
        }
        self.unanswered.push(Unanswered {
            destination: tx.dst,
            transport: tx.transport,
            sent: tx.sent,
            first_sent: tx.first_sent,
            timed_out_at: at,
        });
        let (when, through) = registered?;
        if when < tx.first_sent || through == tx.dst {
            return None;
        }
        self.on_success(through, when, side)
    }

    /// The binding registered through `through` (its REGISTER went there)
    /// at `at`: the latest destination that never answered, when another,
    /// is named; every one is forgotten (the next refresh tells again).
    pub fn on_success(
        &mut self,
        through: SocketAddr,
        at: SystemTime,
        side: Side,
    ) -> Option<Diagnosis> {
        let dead = std::mem::take(&mut self.unanswered)
            .into_iter()
            .filter(|u| u.destination != through)
            .max_by_key(|u| u.timed_out_at)?;
        Some(Diagnosis::DeadTarget {
            side,
            dead: dead.destination,
            transport: dead.transport,
            sent: dead.sent,
            connection: None,
            timed_out_at: dead.timed_out_at,
            registered_through: through,
            delay_ms: at
                .duration_since(dead.first_sent)
                .unwrap_or_default()
                .as_millis() as u64,
        })
    }
}

/// The binding registered through `through` (at `at`) after the PBX's TCP
/// connection to another target never came up (`failed`, first tried at
/// `first_tried`): RFC 3263 §4.4 failover over TCP, where no REGISTER
/// ever reached the dead target (Asterisk queues it until the connection
/// is up, then fails over on the transport error). Told like a target
/// that never answered.
pub fn unconnected(
    side: Side,
    failed: &ConnectionEvent,
    first_tried: SystemTime,
    through: SocketAddr,
    at: SystemTime,
) -> Diagnosis {
    Diagnosis::DeadTarget {
        side,
        dead: failed.server,
        transport: Transport::Tcp,
        sent: 0,
        connection: Some(failed.fault),
        timed_out_at: failed.at,
        registered_through: through,
        delay_ms: at
            .duration_since(first_tried)
            .unwrap_or_default()
            .as_millis() as u64,
    }
}
