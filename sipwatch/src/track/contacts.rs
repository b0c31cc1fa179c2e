//! The Contacts a registrar kept for the AOR, read from its 200 OK and
//! compared with the Contact the PBX sent (RFC 3261 §10.3: the 2xx lists
//! every current binding of the AOR, each with its `expires`).
//!
//! Another address or port in place of ours is a rewritten Contact: a SIP
//! ALG on the path, or the registrar fixing up NAT. Further Contacts are
//! other bindings of the AOR: stale ones from an earlier address or port
//! of this PBX, or a second device. Worded by [`crate::say::contacts`].
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
        // Not kept as sent: ours is the one at the address the registrar
        // saw, else the only one (among several, another address may be a
        // stale binding: no guess).
        let seen_as = super::nat::seen_as(p);
        let at_source = |u: &Uri| {
            seen_as.as_deref()
                == Some(format!("{}:{}", u.host, u.port.unwrap_or(default_port(u))).as_str())
        };
        let rewritten = if ours_kept {
            None
        } else {
            uris.iter()
                .position(|(u, _)| at_source(u))
                .or((uris.len() == 1).then_some(0))
        };
        let rewritten_by = rewritten.map(|i| {
            if at_source(&uris[i].0) {
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

    /// Whether there is anything to say: a rewritten Contact, or others.
    pub fn notable(&self) -> bool {
        self.rewritten_by.is_some() || self.others().next().is_some()
    }
}

fn default_port(u: &Uri) -> u16 {
    if u.scheme == "sips" { 5061 } else { 5060 }
}

/// Same host and port (an absent port is the scheme's default).
fn same_address(a: &Uri, b: &Uri) -> bool {
    a.host.eq_ignore_ascii_case(&b.host)
        && a.port.unwrap_or(default_port(a)) == b.port.unwrap_or(default_port(b))
}
