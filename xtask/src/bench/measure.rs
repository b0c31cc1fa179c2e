//! Running a command and measuring its wall time and peak memory.
use std::{
    os::unix::process::ExitStatusExt,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;

pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    pub status: ExitStatus,
}

/// Runs `cmd` with its stdout discarded (or captured to `stdout_to`).
pub fn measure(cmd: &mut Command, stdout_to: Option<&std::path::Path>) -> anyhow::Result<Measured> {
    match stdout_to {
        Some(path) => cmd.stdout(std::fs::File::create(path)?),
        None => cmd.stdout(Stdio::null()),
    };
    cmd.stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; wait4 on our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    anyhow::ensure!(rc > 0, "wait4 failed: {}", std::io::Error::last_os_error());
    Ok(Measured {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
        status: ExitStatus::from_raw(status),
    })
}
