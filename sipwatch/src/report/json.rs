//! JSON Lines: one object per message with its parsed fields, for `jq` and
//! log pipelines. Secrets are masked as in the text output.
use std::{borrow::Cow, net::SocketAddr, time::SystemTime};

use serde::Serialize;
use sipwatch_common::Direction;

use crate::{
    net::Transport,
    sip::{
        CSeq, Message, ParsedMessage, Problem, StartLine,
        fields::{Challenge, Credentials, NameAddr, Sdp, Via},
    },
};

#[derive(Serialize)]
pub struct MessageRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// RFC 3339, UTC, microseconds.
    pub time: String,
    /// "in", "out", or absent when the capture does not say.
    pub direction: Option<&'static str>,
    pub transport: Transport,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub vlans: &'a [u16],
    pub reassembled: bool,
    pub length: usize,
    pub start_line: Option<StartLine>,
    pub call_id: Option<Cow<'a, str>>,
    pub cseq: Option<CSeq>,
    pub via: Vec<Via>,
    pub from: Option<NameAddr>,
    pub to: Option<NameAddr>,
    pub contact: Vec<NameAddr>,
    pub authorization: Option<Credentials>,
    pub proxy_authorization: Option<Credentials>,
    pub www_authenticate: Vec<Challenge>,
    pub proxy_authenticate: Vec<Challenge>,
    pub expires: Option<u32>,
    pub min_expires: Option<u32>,
    pub retry_after: Option<u32>,
    pub user_agent: Option<Cow<'a, str>>,
    pub server: Option<Cow<'a, str>>,
    pub warning: Option<Cow<'a, str>>,
    pub content_length: Option<usize>,
    pub sdp: Option<Sdp>,
    /// What the message does wrong (sipwatch's own reading).
    pub problems: Vec<Problem>,
    /// rsip's objection, when its strict parse fails.
    pub parse_error: Option<String>,
}

pub fn write_message(
    out: &mut impl std::io::Write,
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
    let record = MessageRecord {
        kind: "message",
        time: rfc3339(m.timestamp),
        direction: m.direction.map(|d| match d {
            Direction::Ingress => "in",
            Direction::Egress => "out",
        }),
        transport: m.transport,
        src: m.src,
        dst: m.dst,
        vlans: &m.vlans,
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
        problems: p.index.problems.clone(),
        parse_error: p.rsip_error(),
    };
    serde_json::to_writer(&mut *out, &record)?;
    out.write_all(b"\n")
}

/// A tracking event as `{"type":"registration",…}` or `{"type":"timeout",…}`.
pub fn write_event(out: &mut impl std::io::Write, e: &crate::track::Event) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Record<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        event: &'a crate::track::Event,
    }
    let kind = match e {
        crate::track::Event::Registration(_) => "registration",
        crate::track::Event::Timeout(_) => "timeout",
    };
    serde_json::to_writer(&mut *out, &Record { kind, event: e })?;
    out.write_all(b"\n")
}

/// `2026-11-24T14:37:34.750911Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_963_054_750_911);
        assert_eq!(rfc3339(t), "2026-11-29T14:37:34.750911Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
    }

    #[test]
    fn a_message_becomes_one_json_line_with_its_fields_and_no_secret() {
        let m = Message {
            timestamp: SystemTime::UNIX_EPOCH,
            direction: Some(Direction::Egress),
            transport: Transport::Udp,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5060".parse().unwrap(),
            vlans: vec![],
            reassembled: false,
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
