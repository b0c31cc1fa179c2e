//! Asterisk PJSIP outbound registrations: their options and defaults, their
//! retry rules, and which versions answer which digest algorithms.
//!
//! Source of the options and defaults: the `configOption` documentation and
//! the `ast_sorcery_object_field_register` calls of
//! `res/res_pjsip_outbound_registration.c` (also `pjsip.conf.sample`); of the
//! retry rules: its `handle_registration_response` and
//! `sip_outbound_registration_is_temporal`.
use super::Setting;

/// `retry_interval`: seconds to wait after a temporary failure (or no
/// answer) before trying again; default 60.
pub const RETRY_INTERVAL: Setting = Setting {
    name: "retry_interval",
    default: 60,
};

/// `forbidden_retry_interval`: seconds to wait after a 403 before trying
/// again; default 0, which stops registering for good after a 403.
pub const FORBIDDEN_RETRY_INTERVAL: Setting = Setting {
    name: "forbidden_retry_interval",
    default: 0,
};

/// `fatal_retry_interval`: seconds to wait after a permanent failure
/// before trying again; default 0, which stops registering for good.
pub const FATAL_RETRY_INTERVAL: Setting = Setting {
    name: "fatal_retry_interval",
    default: 0,
};

/// `max_retries`: retries after temporary failures before it stops;
/// default 10.
pub const MAX_RETRIES: Setting = Setting {
    name: "max_retries",
    default: 10,
};

/// `expiration`: seconds of registration asked for; default 3600.
pub const EXPIRATION: Setting = Setting {
    name: "expiration",
    default: 3600,
};

/// `auth_rejection_permanent`: a 401/407 to the REGISTER that carried
/// credentials is fatal; default yes (1).
pub const AUTH_REJECTION_PERMANENT: Setting = Setting {
    name: "auth_rejection_permanent",
    default: 1,
};

/// `auth_type` of a `type=auth` section: `userpass` (default: `username`
/// and `password`), `md5` (`username` and `md5_cred`, the hash of
/// `username:realm:password`; `password` is then ignored), and since
/// Asterisk 22 `digest` (`config_auth.c`, `auth_type_handler`).
pub const AUTH_TYPE_DEFAULT: &str = "userpass";

/// `minimum_expiration` of an Asterisk AOR as a registrar: it refuses
/// shorter registrations with 423 and this Min-Expires; default 60
/// (`res_pjsip/location.c`, `ast_sorcery_object_field_register(… "aor",
/// "minimum_expiration", "60" …)`). A common floor among registrars.
pub const MINIMUM_EXPIRATION: Setting = Setting {
    name: "minimum_expiration",
    default: 60,
};

/// `sends_registrations` of a `pjsip_wizard.conf` trunk (`type=wizard`):
/// builds a `type=registration` from `remote_hosts` and the
/// `outbound_auth/…` keys; default no (`res_pjsip_config_wizard.c`
/// configInfo).
pub const WIZARD_SENDS_REGISTRATIONS: Setting = Setting {
    name: "sends_registrations",
    default: 0,
};

/// `sends_auth` of a `pjsip_wizard.conf` trunk: only with it does the
/// wizard build an auth from the `outbound_auth/…` keys and name it in the
/// registration's `outbound_auth`; without it the registration has no
/// credentials and registers the trunk's name as its user
/// (`res_pjsip_config_wizard.c`); default no.
pub const WIZARD_SENDS_AUTH: Setting = Setting {
    name: "sends_auth",
    default: 0,
};

/// A registration is refreshed this long before the granted expiry,
/// seconds (`REREGISTER_BUFFER_TIME` in `res_pjsip_outbound_registration.c`).
pub const REFRESH_BEFORE_S: u32 = 10;

/// Whether a final response code is temporary for an outbound
/// registration: retried after Retry-After, else `retry_interval`. 408,
/// 500, 502, 503, 504 and 6xx (`sip_outbound_registration_is_temporal`;
/// 401/407 too, only with `auth_rejection_permanent=no`, which is not the
/// default).
pub fn is_temporary(code: u16) -> bool {
    matches!(code, 408 | 500 | 502 | 503 | 504 | 600..=699)
}

/// The first release of each branch whose PJSIP answers SHA-256 and
/// SHA-512-256 digest challenges, as (major, minor): 20.12.0, 21.7.0,
/// 22.2.0, and every later major (the Asterisk "PJSIP Authentication"
/// documentation; chan_sip answers MD5 only, in every version).
pub const SHA256_SINCE: [(u32, u32); 3] = [(20, 12), (21, 7), (22, 2)];

/// The PJProject release those Asterisk versions bundle for SHA-256 digest.
pub const SHA256_PJPROJECT: &str = "2.15.1";

/// Whether the Asterisk named in a User-Agent / Server header can answer
/// SHA-256 and SHA-512-256 challenges (see [`SHA256_SINCE`]); `None` when
/// it names no Asterisk version.
///
/// ```
/// use sipwatch::pbx::asterisk::has_sha256;
/// assert_eq!(has_sha256("Asterisk PBX 20.5.0"), Some(false));
/// assert_eq!(has_sha256("Asterisk PBX 23.0.0"), Some(true));
/// assert_eq!(has_sha256("FreeSWITCH"), None);
/// ```
pub fn has_sha256(user_agent: &str) -> Option<bool> {
    let lower = user_agent.to_ascii_lowercase();
    let after = &lower[lower.find("asterisk")? + "asterisk".len()..];
    let version = after
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = version
        .split(['.', '-', '~'])
        .map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next()??, parts.next().flatten().unwrap_or(0));
    let newest = SHA256_SINCE.last().map_or(0, |&(m, _)| m);
    Some(match SHA256_SINCE.iter().find(|&&(m, _)| m == major) {
        Some(&(_, since)) => minor >= since,
        None => major > newest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_codes_are_those_pjsua_retries() {
        for code in [408, 500, 502, 503, 504, 600, 603] {
            assert!(is_temporary(code), "{code}");
        }
        for code in [401, 403, 404, 407, 480, 486, 501] {
            assert!(!is_temporary(code), "{code}");
        }
    }

    #[test]
    fn asterisk_versions_tell_whether_sha_256_can_be_answered() {
        for (ua, has) in [
            ("Asterisk PBX 20.5.0", Some(false)),
            ("Asterisk PBX 20.12.0", Some(true)),
            ("Asterisk PBX 21.6.1", Some(false)),
            ("Asterisk PBX 22.2.0", Some(true)),
            ("Asterisk PBX 23.0.0", Some(true)),
            ("Asterisk 18.20.1-cert2", Some(false)),
            ("FPBX-16.0.40(23.1.0)", None),
            ("Asterisk PBX GIT-master-abc", None),
            ("pjsua 2.10", None),
        ] {
            assert_eq!(has_sha256(ua), has, "{ua}");
        }
    }
}
