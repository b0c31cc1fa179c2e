//! The words of a [`Diagnosis`]: what happened, with its evidence, and
//! what to do, for an Asterisk admin (PJSIP and chan_sip). The fix depends on
//! which side of the REGISTER this host is ([`Side`]): a PBX registering to
//! its provider fixes its outbound `registration`, a PBX that phones
//! register to fixes its AOR, endpoint and auth sections.
use std::net::SocketAddr;

use super::{Context, kernel_drop, path};
use crate::{
    net::Transport,
    pbx::asterisk,
    time::clock,
    track::{AlgSignKind, ChallengeKind, Diagnosis, DigestAlgorithm, DroppedHere, GrantSeen, Side},
};

/// (what happened, with its evidence; what to do) for `d`.
///
/// Every diagnosis is worded for an Asterisk admin whatever `cx.pbx` is
/// (Asterisk is the one PBX whose fixes are written out); `cx` is where a
/// FreeSWITCH wording, or the configuration section a `doctor` or `lint`
/// found ([`crate::track::config_match::ConfigRef`]), comes in.
///
/// With the configuration read (`--config-dir`), the fix ends with the
/// section that sends this registration and its line.
pub fn explain(d: &Diagnosis, cx: &Context) -> (String, String) {
    let (mut cause, mut fix) = from_the_wire(d);
    let refused_digest = matches!(
        d,
        Diagnosis::CredentialsRejected { .. }
            | Diagnosis::Forbidden {
                after_challenge: true,
                ..
            }
    );
    if refused_digest
        && let Some(auth) = cx.config.as_ref().and_then(|c| c.auth.as_ref())
        && let Some(check) = &auth.check
    {
        let (said, then) = super::password::explain(check, auth);
        cause.push_str("; ");
        cause.push_str(&said);
        // What the digest says replaces the generic "check the password".
        if let Some(then) = then {
            fix = then;
        }
    }
    if let Some(c) = &cx.config {
        fix.push_str(&format!(
            "; in this configuration: [{}] ({}:{})",
            c.section,
            c.file.display(),
            c.line
        ));
    }
    (cause, fix)
}

/// The cause and fix the wire alone tells.
fn from_the_wire(d: &Diagnosis) -> (String, String) {
    match d {
        Diagnosis::CredentialsRejected {
            challenge,
            side,
            username,
            from_user,
            realm_sent,
            realm_asked,
            algorithm_sent,
            algorithm_asked,
            reason,
        } => credentials_rejected(
            (*challenge, reason),
            *side,
            (username, from_user),
            (realm_sent, realm_asked),
            (algorithm_sent, algorithm_asked),
        ),
        Diagnosis::StaleNonce { challenge, times, reason } => (
            format!("{} with stale=true {times} times in one attempt, each answered with the fresh nonce: the nonce expires before it is used, the credentials are fine", as_written(*challenge, reason)),
            "check the clocks (NTP) on the PBX and registrar and for long delays on the path; a nonce reused after its lifetime is what this means".into(),
        ),
        Diagnosis::NoCredentials { challenge, side, realm, algorithm_asked, user_agent } => {
            no_credentials(*challenge, *side, realm, algorithm_asked, user_agent)
        }
        Diagnosis::RechallengeUnanswered { challenge, side, nonce_sent, nonce_new, stale, accepted_before } => {
            let accepted = if *accepted_before { " (accepted earlier for this binding)" } else { "" };
            let stale = if *stale { "with stale=true" } else { "without stale=true" };
            let cause = format!(
                "{} to a refresh that reused the nonce {}{accepted}: the registrar issued a new nonce {} {stale}, and the client never answered it; the password is not in question",
                challenge_code(*challenge), opt(nonce_sent), opt(nonce_new)
            );
            let fix = match side {
                Side::Client => "the client must answer a new challenge to a refresh (Asterisk does; baresip: update libre, creytiv/re#223); the registrar should mark an expired nonce `stale=true` (RFC 7616 §3.3): ask the provider",
                Side::Registrar => "the phone gives up when a refresh is challenged: update its firmware or SIP stack (baresip: newer libre); a registrar that marks an expired nonce `stale=true` avoids the trap",
            };
            (cause, fix.into())
        }
        Diagnosis::UnregisterNotCompleted { code, challenged, registered_until } => {
            let until = registered_until.map_or_else(|| "until it expires".into(), |t| format!("until {}", clock(t)));
            let what = if *challenged {
                format!("the un-REGISTER (Expires: 0) was challenged ({code}) and not answered")
            } else if *code == 408 {
                "the un-REGISTER (Expires: 0) got no answer".into()
            } else {
                format!("the un-REGISTER (Expires: 0) was rejected ({code})")
            };
            (
                format!("{what}: the registrar keeps the binding {until}"),
                "the client must complete its unregistration (answer the challenge with its credentials); until then calls may still be sent to this Contact".into(),
            )
        }
        Diagnosis::AnswerNotDelivered {
            side,
            code,
            sender,
            dropped_on_this_host: Some(drop),
        } => match side {
            Side::Client => (
                format!("the {code} answer reached this host's NIC, but this host dropped it before the PBX's socket at {sender}: {}; the PBX never sees it and will report 408", kernel_drop::describe(drop)),
                kernel_drop::fix(drop).to_owned(),
            ),
            Side::Registrar => (
                format!("this host answered {code} to the phone at {sender}, and dropped the answer on its way out: {}", kernel_drop::describe(drop)),
                kernel_drop::fix(drop).to_owned(),
            ),
        },
        Diagnosis::AnswerNotDelivered { side, code, sender, .. } => match side {
            Side::Client => (
                format!("the {code} answer reached this host, but the PBX kept sending the same REGISTER after it: the answer never reached the PBX, which will report 408"),
                format!("look at this host: an INPUT firewall rule dropping SIP from the registrar, a full socket receive buffer, or the PBX not listening on {sender} (PJSIP transport `bind`)"),
            ),
            Side::Registrar => (
                format!("the phone at {sender} kept sending the same REGISTER after this host answered {code}: the answers are lost on the way back, the phone did not refuse to authenticate"),
                "check the path back to the phone (NAT mapping, firewall, SIP ALG); on its PJSIP endpoint `force_rport=yes` and `rewrite_contact=yes` send answers to the address the request came from".into(),
            ),
        },
        Diagnosis::Forbidden { side, after_challenge, reason, warning, seen_as } => {
            forbidden(*side, *after_challenge, reason, warning, seen_as)
        }
        Diagnosis::UnknownUser { side, user } => (
            format!("404 Not Found: the registrar does not know user {}", opt(user)),
            match side {
                Side::Client => "check the user in the To header / AOR (PJSIP `client_uri`, chan_sip `register => user@host`) and the domain in `server_uri`".into(),
                Side::Registrar => format!("this registrar has no AOR named {}: add a PJSIP `type=aor` section of that name (with `max_contacts`) for its endpoint (chan_sip: a peer with `host=dynamic`), or correct the phone's user name", opt(user)),
            },
        ),
        Diagnosis::Timeout {
            side,
            sent,
            dropped_on_this_host: Some(here),
            destination,
            transport,
            ..
        } if here.copies >= *sent => dropped_here(*side, *sent, here, destination, transport),
        Diagnosis::Timeout { side: Side::Client, sent, tcp_acked: true, provisional_seen: false, destination, .. } => {
            acked_unanswered(*sent, destination)
        }
        Diagnosis::Timeout { side, sent, left_this_host, provisional_seen, destination, transport, no_router, .. } => {
            timeout(*side, *sent, (*left_this_host, *provisional_seen), (destination, transport), *no_router)
        }
        Diagnosis::RemoteTimeout { reason } => (
            format!("408 {reason} from the far end: a proxy on the way timed out"),
            "the provider's side did not answer in time; retry later or contact the provider".into(),
        ),
        Diagnosis::Unavailable { retry_after, reason } => match retry_after {
            Some(s) => (
                format!("503 {reason}, retry after {s} s"),
                "the registrar is overloaded or in maintenance; Asterisk already waits as told (Retry-After) before trying again: the fix is on the provider's side, or DNS SRV failover to another server".into(),
            ),
            None => (
                format!("503 {reason}"),
                format!("the registrar or a proxy cannot serve now; Asterisk tries the next DNS SRV target, then retries after `{}`; if it persists, check DNS SRV failover and the provider's status", asterisk::RETRY_INTERVAL.name),
            ),
        },
        Diagnosis::IntervalTooBrief { side, asked, min_expires, shrinking_grants } => {
            interval_too_brief(*side, *asked, *min_expires, shrinking_grants)
        }
        Diagnosis::Failed { code, reason } => (format!("{code} {reason}"), "see the response's reason and any Warning header; ask the provider".into()),
        Diagnosis::NatRewritesVia { side, sent_by, received, rport } => (
            format!(
                "the registrar saw {} at {}{} while Via said {sent_by}: there is NAT on the path",
                match side { Side::Client => "us", Side::Registrar => "the phone" },
                opt(received),
                rport.map(|p| format!(":{p}")).unwrap_or_default()
            ),
            match side {
                Side::Client => "tell the PBX its public address: on the PJSIP transport `external_signaling_address`, `external_media_address` and `local_net` (chan_sip `externip`, `localnet`)",
                Side::Registrar => "for phones behind NAT set on their PJSIP endpoint `rewrite_contact=yes`, `force_rport=yes`, `rtp_symmetric=yes` (chan_sip `nat=force_rport,comedia`)",
            }
            .into(),
        ),
        Diagnosis::PrivateContact { contact, registrar } => (
            format!("Contact {contact} is a private address, registered through NAT with {registrar}, which kept it as it was"),
            "calls to the PBX will be sent to an address the provider cannot reach: on the PJSIP transport set `external_signaling_address` and `local_net` (chan_sip `externip` / `localnet`) so that the Contact carries the public address".into(),
        ),
        Diagnosis::AlgSign { sign, received, registrar } => {
            let cause = match sign {
                AlgSignKind::ReceivedPrivate => format!(
                    "the registrar {registrar}, on a public address, answered with received={}, a private address it cannot have seen: something rewrote its answer on the way back",
                    opt(received)
                ),
                AlgSignKind::ViaStripped => format!(
                    "our Via asked {registrar} for rport, and its answer's top Via carries neither received nor rport: rewritten on the way back, or a registrar that ignores RFC 3581"
                ),
            };
            (
                cause,
                "a sign of a SIP ALG on the router: confirm with `sipwatch probe` against a `sipwatch echo` on a public host (or `attach --echo`), then disable the ALG (often called SIP ALG, SIP helper or SIP passthrough; Linux: nf_conntrack_sip)".to_string(),
            )
        }
        Diagnosis::AnswersFromOtherAddress { side, request_destination, response_source, answers_from_other_address, registers, registers_over_ms } => {
            path::answers_from_other_address(*side, (request_destination, response_source), *answers_from_other_address, (*registers, *registers_over_ms))
        }
        Diagnosis::FragmentsLost { side, source, destination, datagrams, fragment_bytes, datagram_bytes, start_line } => {
            path::fragments_lost(*side, (source, destination), *datagrams, (*fragment_bytes, *datagram_bytes), start_line)
        }
        Diagnosis::Unreachable { side, icmp, reporter, count, mtu, destination, transport, start_line } => {
            path::unreachable(*side, *icmp, (reporter, *count), *mtu, (destination, *transport), start_line)
        }
        Diagnosis::LargeRequestUnanswered { side, bytes, largest_answered_bytes, destination } => {
            path::large_request_unanswered(*side, (*bytes, *largest_answered_bytes), destination)
        }
        Diagnosis::ConnectionFailed { side, destination, connection } => {
            path::connection_failed(*side, destination, connection)
        }
        Diagnosis::NatMappingLost { side, public_address, public_ports, changes, local, interval_s } => {
            path::nat_mapping_lost(*side, (public_address, public_ports), *changes, local, *interval_s)
        }
        Diagnosis::Banned { side, registrar, rejections, answered_burst, answers_stopped_at, icmp, icmp_count } => {
            path::banned(*side, registrar, (*rejections, *answered_burst), *answers_stopped_at, (*icmp, *icmp_count))
        }
        Diagnosis::AnswersNotCaptured { side, destination, transport, sent, acted_on } => {
            path::answers_not_captured(*side, destination, *transport, *sent, *acted_on)
        }
        Diagnosis::DeadTarget { side, dead, transport, sent, connection, timed_out_at, registered_through, delay_ms } => {
            path::dead_target(*side, (dead, *transport, *sent, connection.as_ref(), *timed_out_at), registered_through, *delay_ms)
        }
    }
}

fn opt(o: &Option<String>) -> String {
    o.clone().unwrap_or_else(|| "(none)".into())
}

fn credentials_rejected(
    (challenge, reason): (ChallengeKind, &str),
    side: Side,
    (username, from_user): (&Option<String>, &Option<String>),
    (realm_sent, realm_asked): (&Option<String>, &Option<String>),
    (algorithm_sent, algorithm_asked): (&DigestAlgorithm, &[DigestAlgorithm]),
) -> (String, String) {
    let mut cause = format!(
        "{} to the REGISTER that answered the challenge: user {} for realm {}",
        as_written(challenge, reason),
        opt(username),
        opt(realm_sent)
    );
    let mut fix = String::from(match side {
        Side::Client => {
            "check the password (PJSIP: `password` in the auth section used by `outbound_auth`; chan_sip: `secret`) and the auth user name (PJSIP `username`; chan_sip `defaultuser`/`fromuser`)"
        }
        Side::Registrar => {
            "the phone's password or auth user does not match this registrar: check them on the phone against the auth section named by the endpoint's `auth=` (PJSIP `username`, `password`; chan_sip `secret` of the peer)"
        }
    });
    if realm_sent != realm_asked {
        cause.push_str(&format!(
            ", but the registrar asks for realm {}",
            opt(realm_asked)
        ));
        fix.push_str(match side {
            Side::Client => "; the realms differ: set `realm` in the PJSIP auth section to the one asked, or leave it empty",
            Side::Registrar => "; the realms differ: the phone must answer the realm asked (PJSIP `realm` of the auth section, or the global `default_realm`)",
        });
    }
    if username.is_some() && from_user.is_some() && username != from_user {
        cause.push_str(&format!(
            "; the auth user ({}) differs from the From user ({})",
            opt(username),
            opt(from_user)
        ));
        fix.push_str("; many registrars want them equal (chan_sip `defaultuser`, PJSIP `from_user` / `client_uri`)");
    }
    if !algorithm_asked.is_empty() && !algorithm_asked.contains(algorithm_sent) {
        cause.push_str(&format!(
            "; it answered with {} where the registrar offered {}",
            algorithm_sent.name(),
            names(algorithm_asked)
        ));
        let sha256 = asterisk_sha256();
        fix.push_str(&format!(
            "; the client used an algorithm that was not offered: {sha256}, or ask the provider for MD5"
        ));
    }
    (cause, fix)
}

fn no_credentials(
    challenge: ChallengeKind,
    side: Side,
    realm: &Option<String>,
    offered: &[DigestAlgorithm],
    user_agent: &Option<String>,
) -> (String, String) {
    let code = challenge_code(challenge);
    let ua = user_agent
        .as_ref()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    let configure = match side {
        Side::Client => {
            "configure authentication: PJSIP `outbound_auth` on the registration (and endpoint), chan_sip `register => user:secret@host`"
        }
        Side::Registrar => {
            "the phone has no credentials for this registrar: set its SIP user and password to those of the auth section named by the endpoint's `auth=`"
        }
    };
    // An Asterisk that names its version tells whether it can do better than MD5.
    let known = user_agent
        .as_deref()
        .and_then(asterisk::has_sha256)
        .map(|has| {
            if has {
                "; this Asterisk version supports SHA-256, so its credentials are likely missing"
            } else {
                "; this Asterisk version answers MD5 only"
            }
        })
        .unwrap_or_default();
    let md5_offered = offered.iter().any(DigestAlgorithm::is_md5);
    let first_md5 = offered.first().is_none_or(DigestAlgorithm::is_md5);
    if first_md5 {
        return (
            format!(
                "{code} (realm {}) and the client{ua} never sent credentials",
                opt(realm)
            ),
            configure.into(),
        );
    }
    let offer = names(offered);
    let sha256 = asterisk_sha256();
    let ask_md5 = match side {
        Side::Client => "ask the provider to offer MD5",
        Side::Registrar => {
            "let this registrar offer MD5 (PJSIP auth `supported_algorithms_uas = md5`)"
        }
    };
    if md5_offered {
        (
            format!(
                "{code} (realm {}) offered {offer}, and the client{ua} never answered: a client that cannot do {} and takes only the first challenge gives up here{known}",
                opt(realm),
                offered[0].name()
            ),
            format!(
                "the client likely does not support {} (PJSIP before 2.15, chan_sip): upgrade it ({sha256}) or have MD5 offered first; if it does support it, its credentials are missing: {configure}",
                offered[0].name()
            ),
        )
    } else {
        (
            format!(
                "{code} (realm {}) offered only {offer}, and the client{ua} never answered{known}",
                opt(realm)
            ),
            format!(
                "the client likely does not support {offer}: upgrade it ({sha256}) or {ask_md5}"
            ),
        )
    }
}

fn forbidden(
    side: Side,
    after_challenge: bool,
    reason: &str,
    warning: &Option<String>,
    seen_as: &Option<String>,
) -> (String, String) {
    let warning = warning
        .as_ref()
        .map(|w| format!(" (Warning: {w})"))
        .unwrap_or_default();
    let seen = seen_as
        .as_ref()
        .map(|a| format!("; the registrar saw this host as {a}"))
        .unwrap_or_default();
    let stops = format!(
        "; Asterisk stops registering after a 403 for good unless `{}` is set (PJSIP, default {}): `pjsip send register` once fixed",
        asterisk::FORBIDDEN_RETRY_INTERVAL.name,
        asterisk::FORBIDDEN_RETRY_INTERVAL.default
    );
    let (cause, fix) = match (side, after_challenge) {
        (Side::Registrar, true) => (
            format!("403 {reason}{warning} to the phone's REGISTER after a challenge: the phone answered it with credentials, and this registrar refused them"),
            "the phone's password or auth user likely does not match: check them against the auth section named by the endpoint's `auth=` (PJSIP `username`, `password`; chan_sip answers a wrong `secret` with 403 Forbidden (Bad auth)); if they match, check the endpoint's `acl` / `contact_acl` and that its AOR allows registration".to_owned(),
        ),
        (Side::Registrar, false) => (
            format!("403 {reason}{warning} to the phone's REGISTER"),
            "this registrar refuses the phone: check the endpoint's `acl` / `contact_acl` (chan_sip `permit`/`deny`), that its AOR allows registration, and the domain the phone uses".to_owned(),
        ),
        (Side::Client, true) => (
            format!("403 {reason}{warning} after a challenge: the registrar refused the REGISTER that carried the credentials{seen}"),
            format!("a wrong password or auth user (some registrars answer it with 403, not 401): check them (PJSIP: `password` and `username` in the auth section used by `outbound_auth`; chan_sip: `secret`, `defaultuser`); if they are right, the account may not register from here (disabled, registration not allowed, wrong domain): ask the provider{stops}"),
        ),
        (Side::Client, false) => (
            format!("403 {reason}{warning} before any challenge{seen}"),
            format!(
                "the registrar refuses this source: have {} allowed (ACL / whitelist), check the domain in the Request-URI (PJSIP `server_uri`) and that the account is not blocked{stops}",
                seen_as.as_deref().unwrap_or("the public IP the provider sees")
            ),
        ),
    };
    (cause, fix)
}

/// Every copy of the REGISTER dropped by this host's own kernel.
fn dropped_here(
    side: Side,
    sent: u32,
    here: &DroppedHere,
    destination: &SocketAddr,
    transport: &Transport,
) -> (String, String) {
    let times = if sent == 1 {
        "the one time it was sent".to_owned()
    } else {
        format!("all {sent} times")
    };
    // A firewall rule refuses the send itself (EPERM); other drops are
    // silent to the sender, which times out.
    let what = if here.drop.reason.as_deref() == Some("NETFILTER_DROP")
        && *transport == Transport::Udp
    {
        "the PBX's send fails with \"Operation not permitted\" (Asterisk logs a transport error) and it"
    } else {
        "the PBX reports 408 and"
    };
    let pbx = format!("{what} retries after `{}`", asterisk::RETRY_INTERVAL.name);
    match side {
        Side::Client => (
            format!(
                "no final response: the REGISTER to {destination} over {transport} never left this host: {} dropped it, {times}; {pbx}",
                kernel_drop::describe(&here.drop)
            ),
            kernel_drop::fix(&here.drop).to_owned(),
        ),
        Side::Registrar => (
            format!(
                "no final response: the REGISTER for {destination} over {transport} arrived here and {} dropped it before the PBX's socket, {times}",
                kernel_drop::describe(&here.drop)
            ),
            kernel_drop::fix(&here.drop).to_owned(),
        ),
    }
}

fn timeout(
    side: Side,
    sent: u32,
    (left_this_host, provisional_seen): (Option<bool>, bool),
    (destination, transport): (&SocketAddr, &Transport),
    no_router: bool,
) -> (String, String) {
    if provisional_seen {
        return provisional_only(side, sent, destination, transport);
    }
    let provisional = "; nothing came back";
    if side == Side::Registrar {
        return (
            format!("no final response: the REGISTER arrived here {} for {destination} over {transport} and was never answered{provisional}", crate::say::count(sent, "time", "times")),
            "is the PBX listening on that address, port and transport (PJSIP transport `bind`), and does this host's INPUT firewall let SIP in?".into(),
        );
    }
    let left = match left_this_host {
        Some(true) => "it left this host",
        Some(false) => "it never left this host",
        None => "whether it left this host is not known",
    };
    // Nothing stands between the two: no DNS, router or ALG to blame.
    let fix = if no_router {
        format!(
            "this host and {destination} are on one host or in one private subnet: no router, NAT or SIP ALG stands between them; check that the registrar listens on {destination} over {transport} (its address, port and transport: `server_uri`, the PJSIP `transport`) and that neither host's firewall drops SIP"
        )
    } else {
        generic_fix(transport)
    };
    (
        format!(
            "no final response: the REGISTER was sent {} to {destination} over {transport}; {left}{provisional}; the PBX reports 408 and retries after `{}`",
            crate::say::count(sent, "time", "times"),
            asterisk::RETRY_INTERVAL.name
        ),
        fix,
    )
}

/// The last resort, when the capture holds no evidence of the cause.
fn generic_fix(transport: &Transport) -> String {
    // Never "try TCP" to what already is TCP.
    let other_transport = if *transport == Transport::Udp {
        "try TCP or another port"
    } else {
        "check the registrar's port and transport (`server_uri`, the PJSIP `transport`)"
    };
    format!(
        "check that the registrar's name resolves (dig) to the right address, that a firewall lets SIP out and the answers back, and disable any SIP ALG on the router; {other_transport}"
    )
}

/// A REGISTER over TCP the registrar's TCP acknowledged, and no SIP
/// answer by Timer F: it reached the registrar's host over a path that
/// works both ways (the ACKs came back); its SIP service never answered.
fn acked_unanswered(sent: u32, destination: &SocketAddr) -> (String, String) {
    (
        format!(
            "no final response: the REGISTER was sent {} to {destination} over TCP, and the registrar's TCP acknowledged it: it left this host and reached the registrar's host, and nothing came back at the SIP level; the PBX reports 408 and retries after `{}`",
            crate::say::count(sent, "time", "times"),
            asterisk::RETRY_INTERVAL.name
        ),
        "the path works both ways (the registrar's acknowledgements came back), so DNS, a firewall or a SIP ALG is not the cause: the registrar's SIP service took the bytes and never answered (overloaded, stuck, or not a SIP service on that port): ask the provider, with the time and Call-ID of the REGISTER".into(),
    )
}

/// A provisional answer (100 Trying) came back and no final one by Timer
/// F: the request reached the registrar, which took it and never
/// finished; the path is not in question.
fn provisional_only(
    side: Side,
    sent: u32,
    destination: &SocketAddr,
    transport: &Transport,
) -> (String, String) {
    let times = crate::say::count(sent, "time", "times");
    match side {
        Side::Client => (
            format!(
                "no final response: the REGISTER was sent {times} to {destination} over {transport}, and the registrar answered with a provisional response (100 Trying) but never with a final one: it is reachable and was working on the request; the fault is on the provider's side (the registrar, or what it waits on: an authentication back end, a database, a proxy further on); the PBX reports 408 and retries after `{}`",
                asterisk::RETRY_INTERVAL.name
            ),
            "the path works both ways (the provisional answer came back), so DNS, a firewall or a SIP ALG is not the cause: report it to the provider with the time and Call-ID of the REGISTER".into(),
        ),
        Side::Registrar => (
            format!(
                "no final response: the REGISTER arrived here {times} for {destination} over {transport}, and was answered with a provisional response (100 Trying) but never with a final one: the PBX took the request and did not finish it"
            ),
            "the network is not the cause: look in the PBX's log for this REGISTER's Call-ID, and at what registration waits on (realtime database, external authentication)".into(),
        ),
    }
}

fn interval_too_brief(
    side: Side,
    asked: Option<u32>,
    min_expires: Option<u32>,
    shrinking: &[GrantSeen],
) -> (String, String) {
    let mut cause = format!(
        "423 Interval Too Brief: asked for {} s, the registrar wants at least {} s",
        asked.map_or("?".into(), |a| a.to_string()),
        min_expires.map_or("?".into(), |m| m.to_string())
    );
    if !shrinking.is_empty() {
        let steps: Vec<String> = shrinking
            .iter()
            .map(|g| format!("{}→{}", g.asked_s, g.granted_s))
            .collect();
        cause.push_str(&format!(
            "; the registrar granted less than asked before ({}, in s), and each refresh asked for what it was last granted",
            steps.join(", ")
        ));
    }
    let mut fix = String::from(match side {
        Side::Client => {
            "raise the registration expiry (PJSIP `expiration`, chan_sip `defaultexpiry` / `registertimeout`) to at least Min-Expires"
        }
        Side::Registrar => {
            "the phone asks for less than this registrar's minimum: raise the phone's registration interval, or lower `minimum_expiration` on the PJSIP AOR (chan_sip `minexpiry`)"
        }
    });
    if !shrinking.is_empty() {
        fix.push_str(match side {
            Side::Client => "; a registrar that returns one second less than asked is Asterisk's res_pjsip fault (asterisk/asterisk#702): ask the provider to upgrade, and configure an expiry well above Min-Expires",
            Side::Registrar => "; the shrinking grant is Asterisk's res_pjsip fault (asterisk/asterisk#702, seen in 18.20): upgrade Asterisk",
        });
    }
    (cause, fix)
}

/// The refusal's status line as the registrar wrote it ("401 nonce has
/// changed"); the standard phrase when it wrote none.
fn as_written(c: ChallengeKind, reason: &str) -> String {
    let code = match c {
        ChallengeKind::Www => 401,
        ChallengeKind::Proxy => 407,
    };
    if reason.trim().is_empty() {
        challenge_code(c).to_owned()
    } else {
        format!("{code} {}", reason.trim())
    }
}

fn challenge_code(c: ChallengeKind) -> &'static str {
    match c {
        ChallengeKind::Www => "401 Unauthorized",
        ChallengeKind::Proxy => "407 Proxy Authentication Required",
    }
}

/// Which Asterisk versions answer SHA-256 digest, from [`asterisk::SHA256_SINCE`]:
/// "Asterisk supports SHA-256 and SHA-512-256 digest from 20.12.0, 21.7.0
/// and 22.2.0 with PJProject 2.15.1, chan_sip never".
fn asterisk_sha256() -> String {
    let since: Vec<String> = asterisk::SHA256_SINCE
        .iter()
        .map(|(major, minor)| format!("{major}.{minor}.0"))
        .collect();
    let versions = match since.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, first)) => format!("{} and {last}", first.join(", ")),
        None => String::new(),
    };
    format!(
        "Asterisk supports SHA-256 and SHA-512-256 digest from {versions} with PJProject {}, chan_sip never",
        asterisk::SHA256_PJPROJECT
    )
}

/// "SHA-256, MD5".
fn names(algorithms: &[DigestAlgorithm]) -> String {
    algorithms
        .iter()
        .map(DigestAlgorithm::name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn with_the_configuration_read_the_fix_names_the_section_and_line() {
        let d = Diagnosis::UnknownUser {
            side: crate::track::Side::Client,
            user: Some("alice".into()),
        };
        let wire = explain(&d, &Context::of_pbx(crate::pbx::PbxKind::Asterisk)).1;
        let cx = Context {
            pbx: crate::pbx::PbxKind::Asterisk,
            config: Some(super::super::ConfigRef {
                auth: None,
                file: "pjsip.conf".into(),
                line: 42,
                section: "my-trunk-reg".into(),
            }),
        };
        assert_eq!(
            explain(&d, &cx).1,
            format!("{wire}; in this configuration: [my-trunk-reg] (pjsip.conf:42)")
        );
    }

    use super::*;

    #[test]
    fn the_sha256_versions_are_worded_from_the_pbx_facts() {
        assert_eq!(
            asterisk_sha256(),
            "Asterisk supports SHA-256 and SHA-512-256 digest from 20.12.0, 21.7.0 and 22.2.0 with PJProject 2.15.1, chan_sip never"
        );
    }

    #[test]
    fn the_words_of_a_diagnosis_do_not_depend_on_the_context_yet() {
        let d = Diagnosis::Failed {
            code: 488,
            reason: "Not Acceptable Here".into(),
        };
        let asterisk = Context::of_pbx(crate::pbx::PbxKind::Asterisk);
        assert_eq!(explain(&d, &asterisk), explain(&d, &Context::default()));
        assert_eq!(explain(&d, &asterisk).0, "488 Not Acceptable Here");
    }
}
