//! The test lab: a PBX, a router and a provider, each in its own network
//! namespace, joined by veth pairs and connected to nothing else.
//!
//! ```text
//!  pbx: eth0 ──── lan0 :router: wan0 ──── eth0 :provider
//!       192.168.77.10   .77.1   203.0.113.1    203.0.113.2
//!       fd77::10        fd77::1 2001:db8:113::1 2001:db8:113::2
//! ```
//!
//! The router forwards and masquerades (IPv4 and IPv6) and takes on a
//! [`Personality`]: plain NAT, NAT with the kernel's SIP ALG, or a firewall
//! dropping SIP on the way out or on the way back. The names of a lab's
//! namespaces are unique to the run; dropping the [`Lab`] removes them and
//! kills what was started inside, also when a test panics. Labs left behind
//! by a killed process are swept by the next [`Lab::new`].
//!
//! ```no_run
//! use sipwatch_lab::{Lab, Personality};
//! let lab = Lab::new(Personality::SipAlg)?;
//! let out = lab.pbx.run(&["ping", "-c1", "203.0.113.2"])?;
//! # Ok::<(), sipwatch_lab::LabError>(())
//! ```
mod addresses;
pub mod baresip;
mod error;
pub mod flood;
pub mod kamailio;
mod lab;
mod netns;
mod personality;
pub mod pki;
mod sip;

pub use addresses::*;
pub use error::LabError;
pub use lab::{Lab, require_tools};
pub use netns::{Netns, NetnsChild};
pub use personality::Personality;
pub use sip::{SipMessageFactory, invite_with_sdp, response_to};
