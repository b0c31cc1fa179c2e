//! The sipwatch command line: parses the arguments and hands each command
//! to its module in [`cli`]; the work is in the library.
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    version,
    about = "Finds out, from the wire, why SIP registrations fail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture SIP on an interface (eBPF XDP ingress + TC egress) and print
    /// each message as it passes; Ctrl-C detaches and prints the counters.
    Attach(Box<cli::attach::Args>),
    /// Run the same analysis on a capture file (pcap or pcapng, from
    /// tcpdump, Wireshark or `attach --write`).
    Analyze(cli::analyze::Args),
    /// The cooperating server for a public host: answers sipwatch probes
    /// with exactly what arrived (UDP and TCP). Safe to expose: probes only,
    /// rate limited, no amplification, optional shared key.
    Echo(cli::echo::Args),
    /// Before go-live: probe a `sipwatch echo` with REGISTER, INVITE (SDP)
    /// and OPTIONS over UDP and TCP, and tell whether a SIP ALG rewrites
    /// them, NAT maps them, or a firewall drops them (and on which leg).
    /// Exit code: 0 clean, 2 ALG found, 3 drops found, 4 could not test.
    Probe(cli::probe::Args),
    /// The provider checklist before any capture: DNS as the PBX resolves
    /// it (RFC 3263), reachability per transport, the public address the
    /// provider sees, and the credentials with the bindings held.
    /// Exit code: 0 all good, 2 a check failed, 4 could not test, 1 an error (as `probe`).
    Doctor(cli::doctor::Args),
    /// Check Asterisk's configuration (pjsip.conf, pjsip_wizard.conf,
    /// sip.conf) for the classic mistakes that break registrations: each
    /// finding with its file:line, section and fix.
    /// Exit code: 0 nothing breaks (risks are listed), 2 something breaks
    /// the registration or its calls, 1 an error.
    Lint(cli::lint::Args),
    /// Take SIP as a PBX or an agent sends it over HEP (Asterisk's hep.conf,
    /// Kamailio's siptrace, FreeSWITCH's capture-server; HEP v3 and v2, UDP
    /// and TCP) and analyse it as `attach` does; it never answers.
    HepListen(cli::hep_listen::Args),
    /// Write the man pages and shell completions into a folder (for
    /// `cargo xtask package`).
    #[command(hide = true)]
    PackageAssets(cli::assets::Args),
}

/// The per-message path allocates many small, short-lived values (header
/// views, tracking keys); mimalloc serves them markedly faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Warnings read `[… WARN] HEP receiver …`: no module path in the admin's view.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_target(false)
        .init();
    // Usage errors exit 1, not clap's 2: for `probe`, 2 means "SIP ALG found".
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Attach(args) => cli::attach::run(*args),
        Command::Analyze(args) => cli::analyze::run(args),
        Command::Echo(args) => cli::echo::run(args),
        Command::Probe(args) => cli::probe::run(args),
        Command::Doctor(args) => cli::doctor::run(args),
        Command::Lint(args) => cli::lint::run(args),
        Command::HepListen(args) => cli::hep_listen::run(args),
        Command::PackageAssets(args) => cli::assets::run(args, Cli::command()),
    };
    cli::exit(result)
}
