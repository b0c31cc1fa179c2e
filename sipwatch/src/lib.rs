//! sipwatch: finds out, from the wire, why SIP registrations fail.
//!
//! Data flows one way: [`capture`] (kernel programs, ring buffer, capture
//! files) → [`net`] (frames to datagrams, TCP streams) → [`sip`] (whole
//! messages) → [`report`] (what the user sees).
//! [`pipeline`] is that path for one frame; [`live`] (`attach`) and
//! [`analyze`] feed it from the NIC and from a file.
pub mod alg;
pub mod analyze;
pub mod audit;
pub mod capture;
pub mod echo;
pub mod live;
pub mod net;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod sip;
pub mod time;
pub mod track;
