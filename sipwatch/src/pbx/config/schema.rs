//! The options Asterisk's PJSIP objects accept, by `type=`, with the values
//! of the few whose wrong value stops a registration: a schema to check a
//! configuration's names and values against.
//!
//! Source: the `configInfo` documentation of Asterisk 22 (the
//! `configObject` / `configOption` blocks of `res/res_pjsip/pjsip_config.xml`,
//! `res_pjsip_outbound_registration.c`, `res_pjsip_endpoint_identifier_ip.c`
//! and `res_pjsip_config_wizard.c`), the options `pjsip show …` lists.
//!
//! Why it matters: Asterisk's sorcery refuses the whole object when one of
//! its options is unknown or its value does not parse (`aco_process_var`:
//! "Could not find option suitable for category '…' named '…'", then
//! `res_sorcery_config`: "Could not create an object of type '…' with id
//! '…'"). A misspelled key is not ignored: the section is not loaded (on a
//! reload, the object loaded before is kept, so an edit seems to do
//! nothing).
//!
//! ```
//! use sipwatch::pbx::config::schema::{self, Check};
//! assert_eq!(schema::check("registration", "server_uri", "sip:p.example"), Check::Fine);
//! assert!(matches!(schema::check("registration", "servr_uri", "x"), Check::Unknown { suggestion: Some("server_uri") }));
//! assert!(matches!(schema::check("registration", "retry_interval", "60s"), Check::BadValue { .. }));
//! ```

/// `type=endpoint`.
const ENDPOINT: &[&str] = &[
    "100rel",
    "aggregate_mwi",
    "allow",
    "codec_prefs_incoming_offer",
    "codec_prefs_outgoing_offer",
    "codec_prefs_incoming_answer",
    "codec_prefs_outgoing_answer",
    "allow_overlap",
    "overlap_context",
    "aors",
    "auth",
    "callerid",
    "callerid_privacy",
    "callerid_tag",
    "context",
    "direct_media_glare_mitigation",
    "direct_media_method",
    "trust_connected_line",
    "send_connected_line",
    "connected_line_method",
    "direct_media",
    "disable_direct_media_on_nat",
    "disallow",
    "dtmf_mode",
    "media_address",
    "bind_rtp_to_media_address",
    "force_rport",
    "ice_support",
    "identify_by",
    "redirect_method",
    "follow_redirect_methods",
    "mailboxes",
    "mwi_subscribe_replaces_unsolicited",
    "voicemail_extension",
    "moh_suggest",
    "outbound_auth",
    "outbound_proxy",
    "rewrite_contact",
    "rtp_ipv6",
    "rtp_symmetric",
    "send_diversion",
    "send_history_info",
    "send_pai",
    "send_rpid",
    "rpid_immediate",
    "tenantid",
    "timers_min_se",
    "timers",
    "timers_sess_expires",
    "transport",
    "trust_id_inbound",
    "trust_id_outbound",
    "type",
    "use_ptime",
    "use_avpf",
    "force_avp",
    "media_use_received_transport",
    "media_encryption",
    "media_encryption_optimistic",
    "g726_non_standard",
    "inband_progress",
    "call_group",
    "pickup_group",
    "named_call_group",
    "named_pickup_group",
    "device_state_busy_at",
    "t38_udptl",
    "t38_udptl_ec",
    "t38_udptl_maxdatagram",
    "fax_detect",
    "fax_detect_timeout",
    "t38_udptl_nat",
    "t38_udptl_ipv6",
    "t38_bind_udptl_to_media_address",
    "tone_zone",
    "language",
    "one_touch_recording",
    "record_on_feature",
    "record_off_feature",
    "rtp_engine",
    "allow_transfer",
    "user_eq_phone",
    "moh_passthrough",
    "sdp_owner",
    "sdp_session",
    "tos_audio",
    "tos_video",
    "cos_audio",
    "cos_video",
    "allow_subscribe",
    "sub_min_expiry",
    "from_user",
    "mwi_from_user",
    "from_domain",
    "dtls_verify",
    "dtls_rekey",
    "dtls_auto_generate_cert",
    "dtls_cert_file",
    "dtls_private_key",
    "dtls_cipher",
    "dtls_ca_file",
    "dtls_ca_path",
    "dtls_setup",
    "dtls_fingerprint",
    "srtp_tag_32",
    "set_var",
    "message_context",
    "accountcode",
    "preferred_codec_only",
    "incoming_call_offer_pref",
    "outgoing_call_offer_pref",
    "rtp_keepalive",
    "rtp_timeout",
    "rtp_timeout_hold",
    "rtp_port_start",
    "rtp_port_end",
    "acl",
    "deny",
    "permit",
    "contact_acl",
    "contact_deny",
    "contact_permit",
    "subscribe_context",
    "contact_user",
    "asymmetric_rtp_codec",
    "rtcp_mux",
    "refer_blind_progress",
    "notify_early_inuse_ringing",
    "max_audio_streams",
    "max_video_streams",
    "bundle",
    "webrtc",
    "incoming_mwi_mailbox",
    "follow_early_media_fork",
    "accept_multiple_sdp_answers",
    "suppress_q850_reason_headers",
    "ignore_183_without_sdp",
    "stir_shaken",
    "stir_shaken_profile",
    "allow_unauthenticated_options",
    "security_negotiation",
    "security_mechanisms",
    "geoloc_incoming_call_profile",
    "geoloc_outgoing_call_profile",
    "send_aoc",
    "suppress_moh_on_sendonly",
];

/// `type=auth`.
const AUTH: &[&str] = &[
    "auth_type",
    "username",
    "password",
    "password_digest",
    "md5_cred",
    "supported_algorithms_uac",
    "supported_algorithms_uas",
    "refresh_token",
    "oauth_clientid",
    "oauth_secret",
    "realm",
    "nonce_lifetime",
    "type",
];

/// `type=aor`.
const AOR: &[&str] = &[
    "contact",
    "default_expiration",
    "mailboxes",
    "voicemail_extension",
    "maximum_expiration",
    "max_contacts",
    "minimum_expiration",
    "remove_existing",
    "remove_unavailable",
    "type",
    "qualify_frequency",
    "qualify_timeout",
    "qualify_2xx_only",
    "authenticate_qualify",
    "outbound_proxy",
    "support_path",
];

/// `type=transport`.
const TRANSPORT: &[&str] = &[
    "async_operations",
    "bind",
    "ca_list_file",
    "ca_list_path",
    "cert_file",
    "cipher",
    "domain",
    "external_media_address",
    "external_signaling_address",
    "external_signaling_port",
    "external_signaling_hostname",
    "method",
    "local_net",
    "password",
    "priv_key_file",
    "protocol",
    "require_client_cert",
    "tcp_keepalive_enable",
    "tcp_keepalive_idle_time",
    "tcp_keepalive_interval_time",
    "tcp_keepalive_probe_count",
    "type",
    "verify_client",
    "verify_server",
    "tos",
    "cos",
    "websocket_write_timeout",
    "allow_reload",
    "allow_wildcard_certs",
    "symmetric_transport",
];

/// `type=registration` (res_pjsip_outbound_registration).
const REGISTRATION: &[&str] = &[
    "auth_rejection_permanent",
    "client_uri",
    "contact_user",
    "contact_header_params",
    "expiration",
    "max_retries",
    "security_negotiation",
    "security_mechanisms",
    "outbound_auth",
    "outbound_proxy",
    "max_random_initial_delay",
    "retry_interval",
    "forbidden_retry_interval",
    "fatal_retry_interval",
    "server_uri",
    "transport",
    "line",
    "endpoint",
    "type",
    "support_path",
    "support_outbound",
    "user_agent",
];

/// `type=identify` (res_pjsip_endpoint_identifier_ip).
const IDENTIFY: &[&str] = &[
    "endpoint",
    "match",
    "srv_lookups",
    "match_header",
    "match_request_uri",
    "type",
];

/// `type=wizard` (pjsip_wizard.conf), its own keys; `endpoint/…`,
/// `aor/…`, `inbound_auth/…`, `outbound_auth/…`, `identify/…` and
/// `registration/…` are the options of those types.
const WIZARD: &[&str] = &[
    "type",
    "transport",
    "remote_hosts",
    "outbound_proxy",
    "sends_auth",
    "accepts_auth",
    "sends_registrations",
    "sends_line_with_registrations",
    "accepts_registrations",
    "has_phoneprov",
    "server_uri_pattern",
    "client_uri_pattern",
    "contact_pattern",
    "has_hint",
    "hint_context",
    "hint_exten",
    "hint_application",
];

/// A wizard key's prefix and the type whose options follow it.
const WIZARD_PREFIXES: &[(&str, &str)] = &[
    ("endpoint/", "endpoint"),
    ("aor/", "aor"),
    ("inbound_auth/", "auth"),
    ("outbound_auth/", "auth"),
    ("identify/", "identify"),
    ("registration/", "registration"),
];

/// The options of `type=kind`; `None` for a type this schema does not hold
/// (`global`, `system`, `contact`, …: not checked).
fn options(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "endpoint" => ENDPOINT,
        "auth" => AUTH,
        "aor" => AOR,
        "transport" => TRANSPORT,
        "registration" => REGISTRATION,
        "identify" => IDENTIFY,
        "wizard" => WIZARD,
        _ => return None,
    })
}

/// What a value must be, for the options whose wrong value stops a
/// registration or its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// A whole number (seconds or a count), as `ast_parse_arg` with
    /// `PARSE_UINT32` reads it.
    Number,
    /// One of these words, compared without case.
    OneOf(&'static [&'static str]),
}

/// The value an option wants, for the options checked.
fn wanted(kind: &str, key: &str) -> Option<Wanted> {
    Some(match (kind, key) {
        (
            "registration",
            "expiration"
            | "max_retries"
            | "retry_interval"
            | "forbidden_retry_interval"
            | "fatal_retry_interval"
            | "max_random_initial_delay",
        ) => Wanted::Number,
        ("auth", "auth_type") => Wanted::OneOf(&["userpass", "md5", "digest", "google_oauth"]),
        ("transport", "protocol") => Wanted::OneOf(&["udp", "tcp", "tls", "ws", "wss", "flow"]),
        _ => return None,
    })
}

/// An option checked against the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A known option with an acceptable value, or a type not checked.
    Fine,
    /// No option of that name for that type.
    Unknown {
        /// The known option nearest in spelling, when one is close.
        suggestion: Option<&'static str>,
    },
    /// A known option whose value Asterisk cannot read.
    BadValue {
        /// What it must be.
        wanted: Wanted,
    },
}

/// Checks `key = value` in a section of `type=kind`; a wizard's prefixed
/// keys are checked against the type they configure.
pub fn check(kind: &str, key: &str, value: &str) -> Check {
    let kind = kind.to_ascii_lowercase();
    let key = key.to_ascii_lowercase();
    if kind == "wizard"
        && let Some((prefix, inner)) = WIZARD_PREFIXES
            .iter()
            .find(|(p, _)| key.starts_with(p) && key.len() > p.len())
    {
        return check(inner, &key[prefix.len()..], value);
    }
    if kind == "wizard" && key.starts_with("phoneprov/") {
        return Check::Fine;
    }
    let Some(known) = options(&kind) else {
        return Check::Fine;
    };
    if !known.contains(&key.as_str()) {
        let suggestion = known
            .iter()
            .map(|k| (strsim::damerau_levenshtein(k, &key), *k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 5))
            .min()
            .map(|(_, k)| k);
        return Check::Unknown { suggestion };
    }
    let value = value.trim();
    match wanted(&kind, &key) {
        Some(Wanted::Number) if value.parse::<u32>().is_err() => Check::BadValue {
            wanted: Wanted::Number,
        },
        Some(Wanted::OneOf(words)) if !words.iter().any(|w| w.eq_ignore_ascii_case(value)) => {
            Check::BadValue {
                wanted: Wanted::OneOf(words),
            }
        }
        _ => Check::Fine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelled_options_are_unknown_with_the_nearest_name() {
        assert_eq!(
            check("registration", "outbound_aut", "a"),
            Check::Unknown {
                suggestion: Some("outbound_auth")
            }
        );
        assert_eq!(
            check("auth", "pasword", "x"),
            Check::Unknown {
                suggestion: Some("password")
            }
        );
        assert_eq!(
            check("endpoint", "contxt", "from-trunk"),
            Check::Unknown {
                suggestion: Some("context")
            }
        );
        // chan_sip's name in a PJSIP section: nothing near enough.
        assert_eq!(
            check("auth", "secret", "x"),
            Check::Unknown { suggestion: None }
        );
        assert_eq!(check("Registration", "Server_URI", "sip:x"), Check::Fine);
        assert_eq!(check("global", "anything", "x"), Check::Fine);
    }

    #[test]
    fn wizard_keys_are_checked_against_the_type_they_configure() {
        assert_eq!(check("wizard", "remote_hosts", "p.example"), Check::Fine);
        assert_eq!(check("wizard", "endpoint/context", "in"), Check::Fine);
        assert_eq!(
            check("wizard", "endpoint/contxt", "in"),
            Check::Unknown {
                suggestion: Some("context")
            }
        );
        assert_eq!(
            check("wizard", "registration/retry_interval", "soon"),
            Check::BadValue {
                wanted: Wanted::Number
            }
        );
        assert_eq!(check("wizard", "phoneprov/MAC", "x"), Check::Fine);
        assert!(matches!(
            check("wizard", "send_registrations", "yes"),
            Check::Unknown {
                suggestion: Some(_)
            }
        ));
    }

    #[test]
    fn values_that_do_not_parse_are_named() {
        assert_eq!(check("registration", "expiration", "3600"), Check::Fine);
        assert!(matches!(
            check("registration", "expiration", "1h"),
            Check::BadValue { .. }
        ));
        assert_eq!(check("auth", "auth_type", "UserPass"), Check::Fine);
        assert!(matches!(
            check("auth", "auth_type", "plain"),
            Check::BadValue { .. }
        ));
        assert!(matches!(
            check("transport", "protocol", "sctp"),
            Check::BadValue { .. }
        ));
    }
}
