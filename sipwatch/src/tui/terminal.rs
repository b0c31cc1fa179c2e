//! The terminal itself: raw mode and the alternate screen on the way in,
//! both undone on the way out, on Ctrl-C (a key in raw mode) and on a
//! panic (ratatui's hook restores the terminal before the panic is
//! told); the loop that draws the [`App`], reads keys and resizes, does
//! what a key asks ([`Effect`]), and, live, takes each newer model from
//! the capture.
use std::{
    io,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, TryRecvError},
    },
    time::Duration,
};

use crossterm::event::{self, Event, KeyEventKind};

use super::{
    app::{App, Effect},
    draw,
    live::SHOWN,
    model::Update,
    save,
};
use crate::say;

/// How long the loop waits for a key before it looks for a newer model.
const POLL: Duration = Duration::from_millis(250);

/// Live: what feeds the screen from the capture.
pub struct Feed {
    /// What is new, once a second.
    pub updates: Receiver<Update>,
    /// Set when the capture was stopped from outside (SIGTERM, Ctrl-C
    /// sent to the process, `--duration`): the screen closes too.
    pub closed: Arc<AtomicBool>,
}

/// Runs the UI until the user quits (or, live, the capture is stopped
/// from outside); `feed`, live, brings what is new (each taken in, in
/// order).
pub fn run(app: &mut App, feed: Option<Feed>) -> io::Result<()> {
    // SIGTERM or SIGHUP (a closed ssh session) close the screen like `q`,
    // so that the terminal is restored, not left in the alternate screen.
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, signalled.clone())?;
    }
    let mut terminal = ratatui::try_init()?;
    let closed = feed.as_ref().map(|f| f.closed.clone());
    let result = (|| -> io::Result<()> {
        let mut live = feed.map(|f| f.updates);
        loop {
            if signalled.load(Ordering::Relaxed)
                || closed.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
            {
                return Ok(());
            }
            terminal.draw(|f| draw::draw(f, app))?;
            if event::poll(POLL)? {
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        let height = terminal.size()?.height;
                        match app.on_key(key, draw::page(height)) {
                            Effect::Quit => return Ok(()),
                            Effect::None => {}
                            Effect::Save {
                                path,
                                messages,
                                dialogs,
                            } => {
                                let news = save_to(app, &path, &messages, dialogs);
                                app.told(news);
                            }
                        }
                    }
                    // A resize redraws at the new size on the next turn.
                    _ => {}
                }
            }
            if let Some(rx) = &live {
                loop {
                    match rx.try_recv() {
                        Ok(update) => app.apply(update, SHOWN),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            live = None;
                            break;
                        }
                    }
                }
            }
        }
    })();
    ratatui::try_restore()?;
    result
}

/// Saves and says how it went, in a line for the news.
fn save_to(app: &App, path: &str, messages: &[usize], dialogs: usize) -> String {
    let found: Vec<_> = messages
        .iter()
        .filter_map(|&i| app.model.messages.get(i))
        .collect();
    match save::save(Path::new(path), &found) {
        Ok(n) => say::tui::saved(n, dialogs, path),
        Err(e) => say::tui::not_saved(path, &e.to_string()),
    }
}
