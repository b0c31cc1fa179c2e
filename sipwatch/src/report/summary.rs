//! The end-of-capture summary: what the kernel counted, what user space
//! decoded, and in plain words anything that was lost.
use std::io::{self, Write};

use super::{
    LogView,
    registrations::{write_table, write_totals},
};
use crate::track::Tracker;
use crate::{
    capture::{Counters, DirectionCounters},
    pipeline::PipelineStats,
};

/// Everything a capture run counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureSummary {
    pub kernel: Counters,
    /// Ring records that could not be decoded.
    pub malformed_records: u64,
    /// Frames read, datagrams decoded, messages assembled, and their losses.
    pub pipeline: PipelineStats,
}

impl CaptureSummary {
    /// Packets that were selected as SIP but never reached the user.
    pub fn lost(&self) -> u64 {
        self.kernel.ingress.lost() + self.kernel.egress.lost() + self.malformed_records
    }
}

/// Writes the summary; `kernel` says whether the kernel's counters apply
/// (a live capture) or not (a file). In JSON mode it is one last object,
/// `{"type":"summary",…}`, so that the output stays pure JSON Lines.
pub fn write_summary(
    out: &mut impl Write,
    s: &CaptureSummary,
    tracker: &Tracker,
    kernel: bool,
    view: LogView,
) -> io::Result<()> {
    let registrations = tracker.registrations();
    if view == LogView::Json {
        #[derive(serde::Serialize)]
        struct Record<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            #[serde(flatten)]
            summary: &'a CaptureSummary,
            lost: u64,
            registrations: &'a [&'a crate::track::Registration],
        }
        let record = Record {
            kind: "summary",
            summary: s,
            lost: s.lost(),
            registrations: &registrations,
        };
        serde_json::to_writer(&mut *out, &record)?;
        return out.write_all(b"\n");
    }
    write_table(out, &registrations, tracker.now())?;
    if kernel {
        writeln!(out, "--- capture summary ---")?;
        direction_line(out, "ingress (XDP)", &s.kernel.ingress)?;
        direction_line(out, "egress (TC) ", &s.kernel.egress)?;
    }
    let d = &s.pipeline.decode;
    let a = &s.pipeline.assembly;
    writeln!(
        out,
        "decoded: {} frames read, {} datagrams/segments ({} reassembled from fragments), {} messages ({} over TCP)",
        s.pipeline.frames, d.datagrams, d.reassembled, s.pipeline.messages, a.framing.messages
    )?;
    let n = &a.not_sip;
    let other_protocols = d.not_ip + d.not_udp_tcp;
    if !n.is_empty() || other_protocols > 0 {
        writeln!(
            out,
            "not SIP, passed over: {} UDP datagrams ({} bytes), {} TCP streams ({} segments, {} bytes), {} ICMP errors about other traffic, {other_protocols} other frames",
            n.udp_datagrams, n.udp_bytes, n.tcp_streams, n.tcp_segments, n.tcp_bytes, n.icmp_errors
        )?;
    }
    let (i, e) = (&s.kernel.ingress, &s.kernel.egress);
    let losses: [(u64, &str); 13] = [
        (
            i.ring_full + e.ring_full,
            "packets not captured: ring buffer full (raise --ring-size)",
        ),
        (
            i.read_errors + e.read_errors,
            "packets not captured: kernel read error",
        ),
        (
            i.truncated + e.truncated,
            "packets truncated at the snap length (raise --snap-len)",
        ),
        (
            i.frag_table_full + e.frag_table_full,
            "fragmented datagrams not tracked in the kernel: their later fragments were missed",
        ),
        (
            d.fragments_timed_out,
            "datagrams incomplete: not all their IP fragments were seen",
        ),
        (d.fragment_errors, "IP fragments inconsistent and dropped"),
        (
            d.fragments_evicted,
            "fragmented datagrams dropped unfinished (too many at once)",
        ),
        (d.malformed, "frames malformed"),
        (s.malformed_records, "ring records malformed"),
        (
            s.pipeline.tracking.transactions_evicted + s.pipeline.tracking.registrations_evicted,
            "transactions or registrations dropped from tracking (too many at once)",
        ),
        (
            a.tcp.lost_bytes,
            "TCP bytes never seen (gaps in a stream; its SIP framing resynchronised)",
        ),
        (
            a.framing.skipped_bytes,
            "TCP bytes skipped while finding the next SIP message",
        ),
        (
            a.tcp.flows_evicted,
            "TCP connections dropped from tracking (too many at once)",
        ),
    ];
    let warnings = losses
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"));
    write_totals(out, &registrations, &s.pipeline.tracking)?;
    for w in warnings {
        writeln!(out, "WARNING: {w}")?;
    }
    Ok(())
}

fn direction_line(out: &mut impl Write, name: &str, c: &DirectionCounters) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} packets seen, {} SIP selected, {} copied, {} truncated, {} lost to a full ring, {} TLS (counted only)",
        c.seen, c.selected, c.copied, c.truncated, c.ring_full, c.tls
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_is_reported_in_words() {
        let mut s = CaptureSummary::default();
        s.kernel.egress.ring_full = 7;
        let mut out = Vec::new();
        write_summary(&mut out, &s, &Tracker::default(), true, LogView::FirstLine).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("7 packets not captured: ring buffer full"),
            "{text}"
        );
        assert_eq!(s.lost(), 7);
    }

    #[test]
    fn a_clean_run_has_no_warning() {
        let mut out = Vec::new();
        let summary = CaptureSummary::default();
        write_summary(
            &mut out,
            &summary,
            &Tracker::default(),
            true,
            LogView::FirstLine,
        )
        .unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("WARNING"));
    }
}
