//! The Contacts a registrar kept for the AOR, read from its 200 OK and
//! compared with the Contact the PBX sent (RFC 3261 §10.3: the 2xx lists
//! every current binding of the AOR, each with its `expires`).
//!
//! Ours at another address or port is a rewritten Contact only with
//! evidence: at the address the registrar saw this host as (its NAT
//! fix-up), or our user and parameters moved from a private address to a
//! public one (a SIP ALG). Other Contacts are other bindings of the AOR:
//! stale ones from an earlier address or port of this PBX, or another
//! device; when none is ours, our binding is not listed. Worded by
//! [`crate::say::contacts`].
use serde::Serialize;

use crate::sip::{
    ParsedMessage,
    fields::{Uri, parse_uri},
};

/// At most this many Contacts of one 200 OK are kept.
const MAX_KEPT: usize = 16;

/// How a Contact in the 200 OK relates to the one sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The Contact sent, as sent.
    Sent,
    /// Ours, with another address or port.
    Rewritten,
    /// Another binding of the AOR: an address this PBX no longer uses, or
    /// another device.
    Other,
}

/// Who likely rewrote our Contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewriter {
    /// It is the address the registrar saw this host as (its Via
    /// `received` / `rport`): the registrar fixing up NAT, or an ALG that
    /// rewrote the REGISTER on its way out.
    RegistrarNatFixup,
    /// Neither the address sent nor the one the registrar saw: a SIP ALG
    /// on the path.
    Alg,
    /// The registrar itself: it and this host are on one host or in one
    /// private subnet, where no router (no NAT, no ALG) stands between.
    Registrar,
}

/// One Contact of the 200 OK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReturnedContact {
    /// Its URI.
    pub uri: String,
    /// Its `expires` parameter, seconds.
    pub expires_s: Option<u32>,
    /// How it relates to the Contact sent.
    pub relation: Relation,
}

/// What the registrar kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactsKept {
    /// Every Contact of the 200 OK (at most 16).
    pub returned: Vec<ReturnedContact>,
    /// Ours was rewritten, and by whom likely.
    pub rewritten_by: Option<Rewriter>,
}

impl ContactsKept {
    /// The Contacts of the 2xx `p` against `sent` (the Contact URI sent);
    /// `None` when it lists none.
    pub fn of(p: &ParsedMessage<'_>, sent: &str) -> Option<ContactsKept> {
        let contacts = p.contacts();
        if contacts.is_empty() {
            return None;
        }
        let sent = parse_uri(sent.trim_matches(['<', '>']));
        let uris: Vec<(Uri, Option<u32>)> = contacts
            .into_iter()
            .take(MAX_KEPT)
            .map(|c| (parse_uri(c.uri.text.trim_matches(['<', '>'])), c.expires))
            .collect();
        let is_sent = |u: &Uri| same_address(u, &sent) && u.user == sent.user;
        let ours_kept = uris.iter().any(|(u, _)| is_sent(u));
        // Not kept as sent: ours rewritten is only what carries evidence of
        // it — our user at the address the registrar saw this host as, or
        // (the only Contact listed) our user with our URI parameters on a
        // public address where we sent a private one, as an ALG rewrites
        // it. Anything else is another binding of the AOR (another device,
        // an older one): ours is then simply not listed (RFC 3261 §10.3:
        // the 2xx lists every current binding).
        let seen_as = super::nat::seen_as(p);
        let at_source = |u: &Uri| {
            u.user == sent.user
                && seen_as.as_deref()
                    == Some(format!("{}:{}", u.host, u.port.unwrap_or(default_port(u))).as_str())
        };
        let alg_shaped = |u: &Uri| {
            u.user == sent.user
                && params(u) == params(&sent)
                && is_private_host(&sent) == Some(true)
                && is_private_host(u) == Some(false)
        };
        let rewritten = if ours_kept {
            None
        } else {
            uris.iter()
                .position(|(u, _)| at_source(u))
                .or_else(|| (uris.len() == 1 && alg_shaped(&uris[0].0)).then_some(0))
        };
        // No router between the two ends: nothing else can have done it.
        let no_router = super::nat::same_link(p.message.src.ip(), p.message.dst.ip());
        let rewritten_by = rewritten.map(|i| {
            if no_router {
                Rewriter::Registrar
            } else if at_source(&uris[i].0) {
                Rewriter::RegistrarNatFixup
            } else {
                Rewriter::Alg
            }
        });
        let returned = uris
            .into_iter()
            .enumerate()
            .map(|(i, (u, expires_s))| ReturnedContact {
                relation: if is_sent(&u) {
                    Relation::Sent
                } else if Some(i) == rewritten {
                    Relation::Rewritten
                } else {
                    Relation::Other
                },
                uri: super::record::bounded(&u.text),
                expires_s,
            })
            .collect();
        Some(ContactsKept {
            returned,
            rewritten_by,
        })
    }

    /// Ours, as sent or rewritten.
    pub fn ours(&self) -> Option<&ReturnedContact> {
        self.returned.iter().find(|c| c.relation != Relation::Other)
    }

    /// The Contacts that are not ours.
    pub fn others(&self) -> impl Iterator<Item = &ReturnedContact> {
        self.returned
            .iter()
            .filter(|c| c.relation == Relation::Other)
    }

    /// Our binding is not among those listed, as sent or rewritten: the
    /// registrar did not keep it (or lists it in a form nothing here ties
    /// to ours). Its expiry is then not in the answer.
    pub fn ours_missing(&self) -> bool {
        self.ours().is_none()
    }

    /// Whether there is anything to say: a rewritten Contact, ours missing,
    /// or others.
    pub fn notable(&self) -> bool {
        self.rewritten_by.is_some() || self.ours_missing() || self.others().next().is_some()
    }
}

/// The URI's parameters (`;transport=udp;ob`), lower-cased and sorted.
fn params(u: &Uri) -> Vec<String> {
    let text = u.text.split('?').next().unwrap_or(&u.text);
    let mut ps: Vec<String> = text
        .split(';')
        .skip(1)
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    ps.sort();
    ps
}

/// Whether the URI's host is a private address; `None` for a name.
fn is_private_host(u: &Uri) -> Option<bool> {
    let host = u.host.trim_matches(['[', ']']);
    host.parse().ok().map(super::nat::is_private)
}

fn default_port(u: &Uri) -> u16 {
    if u.scheme == "sips" { 5061 } else { 5060 }
}

/// Same host and port (an absent port is the scheme's default).
fn same_address(a: &Uri, b: &Uri) -> bool {
    a.host.eq_ignore_ascii_case(&b.host)
        && a.port.unwrap_or(default_port(a)) == b.port.unwrap_or(default_port(b))
}
