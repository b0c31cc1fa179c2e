//! What to capture and how: ports, snap length, ring size, hooks.
use sipwatch_common::{
    DEFAULT_SIP_PORTS, DEFAULT_TLS_PORTS, RING_BYTES_DEFAULT, SNAP_LEN_DEFAULT, SNAP_LEN_MAX,
    SNAP_LEN_MIN,
};

use super::CaptureError;

/// A kernel hook sipwatch can attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Hook {
    /// XDP: frames arriving at the interface.
    Xdp,
    /// TC (clsact / TCX) egress: frames leaving the interface.
    Tc,
    /// TC ingress: frames arriving at a layer-3 device (tun, WireGuard,
    /// PPP, IP tunnels), where XDP cannot read them; chosen by sipwatch in
    /// XDP's place, never asked for.
    #[value(skip)]
    TcIngress,
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hook::Xdp => "XDP (ingress)",
            Hook::Tc => "TC (egress)",
            Hook::TcIngress => "TC (ingress)",
        })
    }
}

/// How to attach the XDP program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum XdpModeChoice {
    /// Driver (native) mode, falling back to generic mode where the driver
    /// has no XDP support.
    #[default]
    Auto,
    /// Driver (native) mode only: the program runs in the NIC driver before
    /// an skb is allocated; attaching fails where the driver lacks XDP.
    Driver,
    /// Generic (skb) mode only: works on every interface, after the kernel
    /// has built the skb, so at a higher cost per packet.
    Generic,
}

/// Everything [`Capture::attach`](super::Capture::attach) needs to know:
/// where to attach, which packets to copy, and how much room to give them.
/// `sipwatch attach`'s options map onto these fields one to one.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// The network interface to attach to (`attach`'s `<INTERFACE>`), looked
    /// up in the calling thread's network namespace.
    pub interface: String,
    /// The hooks to attach (`--hook`): XDP for ingress, TC for egress.
    pub hooks: Vec<Hook>,
    /// How to attach XDP (`--xdp-mode`).
    pub xdp_mode: XdpModeChoice,
    /// Plain-text SIP ports (`--port`): UDP and TCP packets to or from them
    /// are copied.
    pub sip_ports: Vec<u16>,
    /// SIP-over-TLS ports (`--tls-port`): packets are counted only.
    pub tls_ports: Vec<u16>,
    /// Also copy UDP on other ports whose payload starts like SIP.
    pub sniff_udp: bool,
    /// Bytes of each packet to copy at most.
    pub snap_len: u32,
    /// Size of the ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Echo servers whose UDP answers are consumed at XDP: copied to user
    /// space and dropped before the PBX's socket (`attach --echo`).
    pub consume_from: Vec<std::net::SocketAddr>,
    /// Trace the SIP packets this host's kernel drops, with the kernel's
    /// reason (`kfree_skb`); `attach --no-drops` turns it off.
    pub trace_drops: bool,
}

impl CaptureConfig {
    /// The defaults: both hooks, ports 5060 and 5080 (5061 as TLS), payload
    /// sniffing on, whole packets, a 32 MiB ring, kernel drops traced.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            hooks: vec![Hook::Xdp, Hook::Tc],
            xdp_mode: XdpModeChoice::Auto,
            sip_ports: DEFAULT_SIP_PORTS.to_vec(),
            tls_ports: DEFAULT_TLS_PORTS.to_vec(),
            sniff_udp: true,
            snap_len: SNAP_LEN_DEFAULT,
            ring_bytes: RING_BYTES_DEFAULT,
            consume_from: Vec::new(),
            trace_drops: true,
        }
    }

    /// Checks the numbers before anything touches the kernel.
    pub fn validate(&self) -> Result<(), CaptureError> {
        if !(SNAP_LEN_MIN..=SNAP_LEN_MAX).contains(&self.snap_len) {
            return Err(CaptureError::BadSnapLen {
                given: self.snap_len,
                min: SNAP_LEN_MIN,
                max: SNAP_LEN_MAX,
            });
        }
        let page = page_size();
        if !self.ring_bytes.is_power_of_two() || (self.ring_bytes as usize) < page {
            return Err(CaptureError::BadRingSize {
                given: self.ring_bytes,
                page,
            });
        }
        if self.hooks.is_empty() {
            return Err(CaptureError::NoHooks);
        }
        Ok(())
    }
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        CaptureConfig::new("eth0").validate().unwrap();
    }

    #[test]
    fn ring_size_must_be_a_power_of_two() {
        let mut c = CaptureConfig::new("eth0");
        c.ring_bytes = 3 << 20;
        assert!(matches!(
            c.validate(),
            Err(CaptureError::BadRingSize { .. })
        ));
    }

    #[test]
    fn snap_length_is_bounded() {
        let mut c = CaptureConfig::new("eth0");
        c.snap_len = SNAP_LEN_MAX + 1;
        assert!(matches!(c.validate(), Err(CaptureError::BadSnapLen { .. })));
        c.snap_len = 10;
        assert!(matches!(c.validate(), Err(CaptureError::BadSnapLen { .. })));
    }
}

/// Parses a byte size as users write it: `65536`, `64K`, `32M`, `1G`.
pub fn parse_size(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let multiplier: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit (use K, M or G)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 32M"))?;
    u32::try_from(n.saturating_mul(multiplier)).map_err(|_| format!("{text:?} is too large"))
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("32M"), Ok(32 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("8T").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99G").is_err());
    }
}
