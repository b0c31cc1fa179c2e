//! FreeSWITCH gateways (`mod_sofia`): the options that change how they
//! retry a registration, and their retry rules.
//!
//! Source: `src/mod/endpoints/mod_sofia/sofia_reg.c` (`sofia_reg_check_gateway`:
//! FAILED, then FAIL_WAIT for `retry-seconds` × failures, flat after a 503
//! or a timeout, its code 908; never stops) and the gateway parameters of
//! `sofia.c`.
use super::Setting;

/// `retry-seconds`: the wait after a failed registration, seconds; default 30.
pub const RETRY_SECONDS: Setting = Setting {
    name: "retry-seconds",
    default: 30,
};

/// `expire-seconds`: seconds of registration asked for; default 3600.
pub const EXPIRE_SECONDS: Setting = Setting {
    name: "expire-seconds",
    default: 3600,
};

/// A gateway refreshes this long before the granted expiry, seconds.
pub const REFRESH_BEFORE_S: u32 = 15;

/// Whether the wait after a failure stays `retry-seconds` instead of
/// growing with the number of failures: after a 503 or no answer at all
/// (`None`, FreeSWITCH's 908).
pub fn retries_flat(code: Option<u16>) -> bool {
    matches!(code, None | Some(503))
}
