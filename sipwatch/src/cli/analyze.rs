//! `sipwatch analyze FILE` (`-`: standard input).
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use sipwatch::{
    analyze::{Input, Reading},
    report::{Detail, StoreLimits, View},
    tui::Tui,
};

use super::{ConfigArgs, HepArgs, OutputArgs, SelectionArgs, TlsArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The capture file (pcap or pcapng); - reads it from standard input.
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    /// Browse the capture in a terminal UI, as in sngrep: the trunks
    /// (every registration, failing first, with its cause and fix), the
    /// dialogs, the ladder, the raw messages; F1 lists the keys
    /// (docs/tui.md). The summary is printed when it is left.
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json", "events"])]
    tui: bool,
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
    if args.tui {
        super::tui::need_a_terminal()?;
        // Under the screen, the summary only: it is what stays once it is left.
        plan.view = View::Text(Detail::Quiet);
    }
    plan.config = args.config.trunks()?;
    // A file is replayed whole: the sender waits for the receiver.
    plan.hep = args.hep.plan(sipwatch::hep::send::WhenFull::Wait);
    let mut outputs = plan.build()?.list;
    args.hep.announce();
    let selection = args.selection.selection();
    let reading = Reading {
        selection,
        keys: args.tls.keys()?,
    };
    let name = if args.file.as_os_str() == "-" {
        STDIN.to_owned()
    } else {
        args.file.display().to_string()
    };
    let analysis = if args.tui {
        outputs.push(Box::new(Tui::for_file(&name, plan.config.clone())));
        let input = if args.file.as_os_str() == "-" {
            Input::Reader(Box::new(std::io::stdin()), STDIN)
        } else {
            Input::Path(&args.file)
        };
        sipwatch::analyze::run_browsing(input, outputs, reading, StoreLimits::default(), stdout)
    } else if args.file.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        sipwatch::analyze::run_reader(stdin, STDIN, outputs, reading, stdout)
    } else {
        sipwatch::analyze::run_with(&args.file, outputs, reading, stdout)
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
