//! One registration binding (registrar, AOR, Contact) and how REGISTER
//! transactions move it between states.
use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::{
    diagnosis::{ChallengeKind, Diagnosis},
    transaction::{TIMER_B, Transaction},
};
use crate::{
    net::Transport,
    sip::{ParsedMessage, fields::Credentials},
};

/// Expiry assumed when neither request nor response names one (RFC 3261 §10.2.1.1).
pub const DEFAULT_EXPIRES: u32 = 3600;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BindingKey {
    /// The Request-URI of the REGISTER (the registrar's domain).
    pub registrar: String,
    /// The address of record (To URI).
    pub aor: String,
    /// The first Contact URI (`*` for a wildcard removal).
    pub contact: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    RequestSent,
    Registered {
        /// Seconds granted by the registrar.
        #[serde(rename = "expires_s")]
        expires: u32,
    },
    Rejected {
        code: u16,
    },
    Timeout,
    Unregistered,
    Expired,
}

impl RegistrationState {
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            RegistrationState::Registered { .. } | RegistrationState::Unregistered
        )
    }

    pub fn name(&self) -> String {
        match self {
            RegistrationState::RequestSent => "Request sent".into(),
            RegistrationState::Registered { .. } => "Registered".into(),
            RegistrationState::Rejected { code } => format!("Rejected ({code})"),
            RegistrationState::Timeout => "Timeout (408)".into(),
            RegistrationState::Unregistered => "Unregistered".into(),
            RegistrationState::Expired => "Expired".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Registration {
    pub key: BindingKey,
    pub state: RegistrationState,
    /// The last final response code.
    pub last_code: Option<u16>,
    pub registrar_address: SocketAddr,
    pub transport: Transport,
    #[serde(serialize_with = "crate::time::serialize")]
    pub last_change: SystemTime,
    /// The last REGISTER's response time (first send to final response), µs.
    pub response_us: Option<u64>,
    /// When a granted registration lapses without a refresh.
    #[serde(serialize_with = "crate::time::serialize_opt")]
    pub expires_at: Option<SystemTime>,
    pub diagnoses: Vec<Diagnosis>,
    /// The current attempt: its last REGISTER carried credentials.
    #[serde(skip)]
    sent_credentials: Option<Credentials>,
    #[serde(skip)]
    asked_expires: Option<u32>,
    #[serde(skip)]
    from_user: Option<String>,
    /// A challenge not yet answered: (kind, realm, when).
    #[serde(skip)]
    open_challenge: Option<(ChallengeKind, Option<String>, u16, SystemTime)>,
    #[serde(skip)]
    challenged_this_attempt: bool,
    #[serde(skip)]
    stale: u32,
}

impl Registration {
    pub fn new(key: BindingKey, p: &ParsedMessage<'_>) -> Registration {
        Registration {
            key,
            state: RegistrationState::RequestSent,
            last_code: None,
            registrar_address: p.message.dst,
            transport: p.message.transport,
            last_change: p.message.timestamp,
            response_us: None,
            expires_at: None,
            diagnoses: Vec::new(),
            sent_credentials: None,
            asked_expires: None,
            from_user: None,
            open_challenge: None,
            challenged_this_attempt: false,
            stale: 0,
        }
    }

    fn set(&mut self, state: RegistrationState, at: SystemTime) -> bool {
        let changed = self.state != state;
        self.state = state;
        self.last_change = at;
        changed
    }

    /// A new (not retransmitted) REGISTER for this binding.
    /// `contact_expires`: the `expires` parameter of the request's Contact.
    pub fn on_request(&mut self, p: &ParsedMessage<'_>, contact_expires: Option<u32>) -> bool {
        let credentials = p.authorization().or_else(|| p.proxy_authorization());
        if credentials.is_none() {
            // A fresh attempt, not the answer to a challenge.
            self.challenged_this_attempt = false;
            self.stale = 0;
        }
        self.sent_credentials = credentials;
        self.asked_expires = contact_expires.or_else(|| p.expires());
        self.from_user = p.from().and_then(|f| f.uri.user);
        self.open_challenge = None;
        self.registrar_address = p.message.dst;
        self.transport = p.message.transport;
        if self.state != RegistrationState::RequestSent
            && !matches!(self.state, RegistrationState::Registered { .. })
        {
            self.diagnoses.clear();
        }
        // A refresh of a working registration keeps showing it as registered.
        if matches!(self.state, RegistrationState::Registered { .. }) {
            return false;
        }
        self.set(RegistrationState::RequestSent, p.message.timestamp)
    }

    /// The REGISTER transaction's final response.
    /// `tx` is the REGISTER transaction, its final response just recorded.
    pub fn on_final(&mut self, p: &ParsedMessage<'_>, tx: &Transaction) -> bool {
        let at = p.message.timestamp;
        self.response_us = tx.response_time().map(|d| d.as_micros() as u64);
        let code = p.status().unwrap_or(0);
        let reason = match p.start_line() {
            Some(crate::sip::StartLine::Response { reason, .. }) => reason.clone(),
            _ => String::new(),
        };
        self.last_code = Some(code);
        match code {
            200..=299 => {
                self.diagnoses = self.nat_hints(p);
                self.challenged_this_attempt = false;
                if self.asked_expires == Some(0) || self.key.contact == "*" {
                    self.expires_at = None;
                    return self.set(RegistrationState::Unregistered, at);
                }
                let granted = self.granted_expires(p);
                self.expires_at = Some(at + Duration::from_secs(granted.into()));
                self.set(RegistrationState::Registered { expires: granted }, at)
            }
            401 | 407 => self.on_challenge(p, code, at),
            403 => self.fail(
                code,
                Diagnosis::Forbidden {
                    after_challenge: self.challenged_this_attempt,
                    reason,
                    warning: p.warning().map(|w| w.into_owned()),
                },
                at,
            ),
            404 => {
                let user = p.to().and_then(|t| t.uri.user);
                self.fail(code, Diagnosis::UnknownUser { user }, at)
            }
            408 => self.fail(code, Diagnosis::RemoteTimeout { reason }, at),
            423 => self.fail(
                code,
                Diagnosis::IntervalTooBrief {
                    asked: self.asked_expires,
                    min_expires: p.min_expires(),
                },
                at,
            ),
            503 => self.fail(
                code,
                Diagnosis::Unavailable {
                    retry_after: p.retry_after(),
                    reason,
                },
                at,
            ),
            _ => self.fail(code, Diagnosis::Failed { code, reason }, at),
        }
    }

    fn fail(&mut self, code: u16, diagnosis: Diagnosis, at: SystemTime) -> bool {
        self.diagnoses = vec![diagnosis];
        self.expires_at = None;
        self.set(RegistrationState::Rejected { code }, at)
    }

    fn on_challenge(&mut self, p: &ParsedMessage<'_>, code: u16, at: SystemTime) -> bool {
        let (kind, challenge) = if code == 407 {
            (
                ChallengeKind::Proxy,
                p.proxy_authenticate().into_iter().next(),
            )
        } else {
            (ChallengeKind::Www, p.www_authenticate().into_iter().next())
        };
        let challenge = challenge.unwrap_or_default();
        self.challenged_this_attempt = true;
        if challenge.stale {
            self.stale += 1;
            if self.stale >= 2 {
                return self.fail(
                    code,
                    Diagnosis::StaleNonce {
                        challenge: kind,
                        times: self.stale,
                    },
                    at,
                );
            }
        }
        match &self.sent_credentials {
            Some(sent) if !challenge.stale => {
                let diagnosis = Diagnosis::CredentialsRejected {
                    challenge: kind,
                    username: sent.username.clone(),
                    from_user: self.from_user.clone(),
                    realm_sent: sent.realm.clone(),
                    realm_asked: challenge.realm.clone(),
                    algorithm_sent: sent.algorithm.clone(),
                    algorithm_asked: challenge.algorithm.clone(),
                };
                self.fail(code, diagnosis, at)
            }
            _ => {
                // The usual first step of digest authentication: wait for the
                // client's answer; only silence makes it a failure.
                self.open_challenge = Some((kind, challenge.realm, code, at));
                false
            }
        }
    }

    /// Timer F fired on a REGISTER of this binding.
    pub fn on_timeout(&mut self, tx: &Transaction, at: SystemTime) -> bool {
        self.diagnoses = vec![Diagnosis::Timeout {
            sent: tx.sent,
            left_this_host: tx
                .direction
                .map(|d| d == sipwatch_common::Direction::Egress),
            provisional_seen: tx.provisional.is_some(),
            destination: tx.dst.to_string(),
            transport: tx.transport.to_string(),
        }];
        self.expires_at = None;
        self.last_code = Some(408);
        self.set(RegistrationState::Timeout, at)
    }

    /// Time passes: unanswered challenges fail, granted bindings lapse.
    pub fn on_time(&mut self, now: SystemTime) -> bool {
        let challenge_expired = self
            .open_challenge
            .as_ref()
            .is_some_and(|c| now.duration_since(c.3).unwrap_or_default() >= TIMER_B);
        if challenge_expired {
            return self.challenge_unanswered(now);
        }
        if let (RegistrationState::Registered { .. }, Some(at)) = (self.state, self.expires_at)
            && now >= at
        {
            return self.set(RegistrationState::Expired, now);
        }
        false
    }

    /// At the end of a capture, a challenge left unanswered counts as never answered.
    pub fn on_end(&mut self, now: SystemTime) -> bool {
        self.challenge_unanswered(now)
    }

    fn challenge_unanswered(&mut self, now: SystemTime) -> bool {
        let Some((challenge, realm, code, _)) = self.open_challenge.take() else {
            return false;
        };
        self.fail(code, Diagnosis::NoCredentials { challenge, realm }, now)
    }

    fn granted_expires(&self, p: &ParsedMessage<'_>) -> u32 {
        let ours = p
            .contacts()
            .into_iter()
            .find(|c| c.uri.text.trim_matches(['<', '>']) == self.key.contact)
            .and_then(|c| c.expires);
        ours.or_else(|| p.expires())
            .or(self.asked_expires)
            .unwrap_or(DEFAULT_EXPIRES)
    }

    /// What the registrar's answer says about NAT: its `received` / `rport`
    /// on our Via, and a private Contact registered with a public registrar.
    fn nat_hints(&self, p: &ParsedMessage<'_>) -> Vec<Diagnosis> {
        let mut hints = Vec::new();
        if let Some(via) = p.vias().into_iter().next() {
            let unbracket = |h: &str| h.trim_matches(['[', ']']).to_owned();
            let received_differs = via
                .received
                .as_deref()
                .is_some_and(|r| unbracket(r) != unbracket(&via.host));
            let port_differs = via
                .rport
                .is_some_and(|r| Some(r) != via.port.or(Some(5060)));
            if received_differs || port_differs {
                hints.push(Diagnosis::NatRewritesVia {
                    sent_by: via.sent_by.clone(),
                    received: via.received.clone(),
                    rport: via.rport,
                });
            }
        }
        let contact_host = crate::sip::fields::parse_uri(&self.key.contact).host;
        let contact_ip = contact_host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if contact_ip.is_some_and(is_private) && !is_private(self.registrar_address.ip()) {
            hints.push(Diagnosis::PrivateContact {
                contact: self.key.contact.clone(),
                registrar: self.registrar_address.to_string(),
            });
        }
        hints
    }
}

/// RFC 1918, CGNAT (RFC 6598), link-local and IPv6 ULA.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}
