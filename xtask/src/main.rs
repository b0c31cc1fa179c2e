//! `cargo xtask …`: sipwatch's chores, one module each.
//!
//! * `setup` installs what building and testing need (idempotent);
//! * `demo` runs sipwatch in the lab against a real SIP ALG router;
//! * `test` runs set-up, formatting and lint checks and every test;
//! * `package` builds the Debian package (and `--verify` installs it into
//!   a fresh Debian root and runs it);
//! * `bench capture|analyze|echo|soak` measure sipwatch beside tcpdump and
//!   tshark in the same run (see docs/benchmarks.md).
//!
//! xtask does not depend on the sipwatch crate: it must build before
//! `setup` has installed the eBPF toolchain that sipwatch's build needs.
mod bench;
mod demo;
mod package;
mod run;
mod setup;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "sipwatch's chores: set-up, demo, tests, benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what building and testing need: Debian packages, rust-src
    /// for the nightly toolchain, bpf-linker. Fast when all is present.
    Setup,
    /// Set up, build, and watch sipwatch capture a REGISTER and an INVITE
    /// crossing a router with the kernel's SIP ALG, in a throwaway lab.
    Demo,
    /// Set up, then check formatting and lints and run every test
    /// (the lab tests need root).
    Test {
        /// Leave out the lab tests (network namespaces, eBPF, real SIP
        /// peers), for a machine without root: the unit, golden, case,
        /// JSON and command-reference tests still run.
        #[arg(long)]
        no_lab: bool,
    },
    /// Build the Debian package (binary with its eBPF programs, systemd
    /// unit, man pages, completions) into target/package/.
    Package {
        /// Then install it into a fresh Debian root (debootstrap, no build
        /// tools) and run it there; needs root.
        #[arg(long)]
        verify: bool,
    },
    /// Benchmarks, each printing sipwatch's figures beside the usual tool's.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::Demo => demo::run(),
        Command::Test { no_lab } => test::run(no_lab),
        Command::Package { verify } => package::build().and_then(|deb| {
            if verify {
                package::verify(&deb)
            } else {
                Ok(())
            }
        }),
        Command::Bench { which } => bench::run(which),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}
