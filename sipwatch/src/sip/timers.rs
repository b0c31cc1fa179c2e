//! RFC 3261's transaction timers, one home for the tracker (which fires
//! them on what it watches) and the client (which runs them on what it
//! sends).
use std::time::Duration;

/// T1, the round-trip time estimate (RFC 3261 §17.1.1.1): the first
/// retransmission interval over UDP.
pub const T1: Duration = Duration::from_millis(500);
/// T2, the longest retransmission interval of a non-INVITE request and of
/// an INVITE's answers (RFC 3261 §17.1.2.2).
pub const T2: Duration = Duration::from_secs(4);
/// Timer F (every request but INVITE): 64 × T1, after which the client
/// gives up and reports 408 Request Timeout to its user (RFC 3261 §17.1.2.2).
pub const TIMER_F: Duration = Duration::from_secs(32);
/// Timer B (INVITE): 64 × T1, as Timer F (RFC 3261 §17.1.1.2).
pub const TIMER_B: Duration = TIMER_F;
/// Timer C (RFC 3261 §16.6 step 11): "greater than 3 minutes"; a proxy
/// cancels an INVITE that no provisional response has refreshed for this
/// long. An INVITE client transaction that got a provisional response has
/// no Timer B (§17.1.1.2), so the tracker forgets one silently after this
/// long without a further provisional or final response.
pub const TIMER_C: Duration = Duration::from_secs(180);
