//! Bounded tables: room is made by forgetting the entry least recently
//! active, so that a flood cannot grow memory; the caller counts it.
use std::{collections::HashMap, hash::Hash};

/// Removes the entry of `map` whose `age` is least (the least recently
/// active) and returns whether there was one to remove.
pub fn evict_oldest<K, V, A>(map: &mut HashMap<K, V>, age: impl Fn(&V) -> A) -> bool
where
    K: Copy + Eq + Hash,
    A: Ord,
{
    let oldest = map.iter().min_by_key(|(_, v)| age(v)).map(|(k, _)| *k);
    oldest.is_some_and(|k| map.remove(&k).is_some())
}
