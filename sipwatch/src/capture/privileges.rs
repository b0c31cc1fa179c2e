//! Checking up front for the capabilities that loading and attaching need,
//! so the user gets their names instead of a bare EPERM from the kernel.
use super::CaptureError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The capabilities missing from the effective set, by name. CAP_SYS_ADMIN
/// stands in for CAP_BPF and CAP_PERFMON, as on kernels before 5.8.
pub fn missing_capabilities() -> Vec<&'static str> {
    let effective = effective_capabilities().unwrap_or(0);
    missing_from(effective)
}

fn missing_from(effective: u64) -> Vec<&'static str> {
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_PERFMON");
    }
    missing
}

fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// Fails with [`CaptureError::MissingCapabilities`] naming every capability
/// that is missing, before any `bpf(2)` call could fail with a bare `EPERM`.
pub fn require_capabilities() -> Result<(), CaptureError> {
    let missing = missing_capabilities();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CaptureError::MissingCapabilities {
            missing: missing.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_capabilities_names_all_three() {
        assert_eq!(missing_from(0), ["CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"]);
    }

    #[test]
    fn sys_admin_stands_in_for_bpf_and_perfmon() {
        let caps = (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN);
        assert!(missing_from(caps).is_empty());
    }

    #[test]
    fn net_admin_alone_is_not_enough() {
        assert_eq!(missing_from(1 << CAP_NET_ADMIN), ["CAP_BPF", "CAP_PERFMON"]);
    }
}
