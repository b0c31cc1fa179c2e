//! The TLS benchmark: a PBX (Python's `ssl`, OpenSSL) registering over TLS
//! with the lab's Kamailio as fast as its answers come, first alone, then
//! with `sipwatch attach --process` reading its plaintext through uprobes.
//! Printed side by side: the PBX's requests per second with and without
//! the probes (their cost to the TLS process), and what sipwatch read of
//! them and lost (it must lose none).
use std::time::Duration;

use anyhow::{Context as _, bail};
use sipwatch_lab::{
    Lab, PBX_IF, PROVIDER_V4, Personality,
    kamailio::{Kamailio, TlsPort},
    pki::Pki,
};

use crate::{run::build_sipwatch, setup};

const LOAD: &str = include_str!("tls_load.py");
const NAME: &str = "sip.provider.lab";

pub fn run(seconds: f64) -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    let lab = Lab::new(Personality::PlainNat).context("building the lab (needs root)")?;
    let pki = Pki::new();
    let issued = pki.server(&[NAME], None, false);
    let _kamailio = Kamailio::start_tls(
        &lab.provider,
        &[TlsPort {
            port: 5061,
            chain_pem: issued.pem,
            key_pem: issued.key_pem,
        }],
    )
    .context("Kamailio with TLS (`cargo xtask setup` installs kamailio-tls-modules)")?;
    let dir = std::env::temp_dir().join(format!("sipwatch-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = Cleanup(dir.clone());
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem)?;
    let script = dir.join("tls_load.py");
    std::fs::write(&script, LOAD)?;
    // The PBX under a name of its own, for `attach --process`.
    let python = lab
        .pbx
        .run(&["python3", "-c", "import sys; print(sys.executable)"])?;
    let name = format!("tlsbench{}", std::process::id() % 10_000);
    let program = dir.join(&name);
    std::os::unix::fs::symlink(python.trim(), &program)?;
    let load = || -> anyhow::Result<(u64, u64)> {
        let out = lab.pbx.run(&[
            &program.display().to_string(),
            &script.display().to_string(),
            &PROVIDER_V4.to_string(),
            "5061",
            NAME,
            &ca.display().to_string(),
            &seconds.to_string(),
        ])?;
        let numbers: Vec<u64> = out
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers[..] {
            [requests, answers] => Ok((requests, answers)),
            _ => bail!("the PBX printed {out:?}"),
        }
    };

    println!("==> {seconds} s of REGISTERs over TLS 1.3 from the PBX to Kamailio, no probes");
    let (alone, _) = load()?;
    println!("==> the same with `sipwatch attach {PBX_IF} --process {name}` reading it");
    let child = lab.pbx.spawn(&[
        &sipwatch.display().to_string(),
        "attach",
        PBX_IF,
        "--quiet",
        "--process",
        &name,
    ])?;
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().context("sipwatch's pid")?;
    let cpu_before = cpu_seconds(pid)?;
    let (probed, answers) = load()?;
    let cpu = cpu_seconds(pid)? - cpu_before;
    std::thread::sleep(Duration::from_millis(500));
    let out = child.stop(libc::SIGINT, Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("sipwatch failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let count = |what: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("TLS plaintext probes") && l.ends_with(what))
            .find_map(|l| {
                l.split(": ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let framed = count("SIP messages framed from them");
    let calls = count("SSL_write/SSL_read calls with data read");
    // Losses are warnings: "WARNING: N what (TLS plaintext probes …)".
    let lost: u64 = text
        .lines()
        .filter(|l| l.contains("(TLS plaintext probes"))
        .filter_map(|l| {
            l.strip_prefix("WARNING: ")?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let sent = probed + answers;
    let per_s = |n: u64| n as f64 / seconds;

    println!();
    println!("TLS plaintext benchmark: {seconds} s each, one TLS 1.3 connection");
    println!("{:<48} {:>14} {:>14}", "", "no probes", "sipwatch");
    println!(
        "{:<48} {:>14.0} {:>14.0}",
        "PBX requests per second (answered)",
        per_s(alone),
        per_s(probed)
    );
    println!(
        "{:<48} {:>14} {:>13.1}%",
        "cost to the TLS process",
        "-",
        100.0 * (1.0 - per_s(probed) / per_s(alone).max(1.0))
    );
    println!("{:<48} {:>14} {:>14}", "SIP messages over TLS", "-", sent);
    println!(
        "{:<48} {:>14} {:>14}",
        "SSL calls read by the probes", "-", calls
    );
    println!("{:<48} {:>14} {:>14}", "SIP messages framed", "-", framed);
    println!(
        "{:<48} {:>14} {:>14.0}",
        "messages per second through the probes",
        "-",
        per_s(framed)
    );
    println!("{:<48} {:>14} {:>14}", "lost (counted)", "-", lost);
    println!(
        "{:<48} {:>14} {:>13.1}%",
        "sipwatch's own CPU (user space, of one core)",
        "-",
        100.0 * cpu / seconds
    );
    println!(
        "(on this host's {} cores the PBX, Kamailio and sipwatch share the CPU: part of the cost is sipwatch's own work)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if framed != sent || lost > 0 {
        println!(
            "WARNING: {sent} messages went over TLS and {framed} were framed, {lost} counted lost"
        );
    }
    Ok(())
}

/// CPU time process `pid` has used so far, user and system, in seconds
/// (`/proc/PID/stat` fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, rest) = stat.rsplit_once(')').context("/proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .context("/proc/PID/stat: utime, stime")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks / per_second)
}

/// Removes the benchmark's files, also when it fails.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
