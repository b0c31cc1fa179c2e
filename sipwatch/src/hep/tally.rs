//! What a HEP listener counted: packets taken, packets refused by reason,
//! TCP connections, and what the listener itself could not keep. Plain
//! data, for the summary (text and JSON `hep`) and the metrics.
use serde::{Serialize, ser::SerializeMap};

use super::decode::Refusal;

/// A HEP listener's counts since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Packets taken: a SIP message each.
    pub taken: u64,
    /// Packets refused, by reason (names as [`Refusal::name`]; only those
    /// not zero are written).
    pub refused: Refused,
    /// TCP connections accepted.
    pub connections: u64,
    /// TCP connections closed at once: too many open
    /// ([`crate::source::hep::MAX_CONNECTIONS`]), none of them silent.
    pub connections_refused: u64,
    /// TCP connections closed to make room for a new one, silent for
    /// [`crate::source::hep::SILENT_AFTER`] or more.
    pub connections_silent: u64,
    /// Packets from a new agent once [`crate::source::hep::MAX_AGENTS`]
    /// agents have sent.
    pub agents_refused: u64,
    /// UDP datagrams this host's kernel dropped before sipwatch read them
    /// (the socket's receive buffer full: a flood, or sipwatch too slow).
    pub socket_drops: u64,
}

/// Refused packets, one count per [`Refusal`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused([u64; Refusal::ALL.len()]);

impl Refused {
    /// Counts one refusal.
    pub fn count(&mut self, why: Refusal) {
        self.0[index(why)] += 1;
    }

    /// How many were refused for `why`.
    pub fn get(&self, why: Refusal) -> u64 {
        self.0[index(why)]
    }

    /// Every reason with its count, zero or not, in [`Refusal::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// All refusals together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

fn index(why: Refusal) -> usize {
    Refusal::ALL
        .iter()
        .position(|&r| r == why)
        .unwrap_or_default()
}

impl Serialize for Refused {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (why, n) in self.iter().filter(|(_, n)| *n > 0) {
            map.serialize_entry(why.name(), &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason_and_written_by_name_when_not_zero() {
        let mut t = Tally::default();
        t.refused.count(Refusal::WrongPassword);
        t.refused.count(Refusal::WrongPassword);
        t.refused.count(Refusal::NotHep);
        assert_eq!(t.refused.total(), 3);
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(
            json["refused"],
            serde_json::json!({"not_hep": 1, "wrong_password": 2})
        );
    }
}
