//! `sipwatch lint [PATH]`: Asterisk's configuration checked for
//! the classic registration mistakes. Exit code: 0 nothing breaks (risks
//! are listed), 2 something breaks the registration or its calls, 1 an
//! error.
use std::{io::Write, path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Asterisk's configuration directory (pjsip.conf, pjsip_wizard.conf and
    /// sip.conf are read from it, with their #includes), or one of those
    /// files. Default: /etc/asterisk.
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// The same as PATH (the name `attach` and `analyze` use).
    #[arg(long, value_name = "DIR", conflicts_with = "path")]
    config_dir: Option<PathBuf>,
    /// One `lint_report` JSON object instead of the text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = args
        .path
        .or(args.config_dir)
        .unwrap_or_else(|| PathBuf::from("/etc/asterisk"));
    // Each error names the file (and line) itself.
    let report = sipwatch::lint::lint_path(&path)?;
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
