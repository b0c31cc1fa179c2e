//! The end-of-run summary in words: the registrations with their causes
//! and fixes, what the kernel counted, what user space decoded, and in
//! plain words anything that was lost.
use std::io::{self, Write};

use super::{
    Count, Output, RunEnd,
    registrations::{write_table_in, write_totals},
};
use crate::{
    capture::{Counters, DirectionCounters, Hook},
    net::{ConnectionStats, DecodeStats, NotOpened},
    pbx::config::trunks::Trunks,
    sip::{AssemblyStats, KeepAlives},
    track::TrackStats,
};

/// What the pipeline counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    /// Frames read (captured, or from the file).
    pub frames: u64,
    /// SIP messages (and non-SIP datagrams on SIP ports) passed to the outputs.
    pub messages: u64,
    /// Frames to datagrams: what was decoded or reassembled from
    /// fragments, what was not UDP or TCP, and what was lost.
    pub decode: DecodeStats,
    /// Datagrams to SIP messages: TCP reassembly and framing, and what was
    /// not SIP.
    pub assembly: AssemblyStats,
    /// TCP connections on the SIP ports watched for their faults.
    pub connections: ConnectionStats,
    /// Transactions, retransmissions and timeouts (RFC 3261 §17 timers),
    /// and what tracking dropped to stay within bounds.
    pub tracking: TrackStats,
    /// SIP packets this host's kernel dropped (live, the drop tracer).
    pub kernel_drops: crate::net::DropStats,
}

/// Everything a capture run counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureSummary {
    /// The kernel programs' counters (all zero for a file).
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

/// The summary in words, at the end of every text view.
#[derive(Default)]
pub struct TextSummary {
    /// The configuration read (`--config-dir`): each fix names its section.
    pub config: Option<std::sync::Arc<Trunks>>,
}

impl Output for TextSummary {
    fn finish(&mut self, out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
        let out = &mut super::printable::Printable::new(out);
        if let Some(source) = end.source {
            writeln!(out, "--- {source} ---")?;
        }
        write_summary_in(out, end, self.config.as_deref())
    }
}

/// One line per flow that sent keep-alives: "keep-alives: 192.168.77.10:5060
/// -> 203.0.113.2:5060 every 30 s (12, CRLF CRLF)", and, where the path audit
/// measured how long the NAT keeps the PBX's mapping, whether that is often
/// enough.
fn write_keep_alives(
    out: &mut dyn Write,
    keep_alives: &KeepAlives,
    audit: Option<&crate::audit::Auditor>,
) -> io::Result<()> {
    for f in keep_alives.flows() {
        let every = match (f.count, f.interval_ms()) {
            (1, _) => format!("once ({})", f.kind),
            (n, Some(ms)) => format!("every {} ({n}, {})", seconds(ms), f.kind),
            (n, None) => format!("{n} times ({})", f.kind),
        };
        let nat = audit
            .and_then(|a| nat_lifetime(a, f.src.port()))
            .map(|(at_least_s, less_than_s)| match (f.interval_ms(), less_than_s) {
                (Some(ms), Some(l)) if ms >= l * 1000 => format!(
                    "; the NAT forgets the mapping after {at_least_s} to {l} s of silence (path audit): too seldom to keep it"
                ),
                (_, Some(l)) => format!(
                    "; the NAT keeps the mapping {at_least_s} to {l} s (path audit)"
                ),
                (_, None) => format!("; the NAT keeps the mapping at least {at_least_s} s (path audit)"),
            })
            .unwrap_or_default();
        let over = match f.transport {
            crate::net::Transport::Udp => String::new(),
            other => format!(" over {other}"),
        };
        writeln!(
            out,
            "keep-alives: {} -> {}{over} {every}{nat}",
            f.src, f.dst
        )?;
    }
    if keep_alives.other_flows() > 0 {
        writeln!(
            out,
            "keep-alives: {} more on other flows",
            keep_alives.other_flows()
        )?;
    }
    Ok(())
}

/// TLS: how many sessions were read, then each one not read or whose
/// handshake failed, with its fix, and the key log's malformed lines.
fn write_tls(out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
    let t = &end.summary.pipeline.assembly.tls;
    for e in end.keylog_errors.iter().take(10) {
        writeln!(out, "{}", crate::say::tls::keylog_line(e))?;
    }
    if t.is_empty() {
        return Ok(());
    }
    write!(
        out,
        "TLS: {}, {} decrypted ({} bytes of plaintext), {} not decrypted, {} failed in the handshake",
        crate::say::count(t.sessions, "session", "sessions"),
        t.decrypted,
        t.plaintext_bytes,
        t.unreadable,
        t.failed
    )?;
    if t.read_in_process > 0 {
        write!(out, ", {} read in clear in the process", t.read_in_process)?;
    }
    writeln!(out)?;
    for s in end.tls_sessions {
        for line in crate::say::tls::session(s) {
            writeln!(out, "{line}")?;
        }
    }
    if t.not_listed > 0 {
        writeln!(out, "TLS: {} more not listed", t.not_listed)?;
    }
    for line in crate::say::tls::losses(t) {
        writeln!(out, "WARNING: {line}")?;
    }
    Ok(())
}

/// What the path audit measured of the NAT mapping of the PBX's `port`
/// (at least, less than; s).
fn nat_lifetime(audit: &crate::audit::Auditor, port: u16) -> Option<(u64, Option<u64>)> {
    let port = format!(":{port}");
    audit.latest().into_iter().find_map(|a| match a.outcome {
        crate::audit::AuditOutcome::NatLifetime {
            at_least_s,
            less_than_s,
            ..
        } if a.binding.contact.ends_with(&port) => Some((at_least_s, less_than_s)),
        _ => None,
    })
}

/// Milliseconds as seconds: "30 s", "2.5 s".
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// The frames not opened, by kind: "; not opened: 12 frames of L2TP, 3 of
/// ARP" (empty when there were none).
fn not_opened(frames: u64, kinds: &NotOpened) -> String {
    let mut parts: Vec<String> = kinds
        .kinds()
        .enumerate()
        .map(|(i, (kind, n))| {
            let frames = if i == 0 { " frames" } else { "" };
            format!("{n}{frames} of {kind}")
        })
        .collect();
    if kinds.others() > 0 {
        parts.push(format!("{} of other kinds", kinds.others()));
    }
    // Frames counted before they could be named (none, as the decoder is
    // written; kept so the sum always shows).
    let unnamed = frames.saturating_sub(kinds.total());
    if unnamed > 0 {
        parts.push(format!("{unnamed} other frames"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; not opened: {}", parts.join(", "))
    }
}

/// The table with each failure's cause and fix, the kernel's counters
/// (live), what was decoded, and a WARNING line for every loss.
pub fn write_summary(out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
    write_summary_in(out, end, None)
}

/// [`write_summary`], each fix naming its configuration section.
pub fn write_summary_in(
    out: &mut dyn Write,
    end: &RunEnd<'_>,
    trunks: Option<&Trunks>,
) -> io::Result<()> {
    let s = end.summary;
    let registrations = end.tracker.registrations();
    write_table_in(out, &registrations, end.tracker.now(), trunks)?;
    if let Some(audit) = end.audit {
        write_audit(out, audit)?;
    }
    if end.live {
        writeln!(out, "--- capture summary ---")?;
        let ingress = hook_name(s.kernel.ingress_hook);
        let egress = hook_name(s.kernel.egress_hook);
        direction_line(out, &format!("ingress ({ingress})"), &s.kernel.ingress)?;
        direction_line(out, &format!("egress ({egress}) "), &s.kernel.egress)?;
        write_kernel_drops(out, end)?;
    }
    let d = &s.pipeline.decode;
    let a = &s.pipeline.assembly;
    writeln!(
        out,
        "decoded: {} frames read, {} datagrams/segments ({} reassembled from fragments), {} messages ({} over TCP{})",
        s.pipeline.frames,
        d.datagrams,
        d.reassembled,
        s.pipeline.messages,
        a.framing.messages,
        if a.tls.is_empty() { "" } else { " or TLS" }
    )?;
    let n = &a.not_sip;
    let other_protocols = d.not_ip + d.not_udp_tcp;
    if !n.is_empty() || other_protocols > 0 {
        writeln!(
            out,
            "not SIP, passed over: {} UDP datagrams ({} bytes), {} TCP streams ({} segments, {} bytes), {} ICMP errors about other traffic{}",
            n.udp_datagrams,
            n.udp_bytes,
            n.tcp_streams,
            n.tcp_segments,
            n.tcp_bytes,
            n.icmp_errors,
            not_opened(other_protocols, &d.not_opened)
        )?;
    }
    write_keep_alives(out, &a.keep_alives, end.audit)?;
    write_tls(out, end)?;
    let (i, e) = (&s.kernel.ingress, &s.kernel.egress);
    let losses: [(u64, &str); 18] = [
        (
            i.kernel_drop_lost + e.kernel_drop_lost,
            "SIP packets dropped by this host's kernel not shown: ring buffer full (raise --ring-size)",
        ),
        (
            i.kernel_drop_not_copied + e.kernel_drop_not_copied,
            "SIP packets dropped by this host's kernel counted, not shown: over 2000 a second on one CPU (a flood its firewall drops)",
        ),
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
        (
            s.kernel.sip_endpoints_forgotten,
            "endpoints off the SIP ports forgotten by the kernel's table (4096 at once): ICMP errors and TCP about them were no longer captured",
        ),
        (
            a.sip_endpoints_evicted,
            "endpoints off the SIP ports forgotten (too many at once): ICMP errors and TCP about them may have been passed over",
        ),
        (
            s.pipeline.connections.evicted + s.pipeline.tracking.connection_faults_evicted,
            "TCP connections or their faults dropped from watching (too many at once)",
        ),
    ];
    let warnings = losses
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"));
    // The outputs' and stages' own counts: losses warned about, the
    // others told; none of them when zero.
    let (lost, told): (Vec<&Count>, Vec<&Count>) =
        end.counts.iter().filter(|c| c.n > 0).partition(|c| c.loss);
    for c in told {
        writeln!(out, "{}: {} {}", c.by, c.n, c.what)?;
    }
    write_totals(out, &registrations, &s.pipeline.tracking)?;
    for w in warnings {
        writeln!(out, "WARNING: {w}")?;
    }
    for c in lost {
        writeln!(out, "WARNING: {} {} ({})", c.n, c.what, c.by)?;
    }
    Ok(())
}

/// What this host's kernel dropped, by reason, or why that is not known.
fn write_kernel_drops(out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
    if let Some(why) = end.drop_problem {
        return writeln!(
            out,
            "WARNING: SIP dropped by this host's own kernel is not traced: {why}"
        );
    }
    // The kernel's count also holds the audit's own (shadows, the echo's
    // consumed answers), which the audit's line tells.
    let d = &end.summary.pipeline.kernel_drops;
    if d.unreadable > 0 {
        writeln!(
            out,
            "WARNING: {} dropped by this host's kernel and not readable (not UDP or TCP, or cut before their ports)",
            crate::say::count(d.unreadable, "packet", "packets")
        )?;
    }
    if d.for_another_host > 0 {
        writeln!(
            out,
            "frames addressed to other hosts, read and then dropped by this host's kernel as not its own (a mirror port's copies): {}",
            d.for_another_host
        )?;
    }
    if d.leaving + d.arriving == 0 {
        return writeln!(out, "dropped by this host's kernel: no SIP packet");
    }
    let packets = |n: u64| crate::say::count(n, "packet", "packets");
    let reasons: Vec<String> = end
        .kernel_drops
        .iter()
        .map(|(drop, n)| {
            let way = match drop.way {
                crate::net::DropWay::Leaving => "leaving",
                crate::net::DropWay::Arriving => "arriving",
            };
            format!(
                "{} {way} ×{n}",
                drop.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    writeln!(
        out,
        "dropped by this host's kernel, on the SIP ports: {} leaving, {} arriving ({})",
        packets(d.leaving),
        packets(d.arriving),
        reasons.join(", ")
    )
}

/// The latest audit of each of the PBX's registrations, and the shadows'
/// counters.
pub(super) fn write_audit(out: &mut dyn Write, audit: &crate::audit::Auditor) -> io::Result<()> {
    writeln!(
        out,
        "--- path audit (shadow REGISTERs through the echo) ---"
    )?;
    let latest = audit.latest();
    if latest.is_empty() {
        writeln!(out, "(no REGISTER audited yet)")?;
    }
    for a in latest {
        writeln!(out, "{}", crate::say::path_audit::describe(a))?;
    }
    let c = audit.counters();
    writeln!(
        out,
        "shadows: {} sent, {} answered, {} dropped by this host's kernel; not sent: {} over the rate cap, {} too large, {} of another address family than the echo's, {} send errors",
        c.shadows_sent,
        c.shadows_answered,
        c.dropped_here,
        c.skipped_rate,
        c.skipped_too_large,
        c.skipped_transport,
        c.send_errors
    )?;
    if let Some(problem) = &audit.send_problem {
        writeln!(out, "WARNING: {problem}")?;
    }
    if let Some(stopped) = &audit.stopped {
        writeln!(out, "WARNING: {stopped}")?;
    }
    if c.bindings_forgotten > 0 {
        writeln!(
            out,
            "WARNING: {} registrations forgotten by the audit (more than 20000 at once)",
            c.bindings_forgotten
        )?;
    }
    Ok(())
}

/// The short name of the hook that filled a direction's counters (the
/// line already says the direction); none on loopback's ingress, whose
/// packets are all seen leaving.
fn hook_name(hook: Option<Hook>) -> &'static str {
    match hook {
        Some(Hook::Xdp) => "XDP",
        Some(Hook::Tc | Hook::TcIngress) => "TC",
        None => "no hook",
    }
}

fn direction_line(out: &mut dyn Write, name: &str, c: &DirectionCounters) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} packets seen, {} SIP selected, {} copied, {} truncated, {} lost to a full ring, {} TLS (counted only)",
        c.seen, c.selected, c.copied, c.truncated, c.ring_full, c.tls
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::Tracker;

    fn text(s: &CaptureSummary) -> String {
        text_with(s, &[])
    }

    fn text_with(s: &CaptureSummary, counts: &[Count]) -> String {
        let mut out = Vec::new();
        let tracker = Tracker::default();
        let end = RunEnd {
            summary: s,
            tracker: &tracker,
            live: true,
            audit: None,
            source: None,
            kernel_drops: &[],
            drop_problem: None,
            stopped: None,
            counts,
            hep: None,
            tls_sessions: &[],
            keylog_errors: &[],
        };
        TextSummary::default().finish(&mut out, &end).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_counters_lines_name_the_hook_that_filled_them() {
        let mut s = CaptureSummary::default();
        s.kernel.ingress_hook = Some(Hook::Xdp);
        s.kernel.egress_hook = Some(Hook::Tc);
        let text_xdp = text(&s);
        assert!(text_xdp.contains("ingress (XDP): "), "{text_xdp}");
        assert!(text_xdp.contains("egress (TC) : "), "{text_xdp}");
        let mut s = CaptureSummary::default();
        s.kernel.ingress_hook = Some(Hook::TcIngress);
        s.kernel.egress_hook = Some(Hook::Tc);
        let text_tc = text(&s);
        assert!(text_tc.contains("ingress (TC): "), "{text_tc}");
        assert!(!text_tc.contains("(XDP)"), "{text_tc}");
        s.kernel.ingress_hook = None;
        let text_lo = text(&s);
        assert!(text_lo.contains("ingress (no hook): "), "{text_lo}");
    }

    #[test]
    fn a_full_ring_is_reported_in_words() {
        let mut s = CaptureSummary::default();
        s.kernel.egress.ring_full = 7;
        let text = text(&s);
        assert!(
            text.contains("7 packets not captured: ring buffer full"),
            "{text}"
        );
        assert_eq!(s.lost(), 7);
    }

    #[test]
    fn a_clean_run_has_no_warning() {
        assert!(!text(&CaptureSummary::default()).contains("WARNING"));
    }

    #[test]
    fn an_outputs_own_counts_show_only_when_not_zero_a_loss_as_a_warning() {
        let count = |what, n, loss| Count {
            by: "message store",
            what,
            n,
            loss,
        };
        let s = CaptureSummary::default();
        let quiet = text_with(&s, &[count("messages evicted", 0, true)]);
        assert_eq!(quiet, text(&s));
        let text = text_with(
            &s,
            &[
                count("messages evicted (over its budget)", 3, true),
                count("messages kept", 9, false),
            ],
        );
        assert!(
            text.contains("WARNING: 3 messages evicted (over its budget) (message store)"),
            "{text}"
        );
        assert!(text.contains("message store: 9 messages kept"), "{text}");
    }
}
