//! What sipwatch knows about the PBXs that register, in one place: how to
//! recognise one from its User-Agent or Server header ([`PbxKind`]), the
//! options that change what it does and their defaults ([`Setting`]), which
//! versions can do what, and its retry rules. Each fact names its source
//! (the PBX's option documentation or source file, or an RFC section).
//!
//! The tracker reads the rules from here to predict a PBX's next move
//! ([`crate::track::next_move`]); the words ([`crate::say`]) read the option
//! names and defaults from here to name the fix; a configuration linter or
//! `doctor` would read the same facts.
//!
//! ```
//! use sipwatch::pbx::{PbxKind, asterisk};
//! assert_eq!(PbxKind::recognise("Asterisk PBX 22.0.0"), PbxKind::Asterisk);
//! assert_eq!(asterisk::RETRY_INTERVAL.default, 60);
//! assert_eq!(asterisk::has_sha256("Asterisk PBX 20.12.0"), Some(true));
//! ```
pub mod asterisk;
pub mod chan_sip;
pub mod config;
pub mod freeswitch;
mod kind;

pub use kind::PbxKind;

/// A PBX configuration option that changes what it does, with its
/// documented default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Its name in the configuration file, as the admin writes it.
    pub name: &'static str,
    /// Its default, in the option's own unit (seconds, a count, or 1 / 0
    /// for yes / no).
    pub default: u32,
}
