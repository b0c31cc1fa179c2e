//! `--hep`: every SIP message as a HEP v3 packet to HOMER (or any HEP
//! receiver), with its original addresses, ports, transport, VLAN and
//! capture time, the Call-ID as correlation id; and beside the messages,
//! as HEP log records (type 100) correlated by the same Call-ID, what the
//! message log says of them: each registration change with its diagnosis
//! and fix, each timeout, each path audit finding (where a timeout was
//! lost), each ICMP error about SIP, each SIP packet this host's kernel
//! dropped, in the log's own words.
//!
//! Sending never holds up the capture ([`crate::hep::send`]): every packet
//! not sent is counted, in the summary ([`Output::counters`]) and in the
//! metrics (`sipwatch_hep_packets_dropped_total`).
use std::{
    collections::HashMap,
    io::{self, Write},
    net::SocketAddr,
    sync::{Mutex, atomic::Ordering},
    time::{Duration, SystemTime},
};

use super::{Count, MessageLog, Output, RunEnd, Snapshot, metrics::HepMetrics};
use crate::{
    audit::PathAudit,
    hep::{
        chunk::Protocol,
        encode::{EncodeError, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP, Packet, encode},
        send::{Destination, SendError, Sender, WhenFull},
    },
    net::{DroppedPacket, IcmpError, Transport},
    pbx::config::trunks::Trunks,
    say::{self, Context},
    sip::{Message, MessageIndex, ParsedMessage},
    track::{BindingKey, Event},
};

/// Registrations whose Call-ID is remembered for their path audits, and
/// Call-IDs whose request addresses are remembered for their log records,
/// at most: past it a table starts again (a record then goes without).
const KEPT: usize = 20_000;

/// `--hep` and its companions, as the command line gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HepPlan {
    /// The receivers, each sent every packet.
    pub to: Vec<Destination>,
    /// `--hep-id`: the capture agent id HOMER shows (Asterisk's
    /// `capture_id`).
    pub capture_id: u32,
    /// `--hep-password`: the receiver's authentication key.
    pub password: Option<String>,
    /// `--hep-node-name`: this capture node's name.
    pub node_name: Option<String>,
    /// Live: drop when a queue is full; a file: wait.
    pub when_full: WhenFull,
    /// `--hep-ca`: certificates trusted for a `tls:` receiver (PEM).
    pub ca: Option<std::path::PathBuf>,
}

/// The HEP sender as an output.
pub struct HepOutput {
    plan: HepPlan,
    /// Taken in [`Output::counters`], where the queues are drained so that
    /// the summary counts what was sent and lost in the end.
    senders: Mutex<Vec<Sender>>,
    /// Every sender's stats, kept after the senders finish.
    stats: Vec<(String, std::sync::Arc<crate::hep::send::SendStats>)>,
    log: MessageLog,
    config: Option<std::sync::Arc<Trunks>>,
    /// The last SIP message's flow and time sent, to keep the times of
    /// several messages of one TCP segment strictly increasing.
    last: Option<(Transport, SocketAddr, SocketAddr, SystemTime)>,
    /// Each registration's latest Call-ID, for its path audits.
    call_ids: HashMap<BindingKey, String>,
    /// Each Call-ID's latest request's source and destination: a log
    /// record about it carries them, so HOMER shows it on that flow.
    flows: HashMap<String, (SocketAddr, SocketAddr)>,
    /// The reverse: each flow's latest request's Call-ID, for an ICMP
    /// error whose quote stops before the Call-ID.
    calls: HashMap<(SocketAddr, SocketAddr), String>,
    metrics: Option<HepMetrics>,
    /// What the metrics were last told, per receiver.
    reported: Vec<[u64; 4]>,
}

impl HepOutput {
    /// Resolves every receiver and starts its sender; `metrics`: where
    /// the counts go when `--metrics` is on.
    pub fn start(
        plan: HepPlan,
        config: Option<std::sync::Arc<Trunks>>,
        metrics: Option<HepMetrics>,
    ) -> Result<HepOutput, SendError> {
        let senders = plan
            .to
            .iter()
            .map(|d| Sender::start(d, plan.when_full, plan.ca.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let stats = plan
            .to
            .iter()
            .zip(&senders)
            .map(|(d, s)| (d.to_string(), s.stats().clone()))
            .collect();
        let mut output = HepOutput {
            reported: vec![[0; 4]; senders.len()],
            senders: Mutex::new(senders),
            stats,
            log: MessageLog::events_only().with_config(config.clone()),
            config,
            plan,
            last: None,
            call_ids: HashMap::new(),
            flows: HashMap::new(),
            calls: HashMap::new(),
            metrics,
        };
        // Every series from the start, at zero.
        output.report_metrics();
        Ok(output)
    }

    /// A log record: `text` beside the messages of `call_id`, at `time`,
    /// with the addresses of what it is about.
    fn log_record(
        &mut self,
        text: &[u8],
        call_id: Option<&str>,
        time: SystemTime,
        (src, dst): (SocketAddr, SocketAddr),
        transport: Transport,
    ) {
        send(
            &self.senders,
            &Packet {
                protocol: Protocol::Log,
                ip_protocol: ip_protocol(transport),
                src,
                dst,
                time,
                capture_id: self.plan.capture_id,
                password: self.plan.password.as_deref(),
                node_name: self.plan.node_name.as_deref(),
                correlation_id: call_id.filter(|c| !c.is_empty()),
                vlan: None,
                payload: trim_line_end(text),
            },
        );
    }

    /// The Call-ID of a packet (whole or quoted), else of the latest
    /// request on its flow.
    fn call_id_in(&self, packet: &[u8], flow: (SocketAddr, SocketAddr)) -> Option<String> {
        MessageIndex::parse(packet)
            .header("call-id")
            .map(|c| c.into_owned())
            .or_else(|| self.calls.get(&flow).cloned())
    }

    /// The latest request's addresses of a Call-ID.
    fn flow(&self, call_id: &str) -> Option<(SocketAddr, SocketAddr)> {
        self.flows.get(call_id).copied()
    }

    /// Tells the metrics what each sender did since the last time.
    fn report_metrics(&mut self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        for ((to, stats), last) in self.stats.iter().zip(self.reported.iter_mut()) {
            let now = [
                stats.sent.load(Ordering::Relaxed),
                stats.queue_full.load(Ordering::Relaxed),
                stats.send_failed.load(Ordering::Relaxed),
                stats.too_large.load(Ordering::Relaxed),
            ];
            metrics.sent(to, now[0].saturating_sub(last[0]));
            for (i, reason) in [(1, "queue_full"), (2, "send_failed"), (3, "too_large")] {
                metrics.dropped(to, reason, now[i].saturating_sub(last[i]));
            }
            *last = now;
        }
    }
}

/// Encodes `packet` once and queues it to every receiver (a copy to each
/// but the last).
fn send(senders: &Mutex<Vec<Sender>>, packet: &Packet<'_>) {
    let mut encoded = Vec::new();
    let result = encode(packet, &mut encoded);
    let senders = senders.lock().unwrap_or_else(|e| e.into_inner());
    let Some((last, others)) = senders.split_last() else {
        return;
    };
    match result {
        Ok(()) => {
            for sender in others {
                sender.send(encoded.clone());
            }
            last.send(encoded);
        }
        Err(EncodeError::TooLarge { .. }) => {
            for sender in senders.iter() {
                sender.stats().too_large.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The IP protocol a transport travels in: TLS and WebSocket over TCP.
fn ip_protocol(transport: Transport) -> u8 {
    match transport {
        Transport::Udp => IP_PROTOCOL_UDP,
        Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => IP_PROTOCOL_TCP,
    }
}

/// A log line without its line end, and without the text's last newline.
fn trim_line_end(text: &[u8]) -> &[u8] {
    let mut end = text.len();
    while end > 0 && matches!(text[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &text[..end]
}

/// Where no address is known (a registration's client side).
const UNKNOWN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

impl Output for HepOutput {
    fn message(
        &mut self,
        _out: &mut dyn Write,
        m: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        // Keep-alives and datagrams that are not SIP stay out of HOMER.
        let Some(parsed) = parsed else {
            return Ok(());
        };
        // Several messages of one TCP segment share its time: each later
        // one a microsecond after the one before, so HOMER keeps them in
        // order.
        let mut time = m.timestamp;
        if let Some((transport, src, dst, last)) = self.last
            && (transport, src, dst) == (m.transport, m.src, m.dst)
            && time <= last
        {
            time = last + Duration::from_micros(1);
        }
        self.last = Some((m.transport, m.src, m.dst, time));
        let call_id = parsed.call_id();
        if let Some(c) = &call_id
            && parsed.method().is_some()
        {
            let flow = (m.src, m.dst);
            // Most requests repeat what is known (a registration's refresh):
            // no allocation then.
            if self.flows.get(c.as_ref()) != Some(&flow) {
                if self.flows.len() >= KEPT {
                    self.flows.clear();
                }
                self.flows.insert(c.clone().into_owned(), flow);
            }
            if self.calls.get(&flow).map(String::as_str) != Some(c.as_ref()) {
                if self.calls.len() >= KEPT {
                    self.calls.clear();
                }
                self.calls.insert(flow, c.clone().into_owned());
            }
        }
        send(
            &self.senders,
            &Packet {
                protocol: Protocol::Sip,
                ip_protocol: ip_protocol(m.transport),
                src: m.src,
                dst: m.dst,
                time,
                capture_id: self.plan.capture_id,
                password: self.plan.password.as_deref(),
                node_name: self.plan.node_name.as_deref(),
                correlation_id: call_id.as_deref(),
                vlan: m.vlans.first().copied(),
                payload: &m.bytes,
            },
        );
        Ok(())
    }

    fn event(&mut self, _out: &mut dyn Write, e: &Event) -> io::Result<()> {
        let mut text = Vec::new();
        self.log.event(&mut text, e)?;
        match e {
            Event::Registration(r) => {
                // The log's line says the cause; the record adds its fix.
                let cx = Context::of_in(r, self.config.as_deref());
                for d in r.diagnoses.iter().filter(|d| d.is_failure()) {
                    text.extend_from_slice(say::diagnosis::explain(d, &cx).1.as_bytes());
                    text.push(b'\n');
                }
                if self.call_ids.len() >= KEPT {
                    self.call_ids.clear();
                }
                self.call_ids.insert(r.key.clone(), r.call_id.clone());
                let call_id = r.call_id.clone();
                let flow = self
                    .flow(&call_id)
                    .unwrap_or((UNKNOWN, r.registrar_address));
                self.log_record(&text, Some(&call_id), e.at(), flow, r.transport);
            }
            Event::Timeout(tx) => {
                let call_id = tx.call_id.clone();
                self.log_record(
                    &text,
                    Some(&call_id),
                    e.at(),
                    (tx.src, tx.dst),
                    tx.transport,
                );
            }
        }
        Ok(())
    }

    fn audit(&mut self, _out: &mut dyn Write, a: &PathAudit) -> io::Result<()> {
        let mut text = Vec::new();
        self.log.audit(&mut text, a)?;
        let call_id = self.call_ids.get(&a.binding).cloned();
        let flow = call_id.as_deref().and_then(|c| self.flow(c));
        self.log_record(
            &text,
            call_id.as_deref(),
            a.time,
            flow.unwrap_or((UNKNOWN, UNKNOWN)),
            Transport::Udp,
        );
        Ok(())
    }

    fn kernel_drop(&mut self, _out: &mut dyn Write, d: &DroppedPacket) -> io::Result<()> {
        let mut text = Vec::new();
        self.log.kernel_drop(&mut text, d)?;
        // The log leaves out copies and segments without data: so does HEP.
        if text.is_empty() {
            return Ok(());
        }
        let call_id = self.call_id_in(&d.payload, (d.src, d.dst));
        self.log_record(
            &text,
            call_id.as_deref(),
            d.time,
            (d.src, d.dst),
            d.transport,
        );
        Ok(())
    }

    /// An ICMP error about a SIP packet, correlated by the Call-ID it
    /// quotes (when the quote reaches that far).
    fn icmp(&mut self, _out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        let mut text = Vec::new();
        self.log.icmp(&mut text, e)?;
        let q = &e.quoted;
        let call_id = self.call_id_in(&q.payload, (q.src, q.dst));
        self.log_record(
            &text,
            call_id.as_deref(),
            e.timestamp,
            (q.src, q.dst),
            q.transport,
        );
        Ok(())
    }

    fn tick(&mut self, _out: &mut dyn Write, _now: &Snapshot<'_>) -> io::Result<()> {
        self.report_metrics();
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write, _end: &RunEnd<'_>) -> io::Result<()> {
        self.report_metrics();
        Ok(())
    }

    /// Drains every queue first (the run is over), so that what was sent
    /// and lost is known in full.
    fn counters(&self) -> Vec<Count> {
        let senders = std::mem::take(&mut *self.senders.lock().unwrap_or_else(|e| e.into_inner()));
        for sender in senders {
            sender.finish();
        }
        let total = |f: fn(&crate::hep::send::SendStats) -> u64| {
            self.stats.iter().map(|(_, s)| f(s)).sum::<u64>()
        };
        let count = |what, n, loss| Count {
            by: "--hep",
            what,
            n,
            loss,
        };
        vec![
            count(
                "HEP packets written to the receiver's socket",
                total(|s| s.sent.load(Ordering::Relaxed)),
                false,
            ),
            count(
                "HEP packets not sent (send queue full: the receiver or the network is slower than the capture)",
                total(|s| s.queue_full.load(Ordering::Relaxed)),
                true,
            ),
            count(
                "HEP packets not sent (the receiver refused them or was not connected)",
                total(|s| s.send_failed.load(Ordering::Relaxed)),
                true,
            ),
            count(
                "HEP packets not sent (over 65,507 bytes, the largest HEP packet)",
                total(|s| s.too_large.load(Ordering::Relaxed)),
                true,
            ),
            count(
                "HEP reconnections (the TCP receiver closed, reset or stalled the connection)",
                total(|s| s.reconnects.load(Ordering::Relaxed)),
                false,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::Metrics;

    fn message(bytes: &[u8]) -> Message {
        Message {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            direction: None,
            transport: Transport::Tcp,
            src: "192.0.2.10:40000".parse().unwrap(),
            dst: "192.0.2.20:5060".parse().unwrap(),
            vlans: vec![42],
            outer: None,
            reassembled: false,
            bytes: bytes.to_vec(),
            origin: crate::sip::Origin::CaptureFile,
        }
    }

    fn plan(to: Destination) -> HepPlan {
        HepPlan {
            to: vec![to],
            capture_id: 9,
            password: None,
            node_name: None,
            when_full: WhenFull::Wait,
            ca: None,
        }
    }

    #[test]
    fn a_receiver_that_is_gone_is_counted_in_the_summary_and_the_metrics() {
        let (to, port) = crate::hep::send::nowhere();
        let metrics = Metrics::new();
        let mut hep = HepOutput::start(plan(to), None, Some(metrics.hep())).unwrap();
        let m = message(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n");
        for _ in 0..3 {
            hep.message(&mut io::sink(), &m, Some(&m.parsed())).unwrap();
        }
        let huge = message(&[b'a'; 70_000]);
        hep.message(&mut io::sink(), &huge, Some(&huge.parsed()))
            .unwrap();
        let counts = hep.counters();
        let n = |what: &str| counts.iter().find(|c| c.what.contains(what)).unwrap().n;
        assert_eq!(n("refused them or was not connected"), 3);
        assert_eq!(n("over 65,507 bytes"), 1);
        assert_eq!(n("HEP packets written to the receiver's socket"), 0);
        assert!(counts.iter().filter(|c| c.n > 0).all(|c| c.loss));
        hep.report_metrics();
        let text = metrics.encode();
        let series = format!(
            "sipwatch_hep_packets_dropped_total{{to=\"tcp:127.0.0.1:{port}\",reason=\"send_failed\"}} 3"
        );
        assert!(text.contains(&series), "{text}");
        assert!(text.contains("reason=\"too_large\"} 1"), "{text}");
    }

    #[test]
    fn messages_of_one_segment_get_strictly_increasing_times_and_keep_alives_stay_out() {
        let (receiver, to) = crate::hep::send::udp_receiver();
        let mut hep = HepOutput::start(plan(to), None, None).unwrap();
        let a = message(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n");
        let b = message(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: b\r\n\r\n");
        let keep_alive = message(b"\r\n\r\n");
        hep.message(&mut io::sink(), &a, Some(&a.parsed())).unwrap();
        hep.message(&mut io::sink(), &keep_alive, None).unwrap();
        hep.message(&mut io::sink(), &b, Some(&b.parsed())).unwrap();
        let counts = hep.counters();
        assert_eq!(counts[0].n, 2, "{counts:?}");
        let mut micros = Vec::new();
        let mut buf = vec![0u8; 2048];
        for _ in 0..2 {
            let n = receiver.recv(&mut buf).unwrap();
            // Seconds and microseconds: the 7th and 8th chunks (IPv4).
            let at = 6 + 7 + 7 + 10 + 10 + 8 + 8;
            assert_eq!(&buf[at + 2..at + 4], [0, 0x09]);
            micros.push(u32::from_be_bytes(
                buf[at + 16..at + 20].try_into().unwrap(),
            ));
            assert!(n > at);
        }
        assert_eq!(micros, [0, 1]);
    }

    #[test]
    fn a_path_finding_goes_out_with_its_registrations_call_id_and_flow() {
        let (receiver, to) = crate::hep::send::udp_receiver();
        let mut hep = HepOutput::start(plan(to), None, None).unwrap();
        let register = message(
            b"REGISTER sip:example.net SIP/2.0\r\nCall-ID: reg-7@pbx\r\nCSeq: 1 REGISTER\r\n\r\n",
        );
        hep.message(&mut io::sink(), &register, Some(&register.parsed()))
            .unwrap();
        let key = BindingKey {
            registrar: "sip:example.net".into(),
            aor: "sip:100@example.net".into(),
            contact: "sip:100@192.0.2.10".into(),
        };
        let mut registration = crate::track::Registration::new(key.clone(), &register.parsed());
        registration.call_id = "reg-7@pbx".into();
        let event = Event::Registration(Box::new(registration));
        hep.event(&mut io::sink(), &event).unwrap();
        let audit = PathAudit::new(
            register.timestamp,
            key,
            "shadow-1".into(),
            crate::audit::AuditOutcome::NatLifetime {
                at_least_s: 20,
                less_than_s: Some(40),
                refresh_s: Some(300),
            },
        );
        hep.audit(&mut io::sink(), &audit).unwrap();
        hep.counters();
        let mut buf = vec![0u8; 4096];
        let mut records = Vec::new();
        while let Ok(n) = receiver.recv(&mut buf) {
            records.push(buf[..n].to_vec());
            if records.len() == 3 {
                break;
            }
        }
        let path = &records[2];
        let text = String::from_utf8_lossy(path);
        assert!(text.contains(" PATH "), "{text}");
        // Log type, the registration's Call-ID, the REGISTER's addresses.
        let find = |needle: &[u8]| path.windows(needle.len()).any(|w| w == needle);
        assert!(find(&[0, 0x0b, 0, 7, 100]), "a log record");
        assert!(find(b"reg-7@pbx"));
        assert!(
            find(&[0, 3, 0, 10, 192, 0, 2, 10]),
            "source: the REGISTER's"
        );
    }
}
