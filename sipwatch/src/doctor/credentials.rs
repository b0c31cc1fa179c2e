//! Step 4: the credentials, tested without touching the PBX's own
//! registration: a REGISTER without Contact is a query (RFC 3261 §10.2.4),
//! answered with the bindings the registrar holds for the AOR, and it
//! adds, removes and refreshes none. Challenges are answered with digest
//! (RFC 3261 §22.4; RFC 7616 / RFC 8760: MD5, SHA-256, SHA-512-256, their
//! `-sess` variants, qop `auth` or none).
//!
//! The exchange is then judged as a captured registration is: every
//! REGISTER and answer goes through a [`Tracker`] that follows binding
//! queries ([`Tracker::with_queries`]), and the query's [`Diagnosis`] is
//! what the line says (in [`crate::say::diagnosis`]'s words), so that
//! `doctor` and a capture of the same registrar say the same thing.
use std::{
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use serde::Serialize;
use sipwatch_common::Direction;

use super::{
    Account, Config, Provider, Timed, Transport,
    dns::Target,
    reach::{self, Opened, Reach, Reached},
    token,
};
use crate::{
    client::{self, Outcome},
    sip::{Message, MessageIndex, Origin, fields},
    track::{Diagnosis, DigestAlgorithm, TIMER_B, TrackLimits, Tracker},
};

/// One binding the registrar holds for the AOR.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Binding {
    /// The Contact URI, as written.
    pub contact: String,
    /// Seconds left, from the Contact's `expires` or the Expires header.
    pub expires_s: Option<u32>,
}

/// How the registrar answered the query.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Registration {
    /// 200: the credentials work; the bindings held now.
    Registered {
        /// The bindings (none: the PBX is not registered now).
        bindings: Vec<Binding>,
    },
    /// A new challenge answered the credentials: the password (or the
    /// user name for authentication) is wrong.
    WrongPassword {
        /// The realm the credentials were for.
        realm: Option<String>,
    },
    /// 403.
    Forbidden {
        /// After the credentials were sent (else before any challenge).
        after_challenge: bool,
        /// The Warning header, when any.
        warning: Option<String>,
    },
    /// 404: the registrar does not know this AOR.
    NotFound {
        /// After the credentials were sent.
        after_challenge: bool,
    },
    /// 423 Interval Too Brief.
    IntervalTooBrief {
        /// Min-Expires, in seconds.
        min_expires_s: Option<u32>,
    },
    /// 503 Service Unavailable.
    Unavailable {
        /// Retry-After, in seconds.
        retry_after_s: Option<u32>,
    },
    /// Every challenge asks for what the doctor cannot answer.
    CannotAnswer {
        /// The algorithms offered.
        offered: Vec<DigestAlgorithm>,
    },
    /// Challenged again and again (a stale nonce each time).
    TooManyChallenges,
    /// Another final response.
    Rejected {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// After the credentials were sent.
        after_challenge: bool,
    },
    /// No final response: what happened instead.
    Unanswered {
        /// As for an OPTIONS.
        reached: Reached,
    },
}

/// The query as sent and answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tested {
    /// Where it went.
    pub target: Target,
    /// The AOR queried.
    pub aor: String,
    /// The digest user name sent.
    pub auth_user: String,
    /// REGISTERs sent (the first and one per challenge answered).
    pub requests: u32,
    /// The algorithm the credentials were computed with, when challenged.
    pub algorithm: Option<DigestAlgorithm>,
    /// The answer.
    #[serde(flatten)]
    pub registration: Registration,
    /// What the tracker made of the exchange, as of a captured
    /// registration (`credentials_rejected`, `forbidden`, `unknown_user`,
    /// `interval_too_brief`, `unavailable`, `timeout`…): empty when it
    /// concluded nothing (registered, or a challenge left unanswered).
    pub diagnoses: Vec<Diagnosis>,
}

/// The doctor's REGISTER exchange judged by the tracker, message by
/// message, as a capture on this host would have shown it.
struct Judge {
    tracker: Tracker,
    transport: crate::net::Transport,
    local: SocketAddr,
    remote: SocketAddr,
    /// The latest request's first transmission, for Timer F.
    last_sent: Option<SystemTime>,
}

impl Judge {
    fn new(transport: Transport, local: SocketAddr, remote: SocketAddr) -> Judge {
        Judge {
            tracker: Tracker::new(TrackLimits::default()).with_queries(),
            transport: match transport {
                Transport::Udp => crate::net::Transport::Udp,
                Transport::Tcp => crate::net::Transport::Tcp,
                Transport::Tls => crate::net::Transport::Tls,
            },
            local,
            remote,
            last_sent: None,
        }
    }

    fn push(&mut self, bytes: &[u8], at: SystemTime, outbound: bool) {
        let (src, dst) = if outbound {
            (self.local, self.remote)
        } else {
            (self.remote, self.local)
        };
        let message = Message {
            timestamp: at,
            direction: Some(if outbound {
                Direction::Egress
            } else {
                Direction::Ingress
            }),
            transport: self.transport,
            src,
            dst,
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            bytes: bytes.to_vec(),
            origin: Origin::CaptureFile,
        };
        self.tracker.push(&message.parsed(), &mut Vec::new());
    }

    /// One transaction: each transmission of `request` and each arrival
    /// of its own, in time order (`started`: its first transmission).
    fn exchange(&mut self, request: &[u8], exchange: &client::Exchange, started: SystemTime) {
        let mut arrivals: Vec<(Duration, &[u8])> = exchange
            .received
            .iter()
            .filter(|r| matches!(r.heard, client::Heard::Provisional(_)))
            .map(|r| (r.at, r.bytes.as_slice()))
            .collect();
        if let Outcome::Final(response) = &exchange.outcome {
            arrivals.push((response.at, response.bytes.as_slice()));
        }
        let mut sends = exchange.sent_at.iter().peekable();
        for (at, bytes) in arrivals {
            while let Some(sent) = sends.next_if(|&&s| s <= at) {
                self.push(request, started + *sent, true);
            }
            self.push(bytes, started + at, false);
        }
        for sent in sends {
            self.push(request, started + *sent, true);
        }
        self.last_sent = Some(started);
    }

    /// The query's diagnoses: a request left unanswered is judged when
    /// Timer F would fire (the doctor waits less, the PBX would not).
    fn diagnoses(mut self, unanswered: bool) -> Vec<Diagnosis> {
        if unanswered && let Some(sent) = self.last_sent {
            self.tracker
                .tick(sent + TIMER_B + Duration::from_secs(1), &mut Vec::new());
        }
        self.tracker
            .registrations()
            .iter()
            .find(|r| r.key.is_query())
            .map(|r| r.diagnoses.clone())
            .unwrap_or_default()
    }
}

/// The step's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Credentials {
    /// No `--user` / `--password`.
    NotAsked,
    /// No target answered an OPTIONS: nowhere to send the REGISTER.
    NoTarget,
    /// The query was made.
    Tested(Box<Tested>),
}

/// The lowercase hex of `data` hashed by `algorithm`; `None` for an
/// algorithm the doctor does not know.
fn hash(algorithm: &DigestAlgorithm, data: &str) -> Option<String> {
    use md5::Digest as _;
    let bytes: Vec<u8> = match algorithm {
        DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => md5::Md5::digest(data).to_vec(),
        DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => {
            sha2::Sha256::digest(data).to_vec()
        }
        DigestAlgorithm::Sha512_256 | DigestAlgorithm::Sha512_256Sess => {
            sha2::Sha512_256::digest(data).to_vec()
        }
        DigestAlgorithm::Other(_) => return None,
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a digest response is computed from (RFC 7616 §3.4.1).
#[derive(Clone, Debug)]
pub struct DigestInput<'a> {
    /// The algorithm.
    pub algorithm: &'a DigestAlgorithm,
    /// The user name.
    pub username: &'a str,
    /// The realm.
    pub realm: &'a str,
    /// The password.
    pub password: &'a str,
    /// The request's method.
    pub method: &'a str,
    /// The digest URI (the Request-URI).
    pub uri: &'a str,
    /// The server's nonce.
    pub nonce: &'a str,
    /// With qop `auth`: the nonce count (`00000001`) and the client nonce.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// The `response=` value (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1 without qop);
/// `None` for an unknown algorithm. A `-sess` variant without qop has no
/// client nonce and is computed with an empty one.
pub fn digest_response(input: &DigestInput<'_>) -> Option<String> {
    let a = input.algorithm;
    let mut ha1 = hash(
        a,
        &format!("{}:{}:{}", input.username, input.realm, input.password),
    )?;
    let sess = matches!(
        a,
        DigestAlgorithm::Md5Sess | DigestAlgorithm::Sha256Sess | DigestAlgorithm::Sha512_256Sess
    );
    let cnonce = input.qop_auth.map_or("", |(_, c)| c);
    if sess {
        ha1 = hash(a, &format!("{ha1}:{}:{cnonce}", input.nonce))?;
    }
    let ha2 = hash(a, &format!("{}:{}", input.method, input.uri))?;
    match input.qop_auth {
        Some((nc, cnonce)) => hash(
            a,
            &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", input.nonce),
        ),
        None => hash(a, &format!("{ha1}:{}:{ha2}", input.nonce)),
    }
}

/// The challenge to answer: the first Digest one (the server lists its
/// preferred first, RFC 8760 §2.4) whose algorithm is known and whose qop,
/// if any, offers `auth`.
fn choose(values: &[String]) -> Result<(String, fields::Challenge), Vec<DigestAlgorithm>> {
    let mut offered = Vec::new();
    for value in values {
        for item in split_challenges(value) {
            let c = fields::parse_challenge(&item);
            if !c.scheme.eq_ignore_ascii_case("digest") {
                continue;
            }
            let algorithm = DigestAlgorithm::named(c.algorithm.as_deref());
            let qop_ok = c
                .qop
                .as_deref()
                .is_none_or(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
            if !matches!(algorithm, DigestAlgorithm::Other(_)) && qop_ok && c.nonce.is_some() {
                return Ok((item, c));
            }
            offered.push(algorithm);
        }
    }
    Err(offered)
}

/// One header value holding one or several challenges, each as text.
fn split_challenges(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in fields::split_list(value) {
        let first = item.split_whitespace().next().unwrap_or("");
        if !first.contains('=') && item.trim().len() > first.len() || out.is_empty() {
            out.push(item.trim().to_owned());
        } else if let Some(last) = out.last_mut() {
            last.push_str(", ");
            last.push_str(item.trim());
        }
    }
    out
}

/// The query REGISTER (no Contact, no Expires).
fn register(
    provider: &Provider,
    transport: Transport,
    local: std::net::SocketAddr,
    user: &str,
    dialog: &(String, String),
    cseq: u32,
    auth: Option<(&str, &str)>,
) -> Vec<u8> {
    let host = reach::uri_host(&provider.host);
    let local_host = reach::uri_host(&local.ip().to_string());
    let mut out = format!(
        "REGISTER sip:{host} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local_host}:{port};branch=z9hG4bK-swdoc-{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{host}>;tag={tag}\r\n\
         To: <sip:{user}@{host}>\r\n\
         Call-ID: {call}@sipwatch\r\n\
         CSeq: {cseq} REGISTER\r\n\
         User-Agent: sipwatch doctor\r\n",
        port = local.port(),
        branch = token(),
        tag = dialog.0,
        call = dialog.1,
    );
    if let Some((name, value)) = auth {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// The bindings a 200 to a query lists.
fn bindings(index: &MessageIndex<'_>) -> Vec<Binding> {
    let default = index
        .header("expires")
        .and_then(|e| e.trim().parse::<u32>().ok());
    index
        .headers_named("contact")
        .flat_map(|v| {
            fields::split_list(&v)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|c| c.trim() != "*")
        .map(|c| {
            let expires = fields::parse_name_addr(&c).and_then(|n| n.expires);
            let contact = match (c.find('<'), c.find('>')) {
                (Some(a), Some(b)) if a < b => c[a + 1..b].to_owned(),
                _ => c.split(';').next().unwrap_or("").trim().to_owned(),
            };
            Binding {
                contact: super::clean(&contact),
                expires_s: expires.or(default),
            }
        })
        .collect()
}

fn seconds(index: &MessageIndex<'_>, name: &str) -> Option<u32> {
    index.header(name).and_then(|v| {
        v.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    })
}

/// Runs the query against the first target that answered an OPTIONS.
pub fn check(
    provider: &Provider,
    reach: &[Timed<Reach>],
    account: &Account,
    config: &Config,
) -> Credentials {
    let Some(target) = reach
        .iter()
        .find(|r| r.result.answer().is_some())
        .map(|r| r.result.target.clone())
    else {
        return Credentials::NoTarget;
    };
    let auth_user = account
        .auth_user
        .clone()
        .unwrap_or_else(|| account.user.clone());
    let mut tested = Tested {
        aor: format!("sip:{}@{}", account.user, reach::uri_host(&provider.host)),
        auth_user: auth_user.clone(),
        target: target.clone(),
        requests: 0,
        algorithm: None,
        registration: Registration::TooManyChallenges,
        diagnoses: Vec::new(),
    };
    let Opened {
        mut channel, local, ..
    } = match reach::open(provider, &target, config) {
        Ok(o) => o,
        Err(reached) => {
            tested.registration = Registration::Unanswered { reached: *reached };
            return Credentials::Tested(Box::new(tested));
        }
    };
    let mut judge = Judge::new(target.transport, local, target.address);
    tested.registration = ask(
        (provider, account, config),
        &mut channel,
        &mut judge,
        &mut tested,
    );
    // A REGISTER refused below SIP (ICMP, TCP) has no registration outcome
    // to judge: the line says what happened instead. A timeout is one.
    let timed_out = matches!(
        tested.registration,
        Registration::Unanswered {
            reached: Reached::NoAnswer { .. }
        }
    );
    if timed_out || !matches!(tested.registration, Registration::Unanswered { .. }) {
        tested.diagnoses = judge.diagnoses(timed_out);
    }
    Credentials::Tested(Box::new(tested))
}

/// The REGISTERs to `tested.target` and their answers, each transaction
/// handed to `judge`.
fn ask(
    (provider, account, config): (&Provider, &Account, &Config),
    channel: &mut client::Channel,
    judge: &mut Judge,
    tested: &mut Tested,
) -> Registration {
    let target = tested.target.clone();
    let local = judge.local;
    let auth_user = tested.auth_user.clone();
    let dialog = (token(), token());
    let uri = format!("sip:{}", reach::uri_host(&provider.host));
    let mut auth: Option<(&str, String)> = None;
    let mut challenged = false;
    for cseq in 1..=4u32 {
        let request = register(
            provider,
            target.transport,
            local,
            &account.user,
            &dialog,
            cseq,
            auth.as_ref().map(|(n, v)| (*n, v.as_str())),
        );
        tested.requests = cseq;
        let started = SystemTime::now();
        let exchange = client::exchange(channel, target.address, &request, &reach::timers(config));
        judge.exchange(&request, &exchange, started);
        let Outcome::Final(response) = &exchange.outcome else {
            return Registration::Unanswered {
                reached: reach::unanswered(&exchange, config),
            };
        };
        let index = MessageIndex::parse(&response.bytes);
        let after_challenge = challenged;
        return match response.code {
            200..=299 => Registration::Registered {
                bindings: bindings(&index),
            },
            401 | 407 => {
                let (header, answer) = if response.code == 401 {
                    ("www-authenticate", "Authorization")
                } else {
                    ("proxy-authenticate", "Proxy-Authorization")
                };
                let values: Vec<String> = index
                    .headers_named(header)
                    .map(|v| v.into_owned())
                    .collect();
                let (text, challenge) = match choose(&values) {
                    Ok(c) => c,
                    Err(offered) => return Registration::CannotAnswer { offered },
                };
                if challenged && !challenge.stale {
                    return Registration::WrongPassword {
                        realm: challenge.realm.as_deref().map(super::clean),
                    };
                }
                challenged = true;
                let algorithm = DigestAlgorithm::named(challenge.algorithm.as_deref());
                let realm = challenge.realm.clone().unwrap_or_default();
                let nonce = challenge.nonce.clone().unwrap_or_default();
                let cnonce = token();
                let qop = challenge.qop.is_some();
                let response = digest_response(&DigestInput {
                    algorithm: &algorithm,
                    username: &auth_user,
                    realm: &realm,
                    password: &account.password,
                    method: "REGISTER",
                    uri: &uri,
                    nonce: &nonce,
                    qop_auth: qop.then_some(("00000001", cnonce.as_str())),
                })
                .unwrap_or_default();
                let mut value = format!(
                    "Digest username=\"{auth_user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
                    algorithm.name()
                );
                if qop {
                    value.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
                }
                if let Some(opaque) = fields::auth_param(&text, "opaque") {
                    value.push_str(&format!(", opaque=\"{opaque}\""));
                }
                tested.algorithm = Some(algorithm);
                auth = Some((answer, value));
                continue;
            }
            403 => Registration::Forbidden {
                after_challenge,
                warning: index.header("warning").map(|w| super::clean(w.trim())),
            },
            404 => Registration::NotFound { after_challenge },
            423 => Registration::IntervalTooBrief {
                min_expires_s: seconds(&index, "min-expires"),
            },
            503 => Registration::Unavailable {
                retry_after_s: seconds(&index, "retry-after"),
            },
            code => Registration::Rejected {
                code,
                reason: super::clean(&response.reason),
                after_challenge,
            },
        };
    }
    Registration::TooManyChallenges
}
