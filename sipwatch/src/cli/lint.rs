//! `sipwatch lint [--config-dir DIR]`: Asterisk's configuration checked for
//! the classic registration mistakes. Exit code: 0 nothing breaks (risks
//! are listed), 2 something breaks the registration or its calls, 1 an
//! error.
use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct Args {
    /// Asterisk's configuration directory: pjsip.conf, pjsip_wizard.conf and
    /// sip.conf are read from it, with their #includes.
    #[arg(long, default_value = "/etc/asterisk")]
    config_dir: PathBuf,
    /// One `lint_report` JSON object instead of the text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = sipwatch::lint::lint_dir(&args.config_dir)
        .with_context(|| format!("reading {}", args.config_dir.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &sipwatch::say::lint::json(&report))?;
        writeln!(out)?;
    } else {
        out.write_all(sipwatch::say::lint::text(&report).as_bytes())?;
    }
    out.flush()?;
    Ok(if sipwatch::say::lint::verdict(&report) == "breaks" {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
