//! Builds the kernel programs (`sipwatch-ebpf`) for the bpf target with the
//! nightly toolchain and bpf-linker, so that `cargo build` alone produces a
//! binary with the eBPF object embedded. `cargo xtask setup` installs both.
use anyhow::Context as _;
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let root_dir = std::path::Path::new(&manifest_dir).join("../sipwatch-ebpf");
    let root_dir = root_dir.to_str().context("non-UTF-8 path")?;
    aya_build::build_ebpf(
        [Package {
            name: "sipwatch-ebpf",
            root_dir,
            ..Default::default()
        }],
        Toolchain::Nightly,
    )
    .context("building the eBPF programs failed: run `cargo xtask setup` for the toolchain")
}
