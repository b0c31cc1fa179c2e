//! What the user sees: the message log and the capture summary.
pub mod json;
mod log;
pub mod registrations;
mod summary;

pub use log::{LogView, MessageLog};
pub use summary::{CaptureSummary, write_summary};
