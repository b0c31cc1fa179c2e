//! The analysis benchmark: `sipwatch analyze` against `tshark -r FILE -Y sip`
//! on the same generated capture, in the same run.
use std::{path::Path, process::Command};

use anyhow::{Context as _, ensure};

use super::{
    measure::{Measured, measure},
    sipgen::{Mix, write_capture},
};
use crate::{
    run::{build_sipwatch, workspace_root},
    setup,
};

pub fn run(messages: u64) -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    for (mix, what) in [
        (
            Mix::Realistic,
            "REGISTER/401/200, INVITE with SDP, OPTIONS; UDP and TCP",
        ),
        (
            Mix::UniqueRegisters,
            "REGISTERs from unique AORs, never answered",
        ),
    ] {
        compare(&sipwatch, &dir, messages, mix, what)?;
    }
    Ok(())
}

/// Generates one capture and times sipwatch (with tracking) and tshark on it.
fn compare(sipwatch: &Path, dir: &Path, messages: u64, mix: Mix, what: &str) -> anyhow::Result<()> {
    let capture = dir.join(format!("sip-{mix:?}-{messages}.pcap").to_lowercase());
    println!("==> generating {messages} SIP messages ({what})");
    let generated = write_capture(&capture, messages, mix)?;

    println!("==> sipwatch analyze --quiet, --json and the message log; tshark -r FILE -Y sip");
    let summary_file = dir.join("summary.txt");
    let quiet = measure(
        Command::new(sipwatch)
            .args(["analyze", "--quiet"])
            .arg(&capture),
        Some(&summary_file),
    )?;
    ensure!(quiet.status.success(), "sipwatch analyze failed");
    let summary = std::fs::read_to_string(&summary_file)?;
    let found = summary_messages(&summary)?;
    ensure!(
        found == generated.messages,
        "sipwatch found {found} of {} messages:\n{summary}",
        generated.messages
    );
    let text = measure(Command::new(sipwatch).arg("analyze").arg(&capture), None)?;
    let json = measure(
        Command::new(sipwatch)
            .args(["analyze", "--json"])
            .arg(&capture),
        None,
    )?;
    let tshark = measure(
        Command::new("tshark")
            .arg("-r")
            .arg(&capture)
            .args(["-Y", "sip"]),
        None,
    )?;
    ensure!(tshark.status.success(), "tshark failed");

    let rate = |m: &Measured| generated.messages as f64 / m.wall.as_secs_f64();
    println!();
    println!(
        "analysis benchmark: {} messages ({what}), {:.0} MiB capture",
        generated.messages,
        generated.bytes as f64 / (1 << 20) as f64
    );
    println!(
        "{:<50} {:>10} {:>14} {:>10} {:>10}",
        "", "seconds", "messages/s", "vs tshark", "peak MiB"
    );
    for (name, m) in [
        ("sipwatch analyze --quiet (decode, track)", &quiet),
        ("sipwatch analyze (message log, track)", &text),
        ("sipwatch analyze --json (all fields, rsip, track)", &json),
        ("tshark -r FILE -Y sip", &tshark),
    ] {
        println!(
            "{name:<50} {:>10.2} {:>14.0} {:>9.1}x {:>10.1}",
            m.wall.as_secs_f64(),
            rate(m),
            rate(m) / rate(&tshark),
            m.max_rss_kib as f64 / 1024.0
        );
    }
    if let Some(line) = summary.lines().find(|l| l.starts_with("registrations:")) {
        println!("{line}");
    }
    if let Some(line) = summary
        .lines()
        .find(|l| l.contains("dropped from tracking"))
    {
        println!("{line}");
    }
    println!();
    Ok(())
}

/// "decoded: … N messages (M over TCP)" from sipwatch's summary.
fn summary_messages(summary: &str) -> anyhow::Result<u64> {
    let line = summary
        .lines()
        .find(|l| l.starts_with("decoded:"))
        .context("no summary line")?;
    let at = line.find(" messages (").context("no message count")?;
    line[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .context("bad message count")
}
