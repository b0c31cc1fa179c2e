//! TLS plaintext read inside a process: the uprobes on OpenSSL's
//! `SSL_write`/`SSL_write_ex` and `SSL_read`/`SSL_read_ex` (`attach --pid`,
//! `--process`) copy what each call wrote or read into [`PLAIN_RING_MAP`],
//! with the TCP connection it went over, found in the kernel by the
//! socket send or receive (`sock_send_length`, `sock_recv_length`
//! tracepoints, Linux 6.4) the same thread made during the call (an
//! OpenSSL socket BIO), just before it (a read through a memory BIO, as
//! pjproject does) or just after it (a write through a memory BIO: a
//! [`PLAIN_KIND_CONNECTION`] record follows).

/// Name of the ring buffer of plaintext records ([`PlainHeader`], then
/// its bytes).
pub const PLAIN_RING_MAP: &str = "PLAINTEXT";
/// Default size of that ring, in bytes.
pub const PLAIN_RING_BYTES_DEFAULT: u32 = 8 << 20;
/// Name of the array of plaintext counters (`u64`, by [`PlainCounter`]).
pub const PLAIN_COUNTER_MAP: &str = "PLAIN_COUNTERS";
/// Name of the map of process ids (tgids) whose calls are read
/// (`attach --pid`, and the processes `--process` found).
pub const PLAIN_TARGET_MAP: &str = "PLAIN_TARGETS";
/// Processes read at most by pid.
pub const PLAIN_TARGET_ENTRIES: u32 = 1024;
/// Name of the global holding `--process`'s name as the kernel's `comm`
/// (NUL-padded; all zero: none), so that a process started after attach
/// is read from its first call.
pub const PLAIN_PROCESS_GLOBAL: &str = "PLAIN_PROCESS";
/// Name of the global holding the `struct sock` offsets
/// ([`SockOffsets`]).
pub const PLAIN_SOCK_GLOBAL: &str = "PLAIN_SOCK";
/// The kernel's `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;

/// Bytes of plaintext one record carries at most; a call's bytes take
/// several records. A record is reserved at the smallest of 512, 1024,
/// 2048 and 4096 bytes that holds its chunk.
pub const PLAIN_CHUNK: usize = 4096;
/// Records one call gives at most: what a call wrote or read beyond
/// `PLAIN_CHUNK * PLAIN_CHUNKS_MAX` bytes (16 KiB, a TLS record's
/// plaintext at most) is counted as [`PlainCounter::Cut`], not copied.
pub const PLAIN_CHUNKS_MAX: u32 = 4;

/// [`PlainHeader::kind`]: the bytes a successful `SSL_write`/`SSL_write_ex`
/// wrote (this host → the peer).
pub const PLAIN_KIND_WRITE: u8 = 1;
/// [`PlainHeader::kind`]: the bytes a successful `SSL_read`/`SSL_read_ex`
/// read (the peer → this host).
pub const PLAIN_KIND_READ: u8 = 2;
/// [`PlainHeader::kind`]: no bytes; the connection of this thread's
/// writes that had none yet (family 0), found at its next TCP send.
pub const PLAIN_KIND_CONNECTION: u8 = 3;

/// The TCP connection as the socket holds it: this host's end and the
/// peer's. `family` 0: not known.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockTuple {
    /// `AF_INET` (2), `AF_INET6` (10), or 0: not known.
    pub family: u16,
    /// This host's port (host order).
    pub local_port: u16,
    /// The peer's port (host order).
    pub remote_port: u16,
    pub _pad: u16,
    /// This host's address (IPv4: the first 4 bytes), network order.
    pub local: [u8; 16],
    /// The peer's address, likewise.
    pub remote: [u8; 16],
}

/// What precedes each record's bytes in [`PLAIN_RING_MAP`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainHeader {
    /// `bpf_ktime_get_ns()` at the call's return.
    pub ts_ns: u64,
    /// The process (tgid).
    pub pid: u32,
    /// The thread.
    pub tid: u32,
    /// The bytes the call wrote or read in all (its records share it).
    pub call_len: u32,
    /// Where this record's bytes start among the call's.
    pub offset: u32,
    /// Bytes of plaintext in this record.
    pub len: u32,
    /// `PLAIN_KIND_*`.
    pub kind: u8,
    pub _pad: [u8; 3],
    /// The connection; family 0 when not known yet (a write through a
    /// memory BIO: a [`PLAIN_KIND_CONNECTION`] record follows).
    pub tuple: SockTuple,
}

/// Size of [`PlainHeader`].
pub const PLAIN_HEADER_LEN: usize = core::mem::size_of::<PlainHeader>();

/// What the plaintext probes count (one `u64` each, per CPU, in
/// [`PLAIN_COUNTER_MAP`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainCounter {
    /// Calls of the processes read that returned bytes.
    Calls = 0,
    /// Records handed to the ring.
    Records = 1,
    /// Records lost because the ring was full.
    RingFull = 2,
    /// Calls whose bytes went beyond `PLAIN_CHUNK * PLAIN_CHUNKS_MAX`: the
    /// rest was not copied.
    Cut = 3,
    /// Records whose bytes could not be read from the process's memory.
    ReadError = 4,
    /// Calls still open when a new one began on the same thread: their
    /// return was never seen.
    Unpaired = 5,
}

/// Number of [`PlainCounter`] kinds.
pub const PLAIN_COUNTER_KINDS: u32 = 6;

/// Byte offsets in the running kernel's `struct sock` (from its BTF, set
/// by user space at load time) of the fields that name a connection.
/// `sock_common`'s first fields (`skc_daddr`, `skc_rcv_saddr`,
/// `skc_dport`, `skc_num`, `skc_family`) are looked up the same way.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOffsets {
    /// Non-zero: the offsets are set (the probes read connections).
    pub enabled: u32,
    /// `__sk_common.skc_family` (u16).
    pub family: u32,
    /// `__sk_common.skc_daddr` (be32).
    pub daddr: u32,
    /// `__sk_common.skc_rcv_saddr` (be32).
    pub rcv_saddr: u32,
    /// `__sk_common.skc_dport` (be16).
    pub dport: u32,
    /// `__sk_common.skc_num` (u16, host order).
    pub num: u32,
    /// `sk_protocol` (u16): only TCP sockets name a connection.
    pub protocol: u32,
    /// `__sk_common.skc_v6_daddr` (16 bytes).
    pub v6_daddr: u32,
    /// `__sk_common.skc_v6_rcv_saddr` (16 bytes).
    pub v6_rcv_saddr: u32,
}

/// The symbols the entry probes go on, with the kind of call each is
/// and whether it is an `_ex` form (its count through its fourth
/// argument, its return 1 on success).
pub const PLAIN_SYMBOLS: [(&str, u8, bool); 4] = [
    ("SSL_write", PLAIN_KIND_WRITE, false),
    ("SSL_write_ex", PLAIN_KIND_WRITE, true),
    ("SSL_read", PLAIN_KIND_READ, false),
    ("SSL_read_ex", PLAIN_KIND_READ, true),
];
/// The entry programs, in [`PLAIN_SYMBOLS`]' order.
pub const PLAIN_ENTRY_PROGRAMS: [&str; 4] = [
    "sipwatch_ssl_write",
    "sipwatch_ssl_write_ex",
    "sipwatch_ssl_read",
    "sipwatch_ssl_read_ex",
];
/// The entry program on `SSL_free`.
pub const PLAIN_FREE_PROGRAM: &str = "sipwatch_ssl_free";
/// The return program, on every symbol.
pub const PLAIN_RETURN_PROGRAM: &str = "sipwatch_ssl_return";
/// The program on the `sock_send_length` tracepoint.
pub const PLAIN_SEND_PROGRAM: &str = "sipwatch_sock_send";
/// The program on the `sock_recv_length` tracepoint.
pub const PLAIN_RECV_PROGRAM: &str = "sipwatch_sock_recv";
