//! Per-binding labels, bounded: the first [`MAX_BINDINGS`] bindings seen
//! keep their own (registrar, AOR, Contact) labels while they are tracked;
//! any more are folded into one series labelled `other`, and each binding
//! folded is counted, so that a registrar with thousands of AORs cannot
//! blow up a time-series database and the folding is visible.
use std::collections::HashSet;

use prometheus_client::{encoding::EncodeLabelSet, metrics::counter::Counter};

use crate::track::BindingKey;

/// Bindings with labels of their own at most.
pub const MAX_BINDINGS: usize = 1000;

/// The label value of the folded series.
const OTHER: &str = "other";

/// A registration's identity as labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BindingLabels {
    registrar: String,
    aor: String,
    contact: String,
}

impl BindingLabels {
    fn of(key: &BindingKey) -> Self {
        BindingLabels {
            registrar: key.registrar.clone(),
            aor: key.aor.clone(),
            contact: key.contact.clone(),
        }
    }

    /// The series of every folded binding.
    pub(super) fn other() -> Self {
        BindingLabels {
            registrar: OTHER.into(),
            aor: OTHER.into(),
            contact: OTHER.into(),
        }
    }
}

/// Which bindings have labels of their own.
#[derive(Debug)]
pub(super) struct Slots {
    max: usize,
    held: HashSet<BindingKey>,
    folded: HashSet<BindingKey>,
    /// Bindings folded into `other`, each time one was.
    pub(super) folded_total: Counter,
}

impl Slots {
    pub(super) fn new(max: usize) -> Self {
        Slots {
            max,
            held: HashSet::new(),
            folded: HashSet::new(),
            folded_total: Counter::default(),
        }
    }

    /// `key`'s own labels, or `None` when it is folded into `other`.
    pub(super) fn labels(&mut self, key: &BindingKey) -> Option<BindingLabels> {
        if self.held.contains(key) {
            return Some(BindingLabels::of(key));
        }
        if self.held.len() < self.max && !self.folded.contains(key) {
            self.held.insert(key.clone());
            return Some(BindingLabels::of(key));
        }
        if self.folded.insert(key.clone()) {
            self.folded_total.inc();
        }
        None
    }

    /// Forgets the bindings no longer tracked: their slots are free.
    pub(super) fn retain(&mut self, tracked: &HashSet<&BindingKey>) {
        self.held.retain(|k| tracked.contains(k));
        self.folded.retain(|k| tracked.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(aor: &str) -> BindingKey {
        BindingKey {
            registrar: "sip:203.0.113.2".into(),
            aor: aor.into(),
            contact: "sip:pbx@192.168.77.10".into(),
        }
    }

    #[test]
    fn bindings_past_the_cap_are_folded_and_counted_once_each_until_a_slot_frees() {
        let mut s = Slots::new(1);
        let (a, b) = (key("sip:a@x"), key("sip:b@x"));
        assert!(s.labels(&a).is_some());
        assert!(s.labels(&b).is_none());
        assert!(s.labels(&b).is_none());
        assert_eq!(s.folded_total.get(), 1);
        // `a` is no longer tracked: its slot is free, and a folded
        // binding stays folded while it is tracked (no flapping series).
        s.retain(&[&b].into_iter().collect());
        assert!(s.labels(&b).is_none());
        let c = key("sip:c@x");
        assert!(s.labels(&c).is_some());
        assert_eq!(s.folded_total.get(), 1);
    }
}
