//! Copying a selected packet into the ring buffer, and the counters.
use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::generated::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
};
use sipwatch_common::{
    Counter, Direction, FLAG_TRUNCATED, FLAG_VLAN_IN_METADATA, FRAME_HEADER_LEN, FrameHeader,
    SCRATCH_SLOTS_PER_CPU, SNAP_LEN_MAX, counter_index,
};

use crate::{
    maps::{COUNTERS, FRAMES, SCRATCH, SNAP_LEN, WAKEUP_BYTES, global},
    packet::Packet,
};

#[inline(always)]
pub fn count(direction: Direction, counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter_index(direction, counter)) {
        // SAFETY: a per-CPU slot; these programs do not nest on one CPU.
        unsafe { *slot += 1 };
    }
}

/// `len` cut at the snap length and at a record's room.
#[inline(always)]
pub fn snapped(len: u32) -> u32 {
    let mut cap_len = len;
    let snap = global(&SNAP_LEN);
    if cap_len > snap {
        cap_len = snap;
    }
    if cap_len > SNAP_LEN_MAX {
        cap_len = SNAP_LEN_MAX;
    }
    cap_len
}

/// This CPU's scratch slot for program `slot` (see `SCRATCH_SLOTS_PER_CPU`).
#[inline(always)]
pub fn scratch_slot(slot: u32) -> Option<*mut sipwatch_common::ScratchRecord> {
    let cpu = unsafe { bpf_get_smp_processor_id() };
    SCRATCH.get_ptr_mut(cpu * SCRATCH_SLOTS_PER_CPU + slot)
}

/// Copies the packet (up to the snap length) with its metadata into the ring
/// buffer: first into this CPU's scratch slot, then one `bpf_ringbuf_output`
/// of exactly the bytes used, so small SIP packets take little ring space.
/// The reader is woken only when `WAKEUP_BYTES` wait (see sipwatch-common).
#[inline(always)]
pub fn emit<P: Packet>(p: &P, direction: Direction, hook_slot: u32) {
    let wire_len = p.len();
    let cap_len = snapped(wire_len);
    let Some(record) = scratch_slot(hook_slot) else {
        count(direction, Counter::ReadError);
        return;
    };
    let truncated = cap_len < wire_len;
    let mut flags = if truncated { FLAG_TRUNCATED } else { 0 };
    if crate::maps::global(&crate::maps::LINK_LAYER) == sipwatch_common::LINK_NONE {
        flags |= sipwatch_common::FLAG_NO_LINK_HEADER;
    }
    let (vlan_tci, vlan_proto) = match p.vlan_metadata() {
        Some(tag) => {
            flags |= FLAG_VLAN_IN_METADATA;
            tag
        }
        None => (0, 0),
    };
    // SAFETY: `record` points at this CPU's and hook's own scratch slot.
    let record = unsafe { &mut *record };
    record.header = FrameHeader {
        ts_ns: unsafe { bpf_ktime_get_ns() },
        ifindex: p.ifindex(),
        wire_len,
        cap_len,
        direction: direction as u8,
        flags,
        vlan_tci,
        vlan_proto,
        drop_hints: 0,
        _reserved: 0,
        drop_reason: 0,
    };
    // Re-read the length through a volatile load and bound it right here: the
    // verifier needs the checks on the very register passed to the helpers,
    // and LLVM would otherwise fold them into earlier tests on `wire_len`.
    let cap_len = unsafe { core::ptr::read_volatile(&record.header.cap_len) };
    if cap_len == 0 || cap_len > SNAP_LEN_MAX {
        count(direction, Counter::ReadError);
        return;
    }
    if !p.load(0, record.data.as_mut_ptr(), cap_len) {
        count(direction, Counter::ReadError);
        return;
    }
    match submit(record, cap_len) {
        Ok(()) => {
            count(direction, Counter::Copied);
            if truncated {
                count(direction, Counter::Truncated);
            }
        }
        Err(()) => count(direction, Counter::RingFull),
    }
}

/// Hands the record's header and first `cap_len` data bytes to the ring in
/// one copy (`cap_len` already bounded by the caller on this register); the
/// reader is woken only when `WAKEUP_BYTES` wait. `Err`: the ring is full.
#[inline(always)]
pub fn submit(record: &sipwatch_common::ScratchRecord, cap_len: u32) -> Result<(), ()> {
    // SAFETY: header and the first `cap_len` data bytes are initialised and
    // lie inside the record (cap_len <= SNAP_LEN_MAX).
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (record as *const sipwatch_common::ScratchRecord).cast::<u8>(),
            FRAME_HEADER_LEN + cap_len as usize,
        )
    };
    let waiting = FRAMES.query(BPF_RB_AVAIL_DATA as u64);
    let wakeup = if waiting >= u64::from(global(&WAKEUP_BYTES)) {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    FRAMES.output::<[u8]>(bytes, wakeup as u64).map_err(|_| ())
}
