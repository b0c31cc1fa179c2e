//! One module per command, each with its `Args` (clap) and its `run`; what
//! several commands share (output flags, the stop signal, the runtime) is
//! here. Commands return the exit code they want; errors end in [`exit`].
pub mod analyze;
pub mod assets;
pub mod attach;
pub mod doctor;
pub mod echo;
pub mod hep_listen;
pub mod lint;
pub mod probe;
pub mod tui;

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context as _;
use sipwatch::{
    net::SipSelection,
    report::{Detail, HepPlan, OutputPlan, View},
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
    /// No messages: one line per registration change, timeout, ICMP error,
    /// path audit finding and failed call (4xx-6xx to an INVITE), for a
    /// service's journal.
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
    /// matched by client_uri to the AOR, else by server_uri to the
    /// registrar; a refused password is checked against the captured digest.
    /// Default: /etc/asterisk when it holds either file; '' for none.
    #[arg(long, value_name = "DIR", alias = "asterisk-config", value_parser = path_or_none)]
    pub config_dir: Option<std::path::PathBuf>,
}

/// A path, or '' (clap refuses an empty path by default).
fn path_or_none(text: &str) -> Result<std::path::PathBuf, std::convert::Infallible> {
    Ok(std::path::PathBuf::from(text))
}

/// Where Asterisk keeps its configuration.
const ASTERISK_CONFIG: &str = "/etc/asterisk";

/// The files `--config-dir` reads.
const PJSIP_FILES: [&str; 2] = ["pjsip.conf", "pjsip_wizard.conf"];

impl ConfigArgs {
    /// The registrations the configuration sends: from the directory given,
    /// else from /etc/asterisk when it is there (a note on standard error
    /// says so; a file there that cannot be read is a warning, not an
    /// error, since nobody asked for it).
    pub fn trunks(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<sipwatch::pbx::config::trunks::Trunks>>> {
        let has_pjsip = |dir: &std::path::Path| PJSIP_FILES.iter().any(|f| dir.join(f).is_file());
        let load = |dir: &std::path::Path| {
            sipwatch::pbx::config::trunks::Trunks::load(dir)
                .with_context(|| format!("reading Asterisk's configuration in {}", dir.display()))
        };
        match &self.config_dir {
            Some(dir) if dir.as_os_str().is_empty() => Ok(None),
            Some(dir) => {
                if !has_pjsip(dir) {
                    anyhow::bail!(
                        "{}: no pjsip.conf or pjsip_wizard.conf here; give Asterisk's configuration directory with --config-dir",
                        dir.display()
                    );
                }
                Ok(Some(std::sync::Arc::new(load(dir)?)))
            }
            None => {
                let dir = std::path::Path::new(ASTERISK_CONFIG);
                if !has_pjsip(dir) {
                    return Ok(None);
                }
                match load(dir) {
                    Ok(trunks) => {
                        eprintln!(
                            "sipwatch: reading Asterisk's configuration in {ASTERISK_CONFIG} (--config-dir DIR for another, --config-dir '' for none)"
                        );
                        Ok(Some(std::sync::Arc::new(trunks)))
                    }
                    Err(e) => {
                        eprintln!("sipwatch: warning: {e:#}; going on without it");
                        Ok(None)
                    }
                }
            }
        }
    }
}

/// `--hep` and its companions, shared by `attach` and `analyze`.
#[derive(clap::Args)]
pub struct HepArgs {
    /// Send every SIP message, and each registration change, timeout, path
    /// finding and kernel drop as a HEP log record beside it, to this HEP v3
    /// receiver (HOMER's heplify-server, sngrep -L): [udp:|tcp:|tls:]HOST[:PORT],
    /// UDP and port 9060 unless given; repeat for several receivers.
    #[arg(long = "hep", value_name = "[udp:|tcp:|tls:]HOST[:PORT]")]
    pub hep: Vec<sipwatch::hep::send::Destination>,
    /// With --hep: the capture agent id HOMER shows for this node (0 to
    /// 4294967295; Asterisk's hep.conf `capture_id`).
    #[arg(long, default_value_t = 0, requires = "hep", value_name = "ID")]
    pub hep_id: u32,
    /// With --hep: the receiver's authentication key (heplify-server's
    /// `HEPAuth`, Asterisk's hep.conf `capture_password`), sent in clear.
    #[arg(long, requires = "hep", value_name = "KEY")]
    pub hep_password: Option<String>,
    /// With --hep: this capture node's name, shown by HOMER beside its id.
    #[arg(long, requires = "hep", value_name = "NAME")]
    pub hep_node_name: Option<String>,
    /// With --hep tls:…: certificates (PEM) trusted for the receiver beside
    /// the system's, for a private CA.
    #[arg(long, requires = "hep", value_name = "FILE.pem")]
    pub hep_ca: Option<std::path::PathBuf>,
}

impl HepArgs {
    /// The HEP output to build, when `--hep` is given; `when_full`: drop
    /// (live) or wait (a file).
    pub fn plan(&self, when_full: sipwatch::hep::send::WhenFull) -> Option<HepPlan> {
        if self.hep.is_empty() {
            return None;
        }
        Some(HepPlan {
            to: self.hep.clone(),
            capture_id: self.hep_id,
            password: self.hep_password.clone(),
            node_name: self.hep_node_name.clone(),
            when_full,
            ca: self.hep_ca.clone(),
        })
    }

    /// Tells where HEP goes, on standard error.
    pub fn announce(&self) {
        for to in &self.hep {
            eprintln!("sipwatch: sending HEP to {to}");
        }
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
    /// Only the messages whose From or To URI holds this (any case): an
    /// account (1001) or an address-of-record (1001@sip.provider.example).
    /// Every view and the tracker see only those (--write keeps every
    /// frame); the summary counts the others.
    #[arg(long, value_name = "TEXT")]
    pub aor: Option<String>,
    /// Only the messages from or to this address, or whose Request-URI or
    /// To host is this name (203.0.113.2, sip.provider.example).
    #[arg(long, value_name = "ADDRESS|NAME", value_parser = host_arg)]
    pub host: Option<String>,
    /// Only the messages of this Call-ID (exactly).
    #[arg(long, value_name = "CALL-ID")]
    pub call_id: Option<String>,
}

impl SelectionArgs {
    pub fn selection(&self) -> SipSelection {
        SipSelection::new(&self.ports, !self.no_sniff).taking_only(sipwatch::net::Only {
            aor: self.aor.clone(),
            host: self.host.clone(),
            call_id: self.call_id.clone(),
        })
    }
}

/// `--host`: an address as sipwatch prints it (`[2001:db8::1]` or any
/// spelling of it, made canonical) or a host name; never empty or spaced.
fn host_arg(text: &str) -> Result<String, String> {
    let bare = text.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    let name_like = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !name_like
        || bare
            .split('.')
            .all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "{text:?} is neither an IP address nor a host name (203.0.113.2, 2001:db8::1, sip.provider.example)"
        ));
    }
    Ok(bare.to_ascii_lowercase())
}

/// `--tls-keylog`: the TLS secrets to open SIP over TLS with.
#[derive(clap::Args)]
pub struct TlsArgs {
    /// An NSS key log (what SSLKEYLOGFILE makes OpenSSL, Python or baresip write): SIP over TLS is decrypted and analysed (on the SIP and TLS ports, and on any other port where the key log opens it); attach follows the file as it grows, copies the --tls-port packets and embeds the keys in --write's pcapng, which Wireshark then opens decrypted; analyze also reads the keys a pcapng file carries (editcap --inject-secrets).
    #[arg(long, value_name = "KEYLOG")]
    pub tls_keylog: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The key log read; each malformed line is told on standard error and
    /// the others are used. A key log that cannot be read is an error.
    pub fn keys(&self) -> anyhow::Result<sipwatch::tls::KeyLog> {
        let mut keys = sipwatch::tls::KeyLog::new();
        let Some(path) = &self.tls_keylog else {
            return Ok(keys);
        };
        let text = std::fs::read(path)
            .with_context(|| format!("reading the TLS key log {}", path.display()))?;
        let read = keys.add(&text, &path.display().to_string());
        // The first few, then how many more: a wrong file given as the key
        // log must not flood the terminal.
        for e in read.errors.iter().take(KEYLOG_LINES_TOLD) {
            eprintln!("sipwatch: {}", sipwatch::say::tls::keylog_line(e));
        }
        if let Some(more) = read
            .errors
            .len()
            .checked_sub(KEYLOG_LINES_TOLD)
            .filter(|n| *n > 0)
        {
            eprintln!(
                "sipwatch: {}",
                sipwatch::say::tls::keylog_more(more as u64, &path.display().to_string())
            );
        }
        if read.secrets == 0 {
            eprintln!(
                "sipwatch: {}",
                sipwatch::say::tls::keylog_empty(&path.display().to_string())
            );
        }
        Ok(keys)
    }
}

/// Malformed key log lines told one by one, at most.
const KEYLOG_LINES_TOLD: usize = 10;

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
