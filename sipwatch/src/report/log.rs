//! The message log, like `pjsip set logger on`: one line per SIP message
//! (time, direction, addresses, transport, first line), or the whole message
//! with `-v`.
use std::{
    io::{self, Write},
    time::SystemTime,
};

use sipwatch_common::{Direction, looks_like_sip_start};

use crate::sip::{Message, MessageIndex, Problem, fields::redact};

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

    /// Writes one message. A UDP datagram that is not SIP (on a SIP port)
    /// is shown as what it is, never dropped silently.
    pub fn write(&mut self, d: &Message) -> io::Result<()> {
        match self.view {
            LogView::Quiet => return Ok(()),
            LogView::Json => return super::json::write_message(&mut self.out, d),
            LogView::FirstLine | LogView::Full => {}
        }
        let arrow = match d.direction {
            Some(Direction::Ingress) => "IN ",
            Some(Direction::Egress) => "OUT",
            None => "   ",
        };
        let vlan = match d.vlans.as_slice() {
            [] => String::new(),
            ids => format!(
                " vlan {}",
                ids.iter().map(u16::to_string).collect::<Vec<_>>().join(".")
            ),
        };
        let first_line = if looks_like_sip_start(&d.bytes) {
            let problems = MessageIndex::parse(&d.bytes).problems;
            let mut line = first_line(&d.bytes);
            if !problems.is_empty() {
                line.push_str(&format!("  [malformed: {}]", describe(&problems)));
            }
            line
        } else if d.bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
            format!("(keep-alive, {} bytes)", d.bytes.len())
        } else {
            format!("(not a SIP start line, {} bytes)", d.bytes.len())
        };
        writeln!(
            self.out,
            "{} {arrow} {} {} -> {}{vlan}{} {first_line}",
            clock_time(d.timestamp),
            d.transport,
            d.src,
            d.dst,
            if d.reassembled { " (reassembled)" } else { "" },
        )?;
        if self.view == LogView::Full {
            let text = redact(&String::from_utf8_lossy(&d.bytes));
            for line in text.split("\r\n") {
                writeln!(self.out, "    {line}")?;
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
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

/// The start line, without its CRLF, lossily decoded and cut at 200 bytes.
fn first_line(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(payload.len())
        .min(200);
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// UTC time of day with microseconds, as packet tools print it.
fn clock_time(t: SystemTime) -> String {
    let since_epoch = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since_epoch.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        log.write(d).unwrap();
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
    fn quiet_view_prints_nothing() {
        let d = datagram(b"OPTIONS sip:a SIP/2.0\r\n\r\n", Transport::Udp);
        assert_eq!(render(LogView::Quiet, &d), "");
    }
}
