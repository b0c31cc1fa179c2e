//! The capture benchmark: sipwatch and tcpdump on the same interface under
//! a bounded UDP flood across the lab.
use std::{net::SocketAddr, time::Duration};

use anyhow::{Context as _, bail};
use sipwatch_lab::{
    Lab, PBX_IF, PBX_V4, PROVIDER_V4, Personality, ROUTER_LAN_IF, SipMessageFactory,
    flood::{flood_socket, udp_flood},
};

use crate::{run::build_sipwatch, setup};

/// At most this many messages, whatever the rate: the flood is bounded in
/// time and count.
const MAX_FLOOD_MESSAGES: u64 = 20_000_000;

pub fn run(seconds: f64, ring_size: &str) -> anyhow::Result<()> {
    setup::run()?;
    let sipwatch = build_sipwatch()?;
    let ring_bytes = parse_size(ring_size)?;
    let lab = Lab::new(Personality::PlainNat).context("building the lab (needs root)")?;
    // The benchmark measures capture at the PBX's NIC: the router drops the
    // flood as early as it can (netdev ingress), so the sender's core is not
    // spent forwarding and NATing it.
    lab.router.run_with_stdin(
        &["nft", "-f", "-"],
        Some(&format!(
            "table netdev bench {{\n\tchain ingress {{\n\t\ttype filter hook ingress device \"{ROUTER_LAN_IF}\" priority 0; policy accept;\n\t\tudp dport 5060 drop\n\t}}\n}}\n"
        )),
    )?;

    println!(
        "==> attaching sipwatch (ring {ring_size}) and tcpdump (buffer {ring_size}) to the PBX's {PBX_IF}"
    );
    let sipwatch_child = lab.pbx.spawn(&[
        &sipwatch.display().to_string(),
        "attach",
        PBX_IF,
        "--quiet",
        "--ring-size",
        ring_size,
    ])?;
    let buffer_kib = (ring_bytes / 1024).to_string();
    let tcpdump = lab.pbx.spawn(&[
        "tcpdump",
        "-i",
        PBX_IF,
        "-n",
        "-w",
        "/dev/null",
        "-B",
        &buffer_kib,
        "udp port 5060",
    ])?;
    std::thread::sleep(Duration::from_secs(2));

    let local = SocketAddr::new(PBX_V4.into(), 5060);
    let target = SocketAddr::new(PROVIDER_V4.into(), 5060);
    let factory = SipMessageFactory {
        local,
        remote: target,
        transport: "UDP",
    };
    let messages: Vec<Vec<u8>> = (0..1024).map(|seq| factory.request(seq)).collect();
    let mean_len = messages.iter().map(Vec::len).sum::<usize>() / messages.len();
    println!(
        "==> flooding {seconds} s of SIP ({mean_len}-byte REGISTER/OPTIONS) from {local} to {target}"
    );
    let report = lab.pbx.enter(|| -> anyhow::Result<_> {
        let socket = flood_socket(local, target)?;
        Ok(udp_flood(
            &socket,
            &messages,
            Duration::from_secs_f64(seconds),
            MAX_FLOOD_MESSAGES,
        ))
    })??;
    std::thread::sleep(Duration::from_millis(500));

    let sw = sipwatch_child.stop(libc::SIGINT, Duration::from_secs(30))?;
    let td = tcpdump.stop(libc::SIGINT, Duration::from_secs(30))?;
    let sw_out = String::from_utf8_lossy(&sw.stdout);
    let td_err = String::from_utf8_lossy(&td.stderr);
    if !sw.status.success() {
        bail!("sipwatch failed: {}", String::from_utf8_lossy(&sw.stderr));
    }
    let egress = summary_field(&sw_out, "egress (TC)")?;
    let td_captured = tcpdump_field(&td_err, "packets captured")?;
    let td_dropped = tcpdump_field(&td_err, "packets dropped by kernel")?;

    println!();
    println!(
        "capture benchmark: {:.1} s, {:.0} packets/s offered",
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    println!("{:<44} {:>14} {:>14}", "", "sipwatch", "tcpdump");
    println!(
        "{:<44} {:>14} {:>14}",
        "SIP packets sent (kernel accepted)", report.sent, report.sent
    );
    println!(
        "{:<44} {:>14} {:>14}",
        "packets captured", egress.copied, td_captured
    );
    println!(
        "{:<44} {:>14} {:>14}",
        "lost: ring full / dropped by kernel", egress.ring_full, td_dropped
    );
    println!(
        "{:<44} {:>13.3}% {:>13.3}%",
        "captured of sent",
        100.0 * egress.copied as f64 / report.sent.max(1) as f64,
        100.0 * td_captured as f64 / report.sent.max(1) as f64
    );
    println!("{:<44} {:>14} {:>14}", "buffer", ring_size, ring_size);
    println!("(sends refused by the sender's kernel: {})", report.refused);
    Ok(())
}

struct EgressFigures {
    copied: u64,
    ring_full: u64,
}

/// Reads sipwatch's summary line for one hook ("… N copied, … M lost to a full ring").
fn summary_field(text: &str, hook: &str) -> anyhow::Result<EgressFigures> {
    let line = text
        .lines()
        .find(|l| l.starts_with(hook))
        .with_context(|| format!("no '{hook}' line in sipwatch's summary:\n{text}"))?;
    let number_before = |label: &str| -> anyhow::Result<u64> {
        let at = line
            .find(label)
            .with_context(|| format!("no '{label}' in {line}"))?;
        line[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no number before '{label}' in {line}"))
    };
    Ok(EgressFigures {
        copied: number_before(" copied")?,
        ring_full: number_before(" lost to a full ring")?,
    })
}

/// tcpdump prints "N packets captured" etc. on stderr when it stops.
fn tcpdump_field(text: &str, label: &str) -> anyhow::Result<u64> {
    text.lines()
        .find_map(|l| l.strip_suffix(label).map(str::trim))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no '{label}' in tcpdump's output:\n{text}"))
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .with_context(|| format!("bad size {text:?}"))?;
    Ok(n * match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => bail!("bad size unit in {text:?} (K, M or G)"),
    })
}
