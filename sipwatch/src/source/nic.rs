//! The NIC as a source: the kernel programs' ring (XDP ingress, TC egress,
//! the drop tracer), read in batches as frames arrive.
use std::{io::Write, time::SystemTime};

use super::{Input, Source, SourceEnd};
use crate::{
    capture::{Capture, CaptureError, Counters, Frame, FrameReader},
    pipeline::Pipeline,
    sip::Clock,
};

/// Why the NIC source stopped: the capture's error, or an output's.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    /// Attaching, reading the ring or the counters, or detaching failed;
    /// each [`CaptureError`] says what to do.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing an output failed: stdout closed (a pipe into `head`), or the
    /// `--write` pcapng file (full disk, rotation), whose errors the
    /// pipeline passes on as I/O errors.
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
    /// The HEP listener beside the NIC (`attach --hep-listen`) failed.
    #[error(transparent)]
    Hep(#[from] super::HepError),
}

/// An attached capture and its ring. Its clock is this host's: the
/// kernel stamps frames as they pass.
pub struct NicSource {
    capture: Capture,
    frames: FrameReader,
    /// Reused between batches.
    ring: Vec<Frame>,
    /// `--tls-keylog`: its new lines go ahead of each batch's frames.
    keylog: Option<crate::capture::file::KeyLogFile>,
}

impl NicSource {
    /// Reads the ring of an attached `capture`.
    pub fn new(mut capture: Capture) -> Result<Self, CaptureError> {
        let frames = capture.frames()?;
        Ok(Self {
            capture,
            frames,
            ring: Vec::new(),
            keylog: None,
        })
    }

    /// Follows the TLS key log `keylog`: the lines the TLS library adds
    /// are handed to the pipeline ahead of the frames read after them.
    pub fn with_keylog(mut self, keylog: crate::capture::file::KeyLogFile) -> Self {
        self.keylog = Some(keylog);
        self
    }

    /// The capture, for what it says of itself (its interface, its drop
    /// reasons).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }
}

impl Source for NicSource {
    type Error = NicError;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, NicError> {
        self.frames.next_batch(&mut self.ring).await?;
        if let Some(keylog) = &mut self.keylog
            && let Some(lines) = keylog.new_lines()
        {
            batch.push(Input::Secrets(lines, keylog.name()));
        }
        batch.extend(self.ring.drain(..).map(Input::Frame));
        Ok(true)
    }

    /// Timers (Timer F, expiries) fire even when nothing is captured.
    fn tick_every(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(1))
    }

    fn now(&self) -> Vec<(Clock, SystemTime)> {
        vec![(Clock::Nic, SystemTime::now())]
    }

    fn counters(&mut self) -> Option<Counters> {
        self.capture.counters().ok()
    }

    fn after_batch<W: Write>(&mut self, pipeline: &mut Pipeline<W>) -> Result<(), NicError> {
        if let Some(echo) = pipeline.take_echo_conflict() {
            self.capture.stop_consuming(echo)?;
            eprintln!(
                "sipwatch: --echo {echo} is where the PBX sends its own SIP: the audit stopped, and its answers reach the PBX"
            );
        }
        self.capture.flush_logs();
        Ok(())
    }

    fn stop(&mut self, batch: &mut Vec<Input>) -> Result<(), NicError> {
        self.capture.detach()?;
        self.frames.drain(&mut self.ring);
        batch.extend(self.ring.drain(..).map(Input::Frame));
        Ok(())
    }

    fn end(&mut self) -> Result<SourceEnd, NicError> {
        self.capture.flush_logs();
        Ok(SourceEnd {
            kernel: Some(self.capture.counters()?),
            malformed_records: self.frames.malformed(),
            ..SourceEnd::default()
        })
    }
}
