//! Step 1: the provider's name resolved as a PBX resolves a `server_uri`
//! without a port (RFC 3263 §4): NAPTR → SRV → A / AAAA, every record with
//! its TTL, and the targets in the order they are tried.
//!
//! The lookups go through [`Dns`], so that the ordering is tested on
//! records built in the test; [`HickoryDns`] asks the servers of
//! `/etc/resolv.conf`, or the one given with `--dns`.
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use serde::Serialize;

use super::{Config, Provider, Transport};

/// A NAPTR record (RFC 3403), as RFC 3263 §4.1 reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Naptr {
    /// The name it was found at.
    pub name: String,
    /// Processed lowest first.
    pub order: u16,
    /// Among equal orders, lowest first.
    pub preference: u16,
    /// `s`: the replacement is an SRV name.
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`…
    pub services: String,
    /// The SRV name to look up next.
    pub replacement: String,
    /// Time to live, in seconds.
    pub ttl_s: u32,
}

/// An SRV record (RFC 2782).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Srv {
    /// `_sip._udp.provider.example.com`.
    pub name: String,
    /// Lowest first.
    pub priority: u16,
    /// Among equal priorities, the share of the load.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host (`.`: the service is not offered).
    pub target: String,
    /// Time to live, in seconds.
    pub ttl_s: u32,
}

/// An A or AAAA record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The name looked up.
    pub name: String,
    /// The address.
    pub ip: IpAddr,
    /// Time to live, in seconds.
    pub ttl_s: u32,
}

/// A CNAME met on the way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cname {
    /// The alias.
    pub name: String,
    /// What it points to.
    pub target: String,
    /// Time to live, in seconds.
    pub ttl_s: u32,
}

/// What a lookup answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// NAPTR records.
    pub naptr: Vec<Naptr>,
    /// SRV records.
    pub srv: Vec<Srv>,
    /// A / AAAA records.
    pub addresses: Vec<Address>,
    /// CNAMEs followed.
    pub cnames: Vec<Cname>,
}

/// The kinds of record asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// NAPTR.
    Naptr,
    /// SRV.
    Srv,
    /// A and AAAA (both asked).
    Address,
}

/// Why a lookup has no answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Failure {
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// The name exists but has no record of the kind asked (NOERROR, no
    /// answer).
    NoRecords,
    /// The server answered with an error code (SERVFAIL, REFUSED…).
    ServerError {
        /// The response code, as DNS names it.
        code: String,
    },
    /// No server answered in time.
    Timeout,
    /// Anything else (no server configured, a network error).
    Other {
        /// The resolver's words.
        error: String,
    },
}

/// Asks DNS for one kind of record at one name.
pub trait Dns {
    /// The records of `kind` at `name` (a name without a final dot is
    /// looked up as written, not through the search list).
    fn query(&self, name: &str, kind: Kind) -> Result<Answer, Failure>;
    /// The servers asked, for the report: `192.0.2.53:53 (--dns)`.
    fn servers(&self) -> String;
}

/// How a target was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// NAPTR → SRV → A / AAAA.
    Naptr,
    /// SRV → A / AAAA (no NAPTR).
    Srv,
    /// A / AAAA on the default or given port (no SRV, or a port given).
    Address,
    /// An IP literal: nothing looked up.
    Literal,
}

/// One place to send to, in the order a PBX tries them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Transport.
    pub transport: Transport,
    /// The host name it came from (the SRV target, or the provider's).
    pub host: String,
    /// Address and port.
    pub address: SocketAddr,
    /// How it was found.
    pub via: Via,
}

/// Something DNS said that a PBX admin needs to know, each with its words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Finding {
    /// No NAPTR: SRV records are looked up for each transport (§4.1).
    NoNaptr,
    /// No SRV record at all: A / AAAA of the name on the default port
    /// (§4.2).
    NoSrv {
        /// The port used instead.
        port: u16,
    },
    /// SRV records exist, but not for this transport: a PBX using it
    /// falls back to nothing.
    NoSrvFor {
        /// The transport without SRV.
        transport: Transport,
        /// The name looked up.
        name: String,
    },
    /// An SRV target that has no A / AAAA record: the records disagree.
    SrvTargetWithoutAddress {
        /// The SRV record's name.
        srv: String,
        /// Its target.
        target: String,
        /// Why it had none.
        failure: Failure,
    },
    /// An SRV target `.`: the service is declared not offered (RFC 2782).
    ServiceNotOffered {
        /// The SRV name.
        srv: String,
    },
    /// A NAPTR whose replacement has no SRV record.
    NaptrWithoutSrv {
        /// The replacement.
        replacement: String,
    },
    /// A port was given: no NAPTR / SRV lookup (§4.2).
    PortGiven {
        /// The port.
        port: u16,
    },
    /// Only the first targets are tried.
    TargetsCut {
        /// Targets found.
        found: usize,
    },
}

/// The DNS step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The name resolved.
    pub name: String,
    /// The servers asked (`None` for an IP literal).
    pub servers: Option<String>,
    /// NAPTR records found.
    pub naptr: Vec<Naptr>,
    /// SRV records found.
    pub srv: Vec<Srv>,
    /// A / AAAA records found.
    pub addresses: Vec<Address>,
    /// CNAMEs followed.
    pub cnames: Vec<Cname>,
    /// The targets, in order.
    pub targets: Vec<Target>,
    /// What was noticed.
    pub findings: Vec<Finding>,
    /// Why there is no target at all, when none.
    pub failure: Option<Failure>,
}

impl Resolution {
    /// An IP literal: its own address, on the given or default port, for
    /// each transport.
    pub fn literal(provider: &Provider, config: &Config) -> Resolution {
        let ip = provider.ip.expect("a literal");
        let targets = config
            .transports
            .iter()
            .map(|&t| Target {
                transport: t,
                host: provider.host.clone(),
                address: SocketAddr::new(
                    ip,
                    config.port.or(provider.port).unwrap_or(t.default_port()),
                ),
                via: Via::Literal,
            })
            .collect();
        Resolution {
            name: provider.host.clone(),
            servers: None,
            naptr: Vec::new(),
            srv: Vec::new(),
            addresses: Vec::new(),
            cnames: Vec::new(),
            targets,
            findings: Vec::new(),
            failure: None,
        }
    }

    fn empty(name: &str, servers: String) -> Resolution {
        Resolution {
            name: name.to_owned(),
            servers: Some(servers),
            naptr: Vec::new(),
            srv: Vec::new(),
            addresses: Vec::new(),
            cnames: Vec::new(),
            targets: Vec::new(),
            findings: Vec::new(),
            failure: None,
        }
    }

    fn take(&mut self, answer: Answer) {
        for c in answer.cnames {
            if !self.cnames.contains(&c) {
                self.cnames.push(c);
            }
        }
        self.naptr.extend(answer.naptr);
        for s in answer.srv {
            if !self.srv.contains(&s) {
                self.srv.push(s);
            }
        }
        for a in answer.addresses {
            if !self.addresses.contains(&a) {
                self.addresses.push(a);
            }
        }
    }

    /// Whether DNS could not be asked at all (no server answered): the
    /// doctor could not test, rather than found a fault.
    pub fn unreachable(&self) -> bool {
        matches!(self.failure, Some(Failure::Timeout | Failure::Other { .. }))
    }
}

/// A name looked up as written: a final dot keeps the search list out.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// A name as shown: without the final dot.
fn shown(name: &str) -> String {
    name.trim_end_matches('.').to_owned()
}

/// SRV records in the order RFC 2782 tries them: priority ascending; among
/// equal priorities the weights share the load at random, shown here
/// heaviest first (the likeliest first choice).
pub fn srv_order(records: &mut [Srv]) {
    records.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.weight.cmp(&a.weight))
            .then(a.target.cmp(&b.target))
    });
}

/// NAPTR records RFC 3263 §4.1 uses for SIP, in its order: flag `s`, a
/// service among `transports`, ordered by order then preference.
pub fn naptr_order(records: &[Naptr], transports: &[Transport]) -> Vec<(Naptr, Transport)> {
    let mut usable: Vec<(Naptr, Transport)> = records
        .iter()
        .filter(|n| n.flags.eq_ignore_ascii_case("s"))
        .filter_map(|n| {
            transports
                .iter()
                .find(|t| n.services.eq_ignore_ascii_case(t.naptr_service()))
                .map(|&t| (n.clone(), t))
        })
        .collect();
    usable.sort_by(|(a, _), (b, _)| a.order.cmp(&b.order).then(a.preference.cmp(&b.preference)));
    usable
}

/// RFC 3263 §4 for `provider` (a name), over `dns`.
pub fn resolve(dns: &dyn Dns, provider: &Provider, config: &Config) -> Resolution {
    let mut r = Resolution::empty(&provider.host, dns.servers());
    let name = fqdn(&provider.host);
    if let Some(port) = config.port.or(provider.port) {
        r.findings.push(Finding::PortGiven { port });
        by_address(dns, &mut r, &name, port, &config.transports, Via::Address);
        return cut(r, config);
    }
    // §4.1: NAPTR first.
    let mut srv_names: Vec<(String, Transport, Via)> = Vec::new();
    match dns.query(&name, Kind::Naptr) {
        Ok(answer) => {
            r.take(answer);
            r.naptr
                .sort_by_key(|n| (n.order, n.preference, n.services.clone()));
            let ordered = naptr_order(&r.naptr, &config.transports);
            if ordered.is_empty() {
                r.findings.push(Finding::NoNaptr);
            }
            for (n, t) in ordered {
                srv_names.push((n.replacement.clone(), t, Via::Naptr));
            }
        }
        Err(Failure::NoRecords) => r.findings.push(Finding::NoNaptr),
        Err(f) => {
            r.failure = Some(f);
            return r;
        }
    }
    if srv_names.is_empty() {
        for &t in &config.transports {
            srv_names.push((format!("{}.{}", t.srv_prefix(), name), t, Via::Srv));
        }
    }
    let mut any_srv = false;
    let mut per_transport: BTreeMap<Transport, bool> = BTreeMap::new();
    for (srv_name, transport, via) in srv_names {
        let mut records = match dns.query(&fqdn(&srv_name), Kind::Srv) {
            Ok(answer) => {
                let srv = answer.srv.clone();
                r.take(Answer {
                    srv: Vec::new(),
                    ..answer
                });
                srv
            }
            Err(Failure::NoRecords | Failure::NxDomain) => {
                if via == Via::Naptr {
                    r.findings.push(Finding::NaptrWithoutSrv {
                        replacement: shown(&srv_name),
                    });
                }
                per_transport.entry(transport).or_insert(false);
                continue;
            }
            Err(f) => {
                r.failure = Some(f);
                return r;
            }
        };
        srv_order(&mut records);
        for s in &records {
            if !r.srv.contains(s) {
                r.srv.push(s.clone());
            }
        }
        any_srv |= !records.is_empty();
        *per_transport.entry(transport).or_insert(false) |= !records.is_empty();
        for s in records {
            if s.target == "." || s.target.is_empty() {
                r.findings.push(Finding::ServiceNotOffered {
                    srv: s.name.clone(),
                });
                continue;
            }
            match dns.query(&fqdn(&s.target), Kind::Address) {
                Ok(answer) if !answer.addresses.is_empty() => {
                    for a in &answer.addresses {
                        push_target(
                            &mut r,
                            transport,
                            &s.target,
                            SocketAddr::new(a.ip, s.port),
                            via,
                        );
                    }
                    r.take(answer);
                }
                Ok(_) => r.findings.push(Finding::SrvTargetWithoutAddress {
                    srv: s.name.clone(),
                    target: s.target.clone(),
                    failure: Failure::NoRecords,
                }),
                Err(failure) => r.findings.push(Finding::SrvTargetWithoutAddress {
                    srv: s.name.clone(),
                    target: s.target.clone(),
                    failure,
                }),
            }
        }
    }
    if !any_srv {
        let port = |t: Transport| t.default_port();
        r.findings.push(Finding::NoSrv {
            port: port(Transport::Udp),
        });
        by_address(dns, &mut r, &name, 0, &config.transports, Via::Address);
        return cut(r, config);
    }
    for (transport, found) in per_transport {
        if !found {
            r.findings.push(Finding::NoSrvFor {
                transport,
                name: format!("{}.{}", transport.srv_prefix(), provider.host),
            });
        }
    }
    if r.targets.is_empty() && r.failure.is_none() {
        r.failure = Some(Failure::NoRecords);
    }
    cut(r, config)
}

fn push_target(
    r: &mut Resolution,
    transport: Transport,
    host: &str,
    address: SocketAddr,
    via: Via,
) {
    let t = Target {
        transport,
        host: shown(host),
        address,
        via,
    };
    if !r.targets.contains(&t) {
        r.targets.push(t);
    }
}

/// A / AAAA of `name`, on `port` (0: each transport's default).
fn by_address(
    dns: &dyn Dns,
    r: &mut Resolution,
    name: &str,
    port: u16,
    transports: &[Transport],
    via: Via,
) {
    match dns.query(name, Kind::Address) {
        Ok(answer) if !answer.addresses.is_empty() => {
            for &t in transports {
                let port = if port == 0 { t.default_port() } else { port };
                for a in &answer.addresses {
                    push_target(r, t, name, SocketAddr::new(a.ip, port), via);
                }
            }
            r.take(answer);
        }
        Ok(answer) => {
            r.take(answer);
            r.failure = Some(Failure::NoRecords);
        }
        Err(f) => r.failure = Some(f),
    }
}

/// Keeps the first [`Config::max_targets`] of each transport.
fn cut(mut r: Resolution, config: &Config) -> Resolution {
    let found = r.targets.len();
    let mut seen: BTreeMap<Transport, usize> = BTreeMap::new();
    r.targets.retain(|t| {
        let n = seen.entry(t.transport).or_insert(0);
        *n += 1;
        *n <= config.max_targets
    });
    if r.targets.len() < found {
        r.findings.push(Finding::TargetsCut { found });
    }
    r
}

/// The DNS of this host (`/etc/resolv.conf`) or one server, through
/// hickory-resolver, on a runtime of its own.
pub struct HickoryDns {
    resolver: hickory_resolver::TokioResolver,
    runtime: tokio::runtime::Runtime,
    servers: String,
}

impl HickoryDns {
    /// The system's servers, or `server` alone; each query waits at most
    /// `timeout` and is tried twice.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> std::io::Result<HickoryDns> {
        use hickory_resolver::{
            Resolver,
            config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts},
            net::runtime::TokioRuntimeProvider,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (config, mut options, servers) = match server {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                ns.connections = vec![udp, tcp];
                (
                    ResolverConfig::from_name_servers(vec![ns]),
                    ResolverOpts::default(),
                    format!("{server} (--dns)"),
                )
            }
            None => {
                let (config, options) = hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| std::io::Error::other(format!("reading /etc/resolv.conf: {e}")))?;
                let servers = config
                    .name_servers()
                    .iter()
                    .map(|n| n.ip.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    config,
                    options,
                    format!("{servers} (from /etc/resolv.conf)"),
                )
            }
        };
        options.timeout = timeout;
        options.attempts = 1;
        options.cache_size = 0;
        let _guard = runtime.enter();
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        drop(_guard);
        Ok(HickoryDns {
            resolver,
            runtime,
            servers,
        })
    }

    fn one(
        &self,
        name: &str,
        kind: hickory_resolver::proto::rr::RecordType,
    ) -> Result<Answer, Failure> {
        use hickory_resolver::proto::rr::RData;
        let lookup = self
            .runtime
            .block_on(self.resolver.lookup(name, kind))
            .map_err(failure)?;
        let mut answer = Answer::default();
        for record in lookup.answers() {
            let owner = shown(&record.name.to_string());
            let ttl_s = record.ttl;
            match &record.data {
                RData::NAPTR(n) => answer.naptr.push(Naptr {
                    name: owner,
                    order: n.order,
                    preference: n.preference,
                    flags: super::clean(&String::from_utf8_lossy(&n.flags)),
                    services: super::clean(&String::from_utf8_lossy(&n.services)),
                    replacement: shown(&n.replacement.to_string()),
                    ttl_s,
                }),
                RData::SRV(s) => answer.srv.push(Srv {
                    name: owner,
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: match shown(&s.target.to_string()) {
                        t if t.is_empty() => ".".to_owned(),
                        t => t,
                    },
                    ttl_s,
                }),
                RData::CNAME(c) => answer.cnames.push(Cname {
                    name: owner,
                    target: shown(&c.0.to_string()),
                    ttl_s,
                }),
                other => {
                    if let Some(ip) = other.ip_addr() {
                        answer.addresses.push(Address {
                            name: owner,
                            ip,
                            ttl_s,
                        });
                    }
                }
            }
        }
        Ok(answer)
    }
}

fn failure(e: hickory_resolver::net::NetError) -> Failure {
    use hickory_resolver::net::{DnsError, NetError};
    if e.is_nx_domain() {
        return Failure::NxDomain;
    }
    if e.is_no_records_found() {
        return Failure::NoRecords;
    }
    match &e {
        NetError::Timeout => Failure::Timeout,
        NetError::Dns(DnsError::ResponseCode(code)) => Failure::ServerError {
            // The mnemonic of RFC 1035 §4.1.1 and its meaning: `SERVFAIL (Server Failure)`.
            code: format!(
                "{} ({})",
                format!("{code:?}").to_ascii_uppercase(),
                code.to_str()
            ),
        },
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Other {
            error: e.to_string(),
        },
    }
}

impl Dns for HickoryDns {
    fn query(&self, name: &str, kind: Kind) -> Result<Answer, Failure> {
        use hickory_resolver::proto::rr::RecordType;
        match kind {
            Kind::Naptr => self.one(name, RecordType::NAPTR),
            Kind::Srv => self.one(name, RecordType::SRV),
            Kind::Address => {
                let v4 = self.one(name, RecordType::A);
                let v6 = self.one(name, RecordType::AAAA);
                match (v4, v6) {
                    (Ok(mut a), Ok(b)) => {
                        a.addresses.extend(b.addresses);
                        for c in b.cnames {
                            if !a.cnames.contains(&c) {
                                a.cnames.push(c);
                            }
                        }
                        Ok(a)
                    }
                    (Ok(a), Err(Failure::NoRecords)) | (Err(Failure::NoRecords), Ok(a)) => Ok(a),
                    (Ok(a), Err(_)) if !a.addresses.is_empty() => Ok(a),
                    (Err(_), Ok(b)) if !b.addresses.is_empty() => Ok(b),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e),
                }
            }
        }
    }

    fn servers(&self) -> String {
        self.servers.clone()
    }
}
