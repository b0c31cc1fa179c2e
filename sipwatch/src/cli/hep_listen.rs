//! `sipwatch hep-listen ADDR:PORT`, and the HEP flags `attach` shares.
use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context as _;
use sipwatch::{
    hep::decode::Rules,
    report::View,
    source::{HepSource, hep::MAX_CONNECTIONS},
};

use super::{ConfigArgs, OutputArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen for HEP, UDP and TCP (e.g. 0.0.0.0:9060): the
    /// address the PBX's hep.conf, siptrace or capture-server sends to.
    #[arg(value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// The password every HEP packet must carry (Asterisk's
    /// capture_password, Kamailio's auth_key); others are refused, counted.
    #[arg(long)]
    password: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// No message log: the registration table, redrawn every second.
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json", "events"])]
    table: bool,
    /// Stop by itself after this many seconds.
    #[arg(long, value_parser = super::seconds)]
    duration: Option<f64>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9560).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
}

/// The HEP listener's rules: its password, when one is asked for.
pub fn rules(password: Option<&str>) -> anyhow::Result<Rules> {
    if password == Some("") {
        anyhow::bail!("the HEP password cannot be empty; leave it out to take HEP without one");
    }
    Ok(Rules {
        password: password.map(|p| p.as_bytes().to_vec()),
        ..Rules::default()
    })
}

/// Binds the HEP listener, telling where.
pub fn bind(listen: SocketAddr, rules: Rules) -> anyhow::Result<HepSource> {
    let source = HepSource::bind(listen, rules)?;
    eprintln!(
        "sipwatch: listening for HEP v3 and v2 on {} (UDP and TCP, at most {MAX_CONNECTIONS} connections); it never answers",
        source.local_addr()
    );
    Ok(source)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rules = rules(args.password.as_deref())?;
    let mut plan = args.output.plan();
    if args.table {
        plan.view = View::Table;
    }
    plan.metrics = args.metrics;
    plan.config = args.config.trunks()?;
    super::runtime()?.block_on(async {
        let stop = super::stop_signal(args.duration)?;
        let source = bind(args.listen, rules)?;
        let outputs = plan.build()?;
        if let Some(bound) = outputs.metrics_at {
            eprintln!("sipwatch: metrics on http://{bound}/metrics");
        }
        let stdout = std::io::BufWriter::new(std::io::stdout().lock());
        sipwatch::live::listen(source, outputs.list, stdout, stop)
            .await
            .with_context(|| format!("HEP on {}", args.listen))?;
        Ok(ExitCode::SUCCESS)
    })
}
