//! Every sentence `sipwatch doctor` prints, as functions over the steps'
//! typed results ([`crate::doctor`] decides); the fixes in Asterisk's terms
//! (PJSIP and chan_sip). Also the checklist as printed ([`checklist`],
//! [`write_report`]) and the `doctor_report` JSON object ([`json`]), whose
//! `checklist` lines are prose that may change.
use std::io;

use serde::Serialize;

use crate::doctor::{
    Timed,
    credentials::{Binding, Credentials, Registration, Tested},
    dns::{Failure, Finding, Resolution, Via},
    public::Public,
    reach::{Answer, Icmp, Reach, Reached},
    report::{
        Mark, Marked, Report, Verdict, credentials_mark, dns_mark, public_mark, reach_mark,
        tls_mark,
    },
    tls::{Certificate, Checked, NameMatch, Session, Tls, Trust},
};
use crate::{net::IcmpKind, say::count, track::DigestAlgorithm};

/// The first line of the checklist.
pub fn heading(target: &str) -> String {
    format!("sipwatch doctor {target}")
}

/// ` (12.3 ms)`.
pub fn took(ms: f64) -> String {
    if ms >= 1000.0 {
        format!(" ({:.1} s)", ms / 1000.0)
    } else {
        format!(" ({ms:.1} ms)")
    }
}

/// The warning `--from-port` prints.
pub fn from_port_warning(port: u16) -> String {
    format!(
        "sipwatch doctor: sending UDP from port {port}: if a PBX runs on this host with that port, it cannot bind it while the doctor runs, and answers meant for it may come to the doctor"
    )
}

/// `cause: …`.
pub fn cause(text: &str) -> String {
    format!("cause: {text}")
}

/// `fix: …`.
pub fn fix(text: &str) -> String {
    format!("fix: {text}")
}

/// The last line.
pub fn verdict(v: Verdict) -> String {
    match v {
        Verdict::Ok => "all checks passed (exit 0)".to_owned(),
        Verdict::Failed => "a check failed: see each ✗ for its cause and fix (exit 2)".to_owned(),
        Verdict::CouldNotTest => {
            "could not test: this host cannot reach DNS or the network (exit 4)".to_owned()
        }
    }
}

fn line(
    mark: Mark,
    step: impl Into<String>,
    took_ms: Option<f64>,
    seen: impl Into<String>,
) -> Line {
    Line {
        mark,
        step: step.into(),
        took_ms,
        seen: seen.into(),
        details: Vec::new(),
        cause: None,
        fix: None,
    }
}

/// A DNS failure in words.
pub fn dns_failure(f: &Failure) -> String {
    match f {
        Failure::NxDomain => "the name does not exist (NXDOMAIN)".to_owned(),
        Failure::NoRecords => "the name exists but has no such record".to_owned(),
        Failure::ServerError { code } => format!("the DNS server answered {code}"),
        Failure::Timeout => "no DNS server answered in time".to_owned(),
        Failure::Other { error } => format!("the lookup failed: {error}"),
    }
}

fn finding(f: &Finding) -> String {
    match f {
        Finding::NoNaptr => "no NAPTR record for SIP: the SRV records of each transport are looked up (RFC 3263 §4.1)".to_owned(),
        Finding::NoSrv { port } => format!(
            "no SRV record: a PBX uses the name's A / AAAA records on port {port} (5061 for TLS), RFC 3263 §4.2"
        ),
        Finding::NoSrvFor { transport, name } => {
            format!("no SRV record {name}: {transport} is not offered through DNS")
        }
        Finding::SrvTargetWithoutAddress { srv, target, failure } => format!(
            "the SRV record {srv} points at {target}, which has no address ({}): the records disagree",
            dns_failure(failure)
        ),
        Finding::ServiceNotOffered { srv } => {
            format!("{srv} has the target \".\": the service is declared not offered (RFC 2782)")
        }
        Finding::NaptrWithoutSrv { replacement } => {
            format!("the NAPTR record points at {replacement}, which has no SRV record")
        }
        Finding::PortGiven { port } => format!(
            "a port was given ({port}): no NAPTR or SRV lookup, the name's A / AAAA records on that port (RFC 3263 §4.2)"
        ),
        Finding::TargetsCut { found } => format!(
            "{} found; the first of each transport are tried",
            count(*found as u64, "target", "targets")
        ),
    }
}

fn via_words(v: Via) -> &'static str {
    match v {
        Via::Naptr => "NAPTR → SRV",
        Via::Srv => "SRV",
        Via::Address => "A / AAAA",
        Via::Literal => "an IP address",
    }
}

/// Step 1 in words.
pub fn dns(t: &Timed<Resolution>, mark: Mark) -> Line {
    let r = &t.result;
    let Some(servers) = &r.servers else {
        let mut l = line(
            mark,
            "DNS",
            Some(t.took_ms),
            format!("{} is an IP address: nothing to resolve", r.name),
        );
        l.details = targets(r);
        return l;
    };
    let seen = match (&r.failure, r.targets.len()) {
        (Some(Failure::NoRecords), 0) if !r.srv.is_empty() => format!(
            "no SRV target of {} has an address, asked {servers}",
            r.name
        ),
        (Some(f), 0) => format!("{} for {}, asked {servers}", dns_failure(f), r.name),
        (_, n) => format!(
            "{} resolves to {}, asked {servers}",
            r.name,
            count(n as u64, "target", "targets")
        ),
    };
    let mut l = line(mark, "DNS", Some(t.took_ms), seen);
    for c in &r.cnames {
        l.details.push(format!(
            "CNAME {} → {} (TTL {} s)",
            c.name, c.target, c.ttl_s
        ));
    }
    for n in &r.naptr {
        l.details.push(format!(
            "NAPTR {} order {} preference {} flags \"{}\" {} → {} (TTL {} s)",
            n.name, n.order, n.preference, n.flags, n.services, n.replacement, n.ttl_s
        ));
    }
    for s in &r.srv {
        l.details.push(format!(
            "SRV {} priority {} weight {} port {} → {} (TTL {} s)",
            s.name, s.priority, s.weight, s.port, s.target, s.ttl_s
        ));
    }
    for a in &r.addresses {
        let kind = if a.ip.is_ipv4() { "A" } else { "AAAA" };
        l.details
            .push(format!("{kind} {} {} (TTL {} s)", a.name, a.ip, a.ttl_s));
    }
    for f in &r.findings {
        l.details.push(finding(f));
    }
    l.details.extend(targets(r));
    if mark == Mark::Fail {
        let (c, f) = dns_fix(r);
        l.cause = Some(c);
        l.fix = Some(f);
    }
    l
}

fn targets(r: &Resolution) -> Vec<String> {
    if r.targets.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "the targets a PJSIP server_uri sip:{} tries, in order:",
        r.name
    )];
    for (i, t) in r.targets.iter().enumerate() {
        out.push(format!(
            "  {}. {} {} ({}, from {})",
            i + 1,
            t.transport,
            t.address,
            t.host,
            via_words(t.via)
        ));
    }
    out
}

fn dns_fix(r: &Resolution) -> (String, String) {
    if let Some(Finding::SrvTargetWithoutAddress { srv, target, .. }) = r
        .findings
        .iter()
        .find(|f| matches!(f, Finding::SrvTargetWithoutAddress { .. }))
    {
        return (
            format!("{srv} names {target}, which has no address: a PBX that tries it fails before sending anything"),
            "tell the provider their DNS is inconsistent; meanwhile give PJSIP's registration `server_uri` (and the AOR's `contact`) a host and port that resolve, e.g. sip:HOST:PORT (no SRV lookup with a port), chan_sip `register => user:secret@HOST:PORT`".to_owned(),
        );
    }
    if let Some(Finding::NaptrWithoutSrv { replacement }) = r
        .findings
        .iter()
        .find(|f| matches!(f, Finding::NaptrWithoutSrv { .. }))
    {
        return (
            format!("the NAPTR record leads to {replacement}, which has no SRV record: RFC 3263 clients stop there"),
            "tell the provider; meanwhile name a host and port in PJSIP's `server_uri` (chan_sip `register =>`)".to_owned(),
        );
    }
    match &r.failure {
        Some(Failure::NxDomain) => (
            format!("{} does not exist in DNS", r.name),
            "check the name against the provider's documentation: PJSIP registration `server_uri` / `client_uri` and the AOR's `contact` (chan_sip: the host of `register =>` and the peer's `host`)".to_owned(),
        ),
        Some(Failure::Timeout) => (
            "no DNS server answered".to_owned(),
            "check /etc/resolv.conf and that UDP and TCP port 53 are allowed out, or ask another server with --dns".to_owned(),
        ),
        Some(Failure::ServerError { code }) => (
            format!("the DNS server answered {code}: the provider's zone or this resolver is broken"),
            "try another resolver with --dns; if it fails there too, tell the provider".to_owned(),
        ),
        Some(f) => (
            dns_failure(f),
            "check the name, or name the provider's IP address and port in PJSIP's `server_uri`".to_owned(),
        ),
        None => (
            format!("{} has no address a PBX can use", r.name),
            "check the name against the provider's documentation".to_owned(),
        ),
    }
}

fn answer_words(a: &Answer) -> String {
    let mut s = format!(
        "{} {} in {:.1} ms after {}",
        a.code,
        a.reason,
        a.rtt_ms,
        count(a.sent, "transmission", "transmissions")
    );
    if a.code >= 300 {
        s.push_str(
            ": reachable, but it refuses OPTIONS (many providers answer only registered peers)",
        );
    }
    s
}

/// A target's line.
pub fn reach(t: &Timed<Reach>, mark: Mark) -> Line {
    let r = &t.result;
    let step = format!("{} {}", r.target.transport, r.target.address);
    let port = r.target.address.port();
    let (seen, cause, fix): (String, Option<String>, Option<String>) = match &r.reached {
        Reached::Answered(a) => (answer_words(a), None, None),
        Reached::NoAnswer { sent, waited_ms } => (
            format!(
                "no answer to {} in {:.1} s",
                count(*sent, "OPTIONS", "OPTIONS"),
                waited_ms / 1000.0
            ),
            Some("the requests or their answers are dropped on the way (a firewall here, on the router or at the provider), or nothing there speaks SIP".to_owned()),
            Some(format!(
                "allow {} out to {} and its answers back; ask the provider whether this host's public address must be allowed (their whitelist)",
                r.target.transport, r.target.address
            )),
        ),
        Reached::PortUnreachable { from } => (
            format!(
                "ICMP port unreachable{}: the host is there, nothing listens on UDP port {port}",
                sender(*from)
            ),
            Some(match from {
                Some(f) if *f != r.target.address.ip() => format!(
                    "{f}, not the target, refused the port: a firewall on the way rejects it"
                ),
                _ => format!("{} answers, but not SIP on UDP {port}", r.target.address.ip()),
            }),
            Some("check the port and transport with the provider (5060, 5080, 5160…): PJSIP registration `server_uri` sip:HOST:PORT, chan_sip `register => user:secret@HOST:PORT`".to_owned()),
        ),
        Reached::Refused => (
            format!("TCP connection refused (RST): nothing listens on TCP port {port}"),
            Some(format!("the provider does not take TCP on port {port}")),
            Some("use the transport the provider offers: PJSIP endpoint / registration `transport=` a UDP transport (or `;transport=udp` in `server_uri`); chan_sip `transport=udp`".to_owned()),
        ),
        Reached::ConnectTimeout { waited_ms } => (
            format!("the TCP handshake went unanswered for {:.1} s", waited_ms / 1000.0),
            Some("the SYN or its answer is dropped on the way (a firewall), or the host is down".to_owned()),
            Some(format!("allow TCP out to {}; ask the provider whether this host's public address must be allowed", r.target.address)),
        ),
        Reached::Reset => (
            "the connection was reset before an answer".to_owned(),
            Some("the provider (or a firewall on the way) tore the connection down on seeing the request".to_owned()),
            Some("ask the provider whether this host's address is allowed; try UDP".to_owned()),
        ),
        Reached::Closed => (
            "the connection was closed without an answer".to_owned(),
            Some("the peer accepts TCP but not this SIP request (TLS expected on this port?)".to_owned()),
            Some("check the port and transport with the provider (5061 is TLS)".to_owned()),
        ),
        Reached::Failed { error } => (
            format!("could not send: {error}"),
            Some("this host could not open or use a socket for it (no route, or the port is in use)".to_owned()),
            Some("check this host's network (route, address family) and --from-port".to_owned()),
        ),
        Reached::Unreachable { sent, icmp } => (
            format!(
                "no answer to {}; {}{}",
                count(*sent, "OPTIONS", "OPTIONS"),
                icmp_words(icmp),
                sender(icmp.from)
            ),
            Some(match icmp.kind.unwrap_or(IcmpKind::OtherUnreachable) {
                IcmpKind::AdministrativelyProhibited => "a firewall on the way rejects the traffic".to_owned(),
                IcmpKind::HostUnreachable => "the last router cannot find the host: it is down, or the address is wrong".to_owned(),
                IcmpKind::NetworkUnreachable => "a router on the way has no route to it".to_owned(),
                _ => "an ICMP error came back instead of an answer".to_owned(),
            }),
            Some(match icmp.kind.unwrap_or(IcmpKind::OtherUnreachable) {
                IcmpKind::AdministrativelyProhibited => format!(
                    "ask whoever runs {} to allow SIP to {}",
                    icmp.from.map_or("that firewall".to_owned(), |f| f.to_string()),
                    r.target.address
                ),
                _ => "check the address with the provider and this host's routes".to_owned(),
            }),
        ),
        Reached::AnsweredElsewhere { from, code, reason } => (
            format!("no answer from {}, but {code} {reason} from {from}", r.target.address),
            Some(format!("the answer comes from another address or port than the one asked ({from}): a load balancer or a NAT on the provider's side; a PBX drops it as not from its peer")),
            Some(format!("ask the provider to answer from {} (the address asked), or point PJSIP's `server_uri` (and an `identify` `match`) at {from}", r.target.address)),
        ),
        Reached::TlsFailed { error } => (
            format!("the TLS handshake failed: {error}"),
            Some("the port does not speak TLS (plain SIP on it?), or no TLS version or cipher in common".to_owned()),
            Some(TLS_METHOD_FIX.to_owned()),
        ),
        Reached::NotTested => ("not tested by this version".to_owned(), None, None),
    };
    let mut l = line(mark, step, Some(t.took_ms), seen);
    if let Some(local) = r.local {
        l.details.push(format!("sent from {local}"));
    }
    if let Some(a) = r.answer() {
        for (name, v) in [
            ("Server", &a.server),
            ("User-Agent", &a.user_agent),
            ("Allow", &a.allow),
            ("Supported", &a.supported),
        ] {
            if let Some(v) = v {
                l.details.push(format!("{name}: {v}"));
            }
        }
    }
    l.cause = cause;
    l.fix = fix;
    l
}

/// ` from 192.0.2.1`, or nothing.
fn sender(from: Option<std::net::IpAddr>) -> String {
    from.map(|f| format!(" from {f}")).unwrap_or_default()
}

/// `ICMP host unreachable`, in the words of [`IcmpKind`]'s Display.
fn icmp_words(icmp: &Icmp) -> String {
    match icmp.kind {
        Some(kind) => format!("ICMP {kind}"),
        None => format!("ICMP type {} code {}", icmp.icmp_type, icmp.icmp_code),
    }
}

/// When DNS gave no target.
pub fn reach_none() -> Line {
    line(
        Mark::NotApplicable,
        "reachability",
        None,
        "no target to try",
    )
}

/// Step 3 in words.
pub fn public(t: &Timed<Public>, mark: Mark) -> Line {
    let Public::Seen(s) = &t.result else {
        return line(
            mark,
            "public address",
            Some(t.took_ms),
            "no answer to read it from",
        );
    };
    let mut l = line(
        mark,
        "public address",
        Some(t.took_ms),
        format!(
            "the provider sees this host as {} — the address to whitelist",
            s.public
        ),
    );
    let nat = match (s.nat, s.port_preserved) {
        (false, true) => format!("no NAT: the same as the local address {}", s.local),
        (false, false) => format!(
            "the local address {}, the port changed to {} on the way",
            s.local,
            s.public.port()
        ),
        (true, true) => format!(
            "behind NAT: this host sends from {}; the port is kept",
            s.local
        ),
        (true, false) => format!(
            "behind NAT: this host sends from {}; the port is rewritten to {}",
            s.local,
            s.public.port()
        ),
    };
    l.details.push(format!(
        "from the {} answer of {}; {nat}",
        s.transport, s.target
    ));
    if s.port_assumed {
        l.details.push(
            "the provider did not fill in rport (RFC 3581): the port is this host's, assumed"
                .to_owned(),
        );
    }
    if s.nat {
        l.details.push(format!(
            "behind NAT, Asterisk must announce {}: PJSIP transport `external_signaling_address` / `external_media_address` = {} and `local_net` = this host's networks; chan_sip `externip` / `localnet`",
            s.public.ip(),
            s.public.ip()
        ));
    }
    for o in &s.others {
        l.details.push(format!("another answer saw {o}: more than one public address (or a NAT that maps per destination)"));
    }
    l
}

fn binding(b: &Binding) -> String {
    match b.expires_s {
        Some(s) => format!("binding <{}> for {s} s more", b.contact),
        None => format!("binding <{}>", b.contact),
    }
}

fn tested(t: &Tested, mark: Mark, took_ms: f64) -> Line {
    let user = &t.auth_user;
    let (seen, cause, fix): (String, Option<String>, Option<String>) = match &t.registration {
        Registration::Registered { bindings } => (
            format!(
                "the credentials work for {}: the registrar holds {}",
                t.aor,
                count(bindings.len() as u64, "binding", "bindings")
            ),
            None,
            None,
        ),
        Registration::WrongPassword { realm } => (
            format!("challenged again after the credentials for {user}"),
            Some(format!(
                "the password, or the authentication user name {user}, is wrong{}",
                realm.as_deref().map(|r| format!(" for realm \"{r}\"")).unwrap_or_default()
            )),
            Some("PJSIP: in the auth section named by the registration's `outbound_auth`, set `username` and `password` as the provider gave them; chan_sip: `register => user[:secret[:authuser]]@host` and the peer's `defaultuser` / `secret`".to_owned()),
        ),
        Registration::Forbidden { after_challenge: false, warning } => (
            format!("403 Forbidden before any challenge{}", warning_words(warning)),
            Some("the registrar refuses this host before asking for credentials: its address is not allowed (an IP-authenticated trunk, or a whitelist)".to_owned()),
            Some("ask the provider to allow the public address shown above".to_owned()),
        ),
        Registration::Forbidden { after_challenge: true, warning } => (
            format!("403 Forbidden after the credentials{}", warning_words(warning)),
            Some(format!("the credentials were read but the account {} is refused (suspended, not allowed from this address, or the AOR is not this user's)", t.aor)),
            Some("ask the provider about the account; check PJSIP registration `client_uri` (chan_sip: the user of `register =>`)".to_owned()),
        ),
        Registration::NotFound { .. } => (
            format!("404: the registrar does not know {}", t.aor),
            Some("the user part of the AOR is not an account there".to_owned()),
            Some("PJSIP registration `client_uri = sip:USER@domain` (and `contact_user`); chan_sip `register => USER@host`".to_owned()),
        ),
        Registration::IntervalTooBrief { min_expires_s } => (
            format!(
                "423 Interval Too Brief{}",
                min_expires_s.map(|m| format!(", Min-Expires {m} s")).unwrap_or_default()
            ),
            Some("the registrar wants longer registrations".to_owned()),
            Some(format!(
                "PJSIP registration `expiration` (chan_sip `defaultexpiry`) at least {}",
                min_expires_s.map_or("the Min-Expires".to_owned(), |m| format!("{m}"))
            )),
        ),
        Registration::Unavailable { retry_after_s } => (
            format!(
                "503 Service Unavailable{}",
                retry_after_s.map(|r| format!(", Retry-After {r} s")).unwrap_or_default()
            ),
            Some("the provider's registrar is overloaded or in maintenance".to_owned()),
            Some("wait and retry; PJSIP registration `retry_interval` keeps retrying; ask the provider for another server".to_owned()),
        ),
        Registration::CannotAnswer { offered } => (
            format!("challenged with {} only, which the doctor cannot answer", algorithms(offered)),
            Some("no Digest challenge with a known algorithm and qop auth".to_owned()),
            Some("Asterisk PJSIP answers SHA-256 and SHA-512-256 from 20.12.0, 21.7.0 and 22.2.0, chan_sip MD5 only: ask the provider to offer MD5".to_owned()),
        ),
        Registration::TooManyChallenges => (
            "challenged again and again (stale nonces)".to_owned(),
            Some("the registrar never accepted a nonce".to_owned()),
            Some("tell the provider; check this host's clock".to_owned()),
        ),
        Registration::Rejected { code, reason, .. } => (
            format!("{code} {reason}"),
            Some(format!("the registrar refused the REGISTER with {code}")),
            Some("compare the registration with the provider's documentation: PJSIP `server_uri`, `client_uri`, `outbound_auth`".to_owned()),
        ),
        Registration::Unanswered { reached } => (
            format!("the REGISTER had no answer: {}", unanswered(reached)),
            Some("OPTIONS were answered but the REGISTER was not".to_owned()),
            Some("ask the provider whether REGISTER from this address is dropped (rate limit, fail2ban-like ban)".to_owned()),
        ),
    };
    let mut l = line(mark, "credentials", Some(took_ms), seen);
    l.details.push(format!(
        "a REGISTER without Contact (RFC 3261 §10.2.4: a query, the PBX's binding is left alone) to {} {}, user {}, {}{}",
        t.target.transport,
        t.target.address,
        user,
        count(t.requests, "request", "requests"),
        t.algorithm
            .as_ref()
            .map(|a| format!(", digest {}", a.name()))
            .unwrap_or_default()
    ));
    if let Registration::Registered { bindings } = &t.registration {
        if bindings.is_empty() {
            l.details
                .push("no binding: the PBX is not registered there now".to_owned());
        }
        l.details.extend(bindings.iter().map(binding));
    }
    // The tracker's reading, as a capture of this exchange would give it:
    // the same words as every other diagnosis.
    let mut judged = t
        .diagnoses
        .iter()
        .map(|d| super::diagnosis::explain(d, &super::Context::default()));
    match judged.next() {
        Some((judged_cause, judged_fix)) => {
            // What only the doctor knows stays beside it: the same target
            // answered an OPTIONS.
            if let (Registration::Unanswered { .. }, Some(cause), Some(fix)) =
                (&t.registration, &cause, &fix)
            {
                l.details.push(format!("{cause}: {fix}"));
            }
            l.cause = Some(judged_cause);
            l.fix = Some(judged_fix);
        }
        None => {
            l.cause = cause;
            l.fix = fix;
        }
    }
    for (cause, fix) in judged {
        l.details.push(format!("also: {cause}; {fix}"));
    }
    l
}

fn algorithms(offered: &[DigestAlgorithm]) -> String {
    if offered.is_empty() {
        return "no Digest challenge".to_owned();
    }
    offered
        .iter()
        .map(|a| crate::doctor::clean(a.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn warning_words(w: &Option<String>) -> String {
    w.as_deref()
        .map(|w| format!(" (Warning: {w})"))
        .unwrap_or_default()
}

fn unanswered(r: &Reached) -> String {
    match r {
        Reached::NoAnswer { sent, .. } => format!(
            "no answer to {}",
            count(*sent, "transmission", "transmissions")
        ),
        Reached::PortUnreachable { .. } => "ICMP port unreachable".to_owned(),
        Reached::Unreachable { icmp, .. } => icmp_words(icmp),
        Reached::Refused => "TCP connection refused".to_owned(),
        Reached::ConnectTimeout { .. } => "TCP handshake unanswered".to_owned(),
        Reached::Reset => "connection reset".to_owned(),
        Reached::Closed => "connection closed".to_owned(),
        Reached::Failed { error } => error.clone(),
        Reached::Answered(a) => format!("{} {}", a.code, a.reason),
        Reached::TlsFailed { error } => format!("TLS handshake failed: {error}"),
        Reached::AnsweredElsewhere { from, code, .. } => {
            format!("{code} from another address, {from}")
        }
        Reached::NotTested => "not tested".to_owned(),
    }
}

/// Step 4 in words.
pub fn credentials(t: &Timed<Credentials>, mark: Mark) -> Line {
    match &t.result {
        Credentials::NotAsked => line(
            mark,
            "credentials",
            None,
            "not tested (give --user and --password)",
        ),
        Credentials::NoTarget => line(mark, "credentials", None, "not tested: no target answered"),
        Credentials::Tested(tested_) => tested(tested_, mark, t.took_ms),
    }
}

/// Step 5 when no target was checked.
pub fn tls(t: &Tls) -> Line {
    match t {
        Tls::NotAsked => line(
            Mark::NotApplicable,
            "TLS",
            None,
            "not asked (add tls to --transport)",
        ),
        Tls::NoTarget => line(
            Mark::NotApplicable,
            "TLS",
            None,
            "no TLS target: no _sips._tcp SRV or SIPS+D2T NAPTR record",
        ),
        Tls::Checked { .. } => line(Mark::NotApplicable, "TLS", None, "checked"),
    }
}

fn name_words(what: &str, name: &str, m: NameMatch) -> String {
    match m {
        NameMatch::Exact => format!("{what} {name} is among the certificate's names"),
        NameMatch::Wildcard => format!(
            "{what} {name} is covered only by a wildcard, which RFC 5922 §7.2 does not accept for SIP (PJSIP accepts it)"
        ),
        NameMatch::No => format!("{what} {name} is not among the certificate's names"),
    }
}

fn certificate(i: usize, c: &Certificate) -> String {
    let names = if c.dns_names.is_empty() {
        "no DNS name".to_owned()
    } else {
        format!("DNS names {}", c.dns_names.join(", "))
    };
    let days = if c.days_left < 0 {
        format!("expired {} days ago", -c.days_left)
    } else {
        format!("{} days left", c.days_left)
    };
    let own = if c.self_signed { ", self-signed" } else { "" };
    format!(
        "certificate {}: {}, issued by {}, {names}, valid until {} ({days}){own}",
        i + 1,
        c.subject,
        c.issuer,
        c.not_after
    )
}

const TLS_CA_FIX: &str = "PJSIP transport `ca_list_file` = the provider's CA (or this certificate) with `verify_server = yes`; chan_sip `tlscafile`; check it here with --ca FILE";
const TLS_METHOD_FIX: &str = "check the TLS port with the provider (5061 or the SRV's); PJSIP transport `method = tlsv1_2` (or `tlsv1_3`), chan_sip `tlsclientmethod = tlsv1_2`";

/// A TLS target's line.
pub fn tls_target(t: &Timed<Checked>, mark: Mark) -> Line {
    let c = &t.result;
    let step = format!("TLS {}", c.target.address);
    let h = match &c.session {
        Session::NoConnection { error } => {
            let mut l = line(
                mark,
                step,
                Some(t.took_ms),
                format!("no TCP connection: {error}"),
            );
            l.cause = Some("nothing accepts TCP there, or it is dropped on the way".to_owned());
            l.fix = Some(format!(
                "allow TCP out to {}; check the port with the provider",
                c.target.address
            ));
            return l;
        }
        Session::HandshakeFailed { error } => {
            let mut l = line(
                mark,
                step,
                Some(t.took_ms),
                format!("the TLS handshake failed: {error}"),
            );
            l.cause = Some("the port does not speak TLS (plain SIP on it?), or no TLS version or cipher in common".to_owned());
            l.fix = Some(TLS_METHOD_FIX.to_owned());
            return l;
        }
        Session::Completed(h) => h,
    };
    let end = h.chain.first();
    let days = end.map(|e| e.days_left).unwrap_or_default();
    let trust = match &h.trust {
        Trust::Trusted => "verified".to_owned(),
        Trust::UnknownIssuer if end.is_some_and(|e| e.self_signed) => {
            "self-signed, not trusted".to_owned()
        }
        Trust::UnknownIssuer => "issued by a CA this host does not trust".to_owned(),
        Trust::Expired => "expired".to_owned(),
        Trust::NotValidYet => "not valid yet".to_owned(),
        Trust::NoRoots => "not verified: no trusted root certificate on this host".to_owned(),
        Trust::Other { error } => format!("not verified: {error}"),
    };
    let mut l = line(
        mark,
        step,
        Some(t.took_ms),
        format!(
            "certificate {trust}, {} {}, {}",
            h.version,
            h.cipher,
            if days < 0 {
                format!("expired {} days ago", -days)
            } else {
                format!("{days} days left")
            }
        ),
    );
    l.details
        .extend(h.chain.iter().enumerate().map(|(i, c)| certificate(i, c)));
    l.details
        .push(name_words("the SIP domain", &c.domain, h.domain_match));
    if let Some(m) = h.target_match {
        l.details
            .push(name_words("the SRV target", &c.target.host, m));
    }
    if h.client_certificate_requested {
        l.details.push("the server asks for a client certificate: PJSIP transport `cert_file` / `priv_key_file` (chan_sip `tlscertfile`)".to_owned());
    }
    if mark != Mark::Fail {
        return l;
    }
    let (cause, fix) = match &h.trust {
        Trust::UnknownIssuer if end.is_some_and(|e| e.self_signed) => (
            "the certificate is self-signed: no CA this host trusts vouches for it".to_owned(),
            TLS_CA_FIX.to_owned(),
        ),
        Trust::UnknownIssuer => (
            format!(
                "the chain ends at {}, a CA this host does not trust",
                h.chain.last().map_or("an unknown issuer", |c| c.issuer.as_str())
            ),
            TLS_CA_FIX.to_owned(),
        ),
        Trust::Expired => (
            format!(
                "the certificate expired on {}",
                end.map_or("", |e| e.not_after.as_str())
            ),
            "the provider must renew it; a PBX with `verify_server = yes` refuses it (`verify_server = no` only hides the problem)".to_owned(),
        ),
        Trust::NotValidYet => (
            "the certificate is not valid yet, or this host's clock is wrong".to_owned(),
            "check this host's clock (NTP)".to_owned(),
        ),
        Trust::NoRoots => (
            "this host has no trusted root certificates".to_owned(),
            "install the ca-certificates package, or give --ca FILE".to_owned(),
        ),
        Trust::Other { error } => (format!("the chain does not verify: {error}"), TLS_CA_FIX.to_owned()),
        Trust::Trusted => (
            format!(
                "the certificate covers {}, not {}",
                end.map_or(String::new(), |e| e.dns_names.join(", ")),
                c.domain
            ),
            "PJSIP `verify_server` checks the name: `server_uri` must name a host the certificate covers; ask the provider for a certificate with the SIP domain in its subjectAltName (RFC 5922)".to_owned(),
        ),
    };
    l.cause = Some(cause);
    l.fix = Some(fix);
    l
}

/// One line of the checklist, in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// The verdict.
    pub mark: Mark,
    /// The step: `DNS`, `UDP 192.0.2.1:5060`, `public address`…
    pub step: String,
    /// How long it took, in milliseconds.
    pub took_ms: Option<f64>,
    /// What was seen.
    pub seen: String,
    /// Further lines (records, targets, headers, bindings).
    pub details: Vec<String>,
    /// For a ✗: why.
    pub cause: Option<String>,
    /// For a ✗: what to change, in Asterisk's terms.
    pub fix: Option<String>,
}

/// The checklist, in order.
pub fn checklist(report: &Report) -> Vec<Line> {
    let mut lines = vec![dns(&report.dns, dns_mark(&report.dns.result))];
    for r in &report.reach {
        lines.push(reach(r, reach_mark(&r.result)));
    }
    if report.reach.is_empty() {
        lines.push(reach_none());
    }
    lines.push(public(&report.public, public_mark(&report.public.result)));
    lines.push(credentials(
        &report.credentials,
        credentials_mark(&report.credentials.result),
    ));
    match &report.tls {
        Tls::Checked { targets } => {
            for t in targets {
                lines.push(tls_target(t, tls_mark(&t.result)));
            }
        }
        other => lines.push(tls(other)),
    }
    lines
}

/// The `doctor_report` object (docs/json.md), `type` and `time` first.
pub fn json(report: &Report) -> Json {
    Json {
        kind: "doctor_report",
        time: crate::time::rfc3339(report.time),
        target: report.target.clone(),
        verdict: report.verdict(),
        dns: Marked {
            mark: dns_mark(&report.dns.result),
            result: report.dns.clone(),
        },
        reach: report
            .reach
            .iter()
            .map(|r| Marked {
                mark: reach_mark(&r.result),
                result: r.clone(),
            })
            .collect(),
        public: Marked {
            mark: public_mark(&report.public.result),
            result: report.public.clone(),
        },
        credentials: Marked {
            mark: credentials_mark(&report.credentials.result),
            result: report.credentials.clone(),
        },
        tls: Marked {
            mark: report.tls_mark(),
            result: report.tls.clone(),
        },
        checklist: checklist(report),
    }
}

/// The `doctor_report` JSON object: each step's result with its `mark`,
/// and the checklist as printed.
#[derive(Clone, Debug, Serialize)]
pub struct Json {
    /// `doctor_report`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the checklist started (RFC 3339 UTC).
    pub time: String,
    /// The target as typed.
    pub target: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Step 1.
    pub dns: Marked<Timed<Resolution>>,
    /// Step 2, one per target.
    pub reach: Vec<Marked<Timed<Reach>>>,
    /// Step 3.
    pub public: Marked<Timed<Public>>,
    /// Step 4.
    pub credentials: Marked<Timed<Credentials>>,
    /// Step 5, with the mark of the whole step (✗ when any target fails).
    pub tls: Marked<Tls>,
    /// The checklist's lines.
    pub checklist: Vec<Line>,
}

/// The checklist as text: a heading, then each step's mark, time and
/// what was seen, its details indented, and for a ✗ its cause and fix.
pub fn write_report(out: &mut dyn io::Write, report: &Report) -> io::Result<()> {
    writeln!(out, "{}", heading(&report.target))?;
    for line in checklist(report) {
        let took = line.took_ms.map(took).unwrap_or_default();
        writeln!(
            out,
            "{} {}{took}: {}",
            line.mark.symbol(),
            line.step,
            line.seen
        )?;
        for d in &line.details {
            writeln!(out, "    {d}")?;
        }
        if let Some(why) = &line.cause {
            writeln!(out, "    {}", cause(why))?;
        }
        if let Some(change) = &line.fix {
            writeln!(out, "    {}", fix(change))?;
        }
    }
    writeln!(out, "{}", verdict(report.verdict()))
}
