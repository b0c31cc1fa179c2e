//! `sipwatch analyze FILE` (`-`: standard input).
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use super::{ConfigArgs, HepArgs, OutputArgs, SelectionArgs, TlsArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The capture file (pcap or pcapng); - reads it from standard input.
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    hep: HepArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// How `-` is named in messages and the summary.
const STDIN: &str = "standard input";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut plan = args.output.plan();
    plan.config = args.config.trunks()?;
    // A file is replayed whole: the sender waits for the receiver.
    plan.hep = args.hep.plan(sipwatch::hep::send::WhenFull::Wait);
    let outputs = plan.build()?.list;
    args.hep.announce();
    let selection = args.selection.selection();
    let keys = args.tls.keys()?;
    let analysis = if args.file.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        sipwatch::analyze::run_reader(
            stdin,
            STDIN,
            outputs,
            sipwatch::analyze::Reading { selection, keys },
            stdout,
        )
    } else {
        sipwatch::analyze::run_with(
            &args.file,
            outputs,
            sipwatch::analyze::Reading { selection, keys },
            stdout,
        )
    };
    let name = if args.file.as_os_str() == "-" {
        STDIN.to_owned()
    } else {
        args.file.display().to_string()
    };
    let analysis = analysis.with_context(|| format!("analysing {name}"))?;
    if let Some((link, n)) = analysis.passed_over {
        let why = sipwatch::capture::file::FileError::UnsupportedLinkType { link };
        eprintln!(
            "sipwatch: {name}: {} on other interfaces passed over: {why}",
            sipwatch::say::count(n, "packet", "packets")
        );
    }
    if let Some(stopped) = analysis.stopped {
        anyhow::bail!(
            "{name}: analysed {} frames, then stopped: {stopped}",
            analysis.summary.pipeline.frames
        );
    }
    Ok(ExitCode::SUCCESS)
}
