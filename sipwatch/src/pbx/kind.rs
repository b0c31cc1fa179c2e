//! Which PBX sends the REGISTERs (or answers them), recognised from its
//! User-Agent or Server header.
use serde::Serialize;

/// The kind of client that registers, as far as its retry rules go.
///
/// chan_sip and PJSIP both say `Asterisk PBX <version>` by default, so the
/// wire does not tell them apart: both are [`PbxKind::Asterisk`], and the
/// rules followed are PJSIP's (chan_sip is gone since Asterisk 21); where
/// the wire contradicts them, the words name chan_sip's options too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PbxKind {
    /// Asterisk (and FreePBX, whose User-Agent starts with `FPBX`): the
    /// rules of PJSIP outbound registrations (`res_pjsip_outbound_registration`).
    Asterisk,
    /// FreeSWITCH gateways (`mod_sofia`).
    FreeSwitch,
    /// Anything else, or no User-Agent: only what the wire shows is said.
    #[default]
    Other,
}

impl PbxKind {
    /// The kind named by a User-Agent (or Server) header value: Asterisk's
    /// default `useragent` is `Asterisk PBX <version>` (PJSIP `[system]`,
    /// chan_sip `[general]`), FreePBX sets `FPBX-<version>(<asterisk>)`,
    /// FreeSWITCH's `mod_sofia` says `FreeSWITCH-mod_sofia/<version>`.
    ///
    /// ```
    /// use sipwatch::pbx::PbxKind;
    /// assert_eq!(PbxKind::recognise("Asterisk PBX 22.0.0"), PbxKind::Asterisk);
    /// assert_eq!(PbxKind::recognise("FreeSWITCH-mod_sofia/1.10.12"), PbxKind::FreeSwitch);
    /// assert_eq!(PbxKind::recognise("Z 5.6.4"), PbxKind::Other);
    /// ```
    pub fn recognise(user_agent: &str) -> PbxKind {
        let ua = user_agent.to_ascii_lowercase();
        if ua.contains("asterisk") || ua.starts_with("fpbx") {
            PbxKind::Asterisk
        } else if ua.contains("freeswitch") {
            PbxKind::FreeSwitch
        } else {
            PbxKind::Other
        }
    }

    /// Its name for people.
    pub fn name(&self) -> &'static str {
        match self {
            PbxKind::Asterisk => "Asterisk",
            PbxKind::FreeSwitch => "FreeSWITCH",
            PbxKind::Other => "the client",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freepbx_is_asterisk_and_case_does_not_matter() {
        assert_eq!(
            PbxKind::recognise("FPBX-16.0.40(18.20.0)"),
            PbxKind::Asterisk
        );
        assert_eq!(PbxKind::recognise("freeswitch"), PbxKind::FreeSwitch);
        assert_eq!(PbxKind::recognise(""), PbxKind::Other);
    }
}
