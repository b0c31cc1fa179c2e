//! The one trait every output implements, so that the pipeline feeds a
//! list of them (message log, JSON lines, live table, end-of-run summary,
//! pcapng file, metrics) without an `if` per output: a new output is one
//! more implementation and one more entry in
//! [`OutputPlan::build`](super::OutputPlan::build). Every method has a
//! default that does nothing: an output implements what it consumes.
//! Modelled on ripgrep's `Sink`.
//!
//! Two methods look past the stream: [`Output::counters`] puts an output's
//! own counts (a send queue's drops) into the run's summary, and
//! [`Output::browse`] hands an output the whole run once a file has been
//! read to its end ([`Found`]), for an output that keeps working on it
//! (a terminal UI browsing a finished capture).
use std::io::{self, Write};

use super::{CaptureSummary, MessageStore};
use crate::{
    audit::{Auditor, PathAudit},
    capture::{Counters, Frame},
    hep::tally::Tally,
    net::{DroppedPacket, IcmpError, KernelDrop},
    sip::{Message, ParsedMessage},
    track::{Event, Tracker},
};

/// The run as it stands, for the outputs that redraw or re-read it on a
/// tick (the live table, metrics).
pub struct Snapshot<'a> {
    /// Transactions and registrations now.
    pub tracker: &'a Tracker,
    /// The path audit (`attach --echo`), when it runs.
    pub audit: Option<&'a Auditor>,
    /// The kernel programs' counters now (a live capture).
    pub kernel: Option<Counters>,
    /// A HEP listener's counts now (`hep-listen`, `attach --hep-listen`).
    pub hep: Option<Tally>,
    /// TLS sessions counted so far.
    pub tls: crate::tls::TlsCounts,
}

/// What a run ends with, for the outputs that report on it.
pub struct RunEnd<'a> {
    /// Everything counted, by the kernel (live) and in user space.
    pub summary: &'a CaptureSummary,
    /// Transactions and registrations as they stand at the end.
    pub tracker: &'a Tracker,
    /// Whether the kernel's counters apply (a live capture) or not (a file).
    pub live: bool,
    /// The path audit (`attach --echo`), when it ran.
    pub audit: Option<&'a Auditor>,
    /// What was read, for a file: `"trunk.pcapng (pcapng)"`.
    pub source: Option<&'a str>,
    /// Live: SIP packets this host's kernel dropped, by reason and way.
    pub kernel_drops: &'a [(KernelDrop, u64)],
    /// Live: why drops were not traced, when they were not.
    pub drop_problem: Option<&'a str>,
    /// Why the source stopped before its end (a file cut short or
    /// corrupt): the analysis is partial.
    pub stopped: Option<&'a str>,
    /// Every output's and every stage's own counts ([`Output::counters`]):
    /// the summary shows those that are not zero.
    pub counts: &'a [Count],
    /// A HEP listener's counts (`hep-listen`, `attach --hep-listen`).
    pub hep: Option<&'a Tally>,
    /// The TLS sessions not read, or whose handshake failed.
    pub tls_sessions: &'a [crate::tls::SessionReport],
    /// Malformed lines of the key logs the capture carried (its
    /// Decryption Secrets Blocks).
    pub keylog_errors: &'a [crate::tls::KeyLogError],
}

/// One count an output (or a stage of the pipeline) keeps of its own work,
/// for the run's summary: shown only when not zero, a loss as a warning.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    /// Who counted, as the user knows it: `"--write"`, `"message store"`.
    pub by: &'static str,
    /// What was counted, in words after the number: `"frames not
    /// written (send queue full)"`.
    pub what: &'static str,
    /// How many.
    pub n: u64,
    /// Something the user did not get (a frame not written, a message
    /// evicted): told as a WARNING.
    pub loss: bool,
}

/// What a run found, once a file has been read to its end, for an output
/// that keeps working on it ([`Output::browse`]).
pub struct Found<'a> {
    /// Everything counted.
    pub summary: &'a CaptureSummary,
    /// Transactions and registrations as they ended, each failure with
    /// its diagnosis.
    pub tracker: &'a Tracker,
    /// The messages themselves, by Call-ID, transaction and binding, when
    /// the pipeline kept them ([`crate::pipeline::Pipeline::with_store`]).
    pub store: Option<&'a MessageStore>,
}

/// One consumer of the pipeline's stream. `out` is the run's standard
/// output, shared by every output in the order they are listed; an output
/// that writes elsewhere (a file) ignores it.
pub trait Output {
    /// A frame as captured, before any decoding.
    fn frame(&mut self, _frame: &Frame) -> io::Result<()> {
        Ok(())
    }

    /// A SIP message, or a datagram on a SIP port that is not SIP;
    /// `parsed` when it starts like SIP.
    fn message(
        &mut self,
        _out: &mut dyn Write,
        _message: &Message,
        _parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        Ok(())
    }

    /// An ICMP or ICMPv6 error quoting a SIP packet: evidence of why SIP
    /// did not get through (port unreachable, administratively prohibited,
    /// fragmentation needed).
    fn icmp(&mut self, _out: &mut dyn Write, _error: &IcmpError) -> io::Result<()> {
        Ok(())
    }

    /// A SIP packet this host's own kernel dropped (its firewall, no
    /// socket, a full socket buffer…), with the kernel's reason; also the
    /// copies of data that already arrived (`is_duplicate`), which only
    /// counting outputs take.
    fn kernel_drop(&mut self, _out: &mut dyn Write, _drop: &DroppedPacket) -> io::Result<()> {
        Ok(())
    }

    /// A tracking event (a registration changed, a transaction timed out),
    /// right after the message or the tick that caused it.
    fn event(&mut self, _out: &mut dyn Write, _event: &Event) -> io::Result<()> {
        Ok(())
    }

    /// What the path audit found for one of the PBX's registrations.
    fn audit(&mut self, _out: &mut dyn Write, _audit: &PathAudit) -> io::Result<()> {
        Ok(())
    }

    /// Live: about once a second, whether or not anything was captured.
    fn tick(&mut self, _out: &mut dyn Write, _now: &Snapshot<'_>) -> io::Result<()> {
        Ok(())
    }

    /// The run is over: everything has been seen.
    fn finish(&mut self, _out: &mut dyn Write, _end: &RunEnd<'_>) -> io::Result<()> {
        Ok(())
    }

    /// This output's own counts, read once before [`Output::finish`] and
    /// shown in the summary when not zero (a loss as a WARNING).
    fn counters(&self) -> Vec<Count> {
        Vec::new()
    }

    /// After `analyze` read its file to the end and every output finished:
    /// the whole run, for an output that keeps working on it (a terminal UI
    /// browsing the capture) until it is done. Not called for a live run.
    fn browse(&mut self, _found: &Found<'_>) -> io::Result<()> {
        Ok(())
    }
}
