//! `sipwatch attach IFACE`.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use sipwatch::{
    audit::{AuditConfig, Auditor},
    capture::{CaptureConfig, Hook, XdpModeChoice, file::Rotation, parse_size},
    echo::{DEFAULT_QUERY_PORT, wire},
    live::LiveCapture,
    report::{View, WritePlan},
};

use super::{OutputArgs, SelectionArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The interface to capture on, e.g. eth0.
    interface: String,
    #[command(flatten)]
    selection: SelectionArgs,
    /// SIP-over-TLS ports: packets are counted, not copied (with --tls-keylog: copied and decrypted; with --pid/--process: copied for their handshakes).
    #[arg(long = "tls-port", value_delimiter = ',', default_values_t = [5061u16], value_parser = super::port)]
    tls_ports: Vec<u16>,
    /// Bytes of each packet to capture at most (256 to 65600).
    #[arg(long, value_parser = parse_size, default_value = "65600")]
    snap_len: u32,
    /// Ring buffer size, a power of two (e.g. 8M, 32M, 64M).
    #[arg(long, value_parser = parse_size, default_value = "32M")]
    ring_size: u32,
    /// Hooks to attach: xdp (ingress), tc (egress), or both.
    #[arg(long = "hook", value_delimiter = ',', default_values = ["xdp", "tc"])]
    hooks: Vec<Hook>,
    /// XDP attach mode: driver with fallback to generic (auto), or one of them.
    #[arg(long, value_enum, default_value_t = XdpModeChoice::Auto)]
    xdp_mode: XdpModeChoice,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    config: super::ConfigArgs,
    #[command(flatten)]
    hep: super::HepArgs,
    #[command(flatten)]
    tls: super::TlsArgs,
    /// Also read SIP over TLS in clear inside this process (the PBX's
    /// pid): uprobes on its OpenSSL's SSL_write and SSL_read, no keys and
    /// no change to its configuration (docs/tls.md). Comma-separated for
    /// several.
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pid: Vec<u32>,
    /// As --pid, for every process of this name as `ps -e` shows it
    /// (asterisk, kamailio, freeswitch), also those started later.
    #[arg(long, value_name = "NAME", value_parser = process_name)]
    process: Option<String>,
    /// No message log: the registration table, redrawn every second.
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json", "events"])]
    table: bool,
    /// Watch in a terminal UI, as in sngrep: the trunks (every
    /// registration, failing first, with its cause and fix), the dialogs,
    /// the ladder, the raw messages; F1 lists the keys (docs/tui.md). q
    /// stops the capture; the summary is printed then.
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json", "events", "table"])]
    tui: bool,
    /// Stop by itself after this many seconds.
    #[arg(long, value_parser = super::seconds)]
    duration: Option<f64>,
    /// Also write every captured frame to this pcapng file (with its
    /// interface and direction), for Wireshark or `sipwatch analyze`.
    #[arg(short, long, value_name = "FILE.pcapng")]
    write: Option<PathBuf>,
    /// With --write: start a new file when the current one reaches this size
    /// (FILE.1.pcapng, FILE.2.pcapng, …).
    #[arg(long, value_parser = rotation_size, requires = "write", value_name = "SIZE")]
    rotate: Option<u32>,
    /// With --rotate: keep at most this many files, deleting the oldest.
    #[arg(long, default_value_t = 10, requires = "rotate", value_parser = clap::value_parser!(u32).range(1..))]
    keep: u32,
    /// Audit the PBX's own REGISTERs through this `sipwatch echo` (HOST or
    /// HOST:PORT, port 5060 by default): a shadow of each, credentials
    /// blanked, from the PBX's own address and port; its answers never
    /// reach the PBX.
    #[arg(long, value_name = "HOST[:PORT]")]
    echo: Option<String>,
    /// The echo's query channel [default: the echo's host, port 5099].
    #[arg(long, requires = "echo", value_name = "HOST:PORT")]
    echo_query: Option<String>,
    /// The shared key the echo was started with.
    #[arg(long, requires = "echo")]
    key: Option<String>,
    /// Shadows per second at most, all registrations together.
    #[arg(long, requires = "echo", default_value_t = 5.0, value_parser = super::positive)]
    shadow_rate: f64,
    /// With --echo: the silences (seconds) before each NAT keep-alive the
    /// echo sends back, to measure how long the NAT keeps the PBX's UDP
    /// mapping without traffic (empty to measure nothing).
    #[arg(
        long,
        requires = "echo",
        default_value_t = NatGaps(sipwatch::audit::DEFAULT_KEEPALIVE_GAPS.to_vec()),
        value_parser = nat_gaps,
        value_name = "SECONDS,..."
    )]
    nat_gaps: NatGaps,
    /// Do not trace the SIP packets this host's own kernel drops (its
    /// firewall, no socket, a full socket buffer), which is on by default.
    #[arg(long)]
    no_drops: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9560).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
    /// Also take HEP (v3 and v2, UDP and TCP) from the PBX on this address,
    /// merged with the interface's view: a message seen on both is one
    /// message (see `sipwatch hep-listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    hep_listen: Option<std::net::SocketAddr>,
    /// With --hep-listen: the password every HEP packet must carry.
    #[arg(long, requires = "hep_listen", value_name = "PASSWORD")]
    hep_listen_password: Option<String>,
}

/// `--process`: a name as the kernel keeps it (`comm`): not empty, no
/// `/`, at most 15 bytes (longer names are cut there, as `ps` shows).
fn process_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() || text.contains('\0') {
        return Err("give the process's name as `ps -e` shows it (asterisk)".into());
    }
    if text.contains('/') {
        return Err(format!(
            "{text:?}: give the process's name as `ps -e` shows it (asterisk), not a path"
        ));
    }
    if text.contains(',') {
        return Err(format!(
            "{text:?}: one name (the kernel matches one); for several processes give their pids: --pid PID,PID"
        ));
    }
    Ok(text.to_owned())
}

/// A file size to rotate at: at least 1 MiB, so that a file holds more
/// than a handful of frames.
fn rotation_size(text: &str) -> Result<u32, String> {
    let size = parse_size(text)?;
    if size < 1 << 20 {
        return Err(format!("{text:?}: rotate at 1M or more"));
    }
    Ok(size)
}

/// `--nat-gaps`: the silences before each keep-alive, in seconds; none
/// when given empty (`--nat-gaps ''`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatGaps(Vec<u64>);

impl std::fmt::Display for NatGaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gaps: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&gaps.join(","))
    }
}

/// `20,40,80`, or the empty text for no keep-alives at all.
fn nat_gaps(text: &str) -> Result<NatGaps, String> {
    if text.trim().is_empty() {
        return Ok(NatGaps(Vec::new()));
    }
    text.split(',')
        .map(|g| {
            g.trim()
                .parse()
                .map_err(|_| format!("{g:?} is not a number of seconds"))
        })
        .collect::<Result<_, _>>()
        .map(NatGaps)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let audit = match &args.echo {
        Some(echo) => {
            let echo = super::resolve(echo, 5060)?;
            let ip = echo.ip();
            let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
            if ip.is_unspecified() || ip.is_multicast() || broadcast || echo.port() == 0 {
                anyhow::bail!(
                    "--echo {echo}: the address and port of one `sipwatch echo` (not 0.0.0.0, a multicast or broadcast address, or port 0)"
                );
            }
            if args.key.as_deref() == Some("") {
                anyhow::bail!("--key: the echo's shared key cannot be empty");
            }
            let query = match &args.echo_query {
                Some(q) => super::resolve(q, DEFAULT_QUERY_PORT)?,
                None => std::net::SocketAddr::new(echo.ip(), DEFAULT_QUERY_PORT),
            };
            let mut config = AuditConfig::new(echo, Some(query));
            config.key = args.key.clone().map(String::into_bytes);
            config.per_second = args.shadow_rate;
            let gaps = &args.nat_gaps.0;
            let bad = gaps.len() > wire::MAX_KEEPALIVES
                || gaps
                    .iter()
                    .any(|g| !(1..=wire::MAX_KEEPALIVE_GAP_S).contains(g));
            if bad {
                anyhow::bail!(
                    "--nat-gaps: at most {} silences, each 1 to {} seconds",
                    wire::MAX_KEEPALIVES,
                    wire::MAX_KEEPALIVE_GAP_S
                );
            }
            config.keepalive_gaps = gaps.clone();
            eprintln!("sipwatch: auditing through the echo at {echo} (query channel {query})");
            Some(config)
        }
        None => None,
    };
    let reads_tls = args.tls.tls_keylog.is_some() || !args.pid.is_empty() || args.process.is_some();
    let config = CaptureConfig {
        hooks: args.hooks.clone(),
        xdp_mode: args.xdp_mode,
        // With the keys, the TLS ports' packets are copied and read; with
        // the TLS probes, copied for their handshakes.
        sip_ports: if reads_tls {
            [&args.selection.ports[..], &args.tls_ports[..]].concat()
        } else {
            args.selection.ports.clone()
        },
        tls_ports: if reads_tls {
            Vec::new()
        } else {
            args.tls_ports.clone()
        },
        sniff_udp: !args.selection.no_sniff,
        snap_len: args.snap_len,
        ring_bytes: args.ring_size,
        consume_from: audit.iter().map(|a| a.echo).collect(),
        trace_drops: !args.no_drops,
        ..CaptureConfig::new(&args.interface)
    };
    let mut plan = args.output.plan();
    if args.table {
        plan.view = View::Table;
    }
    if args.tui {
        super::tui::need_a_terminal()?;
        // Under the screen, the summary only: it is what stays once it is left.
        plan.view = View::Text(sipwatch::report::Detail::Quiet);
    }
    plan.metrics = args.metrics;
    // Live: a full queue drops (counted), never holding up the capture.
    plan.hep = args.hep.plan(sipwatch::hep::send::WhenFull::Drop);
    plan.config = args.config.trunks()?;
    plan.write = args.write.clone().map(|path| WritePlan {
        path,
        rotation: args.rotate.map(|max| Rotation {
            max_bytes: u64::from(max),
            max_files: args.keep,
        }),
        tls_keylog: args.tls.tls_keylog.clone(),
    });
    let hep_rules = super::hep_listen::rules(args.hep_listen_password.as_deref())?;
    super::runtime()?.block_on(async {
        let signal = super::stop_signal(args.duration)?;
        // Leaving the screen stops the capture too.
        let left = std::sync::Arc::new(tokio::sync::Notify::new());
        // And a stop from outside (a signal, --duration) closes the screen.
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = {
            let (left, closed) = (left.clone(), closed.clone());
            async move {
                tokio::select! {
                    () = signal => closed.store(true, std::sync::atomic::Ordering::Relaxed),
                    () = left.notified() => {}
                }
            }
        };
        // Bound first: a port in use is said before anything is attached.
        let hep = match args.hep_listen {
            Some(at) => Some(super::hep_listen::bind(at, hep_rules)?),
            None => None,
        };
        // The TLS probes first: once the NIC's hooks show, both are on.
        let mut pids = args.pid.clone();
        pids.sort_unstable();
        pids.dedup();
        let processes = sipwatch::capture::processes::ProcessChoice {
            pids,
            name: args.process.clone(),
        };
        let plaintext = if processes.is_empty() {
            None
        } else {
            let probes = sipwatch::capture::plaintext::PlainProbes::attach(&processes)
                .context("--pid/--process")?;
            for note in probes.notes() {
                eprintln!("sipwatch: {note}");
            }
            Some(probes)
        };
        let mut capture = LiveCapture::attach(&config)
            .with_context(|| format!("capture on {}", args.interface))?
            .taking_only(args.selection.selection().only().clone());
        if let Some(path) = &args.tls.tls_keylog {
            let keylog = sipwatch::capture::file::KeyLogFile::open(path).context("--tls-keylog")?;
            capture = capture.with_tls_keylog(keylog);
        }
        if let Some(probes) = plaintext {
            capture = capture.with_plaintext(probes);
        }
        let auditor = audit.map(Auditor::new);
        if let Some(problem) = auditor.as_ref().and_then(|a| a.send_problem.as_ref()) {
            anyhow::bail!("--echo: {problem}");
        }
        // Every output, once the capture is attached (no capture file is
        // left behind by one that could not attach).
        let mut outputs = plan.build()?;
        if let Some(bound) = outputs.metrics_at {
            eprintln!("sipwatch: metrics on http://{bound}/metrics");
        }
        args.hep.announce();
        eprintln!(
            "sipwatch: capturing SIP on {}; Ctrl-C to stop",
            capture.describe()
        );
        if let Some(why) = capture.drop_problem().filter(|_| !args.no_drops) {
            eprintln!("sipwatch: SIP dropped by this host's own kernel is not traced: {why}");
        }
        if args.tui {
            // First: its end waits for the user to leave the screen, and
            // the summary is written after it, on the restored terminal.
            let tui = sipwatch::tui::LiveTui::start(
                &args.interface,
                plan.config.clone(),
                closed,
                move || left.notify_one(),
            )
            .context("starting the terminal UI")?;
            outputs.list.insert(0, Box::new(tui));
        }
        // Flushed after every batch by the pipeline: no per-line syscalls.
        // With --tui, standard output is the screen's, from its own
        // thread: locked only for each flush, never for the whole run.
        let stdout: Box<dyn std::io::Write> = if args.tui {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        } else {
            Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
        };
        capture
            .run_with_hep(hep, outputs.list, auditor, stdout, stop)
            .await
            .with_context(|| format!("capture on {}", args.interface))?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_gaps_empty_measures_nothing_and_a_list_is_read_in_order() {
        assert_eq!(nat_gaps(""), Ok(NatGaps(Vec::new())));
        assert_eq!(nat_gaps("20, 40,80"), Ok(NatGaps(vec![20, 40, 80])));
        assert!(nat_gaps("20,,40").is_err());
        assert!(nat_gaps("twenty").is_err());
        assert_eq!(NatGaps(vec![20, 40]).to_string(), "20,40");
    }
}
