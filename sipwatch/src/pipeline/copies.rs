//! The same message from two origins (the NIC's copy and a HEP agent's, or
//! a TLS process's plaintext and its HEP copy) is one message, not a
//! retransmission: a retransmission is a second message from the same
//! origin, and every origin sees it again. The pipeline looks for copies
//! only while more than one source's clock runs.
use std::{
    collections::{HashMap, VecDeque},
    hash::{Hash, Hasher},
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use crate::sip::{Clock, Message};

/// How far apart in time two copies may be stamped and still be one
/// message: generous, because each origin stamps with its own clock and a
/// HEP agent's may be off by seconds.
pub const COPY_WINDOW: Duration = Duration::from_secs(60);

/// How many recent messages are remembered to find copies: a bound on
/// memory, whatever the rate.
pub const COPY_MEMORY: usize = 4096;

/// Same bytes between the same addresses.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    digest: u64,
    len: usize,
    src: SocketAddr,
    dst: SocketAddr,
}

struct Seen {
    at: SystemTime,
    /// The clocks (origins) this message has come from so far.
    from: Vec<Clock>,
}

/// Recent messages, to tell a second origin's copy from a retransmission.
#[derive(Default)]
pub struct Copies {
    seen: HashMap<Key, Vec<Seen>>,
    order: VecDeque<Key>,
    /// Copies recognised (and not given to the tracker again).
    pub copies: u64,
}

impl Copies {
    /// Whether `m` is another origin's copy of a message already taken;
    /// remembers it otherwise.
    pub fn is_copy(&mut self, m: &Message) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        m.bytes.hash(&mut hasher);
        let key = Key {
            digest: hasher.finish(),
            len: m.bytes.len(),
            src: m.src,
            dst: m.dst,
        };
        let clock = m.origin.clock();
        let near = |s: &Seen| {
            let apart = m
                .timestamp
                .duration_since(s.at)
                .or_else(|e| Ok::<_, ()>(e.duration()))
                .unwrap_or_default();
            apart <= COPY_WINDOW
        };
        if let Some(entries) = self.seen.get_mut(&key) {
            // The earliest this origin has not yet sent a copy of.
            if let Some(s) = entries
                .iter_mut()
                .find(|s| !s.from.contains(&clock) && near(s))
            {
                s.from.push(clock);
                self.copies += 1;
                return true;
            }
        }
        self.seen.entry(key).or_default().push(Seen {
            at: m.timestamp,
            from: vec![clock],
        });
        self.order.push_back(key);
        if self.order.len() > COPY_MEMORY
            && let Some(old) = self.order.pop_front()
            && let Some(entries) = self.seen.get_mut(&old)
        {
            entries.remove(0);
            if entries.is_empty() {
                self.seen.remove(&old);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Origin;
    use sipwatch_common::Direction;

    fn message(origin: Origin, ms: u64) -> Message {
        let mut m =
            crate::pipeline::tests::from_agent(9060, ms, true, "REGISTER sip:x SIP/2.0\r\n\r\n");
        m.origin = origin;
        m
    }

    fn hep() -> Origin {
        Origin::Hep {
            agent_id: 7,
            agent: "192.168.77.10:9060".parse().unwrap(),
        }
    }

    #[test]
    fn a_hep_copy_of_what_the_nic_saw_is_one_message() {
        let mut c = Copies::default();
        assert!(!c.is_copy(&message(Origin::Nic(Direction::Egress), 0)));
        // The agent's clock runs 3 s ahead: still the same message.
        assert!(c.is_copy(&message(hep(), 3_000)));
        assert_eq!(c.copies, 1);
    }

    #[test]
    fn a_retransmission_seen_by_both_origins_is_two_messages_once_each() {
        let mut c = Copies::default();
        let nic = Origin::Nic(Direction::Egress);
        assert!(!c.is_copy(&message(nic, 0)));
        // The NIC sees the retransmission: the same origin again.
        assert!(!c.is_copy(&message(nic, 500)));
        // The agent's two copies: one for each.
        assert!(c.is_copy(&message(hep(), 10)));
        assert!(c.is_copy(&message(hep(), 510)));
        // A third from the agent is its own retransmission.
        assert!(!c.is_copy(&message(hep(), 1_500)));
    }

    #[test]
    fn copies_far_apart_in_time_are_different_messages() {
        let mut c = Copies::default();
        assert!(!c.is_copy(&message(Origin::Nic(Direction::Egress), 0)));
        assert!(!c.is_copy(&message(hep(), 3_600_000)));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c = Copies::default();
        for i in 0..(COPY_MEMORY as u64 + 10) {
            let mut m = message(Origin::CaptureFile, i);
            m.bytes.extend_from_slice(i.to_string().as_bytes());
            c.is_copy(&m);
        }
        assert_eq!(c.order.len(), COPY_MEMORY);
        assert_eq!(c.seen.len(), COPY_MEMORY);
    }
}
