//! Asterisk's chan_sip (removed in Asterisk 21): the options that change
//! how it retries a registration.
//!
//! Source: `configs/samples/sip.conf.sample` and `channels/sip/include/sip.h`
//! (`DEFAULT_REGISTRATION_TIMEOUT`) of Asterisk 20, the last with chan_sip.
//! It cannot be told from PJSIP on the wire: both say `Asterisk PBX`.
use super::Setting;

/// `registerattempts`: registration attempts before it gives up; default
/// 0, which retries for ever.
pub const REGISTER_ATTEMPTS: Setting = Setting {
    name: "registerattempts",
    default: 0,
};

/// `registertimeout`: seconds between registration attempts; default 20.
pub const REGISTER_TIMEOUT: Setting = Setting {
    name: "registertimeout",
    default: 20,
};
