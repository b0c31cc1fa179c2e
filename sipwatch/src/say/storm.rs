//! The words of a [`RetryStorm`]: what was seen, the risk, and the
//! option that slows the PBX down ([`crate::pbx`]).
use super::{Context, interval};
use crate::{
    pbx::{PbxKind, asterisk, freeswitch},
    track::RetryStorm,
};

/// (what was seen and the risk, the option that slows it), for the PBX of `cx`.
pub fn retry_storm(storm: &RetryStorm, cx: &Context) -> (String, String) {
    let seen = match storm {
        RetryStorm::Burst { rate_per_s } => format!(
            "REGISTERs for this binding at {rate_per_s:.1} a second: faster than providers tolerate (some block at 5 a second per AOR)"
        ),
        RetryStorm::PermanentRetried {
            code,
            attempts,
            interval_ms,
        } => format!(
            "the permanent failure {code} retried {attempts} times in a row{}: it will not go away by retrying",
            interval_ms
                .map(|ms| format!(", every {}", interval(ms)))
                .unwrap_or_default()
        ),
    };
    let slow = match cx.pbx {
        PbxKind::Asterisk => format!(
                "slow it down: PJSIP `{}`, `{}` and `{}` (0 stops after a permanent failure), `{}`, `{}=yes`; check that no two `type=registration` sections register the same AOR",
                asterisk::RETRY_INTERVAL.name,
                asterisk::FORBIDDEN_RETRY_INTERVAL.name,
                asterisk::FATAL_RETRY_INTERVAL.name,
                asterisk::MAX_RETRIES.name,
                asterisk::AUTH_REJECTION_PERMANENT.name
            ),
        PbxKind::FreeSwitch => format!(
                "slow it down: the gateway's `{}`; check that no two gateways register the same AOR",
                freeswitch::RETRY_SECONDS.name
            ),
        PbxKind::Other => {
            "slow it down: the client's registration retry interval, and stop it from retrying a permanent failure".to_owned()
        }
    };
    (format!("{seen}; the provider may block this address"), slow)
}
