//! The words of the terminal UI (`--tui`): screen titles, column heads,
//! the key bar and help screen, the dialog states as sngrep names them,
//! the status line, prompts and what a save did. The sentences about a
//! registration itself are [`super::registration`], [`super::diagnosis`]
//! and the rest of this module's siblings: the UI shows those as they are.
use std::net::SocketAddr;

use crate::{
    net::{DroppedPacket, IcmpError},
    sip::ParsedMessage,
};

/// The screens, as titled on their top line.
pub const TRUNKS: &str = "Trunks: registrations, failing first";
/// The call list.
pub const DIALOGS: &str = "Dialogs";
/// The ladder.
pub const FLOW: &str = "Flow";
/// The messages themselves.
pub const RAW: &str = "Raw (digest responses masked)";
/// Two messages side by side.
pub const DIFF: &str = "Diff";
/// The keys.
pub const HELP: &str = "Help: sipwatch --tui keys";
/// F10.
pub const COLUMNS: &str = "Dialog columns (Space: on / off, Esc: back)";

/// One line of F10's list: "[x] FROM".
pub fn column_choice(name: &str, on: bool) -> String {
    format!("[{}] {name}", if on { 'x' } else { ' ' })
}

/// The trunks table's column heads.
pub const TRUNK_COLUMNS: [&str; 5] = ["AOR", "STATE", "LAST", "EXPIRES", "RTT"];
/// The dialogs table's column heads, in sngrep's order, Call-ID last
/// (shown on demand).
pub const DIALOG_COLUMNS: [&str; 10] = [
    "IDX",
    "METHOD",
    "FROM",
    "TO",
    "SOURCE",
    "DESTINATION",
    "MSGS",
    "STATE",
    "FIRST",
    "CALL-ID",
];
/// The detail panel's title under the trunks table.
pub const DETAILS: &str = "Cause and fix";
/// A healthy trunk's detail panel.
pub const NOTHING_WRONG: &str = "Nothing wrong seen with this registration.";
/// No registration in the run.
pub const NO_TRUNKS: &str = "(no REGISTER seen: Tab shows every dialog)";
/// No dialog in the run, or none through the filter.
pub const NO_DIALOGS: &str = "(no dialog, or none through the filter: F7 changes it)";
/// The diff screen before two messages are chosen.
pub const DIFF_HOW: &str = "Space on two messages in the flow compares them.";

/// The key bar at the foot of each screen (sngrep's).
pub fn keys(screen: &str) -> &'static str {
    match screen {
        "trunks" => "Enter flow  Tab dialogs  F1 help  F2 save  / search  F7 filter  q quit",
        "dialogs" => {
            "q quit  Enter flow  Space select  F2 save  / search  F7 filter  F10 cols  Tab trunks"
        }
        "flow" => "j/k move  Space diff  F6 raw  F2 save  Esc back  F1 help",
        _ => "j/k scroll  Esc back  F1 help  q quit",
    }
}

/// The help screen, one key a line.
pub const HELP_LINES: &[&str] = &[
    "Everywhere",
    "  ↑ ↓ j k          move; PgUp PgDn Home End by pages",
    "  Enter            open: a trunk's or dialog's flow (ladder)",
    "  Esc              back to the screen before",
    "  Tab              trunks ⇄ dialogs",
    "  F1 h ?           this help",
    "  F2 s             save the selected dialogs, else the flow shown,",
    "                   else every dialog through the filter: .pcapng, .pcap, .txt",
    "  F3 /             search (From, To, Call-ID, method, addresses)",
    "  F7 f             filter: method:INVITE code:403 addr:203.0.113.2",
    "                   aor:alice failing (all must match; empty clears)",
    "  q  Ctrl-C        quit (q goes back first from flow, raw, diff)",
    "Dialogs",
    "  Space            select a dialog (Enter then shows the selected together)",
    "  c                show the Call-ID column",
    "  F10              the columns: Space turns one on or off",
    "Flow",
    "  Space            mark a message; the second mark shows both side by side",
    "  F6 r             every message of the flow, raw",
    "  the right pane   the selected message raw, digest responses masked",
    "  retr.            a retransmission (the same request or answer again)",
    "  !                an ICMP error or a packet this host's kernel dropped",
];

/// A dialog's state: INVITE dialogs as sngrep names them, any other
/// method by how its last transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// An INVITE not answered finally yet.
    CallSetup,
    /// An INVITE answered 2xx, no BYE yet.
    InCall,
    /// CANCELled before an answer (487).
    Cancelled,
    /// Answered 486 or 600.
    Busy,
    /// Answered 3xx.
    Diverted,
    /// Answered 4xx–6xx otherwise.
    Rejected,
    /// Answered 2xx, then a BYE.
    Completed,
    /// A REGISTER, OPTIONS, SUBSCRIBE… finally answered: its status line.
    Answered(String),
    /// A request that no answer was seen to.
    NoAnswer,
}

impl DialogState {
    /// What a user reads, in sngrep's words for INVITE dialogs.
    pub fn words(&self) -> String {
        match self {
            DialogState::CallSetup => "CALL SETUP".into(),
            DialogState::InCall => "IN CALL".into(),
            DialogState::Cancelled => "CANCELLED".into(),
            DialogState::Busy => "BUSY".into(),
            DialogState::Diverted => "DIVERTED".into(),
            DialogState::Rejected => "REJECTED".into(),
            DialogState::Completed => "COMPLETED".into(),
            DialogState::Answered(status) => status.clone(),
            DialogState::NoAnswer => "no answer".into(),
        }
    }
}

/// An ICMP error beside the ladder: "! ICMP port unreachable from 203.0.113.2".
pub fn icmp(e: &IcmpError) -> String {
    match e.mtu {
        Some(mtu) => format!("! ICMP {} (MTU {mtu}) from {}", e.kind, e.reporter),
        None => format!("! ICMP {} from {}", e.kind, e.reporter),
    }
}

/// An ICMP error's arrow on the ladder: "! ICMP port unreachable".
pub fn icmp_label(e: &IcmpError) -> String {
    format!("! ICMP {}", e.kind)
}

/// A kernel drop's arrow on the ladder.
pub const DROP_LABEL: &str = "! dropped by this host";

/// A kernel drop beside the ladder: "! dropped here by the firewall (…)".
pub fn kernel_drop(d: &DroppedPacket) -> String {
    format!(
        "! dropped here by {}",
        super::kernel_drop::describe(&d.drop)
    )
}

/// Under a trunk's cause and fix: the ICMP errors and drops about its
/// registrar's packets, "path : 22 ICMP errors or drops on the way to or
/// from its registrar; the last: ! ICMP port unreachable from 198.51.100.71".
pub fn tied_notes(n: usize, last: &str) -> String {
    format!(
        "path : {} on the way to or from its registrar; the last: {last}",
        super::count(n as u64, "ICMP error or drop", "ICMP errors or drops")
    )
}

/// Under a trunk's cause and fix (`attach --echo`): the path audit's
/// latest finding, "echo : …".
pub fn echo_finding(finding: &str) -> String {
    format!("echo : {finding}")
}

/// A message on the ladder: its label and whether it was sent again.
pub fn arrow_label(first_line: &str, retransmission: bool) -> String {
    let label = match first_line.strip_prefix("SIP/2.0 ") {
        Some(status) => status.to_owned(),
        None => first_line.split(' ').next().unwrap_or("").to_owned(),
    };
    if retransmission {
        format!("{label} retr.")
    } else {
        label
    }
}

/// The expiry countdown cell: "3540 s", "-".
pub fn expires_in(secs: Option<u64>) -> String {
    secs.map_or("-".into(), |s| format!("{s} s"))
}

/// The round-trip cell: "12.3 ms", "-".
pub fn rtt(us: Option<u64>) -> String {
    us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0))
}

/// What the status line says about the run (always on screen).
pub struct Status<'a> {
    /// "file trunk.pcapng (pcapng)" or "live eth0".
    pub source: &'a str,
    /// Frames read.
    pub frames: u64,
    /// SIP messages.
    pub messages: u64,
    /// Every loss, counted: (what, how many), only those not zero.
    pub losses: &'a [(&'static str, u64)],
    /// The filter in force, as typed.
    pub filter: &'a str,
    /// The search in force.
    pub search: &'a str,
}

/// The status line, what matters first where 80 columns cut it: "file
/// x.pcap · filter: code:403 · LOSS 3 lost in the kernel… · 120 frames ·
/// 40 messages", or "… · no loss" at its end.
pub fn status(s: &Status<'_>) -> String {
    let mut line = s.source.to_owned();
    if !s.filter.is_empty() {
        line.push_str(&format!(" · filter: {}", s.filter));
    }
    if !s.search.is_empty() {
        line.push_str(&format!(" · search: {}", s.search));
    }
    for (what, n) in s.losses {
        line.push_str(&format!(" · LOSS {n} {what}"));
    }
    line.push_str(&format!(
        " · {} · {}",
        super::count(s.frames, "frame", "frames"),
        super::count(s.messages, "message", "messages")
    ));
    if s.losses.is_empty() {
        line.push_str(" · no loss");
    }
    line
}

/// A capture file as the status line names it.
pub fn file_source(name: &str) -> String {
    format!("file {name}")
}

/// A live capture as the status line names it.
pub fn live_source(interface: &str) -> String {
    format!("live {interface}")
}

/// The losses the status line counts, by what was lost.
pub const LOST_IN_KERNEL: &str = "lost in the kernel (ring full, truncated, undecodable)";
/// Messages let go by the message store.
pub const EVICTED: &str = "messages evicted from the message store";
/// Live: messages the screen could not take in time (the capture goes on).
pub const NOT_SHOWN: &str = "messages not shown (the screen fell behind)";

/// The prompts of the input line.
pub const SEARCH_PROMPT: &str = "Search: ";
/// F7.
pub const FILTER_PROMPT: &str = "Filter (method: code: addr: aor: failing): ";
/// F2.
pub const SAVE_PROMPT: &str = "Save to (.pcapng, .pcap or .txt): ";
/// F2's proposed file name.
pub const SAVE_DEFAULT: &str = "sipwatch-saved.pcapng";

/// What a save did.
pub fn saved(messages: usize, dialogs: usize, path: &str) -> String {
    format!(
        "saved {} of {} to {path}",
        super::count(messages as u64, "message", "messages"),
        super::count(dialogs as u64, "dialog", "dialogs")
    )
}

/// Why a save failed.
pub fn not_saved(path: &str, why: &str) -> String {
    format!("could not save to {path}: {why}")
}

/// A filter word that is not one of the filter's.
pub fn bad_filter(word: &str) -> String {
    format!(
        "filter not understood: {word} (method:INVITE code:403 addr:203.0.113.2 aor:alice failing)"
    )
}

/// Where a message went, for the raw pane's title: "192.168.1.10:5060 → 203.0.113.2:5060".
pub fn way(src: SocketAddr, dst: SocketAddr) -> String {
    format!("{src} → {dst}")
}

/// A sngrep-style one-letter mark of a selected row.
pub const SELECTED: &str = "*";

/// A message's parsed fields above its raw bytes: its CSeq and Expires,
/// the digest credentials it carries (the response never shown), the
/// challenges it makes, and what is malformed in it.
pub fn parsed_fields(p: &ParsedMessage<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = p.cseq() {
        let mut line = format!("CSeq {} {}", c.seq, c.method);
        if let Some(e) = p.expires() {
            line.push_str(&format!(" · Expires {e} s"));
        }
        out.push(line);
    }
    let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let algorithm = |v: &Option<String>| v.clone().unwrap_or_else(|| "MD5".into());
    for c in p.authorization().into_iter().chain(p.proxy_authorization()) {
        out.push(format!(
            "credentials: user {}, realm {}, algorithm {}",
            unset(&c.username),
            unset(&c.realm),
            algorithm(&c.algorithm)
        ));
    }
    for c in p.www_authenticate().iter().chain(&p.proxy_authenticate()) {
        out.push(format!(
            "challenge: realm {}, algorithm {}{}",
            unset(&c.realm),
            algorithm(&c.algorithm),
            if c.stale { ", stale" } else { "" }
        ));
    }
    if !p.index.problems.is_empty() {
        out.push(format!(
            "malformed: {}",
            super::malformed::describe(&p.index.problems)
        ));
    }
    out
}
