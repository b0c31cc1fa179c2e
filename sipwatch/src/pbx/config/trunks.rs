//! The registrations a configuration sends, reduced to what the wire can
//! be matched against: the registrar's host and the AOR, with the section
//! and line that configure them. `attach` / `analyze --config-dir` match
//! each binding seen on the wire to one, so that a diagnosis names the
//! section to change.
//!
//! ```
//! use sipwatch::pbx::config::{Config, pjsip::Pjsip, trunks::Trunks};
//! let c = Config::parse("[r]\ntype=registration\nserver_uri=sip:sip.example.net\nclient_uri=sip:alice@sip.example.net\n", "pjsip.conf").unwrap();
//! let trunks = Trunks::of(&Pjsip::of(&c));
//! let t = trunks.find("sip:sip.example.net", "sip:alice@sip.example.net").unwrap();
//! assert_eq!((t.section.as_str(), t.line), ("r", 1));
//! ```
use std::path::{Path, PathBuf};

use super::{
    Config, ConfigError,
    pjsip::{Pjsip, uri_parts},
};

/// One registration the configuration sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    /// The file of its section.
    pub file: PathBuf,
    /// The line of its section header.
    pub line: u32,
    /// The section (`type=registration`, or a wizard trunk).
    pub section: String,
    /// The registrar's host, lower case (`server_uri`, or the wizard's first `remote_hosts`).
    pub server_host: String,
    /// The AOR as `user@host`, lower case (`client_uri`), when known.
    pub client_aor: Option<String>,
}

/// Every registration a configuration sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trunks {
    /// In file order.
    pub trunks: Vec<Trunk>,
}

/// `sip:user@host…` as `user@host`, lower case.
fn aor(uri: &str) -> Option<String> {
    let u = uri_parts(uri)?;
    Some(format!("{}@{}", u.user?, u.host).to_ascii_lowercase())
}

impl Trunks {
    /// The registrations of `type=registration` sections and of wizard
    /// trunks with `sends_registrations=yes`.
    pub fn of(p: &Pjsip) -> Trunks {
        let mut trunks = Vec::new();
        for r in &p.registrations {
            let Some(server) = r.server_uri().and_then(|v| uri_parts(&v.value)) else {
                continue;
            };
            trunks.push(Trunk {
                file: r.section.file.clone(),
                line: r.section.line,
                section: r.section.name.clone(),
                server_host: server.host.to_ascii_lowercase(),
                client_aor: r.client_uri().and_then(|v| aor(&v.value)),
            });
        }
        for w in p.wizards.iter().filter(|w| w.sends_registrations()) {
            let Some(first) = w.remote_hosts().into_iter().next() else {
                continue;
            };
            let host = first
                .split(':')
                .next()
                .unwrap_or(first)
                .to_ascii_lowercase();
            let client_aor = w
                .section
                .text("outbound_auth/username")
                .map(|u| format!("{u}@{host}").to_ascii_lowercase());
            trunks.push(Trunk {
                file: w.section.file.clone(),
                line: w.section.line,
                section: w.section.name.clone(),
                server_host: host,
                client_aor,
            });
        }
        Trunks { trunks }
    }

    /// Reads `pjsip.conf` and `pjsip_wizard.conf` in `dir` (either may be
    /// absent).
    pub fn load(dir: &Path) -> Result<Trunks, ConfigError> {
        let mut read = Vec::new();
        for name in ["pjsip.conf", "pjsip_wizard.conf"] {
            if dir.join(name).is_file() {
                read.push(Config::load(dir, name)?);
            }
        }
        let mut p = Pjsip::default();
        for c in &read {
            p.add(c);
        }
        Ok(Trunks::of(&p))
    }

    /// The trunk of a binding seen on the wire: the one whose `client_uri`
    /// is the binding's AOR, else the only one whose registrar host is the
    /// Request-URI's host.
    pub fn find(&self, registrar_uri: &str, aor_uri: &str) -> Option<&Trunk> {
        let wanted = aor(aor_uri);
        if let Some(t) = self
            .trunks
            .iter()
            .find(|t| t.client_aor.is_some() && t.client_aor == wanted)
        {
            return Some(t);
        }
        let host = uri_parts(registrar_uri)?.host.to_ascii_lowercase();
        let mut by_host = self.trunks.iter().filter(|t| t.server_host == host);
        match (by_host.next(), by_host.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_matches_by_aor_first_then_by_a_single_registrar() {
        let c = Config::parse(
            "[a]\ntype=registration\nserver_uri=sip:p.example\nclient_uri=sip:Alice@p.example\n\
             [b]\ntype=registration\nserver_uri=sip:p.example\nclient_uri=sip:bob@p.example\n\
             [c]\ntype=registration\nserver_uri=sip:q.example\n",
            "pjsip.conf",
        )
        .unwrap();
        let t = Trunks::of(&Pjsip::of(&c));
        let name = |r, a| t.find(r, a).map(|t| t.section.as_str());
        assert_eq!(name("sip:p.example", "sip:alice@p.example"), Some("a"));
        assert_eq!(name("sip:p.example", "sip:carol@p.example"), None);
        assert_eq!(name("sip:q.example", "sip:dave@q.example"), Some("c"));
    }

    #[test]
    fn a_wizard_trunk_is_matched_by_its_remote_host_and_user() {
        let c = Config::parse(
            "[w]\ntype=wizard\nsends_registrations=yes\nremote_hosts=sip.example.net:5060\noutbound_auth/username=frank\n",
            "pjsip_wizard.conf",
        )
        .unwrap();
        let t = Trunks::of(&Pjsip::of(&c));
        assert_eq!(
            t.find("sip:x", "sip:frank@sip.example.net").map(|t| t.line),
            Some(1)
        );
    }
}
