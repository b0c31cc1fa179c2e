//! Why a registration fails, as data with its evidence, and the one place
//! where that is put into words for an Asterisk admin (PJSIP and chan_sip).
use serde::Serialize;

/// Which kind of digest challenge: from the registrar (401) or a proxy (407).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    Www,
    Proxy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnosis {
    /// 401/407 although credentials were sent: wrong password or user name.
    CredentialsRejected {
        challenge: ChallengeKind,
        username: Option<String>,
        from_user: Option<String>,
        realm_sent: Option<String>,
        realm_asked: Option<String>,
        algorithm_sent: Option<String>,
        algorithm_asked: Option<String>,
    },
    /// Challenged again with `stale=true`: the nonce expired, not the password.
    StaleNonce {
        challenge: ChallengeKind,
        times: u32,
    },
    /// Challenged, and the client never answered with credentials.
    NoCredentials {
        challenge: ChallengeKind,
        realm: Option<String>,
    },
    /// 403 Forbidden.
    Forbidden {
        after_challenge: bool,
        reason: String,
        warning: Option<String>,
    },
    /// 404: the registrar does not know the user.
    UnknownUser { user: Option<String> },
    /// No final response (Timer F): the PBX reports 408.
    Timeout {
        sent: u32,
        left_this_host: Option<bool>,
        provisional_seen: bool,
        destination: String,
        transport: String,
    },
    /// A 408 from the far end (a proxy timed out further on).
    RemoteTimeout { reason: String },
    /// 503 Service Unavailable.
    Unavailable {
        #[serde(rename = "retry_after_s")]
        retry_after: Option<u32>,
        reason: String,
    },
    /// 423 Interval Too Brief.
    IntervalTooBrief {
        #[serde(rename = "asked_s")]
        asked: Option<u32>,
        #[serde(rename = "min_expires_s")]
        min_expires: Option<u32>,
    },
    /// Any other failure code.
    Failed { code: u16, reason: String },
    /// The registrar saw another address or port than the one we put in Via.
    NatRewritesVia {
        sent_by: String,
        received: Option<String>,
        rport: Option<u16>,
    },
    /// A private address in Contact, registered with a public registrar.
    PrivateContact { contact: String, registrar: String },
}

impl Diagnosis {
    /// Hints about NAT are advice; the rest are failures.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            Diagnosis::NatRewritesVia { .. } | Diagnosis::PrivateContact { .. }
        )
    }

    /// (what happened, with its evidence; what to do).
    pub fn explain(&self) -> (String, String) {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(none)".into());
        match self {
            Diagnosis::CredentialsRejected {
                challenge,
                username,
                from_user,
                realm_sent,
                realm_asked,
                algorithm_sent,
                algorithm_asked,
            } => {
                let code = challenge_code(*challenge);
                let mut cause = format!(
                    "{code} after credentials were sent: user {} for realm {}",
                    opt(username),
                    opt(realm_sent)
                );
                let mut fix = String::from(
                    "check the password (PJSIP: `password` in the auth section used by `outbound_auth`; chan_sip: `secret`) and the auth user name (PJSIP `username`; chan_sip `defaultuser`/`fromuser`)",
                );
                if realm_sent != realm_asked {
                    cause.push_str(&format!(", but the registrar asks for realm {}", opt(realm_asked)));
                    fix.push_str("; the realms differ: set `realm` in the PJSIP auth section to the one asked, or leave it empty");
                }
                if username.is_some() && from_user.is_some() && username != from_user {
                    cause.push_str(&format!("; the auth user ({}) differs from the From user ({})", opt(username), opt(from_user)));
                    fix.push_str("; many providers want them equal (chan_sip `defaultuser`, PJSIP `from_user` / `client_uri`)");
                }
                if algorithm_asked.is_some() && algorithm_sent != algorithm_asked {
                    cause.push_str(&format!("; algorithm {} was asked, {} used", opt(algorithm_asked), opt(algorithm_sent)));
                    fix.push_str("; the client does not support the algorithm asked for (e.g. SHA-256): upgrade, or ask the provider for MD5");
                }
                (cause, fix)
            }
            Diagnosis::StaleNonce { challenge, times } => (
                format!("{} with stale=true {times} times: the nonce expired, the credentials are fine", challenge_code(*challenge)),
                "check the clocks (NTP) on the PBX and registrar and for long delays on the path; a nonce reused after its lifetime is what this means".into(),
            ),
            Diagnosis::NoCredentials { challenge, realm } => (
                format!("{} (realm {}) and the client never sent credentials", challenge_code(*challenge), opt(realm)),
                "configure authentication: PJSIP `outbound_auth` on the registration (and endpoint), chan_sip `register => user:secret@host`".into(),
            ),
            Diagnosis::Forbidden { after_challenge, reason, warning } => {
                let warning = warning.as_ref().map(|w| format!(" (Warning: {w})")).unwrap_or_default();
                if *after_challenge {
                    (
                        format!("403 {reason}{warning} after the credentials were accepted"),
                        "the account exists but may not register from here: account disabled, registration not allowed, or wrong domain; ask the provider".into(),
                    )
                } else {
                    (
                        format!("403 {reason}{warning} before any challenge"),
                        "the registrar refuses this source: IP not allowed (ACL / whitelist), wrong domain in the Request-URI, or a blocked account; check the public IP the provider sees".into(),
                    )
                }
            }
            Diagnosis::UnknownUser { user } => (
                format!("404 Not Found: the registrar does not know user {}", opt(user)),
                "check the user in the To header / AOR (PJSIP `client_uri`, chan_sip `register => user@host`) and the domain in `server_uri`".into(),
            ),
            Diagnosis::Timeout { sent, left_this_host, provisional_seen, destination, transport } => {
                let left = match left_this_host {
                    Some(true) => "it left this host",
                    Some(false) => "it never left this host",
                    None => "whether it left this host is not known",
                };
                let provisional = if *provisional_seen { "; only provisional responses came back" } else { "; nothing came back" };
                (
                    format!("no final response: the REGISTER was sent {sent} times to {destination} over {transport}; {left}{provisional}; the PBX reports 408"),
                    "check that the registrar's name resolves (dig) to the right address, that a firewall lets SIP out and the answers back, and disable any SIP ALG on the router; try TCP or another port".into(),
                )
            }
            Diagnosis::RemoteTimeout { reason } => (
                format!("408 {reason} from the far end: a proxy on the way timed out"),
                "the provider's side did not answer in time; retry later or contact the provider".into(),
            ),
            Diagnosis::Unavailable { retry_after, reason } => match retry_after {
                Some(s) => (
                    format!("503 {reason}, retry after {s} s"),
                    "the registrar is overloaded or in maintenance; the PBX should wait as told (PJSIP `retry_interval`, `forbidden_retry_interval`)".into(),
                ),
                None => (
                    format!("503 {reason}"),
                    "the registrar or a proxy cannot serve now; if it persists, check DNS SRV failover and the provider's status".into(),
                ),
            },
            Diagnosis::IntervalTooBrief { asked, min_expires } => (
                format!(
                    "423 Interval Too Brief: asked for {} s, the registrar wants at least {} s",
                    asked.map_or("?".into(), |a| a.to_string()),
                    min_expires.map_or("?".into(), |m| m.to_string())
                ),
                "raise the registration expiry (PJSIP `expiration`, chan_sip `defaultexpiry` / `registertimeout`) to at least Min-Expires".into(),
            ),
            Diagnosis::Failed { code, reason } => (format!("{code} {reason}"), "see the response's reason and any Warning header; ask the provider".into()),
            Diagnosis::NatRewritesVia { sent_by, received, rport } => (
                format!(
                    "the registrar saw us at {}{} while Via said {sent_by}: there is NAT on the path",
                    opt(received),
                    rport.map(|p| format!(":{p}")).unwrap_or_default()
                ),
                "tell the PBX its public address (PJSIP transport `external_signaling_address`, `external_media_address`, `local_net`; chan_sip `externip`, `localnet`) and enable `rewrite_contact`".into(),
            ),
            Diagnosis::PrivateContact { contact, registrar } => (
                format!("Contact {contact} is a private address, registered with {registrar}"),
                "calls to the PBX will be sent to an address the provider cannot reach: set PJSIP `external_signaling_address` and `local_net` (chan_sip `externip` / `localnet`), or `rewrite_contact=yes`".into(),
            ),
        }
    }
}

fn challenge_code(c: ChallengeKind) -> &'static str {
    match c {
        ChallengeKind::Www => "401 Unauthorized",
        ChallengeKind::Proxy => "407 Proxy Authentication Required",
    }
}
