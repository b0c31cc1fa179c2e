//! The message log, like `pjsip set logger on`: one line per SIP message
//! (time, direction, addresses, transport, first line), or the whole message
//! with `-v`.
use std::{
    io::{self, Write},
    time::SystemTime,
};

use sipwatch_common::Direction;

use super::{Output, printable::Printable};
use crate::{
    net::IcmpError,
    sip::{Message, ParsedMessage, fields::redact},
};

/// The text log: one line per message (the whole message after it when
/// `full`), and one per tracking event, between the messages that caused them.
pub struct MessageLog {
    full: bool,
    messages: bool,
    config: Option<std::sync::Arc<crate::pbx::config::trunks::Trunks>>,
    /// `--events`: the INVITEs already told as failed (Call-ID, CSeq), so
    /// that a retransmitted answer is not told again; bounded.
    calls_failed: std::collections::HashSet<(String, u32)>,
}

/// Failed calls remembered at most, against retransmitted answers.
const CALLS_REMEMBERED: usize = 10_000;

impl MessageLog {
    /// A log of first lines, or (`full`) of whole messages.
    pub fn new(full: bool) -> Self {
        Self {
            full,
            messages: true,
            config: None,
            calls_failed: Default::default(),
        }
    }

    /// A log of events only (registration changes, timeouts, ICMP errors,
    /// path audit findings): one line each, nothing redrawn, for a journal.
    pub fn events_only() -> Self {
        Self {
            full: false,
            messages: false,
            config: None,
            calls_failed: Default::default(),
        }
    }

    /// The same log, each failure naming the configuration section that
    /// sends the registration (`--config-dir`).
    pub fn with_config(
        mut self,
        config: Option<std::sync::Arc<crate::pbx::config::trunks::Trunks>>,
    ) -> Self {
        self.config = config;
        self
    }
}

impl MessageLog {
    /// `--events`: a final answer 4xx–6xx to an INVITE, once per call, as
    /// a journal line: "CALL FAILED 486 Busy Here sip:1001@… -> sip:2000@…
    /// (Call-ID …)".
    fn call_failed(
        &mut self,
        out: &mut dyn Write,
        d: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        let Some(p) = parsed.filter(|p| p.status().is_some_and(|c| (400..700).contains(&c))) else {
            return Ok(());
        };
        let Some(cseq) = p.cseq().filter(|c| c.method == "INVITE") else {
            return Ok(());
        };
        let call_id = p.call_id().unwrap_or_default().into_owned();
        if self.calls_failed.len() >= CALLS_REMEMBERED {
            self.calls_failed.clear();
        }
        if !self.calls_failed.insert((call_id.clone(), cseq.seq)) {
            return Ok(());
        }
        let uri =
            |n: Option<crate::sip::fields::NameAddr>| n.map(|n| n.uri.text).unwrap_or_default();
        let out = &mut Printable::new(out);
        write_clock_time(out, d.timestamp)?;
        writeln!(
            out,
            " {}",
            crate::say::call::call_failed(
                &String::from_utf8_lossy(first_line(&d.bytes)),
                &uri(p.from()),
                &uri(p.to()),
                &call_id
            )
        )
    }
}

impl Output for MessageLog {
    fn event(&mut self, out: &mut dyn Write, e: &crate::track::Event) -> io::Result<()> {
        super::registrations::write_event_in(&mut Printable::new(out), e, self.config.as_deref())
    }

    fn audit(&mut self, out: &mut dyn Write, a: &crate::audit::PathAudit) -> io::Result<()> {
        let out = &mut Printable::new(out);
        write_clock_time(out, a.time)?;
        writeln!(out, " PATH {}", crate::say::path_audit::describe(a))
    }

    /// A SIP packet this host's kernel dropped: where, why, and what it was.
    fn kernel_drop(
        &mut self,
        out: &mut dyn Write,
        d: &crate::net::DroppedPacket,
    ) -> io::Result<()> {
        // Copies of what already arrived, segments without data: counted.
        if d.drop.is_no_loss() || !d.carries_data() {
            return Ok(());
        }
        let out = &mut Printable::new(out);
        write_clock_time(out, d.time)?;
        write!(out, " DROPPED HERE {} ", d.transport)?;
        write_addr(out, &d.src)?;
        out.write_all(b" -> ")?;
        write_addr(out, &d.dst)?;
        write!(out, " by {}", crate::say::kernel_drop::describe(&d.drop))?;
        match &d.start_line {
            Some(line) => writeln!(out, ": {line}"),
            None => writeln!(out, " ({} bytes)", d.bytes),
        }
    }

    /// A UDP datagram that is not SIP (on a SIP port) is shown as what it
    /// is, never dropped silently.
    fn message(
        &mut self,
        out: &mut dyn Write,
        d: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        if !self.messages {
            return self.call_failed(out, d, parsed);
        }
        // Only the bytes from the wire go through `Printable`: the rest of
        // the line is ours, and this runs for every message.
        write_clock_time(out, d.timestamp)?;
        write!(out, " {} {} ", arrow(d.direction), d.transport)?;
        write_addr(out, &d.src)?;
        out.write_all(b" -> ")?;
        write_addr(out, &d.dst)?;
        if !d.vlans.is_empty() {
            let ids: Vec<String> = d.vlans.iter().map(u16::to_string).collect();
            write!(out, " vlan {}", ids.join("."))?;
        }
        if let Some(t) = &d.outer {
            write!(out, " via {} {} -> {}", t.kind, t.src, t.dst)?;
        }
        if d.reassembled {
            out.write_all(b" (reassembled)")?;
        }
        // Which agent sent it, so that HEP's messages read apart from the
        // NIC's (`attach --hep-listen`).
        if let crate::sip::Origin::Hep { agent, agent_id } = d.origin {
            write!(out, " (HEP from {agent}, id {agent_id})")?;
        }
        // Read in clear inside the PBX's TLS library (`--pid`, `--process`).
        if let crate::sip::Origin::TlsPlaintext { pid } = d.origin {
            write!(out, " (in clear, pid {pid})")?;
        }
        out.write_all(b" ")?;
        if let Some(p) = parsed {
            Printable::new(out).write_all(first_line(&d.bytes))?;
            if !p.index.problems.is_empty() {
                write!(
                    out,
                    "  [malformed: {}]",
                    crate::say::malformed::describe(&p.index.problems)
                )?;
            }
        } else if let Some(kind) = crate::sip::keep_alive(&d.bytes) {
            if kind.is_line_ends() {
                write!(out, "(keep-alive, {} bytes)", d.bytes.len())?;
            } else {
                write!(out, "(keep-alive: {kind}, {} bytes)", d.bytes.len())?;
            }
        } else {
            write!(out, "(not a SIP start line, {} bytes)", d.bytes.len())?;
        }
        out.write_all(b"\n")?;
        if self.full {
            let text = redact(&String::from_utf8_lossy(&d.bytes));
            let wire = &mut Printable::new(out);
            for line in text.split("\r\n") {
                writeln!(wire, "    {line}")?;
            }
        }
        Ok(())
    }

    /// An ICMP error about a SIP packet, on one line: who reports what,
    /// about which flow, and the SIP start line when it is quoted.
    fn icmp(&mut self, out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        let out = &mut Printable::new(out);
        write_clock_time(out, e.timestamp)?;
        write!(
            out,
            " {} ICMP {} -> {} {}",
            arrow(e.direction),
            e.reporter,
            e.to,
            e.kind
        )?;
        if let Some(mtu) = e.mtu {
            write!(out, " (MTU {mtu})")?;
        }
        let q = &e.quoted;
        write!(out, " for {} ", q.transport)?;
        write_addr(out, &q.src)?;
        out.write_all(b" -> ")?;
        write_addr(out, &q.dst)?;
        if let Some(line) = q.sip_start_line() {
            out.write_all(b" (")?;
            out.write_all(first_line(line))?;
            out.write_all(b")")?;
        }
        out.write_all(b"\n")
    }
}

/// The direction column: IN, OUT, or blank when the capture does not say.
fn arrow(direction: Option<Direction>) -> &'static str {
    match direction {
        Some(Direction::Ingress) => "IN ",
        Some(Direction::Egress) => "OUT",
        None => "   ",
    }
}

/// The start line, without its CRLF, cut at 200 bytes.
fn first_line(payload: &[u8]) -> &[u8] {
    let end = memchr::memchr2(b'\r', b'\n', payload)
        .unwrap_or(payload.len())
        .min(200);
    &payload[..end]
}

/// An address as `Display` writes it; IPv4 digit by digit, as this runs
/// twice for every message.
fn write_addr(out: &mut dyn Write, addr: &std::net::SocketAddr) -> io::Result<()> {
    let std::net::SocketAddr::V4(v4) = addr else {
        return write!(out, "{addr}");
    };
    let mut buf = [0u8; 21];
    let mut n = 0;
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        n = push_decimal(&mut buf, n, u32::from(octet));
    }
    buf[n] = b':';
    n = push_decimal(&mut buf, n + 1, u32::from(v4.port()));
    out.write_all(&buf[..n])
}

/// Writes `v` in decimal at `buf[at..]`; returns the end.
fn push_decimal(buf: &mut [u8], at: usize, v: u32) -> usize {
    let mut digits = [0u8; 10];
    let (mut len, mut v) = (0, v);
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        buf[at + i] = *d;
    }
    at + len
}

/// UTC time of day with microseconds, as packet tools print it; written
/// digit by digit, as this runs for every message.
fn write_clock_time(out: &mut dyn Write, t: SystemTime) -> io::Result<()> {
    let since_epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs() % 86_400;
    let micros = since_epoch.subsec_micros();
    let mut buf = *b"00:00:00.000000";
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, (secs / 3600) as u32, 2);
    put(3, (secs / 60 % 60) as u32, 2);
    put(6, (secs % 60) as u32, 2);
    put(9, micros, 6);
    out.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sipwatch_common::looks_like_sip_start;

    use super::*;

    #[test]
    fn events_tell_a_failed_call_once_whatever_its_retransmissions() {
        let busy = "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-c1\r\n\
                    From: <sip:1001@pbx.example>;tag=1\r\nTo: <sip:2000@pbx.example>;tag=2\r\n\
                    Call-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let ok = busy
            .replace("486 Busy Here", "200 OK")
            .replace("call-1", "call-2");
        let mut log = MessageLog::events_only();
        let mut out = Vec::new();
        for (ms, text) in [(1, busy), (2, busy), (3, ok.as_str())] {
            let m = crate::pipeline::tests::from_agent(5060, ms, false, text);
            log.message(&mut out, &m, Some(&m.parsed())).unwrap();
        }
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.ends_with(
                " CALL FAILED 486 Busy Here sip:1001@pbx.example -> sip:2000@pbx.example (Call-ID call-1)\n"
            ),
            "{out}"
        );
    }
    use crate::net::Transport;

    fn datagram(payload: &[u8], transport: Transport) -> Message {
        Message {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_micros(3_723_000_042),
            direction: Some(Direction::Egress),
            transport,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5060".parse().unwrap(),
            vlans: vec![100],
            outer: None,
            reassembled: false,
            origin: crate::sip::Origin::CaptureFile,
            bytes: payload.to_vec(),
        }
    }

    fn render(full: bool, d: &Message) -> String {
        let mut out = Vec::new();
        let parsed = looks_like_sip_start(&d.bytes).then(|| d.parsed());
        MessageLog::new(full)
            .message(&mut out, d, parsed.as_ref())
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_request_is_one_line_with_time_direction_addresses_and_start_line() {
        let d = datagram(
            b"REGISTER sip:example.com SIP/2.0\r\nVia: x\r\n\r\n",
            Transport::Udp,
        );
        assert_eq!(
            render(false, &d),
            "01:02:03.000042 OUT UDP 192.168.77.10:5060 -> 203.0.113.2:5060 vlan 100 \
             REGISTER sip:example.com SIP/2.0\n"
        );
    }

    #[test]
    fn a_message_a_hep_agent_sent_names_the_agent() {
        let mut d = datagram(
            b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n",
            Transport::Tls,
        );
        d.origin = crate::sip::Origin::Hep {
            agent_id: 2001,
            agent: "203.0.113.2:5060".parse().unwrap(),
        };
        assert!(
            render(false, &d).contains(
                " OUT TLS 192.168.77.10:5060 -> 203.0.113.2:5060 vlan 100 (HEP from 203.0.113.2:5060, id 2001) SIP/2.0 200 OK\n"
            ),
            "{}",
            render(false, &d)
        );
    }

    #[test]
    fn verbose_view_prints_every_header_line() {
        let d = datagram(
            b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n",
            Transport::Udp,
        );
        let out = render(true, &d);
        assert!(out.contains("SIP/2.0 200 OK\n    SIP/2.0 200 OK\n    CSeq: 1 REGISTER\n"));
    }

    #[test]
    fn non_sip_and_keep_alive_datagrams_are_shown_for_what_they_are() {
        let d = datagram(b"a=rtpmap:0 PCMU/8000\r\n", Transport::Udp);
        assert!(render(false, &d).ends_with("(not a SIP start line, 22 bytes)\n"));
        let ka = datagram(b"\r\n\r\n", Transport::Udp);
        assert!(render(false, &ka).ends_with("(keep-alive, 4 bytes)\n"));
        let spaces = datagram(b"   \r\n", Transport::Udp);
        assert!(render(false, &spaces).ends_with("(keep-alive: whitespace, 5 bytes)\n"));
        let jak = datagram(b"jaK", Transport::Udp);
        assert!(render(false, &jak).ends_with("(keep-alive: \"jaK\", 3 bytes)\n"));
        let mut stun = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        stun.extend_from_slice(&[1; 12]);
        let stun = datagram(&stun, Transport::Udp);
        assert!(render(false, &stun).ends_with("(keep-alive: STUN binding request, 20 bytes)\n"));
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.20.3:5060",
            "[2001:db8::1]:5061",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            let mut out = Vec::new();
            write_addr(&mut out, &addr).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
        }
    }

    #[test]
    fn an_icmp_error_is_one_line_with_the_quoted_flow_and_start_line() {
        use crate::net::{IcmpError, IcmpKind, QuotedPacket};
        let e = IcmpError {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_micros(50_530_123_456),
            direction: Some(Direction::Ingress),
            reporter: "203.0.113.2".parse().unwrap(),
            to: "192.168.77.10".parse().unwrap(),
            ip_version: 4,
            icmp_type: 3,
            code: 3,
            kind: IcmpKind::PortUnreachable,
            mtu: None,
            quoted: QuotedPacket {
                transport: Transport::Udp,
                src: "192.168.77.10:5060".parse().unwrap(),
                dst: "203.0.113.2:5060".parse().unwrap(),
                payload: b"REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: x".to_vec(),
            },
        };
        let mut out = Vec::new();
        MessageLog::new(false).icmp(&mut out, &e).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "14:02:10.123456 IN  ICMP 203.0.113.2 -> 192.168.77.10 port unreachable \
             for UDP 192.168.77.10:5060 -> 203.0.113.2:5060 (REGISTER sip:203.0.113.2 SIP/2.0)\n"
        );
    }

    #[test]
    fn escape_sequences_in_a_message_are_shown_not_sent_to_the_terminal() {
        let d = datagram(
            b"REGISTER sip:\x1b]0;PWNED\x07@example.com SIP/2.0\r\nVia: \x1b[2J\r\n\r\n",
            Transport::Udp,
        );
        for full in [false, true] {
            let out = render(full, &d);
            assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
            assert!(out.contains("sip:\\x1b]0;PWNED\\x07@"), "{out}");
        }
    }
}
