//! The words of `sipwatch lint`: for each [`Finding`], what is wrong, why
//! it breaks the registration or the calls, and the fix, naming the file,
//! line and section. No password is ever repeated.
//!
//! ```
//! use sipwatch::{lint::{Finding, Place, Problem}, say::lint};
//! let f = Finding {
//!     place: Place { file: "pjsip.conf".into(), line: 12, section: "trunk-reg".into(), key: Some("forbidden_retry_interval".into()) },
//!     problem: Problem::ForbiddenRetryZero { written: true },
//! };
//! assert!(lint::line(&f).starts_with("pjsip.conf:12 [trunk-reg] forbidden_retry_interval: "));
//! ```
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    lint::{Finding, Ignored, Place, Problem, Report, Severity, Special},
    pbx::asterisk,
};

/// A finding in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words {
    /// What is wrong.
    pub what: String,
    /// Why it breaks the registration or the calls.
    pub why: String,
    /// What to change.
    pub fix: String,
}

/// Where: `pjsip.conf:42 [my-trunk-auth] password`.
pub fn place(p: &Place) -> String {
    let key = p
        .key
        .as_deref()
        .map(|k| format!(" {k}"))
        .unwrap_or_default();
    format!("{}:{} [{}]{key}", p.file.display(), p.line, p.section)
}

/// The finding on one line: place, how bad, what, why, then the fix.
pub fn line(f: &Finding) -> String {
    let w = words(f);
    format!(
        "{}: {}: {} {} Fix: {}",
        place(&f.place),
        severity(f.problem.severity()),
        w.what,
        w.why,
        w.fix
    )
}

/// `breaks` or `risk`, as the text and JSON say it.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Breaks => "breaks",
        Severity::Risk => "risk",
    }
}

/// What the findings add up to: `clean`, `risks` (nothing breaks; exit 0)
/// or `breaks` (exit 2).
pub fn verdict(report: &Report) -> &'static str {
    match report.findings.iter().map(|f| f.problem.severity()).min() {
        None => "clean",
        Some(Severity::Risk) => "risks",
        Some(Severity::Breaks) => "breaks",
    }
}

/// The whole report as text: a line per finding, then the count.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&line(f));
        out.push('\n');
    }
    let files = super::count(report.files.len() as u64, "file", "files");
    if report.findings.is_empty() {
        out.push_str(&format!(
            "{}: {files} read, no mistake found.\n",
            report.config_dir.display()
        ));
    } else {
        let breaks = report
            .findings
            .iter()
            .filter(|f| f.problem.severity() == Severity::Breaks)
            .count() as u64;
        out.push_str(&format!(
            "{}: {files} read, {}: {} the registration or its calls, {}.\n",
            report.config_dir.display(),
            super::count(report.findings.len() as u64, "finding", "findings"),
            super::count(breaks, "breaks", "break"),
            super::count(report.findings.len() as u64 - breaks, "risk", "risks"),
        ));
    }
    out
}

fn special(c: Special) -> &'static str {
    match c {
        Special::Space => "a space",
        Special::Quote => "a quote",
        Special::Backslash => "a backslash",
        Special::Hash => "a #",
        Special::NonAscii => "a non-ASCII character",
    }
}

/// What, why and the fix of a finding. Options are named as the section
/// names them (a wizard trunk's `registration/expiration`).
pub fn words(f: &Finding) -> Words {
    let wizard = f.place.key.as_deref().is_some_and(|k| k.contains('/'));
    let prefixed = |option: &str| {
        if wizard {
            format!("registration/{option}")
        } else {
            option.to_owned()
        }
    };
    let (what, why, fix): (String, String, String) = match &f.problem {
        Problem::PasswordCutByComment => (
            "a `;` right after the password starts a comment.".into(),
            "Asterisk keeps only the part before the `;`, so the registrar's challenge is answered with the wrong password (401/403).".into(),
            "write the `;` of the password as `\\;`.".into(),
        ),
        Problem::RegisterLineCutByComment => (
            "a `;` in the register line starts a comment.".into(),
            "chan_sip reads the line only up to the `;`: what you wrote after it (the extension after `/`, the expiry after `~`) is lost, and the registrar is asked for another binding than the one you meant.".into(),
            "put a space before the `;` if it starts a comment, or write it as `\\;` if it belongs to the line.".into(),
        ),
        Problem::PasswordTrailingSpace => (
            "the password line ends in whitespace.".into(),
            "Asterisk strips it: if the provider's password really ends in a space (pasted from its portal), Asterisk sends a different one (401/403); if not, the space is harmless but hides the question.".into(),
            "remove the trailing whitespace, and if the provider's password ends in a space, change it at the provider: Asterisk cannot hold one.".into(),
        ),
        Problem::PasswordQuoted => (
            "the password is in quotes.".into(),
            "Asterisk does not remove quotes: they are sent as part of the password (401/403).".into(),
            "remove the quotes.".into(),
        ),
        Problem::PasswordSpecial { chars } => {
            let names: Vec<&str> = chars.iter().map(|&c| special(c)).collect();
            (
                format!("the password holds {}.", names.join(", ")),
                "Such characters are often changed between the provider's portal, a copy and the file (quotes and spaces trimmed, another encoding), and the digest then fails (401/403).".into(),
                "check it character by character against the provider's, or set a password of letters and digits at the provider.".into(),
            )
        }
        Problem::AccountIdAsUsername {
            username,
            client_user,
        } => (
            format!("username {username} is all digits and is not the user of client_uri ({client_user})."),
            "It looks like an account or customer number where the SIP user name belongs: the registrar rejects the credentials (401/403/404).".into(),
            format!("set username to the SIP user name the provider gave (often {client_user}); keep the account number out of the auth section."),
        ),
        Problem::AuthTypeMd5 { has_md5_cred } => (
            "auth_type=md5.".into(),
            if *has_md5_cred {
                "With md5, Asterisk answers with md5_cred, the hash of username:realm:password, which must be made with the realm the registrar sends; a password line is ignored.".into()
            } else {
                "With md5, Asterisk reads md5_cred, not password: with no md5_cred there is no secret to answer the challenge with (401).".into()
            },
            format!("write auth_type={} with password, unless you mean to keep a hash.", asterisk::AUTH_TYPE_DEFAULT),
        ),
        Problem::ChanSipUsersSwapped {
            register_user,
            authuser,
        } => (
            format!("defaultuser is {authuser}, the register line's authentication user; the register line's user is {register_user}."),
            "The peer's defaultuser goes into the user part of the URIs chan_sip sends to it, the authentication user into the digest: swapped, the registrar or the calls reject it.".into(),
            format!("set defaultuser={register_user} and keep {authuser} as the authuser of the register line (user:secret:authuser@host)."),
        ),
        Problem::ChanSipUsernameAndDefaultuser => (
            "username and defaultuser are both set, to different values.".into(),
            "In chan_sip, username is the old name of defaultuser: one of them is ignored, and which one depends on their order.".into(),
            "keep only defaultuser, set to the provider's user name.".into(),
        ),
        Problem::OutboundAuthMissing if wizard => (
            "no outbound_auth/username: this wizard trunk has no credentials.".into(),
            "The REGISTER cannot answer the registrar's challenge: it stays at 401/407.".into(),
            "add outbound_auth/username=<the provider's user name> and outbound_auth/password=<its password> to this trunk.".into(),
        ),
        Problem::WizardSendsAuthOff => (
            "outbound_auth/username is set, but not sends_auth=yes.".into(),
            "Without sends_auth the wizard builds no auth from the outbound_auth/ keys: the registration has no credentials (it stays at 401/407) and registers this trunk's name as its user.".into(),
            "add sends_auth=yes to this trunk, then `module reload res_pjsip_config_wizard.so`.".into(),
        ),
        Problem::WizardNoRemoteHosts => (
            "sends_registrations=yes, and no remote_hosts.".into(),
            "Asterisk refuses the trunk (\"must have 'remote_hosts' if it sends registrations\") and creates no registration, endpoint or aor for it.".into(),
            "add remote_hosts=<the provider's host[:port]> to this trunk.".into(),
        ),
        Problem::OutboundAuthMissing => (
            "no outbound_auth.".into(),
            "The REGISTER cannot answer the registrar's challenge: it stays at 401/407.".into(),
            "add outbound_auth=<a type=auth section> with the provider's username and password.".into(),
        ),
        Problem::OutboundAuthDangling { name, other_type } => (
            match other_type {
                Some(t) => format!("outbound_auth names [{name}], which is a type={t} section, not a type=auth."),
                None => format!("outbound_auth names [{name}], which does not exist."),
            },
            "Asterisk then has no credentials for the challenge: the registration stays at 401/407 (or is not loaded).".into(),
            format!("point outbound_auth at the type=auth section, or add [{name}] with type=auth."),
        ),
        Problem::ReferenceDangling {
            name,
            wanted,
            other_type,
        } => (
            match other_type {
                Some(t) => format!("[{name}] is a type={t} section, not a type={wanted}."),
                None => format!("there is no [{name}] section (a type={wanted} is wanted)."),
            },
            format!("Asterisk refuses or ignores the reference: without its {wanted} the trunk cannot register, authenticate, be reached or match the provider's calls."),
            format!("name an existing type={wanted} section here, or add [{name}] with type={wanted}."),
        ),
        Problem::ForbiddenRetryZero { written } => {
            let option = prefixed(asterisk::FORBIDDEN_RETRY_INTERVAL.name);
            (
                if *written {
                    format!("{option}=0.")
                } else {
                    format!("{option} is not set (default {}).", asterisk::FORBIDDEN_RETRY_INTERVAL.default)
                },
                "With 0, one 403 Forbidden (a provider's brief hiccup included) stops this registration for good, until a reload.".into(),
                format!("set {option}=300 (or another number of seconds)."),
            )
        }
        Problem::MaxRetriesLow {
            max_retries,
            retry_interval_s,
        } => (
            format!("{}={max_retries}, below the default {}.", prefixed("max_retries"), asterisk::MAX_RETRIES.default),
            format!("After {max_retries} temporary failures {retry_interval_s} s apart (about {} s of provider outage) the registration stops for good, until a reload.", u64::from(*max_retries) * u64::from(*retry_interval_s)),
            format!("raise {} (10000 keeps trying through a long outage).", prefixed("max_retries")),
        ),
        Problem::ExpirationLow {
            expiration_s,
            minimum_s,
        } => (
            format!("{}={expiration_s}, below {minimum_s} s.", prefixed("expiration")),
            format!("Many registrars refuse shorter registrations with 423 Interval Too Brief (Asterisk's own minimum_expiration is {minimum_s} s); each refresh is also traffic."),
            format!("set {} to {minimum_s} or more (the default is {}).", prefixed("expiration"), asterisk::EXPIRATION.default),
        ),
        Problem::NoIdentify { host } => (
            format!("no identify matches the registrar's host {host}."),
            "The provider's INVITEs are then not matched to this trunk's endpoint: Asterisk answers them 401 or 403, or sends them to the anonymous endpoint.".into(),
            format!("add a type=identify section with endpoint=<the trunk's endpoint> and match={host} (or the provider's signalling addresses)."),
        ),
        Problem::NatUnconfigured { registrar, bind } => (
            format!("the transport is bound to {bind} and has no external_signaling_address or local_net, while a registration goes to the public {registrar}."),
            "Behind NAT, the Contact of the REGISTER would carry this host's private address: the registration may succeed while calls to it never arrive.".into(),
            "set external_signaling_address=<your public address> and local_net=<each private network> in this transport.".into(),
        ),
        Problem::IgnoredLine { why } => (
            match why {
                Ignored::NoEquals => "a line without `=`.".into(),
                Ignored::NoName => "a value without a name before `=`.".into(),
                Ignored::UnknownDirective => "an unknown #directive.".into(),
                Ignored::DirectiveWithoutArgument => "#include without a file name.".into(),
                Ignored::Exec => "#exec, which sipwatch does not run (what it prints is not checked).".into(),
            },
            "Asterisk passes over this line with a warning in its log.".into(),
            "correct the line, or make it a comment with `;`.".into(),
        ),
        Problem::UnknownOption {
            object_type,
            suggestion,
        } => (
            match suggestion {
                Some(near) => format!("type={object_type} has no such option (did you mean {near}?)."),
                None => format!("type={object_type} has no such option."),
            },
            format!("Asterisk does not skip an unknown option: it refuses to create this {object_type} (\"Could not find option suitable for category\", then \"Could not create an object of type '{object_type}'\"), and on a reload keeps the one it had, so the edit seems to do nothing."),
            match suggestion {
                Some(near) => format!("write {near}, then `pjsip reload`."),
                None => "remove the line or correct its name (`pjsip show registration <name>` and the like list the options Asterisk took), then `pjsip reload`.".into(),
            },
        ),
        Problem::UriCutByComment => (
            "a `;` in this URI starts a comment.".into(),
            "Asterisk keeps only the part before the `;`: the URI's parameters (;transport=tcp, ;lr) are lost, and the REGISTER goes over another transport or past the proxy's loose routing.".into(),
            "write each `;` of the URI as `\\;` (sip:proxy.example.net\\;lr).".into(),
        ),
        Problem::UnknownType { suggestion } => (
            format!("this type is not one Asterisk loads (did you mean type={suggestion}?)."),
            "No module takes a section of this type: it is not loaded at all, and Asterisk logs no error for it.".into(),
            format!("write type={suggestion}, then `pjsip reload`."),
        ),
        Problem::BadValue {
            object_type,
            allowed,
        } => (
            if allowed.is_empty() {
                "the value is not a whole number.".into()
            } else {
                format!("the value is not one of {}.", allowed.join(", "))
            },
            format!("Asterisk cannot read it and refuses to create this {object_type} (on a reload it keeps the one it had)."),
            if allowed.is_empty() {
                "write a whole number of seconds (or a count), without a unit.".into()
            } else {
                format!("write one of {}.", allowed.join(", "))
            },
        ),
        Problem::DuplicateSection {
            object_type,
            first_line,
        } => (
            format!("a second section of this name with type={object_type} (the first is at line {first_line})."),
            format!("Asterisk refuses the whole file's {object_type} objects (\"configuration contains a duplicate object\"): none of them load."),
            "rename one of them, or add to the first with [name](+).".into(),
        ),
        Problem::IdentifyByHostname { host } => (
            format!("match={host} is a hostname."),
            "Asterisk resolves it once, when it loads the identify (and on a reload): calls from addresses the provider adds later are not matched to the trunk (401/403, or the anonymous endpoint).".into(),
            format!("list the provider's signalling addresses or networks (match=203.0.113.0/24), or keep {host} and `pjsip reload` when they change (srv_lookups=yes follows its SRV records)."),
        ),
        Problem::TransportMismatch {
            uri_option,
            uri_transport,
            transport,
            protocol,
        } => (
            format!("{uri_option} asks for {uri_transport}, and transport={transport} is protocol={protocol}."),
            "PJSIP cannot send the REGISTER over a transport of another protocol than the URI's: the registration fails to start (\"Could not create request\" / no REGISTER on the wire).".into(),
            format!("name a transport with protocol={uri_transport}, or make {uri_option} ask for this one (its ;transport=, or sip: rather than sips:)."),
        ),
        Problem::SameAorTwice {
            aor,
            other_section,
            other_line,
        } => (
            format!("a second registration for {aor} at the same registrar ([{other_section}], line {other_line})."),
            "Both refresh one AOR: each REGISTER replaces or doubles the other's Contact, and the provider's calls go to either, or are refused as a duplicate login.".into(),
            "keep one registration per AOR (one trunk), or give each its own client_uri.".into(),
        ),
        Problem::FromDiffers {
            option,
            value,
            client,
            registration,
        } => (
            format!("{option}={value}, while [{registration}] registers as {client}."),
            "Calls go out with a From the provider did not register: many providers refuse them (403) or bill another account.".into(),
            format!("set {option}={client}, or leave it out so the endpoint uses what it registers."),
        ),
    };
    Words { what, why, fix }
}

/// The `lint_report` object (docs/json.md), `type` and `time` first.
pub fn json(report: &Report) -> Json<'_> {
    Json {
        kind: "lint_report",
        time: crate::time::rfc3339(report.time),
        config_dir: &report.config_dir,
        files: &report.files,
        verdict: verdict(report),
        findings: report
            .findings
            .iter()
            .map(|finding| {
                let Words { what, why, fix } = words(finding);
                JsonFinding {
                    finding,
                    severity: severity(finding.problem.severity()),
                    what,
                    why,
                    fix,
                }
            })
            .collect(),
    }
}

/// The `lint_report` JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct Json<'a> {
    /// `lint_report`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the check ran (RFC 3339 UTC).
    pub time: String,
    /// The configuration directory.
    pub config_dir: &'a Path,
    /// Every file read.
    pub files: &'a [PathBuf],
    /// `clean` (exit 0), `risks` (nothing breaks: exit 0) or `breaks`
    /// (exit 2).
    pub verdict: &'static str,
    /// Each finding with its words.
    pub findings: Vec<JsonFinding<'a>>,
}

/// A finding in JSON: its place, its `kind` and fields, and its words.
#[derive(Clone, Debug, Serialize)]
pub struct JsonFinding<'a> {
    /// The finding.
    #[serde(flatten)]
    pub finding: &'a Finding,
    /// `breaks` (the registration or its calls fail) or `risk`.
    pub severity: &'static str,
    /// What is wrong.
    pub what: String,
    /// Why it breaks the registration or the calls.
    pub why: String,
    /// What to change.
    pub fix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_problem_never_repeats_the_password() {
        let c = crate::pbx::config::Config::parse(
            "[a]\ntype=auth\npassword=\"s3cr3t p\u{e9}ss;word\n",
            "pjsip.conf",
        )
        .unwrap();
        let found = crate::lint::check(&crate::lint::Files {
            pjsip: Some(&c),
            ..Default::default()
        });
        assert!(!found.is_empty());
        for f in &found {
            let l = line(f);
            assert!(!l.contains("s3cr3t"), "{l}");
        }
    }
}
