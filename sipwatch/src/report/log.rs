//! The message log, like `pjsip set logger on`: one line per SIP message
//! (time, direction, addresses, transport, first line), or the whole message
//! with `-v`.
use std::{
    io::{self, Write},
    time::SystemTime,
};

use sipwatch_common::Direction;

use crate::{
    net::IcmpError,
    sip::{Message, ParsedMessage, Problem, fields::redact},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogView {
    /// Nothing per message (counters only, at the end).
    Quiet,
    /// One line per message.
    FirstLine,
    /// The whole message after its line (digest responses masked).
    Full,
    /// One JSON object per message (JSON Lines), then one for the summary.
    Json,
    /// No messages: the registration table, redrawn in place (live).
    Table,
}

pub struct MessageLog<W: Write> {
    out: W,
    view: LogView,
}

impl<W: Write> MessageLog<W> {
    pub fn new(out: W, view: LogView) -> Self {
        Self { out, view }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// The events of tracking (registration changes, timeouts), between
    /// the messages that caused them.
    pub fn write_event(&mut self, e: &crate::track::Event) -> io::Result<()> {
        match self.view {
            LogView::Quiet | LogView::Table => Ok(()),
            LogView::Json => super::json::write_event(&mut self.out, e),
            LogView::FirstLine | LogView::Full => {
                super::registrations::write_event(&mut self.out, e)
            }
        }
    }

    /// Writes one message. A UDP datagram that is not SIP (on a SIP port)
    /// is shown as what it is, never dropped silently.
    /// `parsed` is the message's index when it starts like SIP.
    pub fn write(&mut self, d: &Message, parsed: Option<&ParsedMessage<'_>>) -> io::Result<()> {
        match self.view {
            LogView::Quiet | LogView::Table => return Ok(()),
            LogView::Json => return super::json::write_message(&mut self.out, d, parsed),
            LogView::FirstLine | LogView::Full => {}
        }
        write_clock_time(&mut self.out, d.timestamp)?;
        write!(self.out, " {} {} ", arrow(d.direction), d.transport)?;
        write_addr(&mut self.out, &d.src)?;
        self.out.write_all(b" -> ")?;
        write_addr(&mut self.out, &d.dst)?;
        if !d.vlans.is_empty() {
            let ids: Vec<String> = d.vlans.iter().map(u16::to_string).collect();
            write!(self.out, " vlan {}", ids.join("."))?;
        }
        if d.reassembled {
            self.out.write_all(b" (reassembled)")?;
        }
        self.out.write_all(b" ")?;
        if let Some(p) = parsed {
            self.out.write_all(first_line(&d.bytes))?;
            if !p.index.problems.is_empty() {
                write!(self.out, "  [malformed: {}]", describe(&p.index.problems))?;
            }
        } else if d.bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
            write!(self.out, "(keep-alive, {} bytes)", d.bytes.len())?;
        } else {
            write!(self.out, "(not a SIP start line, {} bytes)", d.bytes.len())?;
        }
        self.out.write_all(b"\n")?;
        if self.view == LogView::Full {
            let text = redact(&String::from_utf8_lossy(&d.bytes));
            for line in text.split("\r\n") {
                writeln!(self.out, "    {line}")?;
            }
        }
        Ok(())
    }

    /// An ICMP error about a SIP packet, on one line: who reports what,
    /// about which flow, and the SIP start line when it is quoted.
    pub fn write_icmp(&mut self, e: &IcmpError) -> io::Result<()> {
        match self.view {
            LogView::Quiet | LogView::Table => return Ok(()),
            LogView::Json => return super::json::write_icmp(&mut self.out, e),
            LogView::FirstLine | LogView::Full => {}
        }
        write_clock_time(&mut self.out, e.timestamp)?;
        write!(
            self.out,
            " {} ICMP {} -> {} {}",
            arrow(e.direction),
            e.reporter,
            e.to,
            e.kind
        )?;
        if let Some(mtu) = e.mtu {
            write!(self.out, " (MTU {mtu})")?;
        }
        let q = &e.quoted;
        write!(self.out, " for {} ", q.transport)?;
        write_addr(&mut self.out, &q.src)?;
        self.out.write_all(b" -> ")?;
        write_addr(&mut self.out, &q.dst)?;
        if let Some(line) = q.sip_start_line() {
            self.out.write_all(b" (")?;
            self.out.write_all(first_line(line))?;
            self.out.write_all(b")")?;
        }
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn view(&self) -> LogView {
        self.view
    }

    /// The live registration table, redrawn in place (cursor home, clear).
    pub fn redraw_table(&mut self, tracker: &crate::track::Tracker) -> io::Result<()> {
        self.out.write_all(b"\x1b[H\x1b[2J")?;
        let regs = tracker.registrations();
        super::registrations::write_table(&mut self.out, &regs, tracker.now())?;
        super::registrations::write_totals(&mut self.out, &regs, &tracker.stats())?;
        self.out.flush()
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

/// Problems in words, for the log line.
fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p {
            Problem::BadStartLine => "bad start line".to_owned(),
            Problem::BadHeaderLine(n) => format!("line {n} is not a header"),
            Problem::NoEndOfHeaders => "no end of headers".to_owned(),
            Problem::ContentLengthMismatch { declared, actual } => {
                format!("Content-Length {declared} but {actual} body bytes")
            }
            Problem::NotUtf8 => "not UTF-8".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
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
fn write_addr(out: &mut impl Write, addr: &std::net::SocketAddr) -> io::Result<()> {
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
fn write_clock_time(out: &mut impl Write, t: SystemTime) -> io::Result<()> {
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
    use crate::net::Transport;

    fn datagram(payload: &[u8], transport: Transport) -> Message {
        Message {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_micros(3_723_000_042),
            direction: Some(Direction::Egress),
            transport,
            src: "192.168.77.10:5060".parse().unwrap(),
            dst: "203.0.113.2:5060".parse().unwrap(),
            vlans: vec![100],
            reassembled: false,
            bytes: payload.to_vec(),
        }
    }

    fn render(view: LogView, d: &Message) -> String {
        let mut log = MessageLog::new(Vec::new(), view);
        let parsed = looks_like_sip_start(&d.bytes).then(|| d.parsed());
        log.write(d, parsed.as_ref()).unwrap();
        String::from_utf8(log.into_inner()).unwrap()
    }

    #[test]
    fn a_request_is_one_line_with_time_direction_addresses_and_start_line() {
        let d = datagram(
            b"REGISTER sip:example.com SIP/2.0\r\nVia: x\r\n\r\n",
            Transport::Udp,
        );
        assert_eq!(
            render(LogView::FirstLine, &d),
            "01:02:03.000042 OUT UDP 192.168.77.10:5060 -> 203.0.113.2:5060 vlan 100 \
             REGISTER sip:example.com SIP/2.0\n"
        );
    }

    #[test]
    fn verbose_view_prints_every_header_line() {
        let d = datagram(
            b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n",
            Transport::Udp,
        );
        let out = render(LogView::Full, &d);
        assert!(out.contains("SIP/2.0 200 OK\n    SIP/2.0 200 OK\n    CSeq: 1 REGISTER\n"));
    }

    #[test]
    fn non_sip_and_keep_alive_datagrams_are_shown_for_what_they_are() {
        let d = datagram(b"a=rtpmap:0 PCMU/8000\r\n", Transport::Udp);
        assert!(render(LogView::FirstLine, &d).ends_with("(not a SIP start line, 22 bytes)\n"));
        let ka = datagram(b"\r\n\r\n", Transport::Udp);
        assert!(render(LogView::FirstLine, &ka).ends_with("(keep-alive, 4 bytes)\n"));
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
        let mut log = MessageLog::new(Vec::new(), LogView::FirstLine);
        log.write_icmp(&e).unwrap();
        assert_eq!(
            String::from_utf8(log.into_inner()).unwrap(),
            "14:02:10.123456 IN  ICMP 203.0.113.2 -> 192.168.77.10 port unreachable \
             for UDP 192.168.77.10:5060 -> 203.0.113.2:5060 (REGISTER sip:203.0.113.2 SIP/2.0)\n"
        );
    }

    #[test]
    fn quiet_view_prints_nothing() {
        let d = datagram(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Transport::Udp);
        assert_eq!(render(LogView::Quiet, &d), "");
    }
}
