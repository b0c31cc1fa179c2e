//! The one path every frame takes, live or from a file: decode, assemble
//! whole SIP messages, track transactions and registrations, and hand each
//! frame, message and event to every output in turn.
use std::io::{self, Write};

use sipwatch_common::looks_like_sip_start;

use sipwatch_common::Direction;

use crate::{
    audit::Auditor,
    capture::{Counters, DropReasons, Frame},
    net::{
        ConnectionWatch, Decoded, Decoder, DropTally, DropWay, DroppedPacket, SipSelection,
        Transport, tcp::TcpLimits,
    },
    report::{CaptureSummary, Output, PipelineStats, RunEnd, Snapshot},
    sip::{Message, MessageAssembler},
    track::{Event, Tracker},
};

/// How long an arriving final answer waits for the drop tracer before the
/// tracker takes it as delivered: the kernel drops it within microseconds
/// of XDP seeing it, in the same softirq, and both records share the ring.
pub const ANSWER_HOLD: std::time::Duration = std::time::Duration::from_millis(5);

/// Decoder, assembler and tracker, feeding `outputs`; `out` is the run's
/// standard output, which the outputs share.
pub struct Pipeline<W: Write> {
    decoder: Decoder,
    assembler: MessageAssembler,
    tracker: Tracker,
    /// TCP connections on the SIP ports, for their faults.
    connections: ConnectionWatch,
    /// What is taken as SIP (the assembler has its own copy).
    selection: SipSelection,
    /// The path audit (`attach --echo`), when asked for.
    audit: Option<Auditor>,
    /// The kernel's drop reasons, and the captured interface (live).
    drop_reasons: DropReasons,
    captured_ifindex: Option<u32>,
    /// Why the kernel's drops are not traced (live), when they are not.
    drop_problem: Option<String>,
    drops: DropTally,
    /// Live, with the drop tracer: final answers that arrived, held back
    /// from the tracker for [`ANSWER_HOLD`], since this host's kernel may
    /// still drop them (its INPUT firewall, no socket): then the PBX never
    /// got them, and the tracker must not take them as answered.
    held: Vec<Message>,
    hold_answers: bool,
    /// The latest frame's time: the capture's own clock.
    latest: Option<std::time::SystemTime>,
    /// Live: this host's addresses, to tell a packet passing through from
    /// one for this host (read when the drop tracer is set up).
    local_addresses: std::collections::HashSet<std::net::IpAddr>,
    out: W,
    outputs: Vec<Box<dyn Output>>,
    frames: u64,
    messages_seen: u64,
    /// Reused between frames.
    messages: Vec<Message>,
    events: Vec<Event>,
}

/// What a run ended with: the counts, and the tracker's final state.
pub struct Finished {
    /// Every count of the run, kernel to tracker: what the summary and the
    /// JSON `summary` object show, and what `analyze` returns.
    pub summary: CaptureSummary,
    /// Transactions and registrations as they ended, with each failure's
    /// diagnosis, for a caller that wants more than the outputs wrote.
    pub tracker: Tracker,
}

impl<W: Write> Pipeline<W> {
    /// A pipeline writing to `out` through `outputs` (see [`crate::report::View::outputs`]).
    pub fn new(out: W, outputs: Vec<Box<dyn Output>>) -> Self {
        Self {
            decoder: Decoder::new(),
            assembler: MessageAssembler::default(),
            tracker: Tracker::default(),
            connections: ConnectionWatch::default(),
            selection: SipSelection::default(),
            audit: None,
            drop_reasons: DropReasons::default(),
            captured_ifindex: None,
            drop_problem: None,
            drops: DropTally::default(),
            held: Vec::new(),
            hold_answers: false,
            latest: None,
            local_addresses: std::collections::HashSet::new(),
            out,
            outputs,
            frames: 0,
            messages_seen: 0,
            messages: Vec::new(),
            events: Vec::new(),
        }
    }

    /// With the path audit: the auditor sees every message first, keeps its
    /// own traffic (shadows, the echo's answers) from the tracker and the
    /// log, and hears of every timeout.
    pub fn with_audit(mut self, auditor: Auditor) -> Self {
        self.audit = Some(auditor);
        self
    }

    /// Live: the drop tracer's records are read with the kernel's
    /// `reasons`; `ifindex` is the captured interface (an answer dropped
    /// after arriving there was seen by XDP first); `problem` says why
    /// drops are not traced, when they are not.
    pub fn with_kernel_drops(
        mut self,
        reasons: DropReasons,
        ifindex: Option<u32>,
        problem: Option<String>,
    ) -> Self {
        self.drop_reasons = reasons;
        self.captured_ifindex = ifindex;
        self.hold_answers = problem.is_none();
        self.local_addresses = crate::net::local::addresses()
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        self.drop_problem = problem;
        self
    }

    /// Live: an echo address whose answers XDP must no longer consume
    /// (the PBX sends its own SIP there), once.
    pub fn take_echo_conflict(&mut self) -> Option<std::net::SocketAddr> {
        self.audit.as_mut()?.take_conflict()
    }

    /// Takes as SIP what `selection` says (the live capture's ports and
    /// sniffing), rather than the default ports.
    pub fn with_selection(mut self, selection: SipSelection) -> Self {
        self.assembler = MessageAssembler::with_selection(TcpLimits::default(), selection.clone());
        self.selection = selection;
        self
    }

    /// One frame through every stage.
    pub fn push(&mut self, frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        self.latest = Some(
            self.latest
                .map_or(frame.timestamp, |l| l.max(frame.timestamp)),
        );
        if frame.kernel_drop.is_some() {
            return self.push_dropped(frame);
        }
        for o in &mut self.outputs {
            o.frame(frame)?;
        }
        match self.decoder.decode(frame) {
            Some(Decoded::Datagram(datagram)) => {
                self.watch_connection(&datagram)?;
                self.assembler.push(datagram, &mut self.messages);
                self.deliver_messages()?;
            }
            // Evidence, attached to the transaction it quotes.
            Some(Decoded::Icmp(error)) if self.assembler.select_icmp(&error) => {
                for o in &mut self.outputs {
                    o.icmp(&mut self.out, &error)?;
                }
                self.tracker.push_icmp(&error, &mut self.events);
                self.deliver_events()?;
            }
            Some(Decoded::FragmentHead(head))
                if self
                    .selection
                    .udp_is_sip(&head.src, &head.dst, &head.payload) =>
            {
                self.tracker.push_fragment_head(&head, &mut self.events);
                self.deliver_events()?;
            }
            Some(Decoded::Icmp(_) | Decoded::FragmentHead(_)) | None => {}
        }
        Ok(())
    }

    /// A SIP packet this host's kernel dropped (not a frame on the wire:
    /// no output writes it as one): told, counted, and given to the
    /// tracker as the fate of its transaction.
    fn push_dropped(&mut self, frame: &Frame) -> io::Result<()> {
        let Some(mut d) = DroppedPacket::from_frame(frame, &self.drop_reasons) else {
            self.drops.unreadable();
            return Ok(());
        };
        let local = &self.local_addresses;
        d.place(|ip| local.contains(&ip));
        // The audit's own traffic (shadows, the echo's answers) is the
        // audit's to count.
        if let Some(audit) = &mut self.audit
            && audit.on_dropped(&d)
        {
            return Ok(());
        }
        self.drops.count(&d.drop);
        for o in &mut self.outputs {
            o.kernel_drop(&mut self.out, &d)?;
        }
        // A copy of what already arrived (counted, not shown) is no fault.
        if d.start_line.is_none() || d.drop.is_duplicate() {
            return Ok(());
        }
        let message = Message {
            timestamp: d.time,
            direction: Some(match d.drop.way {
                DropWay::Leaving => Direction::Egress,
                DropWay::Arriving => Direction::Ingress,
            }),
            transport: d.transport,
            src: d.src,
            dst: d.dst,
            vlans: Vec::new(),
            reassembled: false,
            bytes: d.payload.clone(),
        };
        // An answer held back for this: the PBX never got it.
        let held = self
            .held
            .iter()
            .position(|h| h.src == message.src && h.dst == message.dst && h.bytes == message.bytes);
        if let Some(i) = held {
            self.held.remove(i);
        }
        let seen = d.seen_on_the_wire(self.captured_ifindex) && held.is_none();
        self.tracker
            .push_dropped(&message.parsed(), &d.drop, seen, &mut self.events);
        self.deliver_events()
    }

    /// Gives the tracker the held answers that arrived more than
    /// [`ANSWER_HOLD`] before `now` (all of them when `now` is `None`), and
    /// those to `sender`, which sends again after them (a REGISTER with
    /// credentials right after its 401): no drop came for them, so they
    /// reached the PBX.
    fn release_answers(
        &mut self,
        now: Option<std::time::SystemTime>,
        sender: Option<std::net::SocketAddr>,
    ) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let due = |m: &Message| {
            sender == Some(m.dst)
                || now.is_none_or(|n| {
                    n.duration_since(m.timestamp).unwrap_or_default() >= ANSWER_HOLD
                })
        };
        let (release, keep): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|m| due(m));
        self.held = keep;
        for m in release {
            let parsed = m.parsed();
            self.tracker.push(&parsed, &mut self.events);
            self.deliver_events()?;
        }
        Ok(())
    }

    /// A TCP segment on the SIP ports: its connection's fault, if it shows
    /// one, goes to the tracker.
    fn watch_connection(&mut self, d: &crate::net::Datagram) -> io::Result<()> {
        if d.transport != Transport::Tcp || !self.selection.on_sip_port(&d.src, &d.dst) {
            return Ok(());
        }
        if let Some(fault) = self.connections.push(d) {
            self.tracker.push_connection(fault, &mut self.events);
            self.deliver_events()?;
        }
        if let Some(acked) = self.connections.take_acked() {
            self.tracker.push_acked(acked);
        }
        Ok(())
    }

    fn deliver_messages(&mut self) -> io::Result<()> {
        // Taken out for the loop (and put back, to keep its allocation).
        let mut messages = std::mem::take(&mut self.messages);
        let result = self.deliver(&mut messages);
        messages.clear();
        self.messages = messages;
        result
    }

    fn deliver(&mut self, messages: &mut Vec<Message>) -> io::Result<()> {
        for m in messages.drain(..) {
            self.messages_seen += 1;
            // Held answers no drop came for go first, in their order; and
            // any to the sender of this one, which has acted on them.
            self.release_answers(Some(m.timestamp), Some(m.src))?;
            // Parsed once, for the tracker and every output alike.
            let parsed = looks_like_sip_start(&m.bytes).then(|| m.parsed());
            if let Some(audit) = &mut self.audit
                && audit.on_message(&m, parsed.as_ref())
            {
                self.deliver_audit()?;
                continue;
            }
            let mut hold = false;
            if let Some(p) = &parsed {
                // Timers due before this message are told before it.
                self.tracker.tick(m.timestamp, &mut self.events);
                self.deliver_events()?;
                hold = self.hold_answers
                    && m.direction == Some(Direction::Ingress)
                    && p.status().is_some_and(|c| c >= 200);
                if !hold {
                    self.tracker.push(p, &mut self.events);
                }
            }
            for o in &mut self.outputs {
                o.message(&mut self.out, &m, parsed.as_ref())?;
            }
            self.deliver_events()?;
            drop(parsed);
            if hold {
                self.held.push(m);
            }
        }
        Ok(())
    }

    fn deliver_events(&mut self) -> io::Result<()> {
        if let Some(audit) = &mut self.audit {
            for e in &self.events {
                if let Event::Timeout(tx) = e {
                    audit.on_timeout(tx);
                }
            }
        }
        deliver_events(&mut self.outputs, &mut self.out, &mut self.events)?;
        self.deliver_audit()
    }

    fn deliver_audit(&mut self) -> io::Result<()> {
        let Some(audit) = &mut self.audit else {
            return Ok(());
        };
        for a in audit.drain() {
            for o in &mut self.outputs {
                o.audit(&mut self.out, &a)?;
            }
        }
        Ok(())
    }

    /// Live: time passes without messages (timers fire, the table is
    /// redrawn, metrics re-read); `kernel` is the capture's counters now.
    pub fn tick(&mut self, now: std::time::SystemTime, kernel: Option<Counters>) -> io::Result<()> {
        // A second on, any drop of a held answer has long come.
        self.release_answers(None, None)?;
        self.tracker.tick(now, &mut self.events);
        if let Some(audit) = &mut self.audit {
            audit.poll(now);
        }
        self.deliver_events()?;
        let snapshot = Snapshot {
            tracker: &self.tracker,
            audit: self.audit.as_ref(),
            kernel,
        };
        for o in &mut self.outputs {
            o.tick(&mut self.out, &snapshot)?;
        }
        self.out.flush()
    }

    /// After a batch (live): held answers old enough go to the tracker,
    /// and what the outputs wrote reaches the terminal.
    pub fn flush(&mut self) -> io::Result<()> {
        // In the capture's own clock: a step of the wall clock (NTP) must
        // not hold answers back.
        if let Some(latest) = self.latest {
            self.release_answers(Some(latest), None)?;
        }
        self.out.flush()
    }

    /// Ends the run: what waits behind TCP gaps is framed, incomplete
    /// fragments and messages are counted, timers fire as of the last
    /// message, and every output writes its end. `kernel` and
    /// `malformed_records` are the live capture's own counters (none for a
    /// file, whose `source` names it).
    pub fn finish(
        mut self,
        kernel: Option<Counters>,
        malformed_records: u64,
        source: Option<&str>,
    ) -> io::Result<Finished> {
        self.decoder.finish();
        self.assembler.finish(&mut self.messages);
        self.deliver_messages()?;
        self.release_answers(None, None)?;
        self.tracker.finish(&mut self.events);
        self.deliver_events()?;
        if let Some(audit) = &mut self.audit {
            audit.stop_keepalives();
        }
        let summary = CaptureSummary {
            kernel: kernel.unwrap_or_default(),
            malformed_records,
            pipeline: PipelineStats {
                frames: self.frames,
                messages: self.messages_seen,
                decode: self.decoder.stats(),
                assembly: self.assembler.stats(),
                connections: self.connections.stats(),
                tracking: self.tracker.stats(),
                kernel_drops: self.drops.stats(),
            },
        };
        let kernel_drops = self.drops.by_reason();
        let end = RunEnd {
            summary: &summary,
            tracker: &self.tracker,
            live: kernel.is_some(),
            audit: self.audit.as_ref(),
            source,
            kernel_drops: &kernel_drops,
            drop_problem: self.drop_problem.as_deref(),
        };
        for o in &mut self.outputs {
            o.finish(&mut self.out, &end)?;
        }
        self.out.flush()?;
        Ok(Finished {
            summary,
            tracker: self.tracker,
        })
    }
}

fn deliver_events(
    outputs: &mut [Box<dyn Output>],
    out: &mut dyn Write,
    events: &mut Vec<Event>,
) -> io::Result<()> {
    for e in events.drain(..) {
        for o in outputs.iter_mut() {
            o.event(out, &e)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use etherparse::PacketBuilder;

    use super::*;
    use crate::{
        capture::{DropRecord, LinkType},
        track::RegistrationState,
    };

    const REGISTER: &str = "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-h1;rport\r\n\
        From: <sip:alice@203.0.113.2>;tag=1\r\nTo: <sip:alice@203.0.113.2>\r\nCall-ID: h1\r\nCSeq: 1 REGISTER\r\n\
        Contact: <sip:alice@192.168.77.10:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n";
    const OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-h1;rport\r\n\
        From: <sip:alice@203.0.113.2>;tag=1\r\nTo: <sip:alice@203.0.113.2>;tag=r\r\nCall-ID: h1\r\nCSeq: 1 REGISTER\r\n\
        Contact: <sip:alice@192.168.77.10:5060>;expires=300\r\nContent-Length: 0\r\n\r\n";

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
    }

    fn udp(from_pbx: bool, payload: &str) -> Vec<u8> {
        let (pbx, provider) = ([192, 168, 77, 10], [203, 0, 113, 2]);
        let (src, dst) = if from_pbx {
            (pbx, provider)
        } else {
            (provider, pbx)
        };
        let mut out = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .udp(5060, 5060)
            .write(&mut out, payload.as_bytes())
            .unwrap();
        out
    }

    fn frame(ms: u64, from_pbx: bool, payload: &str, dropped: bool) -> Frame {
        let ip = udp(from_pbx, payload);
        let (link, data) = if dropped {
            (LinkType::RawIp, ip)
        } else {
            let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
            eth.extend_from_slice(&ip);
            (LinkType::Ethernet, eth)
        };
        Frame {
            timestamp: at(ms),
            ifindex: 2,
            direction: Some(if from_pbx {
                Direction::Egress
            } else {
                Direction::Ingress
            }),
            link,
            wire_len: data.len() as u32,
            data,
            truncated: false,
            kernel_drop: dropped.then_some(DropRecord {
                reason: 12,
                had_device: false,
                had_route: true,
            }),
        }
    }

    fn live() -> Pipeline<Vec<u8>> {
        Pipeline::new(Vec::new(), Vec::new()).with_kernel_drops(
            DropReasons::new([(12, "NETFILTER_DROP".to_owned())]),
            Some(2),
            None,
        )
    }

    #[test]
    fn an_answer_this_host_dropped_after_xdp_is_not_taken_as_answered() {
        let mut p = live();
        p.push(&frame(0, true, REGISTER, false)).unwrap();
        p.push(&frame(1, false, OK, false)).unwrap();
        p.push(&frame(1, false, OK, true)).unwrap();
        p.tick(at(40_000), None).unwrap();
        let done = p.finish(None, 0, None).unwrap();
        let regs = done.tracker.registrations();
        let reg = regs.first().expect("alice");
        assert_eq!(
            reg.state(),
            RegistrationState::Timeout,
            "{:?}",
            reg.diagnoses
        );
        assert!(reg.diagnoses.iter().any(|d| matches!(
            d,
            crate::track::Diagnosis::AnswerNotDelivered {
                code: 200,
                dropped_on_this_host: Some(_),
                ..
            }
        )));
    }

    #[test]
    fn the_pbx_sending_again_right_after_an_answer_shows_it_got_it() {
        let mut p = live();
        p.push(&frame(0, true, REGISTER, false)).unwrap();
        p.push(&frame(1, false, OK, false)).unwrap();
        // 0.2 ms later, well within the hold: the PBX acted on the answer.
        let refresh = REGISTER.replace("CSeq: 1", "CSeq: 2").replace("-h1", "-h2");
        let mut next = frame(1, true, &refresh, false);
        next.timestamp += Duration::from_micros(200);
        p.push(&next).unwrap();
        assert!(p.held.is_empty());
    }

    #[test]
    fn an_answer_no_drop_came_for_is_taken_in_its_turn() {
        let mut p = live();
        p.push(&frame(0, true, REGISTER, false)).unwrap();
        p.push(&frame(1, false, OK, false)).unwrap();
        // Released by a later message (past the hold), not only at the end.
        let options =
            "OPTIONS sip:x SIP/2.0\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        p.push(&frame(20, true, options, false)).unwrap();
        assert!(p.held.is_empty());
        let done = p.finish(None, 0, None).unwrap();
        let regs = done.tracker.registrations();
        assert!(matches!(
            regs[0].state(),
            RegistrationState::Registered { .. }
        ));
    }
}
