//! `sipwatch doctor sip:provider`.
use std::{io::Write as _, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context as _;
use sipwatch::doctor::{self, Account, Config, Transport};

#[derive(clap::Args)]
pub struct Args {
    /// The provider: sip:provider.example.com, a host, HOST:PORT or an IP.
    target: String,
    /// The account's user (the user part of the AOR).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// The account's password (never printed).
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// The digest user name, when it differs from --user.
    #[arg(long, requires = "user")]
    auth_user: Option<String>,
    /// Transports to check; with tls, the TLS targets' certificates too.
    #[arg(long = "transport", value_delimiter = ',', default_values = ["udp", "tcp"])]
    transports: Vec<Transport>,
    /// The provider's port: no NAPTR / SRV lookup then (RFC 3263 §4.2).
    #[arg(long, value_parser = super::port)]
    port: Option<u16>,
    /// A DNS server to ask (IP or IP:PORT) instead of /etc/resolv.conf's.
    #[arg(long)]
    dns: Option<String>,
    /// UDP port to send from (default: an ephemeral one, so a running PBX
    /// is not disturbed); its own port only with a warning.
    #[arg(long, default_value_t = 0)]
    from_port: u16,
    /// Seconds to wait for each answer (UDP retransmits on the RFC 3261 schedule meanwhile).
    #[arg(long, default_value_t = 2.0, value_parser = super::seconds)]
    timeout: f64,
    /// CA certificates (PEM) to trust for TLS besides the system's.
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// The report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::new(&args.target);
    config.transports = args.transports;
    config.port = args.port;
    config.from_port = args.from_port;
    config.timeout = Duration::from_secs_f64(args.timeout);
    config.ca = args.ca;
    if let Some(dns) = &args.dns {
        config.dns = Some(dns_server(dns)?);
    }
    if let (Some(user), Some(password)) = (args.user, args.password) {
        config.account = Some(Account {
            user,
            auth_user: args.auth_user,
            password,
        });
    }
    if config.from_port != 0 {
        eprintln!(
            "{}",
            sipwatch::say::doctor::from_port_warning(config.from_port)
        );
    }
    let report = doctor::run(&config)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &sipwatch::say::doctor::json(&report))
            .context("writing the report")?;
        writeln!(out).context("writing the report")?;
    } else {
        sipwatch::say::doctor::write_report(&mut out, &report).context("writing the report")?;
    }
    out.flush().context("writing the report")?;
    Ok(ExitCode::from(report.exit_code()))
}

/// `192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53`.
fn dns_server(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip = text
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .with_context(|| format!("--dns {text:?}: give an IP address, or IP:PORT"))?;
    Ok(SocketAddr::new(ip, 53))
}
