//! Builds the kernel programs (`sipwatch-ebpf`) for the bpf target with the
//! nightly toolchain and bpf-linker, so that `cargo build` alone produces a
//! binary with the eBPF object embedded. `cargo xtask setup` installs both.
use anyhow::Context as _;
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let root_dir = std::path::Path::new(&manifest_dir).join("../sipwatch-ebpf");
    let root_dir = root_dir.to_str().context("non-UTF-8 path")?;
    // aya-build passes the inner cargo's stderr on as `cargo:warning`
    // lines: without this, its progress ("Compiling…", "Finished…") reads
    // as warnings on every first build. Errors and real warnings still show.
    // SAFETY: the build script is single-threaded until build_ebpf starts.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
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
