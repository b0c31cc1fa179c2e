//! The soak benchmark: sipwatch left running as a service would be
//! (`attach --echo --metrics --events`) while sipp churns registrations
//! through the lab for minutes, each from a new Contact, so that every
//! table fills up and must stay within its bound. Resident memory is
//! sampled over time beside `tshark -i eth0 -Y sip` capturing the same
//! interface in the same run.
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use sipwatch_lab::{ECHO_V4, Lab, PBX_IF, PBX_V4, PROVIDER_V4, Personality, kamailio::Kamailio};

use crate::{run::build_sipwatch, setup};

/// A registration with a Contact of its own per call: the open user of the
/// lab's Kamailio accepts it at once (200), so every REGISTER is a new binding.
const SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register churn">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:alice@[remote_ip]>;tag=[call_number]
      To: <sip:alice@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:alice-[call_number]@[local_ip]:[local_port]>
      Expires: 120
      User-Agent: sipp soak
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
"#;

/// Resident set size now, KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad VmRSS")?
        .parse()?)
}

/// Runs the soak for `seconds` at `rate` REGISTERs a second.
pub fn run(seconds: u64, rate: u32) -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    let bin = sipwatch.display().to_string();
    let lab = Lab::new(Personality::PlainNat).context("building the lab (needs root)")?;
    let _kamailio = Kamailio::start(&lab.provider)?;
    lab.add_echo_address()?;
    let _echo = lab.provider.spawn_with(
        &[&bin, "echo", "--listen", &format!("{ECHO_V4}:5060")],
        Stdio::null(),
        Stdio::null(),
    )?;
    let dir = std::env::temp_dir().join(format!("sipwatch-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scenario = dir.join("register.xml");
    std::fs::write(&scenario, SCENARIO)?;

    let watcher = lab.pbx.spawn_with(
        &[
            &bin,
            "attach",
            PBX_IF,
            "--events",
            "--echo",
            &ECHO_V4.to_string(),
            "--metrics",
            "127.0.0.1:9560",
        ],
        Stdio::null(),
        Stdio::null(),
    )?;
    let tshark = lab.pbx.spawn_with(
        &["tshark", "-i", PBX_IF, "-Y", "sip", "-q"],
        Stdio::null(),
        Stdio::null(),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    let (sw_pid, ts_pid) = (
        watcher.id().context("sipwatch pid")?,
        tshark.id().context("tshark pid")?,
    );
    println!("==> {seconds} s of REGISTER churn at {rate}/s (sipp), every one a new binding");
    let sipp = lab.pbx.spawn_with(
        &[
            "sipp",
            &format!("{PROVIDER_V4}:5060"),
            "-sf",
            &scenario.display().to_string(),
            "-i",
            &PBX_V4.to_string(),
            "-p",
            "5070",
            "-r",
            &rate.to_string(),
            "-timeout",
            &format!("{seconds}s"),
            "-nostdin",
            "-trace_stat",
            "-stf",
            &dir.join("stat.csv").display().to_string(),
        ],
        Stdio::null(),
        Stdio::null(),
    )?;
    println!(
        "{:>8}  {:>16}  {:>16}",
        "seconds", "sipwatch RSS MiB", "tshark RSS MiB"
    );
    let start = Instant::now();
    let every = Duration::from_secs((seconds / 10).max(5));
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(every.min(Duration::from_secs(seconds).saturating_sub(start.elapsed())));
        let (sw, ts) = (rss_kib(sw_pid)?, rss_kib(ts_pid).unwrap_or(0));
        println!(
            "{:>8.0}  {:>16.1}  {:>16.1}",
            start.elapsed().as_secs_f64(),
            sw as f64 / 1024.0,
            ts as f64 / 1024.0
        );
        samples.push(sw);
    }
    let _ = sipp.stop(libc::SIGTERM, Duration::from_secs(10));
    let _ = tshark.stop(libc::SIGTERM, Duration::from_secs(10));
    let out = watcher.stop(libc::SIGTERM, Duration::from_secs(20))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!("sipwatch exited with {}", out.status);
    }
    let half = samples.len() / 2;
    let (first, last) = (
        samples[..half.max(1)].iter().max().copied().unwrap_or(0),
        samples.iter().max().copied().unwrap_or(0),
    );
    println!(
        "sipwatch peak RSS: {:.1} MiB in the first half, {:.1} MiB over the whole run ({})",
        first as f64 / 1024.0,
        last as f64 / 1024.0,
        if last <= first + first / 10 {
            "flat"
        } else {
            "still growing"
        }
    );
    Ok(())
}
