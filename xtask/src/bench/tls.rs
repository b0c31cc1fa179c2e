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
    let argv = |delay: f64| -> Vec<String> {
        vec![
            program.display().to_string(),
            script.display().to_string(),
            PROVIDER_V4.to_string(),
            "5061".into(),
            NAME.into(),
            ca.display().to_string(),
            seconds.to_string(),
            delay.to_string(),
        ]
    };
    let parse = |out: &str| -> anyhow::Result<(u64, u64)> {
        let numbers: Vec<u64> = out
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers[..] {
            [requests, answers] => Ok((requests, answers)),
            _ => bail!("the PBX printed {out:?}"),
        }
    };
    let sipwatch = sipwatch.display().to_string();

    println!("==> {seconds} s of REGISTERs over TLS 1.3 from the PBX to Kamailio, no probes");
    let args = argv(0.0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (alone, _) = parse(&lab.pbx.run(&args)?)?;

    // --pid: the PBX runs first; the probes are on its libssl for it alone.
    println!(
        "==> the same with `sipwatch attach {PBX_IF} --pid PID` (probes for that process only)"
    );
    let args = argv(3.0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut pbx = lab.pbx.spawn(&args)?;
    let pid = pbx.id().context("the PBX's pid")?.to_string();
    let by_pid = Run::start(&lab, &sipwatch, &["--pid", &pid])?;
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(seconds + 30.0);
    while pbx.running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Exited: signal 0 sends nothing, and what it printed is collected.
    let out = pbx.stop(0, Duration::from_secs(1))?;
    let (pid_requests, pid_answers) = parse(&String::from_utf8_lossy(&out.stdout))?;
    let by_pid = by_pid.finish(seconds)?;

    // --process: the probes are on the library for every process.
    println!(
        "==> the same with `sipwatch attach {PBX_IF} --process {name}` (probes for every process)"
    );
    let by_name = Run::start(&lab, &sipwatch, &["--process", &name])?;
    let args = argv(0.0);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (name_requests, name_answers) = parse(&lab.pbx.run(&args)?)?;
    let by_name = by_name.finish(seconds)?;

    let per_s = |n: u64| n as f64 / seconds;
    let cost = |n: u64| 100.0 * (1.0 - per_s(n) / per_s(alone).max(1.0));
    println!();
    println!("TLS plaintext benchmark: {seconds} s each, one TLS 1.3 connection");
    println!(
        "{:<44} {:>12} {:>14} {:>16}",
        "", "no probes", "sipwatch --pid", "sipwatch --process"
    );
    println!(
        "{:<44} {:>12.0} {:>14.0} {:>16.0}",
        "PBX requests per second (answered)",
        per_s(alone),
        per_s(pid_requests),
        per_s(name_requests)
    );
    println!(
        "{:<44} {:>12} {:>13.1}% {:>15.1}%",
        "cost to the TLS process",
        "-",
        cost(pid_requests),
        cost(name_requests)
    );
    let sent = (pid_requests + pid_answers, name_requests + name_answers);
    println!(
        "{:<44} {:>12} {:>14} {:>16}",
        "SIP messages over TLS", "-", sent.0, sent.1
    );
    println!(
        "{:<44} {:>12} {:>14} {:>16}",
        "SSL calls read by the probes", "-", by_pid.calls, by_name.calls
    );
    println!(
        "{:<44} {:>12} {:>14} {:>16}",
        "SIP messages framed", "-", by_pid.framed, by_name.framed
    );
    println!(
        "{:<44} {:>12} {:>14.0} {:>16.0}",
        "messages per second through the probes",
        "-",
        per_s(by_pid.framed),
        per_s(by_name.framed)
    );
    println!(
        "{:<44} {:>12} {:>14} {:>16}",
        "lost (counted)", "-", by_pid.lost, by_name.lost
    );
    println!(
        "{:<44} {:>12} {:>13.1}% {:>15.1}%",
        "sipwatch's own CPU (user space, of one core)",
        "-",
        by_pid.cpu_percent,
        by_name.cpu_percent
    );
    println!(
        "(on this host's {} cores the PBX, Kamailio and sipwatch share the CPU; with --process Kamailio's own OpenSSL calls take the probes' traps too)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (how, (sent, run)) in [
        ("--pid", (sent.0, &by_pid)),
        ("--process", (sent.1, &by_name)),
    ] {
        if run.framed != sent || run.lost > 0 {
            println!(
                "WARNING: {how}: {sent} messages went over TLS and {} were framed, {} counted lost",
                run.framed, run.lost
            );
        }
    }
    Ok(())
}

/// One `sipwatch attach --quiet` with the TLS probes, while it runs.
struct Run {
    child: sipwatch_lab::NetnsChild,
    pid: u32,
    cpu_before: f64,
}

/// What one run read and lost, and its CPU.
struct Figures {
    calls: u64,
    framed: u64,
    lost: u64,
    cpu_percent: f64,
}

impl Run {
    fn start(lab: &Lab, sipwatch: &str, how: &[&str]) -> anyhow::Result<Run> {
        let mut argv = vec![sipwatch, "attach", PBX_IF, "--quiet"];
        argv.extend(how);
        let child = lab.pbx.spawn(&argv)?;
        std::thread::sleep(Duration::from_secs(2));
        let pid = child.id().context("sipwatch's pid")?;
        let cpu_before = cpu_seconds(pid)?;
        Ok(Run {
            child,
            pid,
            cpu_before,
        })
    }

    fn finish(self, seconds: f64) -> anyhow::Result<Figures> {
        let cpu = cpu_seconds(self.pid)? - self.cpu_before;
        std::thread::sleep(Duration::from_millis(500));
        let out = self.child.stop(libc::SIGINT, Duration::from_secs(30))?;
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
        // Losses are warnings: "WARNING: N what (TLS plaintext probes …)".
        let lost = text
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
        Ok(Figures {
            calls: count("SSL_write/SSL_read calls with data read"),
            framed: count("SIP messages framed from them"),
            lost,
            cpu_percent: 100.0 * cpu / seconds,
        })
    }
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
