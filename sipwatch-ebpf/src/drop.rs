//! The kernel drop tracer: on the `kfree_skb` tracepoint, which the kernel
//! fires (with a reason, from 5.17 on) for each packet it drops, copy the
//! dropped packets that are SIP into the same ring as the wire's frames.
//!
//! A REGISTER dropped by this host's own OUTPUT firewall never reaches TC
//! egress, and an answer dropped in INPUT (or for want of a socket, or a
//! full socket buffer) was seen at XDP but never reached the PBX: only here
//! does either show, with the kernel's own reason.
//!
//! The `sk_buff` is read through `bpf_probe_read_kernel` at offsets user
//! space found in the running kernel's BTF ([`DropConfig`]): aya's eBPF
//! programs have no CO-RE field relocations, and the layout changes
//! between kernels. A failed read drops the event, never the packet: the
//! tracer only observes.
use aya_ebpf::helpers::{
    bpf_probe_read_kernel,
    generated::{self, bpf_ktime_get_ns},
};
use sipwatch_common::{
    Counter, DROP_COPIES_PER_S, DROP_HINT_DEVICE, DROP_HINT_ROUTE, Direction, DropConfig,
    FLAG_KERNEL_DROP, FLAG_TRUNCATED, FrameHeader, MAX_IPV6_EXT_HEADERS, PORT_SIP, SNAP_LEN_MAX,
    wire::{
        IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_TCP,
        IPPROTO_UDP, IPV4_FRAGMENT_OFFSET_MASK, IPV6_EXT_LEN_UNIT, IPV6_FRAGMENT_HEADER_LEN,
        IPV6_HEADER_LEN,
    },
};

use crate::{
    emit::{count, scratch_slot, snapped, submit},
    maps::{DROP_CONFIG, DROP_RATE, PORTS, global},
};

/// This program's scratch slot (see `SCRATCH_SLOTS_PER_CPU`).
const DROP_SLOT: u32 = 2;
/// `network_header` of an `sk_buff` whose network header was never set.
const HEADER_UNSET: u16 = 0xffff;

#[inline(always)]
fn read<T: Copy>(addr: u64) -> Option<T> {
    // SAFETY: the helper checks the address; a bad one is an error, not a fault.
    unsafe { bpf_probe_read_kernel(addr as *const T) }.ok()
}

#[inline(always)]
fn is_sip_port(port: u16) -> bool {
    PORTS
        .get(u32::from(port))
        .is_some_and(|&kind| kind == PORT_SIP)
}

/// Looks at one dropped `sk_buff` (`skb`, the kernel's pointer) and copies
/// it when it is SIP of this network namespace.
#[inline(always)]
pub fn trace(skb: u64, reason: u32) {
    let c: DropConfig = global(&DROP_CONFIG);
    if c.enabled == 0 || skb == 0 {
        return;
    }
    let _ = try_trace(&c, skb, reason);
}

#[inline(always)]
fn try_trace(c: &DropConfig, skb: u64, reason: u32) -> Option<()> {
    let head: u64 = read(skb + u64::from(c.skb_head))?;
    let network: u16 = read(skb + u64::from(c.skb_network_header))?;
    if network == HEADER_UNSET || head == 0 {
        return None;
    }
    let tail: u32 = read(skb + u64::from(c.skb_tail))?;
    let ip = head + u64::from(network);
    let first: u8 = read(ip)?;
    let (proto, l4, total) = match first >> 4 {
        4 => {
            let h: [u8; 20] = read(ip)?;
            let ihl = u64::from(h[0] & 0x0f) * 4;
            let fragment = u16::from_be_bytes([h[6], h[7]]) & IPV4_FRAGMENT_OFFSET_MASK;
            if ihl < 20 || fragment != 0 {
                return None;
            }
            (h[9], ip + ihl, u32::from(u16::from_be_bytes([h[2], h[3]])))
        }
        6 => {
            let h: [u8; 40] = read(ip)?;
            let total = u32::from(u16::from_be_bytes([h[4], h[5]])) + IPV6_HEADER_LEN;
            let (next, l4) = skip_ipv6_extensions(h[6], ip + u64::from(IPV6_HEADER_LEN))?;
            (next, l4, total)
        }
        _ => return None,
    };
    if proto != IPPROTO_UDP && proto != IPPROTO_TCP {
        return None;
    }
    let ports: [u8; 4] = read(l4)?;
    let (sport, dport) = (
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    );
    if !is_sip_port(sport) && !is_sip_port(dport) {
        return None;
    }
    // Only this host's namespace: the socket's, else the device's.
    let sk: u64 = read(skb + u64::from(c.skb_sk))?;
    let net: u64 = if sk != 0 {
        read(sk + u64::from(c.sock_net))?
    } else {
        let dev: u64 = read(skb + u64::from(c.skb_dev))?;
        if dev == 0 {
            return None;
        }
        read(dev + u64::from(c.dev_net))?
    };
    if net == 0 {
        return None;
    }
    let inum: u32 = read(net + u64::from(c.net_inum))?;
    if inum != c.netns_inum {
        return None;
    }
    let iif: i32 = read(skb + u64::from(c.skb_iif))?;
    let dev: u64 = read(skb + u64::from(c.skb_dev)).unwrap_or(0);
    let route: u64 = read(skb + u64::from(c.skb_refdst)).unwrap_or(0);
    let hints =
        if dev != 0 { DROP_HINT_DEVICE } else { 0 } | if route != 0 { DROP_HINT_ROUTE } else { 0 };
    let direction = if iif > 0 {
        Direction::Ingress
    } else {
        Direction::Egress
    };
    count(direction, Counter::KernelDropped);
    if !within_copy_rate() {
        count(direction, Counter::KernelDropNotCopied);
        return Some(());
    }
    let linear = tail.saturating_sub(u32::from(network));
    let reason = if c.has_reason != 0 { reason } else { 0 };
    output(
        ip,
        linear,
        total,
        direction,
        iif.max(0) as u32,
        reason,
        hints,
    );
    Some(())
}

/// Steps over up to [`MAX_IPV6_EXT_HEADERS`] IPv6 extension headers
/// (hop-by-hop, routing, destination options, and a first fragment's
/// header): the transport's protocol and where it starts. `None` for a
/// later fragment (no ports) or a header that cannot be read.
#[inline(always)]
fn skip_ipv6_extensions(mut next: u8, mut at: u64) -> Option<(u8, u64)> {
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let b: [u8; 2] = read(at)?;
                next = b[0];
                at += (u64::from(b[1]) + 1) * u64::from(IPV6_EXT_LEN_UNIT);
            }
            IPPROTO_FRAGMENT => {
                let b: [u8; 4] = read(at)?;
                if u16::from_be_bytes([b[2], b[3]]) & 0xfff8 != 0 {
                    return None;
                }
                next = b[0];
                at += u64::from(IPV6_FRAGMENT_HEADER_LEN);
            }
            _ => return Some((next, at)),
        }
    }
    Some((next, at))
}

/// Whether one more copy fits this CPU's rate ([`DROP_COPIES_PER_S`] in
/// each one-second window); counts it when it does.
#[inline(always)]
fn within_copy_rate() -> bool {
    let Some(state) = DROP_RATE.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's own slot; the tracer does not nest on one CPU.
    let state = unsafe { &mut *state };
    let now = unsafe { bpf_ktime_get_ns() };
    if now.wrapping_sub(state[0]) >= 1_000_000_000 {
        state[0] = now;
        state[1] = 0;
    }
    if state[1] >= DROP_COPIES_PER_S {
        return false;
    }
    state[1] += 1;
    true
}

/// Copies `linear` bytes from `ip` (up to the snap length) with a header
/// into the ring; `total` is the IP packet's length.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output(
    ip: u64,
    linear: u32,
    total: u32,
    direction: Direction,
    ifindex: u32,
    reason: u32,
    hints: u8,
) {
    let cap_len = snapped(if linear < total { linear } else { total });
    let Some(record) = scratch_slot(DROP_SLOT) else {
        count(direction, Counter::KernelDropLost);
        return;
    };
    let truncated = cap_len < total;
    // SAFETY: this CPU's own slot for this program.
    let record = unsafe { &mut *record };
    record.header = FrameHeader {
        ts_ns: unsafe { bpf_ktime_get_ns() },
        ifindex,
        wire_len: total,
        cap_len,
        direction: direction as u8,
        flags: FLAG_KERNEL_DROP | if truncated { FLAG_TRUNCATED } else { 0 },
        vlan_tci: 0,
        vlan_proto: 0,
        drop_hints: hints,
        _reserved: 0,
        drop_reason: reason,
    };
    // Bounded on the very register passed to the helper (see emit.rs).
    let cap_len = unsafe { core::ptr::read_volatile(&record.header.cap_len) };
    if cap_len == 0 || cap_len > SNAP_LEN_MAX {
        count(direction, Counter::KernelDropLost);
        return;
    }
    // SAFETY: `cap_len` bytes fit in the slot; the helper checks `ip`.
    let read = unsafe {
        generated::bpf_probe_read_kernel(
            record.data.as_mut_ptr().cast(),
            cap_len,
            ip as *const core::ffi::c_void,
        )
    };
    if read != 0 {
        count(direction, Counter::KernelDropLost);
        return;
    }
    if submit(record, cap_len).is_err() {
        count(direction, Counter::KernelDropLost);
    }
}
