//! The one path every frame and message takes, live or from a file:
//! decode, assemble whole SIP messages, track transactions and
//! registrations, and hand each frame, message and event to every output
//! in turn.
//!
//! Frames go in by [`Pipeline::push`]; whole messages (a HEP agent's, TLS
//! plaintext: addresses and a time, no IP header) by
//! [`Pipeline::push_message`], and from there take the path an assembled
//! message takes. Two rules keep several sources honest: another origin's
//! copy of a message already taken is one message, not a retransmission
//! ([`copies`]), and each source keeps its own clock, the tracker's timers
//! never running ahead of the slowest ([`clocks`]).
//! [`crate::source::drive`] feeds a pipeline from any
//! [`crate::source::Source`].
pub mod clocks;
pub mod copies;

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
    report::{
        CaptureSummary, Count, Found, MessageStore, Output, PipelineStats, RunEnd, Snapshot,
        StoreLimits,
    },
    sip::{Clock, Message, MessageAssembler, Origin},
    track::{Event, Tracker},
};
use clocks::Clocks;
use copies::Copies;

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
    /// Why the source stopped before its end (a file cut short), when it did.
    stopped: Option<String>,
    /// A HEP listener's counts, as its source last told them.
    hep: Option<crate::hep::tally::Tally>,
    /// The source's own counts, told at its end.
    source_counts: Vec<Count>,
    /// Malformed lines of the key logs a capture carried.
    keylog_errors: Vec<crate::tls::KeyLogError>,
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
    /// Frames are the NIC's (live), not a capture file's: their messages'
    /// [`Origin`].
    frames_from_nic: bool,
    /// Copies are looked for from the first message, not only once
    /// several clocks run ([`Pipeline::looking_for_copies`]).
    copies_from_start: bool,
    /// Other origins' copies of messages already taken.
    copies: Copies,
    /// Each source's clock, and messages ahead of the slowest.
    clocks: Clocks,
    /// The messages themselves, when kept.
    store: Option<MessageStore>,
    /// Messages `--aor`, `--host`, `--call-id` left out.
    left_out: u64,
    out: W,
    outputs: Vec<Box<dyn Output>>,
    frames: u64,
    messages_seen: u64,
    /// Reused between frames.
    messages: Vec<Message>,
    events: Vec<Event>,
}

/// What a run ended with: the counts, the tracker's final state, the
/// messages kept, and the outputs themselves, which
/// [`Finished::browse`] hands all of it (`analyze`, once the file is read).
pub struct Finished {
    /// Every count of the run, kernel to tracker: what the summary and the
    /// JSON `summary` object show, and what `analyze` returns.
    pub summary: CaptureSummary,
    /// Transactions and registrations as they ended, with each failure's
    /// diagnosis, for a caller that wants more than the outputs wrote.
    pub tracker: Tracker,
    /// The messages, by Call-ID, transaction and binding, when the
    /// pipeline kept them ([`Pipeline::with_store`]).
    pub store: Option<MessageStore>,
    /// The outputs and the stages' own counts, as the summary showed
    /// those not zero.
    pub counts: Vec<Count>,
    /// The outputs, finished.
    pub outputs: Vec<Box<dyn Output>>,
    /// The TLS sessions not read, or whose handshake failed.
    pub tls_sessions: Vec<crate::tls::SessionReport>,
}

impl Finished {
    /// Hands what the run found to every output that keeps working after
    /// the end ([`Output::browse`]: a terminal UI browsing the capture),
    /// each in turn until it is done.
    pub fn browse(&mut self) -> io::Result<()> {
        let found = Found {
            summary: &self.summary,
            tracker: &self.tracker,
            store: self.store.as_ref(),
        };
        for o in &mut self.outputs {
            o.browse(&found)?;
        }
        Ok(())
    }
}

/// Whether a packet from `src` to `dst` (an ICMP error's quoted packet, a
/// kernel drop) is about `--host`'s address. A name cannot be told from
/// addresses alone: then every such packet is kept, as evidence for the
/// messages the name keeps.
fn about_host(
    only: &crate::net::Only,
    src: std::net::SocketAddr,
    dst: std::net::SocketAddr,
) -> bool {
    let Some(ip) = only
        .host
        .as_ref()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
    else {
        return true;
    };
    src.ip() == ip || dst.ip() == ip
}

/// Whether `m` is one of those `only` asks for (`--aor`, `--host`,
/// `--call-id`; see [`Only`](crate::net::Only)).
fn taken(only: &crate::net::Only, m: &Message, p: &crate::sip::ParsedMessage<'_>) -> bool {
    let to = p.to();
    let from = p.from();
    let aor = only.aor.as_ref().is_none_or(|a| {
        let a = a.to_lowercase();
        [&to, &from].iter().any(|n| {
            n.as_ref()
                .is_some_and(|n| n.uri.text.to_lowercase().contains(&a))
        })
    });
    let host = only.host.as_ref().is_none_or(|h| {
        let h = h.to_lowercase();
        m.src.ip().to_string() == h
            || m.dst.ip().to_string() == h
            || to.as_ref().is_some_and(|n| n.uri.host.to_lowercase() == h)
            || p.start_line().is_some_and(|l| match l {
                crate::sip::StartLine::Request { uri, .. } => uri.to_lowercase().contains(&h),
                _ => false,
            })
    });
    let call_id = only
        .call_id
        .as_ref()
        .is_none_or(|c| p.call_id().is_some_and(|id| id == c.as_str()));
    aor && host && call_id
}

impl<W: Write> Pipeline<W> {
    /// A pipeline writing to `out` through `outputs` (see
    /// [`crate::report::OutputPlan::build`]).
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
            stopped: None,
            hep: None,
            source_counts: Vec::new(),
            keylog_errors: Vec::new(),
            drops: DropTally::default(),
            held: Vec::new(),
            hold_answers: false,
            latest: None,
            local_addresses: std::collections::HashSet::new(),
            frames_from_nic: false,
            copies_from_start: false,
            copies: Copies::default(),
            clocks: Clocks::default(),
            store: None,
            left_out: 0,
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

    /// Keeps every message (a copy of its bytes) in a [`MessageStore`]
    /// within `limits`, found in [`Finished::store`]; the tracker keeps no
    /// message bytes of its own.
    pub fn with_store(mut self, limits: StoreLimits) -> Self {
        self.store = Some(MessageStore::new(limits));
        self
    }

    /// Frames pushed are the NIC's (a live capture): their messages'
    /// origin is [`Origin::Nic`], not [`Origin::CaptureFile`].
    pub fn frames_from_nic(mut self) -> Self {
        self.frames_from_nic = true;
        self
    }

    /// Copies of a message are looked for from the first message on: for
    /// a source whose other origins are not known at its start (a HEP
    /// listener, beside the NIC or with several agents), so that the first
    /// copy taken is remembered when its twin comes from an origin that
    /// had not sent anything yet.
    pub fn looking_for_copies(mut self) -> Self {
        self.copies_from_start = true;
        self
    }

    /// The source stopped before its end (a file cut short or corrupt):
    /// the summary says why, so that JSON readers know the analysis is
    /// partial.
    pub fn note_stopped(&mut self, why: String) {
        self.stopped = Some(why);
    }

    /// A HEP listener's counts now (on each tick, and at the end): the
    /// metrics and the JSON summary read them.
    pub fn note_hep(&mut self, tally: crate::hep::tally::Tally) {
        self.hep = Some(tally);
    }

    /// The source's own counts at its end (a HEP listener's refusals),
    /// shown in the summary with the stages' and outputs' counts.
    pub fn note_counts(&mut self, counts: Vec<Count>) {
        self.source_counts = counts;
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

    /// Opens TLS sessions with `keys` (`--tls-keylog`). Call after
    /// [`Pipeline::with_selection`], which starts a new assembler.
    pub fn with_tls_keys(mut self, keys: crate::tls::KeyLog) -> Self {
        self.assembler = std::mem::take(&mut self.assembler).with_keys(keys);
        self
    }

    /// SIP over TLS comes in clear from the TLS probes (`attach --pid`,
    /// `--process`): the NIC's TLS sessions are followed for their
    /// handshakes, which the probes do not see.
    pub fn with_tls_read_in_process(mut self) -> Self {
        self.assembler.tls_read_in_process();
        self
    }

    /// TLS secrets a capture carries (a pcapng Decryption Secrets Block,
    /// NSS key log text): used from here on; malformed lines are counted
    /// and the first few kept for the summary.
    pub fn push_secrets(&mut self, text: &[u8], source_name: &str) {
        let read = self.assembler.add_keys(text, source_name);
        self.keylog_errors.extend(read.errors);
    }

    /// A whole SIP message from a source that hands over messages, not
    /// frames (HEP, TLS plaintext): it takes the path of an assembled
    /// message (audit, tracker, every output). Another origin's copy of a
    /// message already taken is counted, not taken again; a message
    /// stamped ahead of the slowest source's clock waits for it.
    pub fn push_message(&mut self, message: Message) -> io::Result<()> {
        self.messages.push(message);
        self.deliver_messages()
    }

    /// `clock` reads `now`, though its source sent nothing (an idle HEP
    /// agent, the NIC on a tick): messages waiting for it may go on. A
    /// source announces its clock this way when it starts
    /// ([`crate::source::drive`] does), so that copies of its messages are
    /// looked for from the first one: that is done only while more than
    /// one clock runs.
    pub fn advance_clock(&mut self, clock: Clock, now: std::time::SystemTime) -> io::Result<()> {
        self.clocks.advance(clock, now);
        self.deliver_due(false)
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
                if !about_host(self.selection.only(), error.quoted.src, error.quoted.dst) {
                    self.left_out += 1;
                    return Ok(());
                }
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
        // Counted whatever `--host` asks: a loss on this host is told.
        self.drops.count(&d.drop);
        if !about_host(self.selection.only(), d.src, d.dst) {
            self.left_out += 1;
            return Ok(());
        }
        for o in &mut self.outputs {
            o.kernel_drop(&mut self.out, &d)?;
        }
        // A copy of what already arrived, or of a frame for another host (a
        // mirror port's): counted, not shown, no fault.
        if d.start_line.is_none() || d.drop.is_no_loss() {
            return Ok(());
        }
        let direction = match d.drop.way {
            DropWay::Leaving => Direction::Egress,
            DropWay::Arriving => Direction::Ingress,
        };
        let message = Message {
            timestamp: d.time,
            direction: Some(direction),
            origin: Origin::Nic(direction),
            transport: d.transport,
            src: d.src,
            dst: d.dst,
            vlans: Vec::new(),
            outer: None,
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
        let sip = self.selection.on_sip_port(&d.src, &d.dst)
            || self.assembler.sip_endpoint(&d.src, &d.dst);
        if d.transport != Transport::Tcp || !sip {
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
        for mut m in messages.drain(..) {
            if self.frames_from_nic && m.origin == Origin::CaptureFile {
                m.origin = Origin::Nic(m.direction.unwrap_or(Direction::Ingress));
            }
            // Copies are looked for only while several sources run (a
            // single source's messages are never another's copies, and
            // the cost stays off the path of a file or a NIC alone).
            self.clocks.advance(m.origin.clock(), m.timestamp);
            let several = self.copies_from_start || self.clocks.is_several();
            if several && self.copies.is_copy(&m) {
                continue;
            }
            if let Some(m) = self.clocks.arrive(m) {
                self.deliver_one(m)?;
            }
            self.deliver_due(false)?;
        }
        Ok(())
    }

    /// Messages that waited for a slower clock and may go on now (all of
    /// them at the end).
    fn deliver_due(&mut self, all: bool) -> io::Result<()> {
        if !self.clocks.is_waiting() {
            return Ok(());
        }
        for m in self.clocks.due(all) {
            self.deliver_one(m)?;
        }
        Ok(())
    }

    fn deliver_one(&mut self, m: Message) -> io::Result<()> {
        self.messages_seen += 1;
        // Held answers no drop came for go first, in their order; and
        // any to the sender of this one, which has acted on them.
        self.release_answers(Some(m.timestamp), Some(m.src))?;
        // Parsed once, for the tracker and every output alike.
        let parsed = looks_like_sip_start(&m.bytes).then(|| m.parsed());
        if let Some(audit) = &mut self.audit
            && audit.on_message(&m, parsed.as_ref())
        {
            return self.deliver_audit();
        }
        if !self.selection.only().is_empty()
            && !parsed
                .as_ref()
                .is_some_and(|p| taken(self.selection.only(), &m, p))
        {
            self.left_out += 1;
            // Left out, its time still passes: the timers of what is kept
            // fire as they would without the filter.
            self.tracker.tick(m.timestamp, &mut self.events);
            return self.deliver_events();
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
            if let Some(store) = &mut self.store {
                store.push(p);
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
        self.deliver_due(false)?;
        // Timers fire only as far as the sources' clocks have come (the
        // slowest, with several): a lone HEP agent whose clock runs behind
        // this host's gets no timeouts from this host's clock. A source
        // that runs on this host's clock (the NIC) announces it before
        // each tick (`source::drive`).
        let now = self
            .clocks
            .slowest()
            .map_or(now, |slowest| now.min(slowest));
        self.tracker.tick(now, &mut self.events);
        if let Some(audit) = &mut self.audit {
            audit.poll(now);
        }
        self.deliver_events()?;
        let snapshot = Snapshot {
            tracker: &self.tracker,
            audit: self.audit.as_ref(),
            kernel,
            hep: self.hep,
            tls: self.assembler.stats().tls,
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
        self.deliver_due(true)?;
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
        let mut counts = vec![
            Count {
                by: "pipeline",
                what: "copies of a message from another origin (taken once)",
                n: self.copies.copies,
                loss: false,
            },
            Count {
                by: "pipeline",
                what: "messages let go before a slower source's clock reached them (too many waiting)",
                n: self.clocks.released_early,
                loss: true,
            },
        ];
        counts.push(Count {
            by: "--aor / --host / --call-id",
            what: "messages, ICMP errors and drops left out (not the ones asked for)",
            n: self.left_out,
            loss: false,
        });
        counts.append(&mut self.source_counts);
        counts.push(Count {
            by: "TLS key log",
            what: "malformed key log lines passed over",
            n: self.keylog_errors.len() as u64,
            loss: true,
        });
        counts.extend(self.store.iter().flat_map(MessageStore::counts));
        counts.extend(self.outputs.iter().flat_map(|o| o.counters()));
        let end = RunEnd {
            summary: &summary,
            tracker: &self.tracker,
            live: kernel.is_some(),
            audit: self.audit.as_ref(),
            source,
            kernel_drops: &kernel_drops,
            drop_problem: self.drop_problem.as_deref(),
            stopped: self.stopped.as_deref(),
            counts: &counts,
            hep: self.hep.as_ref(),
            tls_sessions: self.assembler.tls_sessions(),
            keylog_errors: &self.keylog_errors,
        };
        for o in &mut self.outputs {
            o.finish(&mut self.out, &end)?;
        }
        self.out.flush()?;
        Ok(Finished {
            summary,
            tracker: self.tracker,
            store: self.store,
            counts,
            outputs: self.outputs,
            tls_sessions: self.assembler.tls_sessions().to_vec(),
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
pub(crate) mod tests {
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
        let mut p = live().frames_from_nic();
        p.push(&frame(0, true, REGISTER, false)).unwrap();
        p.push(&frame(1, false, OK, false)).unwrap();
        p.push(&frame(1, false, OK, true)).unwrap();
        // As `source::drive` does: the NIC's clock, then the tick.
        p.advance_clock(Clock::Nic, at(40_000)).unwrap();
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

    /// A message as a HEP agent at `agent` (port) hands it over.
    pub(crate) fn from_agent(port: u16, ms: u64, from_pbx: bool, text: &str) -> Message {
        let (pbx, provider) = ("192.168.77.10:5060", "203.0.113.2:5060");
        let (src, dst) = if from_pbx {
            (pbx, provider)
        } else {
            (provider, pbx)
        };
        Message {
            timestamp: at(ms),
            direction: None,
            transport: Transport::Udp,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            vlans: Vec::new(),
            outer: None,
            reassembled: false,
            bytes: text.as_bytes().to_vec(),
            origin: Origin::Hep {
                agent_id: u32::from(port),
                agent: std::net::SocketAddr::from(([192, 168, 77, 1], port)),
            },
        }
    }

    #[test]
    fn a_source_whose_clock_runs_ahead_does_not_fire_timers_early() {
        let mut p = Pipeline::new(Vec::new(), Vec::new());
        p.push_message(from_agent(9060, 0, true, REGISTER)).unwrap();
        // Another agent, its clock 40 s ahead: past the REGISTER's Timer F
        // (32 s) on the first agent's clock, which has not come that far.
        let options =
            "OPTIONS sip:x SIP/2.0\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        p.push_message(from_agent(9061, 40_000, true, options))
            .unwrap();
        p.push_message(from_agent(9060, 1, false, OK)).unwrap();
        let done = p.finish(None, 0, None).unwrap();
        let regs = done.tracker.registrations();
        assert!(
            matches!(regs[0].state(), RegistrationState::Registered { .. }),
            "{:?}",
            regs[0].diagnoses
        );
        assert_eq!(done.summary.pipeline.tracking.timeouts, 0);
        assert_eq!(done.summary.pipeline.messages, 3);
    }

    #[test]
    fn a_lone_agent_whose_clock_runs_behind_gets_no_timeouts_from_this_hosts_clock() {
        let mut p = Pipeline::new(Vec::new(), Vec::new());
        p.push_message(from_agent(9060, 0, true, REGISTER)).unwrap();
        // This host's clock is a week on; the agent's, a second.
        let week = 7 * 86_400_000;
        p.advance_clock(Clock::Hep("192.168.77.1:9060".parse().unwrap()), at(1_000))
            .unwrap();
        p.tick(at(week), None).unwrap();
        p.push_message(from_agent(9060, 1_500, false, OK)).unwrap();
        let done = p.finish(None, 0, None).unwrap();
        assert_eq!(done.summary.pipeline.tracking.timeouts, 0);
        assert!(matches!(
            done.tracker.registrations()[0].state(),
            RegistrationState::Registered { .. }
        ));
    }

    #[test]
    fn a_tick_fires_timers_only_as_far_as_the_slowest_clock() {
        let mut p = Pipeline::new(Vec::new(), Vec::new());
        p.push_message(from_agent(9060, 0, true, REGISTER)).unwrap();
        p.advance_clock(Clock::Hep("192.168.77.1:9061".parse().unwrap()), at(60_000))
            .unwrap();
        // The wall clock is a minute on, but the first agent's is not.
        p.tick(at(60_000), None).unwrap();
        assert_eq!(p.tracker.stats().timeouts, 0);
        p.advance_clock(Clock::Hep("192.168.77.1:9060".parse().unwrap()), at(60_000))
            .unwrap();
        p.tick(at(60_000), None).unwrap();
        assert_eq!(p.tracker.stats().timeouts, 1);
    }

    #[test]
    fn the_nic_copy_and_the_hep_copy_are_one_message_not_a_retransmission() {
        let mut p = live().frames_from_nic();
        // Both sources announce their clocks as they start.
        p.advance_clock(Clock::Nic, at(0)).unwrap();
        p.advance_clock(Clock::Hep("192.168.77.1:9060".parse().unwrap()), at(0))
            .unwrap();
        p.push(&frame(0, true, REGISTER, false)).unwrap();
        p.push_message(from_agent(9060, 3, true, REGISTER)).unwrap();
        p.push(&frame(5, false, OK, false)).unwrap();
        p.push_message(from_agent(9060, 7, false, OK)).unwrap();
        let done = p.finish(None, 0, None).unwrap();
        let s = done.summary.pipeline;
        assert_eq!((s.messages, s.tracking.retransmissions), (2, 0));
        assert_eq!(s.tracking.response_retransmissions, 0);
        assert!(matches!(
            done.tracker.registrations()[0].state(),
            RegistrationState::Registered { .. }
        ));
    }

    #[test]
    fn a_hep_copy_of_the_first_message_is_found_when_copies_are_looked_for_from_the_start() {
        let run = |p: Pipeline<Vec<u8>>| {
            let mut p = p.frames_from_nic();
            p.advance_clock(Clock::Nic, at(0)).unwrap();
            // The agent has sent nothing yet: the NIC's clock runs alone.
            p.push(&frame(0, true, REGISTER, false)).unwrap();
            p.push_message(from_agent(9060, 3, true, REGISTER)).unwrap();
            p.finish(None, 0, None).unwrap().summary.pipeline.messages
        };
        assert_eq!(run(live()), 2, "the first NIC message was not remembered");
        assert_eq!(run(live().looking_for_copies()), 1);
    }

    #[test]
    fn the_store_keeps_the_messages_and_its_evictions_reach_the_summary() {
        let mut p = Pipeline::new(
            Vec::new(),
            crate::report::View::Text(crate::report::Detail::Quiet).outputs(),
        )
        .with_store(StoreLimits {
            max_bytes: 1 << 20,
            max_messages: 1,
        });
        p.push_message(from_agent(9060, 0, true, REGISTER)).unwrap();
        p.push_message(from_agent(9060, 1, false, OK)).unwrap();
        let done = p.finish(None, 0, None).unwrap();
        let store = done.store.as_ref().expect("kept");
        assert_eq!(store.by_call_id("h1").count(), 1);
        assert_eq!(store.by_binding("sip:alice@203.0.113.2").count(), 1);
        assert!(
            done.counts
                .iter()
                .any(|c| c.by == "message store" && c.n == 1 && c.loss)
        );
    }

    #[test]
    fn the_json_summary_carries_the_counts_that_are_not_zero() {
        let mut out = Vec::new();
        let mut p =
            Pipeline::new(&mut out, crate::report::View::Json.outputs()).with_store(StoreLimits {
                max_bytes: 1 << 20,
                max_messages: 1,
            });
        p.push_message(from_agent(9060, 0, true, REGISTER)).unwrap();
        p.push_message(from_agent(9060, 1, false, OK)).unwrap();
        p.finish(None, 0, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let counts = summary["counts"].as_array().expect("counts");
        assert_eq!(counts.len(), 1, "only counts that are not zero: {counts:?}");
        assert_eq!(counts[0]["by"], "message store");
        assert_eq!(counts[0]["n"], 1);
        assert_eq!(counts[0]["loss"], true);
    }
}
