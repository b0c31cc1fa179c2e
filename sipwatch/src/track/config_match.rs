//! Which section of the PBX's configuration sends a binding seen on the
//! wire, and what the digest the registrar refused says of the password
//! configured there: typed data, computed once, read by the words
//! ([`crate::say`]) and the JSON ([`crate::report`]).
use std::path::PathBuf;

use super::{Registration, password::PasswordCheck};
use crate::pbx::config::trunks::{Auth, Trunks};

/// A place in a PBX's configuration: `pjsip.conf` line 42, `[trunk-reg]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRef {
    /// The configuration file.
    pub file: PathBuf,
    /// The line of the section's header (1-based).
    pub line: u32,
    /// The section's name, without brackets.
    pub section: String,
    /// The credentials it answers challenges with, and what a refused
    /// REGISTER's digest says of their password.
    pub auth: Option<AuthRef>,
}

/// The auth section of a trunk (`outbound_auth`), and the check of its
/// password against the digest the registrar refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRef {
    /// Where the password is: the option's file and line, else the
    /// section's.
    pub file: PathBuf,
    /// That line (1-based).
    pub line: u32,
    /// The auth section (or the wizard trunk holding `outbound_auth/…`).
    pub section: String,
    /// The check, when the latest failure refused a digest and a password
    /// (or `md5_cred`) is configured.
    pub check: Option<PasswordCheck>,
}

impl AuthRef {
    /// The auth section `a` of the trunk sending `r`, and the check of its
    /// password against the digest the registrar refused, when it did.
    fn of(a: &Auth, r: &Registration) -> AuthRef {
        let check = match (&r.refused_digest, &a.secret) {
            (Some(proof), Some(secret)) => {
                Some(super::password::check(proof, secret, a.username.as_deref()))
            }
            _ => None,
        };
        let (file, line) = a
            .secret
            .as_ref()
            .map_or((a.file.clone(), a.line), |s| (s.file.clone(), s.line));
        AuthRef {
            file,
            line,
            section: a.section.clone(),
            check,
        }
    }
}

impl ConfigRef {
    /// The `type=registration` (or wizard) section of `trunks` that sends
    /// `r`, matched by its registrar and AOR, with its auth section.
    pub fn of(r: &Registration, trunks: &Trunks) -> Option<ConfigRef> {
        trunks
            .find(&r.key.registrar, &r.key.aor)
            .map(|t| ConfigRef {
                file: t.file.clone(),
                line: t.line,
                section: t.section.clone(),
                auth: t.auth.as_ref().map(|a| AuthRef::of(a, r)),
            })
    }
}
