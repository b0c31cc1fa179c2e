//! Which outputs standard output's view has, from the command line's
//! choice; [`OutputPlan`](super::OutputPlan) adds the others (`--write`,
//! `--metrics`) in the one place the whole list is built.
use std::sync::Arc;

use super::{JsonLines, LiveTable, MessageLog, Output, TextSummary};
use crate::pbx::config::trunks::Trunks;

/// How much of each message the text log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Nothing per message: the summary at the end only.
    Quiet,
    /// No messages: one line per registration change, timeout, ICMP error
    /// and path audit finding, for a service's journal.
    Events,
    /// One line per message, like `pjsip set logger on`.
    FirstLine,
    /// The whole message after its line (digest responses masked).
    Full,
}

/// What the user watches on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The message log at this detail, events between the messages, and
    /// the registrations and counters at the end.
    Text(Detail),
    /// JSON Lines: every message and event, then one summary object.
    Json,
    /// Live: the registration table redrawn in place, the summary at the end.
    Table,
}

impl View {
    /// The outputs that make up this view, in the order they write (the
    /// first part of [`OutputPlan::build`](super::OutputPlan::build)'s list).
    pub fn outputs(self) -> Vec<Box<dyn Output>> {
        self.outputs_with(None)
    }

    /// [`View::outputs`], the text views naming the configuration section
    /// of each registration (`--config-dir`).
    pub fn outputs_with(self, config: Option<Arc<Trunks>>) -> Vec<Box<dyn Output>> {
        let summary = || {
            Box::new(TextSummary {
                config: config.clone(),
            })
        };
        match self {
            View::Text(Detail::Quiet) => vec![summary()],
            View::Text(Detail::Events) => vec![
                Box::new(MessageLog::events_only().with_config(config.clone())),
                summary(),
            ],
            View::Text(detail) => vec![
                Box::new(MessageLog::new(detail == Detail::Full).with_config(config.clone())),
                summary(),
            ],
            View::Json => vec![Box::new(JsonLines { config })],
            View::Table => vec![Box::new(LiveTable), summary()],
        }
    }
}
