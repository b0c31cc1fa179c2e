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
    SockOffsets, SockTuple,
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
/// TCP send names it; the value is that write's `SSL *`.
#[map]
static AWAITING_SEND: LruHashMap<u64, u64> = LruHashMap::with_max_entries(16_384, 0);

/// The connection of each `SSL *` (with its process), once a call on it
/// showed it: a read served from OpenSSL's buffer, with no socket read in
/// the call, belongs to its own connection, not to the thread's last one.
#[map]
static SSL_CONNECTIONS: LruHashMap<SslKey, SockTuple> = LruHashMap::with_max_entries(16_384, 0);

/// An `SSL *` of one process.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SslKey {
    ssl: u64,
    tgid: u32,
    _pad: u32,
}

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
    /// The `SSL *` (argument 1).
    ssl: u64,
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
pub fn enter(ssl: u64, buf: u64, count_at: u64, kind: u8, ex: bool) {
    let id = bpf_get_current_pid_tgid();
    if !wanted(id) {
        return;
    }
    let call = Call {
        ssl,
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
    let tuple = connection_of(id, &call);
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
        let n = if rest >= PLAIN_CHUNK as u32 {
            PLAIN_CHUNK as u32
        } else {
            rest
        };
        let header = PlainHeader {
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
        let src = call.buf + u64::from(offset);
        // The smallest record that holds the chunk: a SIP message of a
        // few hundred bytes takes a 512-byte slot, not 4 KiB of the ring.
        let copied = if n <= 512 {
            emit::<512>(&header, src)
        } else if n <= 1024 {
            emit::<1024>(&header, src)
        } else if n <= 2048 {
            emit::<2048>(&header, src)
        } else {
            emit::<{ PLAIN_CHUNK }>(&header, src)
        };
        match copied {
            Ok(()) => count(PlainCounter::Records),
            Err(counter) => count(counter),
        }
        offset += PLAIN_CHUNK as u32;
    }
    if offset < len {
        count(PlainCounter::Cut);
    }
}

/// The connection of `call` (thread `id`): the socket used during the
/// call; else the one its `SSL *` showed before; else, for a read, the
/// thread's last receive (a memory BIO: it received, then decrypts), and
/// for a write none yet: the thread's next send names it.
#[inline(always)]
fn connection_of(id: u64, call: &Call) -> SockTuple {
    let key = SslKey {
        ssl: call.ssl,
        tgid: (id >> 32) as u32,
        _pad: 0,
    };
    if call.tuple.family != 0 {
        let _ = SSL_CONNECTIONS.insert(&key, &call.tuple, 0);
        return call.tuple;
    }
    if let Some(known) = SSL_CONNECTIONS.get_ptr(&key) {
        // SAFETY: a value of this map, copied at once.
        return unsafe { *known };
    }
    if call.kind == PLAIN_KIND_READ {
        if let Some(last) = LAST_RECV.get_ptr(&id) {
            // SAFETY: a value of this map, copied at once.
            let last = unsafe { *last };
            let _ = SSL_CONNECTIONS.insert(&key, &last, 0);
            return last;
        }
    } else {
        let _ = AWAITING_SEND.insert(&id, &call.ssl, 0);
    }
    SockTuple::default()
}

/// One record of `N` data bytes: `header`, then `header.len` bytes read
/// from the process at `src` (`header.len <= N`).
#[inline(always)]
fn emit<const N: usize>(header: &PlainHeader, src: u64) -> Result<(), PlainCounter> {
    let Some(mut entry) = PLAINTEXT.reserve::<Record<N>>(0) else {
        return Err(PlainCounter::RingFull);
    };
    let record = entry.as_mut_ptr();
    let n = header.len;
    // SAFETY: `record` is the reserved entry; the read is bounded by the
    // data array's size (a constant, or a mask below it: N is a power of
    // two).
    let read = unsafe {
        let data = (*record).data.as_mut_ptr();
        let from = src as *const core::ffi::c_void;
        if n as usize == N {
            generated::bpf_probe_read_user(data.cast(), N as u32, from)
        } else {
            generated::bpf_probe_read_user(data.cast(), n & (N as u32 - 1), from)
        }
    };
    if read != 0 {
        entry.discard(0);
        return Err(PlainCounter::ReadError);
    }
    // SAFETY: the header of the reserved entry.
    unsafe { (*record).header = *header };
    entry.submit(0);
    Ok(())
}

/// A record with room for `N` bytes of plaintext.
#[repr(C)]
pub struct Record<const N: usize> {
    header: PlainHeader,
    data: [u8; N],
}

/// `SSL_free(ssl)`: the `SSL *` may be reused for another connection.
#[inline(always)]
pub fn free(ssl: u64) {
    let key = SslKey {
        ssl,
        tgid: (bpf_get_current_pid_tgid() >> 32) as u32,
        _pad: 0,
    };
    let _ = SSL_CONNECTIONS.remove(&key);
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
    let Some(ssl) = AWAITING_SEND.get_ptr(&id) else {
        return;
    };
    // SAFETY: a value of this map, copied at once.
    let ssl = unsafe { *ssl };
    let _ = AWAITING_SEND.remove(&id);
    let Some(tuple) = tuple_of(sk) else {
        return;
    };
    let key = SslKey {
        ssl,
        tgid: (id >> 32) as u32,
        _pad: 0,
    };
    let _ = SSL_CONNECTIONS.insert(&key, &tuple, 0);
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
