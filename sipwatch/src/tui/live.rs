//! `attach IFACE --tui`: the screen in a thread of its own, fed by the
//! pipeline through a bounded channel. The capture never waits for the
//! screen: once a second ([`Output::tick`]) what is new goes over if the
//! screen took the last update, else it waits for the next tick with
//! what comes after it (a redraw dropped, nothing lost); past
//! [`PENDING`] messages waiting, the oldest are let go and counted
//! ([`Counters::not_shown`], in the status line and the summary).
use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::AtomicBool,
        mpsc::{self, SyncSender, TrySendError},
    },
    thread::JoinHandle,
};

use super::{
    App, drop_note, icmp_note,
    model::{Counters, Model, Update, trunks, with_audit},
    terminal,
};
use crate::{
    audit::Auditor,
    capture::Frame,
    net::{DroppedPacket, IcmpError},
    pbx::config::trunks::Trunks,
    report::{Count, Output, RunEnd, Snapshot},
    say,
    sip::{Message, ParsedMessage},
    track::Tracker,
};

/// Messages waiting for the screen at most; beyond, the oldest go.
pub const PENDING: usize = 50_000;

/// Messages the screen keeps at most; beyond, new ones are counted, not
/// shown (64 MiB of typical REGISTERs and answers).
pub const SHOWN: usize = 100_000;

/// Calls its function when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The live screen as an output of the pipeline.
pub struct LiveTui {
    tx: Option<SyncSender<Update>>,
    ui: Option<JoinHandle<io::Result<()>>>,
    config: Option<Arc<Trunks>>,
    pending: Update,
    frames: u64,
    messages: u64,
    not_shown: u64,
    redraws_dropped: u64,
}

impl LiveTui {
    /// Opens the screen in its own thread for a capture on `interface`;
    /// `on_quit` runs once the user has left it and the terminal is
    /// restored (the caller stops the capture then); `closed` set closes
    /// the screen (the capture was stopped from outside).
    pub fn start(
        interface: &str,
        config: Option<Arc<Trunks>>,
        closed: Arc<AtomicBool>,
        on_quit: impl FnOnce() + Send + 'static,
    ) -> io::Result<LiveTui> {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut live = LiveTui::feeding(tx, config);
        let model = Model {
            source: say::tui::live_source(interface),
            ..Model::default()
        };
        let ui = std::thread::Builder::new()
            .name("sipwatch-tui".into())
            .spawn(move || {
                let feed = terminal::Feed {
                    updates: rx,
                    closed,
                };
                // Run on the way out, a panic included: the capture stops
                // rather than go on with no screen.
                let _stop = OnDrop(Some(on_quit));
                terminal::run(&mut App::new(model), Some(feed))
            })?;
        live.ui = Some(ui);
        Ok(live)
    }

    /// Feeds `tx` (a channel of one: the screen takes an update, or the
    /// next tick tries again), no screen of its own.
    pub fn feeding(tx: SyncSender<Update>, config: Option<Arc<Trunks>>) -> LiveTui {
        LiveTui {
            tx: Some(tx),
            ui: None,
            config,
            pending: Update::default(),
            frames: 0,
            messages: 0,
            not_shown: 0,
            redraws_dropped: 0,
        }
    }

    /// Updates not sent because the screen had not taken the one before
    /// (redraws dropped; their messages went with the next).
    pub fn redraws_dropped(&self) -> u64 {
        self.redraws_dropped
    }

    /// What is new and the trunks now, to the screen if it is ready.
    fn offer(&mut self, tracker: &Tracker, audit: Option<&Auditor>, lost: u64) {
        self.pending.trunks = trunks(tracker, self.config.as_deref(), |_| Vec::new());
        with_audit(&mut self.pending.trunks, audit);
        self.pending.counters = Counters {
            frames: self.frames,
            messages: self.messages,
            lost,
            evicted: 0,
            not_shown: self.not_shown,
        };
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(std::mem::take(&mut self.pending)) {
            Ok(()) => {}
            Err(TrySendError::Full(back)) => {
                self.pending = back;
                self.redraws_dropped += 1;
            }
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }
}

impl Output for LiveTui {
    fn frame(&mut self, _frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        Ok(())
    }

    fn message(
        &mut self,
        _out: &mut dyn Write,
        message: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        if parsed.is_none() || self.tx.is_none() {
            return Ok(());
        }
        self.messages += 1;
        if self.pending.messages.len() >= PENDING {
            self.pending.messages.pop_front();
            self.not_shown += 1;
        }
        self.pending.messages.push_back(message.clone());
        Ok(())
    }

    fn icmp(&mut self, _out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        self.pending.notes.push(icmp_note(e));
        Ok(())
    }

    fn kernel_drop(&mut self, _out: &mut dyn Write, d: &DroppedPacket) -> io::Result<()> {
        self.pending.notes.extend(drop_note(d));
        Ok(())
    }

    fn tick(&mut self, _out: &mut dyn Write, now: &Snapshot<'_>) -> io::Result<()> {
        let lost = now.kernel.map_or(0, |k| k.ingress.lost() + k.egress.lost());
        self.offer(now.tracker, now.audit, lost);
        Ok(())
    }

    /// The last of the run goes to the screen (waiting for it now: the
    /// capture is over), then the user browses it until they leave.
    fn finish(&mut self, _out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
        self.pending.trunks = trunks(end.tracker, self.config.as_deref(), |_| Vec::new());
        with_audit(&mut self.pending.trunks, end.audit);
        self.pending.counters = Counters {
            frames: self.frames,
            messages: self.messages,
            lost: end.summary.lost(),
            evicted: 0,
            not_shown: self.not_shown,
        };
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(std::mem::take(&mut self.pending));
        }
        match self.ui.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => Err(io::Error::other("the screen's thread panicked")),
            None => Ok(()),
        }
    }

    fn counters(&self) -> Vec<Count> {
        vec![Count {
            by: "--tui",
            what: say::tui::NOT_SHOWN,
            n: self.not_shown,
            loss: true,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::from_agent;

    fn register(n: u64) -> Message {
        from_agent(
            5060,
            n,
            true,
            &format!(
                "REGISTER sip:203.0.113.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.77.10:5060;branch=z9hG4bK-{n}\r\n\
                 From: <sip:alice@203.0.113.2>;tag=1\r\nTo: <sip:alice@203.0.113.2>\r\nCall-ID: a\r\n\
                 CSeq: {n} REGISTER\r\nContent-Length: 0\r\n\r\n"
            ),
        )
    }

    fn push(live: &mut LiveTui, m: &Message) {
        live.message(&mut io::sink(), m, Some(&m.parsed())).unwrap();
    }

    fn tick(live: &mut LiveTui) {
        let tracker = Tracker::default();
        let now = Snapshot {
            tracker: &tracker,
            audit: None,
            kernel: None,
            hep: None,
            tls: Default::default(),
        };
        live.tick(&mut io::sink(), &now).unwrap();
    }

    #[test]
    fn a_screen_that_falls_behind_drops_redraws_never_messages() {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut live = LiveTui::feeding(tx, None);
        push(&mut live, &register(1));
        tick(&mut live);
        push(&mut live, &register(2));
        // The screen has not taken the first update: this one waits.
        tick(&mut live);
        assert_eq!(live.redraws_dropped(), 1);
        push(&mut live, &register(3));
        let first = rx.try_recv().unwrap();
        tick(&mut live);
        let second = rx.try_recv().unwrap();
        assert_eq!(first.messages.len(), 1);
        assert_eq!(second.messages.len(), 2);
        assert_eq!(second.counters.messages, 3);
        assert_eq!(second.counters.not_shown, 0);
    }

    #[test]
    fn past_its_bound_the_screen_counts_what_it_does_not_show() {
        let mut model = Model::default();
        let update = |n: u64| Update {
            messages: (1..=n).map(register).collect(),
            ..Update::default()
        };
        model.apply(update(3), 4);
        model.apply(update(3), 4);
        assert_eq!(model.messages.len(), 4);
        assert_eq!(model.counters.not_shown, 2);
        assert_eq!(model.counters.losses().len(), 1);
        assert_eq!(model.dialogs.len(), 1);
    }
}
