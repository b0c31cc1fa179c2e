//! `sipwatch attach`: capture on an interface until told to stop, print each
//! SIP message as it passes, then detach and print what was counted; with
//! `--hep-listen`, HEP from the PBX beside it ([`LiveCapture::run_with_hep`]).
//! `sipwatch hep-listen` is the HEP listener alone ([`listen`]).
use std::{future::Future, io::Write};

use crate::{
    audit::Auditor,
    capture::{Capture, CaptureConfig},
    net::SipSelection,
    pipeline::Pipeline,
    report::{CaptureSummary, Output},
    source::{Both, HepError, HepSource, NicError, NicSource, ProcessSource},
};

/// Why a live capture could not start or had to stop: attaching, reading
/// the ring or the counters, or detaching failed (each [`crate::capture::CaptureError`]
/// says what to do), or writing an output failed (stdout closed, the
/// `--write` pcapng file full).
pub type LiveError = NicError;

/// A capture attached and ready to run.
pub struct LiveCapture {
    capture: Capture,
    /// What the kernel programs select, so user space takes the same as SIP.
    selection: SipSelection,
    /// `--tls-keylog`: followed while the TLS library writes it.
    keylog: Option<crate::capture::file::KeyLogFile>,
    /// `--pid`/`--process`: the TLS plaintext probes.
    plaintext: Option<crate::capture::plaintext::PlainProbes>,
}

impl LiveCapture {
    /// Loads and attaches the kernel programs as `config` says (see
    /// [`Capture::attach`]); capturing starts at once, and frames wait in the
    /// ring until [`LiveCapture::run`] reads them.
    pub fn attach(config: &CaptureConfig) -> Result<LiveCapture, LiveError> {
        Ok(LiveCapture {
            capture: Capture::attach(config)?,
            selection: SipSelection::new(&config.sip_ports, config.sniff_udp),
            keylog: None,
            plaintext: None,
        })
    }

    /// Reads SIP over TLS in clear inside processes with `probes`
    /// (`--pid`, `--process`: uprobes on their OpenSSL), attached before
    /// the capture so that nothing the NIC shows is missing there.
    pub fn with_plaintext(mut self, probes: crate::capture::plaintext::PlainProbes) -> Self {
        self.plaintext = Some(probes);
        self
    }

    /// Only the messages `only` names go on (`--aor`, `--host`,
    /// `--call-id`).
    pub fn taking_only(mut self, only: crate::net::Only) -> Self {
        self.selection = self.selection.taking_only(only);
        self
    }

    /// Decrypts SIP over TLS with the key log `keylog` (`--tls-keylog`),
    /// its new lines read as the TLS library appends them.
    pub fn with_tls_keylog(mut self, keylog: crate::capture::file::KeyLogFile) -> Self {
        self.keylog = Some(keylog);
        self
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
        let mut text = format!("{}: {}", self.capture.interface(), hooks.join(", "));
        if let Some(probes) = &self.plaintext {
            text.push_str("; ");
            text.push_str(&probes.describe());
        }
        text
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
        self.run_with_hep(None, outputs, audit, out, stop).await
    }

    /// As [`LiveCapture::run`], with HEP from `hep` (`attach
    /// --hep-listen`) merged with the NIC's view: a message the NIC saw
    /// and the PBX sent as HEP is one message, its first origin kept, the
    /// copy counted.
    pub async fn run_with_hep(
        self,
        hep: Option<HepSource>,
        outputs: Vec<Box<dyn Output>>,
        audit: Option<Auditor>,
        out: impl Write,
        stop: impl Future<Output = ()>,
    ) -> Result<CaptureSummary, LiveError> {
        let ifindex = interface_index(self.capture.interface());
        let mut pipeline = Pipeline::new(out, outputs)
            .frames_from_nic()
            .with_selection(self.selection)
            .with_kernel_drops(
                self.capture.drop_reasons().clone(),
                ifindex,
                self.capture.drop_problem().map(str::to_owned),
            );
        if let Some(auditor) = audit {
            pipeline = pipeline.with_audit(auditor);
        }
        if self.keylog.is_some() {
            pipeline = pipeline.with_tls_keys(crate::tls::KeyLog::expecting());
        }
        let mut nic = NicSource::new(self.capture)?;
        if let Some(keylog) = self.keylog {
            nic = nic.with_keylog(keylog);
        }
        if self.plaintext.is_some() {
            pipeline = pipeline.with_tls_read_in_process();
        }
        let process = self.plaintext.map(ProcessSource::new).transpose()?;
        if hep.is_some() || process.is_some() {
            pipeline = pipeline.looking_for_copies();
        }
        // The TLS probes first, so that they stop first: they fill their
        // ring fastest while the NIC is drained.
        let mut sources = Both::new(process, Both::new(nic, hep));
        let finished = crate::source::drive(&mut sources, pipeline, stop).await?;
        Ok(finished.summary)
    }
}

/// `sipwatch hep-listen`: HEP from `source` through `outputs` until `stop`
/// completes, then the summary (the listener's refusals among its counts).
pub async fn listen(
    mut source: HepSource,
    outputs: Vec<Box<dyn Output>>,
    out: impl Write,
    stop: impl Future<Output = ()>,
) -> Result<CaptureSummary, HepError> {
    // Several agents may send copies of one message (a PBX and its proxy).
    let pipeline = Pipeline::new(out, outputs).looking_for_copies();
    let finished = crate::source::drive(&mut source, pipeline, stop).await?;
    Ok(finished.summary)
}

/// The interface's index in this namespace, as the kernel stamps packets.
fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}
