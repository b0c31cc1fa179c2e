//! `sipwatch echo`.
use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context as _;
use sipwatch::echo::{EchoConfig, EchoPolicy};

#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on (UDP and TCP); repeat for several.
    #[arg(long, default_values = ["0.0.0.0:5060"])]
    listen: Vec<SocketAddr>,
    /// Where to answer `SEEN? <id>` queries (TCP), so that a prober whose
    /// answers never come back still learns whether its probes arrived, and
    /// `MIRROR? <id>` for a request too large to mirror in one unfragmented
    /// UDP answer [default: port 5099 on each --listen address].
    #[arg(long, conflicts_with = "no_query")]
    query: Vec<SocketAddr>,
    /// Offer no query channel.
    #[arg(long)]
    no_query: bool,
    /// Answer only probes signed with this shared key, and sign the answers.
    #[arg(long)]
    key: Option<String>,
    /// Probes per second answered per source address (sustained).
    #[arg(long, default_value_t = 10.0, value_parser = super::positive)]
    rate: f64,
    /// Probes answered per source address in a burst.
    #[arg(long, default_value_t = 20.0, value_parser = super::positive)]
    burst: f64,
    /// TCP connections served at once.
    #[arg(long, default_value_t = 256)]
    max_tcp: usize,
    /// Stop by itself after this many seconds.
    #[arg(long, value_parser = super::seconds)]
    duration: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let query = match (args.no_query, args.query.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => EchoConfig::default_query(&args.listen),
        (false, false) => args.query,
    };
    let config = EchoConfig {
        listen: args.listen,
        query,
        policy: EchoPolicy {
            key: args.key.map(String::into_bytes),
            rate: args.rate,
            burst: args.burst,
            ..Default::default()
        },
        max_tcp_connections: args.max_tcp,
    };
    super::runtime()?.block_on(async {
        let stop = super::stop_signal(args.duration)?;
        let list = |a: &[SocketAddr]| {
            a.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let query = if config.query.is_empty() {
            "no query channel".to_owned()
        } else {
            format!("query channel on {} (TCP)", list(&config.query))
        };
        let announce = format!(
            "sipwatch echo: answering probes on {} (UDP and TCP); {query}",
            list(&config.listen)
        );
        let stats =
            sipwatch::echo::serve_announced(config, || eprintln!("{announce}"), stop).await?;
        println!(
            "{}",
            serde_json::to_string(&stats).context("writing the counters")?
        );
        Ok(ExitCode::SUCCESS)
    })
}
