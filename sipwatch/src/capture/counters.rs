//! The kernel programs' counters, summed over CPUs.
use aya::maps::{MapData, PerCpuArray};
use sipwatch_common::{COUNTER_MAP, Counter, Direction, counter_index};

use super::CaptureError;

/// What one hook counted. `selected = copied + ring_full + read_errors`:
/// every selected packet is either delivered or counted as lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectionCounters {
    pub seen: u64,
    pub selected: u64,
    pub copied: u64,
    pub truncated: u64,
    pub ring_full: u64,
    pub tls: u64,
    pub read_errors: u64,
    pub fragments: u64,
    pub frag_table_full: u64,
    /// Answers from the echo (`attach --echo`) copied and then dropped at
    /// XDP, so that the PBX never sees them.
    pub consumed: u64,
}

impl DirectionCounters {
    /// Selected packets that did not reach user space.
    pub fn lost(&self) -> u64 {
        self.ring_full + self.read_errors
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub ingress: DirectionCounters,
    pub egress: DirectionCounters,
}

impl Counters {
    pub fn direction(&self, direction: Direction) -> &DirectionCounters {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub(super) fn read(map: &PerCpuArray<&MapData, u64>) -> Result<Counters, CaptureError> {
        let get = |direction, counter| -> Result<u64, CaptureError> {
            let values = map
                .get(&counter_index(direction, counter), 0)
                .map_err(|source| CaptureError::Map {
                    map: COUNTER_MAP,
                    source,
                })?;
            Ok(values.iter().sum())
        };
        let read_direction = |d| -> Result<DirectionCounters, CaptureError> {
            Ok(DirectionCounters {
                seen: get(d, Counter::Seen)?,
                selected: get(d, Counter::Selected)?,
                copied: get(d, Counter::Copied)?,
                truncated: get(d, Counter::Truncated)?,
                ring_full: get(d, Counter::RingFull)?,
                tls: get(d, Counter::Tls)?,
                read_errors: get(d, Counter::ReadError)?,
                fragments: get(d, Counter::Fragments)?,
                frag_table_full: get(d, Counter::FragTableFull)?,
                consumed: get(d, Counter::Consumed)?,
            })
        };
        Ok(Counters {
            ingress: read_direction(Direction::Ingress)?,
            egress: read_direction(Direction::Egress)?,
        })
    }
}
