//! The echo benchmark: `sipwatch echo` under a bounded flood of probes from
//! the lab's PBX (answers per second, CPU, peak memory), and the time
//! `sipwatch probe` needs for a verdict on a clean and on a dropping path.
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use sipwatch_lab::{
    Lab, PBX_V4, PROVIDER_V4, Personality,
    flood::{flood_socket, udp_flood},
};

use crate::{run::build_sipwatch, setup};

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .context("bad stat")?
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    Ok(ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64)
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad VmHWM")?
        .parse()?)
}

fn probe_message(seq: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:{PROVIDER_V4} SIP/2.0\r\nVia: SIP/2.0/UDP {PBX_V4}:5070;branch=z9hG4bK-b{seq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bench@{PBX_V4}>;tag=b{seq}\r\nTo: <sip:{PROVIDER_V4}>\r\nCall-ID: b{seq}@{PBX_V4}\r\n\
         CSeq: 1 OPTIONS\r\nContact: <sip:bench@{PBX_V4}:5070>\r\nUser-Agent: sipwatch bench\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER\r\nSupported: replaces, timer\r\n\
         X-Sipwatch-Probe: b{seq}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub fn run(seconds: f64) -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    let bin = sipwatch.display().to_string();
    let lab = Lab::new(Personality::PlainNat).context("building the lab (needs root)")?;
    // One source (the NAT) floods: lift the per-source limit for the measure.
    let echo = lab.provider.spawn(&[
        &bin,
        "echo",
        "--listen",
        "203.0.113.2:5060",
        "--query",
        "203.0.113.2:5099",
        "--rate",
        "10000000",
        "--burst",
        "10000000",
    ])?;
    let pid = echo.id().context("echo pid")?;
    std::thread::sleep(Duration::from_millis(500));

    println!("==> flooding the echo with probes for {seconds} s from the PBX");
    let cpu_before = cpu_seconds(pid)?;
    let local = SocketAddr::new(PBX_V4.into(), 5070);
    let target = SocketAddr::new(PROVIDER_V4.into(), 5060);
    let messages: Vec<Vec<u8>> = (0..1024).map(probe_message).collect();
    let report = lab.pbx.enter(|| -> anyhow::Result<_> {
        let socket = flood_socket(local, target)?;
        Ok(udp_flood(
            &socket,
            &messages,
            Duration::from_secs_f64(seconds),
            50_000_000,
        ))
    })??;
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_seconds(pid)? - cpu_before;
    let rss = peak_rss_kib(pid)?;
    let out = echo.stop(libc::SIGTERM, Duration::from_secs(10))?;
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).context("echo counters")?;
    let answered = stats["answered"].as_u64().unwrap_or(0);

    println!("==> timing probe verdicts (UDP and TCP, 2 s answer timeout)");
    let _echo = lab.provider.spawn(&[
        &bin,
        "echo",
        "--listen",
        "203.0.113.2:5060",
        "--query",
        "203.0.113.2:5099",
    ])?;
    std::thread::sleep(Duration::from_millis(500));
    let time_probe = || -> anyhow::Result<(f64, i32)> {
        let start = Instant::now();
        let out = lab
            .pbx
            .command(&[&bin, "probe", "203.0.113.2", "--timeout", "2", "--no-nic"])
            .output()?;
        Ok((
            start.elapsed().as_secs_f64(),
            out.status.code().unwrap_or(-1),
        ))
    };
    let (clean, clean_code) = time_probe()?;
    if clean_code != 0 {
        bail!("the clean path did not probe clean (exit {clean_code})");
    }
    lab.router.run_with_stdin(
        &["nft", "-f", "-"],
        Some(&Personality::DropOutbound.ruleset()),
    )?;
    let (dropping, drop_code) = time_probe()?;

    println!();
    println!(
        "echo benchmark: {:.1} s flood from one source",
        report.elapsed.as_secs_f64()
    );
    println!(
        "{:<44} {:>14}",
        "probes sent (kernel accepted)", report.sent
    );
    println!("{:<44} {:>14}", "answered by the echo", answered);
    println!(
        "{:<44} {:>14.0}",
        "answers per second",
        answered as f64 / report.elapsed.as_secs_f64()
    );
    println!(
        "{:<44} {:>13.0}%",
        "echo CPU (one core = 100 %)",
        100.0 * cpu / report.elapsed.as_secs_f64()
    );
    println!(
        "{:<44} {:>10.1} MiB",
        "echo peak memory",
        rss as f64 / 1024.0
    );
    println!(
        "{:<44} {:>11.1} ms",
        "probe verdict, clean path (exit 0)",
        clean * 1000.0
    );
    println!(
        "{:<44} {:>11.1} ms",
        format!("probe verdict, dropping path (exit {drop_code})"),
        dropping * 1000.0
    );
    Ok(())
}
