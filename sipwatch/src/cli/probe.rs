//! `sipwatch probe HOST`.
use std::{io::Write as _, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context as _;
use sipwatch::{
    echo::DEFAULT_QUERY_PORT,
    net::Transport,
    probe::{ProbeConfig, write_report},
};

#[derive(clap::Args)]
pub struct Args {
    /// The echo: HOST or HOST:PORT (port 5060 by default).
    target: String,
    /// The echo's query channel [default: the echo's host, port 5099].
    #[arg(long)]
    query: Option<String>,
    /// The echo's ports to probe, e.g. 5060,5080 (default: the target's).
    #[arg(long, value_delimiter = ',', value_parser = super::port)]
    ports: Vec<u16>,
    /// Transports to probe.
    #[arg(long = "transport", value_delimiter = ',', default_values = ["udp", "tcp"])]
    transports: Vec<Transport>,
    /// The shared key the echo was started with.
    #[arg(long)]
    key: Option<String>,
    /// Port to send from, as a PBX does (0: any free port, named in the headers).
    #[arg(long, default_value_t = 5060)]
    local_port: u16,
    /// Seconds to wait for each answer (UDP retransmits on the RFC 3261 schedule meanwhile).
    #[arg(long, default_value_t = 8.0, value_parser = super::seconds)]
    timeout: f64,
    /// The report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Show each finding's full values as sent and as received.
    #[arg(short, long, conflicts_with = "json")]
    verbose: bool,
    /// Do not watch this host's own leg with the eBPF capture (which needs root).
    #[arg(long)]
    no_nic: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let target = super::resolve(&args.target, 5060)?;
    let query = match &args.query {
        Some(q) => super::resolve(q, DEFAULT_QUERY_PORT)?,
        None => SocketAddr::new(target.ip(), DEFAULT_QUERY_PORT),
    };
    let config = ProbeConfig {
        target,
        query: Some(query),
        transports: args.transports,
        key: args.key.map(String::into_bytes),
        local_port: args.local_port,
        timeout: Duration::from_secs_f64(args.timeout),
        watch_nic: !args.no_nic,
        ports: args.ports,
    };
    let report = sipwatch::probe::probe(&config).context("probing")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report).context("writing the report")?;
        writeln!(out).context("writing the report")?;
    } else {
        write_report(&mut out, &report, args.verbose).context("writing the report")?;
    }
    out.flush().context("writing the report")?;
    Ok(ExitCode::from(report.exit_code() as u8))
}
