//! The kernel programs' counters, summed over CPUs.
use aya::maps::{MapData, PerCpuArray};
use sipwatch_common::{COUNTER_MAP, Counter, Direction, counter_index};

use super::{CaptureError, Hook};

/// What one hook counted. `selected = copied + ring_full + read_errors`:
/// every selected packet is either delivered or counted as lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectionCounters {
    /// Packets the hook ran for, SIP or not: the interface's traffic in
    /// this direction while sipwatch was attached.
    pub seen: u64,
    /// Packets chosen for copying: UDP or TCP on a SIP port, UDP elsewhere
    /// whose payload starts like SIP (unless `--no-sniff`), and later
    /// fragments of a selected datagram.
    pub selected: u64,
    /// Selected packets handed to the ring buffer, i.e. delivered to user
    /// space.
    pub copied: u64,
    /// Copied packets cut at `--snap-len` bytes: raise it if SIP messages
    /// show as incomplete.
    pub truncated: u64,
    /// Selected packets lost because the ring buffer was full: raise
    /// `--ring-size`, or the reader cannot keep up.
    pub ring_full: u64,
    /// Packets on a SIP-over-TLS port (`--tls-port`): counted only, since
    /// their payload is encrypted.
    pub tls: u64,
    /// Selected packets lost before the ring: a kernel helper
    /// (`bpf_*_load_bytes`) could not read their bytes, or no scratch slot
    /// was available. Should stay 0; report it if not.
    pub read_errors: u64,
    /// Later IP fragments selected because their first fragment was (they
    /// carry no UDP header); included in `selected`.
    pub fragments: u64,
    /// First fragments whose identity the fragment table could not store:
    /// the later fragments of those datagrams were not captured.
    pub frag_table_full: u64,
    /// Answers from the echo (`attach --echo`) copied and then dropped at
    /// XDP, so that the PBX never sees them.
    pub consumed: u64,
    /// SIP packets this host's kernel dropped (firewall, no socket, full
    /// socket buffer…), seen by the drop tracer: under egress when this
    /// host sent them. Not included in the counts above, which are the
    /// hook's.
    pub kernel_dropped: u64,
    /// Of `kernel_dropped`, those whose copy was lost (ring buffer full,
    /// bytes unreadable): their drop is counted, not shown.
    pub kernel_drop_lost: u64,
    /// Of `kernel_dropped`, those counted but not copied: over 2000 a
    /// second on one CPU (a flood this host's firewall drops).
    pub kernel_drop_not_copied: u64,
    /// Endpoints this hook added to the kernel's table of places where SIP
    /// was sniffed off the SIP ports (their ICMP errors and TCP are
    /// selected too).
    pub endpoints_remembered: u64,
}

impl DirectionCounters {
    /// Packets that did not reach user space: selected by the hook, or
    /// dropped by the kernel and traced.
    pub fn lost(&self) -> u64 {
        self.ring_full + self.read_errors + self.kernel_drop_lost
    }
}

/// The kernel programs' counters for both directions, summed over the
/// per-CPU slots of the counters map. They count from the moment the programs
/// were loaded, so they cover the whole capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// What the ingress hook counted: packets arriving at the interface.
    pub ingress: DirectionCounters,
    /// What the TC egress program counted: packets leaving the interface.
    pub egress: DirectionCounters,
    /// Endpoints the kernel's table of sniffed SIP endpoints (4096, an LRU
    /// map) evicted to make room: those added less those still there. ICMP
    /// errors and TCP about them, off the SIP ports, are no longer selected
    /// in the kernel.
    pub sip_endpoints_forgotten: u64,
    /// The hook that filled `ingress`: XDP, or TC (ingress) where XDP
    /// cannot read the interface's packets (loopback, layer-3 devices);
    /// `None` when not known (a capture file). The summary names it.
    #[serde(skip)]
    pub ingress_hook: Option<Hook>,
    /// The hook that filled `egress` (TC), `None` when not known.
    #[serde(skip)]
    pub egress_hook: Option<Hook>,
}

impl Counters {
    /// The counters of one direction.
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
                kernel_dropped: get(d, Counter::KernelDropped)?,
                kernel_drop_lost: get(d, Counter::KernelDropLost)?,
                kernel_drop_not_copied: get(d, Counter::KernelDropNotCopied)?,
                endpoints_remembered: get(d, Counter::EndpointsRemembered)?,
            })
        };
        Ok(Counters {
            ingress: read_direction(Direction::Ingress)?,
            egress: read_direction(Direction::Egress)?,
            sip_endpoints_forgotten: 0,
            ingress_hook: None,
            egress_hook: None,
        })
    }
}
