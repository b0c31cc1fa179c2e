//! One module per command, each with its `Args` (clap) and its `run`; what
//! several commands share (output flags, the stop signal, the runtime) is
//! here. Commands return the exit code they want; errors end in [`exit`].
pub mod analyze;
pub mod attach;
pub mod doctor;
pub mod echo;
pub mod hep_listen;
pub mod lint;
pub mod probe;

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context as _;
use sipwatch::{
    net::SipSelection,
    report::{Detail, OutputPlan, View},
};

/// How much of each message to print, shared by `attach` and `analyze`:
/// the view of their [`OutputPlan`] (`attach` adds its table, `--write`
/// and `--metrics` to the same plan).
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Print whole messages, not just their first line.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print no messages, only the summary at the end.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// One JSON object per message and event (JSON Lines), then a summary object.
    #[arg(long, conflicts_with_all = ["verbose", "quiet"])]
    pub json: bool,
    /// No messages: one line per registration change, timeout, ICMP error
    /// and path audit finding (for a service's journal).
    #[arg(long, conflicts_with_all = ["verbose", "quiet", "json"])]
    pub events: bool,
}

impl OutputArgs {
    /// The outputs the flags ask for, every other output left out.
    pub fn plan(&self) -> OutputPlan {
        OutputPlan::view(self.view())
    }

    /// The view the flags ask for (clap keeps them mutually exclusive).
    pub fn view(&self) -> View {
        match (self.json, self.quiet, self.verbose, self.events) {
            (true, ..) => View::Json,
            (_, true, ..) => View::Text(Detail::Quiet),
            (_, _, true, _) => View::Text(Detail::Full),
            (.., true) => View::Text(Detail::Events),
            _ => View::Text(Detail::FirstLine),
        }
    }
}

/// `--config-dir`, shared by `attach` and `analyze`: Asterisk's
/// configuration, so that each diagnosis names the section that sends the
/// registration.
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// Asterisk's configuration directory (pjsip.conf, pjsip_wizard.conf):
    /// each registration's fix names the section and line that send it,
    /// matched by client_uri to the AOR, else by server_uri to the registrar.
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<std::path::PathBuf>,
}

impl ConfigArgs {
    /// The registrations the configuration sends, when a directory is given.
    pub fn trunks(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<sipwatch::pbx::config::trunks::Trunks>>> {
        let Some(dir) = &self.config_dir else {
            return Ok(None);
        };
        if !["pjsip.conf", "pjsip_wizard.conf"]
            .iter()
            .any(|f| dir.join(f).is_file())
        {
            anyhow::bail!(
                "{}: no pjsip.conf or pjsip_wizard.conf here; give Asterisk's configuration directory with --config-dir",
                dir.display()
            );
        }
        let trunks = sipwatch::pbx::config::trunks::Trunks::load(dir)
            .with_context(|| format!("reading Asterisk's configuration in {}", dir.display()))?;
        Ok(Some(std::sync::Arc::new(trunks)))
    }
}

/// `HOST`, `HOST:PORT`, `IPv4`, `[IPv6]:PORT`: the address the
/// [`sipwatch::client`] resolver chooses (the first the system gives, in
/// its RFC 6724 order), which the commands print.
pub fn resolve(text: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    Ok(sipwatch::client::resolve(text, default_port)?.chosen())
}

/// Which traffic is SIP, shared by `attach` (what the kernel copies) and
/// `analyze` (what it reads from a file), so a file reads as the live
/// capture would have selected.
#[derive(clap::Args)]
pub struct SelectionArgs {
    /// SIP ports (UDP and TCP); repeat or separate with commas.
    #[arg(long = "port", value_delimiter = ',', default_values_t = [5060u16, 5080], value_parser = port)]
    pub ports: Vec<u16>,
    /// Only the SIP ports: nothing on other ports is SIP, even when it starts like SIP.
    #[arg(long)]
    pub no_sniff: bool,
}

impl SelectionArgs {
    pub fn selection(&self) -> SipSelection {
        SipSelection::new(&self.ports, !self.no_sniff)
    }
}

/// A port: a number from 1 to 65535, said so when it is not.
pub fn port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(_) => Err("a port is from 1 to 65535".into()),
        Err(_) if text.trim().is_empty() => Err("a port number is missing".into()),
        Err(_) => Err(format!("{text:?} is not a port number (1 to 65535)")),
    }
}

/// Seconds as a user writes them (`2`, `0.5`): finite, above zero, at most
/// a year, so that no duration overflows.
pub fn seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 365.0 * 86_400.0 {
        Ok(v)
    } else {
        Err(format!(
            "{text:?}: give a number of seconds above 0, at most a year"
        ))
    }
}

/// A rate or a count as a user writes it: finite and above zero.
pub fn positive(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1e9 {
        Ok(v)
    } else {
        Err(format!("{text:?}: give a number above 0"))
    }
}

/// The async runtime of the live commands: one thread, as the work is
/// one stream of packets.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Completes on Ctrl-C, SIGTERM, or after `seconds`.
pub fn stop_signal(seconds: Option<f64>) -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let duration = seconds.map(Duration::from_secs_f64);
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

/// The process's exit code: the command's own, 0 when a reader of our
/// output left early (`sipwatch analyze … | head`), 1 with the error
/// printed otherwise.
pub fn exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            let reader_left = e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if reader_left {
                return ExitCode::SUCCESS;
            }
            eprintln!("sipwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}
