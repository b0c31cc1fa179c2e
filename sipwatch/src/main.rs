//! The sipwatch command line. Parsing only; the work is in the library.
use std::{io::Write as _, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sipwatch::{
    capture::{
        CaptureConfig, Hook, XdpModeChoice,
        file::{PcapNgWriter, Rotation},
        parse_size,
    },
    live::LiveCapture,
    report::LogView,
};

#[derive(Parser)]
#[command(
    version,
    about = "Finds out, from the wire, why SIP registrations fail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture SIP on an interface (eBPF XDP ingress + TC egress) and print
    /// each message as it passes; Ctrl-C detaches and prints the counters.
    Attach(AttachArgs),
    /// Run the same analysis on a capture file (pcap or pcapng, from
    /// tcpdump, Wireshark or `attach --write`).
    Analyze(AnalyzeArgs),
    /// The cooperating server for a public host: answers sipwatch probes
    /// with exactly what arrived (UDP and TCP). Safe to expose: probes only,
    /// rate limited, no amplification, optional shared key.
    Echo(EchoArgs),
    /// Before go-live: probe a `sipwatch echo` with REGISTER, INVITE (SDP)
    /// and OPTIONS over UDP and TCP, and tell whether a SIP ALG rewrites
    /// them, NAT maps them, or a firewall drops them (and on which leg).
    /// Exit code: 0 clean, 2 ALG found, 3 drops found, 4 could not test.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// The echo: HOST or HOST:PORT (port 5060 by default).
    target: String,
    /// The echo's query channel (default: the same host, port 5099).
    #[arg(long)]
    query: Option<String>,
    /// The echo's ports to probe, e.g. 5060,5080 (default: the target's).
    #[arg(long, value_delimiter = ',')]
    ports: Vec<u16>,
    /// Transports to probe.
    #[arg(long = "transport", value_delimiter = ',', default_values = ["udp", "tcp"])]
    transports: Vec<TransportArg>,
    /// The shared key the echo was started with.
    #[arg(long)]
    key: Option<String>,
    /// Port to send from, as a PBX does (0: any free port, named in the headers).
    #[arg(long, default_value_t = 5060)]
    local_port: u16,
    /// Seconds to wait for each answer (UDP retransmits on the RFC 3261 schedule meanwhile).
    #[arg(long, default_value_t = 8.0)]
    timeout: f64,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
    /// Do not watch this host's own leg with the eBPF capture (which needs root).
    #[arg(long)]
    no_nic: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Udp,
    Tcp,
}

#[derive(clap::Args)]
struct EchoArgs {
    /// Address and port to listen on (UDP and TCP); repeat for several.
    #[arg(long, default_values = ["0.0.0.0:5060"])]
    listen: Vec<std::net::SocketAddr>,
    /// Also answer `SEEN? <id>` queries (TCP) here, so a prober whose answers
    /// never come back can still learn whether its probes arrived.
    #[arg(long)]
    query: Option<std::net::SocketAddr>,
    /// Answer only probes signed with this shared key, and sign the answers.
    #[arg(long)]
    key: Option<String>,
    /// Probes per second answered per source address (sustained).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Probes answered per source address in a burst.
    #[arg(long, default_value_t = 20.0)]
    burst: f64,
    /// TCP connections served at once.
    #[arg(long, default_value_t = 256)]
    max_tcp: usize,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// The capture file.
    file: PathBuf,
    /// Print whole messages, not just their first line.
    #[arg(short, long)]
    verbose: bool,
    /// One JSON object per message (JSON Lines), then a summary object.
    #[arg(long, conflicts_with = "verbose")]
    json: bool,
    /// Print no messages, only the summary.
    #[arg(short, long, conflicts_with_all = ["verbose", "json"])]
    quiet: bool,
}

#[derive(clap::Args)]
struct AttachArgs {
    /// The interface to capture on, e.g. eth0.
    interface: String,
    /// SIP ports (UDP and TCP); repeat or separate with commas.
    #[arg(long = "port", value_delimiter = ',', default_values_t = [5060u16, 5080])]
    ports: Vec<u16>,
    /// SIP-over-TLS ports: packets are counted, not copied.
    #[arg(long = "tls-port", value_delimiter = ',', default_values_t = [5061u16])]
    tls_ports: Vec<u16>,
    /// Do not capture UDP on other ports even when it starts like SIP.
    #[arg(long)]
    no_sniff: bool,
    /// Bytes of each packet to capture at most (256 to 65600).
    #[arg(long, value_parser = parse_size, default_value = "65600")]
    snap_len: u32,
    /// Ring buffer size, a power of two (e.g. 8M, 32M, 64M).
    #[arg(long, value_parser = parse_size, default_value = "32M")]
    ring_size: u32,
    /// Hooks to attach: xdp (ingress), tc (egress), or both.
    #[arg(long = "hook", value_delimiter = ',', default_values = ["xdp", "tc"])]
    hooks: Vec<HookArg>,
    /// XDP attach mode: driver with fallback to generic (auto), or one of them.
    #[arg(long, default_value = "auto")]
    xdp_mode: XdpModeArg,
    /// Print whole messages, not just their first line.
    #[arg(short, long)]
    verbose: bool,
    /// Print no messages, only the counters at the end.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// One JSON object per message (JSON Lines), then a summary object.
    #[arg(long, conflicts_with_all = ["verbose", "quiet"])]
    json: bool,
    /// No message log: the registration table, redrawn every second.
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json"])]
    table: bool,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Also write every captured frame to this pcapng file (with its
    /// interface and direction), for Wireshark or `sipwatch analyze`.
    #[arg(short, long, value_name = "FILE.pcapng")]
    write: Option<PathBuf>,
    /// With --write: start a new file when the current one reaches this size
    /// (FILE.1.pcapng, FILE.2.pcapng, …).
    #[arg(long, value_parser = parse_size, requires = "write", value_name = "SIZE")]
    rotate: Option<u32>,
    /// With --rotate: keep at most this many files, deleting the oldest.
    #[arg(long, default_value_t = 10, requires = "rotate")]
    keep: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum HookArg {
    Xdp,
    Tc,
}

#[derive(Clone, Copy, ValueEnum)]
enum XdpModeArg {
    Auto,
    Driver,
    Generic,
}

/// The per-message path allocates many small, short-lived values (header
/// views, tracking keys); mimalloc serves them markedly faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Attach(args) => attach(args),
        Command::Analyze(args) => analyze(args),
        Command::Echo(args) => echo(args),
        Command::Probe(args) => probe(args),
    };
    if let Err(e) = result {
        // `sipwatch analyze … | head`: the reader left; not an error.
        let reader_left = e.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if reader_left {
            std::process::exit(0);
        }
        eprintln!("sipwatch: {e:#}");
        std::process::exit(1);
    }
}

fn attach(args: AttachArgs) -> anyhow::Result<()> {
    let config = CaptureConfig {
        hooks: args
            .hooks
            .iter()
            .map(|h| match h {
                HookArg::Xdp => Hook::Xdp,
                HookArg::Tc => Hook::Tc,
            })
            .collect(),
        xdp_mode: match args.xdp_mode {
            XdpModeArg::Auto => XdpModeChoice::Auto,
            XdpModeArg::Driver => XdpModeChoice::Driver,
            XdpModeArg::Generic => XdpModeChoice::Generic,
        },
        sip_ports: args.ports,
        tls_ports: args.tls_ports,
        sniff_udp: !args.no_sniff,
        snap_len: args.snap_len,
        ring_bytes: args.ring_size,
        ..CaptureConfig::new(&args.interface)
    };
    let view = view(args.json, args.table, args.quiet, args.verbose);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let stop = stop_signal(args.duration.map(Duration::from_secs_f64))?;
        let capture = LiveCapture::attach(&config)
            .with_context(|| format!("capture on {}", args.interface))?;
        eprintln!(
            "sipwatch: capturing SIP on {}; Ctrl-C to stop",
            capture.describe()
        );
        let file = match &args.write {
            Some(path) => Some(
                PcapNgWriter::create(
                    path,
                    args.rotate.map(|max| Rotation {
                        max_bytes: u64::from(max),
                        max_files: args.keep,
                    }),
                )
                .context("opening the capture file")?,
            ),
            None => None,
        };
        // Flushed after every batch by the pipeline: no per-line syscalls.
        let stdout = std::io::BufWriter::new(std::io::stdout().lock());
        capture
            .run(view, stdout, file, stop)
            .await
            .with_context(|| format!("capture on {}", args.interface))?;
        Ok(())
    })
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    let view = view(args.json, false, args.quiet, args.verbose);
    let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let analysis = sipwatch::analyze::run(&args.file, view, stdout)
        .with_context(|| format!("analysing {}", args.file.display()))?;
    if let Some(stopped) = analysis.stopped {
        anyhow::bail!(
            "{}: analysed {} frames, then stopped: {stopped}",
            args.file.display(),
            analysis.summary.pipeline.frames
        );
    }
    Ok(())
}

fn echo(args: EchoArgs) -> anyhow::Result<()> {
    let config = sipwatch::echo::EchoConfig {
        listen: args.listen,
        query: args.query,
        policy: sipwatch::echo::EchoPolicy {
            key: args.key.map(String::into_bytes),
            rate: args.rate,
            burst: args.burst,
            ..Default::default()
        },
        max_tcp_connections: args.max_tcp,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let stop = stop_signal(args.duration.map(Duration::from_secs_f64))?;
        let listening: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
        eprintln!(
            "sipwatch echo: answering probes on {} (UDP and TCP)",
            listening.join(", ")
        );
        let stats = sipwatch::echo::serve(config, stop).await?;
        println!(
            "{}",
            serde_json::to_string(&stats).context("writing the counters")?
        );
        Ok(())
    })
}

fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let resolve = |text: &str, port: u16| -> anyhow::Result<std::net::SocketAddr> {
        let with_port = if text.parse::<std::net::SocketAddr>().is_ok()
            || text
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            text.to_owned()
        } else {
            format!("{text}:{port}")
        };
        with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {text}"))?
            .next()
            .with_context(|| format!("{text} has no address"))
    };
    let target = resolve(&args.target, 5060)?;
    let query = match &args.query {
        Some(q) => resolve(q, 5099)?,
        None => std::net::SocketAddr::new(target.ip(), 5099),
    };
    let config = sipwatch::probe::ProbeConfig {
        target,
        query: Some(query),
        transports: args
            .transports
            .iter()
            .map(|t| match t {
                TransportArg::Udp => sipwatch::net::Transport::Udp,
                TransportArg::Tcp => sipwatch::net::Transport::Tcp,
            })
            .collect(),
        key: args.key.map(String::into_bytes),
        local_port: args.local_port,
        timeout: Duration::from_secs_f64(args.timeout),
        watch_nic: !args.no_nic,
        ports: args.ports,
    };
    let run = sipwatch::probe::probe(&config).context("probing")?;
    let outcomes = &run.outcomes;
    let (verdict, code) = sipwatch::probe::verdict(outcomes);
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "verdict": verdict,
            "probes": outcomes,
            "this_host_observed_on": run.nic.as_ref().ok(),
            "this_host_not_observed_because": run.nic.as_ref().err(),
        });
        serde_json::to_writer(&mut out, &report).context("writing the report")?;
        writeln!(out).context("writing the report")?;
    } else {
        match &run.nic {
            Ok(interface) => writeln!(out, "this host's own leg observed on {interface} (eBPF)"),
            Err(why) => writeln!(out, "this host's own leg not observed: {why}"),
        }
        .context("writing the report")?;
        sipwatch::probe::write_report(&mut out, outcomes).context("writing the report")?;
    }
    out.flush().ok();
    std::process::exit(code as i32);
}

/// The output the flags ask for (clap keeps them mutually exclusive).
fn view(json: bool, table: bool, quiet: bool, verbose: bool) -> LogView {
    match (json, table, quiet, verbose) {
        (true, ..) => LogView::Json,
        (_, true, ..) => LogView::Table,
        (_, _, true, _) => LogView::Quiet,
        (_, _, _, true) => LogView::Full,
        _ => LogView::FirstLine,
    }
}

/// Completes on Ctrl-C, SIGTERM, or after `duration`.
fn stop_signal(
    duration: Option<Duration>,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        let timer = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            () = timer => {}
        }
    })
}
