//! Getting packets off the interface: loading and attaching the eBPF
//! programs ([`Capture`]), reading their ring buffer ([`FrameReader`]) and
//! their counters ([`Counters`]); and out of capture files
//! ([`file`](mod@file): pcap and pcapng, and pcapng writing). Both yield the
//! same [`Frame`]s, so everything downstream is the same live or from a file.
//!
//! ```no_run
//! # async fn run() -> Result<(), sipwatch::capture::CaptureError> {
//! use sipwatch::capture::{Capture, CaptureConfig};
//! let mut capture = Capture::attach(&CaptureConfig::new("eth0"))?;
//! let mut frames = capture.frames()?;
//! let mut batch = Vec::new();
//! frames.next_batch(&mut batch).await?;
//! capture.detach()?;
//! frames.drain(&mut batch);
//! let counters = capture.counters()?;
//! # Ok(()) }
//! ```
mod attach;
pub mod btf;
mod config;
mod counters;
mod drops;
mod error;
pub mod file;
mod frame;
pub mod plaintext;
mod privileges;
pub mod processes;
mod ring;

pub use attach::{AttachedHook, Capture, LinkKind};
pub use config::{CaptureConfig, Hook, XdpModeChoice, parse_size};
pub use counters::{Counters, DirectionCounters};
pub use drops::{DropReasons, DropSetup, DropTraceError, prepare as prepare_drop_tracing};
pub use error::CaptureError;
pub use frame::{DropRecord, Frame, LinkType};
pub use ring::FrameReader;
pub use sipwatch_common::Direction;
