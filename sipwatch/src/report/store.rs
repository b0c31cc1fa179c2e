//! A bounded store of the messages themselves, so that every message of a
//! registration, a transaction or a dialog can be shown again (a terminal
//! UI, a later HEP export) while the tracker keeps only what it decides
//! by. Found by Call-ID, by transaction (top Via branch and CSeq method,
//! RFC 3261 §17.1.3) and by binding (the REGISTER's To URI without
//! parameters: the address-of-record, as the tracker keys registrations).
//!
//! Memory is bounded twice, by a byte budget and by a message count: the
//! oldest messages go first (FIFO), and every eviction is counted
//! ([`MessageStore::counts`]), shown in the summary when not zero.
//!
//! ```
//! use sipwatch::report::{MessageStore, StoreLimits};
//! let store = MessageStore::new(StoreLimits { max_bytes: 64 << 20, max_messages: 100_000 });
//! assert_eq!(store.by_call_id("a84b4c76e66710").count(), 0);
//! ```
use std::collections::{HashMap, VecDeque};

use super::Count;
use crate::sip::{Message, ParsedMessage};

/// How much a [`MessageStore`] keeps at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bytes of messages (their SIP bytes) at most.
    pub max_bytes: usize,
    /// Messages at most.
    pub max_messages: usize,
}

impl Default for StoreLimits {
    /// 64 MiB, 200 000 messages: a busy PBX's hour of registrations.
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            max_messages: 200_000,
        }
    }
}

/// A transaction as RFC 3261 §17.1.3 matches it: the top Via's branch and
/// the CSeq method (a CANCEL is its own transaction with the same branch).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// The top Via's `branch` parameter.
    pub branch: String,
    /// The CSeq method.
    pub method: String,
}

/// What a stored message is found by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    CallId(String),
    Transaction(TransactionKey),
    Binding(String),
}

/// The messages of a run, oldest first, within [`StoreLimits`].
pub struct MessageStore {
    limits: StoreLimits,
    /// The message numbered `first + i` at `i`.
    messages: VecDeque<(Message, Vec<Key>)>,
    first: u64,
    bytes: usize,
    /// Each key's messages by number, oldest first.
    index: HashMap<Key, VecDeque<u64>>,
    evicted: u64,
}

impl MessageStore {
    /// An empty store that keeps at most `limits`.
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            messages: VecDeque::new(),
            first: 0,
            bytes: 0,
            index: HashMap::new(),
            evicted: 0,
        }
    }

    /// Keeps a copy of `parsed`'s message, found by its Call-ID, its
    /// transaction and (a REGISTER or its answer) its binding; the oldest
    /// go to make room.
    pub fn push(&mut self, parsed: &ParsedMessage<'_>) {
        let m = parsed.message;
        if m.bytes.len() > self.limits.max_bytes || self.limits.max_messages == 0 {
            self.evicted += 1;
            return;
        }
        let mut keys = Vec::new();
        if let Some(id) = parsed.call_id() {
            keys.push(Key::CallId(id.into_owned()));
        }
        let cseq = parsed.cseq();
        let branch = parsed.vias().into_iter().next().and_then(|v| v.branch);
        if let (Some(branch), Some(cseq)) = (branch, &cseq) {
            keys.push(Key::Transaction(TransactionKey {
                branch,
                method: cseq.method.clone(),
            }));
        }
        if cseq.is_some_and(|c| c.method.eq_ignore_ascii_case("REGISTER"))
            && let Some(to) = parsed.to()
        {
            keys.push(Key::Binding(aor(&to.uri.text).to_owned()));
        }
        while self.messages.len() >= self.limits.max_messages
            || self.bytes + m.bytes.len() > self.limits.max_bytes
        {
            self.evict_oldest();
        }
        let number = self.first + self.messages.len() as u64;
        for k in &keys {
            self.index.entry(k.clone()).or_default().push_back(number);
        }
        self.bytes += m.bytes.len();
        self.messages.push_back((m.clone(), keys));
    }

    fn evict_oldest(&mut self) {
        let Some((m, keys)) = self.messages.pop_front() else {
            return;
        };
        for k in keys {
            if let Some(numbers) = self.index.get_mut(&k) {
                numbers.pop_front();
                if numbers.is_empty() {
                    self.index.remove(&k);
                }
            }
        }
        self.bytes -= m.bytes.len();
        self.first += 1;
        self.evicted += 1;
    }

    fn found(&self, key: Key) -> impl Iterator<Item = &Message> {
        self.index
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|n| self.messages.get((n - self.first) as usize))
            .map(|(m, _)| m)
    }

    /// Every message kept with this Call-ID (a registration's REGISTERs,
    /// a dialog), oldest first.
    pub fn by_call_id(&self, call_id: &str) -> impl Iterator<Item = &Message> {
        self.found(Key::CallId(call_id.to_owned()))
    }

    /// Every message kept of this transaction (the request, its
    /// retransmissions, its answers), oldest first.
    pub fn by_transaction(&self, key: &TransactionKey) -> impl Iterator<Item = &Message> {
        self.found(Key::Transaction(key.clone()))
    }

    /// Every REGISTER and answer kept for this address-of-record (the To
    /// URI; parameters are ignored), oldest first.
    pub fn by_binding(&self, aor_uri: &str) -> impl Iterator<Item = &Message> {
        self.found(Key::Binding(aor(aor_uri).to_owned()))
    }

    /// Every message kept, oldest first (in the order they were seen).
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().map(|(m, _)| m)
    }

    /// Where this address-of-record's REGISTERs and answers are in
    /// [`MessageStore::iter`]'s order, oldest first.
    pub fn binding_positions(&self, aor_uri: &str) -> Vec<usize> {
        self.index
            .get(&Key::Binding(aor(aor_uri).to_owned()))
            .into_iter()
            .flatten()
            .map(|n| (n - self.first) as usize)
            .collect()
    }

    /// Messages kept now.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes of the messages kept now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages let go to stay within the limits.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The store's counts for the summary: its evictions, a loss.
    pub fn counts(&self) -> Vec<Count> {
        vec![Count {
            by: "message store",
            what: "messages evicted from the message store (over its limits; the oldest go first)",
            n: self.evicted,
            loss: true,
        }]
    }
}

/// A To URI without its parameters, as the tracker keys a binding.
fn aor(uri: &str) -> &str {
    uri.split(';').next().unwrap_or(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::from_agent;

    fn register(n: u32, user: &str) -> Message {
        let text = format!(
            "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{user}{n}\r\n\
             From: <sip:{user}@203.0.113.2>;tag=1\r\nTo: <sip:{user}@203.0.113.2>\r\nCall-ID: {user}\r\n\
             CSeq: {n} REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        from_agent(9060, u64::from(n), true, &text)
    }

    fn push(store: &mut MessageStore, m: &Message) {
        store.push(&m.parsed());
    }

    #[test]
    fn messages_are_found_by_call_id_transaction_and_binding() {
        let mut store = MessageStore::new(StoreLimits::default());
        for n in 1..=3 {
            push(&mut store, &register(n, "alice"));
        }
        push(&mut store, &register(1, "bob"));
        assert_eq!(store.by_call_id("alice").count(), 3);
        assert_eq!(store.by_binding("sip:bob@203.0.113.2").count(), 1);
        let tx = TransactionKey {
            branch: "z9hG4bK-alice2".into(),
            method: "REGISTER".into(),
        };
        let found: Vec<_> = store.by_transaction(&tx).collect();
        assert_eq!(found.len(), 1);
        assert!(String::from_utf8_lossy(&found[0].bytes).contains("CSeq: 2 REGISTER"));
        assert_eq!(store.binding_positions("sip:bob@203.0.113.2"), [3]);
        assert_eq!(store.iter().count(), 4);
        assert_eq!(store.evicted(), 0);
    }

    #[test]
    fn the_oldest_go_first_within_the_message_count() {
        let mut store = MessageStore::new(StoreLimits {
            max_bytes: 1 << 20,
            max_messages: 2,
        });
        for n in 1..=5 {
            push(&mut store, &register(n, "alice"));
        }
        assert_eq!(store.len(), 2);
        assert_eq!(store.evicted(), 3);
        let kept: Vec<_> = store
            .by_call_id("alice")
            .map(|m| m.parsed().cseq().unwrap().seq)
            .collect();
        assert_eq!(kept, [4, 5]);
        // Keys of evicted messages are gone with them.
        assert_eq!(store.index.len(), 1 + 2 + 1);
        assert_eq!(store.counts()[0].n, 3);
    }

    #[test]
    fn the_byte_budget_holds() {
        let one = register(1, "alice").bytes.len();
        let mut store = MessageStore::new(StoreLimits {
            max_bytes: one * 3,
            max_messages: 1000,
        });
        for n in 1..=9 {
            push(&mut store, &register(n, "alice"));
        }
        assert!(store.bytes() <= one * 3);
        assert_eq!(store.len(), 3);
        assert_eq!(store.evicted(), 6);
    }
}
