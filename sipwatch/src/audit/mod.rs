//! Continuous auditing of the PBX's own registrations (`attach --echo`):
//! for a REGISTER the PBX sends, a *shadow* (the same bytes, credentials
//! blanked, marked as a probe) goes to a `sipwatch echo` from the PBX's own
//! address and port, so that NAT and any SIP ALG treat it as they treat the
//! PBX's traffic. The echo's mirror, compared with what left the NIC, tells
//! what the path does to this trunk's REGISTERs; the echo's query channel
//! tells on which leg a REGISTER that timed out was lost.
//!
//! [`shadow`] builds the shadow's bytes, [`sender`] puts them on the wire,
//! [`Auditor`] follows bindings, shadows and answers and says what it found
//! as [`PathAudit`] records.
mod auditor;
pub mod sender;
pub mod shadow;

pub use auditor::{
    AuditConfig, AuditCounters, AuditOutcome, Auditor, DEFAULT_KEEPALIVE_GAPS, PathAudit,
    TimeoutEvidence,
};
