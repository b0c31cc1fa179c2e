//! The options of each section held against Asterisk's own schema
//! ([`crate::pbx::config::schema`]): unknown names, values Asterisk cannot
//! read, a misspelled `type=`, and two objects of one name and type. Each
//! of these makes Asterisk refuse the object (or, for a duplicate, every
//! object of that type in the file) while the rest loads.
use std::collections::{HashMap, HashSet};

use super::{Finding, Place, Problem};
use crate::pbx::config::{
    Config,
    schema::{self, Check, Wanted},
};

/// Every `type=` the PJSIP modules (and the wizard) load from
/// `pjsip.conf` / `pjsip_wizard.conf`; a type near one of them, and not one
/// of them, is a misspelling.
const TYPES: &[&str] = &[
    "endpoint",
    "auth",
    "aor",
    "transport",
    "registration",
    "identify",
    "contact",
    "domain_alias",
    "acl",
    "system",
    "global",
    "phoneprov",
    "wizard",
    "outbound-publish",
    "inbound-publication",
    "asterisk-publication",
    "resource_list",
];

/// The options holding a SIP URI, whose `;parameters` a comment cuts.
const URIS: &[&str] = &[
    "server_uri",
    "client_uri",
    "outbound_proxy",
    "contact",
    "registration/server_uri",
    "registration/client_uri",
    "registration/outbound_proxy",
    "aor/contact",
    "endpoint/outbound_proxy",
];

/// The findings of one file (with its includes), as Asterisk reads it.
pub(super) fn options(c: &Config, out: &mut Vec<Finding>) {
    let mut seen_values = HashSet::new();
    let mut first_of: HashMap<(String, String), u32> = HashMap::new();
    for s in c.sections.iter().filter(|s| !s.template) {
        let Some(kind) = s.kind().map(str::to_ascii_lowercase) else {
            continue;
        };
        if !TYPES.contains(&kind.as_str()) {
            let near = TYPES
                .iter()
                .filter(|t| strsim::damerau_levenshtein(t, &kind) <= 2)
                .min_by_key(|t| strsim::damerau_levenshtein(t, &kind));
            if let Some(near) = near {
                out.push(Finding {
                    place: Place::at(s, s.get("type")),
                    problem: Problem::UnknownType {
                        suggestion: (*near).to_owned(),
                    },
                });
            }
            continue;
        }
        let id = (s.name.clone(), kind.clone());
        match first_of.get(&id) {
            Some(&first_line) => out.push(Finding {
                place: Place::section(s),
                problem: Problem::DuplicateSection {
                    object_type: kind.clone(),
                    first_line,
                },
            }),
            None => {
                first_of.insert(id, s.line);
            }
        }
        for v in &s.values {
            // A template's line is checked once, not once per section
            // inheriting it.
            if !seen_values.insert((v.file.clone(), v.line, v.key.clone())) {
                continue;
            }
            if v.cut_by_comment && URIS.iter().any(|k| v.key.eq_ignore_ascii_case(k)) {
                out.push(Finding {
                    place: Place::value(s, v),
                    problem: Problem::UriCutByComment,
                });
            }
            let problem = match schema::check(&kind, &v.key, &v.value) {
                Check::Fine => continue,
                Check::Unknown { suggestion } => Problem::UnknownOption {
                    object_type: kind.clone(),
                    // A wizard's `endpoint/contxt` is `endpoint/context`.
                    suggestion: suggestion.map(|near| match v.key.rsplit_once('/') {
                        Some((prefix, _)) if !near.contains('/') => format!("{prefix}/{near}"),
                        _ => near.to_owned(),
                    }),
                },
                Check::BadValue { wanted } => Problem::BadValue {
                    object_type: kind.clone(),
                    allowed: match wanted {
                        Wanted::Number => Vec::new(),
                        Wanted::OneOf(words) => words.iter().map(|w| (*w).to_owned()).collect(),
                    },
                },
            };
            out.push(Finding {
                place: Place::value(s, v),
                problem,
            });
        }
    }
}
