//! One registration attempt: from a REGISTER without credentials (or the
//! first REGISTER after a final answer) through its digest challenges to one
//! final outcome.
//!
//! Challenges, stale or not, are steps inside an attempt, never outcomes.
//! A 401/407 is a failure only when it answers the REGISTER that carried
//! credentials for the nonce this attempt was just challenged with (or
//! offers again, not stale, the very nonce those credentials used); a
//! refresh sent with a nonce cached from an earlier exchange that draws a
//! fresh challenge is a new round (RFC 7616 §3.3: with `stale=true` or not,
//! as registrars differ), which is why a nonce-expiring registrar no longer
//! reads as a wrong password.
use std::time::SystemTime;

use serde::Serialize;

use super::{
    diagnosis::{ChallengeKind, Diagnosis, Side},
    digest::DigestAlgorithm,
};
use crate::sip::{
    ParsedMessage,
    fields::{Challenge, Credentials, DigestProof},
};

/// What an attempt is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A binding not (or no longer) held by the registrar.
    Register,
    /// A binding the registrar holds, renewed before it lapses.
    Refresh,
    /// Expires: 0, `;expires=0`, or `Contact: *` (RFC 3261 §10.2.2).
    Unregister,
    /// A REGISTER without Contact (RFC 3261 §10.2.4): asks for the AOR's
    /// bindings and changes none. Tracked only by a tracker made
    /// [`with_queries`](super::Tracker::with_queries) (`doctor`), under
    /// [`QUERY_CONTACT`](super::QUERY_CONTACT).
    Query,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx to a register or refresh: the registrar holds the binding.
    Registered {
        /// Seconds granted: the `expires` of our Contact in the 2xx, else its
        /// Expires header, else what was asked, else 3600.
        #[serde(rename = "expires_s")]
        expires: u32,
    },
    /// A 2xx to an un-REGISTER: the registrar dropped the binding.
    Unregistered,
    /// A 2xx to a query: the registrar listed the AOR's bindings (the
    /// credentials, if asked for, were accepted).
    Queried,
    /// A final failure response.
    Rejected {
        /// Its status code (401 / 407 when the credentials sent were refused).
        code: u16,
    },
    /// No final response by Timer F: the client reports 408.
    NoAnswer,
    /// A challenge (`code`) the client never answered.
    Abandoned {
        /// 401 (WWW-Authenticate) or 407 (Proxy-Authenticate).
        code: u16,
    },
}

impl Outcome {
    /// The code a PBX would show for it (408 for no answer).
    pub fn code(&self) -> Option<u16> {
        match self {
            Outcome::Rejected { code } | Outcome::Abandoned { code } => Some(*code),
            Outcome::NoAnswer => Some(408),
            Outcome::Registered { .. } | Outcome::Unregistered | Outcome::Queried => None,
        }
    }
}

/// A challenge issued within the attempt.
#[derive(Clone, Debug)]
struct Round {
    kind: ChallengeKind,
    code: u16,
    /// Every challenge header of the 401/407, in order.
    offered: Vec<Challenge>,
    at: SystemTime,
    /// A REGISTER followed it.
    answered: bool,
}

/// One registration attempt in flight: its REGISTERs and the challenges
/// between them, until one [`Outcome`].
#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    /// What it is for, from its first REGISTER: Expires 0 unregisters, a
    /// binding the registrar holds is refreshed, else a register.
    pub purpose: Purpose,
    /// When its first REGISTER was seen.
    #[serde(serialize_with = "crate::time::serialize")]
    pub started: SystemTime,
    /// New REGISTER transactions in it (retransmissions not counted).
    pub requests: u32,
    /// When the latest was first sent: which transaction it is.
    #[serde(skip)]
    pub(super) latest_sent: SystemTime,
    /// Seconds the latest REGISTER asked for: its Contact's `expires`, else
    /// its Expires header; `None` when it named neither.
    #[serde(rename = "asked_expires_s")]
    pub asked_expires: Option<u32>,
    /// Challenges received, stale or not: steps, not failures.
    pub challenges: u32,
    /// Of which with `stale=true`; belongs to this attempt only.
    pub stale: u32,
    /// The latest request's credentials.
    #[serde(skip)]
    sent: Option<Credentials>,
    /// The latest request's digest, whole: for a password check offline.
    #[serde(skip)]
    proof: Option<DigestProof>,
    #[serde(skip)]
    round: Option<Round>,
    /// The latest challenge answered a request whose credentials were for
    /// an earlier nonce: the nonce it carried.
    #[serde(skip)]
    rechallenged: Option<Option<String>>,
    /// Our top Via asked for `rport` (RFC 3581).
    #[serde(skip)]
    pub(super) asked_rport: bool,
    #[serde(skip)]
    pub(super) user_agent: Option<String>,
    #[serde(skip)]
    from_user: Option<String>,
    /// The challenge reached this host but not the client: what to say
    /// if the client never answers it.
    #[serde(skip)]
    pub(super) answer_lost: Option<Diagnosis>,
}

impl Attempt {
    /// The attempt begun by REGISTER `p` asking for `asked_expires` seconds,
    /// counted as its first request.
    pub fn new(purpose: Purpose, p: &ParsedMessage<'_>, asked_expires: Option<u32>) -> Attempt {
        let mut a = Attempt {
            purpose,
            started: p.message.timestamp,
            requests: 0,
            latest_sent: p.message.timestamp,
            asked_expires,
            challenges: 0,
            stale: 0,
            sent: None,
            proof: None,
            round: None,
            rechallenged: None,
            asked_rport: false,
            user_agent: None,
            from_user: None,
            answer_lost: None,
        };
        a.next_request(p, asked_expires);
        a
    }

    /// A further REGISTER in this attempt (usually the answer to its challenge).
    pub fn next_request(&mut self, p: &ParsedMessage<'_>, asked_expires: Option<u32>) {
        self.requests += 1;
        self.latest_sent = p.message.timestamp;
        self.sent = credentials(p);
        self.proof = p.digest_proof();
        self.asked_expires = asked_expires;
        self.asked_rport = p.vias().first().is_some_and(|v| v.rport_present);
        self.user_agent = p.user_agent().map(|u| u.into_owned());
        self.from_user = p.from().and_then(|f| f.uri.user);
        if let Some(r) = &mut self.round {
            r.answered = true;
        }
    }

    /// A challenge waits for the client's answer.
    pub fn awaiting_answer(&self) -> bool {
        self.round.as_ref().is_some_and(|r| !r.answered)
    }

    /// When the challenge that waits for an answer was issued.
    pub fn challenged_at(&self) -> Option<SystemTime> {
        self.round.as_ref().filter(|r| !r.answered).map(|r| r.at)
    }

    /// The digest of the latest request, whole (none without credentials).
    pub fn proof(&self) -> Option<&DigestProof> {
        self.proof.as_ref()
    }

    /// The nonce the latest request's credentials were computed for.
    pub fn nonce_sent(&self) -> Option<&str> {
        self.sent.as_ref()?.nonce.as_deref()
    }

    /// A 401/407: a step, or (when it rejects the answer to this attempt's
    /// own challenge) the failure that ends the attempt.
    pub fn on_challenge(
        &mut self,
        p: &ParsedMessage<'_>,
        code: u16,
        side: Side,
    ) -> Option<Diagnosis> {
        let (kind, offered) = if code == 407 {
            (ChallengeKind::Proxy, p.proxy_authenticate())
        } else {
            (ChallengeKind::Www, p.www_authenticate())
        };
        let stale = offered.iter().any(|c| c.stale);
        let reason = match p.start_line() {
            Some(crate::sip::StartLine::Response { reason, .. }) => reason.clone(),
            _ => String::new(),
        };
        self.challenges += 1;
        if stale {
            self.stale += 1;
        }
        let answered = self.answered_round().cloned();
        // The nonce sent offered again, not stale: it is still good, so
        // the credentials computed with it are what the registrar refuses.
        let reoffered = !stale
            && self
                .nonce_sent()
                .is_some_and(|n| offered.iter().any(|c| c.nonce.as_deref() == Some(n)));
        let failure = match &answered {
            Some(_) if stale => (self.stale >= 2).then_some(Diagnosis::StaleNonce {
                challenge: kind,
                times: self.stale,
                reason,
            }),
            Some(round) => Some(self.rejected(&round.offered, (kind, reason), side)),
            None if reoffered => Some(self.rejected(&offered, (kind, reason), side)),
            None => None,
        };
        self.rechallenged = match (&answered, &self.sent) {
            (None, Some(sent)) => Some(sent.nonce.clone()),
            _ => None,
        };
        self.round = Some(Round {
            kind,
            code,
            offered,
            at: p.message.timestamp,
            answered: false,
        });
        failure
    }

    /// The round the latest request answered, when its credentials were
    /// computed for that round's nonce (any of its challenges).
    fn answered_round(&self) -> Option<&Round> {
        let sent = self.sent.as_ref()?;
        let round = self.round.as_ref().filter(|r| r.answered)?;
        let matches = match &sent.nonce {
            Some(n) => round.offered.iter().any(|c| c.nonce.as_ref() == Some(n)),
            None => true,
        };
        matches.then_some(round)
    }

    /// The credentials sent were refused; `offered`: the challenge they answered.
    fn rejected(
        &self,
        offered: &[Challenge],
        (kind, reason): (ChallengeKind, String),
        side: Side,
    ) -> Diagnosis {
        let sent = self.sent.clone().unwrap_or_default();
        let answered = offered
            .iter()
            .find(|c| c.nonce.is_some() && c.nonce == sent.nonce)
            .or(offered.first());
        Diagnosis::CredentialsRejected {
            challenge: kind,
            side,
            username: sent.username,
            from_user: self.from_user.clone(),
            realm_sent: sent.realm,
            realm_asked: answered.and_then(|c| c.realm.clone()),
            algorithm_sent: DigestAlgorithm::named(sent.algorithm.as_deref()),
            algorithm_asked: DigestAlgorithm::offered(offered),
            reason,
        }
    }

    /// The challenge left unanswered, as (its code, why it matters), or
    /// `None` when no challenge waits. `accepted_nonce`: the nonce of the
    /// binding's last accepted credentials.
    pub fn abandoned(&self, side: Side, accepted_nonce: Option<&str>) -> Option<(u16, Diagnosis)> {
        let round = self.round.as_ref().filter(|r| !r.answered)?;
        if let Some(lost) = &self.answer_lost {
            return Some((round.code, lost.clone()));
        }
        let first = round.offered.first();
        let diagnosis = match &self.rechallenged {
            Some(nonce_sent) => Diagnosis::RechallengeUnanswered {
                challenge: round.kind,
                side,
                nonce_sent: nonce_sent.clone(),
                nonce_new: first.and_then(|c| c.nonce.clone()),
                stale: round.offered.iter().any(|c| c.stale),
                accepted_before: nonce_sent.is_some() && nonce_sent.as_deref() == accepted_nonce,
            },
            None => Diagnosis::NoCredentials {
                challenge: round.kind,
                side,
                realm: first.and_then(|c| c.realm.clone()),
                algorithm_asked: DigestAlgorithm::offered(&round.offered),
                user_agent: self.user_agent.clone(),
            },
        };
        Some((round.code, diagnosis))
    }
}

/// Authorization or Proxy-Authorization, whichever the request carries.
fn credentials(p: &ParsedMessage<'_>) -> Option<Credentials> {
    p.authorization().or_else(|| p.proxy_authorization())
}

/// Whether a REGISTER carries credentials.
pub fn has_credentials(p: &ParsedMessage<'_>) -> bool {
    p.index.header("authorization").is_some() || p.index.header("proxy-authorization").is_some()
}
