//! Bounded tables: room is made by forgetting the entries least recently
//! active, so that a flood cannot grow memory; the caller counts them.
//!
//! Room is made an eighth of the table at a time: finding the oldest is a
//! pass over the whole table, and doing it for every new entry of a flood
//! (a fragment or connection spray) would cost a pass per packet. So each
//! pass frees room for many, and a flood costs amortised O(1) per entry.
use std::{collections::HashMap, hash::Hash};

/// Removes the least recently active eighth of `map` (by `age`; at least
/// one entry) and returns how many entries were removed.
pub fn evict_oldest<K, V, A>(map: &mut HashMap<K, V>, age: impl Fn(&V) -> A) -> usize
where
    K: Clone + Eq + Hash,
    A: Ord,
{
    let oldest = oldest_eighth(map, age);
    for k in &oldest {
        map.remove(k);
    }
    oldest.len()
}

/// The keys of the least recently active eighth of `map` (at least one
/// entry, none of an empty map), for a caller that must close each itself.
pub fn oldest_eighth<K, V, A>(map: &HashMap<K, V>, age: impl Fn(&V) -> A) -> Vec<K>
where
    K: Clone + Eq + Hash,
    A: Ord,
{
    let n = (map.len() / 8).max(1).min(map.len());
    if n == 0 {
        return Vec::new();
    }
    let mut by_age: Vec<(A, K)> = map.iter().map(|(k, v)| (age(v), k.clone())).collect();
    by_age.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
    by_age.truncate(n);
    by_age.into_iter().map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_eighth_goes_and_is_counted() {
        let mut m: HashMap<u32, u32> = (0..64).map(|k| (k, 1000 - k)).collect();
        assert_eq!(evict_oldest(&mut m, |v| *v), 8);
        assert_eq!(m.len(), 56);
        // The ages 937..=944 belong to the keys 56..=63: those are gone.
        assert!((56..64).all(|k| !m.contains_key(&k)));
        let mut one: HashMap<u32, u32> = [(1, 1)].into();
        assert_eq!(evict_oldest(&mut one, |v| *v), 1);
        assert_eq!(evict_oldest(&mut one, |v| *v), 0);
    }
}
