//! JSON Lines: one object per message with its parsed fields, for `jq` and
//! log pipelines. Secrets are masked as in the text output.
use std::{
    borrow::Cow,
    net::{IpAddr, SocketAddr},
};

use serde::Serialize;
use sipwatch_common::Direction;

use super::{CaptureSummary, Output, RunEnd};
use crate::{
    net::{IcmpError, IcmpKind, Transport},
    pbx::config::trunks::Trunks,
    sip::{
        CSeq, Message, ParsedMessage, Problem, StartLine,
        fields::{Challenge, Credentials, NameAddr, Sdp, Via},
    },
    time::rfc3339,
};

/// One SIP message as a `{"type":"message",…}` line: where and when it
/// crossed, and the fields registration problems turn on, each typed
/// (see `docs/json.md`). Absent headers are `null` or `[]`, never guessed.
#[derive(Serialize)]
pub struct MessageRecord<'a> {
    /// Always `"message"`, written as `type`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339, UTC, microseconds.
    pub time: String,
    /// "in", "out", or absent when the capture does not say.
    pub direction: Option<&'static str>,
    /// `"UDP"` or `"TCP"`.
    pub transport: Transport,
    /// Source address and port from the IP and UDP/TCP headers (`IP:port`,
    /// `[IPv6]:port`).
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// 802.1Q / 802.1ad VLAN ids, outer tag first; `[]` when untagged.
    pub vlans: &'a [u16],
    /// The IP tunnel the message came in (`kind`, `src`, `dst`: its ends'
    /// addresses); absent when it came in none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<crate::net::Tunnel>,
    /// Whether the message was reassembled from IP fragments.
    pub reassembled: bool,
    /// The message's size in bytes, start line to end of body.
    pub length: usize,
    /// The request line (`method`, `uri`) or status line (`code`,
    /// `reason`); `null` when the first line is not SIP.
    pub start_line: Option<StartLine>,
    /// The Call-ID header.
    pub call_id: Option<Cow<'a, str>>,
    /// The CSeq header: sequence number and method.
    pub cseq: Option<CSeq>,
    /// Every Via value, topmost first: sent-by, branch, `received`, `rport`
    /// (what NAT changed, RFC 3581).
    pub via: Vec<Via>,
    /// The From header: URI, display name and tag.
    pub from: Option<NameAddr>,
    /// The To header: the AOR being registered, for a REGISTER.
    pub to: Option<NameAddr>,
    /// Every Contact value with its `expires_s`: the binding a REGISTER asks
    /// for, or the bindings a 200 grants.
    pub contact: Vec<NameAddr>,
    /// The Authorization header (digest user, realm, nonce, algorithm, qop;
    /// the `response` hash masked).
    pub authorization: Option<Credentials>,
    /// The Proxy-Authorization header, with the same fields.
    pub proxy_authorization: Option<Credentials>,
    /// Every WWW-Authenticate challenge of a 401 (realm, nonce, algorithm,
    /// qop, `stale`).
    pub www_authenticate: Vec<Challenge>,
    /// Every Proxy-Authenticate challenge of a 407.
    pub proxy_authenticate: Vec<Challenge>,
    /// Seconds (the Expires header: the registration interval asked for
    /// or granted), written as `expires_s`.
    #[serde(rename = "expires_s")]
    pub expires: Option<u32>,
    /// Seconds (the Min-Expires header of a 423 Interval Too Brief), written
    /// as `min_expires_s`.
    #[serde(rename = "min_expires_s")]
    pub min_expires: Option<u32>,
    /// Seconds (the Retry-After header, e.g. of a 503), written as
    /// `retry_after_s`.
    #[serde(rename = "retry_after_s")]
    pub retry_after: Option<u32>,
    /// The User-Agent header: which PBX or phone sent a request.
    pub user_agent: Option<Cow<'a, str>>,
    /// The Server header: which registrar or proxy answered.
    pub server: Option<Cow<'a, str>>,
    /// The Warning header (RFC 3261 §20.43), often the provider's reason for
    /// a 403.
    pub warning: Option<Cow<'a, str>>,
    /// The Content-Length header's value in bytes, as written (it may
    /// disagree with the body actually present).
    pub content_length: Option<usize>,
    /// The SDP `o=`, `c=` and `m=` lines, when the body is SDP.
    pub sdp: Option<Sdp>,
    /// What the message does wrong (sipwatch's own reading).
    pub problems: Vec<Problem>,
    /// rsip's objection, when its strict parse fails.
    pub parse_error: Option<String>,
    /// What keep-alive this datagram is (`crlf_ping`, `stun_binding_request`,
    /// …), when it is one instead of a SIP message; absent otherwise. A
    /// keep-alive has no `problems` and no `parse_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<crate::sip::KeepAlive>,
    /// The HEP agent that sent the message (`hep-listen`, `attach
    /// --hep-listen`); absent for the NIC and capture files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hep: Option<HepAgent>,
    /// The process whose TLS library it was read in, in clear (`attach
    /// --pid`, `--process`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// Which HEP agent sent a message: the address its packets came from and
/// its capture id (Asterisk's `capture_id`, Kamailio's `hep_capture_id`).
#[derive(Serialize)]
pub struct HepAgent {
    /// The address the HEP packet came from.
    pub agent: SocketAddr,
    /// The agent's capture id.
    pub capture_id: u32,
}

/// Writes `m` as one [`MessageRecord`] line; `parsed` is reused when the
/// pipeline already indexed the message, else it is indexed here.
pub fn write_message(
    out: &mut dyn std::io::Write,
    m: &Message,
    parsed: Option<&ParsedMessage<'_>>,
) -> std::io::Result<()> {
    let own;
    let p = match parsed {
        Some(p) => p,
        None => {
            own = m.parsed();
            &own
        }
    };
    // A keep-alive is no failed SIP message: nothing to object to.
    let keep_alive = p
        .start_line()
        .is_none()
        .then(|| crate::sip::keep_alive(&m.bytes))
        .flatten();
    let record = MessageRecord {
        kind: "message",
        time: rfc3339(m.timestamp),
        direction: direction(m.direction),
        transport: m.transport,
        src: m.src,
        dst: m.dst,
        vlans: &m.vlans,
        tunnel: m.outer,
        reassembled: m.reassembled,
        length: m.bytes.len(),
        start_line: p.start_line().cloned(),
        call_id: p.call_id(),
        cseq: p.cseq(),
        via: p.vias(),
        from: p.from(),
        to: p.to(),
        contact: p.contacts(),
        authorization: p.authorization(),
        proxy_authorization: p.proxy_authorization(),
        www_authenticate: p.www_authenticate(),
        proxy_authenticate: p.proxy_authenticate(),
        expires: p.expires(),
        min_expires: p.min_expires(),
        retry_after: p.retry_after(),
        user_agent: p.user_agent(),
        server: p.server(),
        warning: p.warning(),
        content_length: p.content_length(),
        sdp: p.sdp(),
        problems: if keep_alive.is_some() {
            Vec::new()
        } else {
            p.index.problems.clone()
        },
        parse_error: p.rsip_error().filter(|_| keep_alive.is_none()),
        keep_alive,
        hep: match m.origin {
            crate::sip::Origin::Hep { agent_id, agent } => Some(HepAgent {
                agent,
                capture_id: agent_id,
            }),
            _ => None,
        },
        pid: match m.origin {
            crate::sip::Origin::TlsPlaintext { pid } => Some(pid),
            _ => None,
        },
    };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

/// An ICMP error about a SIP packet as `{"type":"icmp",…}`.
pub fn write_icmp(out: &mut dyn std::io::Write, e: &IcmpError) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Quoted<'a> {
        transport: Transport,
        src: SocketAddr,
        dst: SocketAddr,
        /// The SIP start line, when the quote holds one.
        start_line: Option<Cow<'a, str>>,
    }
    #[derive(Serialize)]
    struct IcmpRecord<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        time: String,
        direction: Option<&'static str>,
        /// The host or router that sent the error, and to whom.
        from: IpAddr,
        to: IpAddr,
        ip_version: u8,
        icmp_type: u8,
        icmp_code: u8,
        error: IcmpKind,
        /// In words, as the log line says it.
        description: String,
        mtu_bytes: Option<u32>,
        quoted: Quoted<'a>,
    }
    let q = &e.quoted;
    let record = IcmpRecord {
        kind: "icmp",
        time: rfc3339(e.timestamp),
        direction: direction(e.direction),
        from: e.reporter,
        to: e.to,
        ip_version: e.ip_version,
        icmp_type: e.icmp_type,
        icmp_code: e.code,
        error: e.kind,
        description: e.kind.to_string(),
        mtu_bytes: e.mtu,
        quoted: Quoted {
            transport: q.transport,
            src: q.src,
            dst: q.dst,
            start_line: q.sip_start_line().map(String::from_utf8_lossy),
        },
    };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

/// "in", "out", or absent when the capture does not say.
fn direction(d: Option<Direction>) -> Option<&'static str> {
    d.map(|d| match d {
        Direction::Ingress => "in",
        Direction::Egress => "out",
    })
}

/// A tracking event as `{"type":"registration","time":…,…}` or
/// `{"type":"timeout","time":…,…}`: `time` is when it happened (the
/// registration's last change, the moment Timer F fired), as every other
/// object has its `time`; the registration's or transaction's own fields
/// follow.
pub fn write_event(out: &mut dyn std::io::Write, e: &crate::track::Event) -> std::io::Result<()> {
    write_event_in(out, e, None)
}

/// [`write_event`], a registration carrying its `config` (the section that
/// sends it, its auth and the password check) when Asterisk's
/// configuration was read.
pub fn write_event_in(
    out: &mut dyn std::io::Write,
    e: &crate::track::Event,
    trunks: Option<&Trunks>,
) -> std::io::Result<()> {
    use crate::track::Event;
    let (kind, body) = match e {
        Event::Registration(r) => (
            "registration",
            serde_json::to_vec(&InConfig::of(r, trunks))?,
        ),
        Event::Timeout(tx) => ("timeout", serde_json::to_vec(tx)?),
    };
    write!(out, r#"{{"type":"{kind}","time":"{}""#, rfc3339(e.at()))?;
    // `body` is one JSON object: its fields follow ours.
    match body.strip_prefix(b"{") {
        Some(b"}") | None => out.write_all(b"}")?,
        Some(fields) => {
            out.write_all(b",")?;
            out.write_all(fields)?;
        }
    }
    out.write_all(b"\n")
}

/// A registration with the place in Asterisk's configuration that sends it
/// (`config`, absent when no configuration was read or none matches).
#[derive(Serialize)]
pub struct InConfig<'a> {
    #[serde(flatten)]
    registration: &'a crate::track::Registration,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<ConfigJson>,
}

impl<'a> InConfig<'a> {
    /// `r` with its configuration, when `trunks` has a section for it.
    pub fn of(r: &'a crate::track::Registration, trunks: Option<&Trunks>) -> InConfig<'a> {
        let config = trunks
            .and_then(|t| crate::track::config_match::ConfigRef::of(r, t))
            .map(|c| ConfigJson {
                file: c.file,
                line: c.line,
                section: c.section,
                auth: c.auth.map(|a| AuthJson {
                    file: a.file,
                    line: a.line,
                    section: a.section,
                    password_check: a.check,
                }),
            });
        InConfig {
            registration: r,
            config,
        }
    }
}

/// `config` of a registration: the section that sends it.
#[derive(Serialize)]
struct ConfigJson {
    file: std::path::PathBuf,
    line: u32,
    section: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthJson>,
}

/// `config.auth`: its credentials' place, and what the refused digest says
/// of their password (`verdict`: `sent_as_configured` with `notes`,
/// `sent_altered` with `how`, `not_configured`, `unchecked` with `why`).
#[derive(Serialize)]
struct AuthJson {
    file: std::path::PathBuf,
    line: u32,
    section: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_check: Option<crate::track::password::PasswordCheck>,
}

/// The end of the run as one last `{"type":"summary",…}` object, so that
/// the output stays pure JSON Lines.
pub fn write_summary(out: &mut dyn std::io::Write, end: &RunEnd<'_>) -> std::io::Result<()> {
    write_summary_in(out, end, None)
}

/// [`write_summary`], each registration with its `config` when Asterisk's
/// configuration was read.
pub fn write_summary_in(
    out: &mut dyn std::io::Write,
    end: &RunEnd<'_>,
    trunks: Option<&Trunks>,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Record<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        /// The capture's clock at the end: the latest packet's time, or
        /// the last tick of a live run (null when nothing was read).
        #[serde(serialize_with = "crate::time::serialize_opt")]
        time: Option<std::time::SystemTime>,
        #[serde(flatten)]
        summary: &'a CaptureSummary,
        lost: u64,
        registrations: Vec<InConfig<'a>>,
        /// With `attach --echo`: the latest audit of each binding, and the counters.
        #[serde(skip_serializing_if = "Option::is_none")]
        path_audits: Option<Vec<&'a crate::audit::PathAudit>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        audit_counters: Option<crate::audit::AuditCounters>,
        /// Why the audit stopped (`--echo` was the PBX's registrar).
        #[serde(skip_serializing_if = "Option::is_none")]
        audit_stopped: Option<&'a str>,
        /// Live: SIP packets this host's kernel dropped, by reason.
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        kernel_drops_by_reason: Vec<DropCount<'a>>,
        /// Live: why drops were not traced.
        #[serde(skip_serializing_if = "Option::is_none")]
        kernel_drops_not_traced: Option<&'a str>,
        /// The outputs' and stages' own counts that are not zero (a
        /// send queue's drops, the message store's evictions).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        counts: Vec<&'a super::Count>,
        /// Why the file was not read to its end: the analysis is partial.
        #[serde(skip_serializing_if = "Option::is_none")]
        stopped: Option<&'a str>,
        /// A HEP listener's counts (`hep-listen`, `attach --hep-listen`).
        #[serde(skip_serializing_if = "Option::is_none")]
        hep: Option<&'a crate::hep::tally::Tally>,
    }
    #[derive(Serialize)]
    struct DropCount<'a> {
        #[serde(flatten)]
        drop: &'a crate::net::KernelDrop,
        count: u64,
    }
    let registrations = end.tracker.registrations();
    let record = Record {
        kind: "summary",
        time: end.tracker.now(),
        summary: end.summary,
        lost: end.summary.lost(),
        registrations: registrations
            .iter()
            .map(|r| InConfig::of(r, trunks))
            .collect(),
        path_audits: end.audit.map(|a| a.latest()),
        audit_counters: end.audit.map(|a| a.counters()),
        audit_stopped: end.audit.and_then(|a| a.stopped.as_deref()),
        kernel_drops_by_reason: end
            .kernel_drops
            .iter()
            .map(|(drop, count)| DropCount {
                drop,
                count: *count,
            })
            .collect(),
        kernel_drops_not_traced: end.drop_problem,
        counts: end.counts.iter().filter(|c| c.n > 0).collect(),
        stopped: end.stopped,
        hep: end.hep,
    };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

/// `--json`: every message and event as one JSON object per line, then the
/// summary ([`write_summary`]).
#[derive(Default)]
pub struct JsonLines {
    /// `--config-dir`: each registration carries the section that sends it.
    pub config: Option<std::sync::Arc<Trunks>>,
}

impl Output for JsonLines {
    fn message(
        &mut self,
        out: &mut dyn std::io::Write,
        m: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> std::io::Result<()> {
        write_message(out, m, parsed)
    }

    fn event(
        &mut self,
        out: &mut dyn std::io::Write,
        e: &crate::track::Event,
    ) -> std::io::Result<()> {
        write_event_in(out, e, self.config.as_deref())
    }

    fn icmp(&mut self, out: &mut dyn std::io::Write, e: &IcmpError) -> std::io::Result<()> {
        write_icmp(out, e)
    }

    fn audit(
        &mut self,
        out: &mut dyn std::io::Write,
        a: &crate::audit::PathAudit,
    ) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, a)?;
        out.write_all(b"\n")
    }

    fn kernel_drop(
        &mut self,
        out: &mut dyn std::io::Write,
        d: &crate::net::DroppedPacket,
    ) -> std::io::Result<()> {
        if d.drop.is_no_loss() || !d.carries_data() {
            return Ok(());
        }
        serde_json::to_writer(&mut *out, d)?;
        out.write_all(b"\n")
    }

    fn finish(&mut self, out: &mut dyn std::io::Write, end: &RunEnd<'_>) -> std::io::Result<()> {
        for s in end.tls_sessions {
            write_tls_session(out, s)?;
        }
        write_summary_in(out, end, self.config.as_deref())
    }
}

/// A TLS session not read, or whose handshake failed, as one
/// `{"type":"tls_session",…}` object (written at the end of the run).
pub fn write_tls_session(
    out: &mut dyn std::io::Write,
    s: &crate::tls::SessionReport,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Record<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        session: &'a crate::tls::SessionReport,
    }
    serde_json::to_writer(
        &mut *out,
        &Record {
            kind: "tls_session",
            session: s,
        },
    )?;
    out.write_all(b"\n")
}

/// The JSON form of a registration (`{"type":"registration",…}`).
mod registration {
    use std::{net::SocketAddr, time::SystemTime};

    use serde::{Serialize, Serializer};

    use crate::{
        net::Transport,
        say,
        track::{
            Attempt, BindingKey, ContactsKept, Continuity, Diagnosis, FailureRecord, FailureRun,
            Grant, LastOutcome, NextMove, PbxKind, Registration, RegistrationState, RetryStorm,
            Side,
        },
    };

    /// The JSON form of a binding: the model and what is derived from it, one
    /// object. Here rather than in `track`, because its `status` is a sentence
    /// ([`crate::say::registration::status`], prose that may change) and `track`
    /// does not call into the words.
    impl Serialize for Registration {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            #[derive(Serialize)]
            struct View<'a> {
                key: &'a BindingKey,
                state: RegistrationState,
                status: String,
                last_code: Option<u16>,
                registrar_address: SocketAddr,
                transport: Transport,
                side: Side,
                #[serde(serialize_with = "crate::time::serialize")]
                last_change: SystemTime,
                response_us: Option<u64>,
                #[serde(serialize_with = "crate::time::serialize_opt")]
                expires_at: Option<SystemTime>,
                granted: &'a Option<Grant>,
                attempt: &'a Option<Attempt>,
                last_outcome: &'a Option<LastOutcome>,
                failures: &'a Option<FailureRun>,
                diagnoses: &'a [Diagnosis],
                pbx: PbxKind,
                failure_record: Option<FailureRecord>,
                next_move: NextMove,
                continuity: &'a Continuity,
                contacts_kept: &'a Option<ContactsKept>,
                retry_storm: Option<RetryStorm>,
            }
            View {
                key: &self.key,
                state: self.state(),
                status: say::registration::status(self),
                last_code: self.last_code,
                registrar_address: self.registrar_address,
                transport: self.transport,
                side: self.side,
                last_change: self.last_change,
                response_us: self.response_us,
                expires_at: self.expires_at(),
                granted: &self.granted,
                attempt: &self.attempt,
                last_outcome: &self.last_outcome,
                failures: &self.failures,
                diagnoses: &self.diagnoses,
                pbx: self.pbx,
                failure_record: self.record(),
                next_move: self.next_move(),
                continuity: &self.continuity,
                contacts_kept: &self.contacts_kept,
                retry_storm: self.storm(),
            }
            .serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn a_message_becomes_one_json_line_with_its_fields_and_no_secret() {
        let m = Message {
            timestamp: SystemTime::UNIX_EPOCH,
            direction: Some(Direction::Egress),
            transport: Transport::Udp,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5060".parse().unwrap(),
            vlans: vec![],
            outer: None,
            reassembled: false,
            origin: crate::sip::Origin::CaptureFile,
            bytes: b"REGISTER sip:example.com SIP/2.0\r\nCall-ID: c1\r\nCSeq: 3 REGISTER\r\n\
                Authorization: Digest username=\"1001\", response=\"deadbeefdeadbeef\"\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        };
        let mut out = Vec::new();
        write_message(&mut out, &m, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["direction"], "out");
        assert_eq!(v["src"], "192.168.77.10:5060");
        assert_eq!(v["start_line"]["method"], "REGISTER");
        assert_eq!(v["cseq"]["seq"], 3);
        assert_eq!(v["authorization"]["username"], "1001");
        assert!(!text.contains("deadbeefdeadbeef"));
    }
}
