//! The words of a [`NextMove`]: what the PBX will do next, in its own
//! terms, with the option that changes it and its default, read from
//! [`crate::pbx`].
use super::{Context, interval};
use crate::{
    pbx::{PbxKind, Setting, asterisk, chan_sip, freeswitch},
    time::clock,
    track::{Deviation, NextMove, PbxShows, Revival, Rule},
};

/// The detail line, in the PBX's terms ([`Context::pbx`]): "Asterisk stops
/// trying: `pjsip show registrations` shows Rejected until `pjsip send
/// register` or a reload"; `None` for [`NextMove::Unknown`].
pub fn next_move(m: &NextMove, cx: &Context) -> Option<String> {
    let pbx = cx.pbx;
    let who = pbx.name();
    let shows = |s: &Option<PbxShows>| s.map(|s| format!("; {}", pbx_shows(s))).unwrap_or_default();
    Some(match m {
        NextMove::Refreshes { at, rule, shows: s } => format!(
            "{who} refreshes at {} ({}){}",
            clock(*at),
            rule_words(*rule),
            shows(s)
        ),
        NextMove::RetriesAt {
            at,
            wait_s,
            rule,
            shows: s,
        } => format!(
            "{who} tries again at {}, {wait_s} s after the last failure ({}){}",
            clock(*at),
            rule_words(*rule),
            shows(s)
        ),
        NextMove::GivesUp {
            rule,
            brought_back_by: Revival::AsteriskSendRegister,
            shows: s,
        } => format!(
            "{who} stops trying ({}){} until `pjsip send register` or a reload",
            rule_words(*rule),
            shows(s)
        ),
        NextMove::ConfigDiffers {
            rule,
            deviation,
            next_at,
        } => {
            let seen = match deviation {
                Deviation::KeptTrying { attempts: 1 } => {
                    format!("{who} tried again after a failure where its defaults stop")
                }
                Deviation::KeptTrying { attempts } => format!(
                    "{who} kept trying ({attempts} failures in a row) where its defaults stop"
                ),
                Deviation::Interval { default_s, seen_ms } => format!(
                    "{who} waited {} where its default is {default_s} s",
                    interval(*seen_ms)
                ),
            };
            let next = next_at
                .map(|t| {
                    format!(
                        "; at the interval seen, the next REGISTER is due at {}",
                        clock(t)
                    )
                })
                .unwrap_or_default();
            let chan_sip = if pbx == PbxKind::Asterisk {
                format!(
                    "; or it is chan_sip (`{}`, `{}`), or someone ran `pjsip send register`",
                    chan_sip::REGISTER_ATTEMPTS.name,
                    chan_sip::REGISTER_TIMEOUT.name
                )
            } else {
                String::new()
            };
            format!(
                "{seen}: its configuration differs from the defaults: {}{chan_sip}{next}",
                options(*rule)
            )
        }
        NextMove::Unknown => return None,
    })
}

/// What the PBX's own status shows, in words: "`pjsip show registrations`
/// shows Rejected".
pub fn pbx_shows(s: PbxShows) -> &'static str {
    match s {
        PbxShows::AsteriskRegistered => "`pjsip show registrations` shows Registered",
        PbxShows::AsteriskRejected => "`pjsip show registrations` shows Rejected",
        PbxShows::FreeSwitchReged => "`sofia status gateway` shows REGED",
        PbxShows::FreeSwitchFailWait => "`sofia status gateway` shows FAIL_WAIT (DOWN)",
    }
}

/// `name` (default N): an option with its default, from [`crate::pbx`].
fn default_of(s: Setting) -> String {
    format!("`{}` (default {})", s.name, s.default)
}

/// The PBX options that change the rule, with their defaults.
pub fn options(rule: Rule) -> String {
    let (fatal, forbidden) = (
        asterisk::FATAL_RETRY_INTERVAL,
        asterisk::FORBIDDEN_RETRY_INTERVAL,
    );
    match rule {
        Rule::AsteriskAuthRejectionPermanent => format!(
            "`{}=no` or `{}` set (defaults yes, {})",
            asterisk::AUTH_REJECTION_PERMANENT.name,
            fatal.name,
            fatal.default
        ),
        Rule::AsteriskForbidden => format!(
            "`{}` or `{}` set (default {})",
            forbidden.name, fatal.name, forbidden.default
        ),
        Rule::AsteriskFatal => format!("`{}` set (default {})", fatal.name, fatal.default),
        Rule::AsteriskRetryAfter | Rule::AsteriskRetryInterval => {
            format!(
                "`{}` (default {} s)",
                asterisk::RETRY_INTERVAL.name,
                asterisk::RETRY_INTERVAL.default
            )
        }
        Rule::AsteriskMaxRetries => format!(
            "`{}` raised (default {})",
            asterisk::MAX_RETRIES.name,
            asterisk::MAX_RETRIES.default
        ),
        Rule::AsteriskRefresh => {
            format!(
                "`{}` (default {} s)",
                asterisk::EXPIRATION.name,
                asterisk::EXPIRATION.default
            )
        }
        Rule::FreeSwitchBackoff | Rule::FreeSwitchFlat => default_of(freeswitch::RETRY_SECONDS),
        Rule::FreeSwitchRefresh => {
            format!("the gateway's {}", default_of(freeswitch::EXPIRE_SECONDS))
        }
        Rule::SeenOnWire | Rule::GrantedExpiry => "its retry interval".into(),
    }
}

/// The rule, in words: "403: fatal while `forbidden_retry_interval=0`, the
/// default".
fn rule_words(rule: Rule) -> String {
    let fatal_while =
        |s: Setting, value: &str| format!("fatal while `{}={value}`, the default", s.name);
    let by_default = |s: Setting| format!("`{}`, {} by default", s.name, s.default);
    match rule {
        Rule::AsteriskAuthRejectionPermanent => format!(
            "credentials rejected: {}",
            fatal_while(asterisk::AUTH_REJECTION_PERMANENT, "yes")
        ),
        Rule::AsteriskForbidden => format!(
            "403: {}",
            fatal_while(
                asterisk::FORBIDDEN_RETRY_INTERVAL,
                &asterisk::FORBIDDEN_RETRY_INTERVAL.default.to_string()
            )
        ),
        Rule::AsteriskFatal => format!(
            "a permanent failure: {}",
            fatal_while(
                asterisk::FATAL_RETRY_INTERVAL,
                &asterisk::FATAL_RETRY_INTERVAL.default.to_string()
            )
        ),
        Rule::AsteriskRetryAfter => "temporary failure: as its Retry-After says".into(),
        Rule::AsteriskRetryInterval => format!(
            "temporary failure: `{}`, {} s by default",
            asterisk::RETRY_INTERVAL.name,
            asterisk::RETRY_INTERVAL.default
        ),
        Rule::AsteriskMaxRetries => format!("{}, spent", by_default(asterisk::MAX_RETRIES)),
        Rule::AsteriskRefresh => {
            format!("{} s before the granted expiry", asterisk::REFRESH_BEFORE_S)
        }
        Rule::FreeSwitchBackoff => format!(
            "FAIL_WAIT: {}, × failures",
            by_default(freeswitch::RETRY_SECONDS)
        ),
        Rule::FreeSwitchFlat => format!(
            "FAIL_WAIT: {}, flat after 503 or a timeout",
            by_default(freeswitch::RETRY_SECONDS)
        ),
        Rule::FreeSwitchRefresh => format!(
            "{} s before the granted expiry",
            freeswitch::REFRESH_BEFORE_S
        ),
        Rule::SeenOnWire => "at the interval seen on the wire".into(),
        Rule::GrantedExpiry => "before the granted expiry, at the latest".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prediction_but_unknown_has_words_and_gave_up_names_what_brings_it_back() {
        let gave_up = NextMove::GivesUp {
            rule: Rule::AsteriskForbidden,
            brought_back_by: Revival::AsteriskSendRegister,
            shows: Some(PbxShows::AsteriskRejected),
        };
        let words = next_move(&gave_up, &Context::of_pbx(PbxKind::Asterisk)).unwrap();
        assert_eq!(
            words,
            "Asterisk stops trying (403: fatal while `forbidden_retry_interval=0`, the default); `pjsip show registrations` shows Rejected until `pjsip send register` or a reload"
        );
        assert_eq!(next_move(&NextMove::Unknown, &Context::default()), None);
    }

    #[test]
    fn the_options_named_are_the_pbx_facts_with_their_defaults() {
        for (said, want) in [
            (
                options(Rule::AsteriskAuthRejectionPermanent),
                "`auth_rejection_permanent=no` or `fatal_retry_interval` set (defaults yes, 0)",
            ),
            (
                options(Rule::AsteriskRetryInterval),
                "`retry_interval` (default 60 s)",
            ),
            (
                options(Rule::FreeSwitchRefresh),
                "the gateway's `expire-seconds` (default 3600)",
            ),
            (
                rule_words(Rule::FreeSwitchFlat),
                "FAIL_WAIT: `retry-seconds`, 30 by default, flat after 503 or a timeout",
            ),
        ] {
            assert_eq!(said, want);
        }
    }
}
