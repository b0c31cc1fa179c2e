//! sipwatch: finds out, from the wire, why SIP registrations fail.
//!
//! Data flows one way: [`capture`] (kernel programs, ring buffer) → [`net`]
//! (frames to datagrams) → [`report`] (what the user sees). The `attach`
//! command in [`live`] wires them together.
pub mod capture;
pub mod live;
pub mod net;
pub mod report;
