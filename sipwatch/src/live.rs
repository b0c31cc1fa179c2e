//! `sipwatch attach`: capture on an interface until told to stop, print each
//! SIP message as it passes, then detach and print what was counted.
use std::{future::Future, io::Write};

use crate::{
    capture::{Capture, CaptureConfig, CaptureError, Frame},
    net::Decoder,
    report::{CaptureSummary, LogView, MessageLog, write_summary},
};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
}

/// A capture attached and ready to run.
pub struct LiveCapture {
    capture: Capture,
}

impl LiveCapture {
    pub fn attach(config: &CaptureConfig) -> Result<LiveCapture, LiveError> {
        Ok(LiveCapture {
            capture: Capture::attach(config)?,
        })
    }

    /// What is attached where, for telling the user: "XDP (ingress) in
    /// driver mode, TC (egress) via a TCX link".
    pub fn describe(&self) -> String {
        let hooks: Vec<String> = self
            .capture
            .hooks()
            .iter()
            .map(|h| format!("{} {}", h.hook, h.how))
            .collect();
        format!("{}: {}", self.capture.interface(), hooks.join(", "))
    }

    /// Runs until `stop` completes. Hooks are detached before the ring is
    /// drained for the last time, so the summary's counters and the frames
    /// printed describe the same packets.
    pub async fn run(
        self,
        view: LogView,
        out: impl Write,
        stop: impl Future<Output = ()>,
    ) -> Result<CaptureSummary, LiveError> {
        run(self.capture, view, out, stop).await
    }
}

async fn run(
    mut capture: Capture,
    view: LogView,
    out: impl Write,
    stop: impl Future<Output = ()>,
) -> Result<CaptureSummary, LiveError> {
    let mut log = MessageLog::new(out, view);
    let mut frames = capture.frames()?;
    let mut decoder = Decoder::new();
    let mut batch = Vec::new();
    let mut frames_read = 0u64;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            n = frames.next_batch(&mut batch) => {
                n?;
                frames_read += print_batch(&mut batch, &mut decoder, &mut log)?;
                capture.flush_logs();
            }
        }
    }
    capture.detach()?;
    frames.drain(&mut batch);
    frames_read += print_batch(&mut batch, &mut decoder, &mut log)?;
    capture.flush_logs();
    decoder.finish();
    let summary = CaptureSummary {
        kernel: capture.counters()?,
        frames_read,
        malformed_records: frames.malformed(),
        decode: decoder.stats(),
    };
    let mut out = log.into_inner();
    write_summary(&mut out, &summary)?;
    out.flush()?;
    Ok(summary)
}

fn print_batch(
    batch: &mut Vec<Frame>,
    decoder: &mut Decoder,
    log: &mut MessageLog<impl Write>,
) -> std::io::Result<u64> {
    let n = batch.len() as u64;
    for frame in batch.drain(..) {
        if let Some(datagram) = decoder.push(&frame) {
            log.write(&datagram)?;
        }
    }
    log.flush()?;
    Ok(n)
}
