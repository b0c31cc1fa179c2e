//! Why a registration fails, as data with its evidence, and the one place
//! where that is put into words for an Asterisk admin (PJSIP and chan_sip).
//!
//! The fix depends on which side of the REGISTER this host is ([`Side`]):
//! a PBX registering to its provider fixes its outbound `registration`, a
//! PBX that phones register to fixes its AOR, endpoint and auth sections.
use std::{
    net::{IpAddr, SocketAddr},
    time::SystemTime,
};

use serde::Serialize;

use super::{
    digest::{DigestAlgorithm, asterisk_has_sha256, names},
    path_words,
};
use crate::{
    net::{ConnectionFault, IcmpKind, KernelDrop, Leg, Transport},
    time::clock,
};

/// Which kind of digest challenge: from the registrar (401) or a proxy (407).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeKind {
    /// 401 Unauthorized with WWW-Authenticate, from the registrar (RFC 3261 §22.2).
    Www,
    /// 407 Proxy Authentication Required with Proxy-Authenticate, from a proxy
    /// on the way (RFC 3261 §22.3).
    Proxy,
}

/// Which side of the REGISTER this host (the capture) is on, so that the
/// fix names the configuration that can change the outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// This host sends the REGISTERs: the PBX registering to its provider.
    #[default]
    Client,
    /// REGISTERs arrive at this host: phones registering to the PBX, or a
    /// capture taken at the registrar.
    Registrar,
}

/// One 2xx grant, kept to see a registrar shorten what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GrantSeen {
    /// Seconds the REGISTER asked for (its Contact's `expires`, else its
    /// Expires header).
    pub asked_s: u32,
    /// Seconds the 2xx granted (the `expires` of our Contact in it, else its
    /// Expires header, else what was asked).
    pub granted_s: u32,
}

/// A sign, in the registrar's own answers, that a SIP ALG rewrote them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgSignKind {
    /// A public registrar wrote a private address into `received=`: it cannot
    /// have seen that address, so something rewrote the answer back.
    ReceivedPrivate,
    /// Our Via asked for `rport`, the answer's top Via carries neither
    /// `received` nor `rport`: stripped on the way back (or a registrar
    /// that ignores RFC 3581).
    ViaStripped,
}

/// Copies of a request this host's kernel dropped, and why the last was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DroppedHere {
    /// Copies dropped (of all those sent).
    pub copies: u32,
    /// The kernel's reason, and which way the packet was going.
    #[serde(flatten)]
    pub drop: KernelDrop,
}

/// Why an attempt failed, or what its answer hints about the path, with
/// the evidence seen on the wire; [`Diagnosis::explain`] puts it into words
/// (what happened, what to do) for an Asterisk admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnosis {
    /// 401/407 to the REGISTER that answered this attempt's challenge:
    /// wrong password or user name.
    CredentialsRejected {
        /// The refusal: 401 from the registrar or 407 from a proxy.
        challenge: ChallengeKind,
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The `username` of the Authorization (or Proxy-Authorization) the client
        /// sent: PJSIP auth `username`, chan_sip `defaultuser`.
        username: Option<String>,
        /// The user of that REGISTER's From URI; many registrars want it equal to
        /// the auth user name.
        from_user: Option<String>,
        /// The `realm` of the Authorization (or Proxy-Authorization) the client sent.
        realm_sent: Option<String>,
        /// The `realm` of the challenge those credentials answered (the header
        /// whose nonce they carried, else the first).
        realm_asked: Option<String>,
        /// The `algorithm` of the credentials sent (MD5 when absent).
        algorithm_sent: DigestAlgorithm,
        /// Every algorithm offered, one per challenge header.
        algorithm_asked: Vec<DigestAlgorithm>,
    },
    /// Challenged with `stale=true` again and again within one attempt,
    /// each time answered with the fresh nonce.
    StaleNonce {
        /// 401 from the registrar or 407 from a proxy.
        challenge: ChallengeKind,
        /// Challenges with `stale=true` in this one attempt (2 or more).
        times: u32,
    },
    /// Challenged, and the client never answered with credentials.
    NoCredentials {
        /// The challenge left unanswered: 401 from the registrar or 407 from a proxy.
        challenge: ChallengeKind,
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The `realm` of the challenge's first WWW- / Proxy-Authenticate header.
        realm: Option<String>,
        /// Every algorithm the challenge offered, one per header, in order: a
        /// client that takes only the first may not be able to answer it.
        algorithm_asked: Vec<DigestAlgorithm>,
        /// The User-Agent of the client's latest REGISTER: an Asterisk version
        /// there tells whether it can answer SHA-256.
        user_agent: Option<String>,
    },
    /// A refresh sent with a nonce from an earlier exchange drew a new
    /// challenge, and the client never answered it: not a password problem.
    RechallengeUnanswered {
        /// The new challenge: 401 from the registrar or 407 from a proxy.
        challenge: ChallengeKind,
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The `nonce` of the credentials the refresh carried, cached from an
        /// earlier exchange.
        nonce_sent: Option<String>,
        /// The `nonce` of the new challenge (its first header).
        nonce_new: Option<String>,
        /// The new challenge said `stale=true` (RFC 7616 §3.3).
        stale: bool,
        /// The registrar had accepted credentials with `nonce_sent` before.
        accepted_before: bool,
    },
    /// An un-REGISTER (Expires: 0) that did not complete: the registrar
    /// keeps the binding until it expires.
    UnregisterNotCompleted {
        /// The response that stopped it (408: none came).
        code: u16,
        /// Challenged and never answered.
        challenged: bool,
        /// When the binding the registrar still holds lapses, per its last grant;
        /// `None` when no grant was seen or it has lapsed.
        #[serde(serialize_with = "crate::time::serialize_opt")]
        registered_until: Option<SystemTime>,
    },
    /// The request was retransmitted after its final answer was seen here:
    /// the answer (`code`) did not reach the sender.
    AnswerNotDelivered {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The status code of the final response seen here, which never
        /// reached the sender.
        code: u16,
        /// Where the answer was going: the request's source.
        sender: String,
        /// This host's kernel dropped the answer after the capture saw it
        /// arrive, and why (the drop tracer): located on this host.
        #[serde(skip_serializing_if = "Option::is_none")]
        dropped_on_this_host: Option<KernelDrop>,
    },
    /// 403 Forbidden.
    Forbidden {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The attempt was challenged before the 403: the credentials were
        /// accepted, the account may not register from here. Else the source
        /// was refused before any challenge.
        after_challenge: bool,
        /// The reason phrase of the 403, as written.
        reason: String,
        /// The 403's first Warning header (RFC 3261 §20.43), where some
        /// registrars say why they refused.
        warning: Option<String>,
        /// The address the registrar saw (received / rport of its answer's
        /// top Via): the one to have whitelisted.
        seen_as: Option<String>,
    },
    /// 404: the registrar does not know the user.
    UnknownUser {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The user of the 404's To URI: the AOR the REGISTER was for.
        user: Option<String>,
    },
    /// No final response (Timer F): the PBX reports 408.
    Timeout {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// Times the REGISTER was seen: 1 + retransmissions (over UDP up to 11
        /// in Timer F's 32 s; over TCP, 1).
        sent: u32,
        /// Whether it was seen leaving this host (egress); `None` when the
        /// capture has no direction.
        left_this_host: Option<bool>,
        /// A provisional response (100 Trying…) came back: the request got
        /// through, no final response did.
        provisional_seen: bool,
        /// Where the REGISTER was sent: its destination `ip:port`.
        destination: SocketAddr,
        /// The transport it was sent over: `UDP` or `TCP`.
        transport: Transport,
        /// Copies of the REGISTER this host's kernel dropped, and why
        /// (the drop tracer); `None` when it dropped none.
        #[serde(skip_serializing_if = "Option::is_none")]
        dropped_on_this_host: Option<DroppedHere>,
        /// Where it was lost, in the probe's words, when the capture alone
        /// tells: `dropped_on_this_host` when this host's kernel dropped
        /// every copy. (With `attach --echo`, the path audit locates the
        /// other legs.)
        #[serde(skip_serializing_if = "Option::is_none")]
        leg: Option<Leg>,
    },
    /// A 408 from the far end (a proxy timed out further on).
    RemoteTimeout {
        /// The reason phrase of the 408, as written.
        reason: String,
    },
    /// 503 Service Unavailable.
    Unavailable {
        /// The Retry-After of the 503, seconds; `None` when absent (Asterisk then
        /// retries after `retry_interval`).
        #[serde(rename = "retry_after_s")]
        retry_after: Option<u32>,
        /// The reason phrase of the 503, as written.
        reason: String,
    },
    /// 423 Interval Too Brief.
    IntervalTooBrief {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// Seconds the refused REGISTER asked for (its Contact's `expires`, else
        /// its Expires header); `None` when it named neither.
        #[serde(rename = "asked_s")]
        asked: Option<u32>,
        /// The Min-Expires of the 423, seconds: the shortest registration the
        /// registrar accepts (RFC 3261 §10.3).
        #[serde(rename = "min_expires_s")]
        min_expires: Option<u32>,
        /// Earlier grants shorter than asked: the registrar shrank the
        /// interval down to this.
        shrinking_grants: Vec<GrantSeen>,
    },
    /// Any other failure code.
    Failed {
        /// The final status code, one no other diagnosis covers.
        code: u16,
        /// Its reason phrase, as written.
        reason: String,
    },
    /// The registrar saw another address or port than the one we put in Via.
    NatRewritesVia {
        /// Which side of the REGISTER this host is on: whether the fix is the
        /// PBX's outbound registration or the phone's endpoint.
        side: Side,
        /// The sent-by `host[:port]` of our top Via, as written: where the client
        /// believes it is.
        sent_by: String,
        /// The `received=` of the 2xx's top Via: the source address the registrar
        /// saw.
        received: Option<String>,
        /// The `rport=` of that Via: the source port the registrar saw (RFC 3581).
        rport: Option<u16>,
    },
    /// A private address in Contact, registered through NAT with a public
    /// registrar that kept it as it was.
    PrivateContact {
        /// The binding's Contact URI, with its private address.
        contact: String,
        /// The `ip:port` the REGISTER was sent to: a registrar on a public
        /// address.
        registrar: String,
    },
    /// The registrar's answer shows signs of a SIP ALG on the way back.
    AlgSign {
        /// What gave the ALG away: a private `received=`, or a Via stripped of
        /// `received` and `rport`.
        sign: AlgSignKind,
        /// The `received=` of the answer's top Via: the private address for
        /// [`AlgSignKind::ReceivedPrivate`], `None` for a stripped Via.
        received: Option<String>,
        /// The `ip:port` the REGISTER was sent to: a registrar on a public
        /// address.
        registrar: String,
    },
    /// Answers came from another address than the one the request was sent
    /// to (a multi-homed or load-balanced registrar, a transport bound to
    /// `[::]` or `0.0.0.0`): a stateful firewall or the client's own
    /// transport may drop them, and PJSIP-based clients re-register in a
    /// loop (linphone-sdk#17, belle-sip PR #13). A hint.
    AnswersFromOtherAddress {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// Where the REGISTERs went, `ip:port`.
        request_destination: SocketAddr,
        /// Where the answers came from, `ip:port`.
        response_source: SocketAddr,
        /// Final answers that came from `response_source`.
        answers_from_other_address: u32,
        /// New REGISTERs sent since the first of them.
        registers: u32,
        /// Between the first and the last of those REGISTERs, in ms.
        registers_over_ms: u64,
    },
    /// A REGISTER arrived only as its first IP fragment: the rest was lost
    /// on the way (an MTU, or a device that drops fragments), so the
    /// message never arrived whole. Not a client that sent no credentials.
    FragmentsLost {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// Where the fragments came from, `ip:port`.
        source: SocketAddr,
        /// Where they were sent, `ip:port`.
        destination: SocketAddr,
        /// Datagrams of which only the first fragment arrived.
        datagrams: u32,
        /// The first fragment's IP packet, in bytes.
        fragment_bytes: u32,
        /// The whole datagram's, in bytes.
        datagram_bytes: u32,
        /// The SIP start line the first fragment carries.
        start_line: Option<String>,
    },
    /// A REGISTER over UDP larger than RFC 3261 §18.1.1 allows without a
    /// known path MTU (1300 bytes) went unanswered while smaller ones to
    /// the same registrar were answered: lost for its size on the path (an
    /// MTU with Don't Fragment, or a device that drops fragments).
    LargeRequestUnanswered {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// The unanswered REGISTER's SIP message, in bytes.
        bytes: u32,
        /// The largest REGISTER of the binding that was answered, in bytes.
        largest_answered_bytes: u32,
        /// Where it went, `ip:port`.
        destination: SocketAddr,
    },
    /// ICMP or ICMPv6 errors quoting the REGISTER came back instead of an
    /// answer (RFC 792, RFC 4443).
    Unreachable {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// What they said.
        icmp: IcmpKind,
        /// The host or router that sent them.
        reporter: IpAddr,
        /// How many quoted this REGISTER.
        count: u32,
        /// The next hop's MTU, for fragmentation needed / packet too big.
        mtu: Option<u32>,
        /// Where the REGISTER went, `ip:port`.
        destination: SocketAddr,
        /// The REGISTER's transport.
        transport: Transport,
        /// The quoted SIP start line, when the quote reaches it.
        start_line: Option<String>,
    },
    /// The TCP connection the REGISTER needed failed: refused, never
    /// answered, reset, closed by the far end, or dead on the path.
    ConnectionFailed {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// The registrar's end, `ip:port`.
        destination: SocketAddr,
        /// What went wrong, with its evidence.
        #[serde(flatten)]
        connection: ConnectionFault,
    },
    /// The public port the registrar saw changed from one refresh to the
    /// next while the PBX sent from the same port: the NAT forgot the
    /// mapping in between, and requests sent to the old one went nowhere
    /// (jitsi/jitsi#196, i-p-tel/sipdroid#72). A hint.
    NatMappingLost {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// The public address the registrar saw.
        public_address: String,
        /// The public ports seen, oldest first (at most the last 8).
        public_ports: Vec<u16>,
        /// Times the port changed.
        changes: u32,
        /// The address the REGISTERs were sent from, `ip:port`.
        local: String,
        /// Mean time between those REGISTERs, in s.
        interval_s: u64,
    },
    /// A registrar that rejected the password several times (or had just
    /// answered a burst of REGISTERs within milliseconds) and then answers
    /// with ICMP, or not at all, from the same address: it banned this
    /// address (fail2ban, flood protection).
    Banned {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// The registrar's address, `ip:port`.
        registrar: String,
        /// Credentials rejected (401/407 to the REGISTER that carried
        /// them) before the answers stopped; 0 when a burst did it.
        rejections: u32,
        /// REGISTERs answered within a second, in a row, just before the
        /// answers stopped; 0 when failed logins did it.
        answered_burst: u32,
        /// When the first REGISTER went unanswered.
        #[serde(serialize_with = "crate::time::serialize")]
        answers_stopped_at: SystemTime,
        /// What came instead of answers: ICMP of this kind, or nothing.
        icmp: Option<IcmpKind>,
        /// ICMP errors seen for the REGISTER that timed out.
        icmp_count: u32,
    },
}

const ASTERISK_SHA256: &str = "Asterisk supports SHA-256 and SHA-512-256 digest from 20.12.0, 21.7.0 and 22.2.0 with PJProject 2.15.1, chan_sip never";

impl Diagnosis {
    /// Hints (NAT, ALG) and notes (an un-REGISTER that did not complete)
    /// are advice; the rest are failures.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            Diagnosis::NatRewritesVia { .. }
                | Diagnosis::PrivateContact { .. }
                | Diagnosis::AlgSign { .. }
                | Diagnosis::AnswersFromOtherAddress { .. }
                | Diagnosis::NatMappingLost { .. }
                | Diagnosis::UnregisterNotCompleted { .. }
        )
    }

    /// (what happened, with its evidence; what to do).
    pub fn explain(&self) -> (String, String) {
        match self {
            Diagnosis::CredentialsRejected {
                challenge,
                side,
                username,
                from_user,
                realm_sent,
                realm_asked,
                algorithm_sent,
                algorithm_asked,
            } => credentials_rejected(
                *challenge,
                *side,
                (username, from_user),
                (realm_sent, realm_asked),
                (algorithm_sent, algorithm_asked),
            ),
            Diagnosis::StaleNonce { challenge, times } => (
                format!("{} with stale=true {times} times in one attempt, each answered with the fresh nonce: the nonce expires before it is used, the credentials are fine", challenge_code(*challenge)),
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
                    format!("the {code} answer reached this host's NIC, but this host dropped it before the PBX's socket at {sender}: {}; the PBX never sees it and will report 408", drop.describe()),
                    drop.fix().to_owned(),
                ),
                Side::Registrar => (
                    format!("this host answered {code} to the phone at {sender}, and dropped the answer on its way out: {}", drop.describe()),
                    drop.fix().to_owned(),
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
            Diagnosis::Timeout { side, sent, left_this_host, provisional_seen, destination, transport, .. } => {
                timeout(*side, *sent, *left_this_host, *provisional_seen, destination, transport)
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
                    "the registrar or a proxy cannot serve now; Asterisk tries the next DNS SRV target, then retries after `retry_interval`; if it persists, check DNS SRV failover and the provider's status".into(),
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
                path_words::answers_from_other_address(*side, (request_destination, response_source), *answers_from_other_address, (*registers, *registers_over_ms))
            }
            Diagnosis::FragmentsLost { side, source, destination, datagrams, fragment_bytes, datagram_bytes, start_line } => {
                path_words::fragments_lost(*side, (source, destination), *datagrams, (*fragment_bytes, *datagram_bytes), start_line)
            }
            Diagnosis::Unreachable { side, icmp, reporter, count, mtu, destination, transport, start_line } => {
                path_words::unreachable(*side, *icmp, (reporter, *count), *mtu, (destination, *transport), start_line)
            }
            Diagnosis::LargeRequestUnanswered { side, bytes, largest_answered_bytes, destination } => {
                path_words::large_request_unanswered(*side, (*bytes, *largest_answered_bytes), destination)
            }
            Diagnosis::ConnectionFailed { side, destination, connection } => {
                path_words::connection_failed(*side, destination, connection)
            }
            Diagnosis::NatMappingLost { side, public_address, public_ports, changes, local, interval_s } => {
                path_words::nat_mapping_lost(*side, (public_address, public_ports), *changes, local, *interval_s)
            }
            Diagnosis::Banned { side, registrar, rejections, answered_burst, answers_stopped_at, icmp, icmp_count } => {
                path_words::banned(*side, registrar, (*rejections, *answered_burst), *answers_stopped_at, (*icmp, *icmp_count))
            }
        }
    }
}

fn opt(o: &Option<String>) -> String {
    o.clone().unwrap_or_else(|| "(none)".into())
}

/// The host of `ip:port` (IPv6 in brackets kept whole).
pub(super) fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}

fn credentials_rejected(
    challenge: ChallengeKind,
    side: Side,
    (username, from_user): (&Option<String>, &Option<String>),
    (realm_sent, realm_asked): (&Option<String>, &Option<String>),
    (algorithm_sent, algorithm_asked): (&DigestAlgorithm, &[DigestAlgorithm]),
) -> (String, String) {
    let mut cause = format!(
        "{} to the REGISTER that answered the challenge: user {} for realm {}",
        challenge_code(challenge),
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
        fix.push_str(&format!(
            "; the client used an algorithm that was not offered: {ASTERISK_SHA256}, or ask the provider for MD5"
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
        .and_then(asterisk_has_sha256)
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
                "the client likely does not support {} (PJSIP before 2.15, chan_sip): upgrade it ({ASTERISK_SHA256}) or have MD5 offered first; if it does support it, its credentials are missing: {configure}",
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
                "the client likely does not support {offer}: upgrade it ({ASTERISK_SHA256}) or {ask_md5}"
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
    let stops = "; Asterisk stops registering after a 403 for good unless `forbidden_retry_interval` is set (PJSIP, default 0): `pjsip send register` once fixed";
    let (cause, fix) = match (side, after_challenge) {
        (Side::Registrar, _) => (
            format!("403 {reason}{warning} to the phone's REGISTER"),
            "this registrar refuses the phone: check the endpoint's `acl` / `contact_acl` (chan_sip `permit`/`deny`), that its AOR allows registration, and the domain the phone uses".to_owned(),
        ),
        (Side::Client, true) => (
            format!("403 {reason}{warning} after the credentials were accepted{seen}"),
            format!("the account exists but may not register from here: account disabled, registration not allowed, or wrong domain; ask the provider{stops}"),
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
    let pbx = if here.drop.reason.as_deref() == Some("NETFILTER_DROP")
        && *transport == Transport::Udp
    {
        "the PBX's send fails with \"Operation not permitted\" (Asterisk logs a transport error) and it retries after `retry_interval`"
    } else {
        "the PBX reports 408 and retries after `retry_interval`"
    };
    match side {
        Side::Client => (
            format!(
                "no final response: the REGISTER to {destination} over {transport} never left this host: {} dropped it, {times}; {pbx}",
                here.drop.describe()
            ),
            here.drop.fix().to_owned(),
        ),
        Side::Registrar => (
            format!(
                "no final response: the REGISTER for {destination} over {transport} arrived here and {} dropped it before the PBX's socket, {times}",
                here.drop.describe()
            ),
            here.drop.fix().to_owned(),
        ),
    }
}

fn timeout(
    side: Side,
    sent: u32,
    left_this_host: Option<bool>,
    provisional_seen: bool,
    destination: &SocketAddr,
    transport: &Transport,
) -> (String, String) {
    let provisional = if provisional_seen {
        "; only provisional responses came back"
    } else {
        "; nothing came back"
    };
    if side == Side::Registrar {
        return (
            format!("no final response: the REGISTER arrived here {} for {destination} over {transport} and was never answered{provisional}", crate::words::count(sent, "time", "times")),
            "is the PBX listening on that address, port and transport (PJSIP transport `bind`), and does this host's INPUT firewall let SIP in?".into(),
        );
    }
    let left = match left_this_host {
        Some(true) => "it left this host",
        Some(false) => "it never left this host",
        None => "whether it left this host is not known",
    };
    // Never "try TCP" to what already is TCP.
    let other_transport = if *transport == Transport::Udp {
        "try TCP or another port"
    } else {
        "check the registrar's port and transport (`server_uri`, the PJSIP `transport`)"
    };
    (
        format!(
            "no final response: the REGISTER was sent {} to {destination} over {transport}; {left}{provisional}; the PBX reports 408 and retries after `retry_interval`",
            crate::words::count(sent, "time", "times")
        ),
        format!(
            "check that the registrar's name resolves (dig) to the right address, that a firewall lets SIP out and the answers back, and disable any SIP ALG on the router; {other_transport}"
        ),
    )
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

fn challenge_code(c: ChallengeKind) -> &'static str {
    match c {
        ChallengeKind::Www => "401 Unauthorized",
        ChallengeKind::Proxy => "407 Proxy Authentication Required",
    }
}
