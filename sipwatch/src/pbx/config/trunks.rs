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
    /// The credentials it answers challenges with (`outbound_auth`; a
    /// wizard's `outbound_auth/…` keys), when configured.
    pub auth: Option<Auth>,
}

/// The credentials of a trunk: an auth section (`type=auth`, named by the
/// registration's `outbound_auth`) or a wizard's `outbound_auth/…` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The file of its section.
    pub file: PathBuf,
    /// The line of its section header.
    pub line: u32,
    /// The section holding them (the auth section, or the wizard trunk).
    pub section: String,
    /// `username` (a wizard's `outbound_auth/username`).
    pub username: Option<String>,
    /// `password` with `auth_type=userpass` (the default), or `md5_cred`
    /// with `auth_type=md5`.
    pub secret: Option<Secret>,
}

/// What a password is checked with, never shown: its `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The option's line (`password = …`), for the fix.
    pub line: u32,
    /// The option's file.
    pub file: PathBuf,
    /// The password, or the MD5 of `username:realm:password`.
    pub kind: SecretKind,
    /// As Asterisk holds it: stripped, `\;` unescaped, quotes kept.
    pub value: String,
    /// As written, before Asterisk stripped it.
    pub raw: String,
    /// A `;` right after it started a comment: the password may have been
    /// cut where the admin meant a `;` in it (Asterisk wants `\;`).
    pub cut_by_comment: bool,
}

/// Which option a [`Secret`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// `password` (`auth_type=userpass`).
    Password,
    /// `md5_cred` (`auth_type=md5`): HA1, the MD5 of `username:realm:password`.
    Md5Cred,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("kind", &self.kind)
            .field("line", &self.line)
            .field("value", &"********")
            .finish_non_exhaustive()
    }
}

impl Secret {
    fn of(v: &super::Value, kind: SecretKind) -> Secret {
        Secret {
            line: v.line,
            file: v.file.clone(),
            kind,
            value: v.value.clone(),
            // Before a comment, whitespace is layout, not a pasted space.
            raw: if v.commented {
                v.value.clone()
            } else {
                v.raw.clone()
            },
            cut_by_comment: v.cut_by_comment,
        }
    }
}

impl Auth {
    /// The credentials of an auth section, or of a wizard trunk's keys
    /// under `prefix` (`outbound_auth/`).
    fn of(section: &super::Section, prefix: &str) -> Auth {
        let key = |k: &str| format!("{prefix}{k}");
        let md5 = section
            .text(&key("auth_type"))
            .is_some_and(|t| t.eq_ignore_ascii_case("md5"));
        let secret = if md5 {
            section
                .get(&key("md5_cred"))
                .map(|v| Secret::of(v, SecretKind::Md5Cred))
        } else {
            section
                .get(&key("password"))
                .map(|v| Secret::of(v, SecretKind::Password))
        };
        Auth {
            file: section.file.clone(),
            line: section.line,
            section: section.name.clone(),
            username: section.text(&key("username")).map(str::to_owned),
            secret,
        }
    }
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
                auth: r
                    .outbound_auth()
                    .first()
                    .and_then(|name| p.auth(name))
                    .map(|a| Auth::of(a, "")),
            });
        }
        for w in p.wizards.iter().filter(|w| w.sends_registrations()) {
            let Some(host) = w.server_host().map(str::to_ascii_lowercase) else {
                continue;
            };
            // The wizard's USERNAME: the auth's user with sends_auth, else
            // the trunk's own name (`res_pjsip_config_wizard.c`).
            let user = match w.sends_auth() {
                true => w.section.text("outbound_auth/username"),
                false => Some(w.section.name.as_str()),
            };
            let client_aor = user.map(|u| format!("{u}@{host}").to_ascii_lowercase());
            trunks.push(Trunk {
                file: w.section.file.clone(),
                line: w.section.line,
                section: w.section.name.clone(),
                server_host: host,
                client_aor,
                auth: w
                    .section
                    .get("outbound_auth/username")
                    .filter(|_| w.sends_auth())
                    .map(|_| Auth::of(w.section, "outbound_auth/")),
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
            "[w]\ntype=wizard\nsends_registrations=yes\nsends_auth=yes\nremote_hosts=sip.example.net:5060\noutbound_auth/username=frank\n\
             [v]\ntype=wizard\nsends_registrations=yes\nremote_hosts=sip.example.org\noutbound_auth/username=vic\n",
            "pjsip_wizard.conf",
        )
        .unwrap();
        let t = Trunks::of(&Pjsip::of(&c));
        assert_eq!(
            t.find("sip:x", "sip:frank@sip.example.net").map(|t| t.line),
            Some(1)
        );
        // Without sends_auth the wizard registers the trunk's own name,
        // with no credentials.
        let v = t.find("sip:x", "sip:v@sip.example.org").unwrap();
        assert_eq!((v.section.as_str(), v.auth.is_none()), ("v", true));
    }

    #[test]
    fn each_trunk_carries_its_credentials_and_never_shows_the_password() {
        let c = Config::parse(
            "[r]\ntype=registration\nserver_uri=sip:p.example\noutbound_auth=r-auth\n\
             [r-auth]\ntype=auth\nusername=acct\npassword=hunter2 \n\
             [m]\ntype=registration\nserver_uri=sip:m.example\noutbound_auth=m-auth\n\
             [m-auth]\ntype=auth\nauth_type=md5\nusername=u\nmd5_cred=0123abcd\n",
            "pjsip.conf",
        )
        .unwrap();
        let w = Config::parse(
            "[w]\ntype=wizard\nsends_registrations=yes\nsends_auth=yes\nremote_hosts=w.example\n\
             outbound_auth/username=frank\noutbound_auth/password=pw\n",
            "pjsip_wizard.conf",
        )
        .unwrap();
        let mut p = Pjsip::of(&c);
        p.add(&w);
        let t = Trunks::of(&p);
        let auth = |host: &str| {
            t.trunks
                .iter()
                .find(|t| t.server_host == host)
                .and_then(|t| t.auth.clone())
                .unwrap()
        };
        let r = auth("p.example");
        assert_eq!(
            (r.section.as_str(), r.username.as_deref()),
            ("r-auth", Some("acct"))
        );
        let secret = r.secret.unwrap();
        assert_eq!(
            (secret.kind, secret.line, secret.value.as_str()),
            (SecretKind::Password, 8, "hunter2")
        );
        assert_eq!(secret.raw, "hunter2 ");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let m = auth("m.example").secret.unwrap();
        assert_eq!(
            (m.kind, m.value.as_str()),
            (SecretKind::Md5Cred, "0123abcd")
        );
        let w = auth("w.example");
        assert_eq!(
            (w.section.as_str(), w.username.as_deref()),
            ("w", Some("frank"))
        );
        assert_eq!(w.secret.map(|s| s.value), Some("pw".to_owned()));
    }
}
