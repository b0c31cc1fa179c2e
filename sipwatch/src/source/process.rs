//! The PBX's own TLS library as a source (`attach --pid`, `--process`):
//! what its `SSL_write`/`SSL_read` calls wrote and read, as SIP messages
//! with their connection's addresses and the process as their origin.
//! Its clock is this host's kernel's, like the NIC's.
use std::{collections::BTreeSet, time::SystemTime};

use super::{Input, NicError, Source, SourceEnd, plaintext::Plaintext};
use crate::{
    capture::{
        CaptureError,
        plaintext::{Chunk, PlainProbes, PlainReader},
    },
    report::Count,
    say,
    sip::Clock,
};

/// The probes attached, their ring, and the streams being framed.
pub struct ProcessSource {
    probes: PlainProbes,
    reader: PlainReader,
    plaintext: Plaintext,
    /// Reused between batches.
    chunks: Vec<Chunk>,
    /// The processes messages came from, for their clocks.
    pids: BTreeSet<u32>,
    /// When the processes were last looked for again.
    scanned: std::time::Instant,
}

/// How often new processes (a `--pid`'s children, a `--process` started
/// since) are looked for.
const RESCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl ProcessSource {
    /// Reads what `probes` copy. Call inside tokio.
    pub fn new(mut probes: PlainProbes) -> Result<ProcessSource, CaptureError> {
        let reader = probes.chunks()?;
        Ok(ProcessSource {
            probes,
            reader,
            plaintext: Plaintext::new(),
            chunks: Vec::new(),
            pids: BTreeSet::new(),
            scanned: std::time::Instant::now(),
        })
    }

    fn take(&mut self, batch: &mut Vec<Input>) {
        let mut messages = Vec::new();
        for chunk in self.chunks.drain(..) {
            self.plaintext.push(chunk, &mut messages);
        }
        for m in messages {
            if let crate::sip::Origin::TlsPlaintext { pid } = m.origin {
                self.pids.insert(pid);
            }
            batch.push(Input::Message(m));
        }
    }
}

impl Source for ProcessSource {
    type Error = NicError;

    async fn next_batch(&mut self, batch: &mut Vec<Input>) -> Result<bool, NicError> {
        // New processes are looked for on time, also while none of
        // those read yet makes a call (a child forked later).
        let rescan_at = tokio::time::Instant::from_std(self.scanned + RESCAN_EVERY);
        tokio::select! {
            read = self.reader.next_batch(&mut self.chunks) => read?,
            () = tokio::time::sleep_until(rescan_at) => {}
        }
        self.take(batch);
        if self.scanned.elapsed() >= RESCAN_EVERY {
            self.scanned = std::time::Instant::now();
            self.probes.rescan()?;
        }
        Ok(true)
    }

    fn tick_every(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(1))
    }

    /// The kernel stamps every call: each process's clock is this host's.
    fn now(&self) -> Vec<(Clock, SystemTime)> {
        let now = SystemTime::now();
        self.pids
            .iter()
            .map(|&pid| (Clock::TlsPlaintext(pid), now))
            .collect()
    }

    fn stop(&mut self, batch: &mut Vec<Input>) -> Result<(), NicError> {
        self.probes.detach();
        self.reader.drain(&mut self.chunks);
        self.take(batch);
        Ok(())
    }

    fn end(&mut self) -> Result<SourceEnd, NicError> {
        self.plaintext.finish();
        let kernel = self.probes.counters()?;
        let framed = self.plaintext.stats();
        let counts = [
            (say::tls::PLAIN_CALLS, kernel.calls, false),
            (say::tls::PLAIN_FRAMED, framed.messages, false),
            (say::tls::PLAIN_RING_FULL, kernel.ring_full, true),
            (say::tls::PLAIN_CUT, kernel.cut, true),
            (say::tls::PLAIN_UNREADABLE, kernel.read_errors, true),
            (say::tls::PLAIN_INCOMPLETE, framed.calls_incomplete, true),
            (
                say::tls::PLAIN_NO_CONNECTION,
                framed.bytes_without_connection,
                true,
            ),
            (say::tls::PLAIN_SKIPPED, framed.bytes_skipped, false),
            (say::tls::PLAIN_EVICTED, framed.streams_evicted, true),
            (say::tls::PLAIN_UNPAIRED, kernel.unpaired, false),
        ]
        .into_iter()
        .map(|(what, n, loss)| Count {
            by: say::tls::PLAINTEXT_BY,
            what,
            n,
            loss,
        })
        .collect();
        Ok(SourceEnd {
            malformed_records: self.reader.malformed(),
            counts,
            ..SourceEnd::default()
        })
    }
}
