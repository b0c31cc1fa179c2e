//! `analyze FILE --tui` and `attach IFACE --tui`: a terminal UI an sngrep
//! user knows at once (a call list, a ladder, the raw messages, search,
//! filter, save as pcap) with what sngrep lacks: the trunks first, each
//! registration's state, expiry, cause and fix, and the ICMP errors and
//! kernel drops on the ladder where they happened.
//!
//! [`model`] is what the screens show, built once from a run; [`app`] the
//! state and its keys (plain data, tested without a terminal); [`draw`]
//! one file per screen; [`terminal`] the loop and the terminal's
//! restoration; [`save`] F2. [`Tui`] is the [`Output`] the pipeline
//! feeds: it hears the ICMP errors and kernel drops as they come, and
//! opens the screen in [`Output::browse`] once the file is read.
//!
//! Words live in [`crate::say::tui`]. Data flows one way: this module
//! reads [`crate::report`] (the store, the registration details) and
//! nothing reads it but the command line.
use std::{
    io::{self, Write},
    sync::Arc,
};

use crate::{
    net::{DroppedPacket, IcmpError},
    pbx::config::trunks::Trunks,
    report::{Found, Output},
    say,
};

pub mod app;
pub mod draw;
pub mod filter;
pub mod live;
pub mod model;
pub mod save;
pub mod terminal;

pub use app::{App, Effect, Screen};
pub use live::LiveTui;
pub use model::{Model, Note};

/// What the UI does with the model of a run: open the terminal
/// ([`Tui::for_file`]), or anything else a caller wants (a test keeps it).
pub type Browse = Box<dyn FnMut(Model) -> io::Result<()>>;

/// The UI as an output: notes what it hears beside the messages, then
/// browses the run.
pub struct Tui {
    source: String,
    config: Option<Arc<Trunks>>,
    notes: Vec<Note>,
    browse: Browse,
}

impl Tui {
    /// A UI for a capture file named `name` (as the status line says it),
    /// each fix naming its configuration section when `config` is given.
    pub fn for_file(name: &str, config: Option<Arc<Trunks>>) -> Tui {
        Tui::browsing_with(
            name,
            config,
            Box::new(|model| terminal::run(&mut App::new(model), None)),
        )
    }

    /// As [`Tui::for_file`], the model handed to `browse` rather than to
    /// the terminal.
    pub fn browsing_with(name: &str, config: Option<Arc<Trunks>>, browse: Browse) -> Tui {
        // The file's own name: the status line has 80 columns for all of it.
        let short = std::path::Path::new(name)
            .file_name()
            .map_or(name.into(), |n| n.to_string_lossy());
        Tui {
            source: say::tui::file_source(&short),
            config,
            notes: Vec::new(),
            browse,
        }
    }
}

/// The note of an ICMP error, about the packet it quotes.
pub fn icmp_note(e: &IcmpError) -> Note {
    Note {
        at: e.timestamp,
        src: e.quoted.src,
        dst: e.quoted.dst,
        label: say::tui::icmp_label(e),
        text: say::tui::icmp(e),
        back: true,
    }
}

/// The note of a kernel drop; `None` for copies of what arrived already
/// and segments without data, which only counting outputs take.
pub fn drop_note(d: &DroppedPacket) -> Option<Note> {
    (!d.drop.is_duplicate() && d.carries_data()).then(|| Note {
        at: d.time,
        src: d.src,
        dst: d.dst,
        label: say::tui::DROP_LABEL.to_owned(),
        text: say::tui::kernel_drop(d),
        back: false,
    })
}

impl Output for Tui {
    fn icmp(&mut self, _out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        self.notes.push(icmp_note(e));
        Ok(())
    }

    fn kernel_drop(&mut self, _out: &mut dyn Write, d: &DroppedPacket) -> io::Result<()> {
        self.notes.extend(drop_note(d));
        Ok(())
    }

    fn browse(&mut self, found: &Found<'_>) -> io::Result<()> {
        let model = Model::of_run(
            self.source.clone(),
            found,
            std::mem::take(&mut self.notes),
            self.config.as_deref(),
        );
        (self.browse)(model)
    }
}
