//! From what a user types (`HOST`, `HOST:PORT`, `IPv4`, `[IPv6]:PORT`) to
//! the addresses a request can go to.
//!
//! [`Resolver`] is the seam for RFC 3263 (NAPTR and SRV records, which
//! `doctor` adds): today's [`SystemResolver`] asks the system
//! (`getaddrinfo(3)`, so `/etc/hosts` and the configured DNS servers).
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What the user named, split into a host and, when written, a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What was typed, for messages.
    pub text: String,
    /// An address or a name.
    pub host: Host,
    /// The port, when written; without one a resolver uses the default
    /// port (or, under RFC 3263 §4.2, SRV records for a name).
    pub port: Option<u16>,
}

/// The host part of a [`Target`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 or IPv6 literal: nothing to look up.
    Ip(IpAddr),
    /// Anything else, looked up as written.
    Name(String),
}

impl Target {
    /// Splits `text`: a socket address (`192.0.2.1:5060`, `[2001:db8::1]:5060`),
    /// a bare IP (`192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`), `name:port`
    /// (one colon and a port number after it), or a name. Never fails: a
    /// name the system cannot look up is the resolver's error.
    pub fn parse(text: &str) -> Target {
        let target = |host, port| Target {
            text: text.to_owned(),
            host,
            port,
        };
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return target(Host::Ip(addr.ip()), Some(addr.port()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return target(Host::Ip(ip), None);
        }
        if let Some(ip) = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse::<Ipv6Addr>().ok())
        {
            return target(Host::Ip(IpAddr::V6(ip)), None);
        }
        if !text.starts_with('[')
            && text.matches(':').count() == 1
            && let Some((name, port)) = text.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
        {
            return target(Host::Name(name.to_owned()), Some(port));
        }
        target(Host::Name(text.to_owned()), None)
    }
}

/// Why a target has no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The lookup failed (no such name, no DNS server reachable).
    #[error("resolving {text}")]
    Lookup {
        /// What was typed.
        text: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// What follows the last `:` of `HOST:PORT` (or `[IPv6]:PORT`) is no
    /// port from 1 to 65535: nothing is looked up.
    #[error("{text}: {port:?} is not a port (1 to 65535)")]
    BadPort {
        /// What was typed.
        text: String,
        /// The part after the colon.
        port: String,
    },
    /// The name exists but has no address.
    #[error("{text} has no address")]
    NoAddress {
        /// What was typed.
        text: String,
    },
}

/// Every address of a target, at least one, in the resolver's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// What was resolved.
    pub target: Target,
    addresses: Vec<SocketAddr>,
}

impl Resolved {
    /// Every address, in the resolver's order (never empty).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The address a caller that needs one uses: the first. The system's
    /// resolver sorts its answers by RFC 6724 (destination address
    /// selection: an address this host has a route and a source address
    /// for comes first), so the first is the one the system would use.
    pub fn chosen(&self) -> SocketAddr {
        self.addresses[0]
    }
}

/// Finds the addresses of a target; `default_port` where it names none.
pub trait Resolver {
    /// Every address `target` stands for, in the order to try them;
    /// never an empty list (that is [`ResolveError::NoAddress`]).
    fn resolve(&self, target: &Target, default_port: u16) -> Result<Resolved, ResolveError>;
}

/// The system's resolver (`getaddrinfo(3)`); an IP literal is its own
/// address, with no lookup.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, target: &Target, default_port: u16) -> Result<Resolved, ResolveError> {
        let port = target.port.unwrap_or(default_port);
        let addresses = match &target.host {
            Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            Host::Name(name) => format!("{name}:{port}")
                .to_socket_addrs()
                .map_err(|source| ResolveError::Lookup {
                    text: target.text.clone(),
                    source,
                })?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(ResolveError::NoAddress {
                text: target.text.clone(),
            });
        }
        Ok(Resolved {
            target: target.clone(),
            addresses,
        })
    }
}

/// `text` ([`Target::parse`]) resolved by the [`SystemResolver`].
pub fn resolve(text: &str, default_port: u16) -> Result<Resolved, ResolveError> {
    if let Some(port) = bad_port(text) {
        return Err(ResolveError::BadPort {
            text: text.to_owned(),
            port: port.to_owned(),
        });
    }
    SystemResolver.resolve(&Target::parse(text), default_port)
}

/// The port part of `HOST:PORT` or `[IPv6]:PORT` when it is none (`0`,
/// `99999`, `abc`); a bare IPv6 address has no port part.
fn bad_port(text: &str) -> Option<&str> {
    let port = if text.starts_with('[') {
        text.rsplit_once("]:")?.1
    } else if text.matches(':').count() == 1 {
        text.rsplit_once(':')?.1
    } else {
        return None;
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => None,
        _ => Some(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> SocketAddr {
        resolve(text, 5060).unwrap().chosen()
    }

    #[test]
    fn a_port_out_of_range_or_not_a_number_is_said_without_a_lookup() {
        for (text, port) in [
            ("127.0.0.1:99999", "99999"),
            ("127.0.0.1:0", "0"),
            ("echo.example:abc", "abc"),
            ("[::1]:70000", "70000"),
        ] {
            match resolve(text, 5060) {
                Err(ResolveError::BadPort { port: p, .. }) => assert_eq!(p, port),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(one("[::1]:5062").port(), 5062);
        assert_eq!(one("::1").port(), 5060);
    }

    #[test]
    fn ip_literals_keep_their_port_or_take_the_default() {
        assert_eq!(one("192.0.2.1"), "192.0.2.1:5060".parse().unwrap());
        assert_eq!(one("192.0.2.1:5080"), "192.0.2.1:5080".parse().unwrap());
        assert_eq!(one("2001:db8::1"), "[2001:db8::1]:5060".parse().unwrap());
        assert_eq!(one("[2001:db8::1]"), "[2001:db8::1]:5060".parse().unwrap());
        assert_eq!(
            one("[2001:db8::1]:5070"),
            "[2001:db8::1]:5070".parse().unwrap()
        );
    }

    #[test]
    fn names_split_at_their_one_colon() {
        let t = Target::parse("pbx.example:5080");
        assert_eq!(
            (t.host, t.port),
            (Host::Name("pbx.example".into()), Some(5080))
        );
        let t = Target::parse("pbx.example");
        assert_eq!((t.host, t.port), (Host::Name("pbx.example".into()), None));
        // Not a port: the whole text is looked up (and fails), as before.
        let t = Target::parse("pbx.example:sip");
        assert_eq!(t.host, Host::Name("pbx.example:sip".into()));
    }

    #[test]
    fn localhost_resolves_to_every_address_with_the_port_asked_for() {
        let all = resolve("localhost:5070", 5060).unwrap();
        assert!(!all.addresses().is_empty());
        assert!(all.addresses().iter().all(|a| a.port() == 5070));
        assert!(all.addresses().iter().all(|a| a.ip().is_loopback()));
        assert_eq!(all.chosen(), all.addresses()[0]);
    }

    #[test]
    fn errors_read_as_the_cli_printed_them() {
        let e = ResolveError::Lookup {
            text: "pbx.invalid".into(),
            source: std::io::Error::other("failed to lookup address information"),
        };
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(
            chain,
            "resolving pbx.invalid: failed to lookup address information"
        );
        let e = ResolveError::NoAddress {
            text: "pbx.example".into(),
        };
        assert_eq!(e.to_string(), "pbx.example has no address");
    }
}
