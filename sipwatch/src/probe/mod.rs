//! `sipwatch probe`: before go-live, is there a SIP ALG, NAT, or a firewall
//! drop between here and a `sipwatch echo`? Realistic probes go out, the
//! echo's mirrors are compared with what was sent (and its answers with
//! what came back), and the echo's query channel tells, for a probe that got
//! no answer, on which leg it was lost.
mod nic;
mod report;
mod run;

pub use crate::client::seen;
pub use report::{
    ExitCode, ForeignAnswer, Leg, NicObservation, ProbeMethod, ProbeOutcome, ProbeReport, Verdict,
    verdict, write_report,
};
pub use run::{ProbeConfig, ProbeError, probe};
