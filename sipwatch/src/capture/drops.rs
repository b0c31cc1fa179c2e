//! Setting up the kernel drop tracer (`sipwatch_drop` on `kfree_skb`):
//! the `sk_buff` offsets it reads, from the running kernel's BTF, and the
//! names of the kernel's drop reasons.
use std::{collections::HashMap, os::unix::fs::MetadataExt, sync::Arc};

use sipwatch_common::DropConfig;

use super::btf::{Btf, BtfError};

/// The kernel's names of its drop reasons (`enum skb_drop_reason`), by
/// number, without the `SKB_DROP_REASON_` prefix: `NETFILTER_DROP`,
/// `NO_SOCKET`, `SOCKET_RCVBUFF`… Read from the running kernel, since
/// the numbers differ between versions.
#[derive(Clone, Debug, Default)]
pub struct DropReasons(Arc<HashMap<u32, String>>);

impl DropReasons {
    /// A table from (number, name) pairs; names as the kernel's enum has
    /// them, with or without the prefix.
    pub fn new(pairs: impl IntoIterator<Item = (u32, String)>) -> DropReasons {
        DropReasons(Arc::new(
            pairs
                .into_iter()
                .map(|(n, name)| {
                    let short = name
                        .strip_prefix("SKB_DROP_REASON_")
                        .map(str::to_owned)
                        .unwrap_or(name);
                    (n, short)
                })
                .collect(),
        ))
    }

    /// The name of reason `code`; `None` for 0 (a kernel before 5.17 gives
    /// none) and numbers the kernel does not name.
    pub fn name(&self, code: u32) -> Option<&str> {
        (code != 0).then(|| self.0.get(&code).map(String::as_str))?
    }
}

/// What the drop tracer needs, read off the running kernel.
pub struct DropSetup {
    /// The offsets and namespace, for the kernel program.
    pub config: DropConfig,
    /// The reasons' names, for user space.
    pub reasons: DropReasons,
}

/// Why drops are not traced: shown once, the capture goes on without.
#[derive(Debug, thiserror::Error)]
pub enum DropTraceError {
    /// The kernel's BTF is missing or lacks a field the tracer reads.
    #[error(transparent)]
    Btf(#[from] BtfError),
    /// A field has another size than the tracer reads.
    #[error("the kernel's `{field}` is {size} bytes, not the {expected} the drop tracer reads")]
    FieldSize {
        /// The field, `struct.member`.
        field: &'static str,
        /// Its size in this kernel.
        size: u32,
        /// The size read.
        expected: u32,
    },
    /// This thread's network namespace could not be identified.
    #[error("cannot read this thread's network namespace (/proc/thread-self/ns/net): {0}")]
    Namespace(std::io::Error),
}

/// Reads what the tracer needs from the running kernel.
///
/// # Errors
/// [`DropTraceError`]: no BTF, a field missing or of another size, or no
/// `/proc/self/ns/net`.
pub fn prepare() -> Result<DropSetup, DropTraceError> {
    let btf = Btf::from_sys_fs()?;
    let field = |root: &'static str, path: &'static str, expected: u32| {
        let f = btf.field(root, path)?;
        if f.size != expected {
            return Err(DropTraceError::FieldSize {
                field: path,
                size: f.size,
                expected,
            });
        }
        Ok(f.offset)
    };
    // The calling thread's namespace, as for the interface (a thread may
    // have entered another one than the process's).
    let netns_inum = std::fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| std::fs::metadata("/proc/self/ns/net"))
        .map_err(DropTraceError::Namespace)?
        .ino() as u32;
    // Kernels before 5.17 have no reasons: drops are still traced.
    let reasons = btf.enum_values("skb_drop_reason").ok();
    let config = DropConfig {
        enabled: 1,
        has_reason: u32::from(reasons.is_some()),
        netns_inum,
        skb_head: field("sk_buff", "head", 8)?,
        skb_network_header: field("sk_buff", "network_header", 2)?,
        skb_tail: field("sk_buff", "tail", 4)?,
        skb_iif: field("sk_buff", "skb_iif", 4)?,
        skb_sk: field("sk_buff", "sk", 8)?,
        skb_dev: field("sk_buff", "dev", 8)?,
        skb_refdst: field("sk_buff", "_skb_refdst", 8)?,
        sock_net: field("sock", "__sk_common.skc_net.net", 8)?,
        dev_net: field("net_device", "nd_net.net", 8)?,
        net_inum: field("net", "ns.inum", 4)?,
    };
    let reasons = DropReasons::new(
        reasons
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(n, name)| Some((u32::try_from(n).ok()?, name))),
    );
    Ok(DropSetup { config, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernel_gives_every_offset_and_its_reasons() {
        let setup = prepare().expect("the drop tracer's offsets from this kernel's BTF");
        assert_eq!(setup.config.enabled, 1);
        assert_ne!(setup.config.skb_network_header, setup.config.skb_tail);
        let netfilter = (1..512)
            .find(|&n| setup.reasons.name(n) == Some("NETFILTER_DROP"))
            .expect("NETFILTER_DROP among the reasons");
        assert!(netfilter > 1);
        assert_eq!(setup.reasons.name(0), None);
    }
}
