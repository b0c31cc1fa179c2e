//! Step 5: TLS. Not tested by this version: the step is reported as not
//! tested (–), never as passed. The client's [`crate::client::SipStream`]
//! is where a rustls stream will plug in.
use serde::Serialize;

/// The TLS step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Tls {
    /// Not tested by this version.
    NotTested,
}
