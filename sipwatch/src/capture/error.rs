//! Why a capture could not start, each with what to do about it.
use super::Hook;

/// Everything that can stop [`Capture::attach`](super::Capture::attach) and
/// the reading of its ring and counters. Most variants are checked before the
/// kernel is touched, so that the user reads the cause and the fix in words
/// rather than a bare `EPERM` or `EINVAL` from `bpf(2)`.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The effective capability set lacks what `bpf(2)` and netlink need:
    /// run as root or grant the capabilities with `setcap`.
    #[error(
        "sipwatch needs the capabilities {missing} to load and attach eBPF programs: run it as \
         root, or grant them with `setcap cap_bpf,cap_net_admin,cap_perfmon,cap_net_raw+ep <path to sipwatch>` \
         (cap_net_raw for `attach --echo`)"
    )]
    MissingCapabilities {
        /// The missing capabilities by name, comma-separated
        /// (`CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON`).
        missing: String,
    },
    /// No interface of that name in this network namespace
    /// (`if_nametoindex` returned 0): a typo, or sipwatch runs in another
    /// namespace than the interface (`ip netns exec`).
    #[error("no interface named {0:?}: `ip link` lists the interfaces of this network namespace")]
    UnknownInterface(String),
    /// The interface is of a link type the kernel programs cannot read
    /// (InfiniBand, CAN, an 802.11 monitor…): they read Ethernet-like
    /// headers, and IP from its first byte on layer-3 devices.
    #[error(
        "{interface} is of link type {link_type}, which sipwatch cannot read; it captures on \
         Ethernet interfaces (VLANs, bonds, bridges, macvlan/ipvlan), loopback, and layer-3 \
         devices (tun, WireGuard, PPP, IP-in-IP, GRE, SIT)"
    )]
    NotEthernet {
        /// The interface asked for.
        interface: String,
        /// Its ARPHRD link type number as `/sys/class/net/<interface>/type`
        /// shows it (`1` is Ethernet, `65534` a `tun` device, `772` loopback).
        link_type: String,
    },
    /// Another program already holds the interface's XDP hook (the kernel
    /// answered `EBUSY` or `EEXIST`): capture egress only with `--hook tc`,
    /// or remove the other program if it is not needed.
    #[error(
        "{interface} already has an XDP program attached (another sipwatch, or another tool; the \
         kernel said: {detail}); stop the other sipwatch, or capture outgoing packets only with \
         `--hook tc`; `bpftool net show dev {interface}` shows what holds the hook"
    )]
    XdpBusy {
        /// The interface whose XDP hook is taken.
        interface: String,
        /// The kernel's error, as aya reports it.
        detail: String,
    },
    /// The running kernel is older than Linux 5.8, which brought
    /// `BPF_MAP_TYPE_RINGBUF`: there is no way to capture on it.
    #[error(
        "this kernel ({kernel}) has no BPF ring buffer, which sipwatch needs: it arrived in \
         Linux 5.8"
    )]
    NoRingBuffer {
        /// The running kernel's version, as `uname -r` would give it.
        kernel: String,
    },
    /// Parsing the embedded object or creating its maps failed (e.g. a ring
    /// larger than the kernel allows, or the memory lock limit that kernels
    /// before 5.11 charge maps against); the source says which.
    #[error("loading the eBPF programs into the kernel failed")]
    Load(#[source] aya::EbpfError),
    /// The embedded eBPF object lacks a program or map sipwatch looks up by
    /// name (the kernel and user crates were built from different sources),
    /// or [`Capture::frames`](super::Capture::frames) was called twice: the
    /// first reader takes the ring.
    #[error("the eBPF object has no {0}: the build is broken, rebuild with `cargo build`")]
    MissingPart(&'static str),
    /// The kernel's verifier rejected a program (`BPF_PROG_LOAD`); the
    /// source holds the verifier log. A bug in sipwatch or a kernel too old
    /// for a helper it uses.
    #[error("the kernel refused program {program}")]
    Verify {
        /// The program's name in the object (`sipwatch_xdp`, `sipwatch_tc`).
        program: &'static str,
        /// aya's error, with the verifier log.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// The kernel drop tracer (`kfree_skb`) could not be loaded or
    /// attached: the capture goes on without it, and says why.
    #[error("the kernel drop tracer could not be attached: {0}")]
    DropTracer(String),
    #[error("attaching {hook} to {interface} failed")]
    /// Attaching a loaded program to the interface failed: for XDP in every
    /// mode tried (driver, then generic under `auto`), for TC at the TCX link
    /// (Linux 6.6 and later) or at the `clsact` qdisc.
    Attach {
        /// The hook that could not be attached.
        hook: Hook,
        /// The interface it was to be attached to.
        interface: String,
        /// aya's error: the last attempt's for XDP.
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("detaching {hook} from {interface} failed")]
    /// Detaching a hook failed; the kernel removes it anyway when sipwatch
    /// exits, since the links are file descriptors the process owns.
    Detach {
        /// The hook that could not be detached.
        hook: Hook,
        /// The interface it is attached to.
        interface: String,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("configuring the eBPF map {map} failed")]
    /// A map could not be opened, read or written (ports, counters, ring).
    Map {
        /// The map's name in the object (`PORTS`, `COUNTERS`, `FRAMES`).
        map: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    #[error("reading the ring buffer failed")]
    /// Waiting on or registering the ring buffer's file descriptor with
    /// tokio failed (also when no tokio runtime is running).
    Ring(#[source] std::io::Error),
    /// `--snap-len` is outside what the kernel programs can copy (bounds in
    /// bytes, from `sipwatch_common::SNAP_LEN_MIN` / `SNAP_LEN_MAX`).
    #[error("snap length {given} is out of range: choose {min} to {max} bytes")]
    BadSnapLen {
        /// The snap length asked for, in bytes.
        given: u32,
        /// The smallest allowed, in bytes.
        min: u32,
        /// The largest allowed, in bytes.
        max: u32,
    },
    /// `--ring-size` is not a power of two of at least a page, as the kernel
    /// demands of a `BPF_MAP_TYPE_RINGBUF`.
    #[error("ring size {given} must be a power of two and at least one page ({page} bytes)")]
    BadRingSize {
        /// The ring size asked for, in bytes.
        given: u32,
        /// This host's page size, in bytes.
        page: usize,
    },
    /// `--hook` named no hook at all: nothing would be captured.
    #[error("no hook selected: choose xdp, tc or both")]
    NoHooks,
    /// The TLS plaintext probes (`--pid`, `--process`) cannot be set up:
    /// the process does not exist, maps no OpenSSL, or the kernel's BTF
    /// lacks what they read; the words say which and what to do.
    #[error("{0}")]
    Plaintext(String),
    /// A uprobe or kprobe of the TLS plaintext probes could not be
    /// attached (a library without the symbol, a kernel without kprobes).
    #[error("attaching the TLS plaintext probe ({what}) failed")]
    Uprobe {
        /// Which probe: `SSL_write in /usr/lib/…/libssl.so.3`.
        what: String,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// The kernel's list of possible CPUs (one scratch slot each) could not be read.
    #[error("cannot read the CPU list {path}: {source}")]
    Cpus {
        /// The file read, `/sys/devices/system/cpu/possible`.
        path: &'static str,
        /// The operating system's error (no `/sys` mounted, e.g. in a
        /// minimal container).
        #[source]
        source: std::io::Error,
    },
}
