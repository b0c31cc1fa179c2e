//! Why a registration fails, as data with its evidence; the words (what
//! happened, what to do, for an Asterisk admin) are in
//! [`crate::say::diagnosis`].
//!
//! The fix depends on which side of the REGISTER this host is ([`Side`]):
//! a PBX registering to its provider fixes its outbound `registration`, a
//! PBX that phones register to fixes its AOR, endpoint and auth sections.
use std::{
    net::{IpAddr, SocketAddr},
    time::SystemTime,
};

use serde::Serialize;

use super::digest::DigestAlgorithm;
use super::one_way::ActedOn;
use crate::net::{ConnectionFault, IcmpKind, KernelDrop, Leg, Transport};

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
/// the evidence seen on the wire; [`crate::say::diagnosis::explain`] puts
/// it into words (what happened, what to do) for an Asterisk admin.
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
        /// The reason phrase of the 401/407 that refused them, as written
        /// ("Unauthorized", "nonce has changed"…).
        reason: String,
    },
    /// Challenged with `stale=true` again and again within one attempt,
    /// each time answered with the fresh nonce.
    StaleNonce {
        /// 401 from the registrar or 407 from a proxy.
        challenge: ChallengeKind,
        /// Challenges with `stale=true` in this one attempt (2 or more).
        times: u32,
        /// The reason phrase of the latest of them, as written.
        reason: String,
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
        /// The attempt was challenged before the 403: it refused the
        /// REGISTER that carried credentials (a wrong password with some
        /// registrars, or an account that may not register from here).
        /// Else the source was refused before any challenge.
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
        /// Over TCP: the registrar's TCP acknowledged every byte of the
        /// REGISTER, so it reached the registrar's host and the path works
        /// both ways; absent in JSON when not seen.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        tcp_acked: bool,
        /// Where the REGISTER was sent: its destination `ip:port`.
        destination: SocketAddr,
        /// The transport it was sent over: `UDP` or `TCP`.
        transport: Transport,
        /// Its source and destination are on one host or in one private
        /// subnet ([`crate::track::same_link`]): no router, NAT or SIP
        /// ALG stands between them; absent in JSON when not so.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        no_router: bool,
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
    /// No answer to the REGISTER is in the capture, yet its sender acted
    /// on one, and nothing came back on its flow: the capture holds one
    /// direction only (a mirror of one leg, asymmetric routing). Not a
    /// timeout: a note.
    AnswersNotCaptured {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// Where the REGISTER went, `ip:port`.
        destination: SocketAddr,
        /// Its transport.
        transport: Transport,
        /// Times it was seen: 1 + retransmissions.
        sent: u32,
        /// What its sender did that only an answer explains.
        acted_on: ActedOn,
    },
    /// Registered, but only through another target after REGISTERs to a
    /// first one got no answer at all (DNS SRV failover, RFC 3263 §4.4):
    /// the dead target is tried first again at the next refresh. A hint.
    DeadTarget {
        /// Which side of the REGISTER this host is on, for the fix.
        side: Side,
        /// The target that never answered, `ip:port`.
        dead: SocketAddr,
        /// The transport the REGISTERs to it went over.
        transport: Transport,
        /// Times the last REGISTER to it was sent (1 + retransmissions);
        /// 0 when its TCP connection never came up (`connection`).
        sent: u32,
        /// Over TCP, the connection to it that never came up, so no
        /// REGISTER ever reached it (SYNs unanswered, or refused).
        #[serde(skip_serializing_if = "Option::is_none")]
        connection: Option<ConnectionFault>,
        /// When Timer F fired on it, its connection failed (or the capture
        /// ended).
        #[serde(serialize_with = "crate::time::serialize")]
        timed_out_at: SystemTime,
        /// The target that answered and registered the binding, `ip:port`.
        registered_through: SocketAddr,
        /// From the first REGISTER to the dead target to the success, in
        /// ms: what each refresh that tries it first loses.
        delay_ms: u64,
    },
}

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
                | Diagnosis::DeadTarget { .. }
                | Diagnosis::AnswersNotCaptured { .. }
                | Diagnosis::UnregisterNotCompleted { .. }
        )
    }
}
