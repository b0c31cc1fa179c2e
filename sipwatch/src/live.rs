//! `sipwatch attach`: capture on an interface until told to stop, print each
//! SIP message as it passes, then detach and print what was counted.
use std::{future::Future, io::Write};

use crate::{
    audit::Auditor,
    capture::{Capture, CaptureConfig, CaptureError, Frame},
    net::SipSelection,
    pipeline::Pipeline,
    report::{CaptureSummary, Output},
};

/// Why a live capture could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Attaching, reading the ring or the counters, or detaching failed;
    /// each [`CaptureError`] says what to do.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing an output failed: stdout closed (a pipe into `head`), or the
    /// `--write` pcapng file (full disk, rotation), whose errors the pipeline
    /// passes on as I/O errors.
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
}

/// A capture attached and ready to run.
pub struct LiveCapture {
    capture: Capture,
    /// What the kernel programs select, so user space takes the same as SIP.
    selection: SipSelection,
}

impl LiveCapture {
    /// Loads and attaches the kernel programs as `config` says (see
    /// [`Capture::attach`]); capturing starts at once, and frames wait in the
    /// ring until [`LiveCapture::run`] reads them.
    pub fn attach(config: &CaptureConfig) -> Result<LiveCapture, LiveError> {
        Ok(LiveCapture {
            capture: Capture::attach(config)?,
            selection: SipSelection::new(&config.sip_ports, config.sniff_udp),
        })
    }

    /// What is attached where, for telling the user: "XDP (ingress) in
    /// driver mode, TC (egress) via a TCX link, this host's kernel drops".
    pub fn describe(&self) -> String {
        let mut hooks: Vec<String> = self
            .capture
            .hooks()
            .iter()
            .map(|h| format!("{} {}", h.hook, h.how))
            .collect();
        if self.capture.traces_drops() {
            hooks.push("this host's kernel drops (kfree_skb)".into());
        }
        format!("{}: {}", self.capture.interface(), hooks.join(", "))
    }

    /// Why this host's kernel drops are not traced, though asked for.
    pub fn drop_problem(&self) -> Option<&str> {
        self.capture.drop_problem()
    }

    /// Runs until `stop` completes, feeding `outputs` (a pcapng writer
    /// among them, if asked). Hooks are detached before the ring is
    /// drained for the last time, so the summary's counters, the frames
    /// printed and the frames written describe the same packets.
    pub async fn run(
        self,
        outputs: Vec<Box<dyn Output>>,
        audit: Option<Auditor>,
        out: impl Write,
        stop: impl Future<Output = ()>,
    ) -> Result<CaptureSummary, LiveError> {
        let mut capture = self.capture;
        let ifindex = interface_index(capture.interface());
        let mut pipeline = Pipeline::new(out, outputs)
            .frames_from_nic()
            .with_selection(self.selection)
            .with_kernel_drops(
                capture.drop_reasons().clone(),
                ifindex,
                capture.drop_problem().map(str::to_owned),
            );
        if let Some(auditor) = audit {
            pipeline = pipeline.with_audit(auditor);
        }
        let mut frames = capture.frames()?;
        let mut batch = Vec::new();
        // Timers (Timer F, expiries) fire even when nothing is captured.
        let mut timers = tokio::time::interval(std::time::Duration::from_secs(1));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                n = frames.next_batch(&mut batch) => {
                    n?;
                    process(&mut batch, &mut pipeline)?;
                    if let Some(echo) = pipeline.take_echo_conflict() {
                        capture.stop_consuming(echo)?;
                        eprintln!("sipwatch: --echo {echo} is where the PBX sends its own SIP: the audit stopped, and its answers reach the PBX");
                    }
                    capture.flush_logs();
                }
                _ = timers.tick() => {
                    pipeline.tick(std::time::SystemTime::now(), capture.counters().ok())?;
                }
            }
        }
        capture.detach()?;
        frames.drain(&mut batch);
        process(&mut batch, &mut pipeline)?;
        capture.flush_logs();
        let finished = pipeline.finish(Some(capture.counters()?), frames.malformed(), None)?;
        Ok(finished.summary)
    }
}

/// The interface's index in this namespace, as the kernel stamps packets.
fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

fn process(batch: &mut Vec<Frame>, pipeline: &mut Pipeline<impl Write>) -> Result<(), LiveError> {
    for frame in batch.drain(..) {
        pipeline.push(&frame)?;
    }
    pipeline.flush()?;
    Ok(())
}
