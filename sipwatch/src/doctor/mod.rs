//! `sipwatch doctor`: the half of a trunk's troubleshooting checklist that
//! comes before any capture, in one command (issue 26).
//!
//! Each step is a module with a typed result and [`report`] marks them;
//! [`crate::say::doctor`] holds every sentence said about them and puts
//! them in order, as a checklist or as one `doctor_report` JSON object:
//!
//! 1. [`dns`]: the provider's name resolved as a PBX does (RFC 3263:
//!    NAPTR → SRV → A / AAAA), into the ordered targets.
//! 2. [`reach`]: an OPTIONS to each target over each transport, through the
//!    shared [`crate::client`] transaction.
//! 3. [`public`]: the address the provider sees this host at, from the
//!    `received` / `rport` of its answers (RFC 3261 §18.2.1, RFC 3581).
//! 4. [`credentials`]: a REGISTER without Contact (the RFC 3261 §10.2.4
//!    query, which leaves the PBX's own binding alone), answered with digest
//!    credentials, and the bindings the registrar holds.
//! 5. [`tls`]: the TLS targets' handshake and certificate (rustls).
//!
//! ```no_run
//! use sipwatch::doctor::{self, Config};
//! let config = Config::new("sip:provider.example.com");
//! let report = doctor::run(&config)?;
//! println!("exit code {}", report.exit_code());
//! # Ok::<(), sipwatch::doctor::Unusable>(())
//! ```
pub mod credentials;
pub mod dns;
pub mod public;
pub mod reach;
pub mod report;
pub mod tls;

#[cfg(test)]
mod tests;

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant, SystemTime},
};

use serde::Serialize;

pub use report::{Mark, Report};

/// A SIP transport the doctor can name (RFC 3261 §18, RFC 3263 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Transport {
    /// SIP over UDP (`SIP+D2U`, `_sip._udp`).
    Udp,
    /// SIP over TCP (`SIP+D2T`, `_sip._tcp`).
    Tcp,
    /// SIP over TLS (`SIPS+D2T`, `_sips._tcp`).
    Tls,
}

impl Transport {
    /// The port a target without a port or SRV record uses: 5060, 5061 for
    /// TLS (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }

    /// The SRV name's prefix (RFC 3263 §4.1): `_sip._udp`, `_sip._tcp`,
    /// `_sips._tcp`.
    pub fn srv_prefix(self) -> &'static str {
        match self {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        }
    }

    /// The NAPTR service field for it (RFC 3263 §4.1): `SIP+D2U`,
    /// `SIP+D2T`, `SIPS+D2T`.
    pub fn naptr_service(self) -> &'static str {
        match self {
            Transport::Udp => "SIP+D2U",
            Transport::Tcp => "SIP+D2T",
            Transport::Tls => "SIPS+D2T",
        }
    }

    /// The name in a Via header and in messages: `UDP`, `TCP`, `TLS`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the doctor is asked to check.
#[derive(Clone, Debug)]
pub struct Config {
    /// The provider as typed: `sip:provider.example.com`, `provider.example.com`,
    /// `provider.example.com:5080`, an IP, `[IPv6]:port`.
    pub target: String,
    /// The transports to check, in this order.
    pub transports: Vec<Transport>,
    /// A port that overrides RFC 3263's choice (no NAPTR / SRV lookup then,
    /// §4.2).
    pub port: Option<u16>,
    /// A DNS server to ask instead of those of `/etc/resolv.conf`.
    pub dns: Option<SocketAddr>,
    /// The local port for UDP (0: an ephemeral one, so a running PBX is
    /// not disturbed).
    pub from_port: u16,
    /// The longest wait for one answer (an OPTIONS, a REGISTER, a DNS
    /// query, a TCP handshake).
    pub timeout: Duration,
    /// The account to test, when given.
    pub account: Option<Account>,
    /// At most this many targets are tried per transport.
    pub max_targets: usize,
    /// CA certificates (PEM) trusted besides the system's, for TLS.
    pub ca: Option<std::path::PathBuf>,
}

impl Config {
    /// Defaults: UDP and TCP, ephemeral source port, 2 s per answer, no
    /// credentials, at most 4 targets per transport.
    pub fn new(target: &str) -> Config {
        Config {
            target: target.to_owned(),
            transports: vec![Transport::Udp, Transport::Tcp],
            port: None,
            dns: None,
            from_port: 0,
            timeout: Duration::from_secs(2),
            account: None,
            max_targets: 4,
            ca: None,
        }
    }
}

/// The credentials of the account to test; the password is never printed
/// or written.
#[derive(Clone)]
pub struct Account {
    /// The user part of the AOR (`sip:user@domain`).
    pub user: String,
    /// The digest user name when it differs from the user (PJSIP auth
    /// `username`, chan_sip `defaultuser`).
    pub auth_user: Option<String>,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field("auth_user", &self.auth_user)
            .field("password", &"…")
            .finish()
    }
}

/// The target split out of what was typed: the host (a name or an IP) and
/// the port when written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The host as typed (no brackets).
    pub host: String,
    /// The host as an IP, when it is one.
    pub ip: Option<IpAddr>,
    /// The port when typed.
    pub port: Option<u16>,
}

/// Why the doctor could not start at all (an error: exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    /// The target is not a SIP URI or host.
    #[error("{0:?} is not a SIP URI or a host name")]
    Target(String),
    /// The async runtime for the DNS lookups could not start.
    #[error("cannot start the DNS resolver")]
    Runtime(#[source] std::io::Error),
    /// The `--ca` file cannot be read.
    #[error("--ca")]
    Ca(#[source] std::io::Error),
}

impl Provider {
    /// Splits `sip:user@host:port;params`, `sips:host`, `host`, `host:port`,
    /// `[v6]:port`.
    pub fn parse(text: &str) -> Result<Provider, Unusable> {
        let bad = || Unusable::Target(text.to_owned());
        let mut rest = text.trim();
        for scheme in ["sips:", "sip:", "SIP:", "SIPS:"] {
            if let Some(r) = rest.strip_prefix(scheme) {
                rest = r;
                break;
            }
        }
        let rest = rest.split([';', '?', '>']).next().unwrap_or("");
        let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(bad());
        }
        let target = crate::client::Target::parse(rest);
        let (host, ip) = match target.host {
            crate::client::Host::Ip(ip) => (ip.to_string(), Some(ip)),
            crate::client::Host::Name(name) => {
                let ok = name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
                if !ok || name.len() > 253 {
                    return Err(bad());
                }
                (name.trim_end_matches('.').to_owned(), None)
            }
        };
        if target.port == Some(0) {
            return Err(bad());
        }
        Ok(Provider {
            host,
            ip,
            port: target.port,
        })
    }
}

/// A step's result with the time it took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timed<T> {
    /// How long the step took, in milliseconds.
    pub took_ms: f64,
    /// What it found.
    #[serde(flatten)]
    pub result: T,
}

/// At most this many characters of a value a peer sent are kept.
pub const MAX_SHOWN: usize = 256;

/// A value a peer sent (a header, a record, a certificate's subject), made
/// safe to print: control characters (a terminal's escape sequences) become
/// `�`, and it is cut at [`MAX_SHOWN`] characters with `…`.
pub fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_SHOWN)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(MAX_SHOWN).is_some() {
        out.push('…');
    }
    out
}

/// Runs `f`, timing it.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> Timed<T> {
    let start = Instant::now();
    let result = f();
    Timed {
        took_ms: ms(start.elapsed()),
        result,
    }
}

/// A duration in milliseconds, to the microsecond.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// A fresh token for branches, tags and Call-IDs: hex of a randomly keyed
/// hash of the time and a counter.
pub(crate) fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Runs the whole checklist. Errors only when nothing can be tested (the
/// target cannot be read, the resolver cannot start); everything else is a
/// line of the report.
pub fn run(config: &Config) -> Result<Report, Unusable> {
    let started = SystemTime::now();
    let provider = Provider::parse(&config.target)?;
    let roots = if config.transports.contains(&Transport::Tls) {
        std::sync::Arc::new(tls::roots(config.ca.as_deref()).map_err(Unusable::Ca)?)
    } else {
        std::sync::Arc::new(rustls::RootCertStore::empty())
    };
    let dns = if provider.ip.is_some() {
        timed(|| dns::Resolution::literal(&provider, config))
    } else {
        let source = dns::HickoryDns::new(config.dns, config.timeout).map_err(Unusable::Runtime)?;
        timed(|| dns::resolve(&source, &provider, config))
    };
    let reach = reach::check_all(&provider, &dns.result.targets, config);
    let tls = tls::check_all(&provider, &dns.result.targets, config, &roots);
    let public = timed(|| public::from_answers(&reach));
    let credentials = timed(|| match &config.account {
        Some(account) => credentials::check(&provider, &reach, account, config),
        None => credentials::Credentials::NotAsked,
    });
    Ok(Report {
        target: config.target.clone(),
        time: started,
        dns,
        reach,
        public,
        credentials,
        tls,
    })
}
