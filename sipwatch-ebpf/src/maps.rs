//! The maps and load-time globals shared with user space (names and layouts
//! in `sipwatch-common`).
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sipwatch_common::{
    COUNTER_ENTRIES, DropConfig, ECHO_ENTRIES, EchoKey, EndpointKey, FRAG_TABLE_ENTRIES, FragKey,
    PORT_COUNT, RING_BYTES_DEFAULT, SIP_ENDPOINT_ENTRIES, SNAP_LEN_DEFAULT, ScratchRecord,
    WAKEUP_BYTES_MAX,
};

/// Captured frames for user space. Its size is set by user space at load time.
#[map]
pub static FRAMES: RingBuf = RingBuf::with_byte_size(RING_BYTES_DEFAULT, 0);

/// Per-CPU counters, indexed by `sipwatch_common::counter_index`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_ENTRIES, 0);

/// Which ports are SIP (`PORT_SIP`) or SIP over TLS (`PORT_TLS`).
#[map]
pub static PORTS: Array<u8> = Array::with_max_entries(PORT_COUNT, 0);

/// Fragmented datagrams whose first fragment was selected; their later
/// fragments carry no UDP header and are matched here instead.
#[map]
pub static FRAGS: LruHashMap<FragKey, u8> = LruHashMap::with_max_entries(FRAG_TABLE_ENTRIES, 0);

/// Endpoints off the SIP ports where UDP was sniffed as SIP: their UDP and
/// TCP, and ICMP errors quoting their packets, are selected too.
#[map]
pub static SIP_ENDPOINTS: LruHashMap<EndpointKey, u8> =
    LruHashMap::with_max_entries(SIP_ENDPOINT_ENTRIES, 0);

/// Echo servers whose UDP answers are consumed at XDP (`attach --echo`).
#[map]
pub static ECHOES: HashMap<EchoKey, u8> = HashMap::with_max_entries(ECHO_ENTRIES, 0);

/// The drop tracer's copy rate, per CPU: [window start (ns), copies in it].
#[map]
pub static DROP_RATE: PerCpuArray<[u64; 2]> = PerCpuArray::with_max_entries(1, 0);

/// Where a frame is assembled before its one copy into `FRAMES`: per-CPU maps
/// cannot hold 64 KiB values, so this is a plain array with one slot per CPU
/// and hook; user space sizes it to the number of possible CPUs at load time.
#[map]
pub static SCRATCH: Array<ScratchRecord> = Array::with_max_entries(1, 0);

/// Bytes of each packet to copy at most (set by user space at load time).
#[unsafe(no_mangle)]
pub static SNAP_LEN: u32 = SNAP_LEN_DEFAULT;

/// Bytes waiting in `FRAMES` before the reader is woken (set at load time).
#[unsafe(no_mangle)]
pub static WAKEUP_BYTES: u32 = WAKEUP_BYTES_MAX;

/// Where the IP header starts: `LINK_ETHERNET` (after the Ethernet header
/// and its VLAN tags) or `LINK_NONE` (at byte 0; set at load time).
#[unsafe(no_mangle)]
pub static LINK_LAYER: u8 = sipwatch_common::LINK_ETHERNET;

/// Non-zero: UDP on ports that are not selected is still captured when its
/// payload starts like a SIP message.
#[unsafe(no_mangle)]
pub static SNIFF_UDP: u8 = 1;

/// What the drop tracer reads of the running kernel (set at load time; all
/// zero: the tracer is off). See `sipwatch_common::DropConfig`.
#[unsafe(no_mangle)]
pub static DROP_CONFIG: DropConfig = DropConfig {
    enabled: 0,
    has_reason: 0,
    netns_inum: 0,
    skb_head: 0,
    skb_network_header: 0,
    skb_tail: 0,
    skb_iif: 0,
    skb_sk: 0,
    skb_dev: 0,
    skb_refdst: 0,
    sock_net: 0,
    dev_net: 0,
    net_inum: 0,
};

/// Reads a load-time global; volatile so the compiler keeps the load from
/// `.rodata` (patched by user space) instead of folding in the default.
#[inline(always)]
pub fn global<T: Copy>(value: &'static T) -> T {
    unsafe { core::ptr::read_volatile(value) }
}
