//! TLS plaintext inside a process (`attach --pid`, `--process`): uprobes
//! on OpenSSL's `SSL_write`/`SSL_write_ex`/`SSL_read`/`SSL_read_ex`
//! remember each call's buffer at entry; at return, the bytes the call
//! wrote or read are copied into `PLAINTEXT` with the TCP connection
//! they went over.
//!
//! The connection is the TCP socket whose send or receive the same
//! thread made during the call (the `sock_send_length` and
//! `sock_recv_length` tracepoints) (OpenSSL's socket BIO writes and reads
//! inside the call), else for a read the thread's last `tcp_recvmsg`
//! before it (a memory BIO, pjproject's: it receives, then decrypts),
//! else for a write the thread's next send after it (a memory
//! BIO: it encrypts, then sends), sent as a record of its own. The
//! socket's addresses are read at offsets user space found in the
//! running kernel's BTF (`SockOffsets`).
//!
//! Every call whose bytes could not be copied is counted
//! (`PlainCounter`); the probes never change what the process does.
use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel, bpf_probe_read_user,
        generated,
    },
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sipwatch_common::plaintext::{
    COMM_LEN, PLAIN_CHUNK, PLAIN_CHUNKS_MAX, PLAIN_COUNTER_KINDS, PLAIN_KIND_CONNECTION,
    PLAIN_KIND_READ, PLAIN_RING_BYTES_DEFAULT, PLAIN_TARGET_ENTRIES, PlainCounter, PlainHeader,
    PlainRecord, SockOffsets, SockTuple,
};

use crate::maps::global;

/// What each call wrote or read, for user space.
#[map]
pub static PLAINTEXT: RingBuf = RingBuf::with_byte_size(PLAIN_RING_BYTES_DEFAULT, 0);

/// The counters (`PlainCounter`), per CPU.
#[map]
pub static PLAIN_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PLAIN_COUNTER_KINDS, 0);

/// The processes read, by tgid (`--pid`, and those `--process` found).
#[map]
pub static PLAIN_TARGETS: HashMap<u32, u8> = HashMap::with_max_entries(PLAIN_TARGET_ENTRIES, 0);

/// Each thread's call in progress, by `pid_tgid`.
#[map]
static CALLS: LruHashMap<u64, Call> = LruHashMap::with_max_entries(16_384, 0);

/// Each thread's last TCP receive's connection, by `pid_tgid`.
#[map]
static LAST_RECV: LruHashMap<u64, SockTuple> = LruHashMap::with_max_entries(16_384, 0);

/// Threads whose last write went out without a connection: their next
/// TCP send names it.
#[map]
static AWAITING_SEND: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16_384, 0);

/// `--process`'s name as the kernel's `comm`, NUL-padded; all zero: none.
#[unsafe(no_mangle)]
pub static PLAIN_PROCESS: [u8; COMM_LEN] = [0; COMM_LEN];

/// Where `struct sock` holds a connection's addresses (set at load time).
#[unsafe(no_mangle)]
pub static PLAIN_SOCK: SockOffsets = SockOffsets {
    enabled: 0,
    family: 0,
    daddr: 0,
    rcv_saddr: 0,
    dport: 0,
    num: 0,
    protocol: 0,
    v6_daddr: 0,
    v6_rcv_saddr: 0,
};

/// One call between its entry and its return.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Call {
    /// The plaintext buffer (argument 2).
    buf: u64,
    /// `_ex` forms: where the count is written (argument 4); else 0.
    count_at: u64,
    /// The connection of a TCP send or receive during the call.
    tuple: SockTuple,
    /// `PLAIN_KIND_WRITE` or `PLAIN_KIND_READ`.
    kind: u8,
    /// Non-zero: an `_ex` form.
    ex: u8,
    _pad: [u8; 6],
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u16 = 6;

#[inline(always)]
pub fn count(counter: PlainCounter) {
    if let Some(slot) = PLAIN_COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: this CPU's slot; the program runs with migration off.
        unsafe { *slot += 1 };
    }
}

/// Whether the calling process is one read: by pid, or by `--process`'s
/// name.
#[inline(always)]
fn wanted(pid_tgid: u64) -> bool {
    let tgid = (pid_tgid >> 32) as u32;
    if PLAIN_TARGETS.get_ptr(&tgid).is_some() {
        return true;
    }
    let name: [u8; COMM_LEN] = global(&PLAIN_PROCESS);
    if name[0] == 0 {
        return false;
    }
    match bpf_get_current_comm() {
        Ok(comm) => comm == name,
        Err(_) => false,
    }
}

/// At a call's entry: its buffer and, for `_ex`, where its count goes.
#[inline(always)]
pub fn enter(buf: u64, count_at: u64, kind: u8, ex: bool) {
    let id = bpf_get_current_pid_tgid();
    if !wanted(id) {
        return;
    }
    let call = Call {
        buf,
        count_at,
        tuple: SockTuple::default(),
        kind,
        ex: u8::from(ex),
        _pad: [0; 6],
    };
    if CALLS.get_ptr(&id).is_some() {
        count(PlainCounter::Unpaired);
    }
    if CALLS.insert(&id, &call, 0).is_err() {
        count(PlainCounter::Unpaired);
    }
}

/// At a call's return (`ret`, its return value): its bytes into the ring.
#[inline(always)]
pub fn leave(ret: i64) {
    let id = bpf_get_current_pid_tgid();
    let Some(call) = CALLS.get_ptr(&id) else {
        return;
    };
    // SAFETY: the entry stays valid until removed below.
    let call = unsafe { *call };
    let _ = CALLS.remove(&id);
    let len: u64 = if call.ex != 0 {
        if ret != 1 {
            return;
        }
        // SAFETY: the helper checks the user address.
        match unsafe { bpf_probe_read_user(call.count_at as *const u64) } {
            Ok(n) => n,
            Err(_) => {
                count(PlainCounter::ReadError);
                return;
            }
        }
    } else {
        if ret <= 0 {
            return;
        }
        ret as u64
    };
    if len == 0 {
        return;
    }
    count(PlainCounter::Calls);
    let mut tuple = call.tuple;
    if tuple.family == 0 {
        if call.kind == PLAIN_KIND_READ {
            if let Some(last) = LAST_RECV.get_ptr(&id) {
                // SAFETY: a value of this map, copied at once.
                tuple = unsafe { *last };
            }
        } else {
            let _ = AWAITING_SEND.insert(&id, &1, 0);
        }
    }
    let len = if len > u64::from(u32::MAX) {
        u32::MAX
    } else {
        len as u32
    };
    let ts_ns = unsafe { generated::bpf_ktime_get_ns() };
    let mut offset: u32 = 0;
    for _ in 0..PLAIN_CHUNKS_MAX {
        if offset >= len {
            return;
        }
        let rest = len - offset;
        let Some(mut entry) = PLAINTEXT.reserve::<PlainRecord>(0) else {
            count(PlainCounter::RingFull);
            offset += PLAIN_CHUNK as u32;
            continue;
        };
        let record = entry.as_mut_ptr();
        let n = if rest >= PLAIN_CHUNK as u32 {
            PLAIN_CHUNK as u32
        } else {
            rest
        };
        // SAFETY: `record` is the reserved entry; the reads are bounded
        // by the data array's size (a constant, or a mask below it).
        let read = unsafe {
            let data = (*record).data.as_mut_ptr();
            let src = (call.buf + u64::from(offset)) as *const core::ffi::c_void;
            if n == PLAIN_CHUNK as u32 {
                generated::bpf_probe_read_user(data.cast(), PLAIN_CHUNK as u32, src)
            } else {
                let m = n & (PLAIN_CHUNK as u32 - 1);
                generated::bpf_probe_read_user(data.cast(), m, src)
            }
        };
        if read != 0 {
            count(PlainCounter::ReadError);
            entry.discard(0);
            offset += PLAIN_CHUNK as u32;
            continue;
        }
        // SAFETY: the header of the reserved entry.
        unsafe {
            (*record).header = PlainHeader {
                ts_ns,
                pid: (id >> 32) as u32,
                tid: id as u32,
                call_len: len,
                offset,
                len: n,
                kind: call.kind,
                _pad: [0; 3],
                tuple,
            };
        }
        entry.submit(0);
        count(PlainCounter::Records);
        offset += PLAIN_CHUNK as u32;
    }
    if offset < len {
        count(PlainCounter::Cut);
    }
}

/// The connection of `sk`, a `struct sock *`.
#[inline(always)]
fn tuple_of(sk: u64) -> Option<SockTuple> {
    let o: SockOffsets = global(&PLAIN_SOCK);
    if o.enabled == 0 || sk == 0 {
        return None;
    }
    let read_u16 = |at: u32| -> Option<u16> {
        // SAFETY: the helper checks the kernel address.
        unsafe { bpf_probe_read_kernel((sk + u64::from(at)) as *const u16) }.ok()
    };
    if read_u16(o.protocol)? != IPPROTO_TCP {
        return None;
    }
    let family = read_u16(o.family)?;
    let mut t = SockTuple {
        family,
        local_port: read_u16(o.num)?,
        remote_port: u16::from_be(read_u16(o.dport)?),
        _pad: 0,
        local: [0; 16],
        remote: [0; 16],
    };
    // SAFETY (each read): the helper checks the kernel address.
    match family {
        AF_INET => {
            let l: [u8; 4] =
                unsafe { bpf_probe_read_kernel((sk + u64::from(o.rcv_saddr)) as *const [u8; 4]) }
                    .ok()?;
            let r: [u8; 4] =
                unsafe { bpf_probe_read_kernel((sk + u64::from(o.daddr)) as *const [u8; 4]) }
                    .ok()?;
            t.local[..4].copy_from_slice(&l);
            t.remote[..4].copy_from_slice(&r);
        }
        AF_INET6 => {
            t.local = unsafe {
                bpf_probe_read_kernel((sk + u64::from(o.v6_rcv_saddr)) as *const [u8; 16])
            }
            .ok()?;
            t.remote =
                unsafe { bpf_probe_read_kernel((sk + u64::from(o.v6_daddr)) as *const [u8; 16]) }
                    .ok()?;
        }
        _ => return None,
    }
    Some(t)
}

/// A socket's send or receive returned (`sk`): when it is TCP, the
/// connection of the thread's call in progress, of its next read, or of
/// its last write.
#[inline(always)]
pub fn tcp(sk: u64, kind: u8) {
    let id = bpf_get_current_pid_tgid();
    // Each map looked at in a branch of its own: the verifier refuses
    // the pointer arithmetic LLVM makes of two null checks together.
    if let Some(call) = CALLS.get_ptr_mut(&id) {
        // SAFETY: this thread's own entry.
        let call = unsafe { &mut *call };
        if call.kind == kind
            && call.tuple.family == 0
            && let Some(tuple) = tuple_of(sk)
        {
            call.tuple = tuple;
        }
    }
    if kind == PLAIN_KIND_READ {
        if wanted(id)
            && let Some(tuple) = tuple_of(sk)
        {
            let _ = LAST_RECV.insert(&id, &tuple, 0);
        }
        return;
    }
    if AWAITING_SEND.get_ptr(&id).is_none() {
        return;
    }
    let _ = AWAITING_SEND.remove(&id);
    let Some(tuple) = tuple_of(sk) else {
        return;
    };
    let Some(mut entry) = PLAINTEXT.reserve::<PlainHeader>(0) else {
        count(PlainCounter::RingFull);
        return;
    };
    entry.write(PlainHeader {
        ts_ns: unsafe { generated::bpf_ktime_get_ns() },
        pid: (id >> 32) as u32,
        tid: id as u32,
        call_len: 0,
        offset: 0,
        len: 0,
        kind: PLAIN_KIND_CONNECTION,
        _pad: [0; 3],
        tuple,
    });
    entry.submit(0);
}
