//! The words of the path audit (`attach --echo`): what the path did to a
//! trunk's REGISTER, how long the NAT keeps its mapping, where a timed-out
//! REGISTER was lost. [`crate::audit`] decides and holds typed
//! [`PathAudit`]s; the `PATH` lines of the log and the summary read them
//! here, and the JSON `evidence` of a located timeout is [`evidence`]
//! (prose that may change; `leg` is the kind).
use serde::{Serialize, Serializer};

use crate::{
    alg::Finding,
    audit::{AuditOutcome, PathAudit, TimeoutEvidence},
    net::Leg,
};

/// One line in the admin's words.
pub fn describe(a: &PathAudit) -> String {
    let who = &a.binding.aor;
    match &a.outcome {
        // Not even the first keep-alive came back: nothing to time.
        AuditOutcome::NatLifetime {
            at_least_s: 0,
            less_than_s: Some(first),
            ..
        } => format!(
            "{who}: none of the echo's keep-alives came back, not even after {first} s of silence: something on the way back (a NAT or firewall that forgets this trunk's UDP flow within {first} s, or drops packets nothing asked for) stops them; register over TCP, or keep the flow busy with `qualify_frequency` on the AOR, and check the router's UDP timeout"
        ),
        AuditOutcome::Compared {
            findings,
            nat_source,
            alg,
        } => {
            let nat = nat_source
                .map(|s| format!("; the echo saw it from {s}"))
                .unwrap_or_default();
            if findings.is_empty() {
                format!("{who}: its REGISTER crosses the path unchanged{nat}")
            } else {
                let what: Vec<String> = findings.iter().map(Finding::describe).collect();
                let by = if *alg {
                    "a SIP ALG on the path (the router's \"SIP helper\") rewrites this trunk's REGISTER"
                } else {
                    "the path changes this trunk's REGISTER"
                };
                format!("{who}: {by}: {}{nat}", what.join("; "))
            }
        }
        AuditOutcome::NatLifetime {
            at_least_s,
            less_than_s: Some(less),
            refresh_s,
        } => {
            let refresh = match refresh_s {
                Some(r) if u64::from(*r) > *less => format!(
                    "; the PBX refreshes only every ~{r} s, so calls to it are lost from somewhere between {at_least_s} and {less} s after each refresh: set `qualify_frequency` on the AOR below {at_least_s} s (keeps the mapping open), or `expiration` below it, or register over TCP with `keep_alive_interval`"
                ),
                _ => String::new(),
            };
            format!(
                "{who}: the NAT keeps this trunk's UDP mapping between {at_least_s} and {less} s without traffic{refresh}"
            )
        }
        AuditOutcome::NatLifetime { at_least_s, .. } => format!(
            "{who}: the NAT kept this trunk's UDP mapping through {at_least_s} s without traffic (the longest silence measured)"
        ),
        AuditOutcome::TimeoutLocated { leg, evidence: why } => {
            let leg = match leg {
                Leg::DroppedOnTheWayOut => "lost on the way out",
                Leg::LostOnTheWayBack => "the answer was lost on the way back",
                Leg::Delivered => "the path works both ways: the registrar did not answer",
                _ => "not located",
            };
            format!(
                "{who}: its REGISTER timed out (408): {leg} ({})",
                evidence(why)
            )
        }
    }
}

/// What located a timed-out REGISTER, in words.
pub fn evidence(e: &TimeoutEvidence) -> String {
    match e {
        TimeoutEvidence::ShadowAnswered => "its shadow reached the echo and the echo's answer came back over the same path; look at the registrar's address: a firewall rule for it alone, or the registrar itself".to_owned(),
        TimeoutEvidence::AnswerNeverArrived => "the echo received this binding's shadow and answered it; the answer never arrived: a firewall or NAT on the way back".to_owned(),
        TimeoutEvidence::NeverReachedTheEcho => "the echo never received this binding's shadow, sent from the same address and port: a firewall on the way out".to_owned(),
        TimeoutEvidence::QueryFailed(why) => format!("the echo's query channel {why}"),
    }
}

/// In JSON, the evidence is its sentence (documented as prose).
impl Serialize for TimeoutEvidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&evidence(self))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::track::BindingKey;

    fn lifetime(at_least_s: u64, less_than_s: Option<u64>) -> String {
        let audit = PathAudit::new(
            SystemTime::UNIX_EPOCH,
            BindingKey {
                registrar: "sip:203.0.113.2".into(),
                aor: "sip:alice@203.0.113.2".into(),
                contact: "sip:alice@192.168.77.10:5060".into(),
            },
            "sw-audit-1".into(),
            AuditOutcome::NatLifetime {
                at_least_s,
                less_than_s,
                refresh_s: Some(300),
            },
        );
        describe(&audit)
    }

    #[test]
    fn no_keep_alive_back_at_all_advises_nothing_below_zero() {
        let none = lifetime(0, Some(3));
        assert!(
            none.contains("none of the echo's keep-alives came back"),
            "{none}"
        );
        assert!(!none.contains("below 0"), "{none}");
        let some = lifetime(40, Some(80));
        assert!(some.contains("between 40 and 80 s"), "{some}");
        assert!(
            some.contains("`qualify_frequency` on the AOR below 40 s"),
            "{some}"
        );
    }
}
