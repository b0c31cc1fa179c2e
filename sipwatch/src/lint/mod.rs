//! `sipwatch lint`: the classic mistakes of an Asterisk configuration
//! (`pjsip.conf`, `pjsip_wizard.conf`, `sip.conf`) that break a
//! registration or the calls after it, found without any traffic. Each
//! [`Finding`] is typed data with its place (file, line, section, key);
//! [`crate::say::lint`] words it (what, why, the fix).
//!
//! No password is ever copied into a finding: only what kind of slip it
//! shows.
//!
//! ```
//! use sipwatch::{lint::{self, Problem}, pbx::config::Config};
//! let c = Config::parse("[r]\ntype=registration\nserver_uri=sip:p.example\nclient_uri=sip:u@p.example\n", "pjsip.conf").unwrap();
//! let found = lint::check(&lint::Files { pjsip: Some(&c), ..Default::default() });
//! assert!(found.iter().any(|f| f.problem == Problem::OutboundAuthMissing));
//! ```
use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use serde::Serialize;

mod consistency;
mod schema;

use crate::pbx::{
    asterisk,
    config::{
        Config, ConfigError, IgnoredWhy, Section, Value,
        pjsip::{self, Pjsip, Registration, uri_parts},
    },
};

/// The files `lint` reads in the configuration directory, in this order.
pub const FILES: [&str; 3] = ["pjsip.conf", "pjsip_wizard.conf", "sip.conf"];

/// Below this many `max_retries` (the default, 10) a short outage at the
/// provider stops the registration for good.
const LOW_MAX_RETRIES: u32 = asterisk::MAX_RETRIES.default;

/// Where a finding is: the line to change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based): the value's, or the section header's when the
    /// value is missing.
    pub line: u32,
    /// The section, without brackets.
    pub section: String,
    /// The option, when the finding is about one.
    pub key: Option<String>,
}

impl Place {
    fn section(s: &Section) -> Place {
        Place {
            file: s.file.clone(),
            line: s.line,
            section: s.name.clone(),
            key: None,
        }
    }

    fn value(s: &Section, v: &Value) -> Place {
        Place {
            file: v.file.clone(),
            line: v.line,
            section: s.name.clone(),
            key: Some(v.key.clone()),
        }
    }

    /// At the value when set, else at the section header.
    fn at(s: &Section, v: Option<&Value>) -> Place {
        v.map_or_else(|| Place::section(s), |v| Place::value(s, v))
    }
}

/// A kind of character in a password that is often lost or changed
/// between a provider's portal, a paste and the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Special {
    /// A space or tab inside the password.
    Space,
    /// `"` or `'`.
    Quote,
    /// `\`.
    Backslash,
    /// `#`.
    Hash,
    /// A character outside ASCII (its bytes differ by encoding).
    NonAscii,
}

/// What is wrong; the words are in [`crate::say::lint`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A `;` right after the password started a comment: Asterisk keeps
    /// only the part before it.
    PasswordCutByComment,
    /// The password line ends in whitespace, which Asterisk strips.
    PasswordTrailingSpace,
    /// The password is in quotes, which Asterisk keeps as part of it.
    PasswordQuoted,
    /// The password holds characters that often get lost.
    PasswordSpecial {
        /// Which kinds.
        chars: Vec<Special>,
    },
    /// The auth `username` is all digits and is not the user of `client_uri`:
    /// an account or customer number where the SIP user name belongs.
    AccountIdAsUsername {
        /// The auth's username.
        username: String,
        /// The user of `client_uri`.
        client_user: String,
    },
    /// `auth_type=md5` (which reads `md5_cred`, not `password`).
    AuthTypeMd5 {
        /// A `md5_cred` is set.
        has_md5_cred: bool,
    },
    /// chan_sip: the peer's `defaultuser` is the register line's
    /// authentication user, not its user.
    ChanSipUsersSwapped {
        /// The user the `register =>` line registers.
        register_user: String,
        /// Its authentication user.
        authuser: String,
    },
    /// chan_sip: `username` and `defaultuser` both set and different
    /// (`username` is the old name of `defaultuser`: one is ignored).
    ChanSipUsernameAndDefaultuser,
    /// A registration (or wizard trunk sending registrations) with no
    /// `outbound_auth`.
    OutboundAuthMissing,
    /// `outbound_auth` names a section that is not a `type=auth`.
    OutboundAuthDangling {
        /// The name given.
        name: String,
        /// The `type` of the section of that name, when there is one.
        other_type: Option<String>,
    },
    /// A reference to a section that does not exist or has another type:
    /// an endpoint's `aors`, `outbound_auth`, `auth` or `transport`, a
    /// registration's `transport`, an identify's `endpoint`.
    ReferenceDangling {
        /// The name given.
        name: String,
        /// The `type` the option wants.
        wanted: String,
        /// The `type` of the section of that name, when there is one.
        other_type: Option<String>,
    },
    /// `forbidden_retry_interval` is 0: one 403 stops the registration for good.
    ForbiddenRetryZero {
        /// Written 0 (else left at the default, 0).
        written: bool,
    },
    /// `max_retries` below the default: a short outage stops it for good.
    MaxRetriesLow {
        /// `max_retries`.
        max_retries: u32,
        /// `retry_interval`, seconds.
        retry_interval_s: u32,
    },
    /// `expiration` below the common registrar minimum.
    ExpirationLow {
        /// `expiration`, seconds.
        expiration_s: u32,
        /// The minimum many registrars hold (Asterisk's own `minimum_expiration`).
        minimum_s: u32,
    },
    /// No `identify` matches the registrar's host: its INVITEs are not
    /// matched to the trunk's endpoint.
    NoIdentify {
        /// The host of `server_uri`.
        host: String,
    },
    /// A transport bound to a private or wildcard address with no
    /// `external_signaling_address` or `local_net`, used to register with
    /// a public registrar: the Contact would carry a private address.
    NatUnconfigured {
        /// The registrar's host.
        registrar: String,
        /// The transport's `bind`.
        bind: String,
    },
    /// A line Asterisk ignores with a warning.
    IgnoredLine {
        /// Why.
        why: Ignored,
    },
    /// An option the section's `type=` does not have (Asterisk 22's
    /// configInfo): Asterisk refuses to create the whole object.
    UnknownOption {
        /// The section's `type=`.
        object_type: String,
        /// The known option nearest in spelling, when one is close.
        suggestion: Option<String>,
    },
    /// A URI option (`server_uri`, `client_uri`, `outbound_proxy`,
    /// `contact`) cut at a `;` that started a comment: its parameters
    /// (`;transport=tcp`, `;lr`) are lost; Asterisk wants `\;`.
    UriCutByComment,
    /// A `type=` no module loads, near one that is: the section is not
    /// loaded at all, without an error.
    UnknownType {
        /// The type it is likely meant to be.
        suggestion: String,
    },
    /// A value Asterisk cannot read for this option: it refuses to create
    /// the whole object.
    BadValue {
        /// The section's `type=`.
        object_type: String,
        /// The words it accepts; empty: a whole number.
        allowed: Vec<String>,
    },
    /// A second section of the same name and `type=` in one file: Asterisk
    /// refuses every object of that type in the file ("configuration
    /// contains a duplicate object").
    DuplicateSection {
        /// The `type=`.
        object_type: String,
        /// The line of the first one.
        first_line: u32,
    },
    /// An identify's `match` by hostname: resolved once, when Asterisk
    /// loads it; the provider's calls from new addresses are then not
    /// matched.
    IdentifyByHostname {
        /// The hostname.
        host: String,
    },
    /// A registration's `transport` whose `protocol` is not the one its
    /// `server_uri` asks for (`;transport=tcp`, `sips:`).
    TransportMismatch {
        /// What the URI asks for.
        uri_transport: String,
        /// The transport section named.
        transport: String,
        /// Its `protocol`.
        protocol: String,
    },
    /// Two registrations for one AOR at one registrar: each replaces or
    /// doubles the other's binding.
    SameAorTwice {
        /// The AOR, `user@host`.
        aor: String,
        /// The other registration's section.
        other_section: String,
        /// Its line.
        other_line: u32,
    },
    /// The trunk's endpoint (the one sharing the registration's
    /// `outbound_auth`) sends calls with a `from_user` / `from_domain` other
    /// than the registration's `client_uri`.
    FromDiffers {
        /// `from_user` or `from_domain`.
        option: String,
        /// Its value.
        value: String,
        /// The `client_uri` part it differs from.
        client: String,
        /// The registration's section.
        registration: String,
    },
}

/// How bad a finding is: `lint` exits 2 when any finding breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The registration, or the calls over it, fail with this.
    Breaks,
    /// They fail on some event (a provider's hiccup, an address change, a
    /// password with such characters), or a reader may be misled.
    Risk,
}

impl Problem {
    /// How bad it is.
    pub fn severity(&self) -> Severity {
        use Problem::*;
        match self {
            PasswordCutByComment
            | PasswordQuoted
            | ChanSipUsersSwapped { .. }
            | OutboundAuthMissing
            | OutboundAuthDangling { .. }
            | ReferenceDangling { .. }
            | NoIdentify { .. }
            | NatUnconfigured { .. }
            | UnknownOption { .. }
            | UnknownType { .. }
            | UriCutByComment
            | BadValue { .. }
            | DuplicateSection { .. }
            | TransportMismatch { .. }
            | SameAorTwice { .. } => Severity::Breaks,
            AuthTypeMd5 { has_md5_cred } => {
                if *has_md5_cred {
                    Severity::Risk
                } else {
                    Severity::Breaks
                }
            }
            PasswordTrailingSpace
            | PasswordSpecial { .. }
            | AccountIdAsUsername { .. }
            | ChanSipUsernameAndDefaultuser
            | ForbiddenRetryZero { .. }
            | MaxRetriesLow { .. }
            | ExpirationLow { .. }
            | IgnoredLine { .. }
            | IdentifyByHostname { .. }
            | FromDiffers { .. } => Severity::Risk,
        }
    }
}

/// Why Asterisk ignores a line, serialisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ignored {
    /// No `=`.
    NoEquals,
    /// No name before `=`.
    NoName,
    /// An unknown `#directive`.
    UnknownDirective,
    /// `#include` without a file.
    DirectiveWithoutArgument,
    /// `#exec`, which sipwatch does not run.
    Exec,
}

/// One mistake and its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The line to change.
    #[serde(flatten)]
    pub place: Place,
    /// What is wrong.
    #[serde(flatten)]
    pub problem: Problem,
}

/// The configuration files read, any of them absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Files<'a> {
    /// `pjsip.conf`.
    pub pjsip: Option<&'a Config>,
    /// `pjsip_wizard.conf`.
    pub wizard: Option<&'a Config>,
    /// `sip.conf`.
    pub sip: Option<&'a Config>,
}

/// What `lint` read and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// When the check ran.
    pub time: std::time::SystemTime,
    /// The configuration directory.
    pub config_dir: PathBuf,
    /// Every file read (includes too).
    pub files: Vec<PathBuf>,
    /// The findings, in file order.
    pub findings: Vec<Finding>,
}

/// Why `lint` could not check a directory.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// None of [`FILES`] is there.
    #[error("{}: no pjsip.conf, pjsip_wizard.conf or sip.conf here; give the directory with --config-dir", dir.display())]
    NothingToRead {
        /// The directory.
        dir: PathBuf,
    },
    /// A file Asterisk would refuse too.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Reads [`FILES`] in `dir` (each absent one passed over) and checks them.
pub fn lint_dir(dir: &Path) -> Result<Report, LintError> {
    let mut read = Vec::new();
    for name in FILES {
        read.push(if dir.join(name).is_file() {
            Some(Config::load(dir, name)?)
        } else {
            None
        });
    }
    if read.iter().all(Option::is_none) {
        return Err(LintError::NothingToRead {
            dir: dir.to_path_buf(),
        });
    }
    let files = Files {
        pjsip: read[0].as_ref(),
        wizard: read[1].as_ref(),
        sip: read[2].as_ref(),
    };
    Ok(Report {
        time: std::time::SystemTime::now(),
        config_dir: dir.to_path_buf(),
        files: read
            .iter()
            .flatten()
            .flat_map(|c| c.files.clone())
            .collect(),
        findings: check(&files),
    })
}

/// Every finding in the files, sorted by file and line.
pub fn check(files: &Files) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut pjsip = Pjsip::default();
    for c in [files.pjsip, files.wizard].into_iter().flatten() {
        pjsip.add(c);
    }
    for auth in &pjsip.auths {
        passwords(auth, "password", &mut out);
        if auth
            .text("auth_type")
            .is_some_and(|t| t.eq_ignore_ascii_case("md5"))
        {
            out.push(Finding {
                place: Place::at(auth, auth.get("auth_type")),
                problem: Problem::AuthTypeMd5 {
                    has_md5_cred: auth.get("md5_cred").is_some(),
                },
            });
        }
    }
    for r in &pjsip.registrations {
        registration(r, &pjsip, &mut out);
    }
    references(&pjsip, &mut out);
    for w in &pjsip.wizards {
        wizard(w, &mut out);
    }
    if let Some(sip) = files.sip {
        chan_sip(sip, &mut out);
    }
    for c in [files.pjsip, files.wizard].into_iter().flatten() {
        schema::options(c, &mut out);
    }
    consistency::check(&pjsip, &mut out);
    for c in [files.pjsip, files.wizard, files.sip].into_iter().flatten() {
        ignored(c, &mut out);
    }
    out.sort_by(|a, b| (&a.place.file, a.place.line).cmp(&(&b.place.file, b.place.line)));
    out
}

/// The password checks of every `key` in a section.
fn passwords(s: &Section, key: &str, out: &mut Vec<Finding>) {
    for v in s.all(key) {
        for problem in password(v) {
            out.push(Finding {
                place: Place::value(s, v),
                problem,
            });
        }
    }
}

/// What is wrong with one password value.
fn password(v: &Value) -> Vec<Problem> {
    let mut found = Vec::new();
    if v.cut_by_comment {
        found.push(Problem::PasswordCutByComment);
    }
    if !v.commented && v.raw.ends_with([' ', '\t']) {
        found.push(Problem::PasswordTrailingSpace);
    }
    let p = v.value.as_str();
    let quoted = p.len() >= 2
        && ((p.starts_with('"') && p.ends_with('"')) || (p.starts_with('\'') && p.ends_with('\'')));
    if quoted {
        found.push(Problem::PasswordQuoted);
    }
    let inner = if quoted { &p[1..p.len() - 1] } else { p };
    let mut chars: Vec<Special> = inner
        .chars()
        .filter_map(|c| match c {
            ' ' | '\t' => Some(Special::Space),
            '"' | '\'' => Some(Special::Quote),
            '\\' => Some(Special::Backslash),
            '#' => Some(Special::Hash),
            c if !c.is_ascii() => Some(Special::NonAscii),
            _ => None,
        })
        .collect();
    chars.sort();
    chars.dedup();
    if !chars.is_empty() {
        found.push(Problem::PasswordSpecial { chars });
    }
    found
}

fn registration(r: &Registration, p: &Pjsip, out: &mut Vec<Finding>) {
    let s = r.section;
    let client_user = r
        .client_uri()
        .and_then(|v| uri_parts(&v.value))
        .and_then(|u| u.user.map(str::to_owned));
    let auths = r.outbound_auth();
    if auths.is_empty() {
        out.push(Finding {
            place: Place::section(s),
            problem: Problem::OutboundAuthMissing,
        });
    }
    for name in auths {
        match p.auth(name) {
            Some(auth) => {
                if let (Some(user), Some(client)) = (auth.get("username"), &client_user) {
                    account_id(auth, user, client, out);
                }
            }
            None => out.push(Finding {
                place: Place::at(s, s.get("outbound_auth")),
                problem: Problem::OutboundAuthDangling {
                    name: name.to_owned(),
                    other_type: other_type(p, name),
                },
            }),
        }
    }
    retries(
        s,
        r.forbidden_retry_interval(),
        r.max_retries(),
        r.retry_interval().0,
        r.expiration(),
        out,
    );
    let Some(server) = r.server_uri().and_then(|v| uri_parts(&v.value)) else {
        return;
    };
    // By name, the provider's addresses are not known here: an identify
    // for the trunk's endpoint (the one sharing this registration's
    // outbound_auth, or named by its `endpoint`) is taken as matching it.
    let by_name = server.host.parse::<IpAddr>().is_err();
    let trunk_identified = by_name
        && p.identifies.iter().any(|i| {
            i.text("endpoint").is_some_and(|e| {
                r.section.text("endpoint") == Some(e)
                    || (!r.outbound_auth().is_empty()
                        && p.endpoints.iter().any(|ep| {
                            ep.name == e
                                && pjsip::list(ep.get("outbound_auth")) == r.outbound_auth()
                        }))
            })
        });
    if !trunk_identified && !p.identifies.iter().any(|i| identifies(i, server.host)) {
        out.push(Finding {
            place: Place::at(s, r.server_uri()),
            problem: Problem::NoIdentify {
                host: server.host.to_owned(),
            },
        });
    }
    if is_private(server.host) {
        return;
    }
    let transports: Vec<&Section> = match r.transport() {
        Some(t) => p.transport(&t.value).into_iter().collect(),
        None => p.transports.clone(),
    };
    for t in transports {
        let bind = t.text("bind").unwrap_or("0.0.0.0");
        let bind_host = bind
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty() && (h.contains('.') || h.ends_with(']')))
            .map_or(bind, |(h, _)| h);
        let nat_set = t.get("external_signaling_address").is_some() || t.get("local_net").is_some();
        let known = out.iter().any(|f| {
            f.place.section == t.name && matches!(f.problem, Problem::NatUnconfigured { .. })
        });
        if !nat_set && !known && (is_private(bind_host) || is_wildcard(bind_host)) {
            out.push(Finding {
                place: Place::at(t, t.get("bind")),
                problem: Problem::NatUnconfigured {
                    registrar: server.host.to_owned(),
                    bind: bind.to_owned(),
                },
            });
        }
    }
}

/// The options that name other sections, by the type of the object
/// holding them: (holder type, option, wanted type). `outbound_auth` of a
/// registration has its own finding.
const REFERENCES: [(&str, &str, &str); 6] = [
    ("endpoint", "aors", "aor"),
    ("endpoint", "auth", "auth"),
    ("endpoint", "outbound_auth", "auth"),
    ("endpoint", "transport", "transport"),
    ("registration", "transport", "transport"),
    ("identify", "endpoint", "endpoint"),
];

/// Every reference of [`REFERENCES`] that names no section of its type.
fn references(p: &Pjsip, out: &mut Vec<Finding>) {
    let registrations: Vec<&Section> = p.registrations.iter().map(|r| r.section).collect();
    let of_type = |t: &str| -> &[&Section] {
        match t {
            "endpoint" => &p.endpoints,
            "aor" => &p.aors,
            "auth" => &p.auths,
            "transport" => &p.transports,
            "identify" => &p.identifies,
            _ => &[],
        }
    };
    for (holder, key, wanted) in REFERENCES {
        let holders: &[&Section] = if holder == "registration" {
            &registrations
        } else {
            of_type(holder)
        };
        for s in holders {
            let Some(v) = s.get(key) else { continue };
            for name in pjsip::list(Some(v)) {
                if of_type(wanted).iter().any(|t| t.name == name) {
                    continue;
                }
                out.push(Finding {
                    place: Place::value(s, v),
                    problem: Problem::ReferenceDangling {
                        name: name.to_owned(),
                        wanted: wanted.to_owned(),
                        other_type: any_type(p, name),
                    },
                });
            }
        }
    }
}

/// The type of any section named `name`.
fn any_type(p: &Pjsip, name: &str) -> Option<String> {
    let registrations = p.registrations.iter().map(|r| r.section);
    [
        &p.endpoints,
        &p.aors,
        &p.auths,
        &p.identifies,
        &p.transports,
    ]
    .into_iter()
    .flatten()
    .copied()
    .chain(registrations)
    .find(|s| s.name == name)
    .and_then(|s| s.kind().map(str::to_owned))
}

/// The type of a section named `name` that is not an auth, if any.
fn other_type(p: &Pjsip, name: &str) -> Option<String> {
    [&p.endpoints, &p.aors, &p.identifies, &p.transports]
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.kind().map(str::to_owned))
}

fn account_id(auth: &Section, user: &Value, client: &str, out: &mut Vec<Finding>) {
    let numeric = !user.value.is_empty() && user.value.bytes().all(|b| b.is_ascii_digit());
    if numeric && user.value != client {
        out.push(Finding {
            place: Place::value(auth, user),
            problem: Problem::AccountIdAsUsername {
                username: user.value.clone(),
                client_user: client.to_owned(),
            },
        });
    }
}

/// The retry and expiry checks shared by registrations and wizard trunks.
fn retries(
    s: &Section,
    forbidden: (u32, Option<&Value>),
    max: (u32, Option<&Value>),
    retry_interval_s: u32,
    expiration: (u32, Option<&Value>),
    out: &mut Vec<Finding>,
) {
    if forbidden.0 == 0 {
        out.push(Finding {
            place: Place::at(s, forbidden.1),
            problem: Problem::ForbiddenRetryZero {
                written: forbidden.1.is_some(),
            },
        });
    }
    if let (n, Some(v)) = max
        && n < LOW_MAX_RETRIES
    {
        out.push(Finding {
            place: Place::value(s, v),
            problem: Problem::MaxRetriesLow {
                max_retries: n,
                retry_interval_s,
            },
        });
    }
    let minimum_s = asterisk::MINIMUM_EXPIRATION.default;
    if let (n, Some(v)) = expiration
        && n < minimum_s
    {
        out.push(Finding {
            place: Place::value(s, v),
            problem: Problem::ExpirationLow {
                expiration_s: n,
                minimum_s,
            },
        });
    }
}

fn wizard(w: &pjsip::Wizard, out: &mut Vec<Finding>) {
    let s = w.section;
    for key in ["outbound_auth/password", "inbound_auth/password"] {
        passwords(s, key, out);
    }
    if !w.sends_registrations() {
        return;
    }
    if s.get("outbound_auth/username").is_none() {
        out.push(Finding {
            place: Place::section(s),
            problem: Problem::OutboundAuthMissing,
        });
    }
    retries(
        s,
        w.registration(asterisk::FORBIDDEN_RETRY_INTERVAL),
        w.registration(asterisk::MAX_RETRIES),
        w.registration(asterisk::RETRY_INTERVAL).0,
        w.registration(asterisk::EXPIRATION),
        out,
    );
}

fn chan_sip(c: &Config, out: &mut Vec<Finding>) {
    let registers: Vec<(&Section, pjsip::SipRegister)> = c
        .sections
        .iter()
        .filter(|s| !s.template)
        .flat_map(|s| {
            s.all("register")
                .filter_map(move |v| Some((s, pjsip::sip_register(v)?)))
        })
        .collect();
    for (s, r) in &registers {
        if r.value.cut_by_comment {
            out.push(Finding {
                place: Place::value(s, r.value),
                problem: Problem::PasswordCutByComment,
            });
        }
    }
    let peers = c.sections.iter().filter(|s| {
        !s.template
            && s.kind()
                .is_some_and(|t| matches!(t.to_ascii_lowercase().as_str(), "peer" | "friend"))
    });
    for peer in peers {
        passwords(peer, "secret", out);
        let defaultuser = peer.get("defaultuser");
        if let (Some(u), Some(d)) = (peer.get("username"), defaultuser)
            && u.value != d.value
        {
            out.push(Finding {
                place: Place::value(peer, u),
                problem: Problem::ChanSipUsernameAndDefaultuser,
            });
        }
        let Some(d) = defaultuser.or(peer.get("username")) else {
            continue;
        };
        let host = peer.text("host").unwrap_or("");
        for (_, r) in &registers {
            if let Some(authuser) = r.authuser
                && r.host.eq_ignore_ascii_case(host)
                && d.value == authuser
                && r.user != authuser
            {
                out.push(Finding {
                    place: Place::value(peer, d),
                    problem: Problem::ChanSipUsersSwapped {
                        register_user: r.user.to_owned(),
                        authuser: authuser.to_owned(),
                    },
                });
            }
        }
    }
}

fn ignored(c: &Config, out: &mut Vec<Finding>) {
    for i in &c.ignored {
        let why = match i.why {
            IgnoredWhy::NoEquals => Ignored::NoEquals,
            IgnoredWhy::NoName => Ignored::NoName,
            IgnoredWhy::UnknownDirective(_) => Ignored::UnknownDirective,
            IgnoredWhy::DirectiveWithoutArgument(_) => Ignored::DirectiveWithoutArgument,
            IgnoredWhy::Exec => Ignored::Exec,
        };
        // The section the line sits in: the last one opened above it in that file.
        let section = c
            .sections
            .iter()
            .filter(|s| s.file == i.file && s.line <= i.line)
            .max_by_key(|s| s.line)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        out.push(Finding {
            place: Place {
                file: i.file.clone(),
                line: i.line,
                section,
                key: None,
            },
            problem: Problem::IgnoredLine { why },
        });
    }
}

/// Whether an identify's `match` lists `host` (by name, address or a
/// network holding it).
fn identifies(identify: &Section, host: &str) -> bool {
    let addr: Option<IpAddr> = host.parse().ok();
    identify
        .all("match")
        .flat_map(|v| pjsip::list(Some(v)))
        .any(|m| {
            let m = m.trim_start_matches('[');
            let (net, bits) = m.split_once('/').unwrap_or((m, ""));
            let net = net.split(']').next().unwrap_or(net);
            let net = if net.matches(':').count() == 1 {
                net.split(':').next().unwrap_or(net)
            } else {
                net
            };
            if net.eq_ignore_ascii_case(host) {
                return true;
            }
            match (addr, net.parse::<IpAddr>()) {
                (Some(a), Ok(n)) => in_network(a, n, bits),
                _ => false,
            }
        })
}

/// `a` in `n/bits` (bits empty: the whole address; a dotted mask allowed).
fn in_network(a: IpAddr, n: IpAddr, bits: &str) -> bool {
    let (a, n, width) = match (a, n) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let prefix = if bits.is_empty() {
        width
    } else if let Ok(b) = bits.parse::<u32>() {
        b.min(width)
    } else if let Ok(std::net::IpAddr::V4(mask)) = bits.parse::<IpAddr>() {
        u32::from(mask).count_ones()
    } else {
        return false;
    };
    let shift = width - prefix;
    let (a, n) = if shift >= 128 {
        (0, 0)
    } else {
        (a >> shift, n >> shift)
    };
    a == n
}

/// A private, loopback or link-local address (a name is none of these).
fn is_private(host: &str) -> bool {
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
        }
        Ok(IpAddr::V6(a)) => {
            a.is_loopback()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// `0.0.0.0` or `::`.
fn is_wildcard(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(|a| a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(text: &str) -> Vec<Problem> {
        let c = Config::parse(text, "pjsip.conf").unwrap();
        check(&Files {
            pjsip: Some(&c),
            ..Files::default()
        })
        .into_iter()
        .map(|f| f.problem)
        .collect()
    }

    const GOOD: &str = "[t]\ntype=transport\nbind=0.0.0.0\nexternal_signaling_address=203.0.113.5\n\
        [a]\ntype=auth\nusername=alice\npassword=s3cret ; from the portal\n\
        [r]\ntype=registration\nserver_uri=sip:sip.example.net\nclient_uri=sip:alice@sip.example.net\n\
        outbound_auth=a\nforbidden_retry_interval=600\n\
        [i]\ntype=identify\nendpoint=trunk\nmatch=203.0.113.0/24\n\
        [trunk]\ntype=endpoint\noutbound_auth=a\n";

    #[test]
    fn a_sound_configuration_has_no_finding() {
        assert_eq!(lint(GOOD), []);
    }

    #[test]
    fn a_password_slip_is_found_without_repeating_the_password() {
        let found = lint("[a]\ntype=auth\npassword=\"ab c\u{e9}\"\n");
        assert_eq!(
            found,
            [
                Problem::PasswordQuoted,
                Problem::PasswordSpecial {
                    chars: vec![Special::Space, Special::NonAscii]
                }
            ]
        );
        assert_eq!(
            lint("[a]\ntype=auth\npassword=ab;cd\n"),
            [Problem::PasswordCutByComment]
        );
        assert_eq!(
            lint("[a]\ntype=auth\npassword = abc \n"),
            [Problem::PasswordTrailingSpace]
        );
    }

    #[test]
    fn an_identify_matches_by_name_address_or_network() {
        let i = Config::parse(
            "[i]\ntype=identify\nmatch=198.51.100.0/24,sip.example:5060\nmatch=[2001:db8::1]\n",
            "x",
        )
        .unwrap();
        let i = &i.sections[0];
        assert!(identifies(i, "198.51.100.7"));
        assert!(identifies(i, "sip.example"));
        assert!(identifies(i, "2001:db8::1"));
        assert!(!identifies(i, "198.51.101.7"));
        assert!(in_network(
            "10.1.2.3".parse().unwrap(),
            "10.0.0.0".parse().unwrap(),
            "255.0.0.0"
        ));
    }

    #[test]
    fn what_asterisk_refuses_to_load_is_found_in_registrations_auths_and_wizards() {
        let found = lint(
            "[a]\ntype=auth\nusername=alice\npasword=x\nauth_type=plain\n\
             [r]\ntype=registration\nserver_uri=sip:203.0.113.9\noutbound_auth=a\n\
             forbidden_retry_interval=300\nmax_retries=ten\n\
             [t]\ntype=transprot\n\
             [a]\ntype=auth\nusername=bob\n",
        );
        assert!(found.contains(&Problem::UnknownOption {
            object_type: "auth".into(),
            suggestion: Some("password".into())
        }));
        assert!(found.contains(&Problem::BadValue {
            object_type: "auth".into(),
            allowed: vec![
                "userpass".into(),
                "md5".into(),
                "digest".into(),
                "google_oauth".into()
            ]
        }));
        assert!(found.contains(&Problem::BadValue {
            object_type: "registration".into(),
            allowed: vec![]
        }));
        assert!(found.contains(&Problem::UnknownType {
            suggestion: "transport".into()
        }));
        assert!(found.contains(&Problem::DuplicateSection {
            object_type: "auth".into(),
            first_line: 1
        }));
        // A template's misspelling is found once, not once per user.
        let found = lint(
            "[tpl](!)\ntype=registration\nretry_intervl=30\n\
             [r1](tpl)\nserver_uri=sip:203.0.113.9\n[r2](tpl)\nserver_uri=sip:203.0.113.10\n",
        );
        let unknown = found
            .iter()
            .filter(|p| matches!(p, Problem::UnknownOption { .. }))
            .count();
        assert_eq!(unknown, 1, "{found:?}");
        // Same name, other types: the usual endpoint/aor/auth triple is fine.
        let found =
            lint("[6001]\ntype=endpoint\n[6001]\ntype=aor\n[6001]\ntype=auth\nusername=6001\n");
        assert!(
            !found
                .iter()
                .any(|p| matches!(p, Problem::DuplicateSection { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn sections_of_one_trunk_that_disagree_are_found() {
        let trunk = |server_uri: &str, transport: &str, extra: &str| {
            lint(&format!(
                "[udp]\ntype=transport\nprotocol=udp\nbind=203.0.113.5\n\
                 [tls]\ntype=transport\nprotocol=tls\nbind=203.0.113.5\n\
                 [a]\ntype=auth\nusername=alice\npassword=s3cret\n\
                 [r]\ntype=registration\nserver_uri={server_uri}\nclient_uri=sip:alice@p.example\n\
                 outbound_auth=a\nforbidden_retry_interval=300\ntransport={transport}\n{extra}"
            ))
        };
        let mismatch = |f: &[Problem]| {
            f.iter()
                .any(|p| matches!(p, Problem::TransportMismatch { .. }))
        };
        assert!(mismatch(&trunk(
            "sip:203.0.113.9\\;transport=tcp",
            "udp",
            ""
        )));
        assert!(mismatch(&trunk("sips:203.0.113.9", "udp", "")));
        assert!(!mismatch(&trunk("sips:203.0.113.9", "tls", "")));
        assert!(!mismatch(&trunk("sip:203.0.113.9", "udp", "")));
        // `;transport=tcp` unescaped is a comment: the parameter is lost.
        let cut = trunk("sip:203.0.113.9;transport=tcp", "udp", "");
        assert!(cut.contains(&Problem::UriCutByComment), "{cut:?}");
        assert!(!mismatch(&cut));
        let twice = trunk(
            "sip:203.0.113.9",
            "udp",
            "[r2]\ntype=registration\nserver_uri=sip:203.0.113.9\nclient_uri=sip:Alice@p.example\noutbound_auth=a\nforbidden_retry_interval=300\n",
        );
        assert!(twice.iter().any(
            |p| matches!(p, Problem::SameAorTwice { other_section, .. } if other_section == "r")
        ));
        let from = trunk(
            "sip:203.0.113.9",
            "udp",
            "[e]\ntype=endpoint\noutbound_auth=a\nfrom_user=alice\nfrom_domain=other.example\n",
        );
        let differs: Vec<&Problem> = from
            .iter()
            .filter(|p| matches!(p, Problem::FromDiffers { .. }))
            .collect();
        assert_eq!(differs.len(), 1, "{from:?}");
        assert!(
            matches!(differs[0], Problem::FromDiffers { option, .. } if option == "from_domain")
        );
    }
}
