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

    /// At the value, in the section that wrote it: a template's value is
    /// found once, at the template, for every section inheriting it.
    fn value(s: &Section, v: &Value) -> Place {
        Place {
            file: v.file.clone(),
            line: v.line,
            section: v.from_template.clone().unwrap_or_else(|| s.name.clone()),
            key: Some(v.key.clone()),
        }
    }

    /// At the section header, about an option it does not set.
    fn missing(s: &Section, key: &str) -> Place {
        Place {
            key: Some(key.to_owned()),
            ..Place::section(s)
        }
    }

    /// At the value when set, else at the section header.
    fn at(s: &Section, v: Option<&Value>) -> Place {
        v.map_or_else(|| Place::section(s), |v| Place::value(s, v))
    }

    /// At the value of `key` when set, else at the section header naming
    /// `key`.
    fn option(s: &Section, key: &str, v: Option<&Value>) -> Place {
        v.map_or_else(|| Place::missing(s, key), |v| Place::value(s, v))
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
    /// chan_sip: a `;` after the registrar's host in a `register =>` line
    /// started a comment: the extension (`/…`), expiry (`~…`) or a
    /// parameter after it is lost.
    RegisterLineCutByComment,
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
    /// A wizard trunk sending registrations with `outbound_auth/…` keys
    /// but not `sends_auth=yes`: the wizard builds no auth from them.
    WizardSendsAuthOff,
    /// A wizard trunk sending registrations with no `remote_hosts`: the
    /// wizard refuses it and creates nothing.
    WizardNoRemoteHosts,
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
    /// A registration's (or wizard trunk's) `transport` whose `protocol` is
    /// not the one its `server_uri` (`server_uri_pattern`) asks for
    /// (`;transport=tcp`, `sips:`).
    TransportMismatch {
        /// The option holding the URI: `server_uri` or `server_uri_pattern`.
        uri_option: String,
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
            | WizardSendsAuthOff
            | WizardNoRemoteHosts
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
            | RegisterLineCutByComment
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

/// Checks a configuration directory ([`lint_dir`]) or one file in it.
/// One of [`FILES`] is checked with the others beside it (a wizard trunk's
/// `transport` names a pjsip.conf section), and only its own findings (and
/// its includes') are kept; any other file is read alone as `pjsip.conf`
/// (its `#include`s relative to its directory).
pub fn lint_path(path: &Path) -> Result<Report, LintError> {
    // What is not there, or cannot be looked at, says why.
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return lint_dir(path);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !FILES.contains(&name.as_str()) {
        return Ok(report(dir, [Some(Config::load(dir, &name)?), None, None]));
    }
    let mut whole = lint_dir(dir)?;
    let own = Config::load(dir, &name)?.files;
    whole.findings.retain(|f| own.contains(&f.place.file));
    whole.files = own;
    Ok(whole)
}

/// Reads [`FILES`] in `dir` (each absent one passed over) and checks them.
pub fn lint_dir(dir: &Path) -> Result<Report, LintError> {
    // A directory that cannot be listed says why, not "no file here".
    std::fs::read_dir(dir).map_err(|source| ConfigError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut read = [None, None, None];
    for (slot, name) in read.iter_mut().zip(FILES) {
        if dir.join(name).is_file() {
            *slot = Some(Config::load(dir, name)?);
        }
    }
    if read.iter().all(Option::is_none) {
        return Err(LintError::NothingToRead {
            dir: dir.to_path_buf(),
        });
    }
    Ok(report(dir, read))
}

/// The findings in the files read, in [`FILES`] order.
fn report(dir: &Path, read: [Option<Config>; 3]) -> Report {
    let files = Files {
        pjsip: read[0].as_ref(),
        wizard: read[1].as_ref(),
        sip: read[2].as_ref(),
    };
    Report {
        time: std::time::SystemTime::now(),
        config_dir: dir.to_path_buf(),
        files: read
            .iter()
            .flatten()
            .flat_map(|c| c.files.clone())
            .collect(),
        findings: check(&files),
    }
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
        wizard(w, &pjsip, &mut out);
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
    // A template's mistake is found once per section inheriting it.
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(format!("{f:?}")));
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
    found.extend(password_text(&v.value));
    found
}

/// What is wrong with a password as Asterisk holds it: quotes kept,
/// characters often lost on the way from the provider's portal.
fn password_text(p: &str) -> Vec<Problem> {
    let mut found = Vec::new();
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
            place: Place::missing(s, "outbound_auth"),
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
        "",
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
    nat(server.host, r.transport(), p, out);
}

/// A transport a registration to the public `registrar` goes out on
/// (`transport`, else every one) bound to a private or wildcard address
/// with no `external_signaling_address` / `local_net`: found once per
/// transport.
fn nat(registrar: &str, transport: Option<&Value>, p: &Pjsip, out: &mut Vec<Finding>) {
    if is_private(registrar) {
        return;
    }
    let transports: Vec<&Section> = match transport {
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
                    registrar: registrar.to_owned(),
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

/// The retry and expiry checks shared by registrations and wizard trunks;
/// `prefix` is how the section names the registration's options (a
/// wizard's `registration/`).
fn retries(
    s: &Section,
    prefix: &str,
    forbidden: (u32, Option<&Value>),
    max: (u32, Option<&Value>),
    retry_interval_s: u32,
    expiration: (u32, Option<&Value>),
    out: &mut Vec<Finding>,
) {
    if forbidden.0 == 0 {
        out.push(Finding {
            place: Place::option(
                s,
                &format!("{prefix}{}", asterisk::FORBIDDEN_RETRY_INTERVAL.name),
                forbidden.1,
            ),
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

fn wizard(w: &pjsip::Wizard, p: &Pjsip, out: &mut Vec<Finding>) {
    let s = w.section;
    for key in ["outbound_auth/password", "inbound_auth/password"] {
        passwords(s, key, out);
    }
    if let Some(t) = w.transport()
        && p.transport(&t.value).is_none()
    {
        out.push(Finding {
            place: Place::value(s, t),
            problem: Problem::ReferenceDangling {
                name: t.value.clone(),
                wanted: "transport".to_owned(),
                other_type: any_type(p, &t.value),
            },
        });
    }
    if !w.sends_registrations() {
        return;
    }
    match w.server_host() {
        Some(host) => nat(host, w.transport(), p, out),
        None => out.push(Finding {
            place: Place::option(s, "remote_hosts", s.get("remote_hosts")),
            problem: Problem::WizardNoRemoteHosts,
        }),
    }
    match (s.get("outbound_auth/username"), w.sends_auth()) {
        (None, _) => out.push(Finding {
            place: Place::missing(s, "outbound_auth/username"),
            problem: Problem::OutboundAuthMissing,
        }),
        (Some(_), false) => out.push(Finding {
            place: Place::option(s, "sends_auth", s.get("sends_auth")),
            problem: Problem::WizardSendsAuthOff,
        }),
        (Some(_), true) => {}
    }
    retries(
        s,
        "registration/",
        w.registration(asterisk::FORBIDDEN_RETRY_INTERVAL),
        w.registration(asterisk::MAX_RETRIES),
        w.registration(asterisk::RETRY_INTERVAL).0,
        w.registration(asterisk::EXPIRATION),
        out,
    );
}

/// A `register =>` line's own slips: a `;` that cut it, a password in
/// quotes or with characters often lost.
fn register_line(s: &Section, v: &Value, out: &mut Vec<Finding>) {
    let mut found = Vec::new();
    match pjsip::sip_register(v) {
        // The `;` fell before `@host`: in the credentials, the password's.
        None if v.cut_by_comment => found.push(Problem::PasswordCutByComment),
        None => {}
        Some(r) => {
            if v.cut_by_comment {
                found.push(Problem::RegisterLineCutByComment);
            }
            found.extend(r.secret.map(password_text).unwrap_or_default());
        }
    }
    out.extend(found.into_iter().map(|problem| Finding {
        place: Place::value(s, v),
        problem,
    }));
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
    for (s, v) in c
        .sections
        .iter()
        .filter(|s| !s.template)
        .flat_map(|s| s.all("register").map(move |v| (s, v)))
    {
        register_line(s, v, out);
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
        // A CRLF file's line ends at `\r\n`: the space before it is pasted.
        assert_eq!(
            lint("[a]\r\ntype=auth\r\npassword = abc \r\n"),
            [Problem::PasswordTrailingSpace]
        );
    }

    #[test]
    fn the_wizards_own_mistakes_are_found() {
        let found = lint_wizard(
            "[udp]\ntype=transport\nbind=203.0.113.5\n",
            "[a]\ntype=wizard\nsends_registrations=yes\nremote_hosts=sip.example.net\n\
             outbound_auth/username=alice\noutbound_auth/password=x\n\
             [b]\ntype=wizard\nsends_registrations=yes\nsends_auth=yes\n\
             outbound_auth/username=bob\noutbound_auth/password=y\nendpoint/contxt=in\n",
        );
        let said: Vec<String> = found.iter().map(crate::say::lint::line).collect();
        assert!(
            said.iter()
                .any(|l| l.starts_with("pjsip_wizard.conf:1 [a] sends_auth:")
                    && l.contains("add sends_auth=yes")),
            "{said:#?}"
        );
        assert!(
            said.iter()
                .any(|l| l.starts_with("pjsip_wizard.conf:7 [b] remote_hosts:")
                    && l.contains("add remote_hosts=")),
            "{said:#?}"
        );
        assert!(
            said.iter().any(|l| l.contains("[b] endpoint/contxt:")
                && l.contains("did you mean endpoint/context?")
                && l.contains("write endpoint/context")),
            "{said:#?}"
        );
    }

    #[test]
    fn a_chan_sip_register_line_is_checked_where_the_cut_falls() {
        let lint_sip = |line: &str| {
            let c = Config::parse(&format!("[general]\n{line}\n"), "sip.conf").unwrap();
            check(&Files {
                sip: Some(&c),
                ..Files::default()
            })
            .into_iter()
            .map(|f| f.problem)
            .collect::<Vec<_>>()
        };
        // In the password, with or without an extension after the host.
        for line in [
            "register => alice:pa;ss@sip.example.net",
            "register => alice:pa;ss@sip.example.net/1000",
            "register => alice:pa;ss:authuser@sip.example.net:5060/1000~120",
        ] {
            assert_eq!(lint_sip(line), [Problem::PasswordCutByComment], "{line}");
        }
        // After the host: the extension is cut, not the password.
        assert_eq!(
            lint_sip("register => alice:secret@sip.example.net/10;00"),
            [Problem::RegisterLineCutByComment]
        );
        // A comment after a space is a comment.
        assert_eq!(
            lint_sip("register => alice:secret@sip.example.net/1000 ; main line"),
            []
        );
        assert_eq!(
            lint_sip("register => alice:\"secret\"@sip.example.net"),
            [Problem::PasswordQuoted]
        );
        assert_eq!(
            lint_sip("register => tls://alice:s#cret@sip.example.net"),
            [Problem::PasswordSpecial {
                chars: vec![Special::Hash]
            }]
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

    fn lint_wizard(pjsip: &str, wizard: &str) -> Vec<Finding> {
        let p = Config::parse(pjsip, "pjsip.conf").unwrap();
        let w = Config::parse(wizard, "pjsip_wizard.conf").unwrap();
        check(&Files {
            pjsip: Some(&p),
            wizard: Some(&w),
            ..Files::default()
        })
    }

    #[test]
    fn a_wizard_trunk_is_checked_like_a_registration_in_its_own_option_names() {
        let transports = "[udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0\n\
             [tcp]\ntype=transport\nprotocol=tcp\nbind=0.0.0.0\nexternal_signaling_address=203.0.113.5\n";
        let found = lint_wizard(
            transports,
            "[defaults](!)\ntype=wizard\nsends_registrations=yes\nregistration/expiration=30\n\
             [t1](defaults)\nremote_hosts=sip.example.net:5060\ntransport=udp\n\
             [t2](defaults)\nremote_hosts=sip2.example.net\ntransport=tpc\n\
             outbound_auth/username=bob\noutbound_auth/password=x\n\
             [t3](defaults)\nremote_hosts=203.0.113.9\ntransport=tcp\n\
             server_uri_pattern=sips:${REMOTE_HOST}\noutbound_auth/username=c\noutbound_auth/password=y\n",
        );
        let said: Vec<String> = found.iter().map(crate::say::lint::line).collect();
        let has = |start: &str, part: &str| {
            said.iter()
                .any(|l| l.starts_with(start) && l.contains(part))
        };
        // The template's expiration: once, at the template, in its own name.
        let expiration: Vec<&Finding> = found
            .iter()
            .filter(|f| matches!(f.problem, Problem::ExpirationLow { .. }))
            .collect();
        assert_eq!(expiration.len(), 1, "{said:#?}");
        assert_eq!(expiration[0].place.section, "defaults");
        assert!(has(
            "pjsip_wizard.conf:4 [defaults] registration/expiration:",
            "set registration/expiration to"
        ));
        // Missing options are named as the wizard writes them.
        assert!(has(
            "pjsip_wizard.conf:5 [t1] registration/forbidden_retry_interval:",
            "set registration/forbidden_retry_interval=300"
        ));
        assert!(has(
            "pjsip_wizard.conf:5 [t1] outbound_auth/username:",
            "outbound_auth/password="
        ));
        // Its transport: dangling, without NAT settings, of another protocol.
        assert!(found.iter().any(|f| f.place.section == "t2"
            && matches!(&f.problem, Problem::ReferenceDangling { name, .. } if name == "tpc")));
        assert!(found.iter().any(|f| f.place.section == "udp"
            && matches!(&f.problem, Problem::NatUnconfigured { registrar, .. } if registrar == "sip.example.net")));
        assert!(found.iter().any(|f| f.place.section == "t3"
            && matches!(&f.problem, Problem::TransportMismatch { uri_option, protocol, .. }
                if uri_option == "server_uri_pattern" && protocol == "tcp")));
        assert!(has(
            "pjsip_wizard.conf:15 [t3] transport:",
            "make server_uri_pattern ask for this one"
        ));
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
