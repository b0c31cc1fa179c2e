//! What the user sees. Every output implements [`Output`] and the pipeline
//! feeds a list of them: the message log ([`MessageLog`]), JSON Lines
//! ([`JsonLines`]), the live registration table ([`LiveTable`]), the
//! end-of-run summary ([`TextSummary`]) and the pcapng file
//! ([`PcapNgOutput`]), metrics ([`Metrics`]), HEP to HOMER
//! ([`HepOutput`]). [`OutputPlan`] turns the
//! command line's choice into that list, in one place for every command
//! ([`View`] the part of it on standard output); a new output is a new
//! file here and one more entry there. [`MessageStore`] keeps the
//! messages themselves, within bounds, for what looks at them after the
//! stream (see docs/adding-a-source-or-output.md).
mod hep;
pub mod json;
mod log;
pub mod metrics;
mod output;
mod pcapng;
mod plan;
pub mod printable;
pub mod registrations;
mod store;
mod summary;
mod table;
mod view;

pub use hep::{HepOutput, HepPlan};
pub use json::JsonLines;
pub use log::MessageLog;
pub use metrics::{HepMetrics, Metrics};
pub use output::{Count, Found, Output, RunEnd, Snapshot};
pub use pcapng::PcapNgOutput;
pub use plan::{OutputPlan, Outputs, PlanError, WritePlan};
pub use store::{MessageStore, StoreLimits, TransactionKey};
pub use summary::{CaptureSummary, PipelineStats, TextSummary, write_summary};
pub use table::LiveTable;
pub use view::{Detail, View};
