//! Why a capture could not start, each with what to do about it.
use super::Hook;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "sipwatch needs the capabilities {missing} to load and attach eBPF programs: run it as \
         root, or grant them with `setcap cap_bpf,cap_net_admin,cap_perfmon+ep <path to sipwatch>`"
    )]
    MissingCapabilities { missing: String },
    #[error("no interface named {0:?}: `ip link` lists the interfaces of this network namespace")]
    UnknownInterface(String),
    #[error(
        "{interface} is not an Ethernet interface (link type {link_type}); sipwatch captures on \
         Ethernet interfaces (and VLANs on them)"
    )]
    NotEthernet {
        interface: String,
        link_type: String,
    },
    #[error(
        "{interface} already has an XDP program attached by another tool ({detail}); capture \
         outgoing packets only with `--hook tc`, or remove it with `ip link set dev {interface} \
         xdp off` if it is not needed"
    )]
    XdpBusy { interface: String, detail: String },
    #[error(
        "this kernel ({kernel}) has no BPF ring buffer, which sipwatch needs: it arrived in \
         Linux 5.8"
    )]
    NoRingBuffer { kernel: String },
    #[error("loading the eBPF programs into the kernel failed")]
    Load(#[source] aya::EbpfError),
    #[error("the eBPF object has no {0}: the build is broken, rebuild with `cargo build`")]
    MissingPart(&'static str),
    #[error("the kernel refused program {program}")]
    Verify {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("attaching {hook} to {interface} failed")]
    Attach {
        hook: Hook,
        interface: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("detaching {hook} from {interface} failed")]
    Detach {
        hook: Hook,
        interface: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("configuring the eBPF map {map} failed")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("reading the ring buffer failed")]
    Ring(#[source] std::io::Error),
    #[error("snap length {given} is out of range: choose {min} to {max} bytes")]
    BadSnapLen { given: u32, min: u32, max: u32 },
    #[error("ring size {given} must be a power of two and at least one page ({page} bytes)")]
    BadRingSize { given: u32, page: usize },
    #[error("no hook selected: choose xdp, tc or both")]
    NoHooks,
    /// The kernel's list of possible CPUs (one scratch slot each) could not be read.
    #[error("cannot read the CPU list {path}: {source}")]
    Cpus {
        /// The file read, `/sys/devices/system/cpu/possible`.
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
}
