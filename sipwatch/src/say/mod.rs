//! The words a user reads about what the tracker decided: each diagnosis
//! (what happened, what to do), each path finding, the PBX's next move, the
//! failure record, a retry storm, the Contacts a registrar kept, the gaps
//! in a registration, a packet this host's kernel dropped. One file per
//! subject; [`crate::track`] decides and holds typed data, this module puts
//! it into words, the way `alg/describe.rs` words what
//! `alg/compare.rs` found (those two stay together in `alg`, the
//! model this module follows). The path audit's words are [`path_audit`].
//!
//! The words take a [`Context`]: which PBX the binding belongs to (its
//! option names and defaults come from [`crate::pbx`]), and room for the
//! configuration section a `doctor` or `lint` found, so that those add
//! their sentences here too.
//!
//! Data flows one way: `say` reads `track`, `net` and `pbx` types and is
//! read by [`crate::report`] and [`crate::probe`]; nothing below calls into
//! it. The JSON `status` of a registration is the one sentence JSON
//! carries: its serialisation ([`crate::report::json`]) calls
//! [`registration::status`].
//!
//! ```
//! use sipwatch::{pbx::PbxKind, say::{Context, next_move}, track::NextMove};
//! assert_eq!(next_move::next_move(&NextMove::Unknown, &Context::of_pbx(PbxKind::Asterisk)), None);
//! ```
use std::time::SystemTime;

use crate::{pbx::PbxKind, track::Registration};

pub mod call;
pub mod contacts;
pub mod continuity;
pub mod diagnosis;
pub mod doctor;
pub mod hep;
pub mod kernel_drop;
pub mod lint;
pub mod malformed;
pub mod next_move;
pub mod password;

pub use crate::track::config_match::{AuthRef, ConfigRef};
mod path;
pub mod path_audit;
pub mod record;
pub mod registration;
pub mod storm;
pub mod tls;
pub mod tui;

/// `n` with its noun, singular for one: `1 time`, `3 times`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the words are about, beyond the typed finding itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The PBX the binding belongs to: its name and option names in the
    /// words ([`PbxKind::Other`] when unknown).
    pub pbx: PbxKind,
    /// The configuration section the finding is about, when the PBX's
    /// configuration was read (`attach` / `analyze --config-dir`: the
    /// section that sends the registration, [`Context::of_in`]); `None`
    /// from the wire alone.
    pub config: Option<ConfigRef>,
}

impl Context {
    /// The context of a binding: its PBX, no configuration.
    pub fn of(r: &Registration) -> Context {
        Context::of_pbx(r.pbx)
    }

    /// The context of a binding with the configuration read
    /// (`--config-dir`): the section that sends its registration, when one
    /// matches its Request-URI and AOR ([`ConfigRef::of`]).
    pub fn of_in(r: &Registration, trunks: Option<&crate::pbx::config::trunks::Trunks>) -> Context {
        Context {
            pbx: r.pbx,
            config: trunks.and_then(|t| ConfigRef::of(r, t)),
        }
    }

    /// The context of a PBX kind, no configuration.
    pub fn of_pbx(pbx: PbxKind) -> Context {
        Context { pbx, config: None }
    }
}

/// An interval for people, whole seconds from 10 s on: "4 ms", "2.5 s", "60 s".
pub fn interval(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{} s", ms.saturating_add(500) / 1000)
    } else {
        human_ms(ms)
    }
}

/// A time of day to the second, for the table: "14:02:10".
pub fn hms(t: SystemTime) -> String {
    let mut s = crate::time::clock(t);
    s.truncate(8);
    s
}

/// A duration for people: "4 ms", "60.0 s".
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn intervals_read_in_whole_seconds_from_ten_on() {
        assert_eq!(interval(4), "4 ms");
        assert_eq!(interval(2_500), "2.5 s");
        assert_eq!(interval(9_999), "10.0 s");
        assert_eq!(interval(10_400), "10 s");
        assert_eq!(interval(u64::MAX), format!("{} s", u64::MAX / 1000));
    }

    #[test]
    fn a_time_of_day_reads_to_the_second() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(86_399);
        assert_eq!(hms(at), "23:59:59");
    }
}

#[cfg(test)]
mod count_tests {
    use super::count;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(1u32, "time", "times"), "1 time");
        assert_eq!(count(0u32, "time", "times"), "0 times");
        assert_eq!(
            count(11u64, "transaction", "transactions"),
            "11 transactions"
        );
    }
}
