//! Fails early, with the fix, when bpf-linker is missing: without it the
//! eBPF build stops with a linker error that names nothing useful.
fn main() {
    let bpf_linker = which::which("bpf-linker").unwrap_or_else(|_| {
        panic!("bpf-linker not found on PATH: run `cargo xtask setup` to install it")
    });
    println!("cargo:rerun-if-changed={}", bpf_linker.display());
}
