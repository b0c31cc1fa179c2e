//! What the screens show, as plain data built once from a run: the
//! trunks (every registration, failing first, with its cause and fix),
//! the dialogs (sngrep's call list: one per Call-ID), the messages and
//! the ICMP errors and kernel drops seen beside them. Nothing here draws.
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    time::SystemTime,
};

use crate::{
    pbx::config::trunks::Trunks,
    report::{Found, MessageStore, registrations::details},
    say::{self, tui::DialogState},
    sip::Message,
    track::{Registration, Tracker},
};

/// One registration as the trunks screen lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    /// The address-of-record (the To URI).
    pub aor: String,
    /// The registrar as the REGISTERs named it.
    pub registrar: String,
    /// The state in words: "Rejected 403 ×7 since 16:00:50, retry every 10 s".
    pub status: String,
    /// The last final answer's code.
    pub last_code: Option<u16>,
    /// Seconds until the binding expires, at the end of the capture (a
    /// file) or now (live).
    pub expires_in: Option<u64>,
    /// The last REGISTER's round trip, microseconds.
    pub rtt_us: Option<u64>,
    /// Failing now (rejected, timed out, expired).
    pub failing: bool,
    /// The failure record, the PBX's next move, each cause and fix:
    /// (label, sentence) as the summary says them.
    pub details: Vec<(&'static str, String)>,
    /// Where its REGISTERs and answers are in [`Model::messages`].
    pub messages: Vec<usize>,
    /// Where its REGISTERs go: ICMP errors and drops about packets to or
    /// from it are tied to it.
    pub registrar_address: SocketAddr,
    /// `attach --echo`: what the path audit last found for it, in words
    /// ([`say::path_audit::describe`]: the path's rewrites, where a 408
    /// was lost, the NAT binding's lifetime).
    pub echo: Option<String>,
}

/// Something that happened to a packet beside the SIP messages: an ICMP
/// error quoting it, or this host's kernel dropping it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// When.
    pub at: SystemTime,
    /// The packet's source, as quoted or dropped.
    pub src: SocketAddr,
    /// The packet's destination.
    pub dst: SocketAddr,
    /// What happened, in a few words for the ladder's arrow.
    pub label: String,
    /// What happened, whole ([`say::tui::icmp`], [`say::tui::kernel_drop`]).
    pub text: String,
    /// Drawn from `dst` back to `src` (an ICMP error comes back from
    /// where the packet went); else from `src`, stopped at `dst` (a drop).
    pub back: bool,
}

/// One dialog (all messages of one Call-ID), as sngrep's call list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// The Call-ID.
    pub call_id: String,
    /// The first request's method.
    pub method: String,
    /// The From URI.
    pub from: String,
    /// The To URI.
    pub to: String,
    /// The first message's source.
    pub src: SocketAddr,
    /// The first message's destination.
    pub dst: SocketAddr,
    /// Where its messages are in [`Model::messages`], oldest first.
    pub messages: Vec<usize>,
    /// How it stands or ended.
    pub state: DialogState,
    /// Final answer codes to its method's requests, in order.
    pub codes: Vec<u16>,
    /// The first message's time.
    pub first: SystemTime,
    /// The last message's time.
    pub last: SystemTime,
}

impl Dialog {
    /// Whether it failed: rejected, busy, answered 4xx–6xx or not at all.
    pub fn failing(&self) -> bool {
        match &self.state {
            DialogState::Rejected | DialogState::Busy | DialogState::NoAnswer => true,
            DialogState::Answered(status) => status.starts_with(['4', '5', '6']),
            _ => false,
        }
    }
}

/// The counts the status line shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// SIP messages.
    pub messages: u64,
    /// Packets the kernel selected but the user never got.
    pub lost: u64,
    /// Messages the store let go.
    pub evicted: u64,
    /// Live: messages the screen could not take in time.
    pub not_shown: u64,
}

impl Counters {
    /// The losses not zero, in words for the status line.
    pub fn losses(&self) -> Vec<(&'static str, u64)> {
        [
            (say::tui::LOST_IN_KERNEL, self.lost),
            (say::tui::EVICTED, self.evicted),
            (say::tui::NOT_SHOWN, self.not_shown),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// Everything the screens show.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// "file x.pcap (pcap)", "live eth0".
    pub source: String,
    /// Every message, oldest first.
    pub messages: Vec<Message>,
    /// ICMP errors and kernel drops, oldest first.
    pub notes: Vec<Note>,
    /// Registrations, failing first.
    pub trunks: Vec<Trunk>,
    /// Dialogs, in the order they began.
    pub dialogs: Vec<Dialog>,
    /// The status line's counts.
    pub counters: Counters,
    /// Live: messages the screen refused, beyond its bound.
    pub refused: u64,
}

impl Model {
    /// The model of a finished run; `notes` what the UI heard of beside
    /// the messages, `trunks_config` the configuration read, if any.
    pub fn of_run(
        source: String,
        found: &Found<'_>,
        notes: Vec<Note>,
        trunks_config: Option<&Trunks>,
    ) -> Model {
        let empty = MessageStore::new(Default::default());
        let store = found.store.unwrap_or(&empty);
        let messages: Vec<Message> = store.iter().cloned().collect();
        let trunks = trunks(found.tracker, trunks_config, |aor| {
            store.binding_positions(aor)
        });
        let dialogs = dialogs(&messages);
        Model {
            source,
            counters: Counters {
                frames: found.summary.pipeline.frames,
                messages: found.summary.pipeline.messages,
                lost: found.summary.lost(),
                evicted: store.evicted(),
                not_shown: 0,
            },
            messages,
            notes,
            trunks,
            dialogs,
            refused: 0,
        }
    }
}

/// Each trunk with the path audit's latest finding for its AOR.
pub fn with_audit(trunks: &mut [Trunk], audit: Option<&crate::audit::Auditor>) {
    let Some(audit) = audit else { return };
    for a in audit.latest() {
        if let Some(t) = trunks.iter_mut().find(|t| t.aor == a.binding.aor) {
            t.echo = Some(say::path_audit::describe(a));
        }
    }
}

/// Every registration the tracker holds, failing first, then by AOR;
/// `positions` finds an AOR's messages.
pub fn trunks(
    tracker: &Tracker,
    config: Option<&Trunks>,
    positions: impl Fn(&str) -> Vec<usize>,
) -> Vec<Trunk> {
    let now = tracker.now();
    let mut out: Vec<Trunk> = tracker
        .registrations()
        .into_iter()
        .map(|r| trunk(r, now, config, &positions))
        .collect();
    out.sort_by(|a, b| b.failing.cmp(&a.failing).then_with(|| a.aor.cmp(&b.aor)));
    out
}

fn trunk(
    r: &Registration,
    now: Option<SystemTime>,
    config: Option<&Trunks>,
    positions: &dyn Fn(&str) -> Vec<usize>,
) -> Trunk {
    Trunk {
        aor: r.key.aor.clone(),
        registrar: say::registration::registrar(r),
        status: say::registration::status(r),
        last_code: r.last_code,
        expires_in: r
            .expires_at()
            .zip(now)
            .map(|(at, now)| at.duration_since(now).unwrap_or_default().as_secs()),
        rtt_us: r.response_us,
        failing: r.state().is_failing(),
        details: details(r, config),
        messages: positions(&r.key.aor),
        registrar_address: r.registrar_address,
        echo: None,
    }
}

/// The dialogs of `messages`: one per Call-ID, in the order they began.
pub fn dialogs(messages: &[Message]) -> Vec<Dialog> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let Some(id) = m.parsed().call_id().map(|c| c.into_owned()) else {
            continue;
        };
        by_id
            .entry(id.clone())
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(i);
    }
    order
        .into_iter()
        .filter_map(|id| {
            let at = by_id.remove(&id)?;
            Some(dialog(id, at, messages))
        })
        .collect()
}

fn dialog(call_id: String, at: Vec<usize>, messages: &[Message]) -> Dialog {
    let first = &messages[at[0]];
    let request = at
        .iter()
        .map(|&i| messages[i].parsed())
        .find(|p| p.method().is_some());
    let (method, from, to) = match &request {
        Some(p) => (
            p.method().unwrap_or("").to_owned(),
            p.from().map(|a| a.uri.text).unwrap_or_default(),
            p.to().map(|a| a.uri.text).unwrap_or_default(),
        ),
        None => Default::default(),
    };
    let mut codes = Vec::new();
    // The last request of the dialog's method, and its final answer.
    let mut current = None;
    let mut last_status = None;
    let (mut bye, mut cancel) = (false, false);
    for &i in &at {
        let p = messages[i].parsed();
        let Some(cseq) = p.cseq() else { continue };
        bye |= p.method() == Some("BYE");
        cancel |= p.method() == Some("CANCEL");
        if cseq.method != method {
            continue;
        }
        if p.method().is_some() && current != Some(cseq.seq) {
            current = Some(cseq.seq);
            last_status = None;
        }
        if let Some(code) = p.status().filter(|c| *c >= 200) {
            codes.push(code);
            if current == Some(cseq.seq) {
                last_status = first_line(&messages[i].bytes)
                    .strip_prefix("SIP/2.0 ")
                    .map(str::to_owned);
            }
        }
    }
    let state = if method == "INVITE" {
        match codes.last() {
            None if bye || cancel => DialogState::Cancelled,
            None => DialogState::CallSetup,
            Some(200..=299) if bye => DialogState::Completed,
            Some(200..=299) => DialogState::InCall,
            Some(300..=399) => DialogState::Diverted,
            Some(487) => DialogState::Cancelled,
            Some(486 | 600) => DialogState::Busy,
            Some(_) => DialogState::Rejected,
        }
    } else {
        match last_status {
            Some(s) => DialogState::Answered(s),
            None => DialogState::NoAnswer,
        }
    };
    Dialog {
        call_id,
        method,
        from,
        to,
        src: first.src,
        dst: first.dst,
        first: first.timestamp,
        last: messages[*at.last().unwrap_or(&at[0])].timestamp,
        messages: at,
        state,
        codes,
    }
}

/// A message's first line, lossily, without its line end.
pub fn first_line(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = memchr::memchr2(b'\r', b'\n', bytes).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

/// One line of a ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A message, by its place in [`Model::messages`]; `again` when it
    /// repeats one before it (a retransmission).
    Message {
        /// Where in [`Model::messages`].
        index: usize,
        /// A retransmission.
        again: bool,
    },
    /// An ICMP error or kernel drop, by its place in [`Model::notes`].
    Note(usize),
}

/// A ladder: its columns (one per address:port, in the order they first
/// appear) and its steps in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// One column per address:port.
    pub columns: Vec<SocketAddr>,
    /// Messages and notes, in time order.
    pub steps: Vec<Step>,
}

impl Model {
    /// The ladder of these messages (indices into [`Model::messages`]),
    /// with the ICMP errors and drops about the same addresses from the
    /// first message to the last plus Timer B (32 s).
    pub fn ladder(&self, indices: &[usize]) -> Ladder {
        let mut columns = Vec::new();
        let mut seen = HashSet::new();
        let mut steps = Vec::new();
        for &i in indices {
            let m = &self.messages[i];
            for a in [m.src, m.dst] {
                if !columns.contains(&a) {
                    columns.push(a);
                }
            }
            let again = !seen.insert(retransmission_key(m));
            steps.push((m.timestamp, Step::Message { index: i, again }));
        }
        let span = indices.first().zip(indices.last()).map(|(&a, &b)| {
            (
                self.messages[a].timestamp,
                self.messages[b].timestamp + crate::track::TIMER_B,
            )
        });
        if let Some((from, to)) = span {
            for (n, note) in self.notes.iter().enumerate() {
                let ours = columns.contains(&note.src) || columns.contains(&note.dst);
                if ours && note.at >= from && note.at <= to {
                    for a in [note.src, note.dst] {
                        if !columns.contains(&a) {
                            columns.push(a);
                        }
                    }
                    steps.push((note.at, Step::Note(n)));
                }
            }
        }
        steps.sort_by_key(|(at, _)| *at);
        Ladder {
            columns,
            steps: steps.into_iter().map(|(_, s)| s).collect(),
        }
    }

    /// The ICMP errors and drops about packets to or from trunk `t`'s
    /// registrar (indices into [`Model::notes`]).
    pub fn notes_of(&self, t: &Trunk) -> Vec<usize> {
        (0..self.notes.len())
            .filter(|&n| {
                let note = &self.notes[n];
                note.src == t.registrar_address || note.dst == t.registrar_address
            })
            .collect()
    }

    /// Every message of these dialogs (indices into [`Model::dialogs`]),
    /// in time order.
    pub fn messages_of(&self, dialogs: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = dialogs
            .iter()
            .filter_map(|&d| self.dialogs.get(d))
            .flat_map(|d| d.messages.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What the live capture sends the screen about once a second: what is
/// new since the last update, and the trunks and counts as they are now.
#[derive(Clone, Debug, Default)]
pub struct Update {
    /// Messages seen since the last update, oldest first.
    pub messages: std::collections::VecDeque<Message>,
    /// ICMP errors and drops since the last update.
    pub notes: Vec<Note>,
    /// Every registration now (their messages found on the screen's side).
    pub trunks: Vec<Trunk>,
    /// The counts now.
    pub counters: Counters,
}

impl Model {
    /// Takes in a live update, keeping at most `max_messages` messages:
    /// those beyond are counted ([`Counters::not_shown`]), never shown,
    /// so that the positions already on screen stay where they are.
    pub fn apply(&mut self, update: Update, max_messages: usize) {
        let room = max_messages.saturating_sub(self.messages.len());
        self.refused += update.messages.len().saturating_sub(room) as u64;
        self.messages.extend(update.messages.into_iter().take(room));
        self.notes.extend(update.notes);
        self.counters = Counters {
            not_shown: update.counters.not_shown + self.refused,
            ..update.counters
        };
        self.trunks = update.trunks;
        for t in &mut self.trunks {
            t.messages = binding_positions(&self.messages, &t.aor);
        }
        self.dialogs = dialogs(&self.messages);
    }
}

/// Where `aor`'s REGISTERs and their answers are in `messages`: by CSeq
/// method and To URI without parameters, as the store keys a binding.
pub fn binding_positions(messages: &[Message], aor: &str) -> Vec<usize> {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let p = m.parsed();
            p.cseq()
                .is_some_and(|c| c.method.eq_ignore_ascii_case("REGISTER"))
                && p.to()
                    .is_some_and(|to| to.uri.text.split(';').next() == Some(aor))
        })
        .map(|(i, _)| i)
        .collect()
}

/// What makes a message the same one again: its way, its whole bytes.
fn retransmission_key(m: &Message) -> (SocketAddr, SocketAddr, &[u8]) {
    (m.src, m.dst, &m.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::from_agent;

    /// One message of dialog `id`: a request (`METHOD`) or an answer
    /// (`SIP/2.0 …`) with its CSeq.
    fn sip(id: &str, ms: u64, first: &str, cseq: &str) -> Message {
        let from_pbx = !first.starts_with("SIP/2.0");
        from_agent(
            5060,
            ms,
            from_pbx,
            &format!(
                "{first}\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{id}{ms}\r\n\
                 From: <sip:1001@pbx.example>;tag=1\r\nTo: <sip:2000@pbx.example>\r\n\
                 Call-ID: {id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
            ),
        )
    }

    fn state(steps: &[(&str, &str)]) -> String {
        let messages: Vec<Message> = steps
            .iter()
            .enumerate()
            .map(|(n, (first, cseq))| sip("d", n as u64, first, cseq))
            .collect();
        let d = dialogs(&messages);
        assert_eq!(d.len(), 1);
        d[0].state.words()
    }

    const INVITE: &str = "INVITE sip:2000@pbx.example SIP/2.0";

    #[test]
    fn invite_dialogs_are_named_as_sngrep_names_them() {
        assert_eq!(state(&[(INVITE, "1 INVITE")]), "CALL SETUP");
        let busy = [(INVITE, "1 INVITE"), ("SIP/2.0 486 Busy Here", "1 INVITE")];
        assert_eq!(state(&busy), "BUSY");
        let answered = [(INVITE, "1 INVITE"), ("SIP/2.0 200 OK", "1 INVITE")];
        assert_eq!(state(&answered), "IN CALL");
        let ended = [
            (INVITE, "1 INVITE"),
            ("SIP/2.0 200 OK", "1 INVITE"),
            ("BYE sip:2000@pbx.example SIP/2.0", "2 BYE"),
        ];
        assert_eq!(state(&ended), "COMPLETED");
        let cancelled = [
            (INVITE, "1 INVITE"),
            ("CANCEL sip:2000@pbx.example SIP/2.0", "1 CANCEL"),
            ("SIP/2.0 487 Request Terminated", "1 INVITE"),
        ];
        assert_eq!(state(&cancelled), "CANCELLED");
        let refused = [(INVITE, "1 INVITE"), ("SIP/2.0 403 Forbidden", "1 INVITE")];
        assert_eq!(state(&refused), "REJECTED");
    }

    #[test]
    fn other_dialogs_are_named_by_their_last_requests_answer() {
        let options = "OPTIONS sip:pbx.example SIP/2.0";
        assert_eq!(
            state(&[(options, "1 OPTIONS"), ("SIP/2.0 200 OK", "1 OPTIONS")]),
            "200 OK"
        );
        let register = "REGISTER sip:pbx.example SIP/2.0";
        let steps = [
            (register, "1 REGISTER"),
            ("SIP/2.0 200 OK", "1 REGISTER"),
            (register, "2 REGISTER"),
        ];
        assert_eq!(state(&steps), "no answer");
    }
}
