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
        self.drop_problem = problem;
        self
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
        let Some(d) = DroppedPacket::from_frame(frame, &self.drop_reasons) else {
            self.drops.unreadable();
            return Ok(());
        };
        self.drops.count(&d.drop);
        // A copy of what already arrived: counted in the summary, no fault.
        if d.drop.is_duplicate() {
            return Ok(());
        }
        if let Some(audit) = &mut self.audit
            && audit.on_dropped(&d)
        {
            return Ok(());
        }
        for o in &mut self.outputs {
            o.kernel_drop(&mut self.out, &d)?;
        }
        if d.start_line.is_none() {
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
        let seen = d.seen_on_the_wire(self.captured_ifindex);
        self.tracker
            .push_dropped(&message.parsed(), &d.drop, seen, &mut self.events);
        self.deliver_events()
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
            // Parsed once, for the tracker and every output alike.
            let parsed = looks_like_sip_start(&m.bytes).then(|| m.parsed());
            if let Some(audit) = &mut self.audit
                && audit.on_message(&m, parsed.as_ref())
            {
                self.deliver_audit()?;
                continue;
            }
            if let Some(p) = &parsed {
                // Timers due before this message are told before it.
                self.tracker.tick(m.timestamp, &mut self.events);
                self.deliver_events()?;
                self.tracker.push(p, &mut self.events);
            }
            for o in &mut self.outputs {
                o.message(&mut self.out, &m, parsed.as_ref())?;
            }
            self.deliver_events()?;
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

    /// After a batch: what the outputs wrote reaches the terminal.
    pub fn flush(&mut self) -> io::Result<()> {
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
        self.tracker.finish(&mut self.events);
        self.deliver_events()?;
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
