//! `sipwatch package-assets DIR` (hidden): the man pages (clap_mangen: one
//! for `sipwatch`, one per command) and the bash, zsh and fish completions
//! (clap_complete), generated from the same definitions as `--help`, for
//! `cargo xtask package`.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct Args {
    /// The folder to write `man/` and `completions/` into (created).
    dir: PathBuf,
}

pub fn run(args: Args, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let man = args.dir.join("man");
    let completions = args.dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    // The same command without this one, which is for packagers only.
    let visible = clap::Command::new("sipwatch")
        .version(env!("CARGO_PKG_VERSION"))
        .about(cmd.get_about().cloned().unwrap_or_default())
        .subcommand_required(true)
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let cmd = visible;
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("writing the man pages into {}", man.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "sipwatch", &completions)
            .with_context(|| format!("writing the {shell} completion"))?;
    }
    Ok(ExitCode::SUCCESS)
}
