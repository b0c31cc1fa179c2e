//! Installs what sipwatch's build, tests, demo and benchmarks need, and
//! nothing twice. Everything comes from the package registries: Debian's
//! packages, the Rust toolchain's own components, crates.io.
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::run::{output, run_command};

/// What the set-up is for: building and the tests without root, or
/// everything (the lab tests, the demo, the benchmarks).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The build and the tests that need no root (`cargo xtask test --no-lab`).
    Build,
    /// Everything.
    All,
}

/// How many of [`PACKAGES`] the build needs (the rest serve the lab,
/// the demo and the benchmarks).
const BUILD_PACKAGES: usize = 4;

/// Debian packages, each with why it is needed; the build's come first.
const PACKAGES: &[(&str, &str)] = &[
    (
        "llvm-22-dev",
        "bpf-linker links the eBPF programs with LLVM 22",
    ),
    ("libpolly-22-dev", "LLVM 22's static link needs Polly"),
    ("libzstd-dev", "LLVM 22's static link needs zstd"),
    ("zlib1g-dev", "LLVM 22's static link needs zlib"),
    ("iproute2", "the lab: namespaces, veth pairs"),
    ("nftables", "the lab router: NAT, SIP ALG, firewall"),
    (
        "conntrack",
        "the lab router: inspecting and flushing connection tracking",
    ),
    ("iputils-ping", "the lab: reachability checks"),
    ("procps", "the lab: sysctl"),
    ("util-linux", "tests: setpriv, to run without capabilities"),
    ("tcpdump", "the capture benchmark's reference"),
    ("tshark", "reading captures in tests and benchmarks"),
    (
        "tmux",
        "tests: drives `--tui` in a real 80×24 terminal (send-keys, capture-pane)",
    ),
    (
        "wireshark-common",
        "editcap: the TLS tests give a capture its keys (--inject-secrets)",
    ),
    (
        "python3",
        "the TLS lab's PBX: Python's ssl module writes a key log",
    ),
    ("sipsak", "the lab's SIP client"),
    ("kamailio", "the lab's SIP registrar"),
    (
        "kamailio-tls-modules",
        "the lab's TLS registrar (Kamailio's tls module): `sipwatch doctor` and the TLS decryption tests",
    ),
    (
        "dnsmasq",
        "the lab's DNS server: NAPTR, SRV and A records for `sipwatch doctor`",
    ),
    (
        "baresip-core",
        "the lab's PBX that registers and re-registers on its own (audit test)",
    ),
    (
        "sip-tester",
        "the soak benchmark's registration churn (sipp)",
    ),
    (
        "python3-prometheus-client",
        "tests: Prometheus's own parser reads `attach --metrics`",
    ),
    (
        "prometheus",
        "tests: `promtool check rules` checks contrib/prometheus/sipwatch-rules.yml",
    ),
    (
        "debootstrap",
        "the package test: a fresh Debian root without build tools",
    ),
    (
        "binutils",
        "the package: objdump reads the glibc version the binary needs",
    ),
    (
        "sngrep",
        "tests: sngrep's HEP listener (`sngrep -L`) decodes `--hep`",
    ),
    (
        "nodejs",
        "tests: hep-js, sipcapture's HEP decoder, decodes `--hep`",
    ),
];

/// Where the tests' hep-js is installed (`npm ci`, from its lock file).
const HEP_JS_DIR: &str = "sipwatch/tests/support/hep-js";

const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const EBPF_TOOLCHAIN: &str = "nightly";

pub fn run() -> anyhow::Result<()> {
    run_for(Scope::All)
}

/// Installs what `scope` needs.
pub fn run_for(scope: Scope) -> anyhow::Result<()> {
    let packages = match scope {
        Scope::Build => &PACKAGES[..BUILD_PACKAGES],
        Scope::All => PACKAGES,
    };
    self::packages(packages)?;
    rust_src()?;
    bpf_linker()?;
    if scope == Scope::All {
        hep_js()?;
    }
    println!("==> setup: everything is in place");
    Ok(())
}

/// hep-js from the npm registry, at the version its lock file names, for
/// tests/hep_out.rs (Debian's `nodejs` runs it; `npm` comes with
/// NodeSource's build, or Debian's `npm` package).
fn hep_js() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(HEP_JS_DIR);
    if dir.join("node_modules/hep-js").is_dir() {
        return Ok(());
    }
    println!("==> setup: installing hep-js in {HEP_JS_DIR} (the HEP tests' decoder)");
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir);
    run_command(&mut npm)
        .context("npm ci for hep-js (is npm installed? Debian: apt-get install npm)")
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"installed")
}

fn packages(packages: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&(&str, &str)> = packages.iter().filter(|(p, _)| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    for (package, why) in &missing {
        println!("==> setup: installing {package} ({why})");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "installing Debian packages needs root; missing: {}",
            missing
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let noninteractive = |cmd: &mut Command| {
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
    };
    let mut update = Command::new("apt-get");
    update.args(["update", "-q"]);
    noninteractive(&mut update);
    run_command(&mut update).context("apt-get update")?;
    let mut install = Command::new("apt-get");
    install.args(["install", "-y", "-q"]);
    install.args(missing.iter().map(|(p, _)| *p));
    noninteractive(&mut install);
    run_command(&mut install).context("installing Debian packages")?;
    let still_missing: Vec<&str> = missing
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !installed(p))
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "these Debian packages could not be installed: {}",
            still_missing.join(" ")
        );
    }
    Ok(())
}

fn rust_src() -> anyhow::Result<()> {
    let toolchains = output(Command::new("rustup").args(["toolchain", "list"]))
        .context("rustup is needed to build the eBPF programs")?;
    if !toolchains.lines().any(|l| l.starts_with(EBPF_TOOLCHAIN)) {
        println!(
            "==> setup: installing the {EBPF_TOOLCHAIN} toolchain (eBPF programs need -Z build-std)"
        );
        run_command(Command::new("rustup").args([
            "toolchain",
            "install",
            EBPF_TOOLCHAIN,
            "--profile",
            "minimal",
        ]))?;
    }
    let components = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        EBPF_TOOLCHAIN,
    ]))?;
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        println!(
            "==> setup: adding rust-src to {EBPF_TOOLCHAIN} (eBPF programs build core from source)"
        );
        run_command(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            EBPF_TOOLCHAIN,
        ]))?;
    }
    Ok(())
}

fn bpf_linker() -> anyhow::Result<()> {
    let current = Command::new("bpf-linker").arg("--version").output();
    if let Ok(out) = &current
        && String::from_utf8_lossy(&out.stdout).contains(BPF_LINKER_VERSION)
    {
        return Ok(());
    }
    println!(
        "==> setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (a few minutes, once)"
    );
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "install",
        &format!("bpf-linker@{BPF_LINKER_VERSION}"),
        "--locked",
        "--no-default-features",
        "--features",
        "llvm-22",
    ])
    // Without it, llvm-sys finds Debian's default LLVM 14 and the link fails.
    .env("LLVM_PREFIX", LLVM_PREFIX)
    .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX);
    run_command(&mut cmd).context("installing bpf-linker")?;
    Ok(())
}
