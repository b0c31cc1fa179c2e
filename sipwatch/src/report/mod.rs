//! What the user sees. Every output implements [`Output`] and the pipeline
//! feeds a list of them: the message log ([`MessageLog`]), JSON Lines
//! ([`JsonLines`]), the live registration table ([`LiveTable`]), the
//! end-of-run summary ([`TextSummary`]) and the pcapng file
//! ([`PcapNgOutput`]). [`View`] turns the command line's choice into that
//! list; a new output is a new file here and one more entry in a list.
pub mod json;
mod log;
pub mod metrics;
mod output;
mod pcapng;
pub mod printable;
pub mod registrations;
mod summary;
mod table;
mod view;

pub use json::JsonLines;
pub use log::MessageLog;
pub use metrics::Metrics;
pub use output::{Output, RunEnd, Snapshot};
pub use pcapng::PcapNgOutput;
pub use summary::{CaptureSummary, PipelineStats, TextSummary, write_summary};
pub use table::LiveTable;
pub use view::{Detail, View};
