//! Reading captured frames from the kernel's ring buffer, with tokio.
use aya::maps::{MapData, RingBuf};
use tokio::io::{Interest, unix::AsyncFd};

use super::{
    CaptureError, Frame,
    frame::{MonotonicClock, RecordError},
};

/// The user-space end of the ring buffer.
pub struct FrameReader {
    ring: AsyncFd<RingBuf<MapData>>,
    clock: MonotonicClock,
    malformed: u64,
    /// On loopback a packet both leaves and arrives (and is captured once,
    /// leaving): its frames say no direction, as a `tcpdump -i lo` file.
    directionless: bool,
}

/// At most this many frames per [`FrameReader::next_batch`], so a flood
/// cannot starve the rest of the program of the event loop.
const MAX_BATCH: usize = 4096;

/// How often the ring is drained when the kernel has not woken the reader.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

impl FrameReader {
    /// Must be called inside a tokio runtime.
    pub(super) fn new(ring: RingBuf<MapData>, directionless: bool) -> Result<Self, CaptureError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(CaptureError::Ring(std::io::Error::other(
                "the frame reader needs a tokio runtime",
            )));
        }
        // SAFETY: the ring buffer owns its map's file descriptor, which stays
        // open and unchanged for as long as the RingBuf (inside the AsyncFd) lives.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| CaptureError::Ring(std::io::Error::other(e.to_string())))?;
        Ok(Self {
            ring,
            clock: MonotonicClock::now(),
            malformed: 0,
            directionless,
        })
    }

    /// Waits until frames are available, then appends up to a batch of them
    /// to `out`. Returns how many were appended.
    ///
    /// The kernel wakes the reader only once enough bytes wait (see
    /// `sipwatch_common::WAKEUP_BYTES_MAX`), so the ring is also looked at
    /// every `POLL_INTERVAL` (10 ms): a lone message waits at most that long.
    pub async fn next_batch(&mut self, out: &mut Vec<Frame>) -> Result<usize, CaptureError> {
        loop {
            let n = match tokio::time::timeout(POLL_INTERVAL, self.ring.readable_mut()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(CaptureError::Ring)?;
                    let ring = guard.get_inner_mut();
                    let n = drain_into(ring, &self.clock, &mut self.malformed, out, MAX_BATCH);
                    if n == 0 {
                        guard.clear_ready();
                    }
                    n
                }
                Err(_elapsed) => {
                    let ring = self.ring.get_mut();
                    drain_into(ring, &self.clock, &mut self.malformed, out, MAX_BATCH)
                }
            };
            if n > 0 {
                self.directions(out, n);
                return Ok(n);
            }
        }
    }

    /// Appends every frame available now to `out`, without waiting.
    pub fn drain(&mut self, out: &mut Vec<Frame>) -> usize {
        let n = drain_into(
            self.ring.get_mut(),
            &self.clock,
            &mut self.malformed,
            out,
            usize::MAX,
        );
        self.directions(out, n);
        n
    }

    /// Clears the direction of the last `n` frames of `out` on loopback
    /// (the drop tracer's packets keep theirs: leaving or arriving).
    fn directions(&self, out: &mut [Frame], n: usize) {
        if !self.directionless {
            return;
        }
        let start = out.len() - n;
        for f in &mut out[start..] {
            if f.kernel_drop.is_none() {
                f.direction = None;
            }
        }
    }

    /// Records that could not be decoded (a bug if ever non-zero; reported).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

fn drain_into(
    ring: &mut RingBuf<MapData>,
    clock: &MonotonicClock,
    malformed: &mut u64,
    out: &mut Vec<Frame>,
    limit: usize,
) -> usize {
    let mut n = 0;
    while n < limit {
        let Some(item) = ring.next() else { break };
        match Frame::from_record(&item, clock) {
            Ok(frame) => {
                out.push(frame);
                n += 1;
            }
            Err(RecordError::Short | RecordError::LengthMismatch | RecordError::Direction) => {
                *malformed += 1;
            }
        }
    }
    n
}
