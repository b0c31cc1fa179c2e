//! The PJSIP objects of a read `pjsip.conf` (and the trunks of
//! `pjsip_wizard.conf`) that a registration depends on, each a view over
//! its [`Section`] so that every value keeps its file and line.
//!
//! Option names and defaults: [`crate::pbx::asterisk`] (from the configInfo
//! of `res/res_pjsip_outbound_registration.c`, `res/res_pjsip/config_auth.c`,
//! `res/res_pjsip_config_wizard.c`).
//!
//! ```
//! use sipwatch::pbx::config::{Config, pjsip::Pjsip};
//! let c = Config::parse("[r]\ntype=registration\nserver_uri=sip:p.example\noutbound_auth=a\n[a]\ntype=auth\nusername=u\n", "pjsip.conf").unwrap();
//! let p = Pjsip::of(&c);
//! assert_eq!(p.registrations[0].outbound_auth(), ["a"]);
//! assert_eq!(p.registrations[0].forbidden_retry_interval().0, 0);
//! assert!(p.auth("a").is_some());
//! ```
use super::{Config, Section, Value};
use crate::pbx::{Setting, asterisk};

/// The objects a registration depends on, by type.
#[derive(Clone, Debug, Default)]
pub struct Pjsip<'a> {
    /// `type=registration`.
    pub registrations: Vec<Registration<'a>>,
    /// `type=auth`.
    pub auths: Vec<&'a Section>,
    /// `type=endpoint`.
    pub endpoints: Vec<&'a Section>,
    /// `type=aor`.
    pub aors: Vec<&'a Section>,
    /// `type=identify`.
    pub identifies: Vec<&'a Section>,
    /// `type=transport`.
    pub transports: Vec<&'a Section>,
    /// `type=wizard` (pjsip_wizard.conf).
    pub wizards: Vec<Wizard<'a>>,
}

impl<'a> Pjsip<'a> {
    /// The objects of one or more read files (`pjsip.conf`, `pjsip_wizard.conf`).
    pub fn of(config: &'a Config) -> Pjsip<'a> {
        let mut p = Pjsip::default();
        p.add(config);
        p
    }

    /// Adds the objects of another file (the wizard's beside pjsip.conf).
    pub fn add(&mut self, config: &'a Config) {
        let of = |t| config.of_type(t).collect::<Vec<_>>();
        self.registrations.extend(
            of("registration")
                .into_iter()
                .map(|section| Registration { section }),
        );
        self.auths.extend(of("auth"));
        self.endpoints.extend(of("endpoint"));
        self.aors.extend(of("aor"));
        self.identifies.extend(of("identify"));
        self.transports.extend(of("transport"));
        self.wizards
            .extend(of("wizard").into_iter().map(|section| Wizard { section }));
    }

    /// The `type=auth` section named `name`.
    pub fn auth(&self, name: &str) -> Option<&'a Section> {
        self.auths.iter().copied().find(|s| s.name == name)
    }

    /// The `type=transport` section named `name`.
    pub fn transport(&self, name: &str) -> Option<&'a Section> {
        self.transports.iter().copied().find(|s| s.name == name)
    }
}

/// A number option: its value (the default when unset or unreadable, as
/// sorcery then refuses the object: the default is the best guess) and
/// the line that set it.
pub fn number(section: &Section, setting: Setting) -> (u32, Option<&Value>) {
    let value = section.get(setting.name);
    let n = value
        .and_then(|v| v.value.parse().ok())
        .unwrap_or(setting.default);
    (n, value)
}

/// A yes / no option as Asterisk's `ast_true` reads it.
pub fn yes(section: &Section, key: &str, default: bool) -> bool {
    match section.text(key) {
        Some(v) => matches!(
            v.to_ascii_lowercase().as_str(),
            "yes" | "true" | "y" | "t" | "1" | "on"
        ),
        None => default,
    }
}

/// A comma-separated list (`outbound_auth`, `match`, `remote_hosts`).
pub fn list(value: Option<&Value>) -> Vec<&str> {
    value
        .map(|v| {
            v.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A `type=registration` section.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    /// Its section.
    pub section: &'a Section,
}

impl<'a> Registration<'a> {
    /// `server_uri`: the registrar.
    pub fn server_uri(&self) -> Option<&'a Value> {
        self.section.get("server_uri")
    }
    /// `client_uri`: the AOR registered.
    pub fn client_uri(&self) -> Option<&'a Value> {
        self.section.get("client_uri")
    }
    /// `outbound_auth`: the auth sections, by name.
    pub fn outbound_auth(&self) -> Vec<&'a str> {
        list(self.section.get("outbound_auth"))
    }
    /// `transport`.
    pub fn transport(&self) -> Option<&'a Value> {
        self.section.get("transport")
    }
    /// `forbidden_retry_interval` (default 0: one 403 stops it).
    pub fn forbidden_retry_interval(&self) -> (u32, Option<&'a Value>) {
        number(self.section, asterisk::FORBIDDEN_RETRY_INTERVAL)
    }
    /// `max_retries` (default 10).
    pub fn max_retries(&self) -> (u32, Option<&'a Value>) {
        number(self.section, asterisk::MAX_RETRIES)
    }
    /// `expiration` (default 3600).
    pub fn expiration(&self) -> (u32, Option<&'a Value>) {
        number(self.section, asterisk::EXPIRATION)
    }
    /// `retry_interval` (default 60).
    pub fn retry_interval(&self) -> (u32, Option<&'a Value>) {
        number(self.section, asterisk::RETRY_INTERVAL)
    }
}

/// A `pjsip_wizard.conf` trunk (`type=wizard`).
#[derive(Clone, Copy, Debug)]
pub struct Wizard<'a> {
    /// Its section.
    pub section: &'a Section,
}

impl<'a> Wizard<'a> {
    /// `sends_registrations` (default no).
    pub fn sends_registrations(&self) -> bool {
        yes(
            self.section,
            asterisk::WIZARD_SENDS_REGISTRATIONS.name,
            asterisk::WIZARD_SENDS_REGISTRATIONS.default == 1,
        )
    }
    /// `sends_auth` (default no): the `outbound_auth/…` keys are used.
    pub fn sends_auth(&self) -> bool {
        yes(
            self.section,
            asterisk::WIZARD_SENDS_AUTH.name,
            asterisk::WIZARD_SENDS_AUTH.default == 1,
        )
    }
    /// `remote_hosts`: `host[:port]`, comma-separated.
    pub fn remote_hosts(&self) -> Vec<&'a str> {
        list(self.section.get("remote_hosts"))
    }
    /// `transport`, which the wizard gives its endpoint and each
    /// registration (`res_pjsip_config_wizard.c`).
    pub fn transport(&self) -> Option<&'a Value> {
        self.section.get("transport")
    }
    /// The registrar's host: the first `remote_hosts` entry without its port.
    pub fn server_host(&self) -> Option<&'a str> {
        let first = self.remote_hosts().into_iter().next()?;
        Some(strip_port(first))
    }
    /// `server_uri_pattern` (default `sip:${REMOTE_HOST}`), when written.
    pub fn server_uri_pattern(&self) -> Option<&'a Value> {
        self.section.get("server_uri_pattern")
    }
    /// A `registration/…` option the wizard copies to its registration.
    pub fn registration(&self, setting: Setting) -> (u32, Option<&'a Value>) {
        let key = format!("registration/{}", setting.name);
        let value = self.section.get(&key);
        let n = value
            .and_then(|v| v.value.parse().ok())
            .unwrap_or(setting.default);
        (n, value)
    }
}

/// `host` of `host[:port]`, `[v6]:port` or a bare IPv6 address.
pub fn strip_port(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.matches(':').count() {
        1 => host_port.split(':').next().unwrap_or(host_port),
        _ => host_port,
    }
}

/// The parts of a SIP URI a check needs: `sip:user@host:port;transport=tcp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// The user part, when present.
    pub user: Option<&'a str>,
    /// The host (brackets of an IPv6 literal removed).
    pub host: &'a str,
    /// The `transport=` parameter, when present.
    pub transport: Option<&'a str>,
}

/// Reads `sip:`/`sips:` URIs (angle brackets allowed); `None` for anything else.
///
/// ```
/// use sipwatch::pbx::config::pjsip::uri_parts;
/// let u = uri_parts("<sip:1001@pbx.example:5061;transport=tls>").unwrap();
/// assert_eq!((u.user, u.host, u.transport), (Some("1001"), "pbx.example", Some("tls")));
/// ```
pub fn uri_parts(uri: &str) -> Option<UriParts<'_>> {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = uri.get(..5).map(str::to_ascii_lowercase);
    let rest = match lower.as_deref() {
        Some("sips:") => &uri[5..],
        Some(l) if l.starts_with("sip:") => &uri[4..],
        _ => return None,
    };
    let (address, params) = rest.split_once(';').unwrap_or((rest, ""));
    let (user, hostport) = match address.rsplit_once('@') {
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u)), h),
        None => (None, address),
    };
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    let transport = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("transport")
            .then_some(v.trim())
    });
    (!host.is_empty()).then_some(UriParts {
        user: user.filter(|u| !u.is_empty()),
        host,
        transport,
    })
}

/// A chan_sip `register =>` line of `sip.conf`'s `[general]`:
/// `[transport://]user[@domain][:secret[:authuser]]@host[:port][/extension][~expiry]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipRegister<'a> {
    /// The line.
    pub value: &'a Value,
    /// The user registered.
    pub user: &'a str,
    /// The secret, when given.
    pub secret: Option<&'a str>,
    /// The authentication user, when given.
    pub authuser: Option<&'a str>,
    /// The registrar's host.
    pub host: &'a str,
}

/// Reads a chan_sip `register =>` line (`None` when it is not one).
pub fn sip_register(value: &Value) -> Option<SipRegister<'_>> {
    let text = value.value.as_str();
    let text = text.split_once("://").map_or(text, |(_, r)| r);
    let (credentials, host) = text.rsplit_once('@')?;
    let host = host.split(['/', '~', ':']).next().unwrap_or(host);
    let mut parts = credentials.splitn(3, ':');
    let user = parts.next()?;
    let user = user.split('@').next().unwrap_or(user);
    Some(SipRegister {
        value,
        user,
        secret: parts.next(),
        authuser: parts.next(),
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_options_read_with_their_defaults_and_lines() {
        let c = Config::parse(
            "[r]\ntype=registration\nmax_retries=3\nforbidden_retry_interval=300\n",
            "pjsip.conf",
        )
        .unwrap();
        let p = Pjsip::of(&c);
        let r = p.registrations[0];
        assert_eq!(r.max_retries().0, 3);
        assert_eq!(r.max_retries().1.unwrap().line, 3);
        assert_eq!(r.expiration(), (3600, None));
        assert_eq!(r.forbidden_retry_interval().0, 300);
        assert_eq!(r.retry_interval().0, 60);
    }

    #[test]
    fn a_wizard_trunk_reads_its_hosts_and_registration_options() {
        let c = Config::parse(
            "[t]\ntype=wizard\nsends_registrations=yes\nremote_hosts=a.example:5060, b.example\nregistration/expiration=30\n",
            "pjsip_wizard.conf",
        )
        .unwrap();
        let w = Pjsip::of(&c).wizards[0];
        assert!(w.sends_registrations());
        assert_eq!(w.remote_hosts(), ["a.example:5060", "b.example"]);
        assert_eq!(w.registration(asterisk::EXPIRATION).0, 30);
    }

    #[test]
    fn chan_sip_register_lines_split_as_chan_sip_reads_them() {
        let c = Config::parse(
            "[general]\nregister => tcp://1001@p.example:secret:acct42@p.example:5060/1001\n",
            "sip.conf",
        )
        .unwrap();
        let v = c.section("general").unwrap().get("register").unwrap();
        let r = sip_register(v).unwrap();
        assert_eq!(
            (r.user, r.secret, r.authuser, r.host),
            ("1001", Some("secret"), Some("acct42"), "p.example")
        );
    }

    #[test]
    fn uris_without_user_or_with_ipv6_read() {
        let u = uri_parts("sip:[2001:db8::1]:5060").unwrap();
        assert_eq!((u.user, u.host), (None, "2001:db8::1"));
        assert_eq!(uri_parts("tel:+1"), None);
    }
}
