//! `sipwatch analyze FILE`.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use super::{OutputArgs, SelectionArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The capture file.
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    selection: SelectionArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let analysis = sipwatch::analyze::run_with(
        &args.file,
        args.output.view().outputs(),
        args.selection.selection(),
        stdout,
    )
    .with_context(|| format!("analysing {}", args.file.display()))?;
    if let Some((link, n)) = analysis.passed_over {
        let why = sipwatch::capture::file::FileError::UnsupportedLinkType { link };
        eprintln!(
            "sipwatch: {}: {} on other interfaces passed over: {why}",
            args.file.display(),
            sipwatch::say::count(n, "packet", "packets")
        );
    }
    if let Some(stopped) = analysis.stopped {
        anyhow::bail!(
            "{}: analysed {} frames, then stopped: {stopped}",
            args.file.display(),
            analysis.summary.pipeline.frames
        );
    }
    Ok(ExitCode::SUCCESS)
}
