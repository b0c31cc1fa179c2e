//! What a binding shows, derived from it: the state `pjsip show
//! registrations` would name, the registration as the registrar holds it,
//! the last outcome, and the run of failures that only a success ends.
use std::time::SystemTime;

use serde::Serialize;

use super::attempt::{Outcome, Purpose};

/// The state a registration is in, as `pjsip show registrations` would
/// name it, derived from the binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    /// No outcome that names another state: the first REGISTER is on its way
    /// or its attempt has not concluded.
    RequestSent,
    /// The registrar holds the binding: the last 2xx's grant has not lapsed.
    Registered {
        /// Seconds granted by the registrar.
        #[serde(rename = "expires_s")]
        expires: u32,
    },
    /// The latest failure of the run is a final failure response, or a
    /// challenge the client never answered.
    Rejected {
        /// Its status code (for a challenge left unanswered, the challenge's
        /// 401 / 407).
        code: u16,
    },
    /// The latest failure of the run got no final response by Timer F
    /// (32 s): the PBX reports 408.
    Timeout,
    /// An un-REGISTER (Expires: 0) got its 2xx: the registrar holds no binding.
    Unregistered,
    /// The registrar's binding lapsed: not refreshed before its granted expiry.
    Expired,
}

impl RegistrationState {
    /// Registered, or unregistered as asked: nothing to fix.
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            RegistrationState::Registered { .. } | RegistrationState::Unregistered
        )
    }

    /// Failing: what the summary counts as a registration to fix.
    pub fn is_failing(&self) -> bool {
        matches!(
            self,
            RegistrationState::Rejected { .. }
                | RegistrationState::Timeout
                | RegistrationState::Expired
        )
    }
}

/// The registration as the registrar holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Seconds granted by the 2xx: the `expires` of our Contact in it, else
    /// its Expires header, else what was asked, else 3600.
    pub expires_s: u32,
    /// When the 2xx that granted it was seen.
    #[serde(serialize_with = "crate::time::serialize")]
    pub granted_at: SystemTime,
    /// When the registrar drops the binding unless it is refreshed:
    /// `granted_at` + `expires_s`.
    #[serde(serialize_with = "crate::time::serialize")]
    pub until: SystemTime,
    /// Not refreshed in time.
    pub lapsed: bool,
}

/// An attempt's end, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LastOutcome {
    /// How the attempt ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the attempt was for: register, refresh or unregister.
    pub purpose: Purpose,
    /// When it ended: the final response, Timer F firing (first send + 32 s),
    /// or the moment an unanswered challenge was given up.
    #[serde(serialize_with = "crate::time::serialize")]
    pub at: SystemTime,
}

/// Failures in a row, which only a success ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FailureRun {
    /// The latest failure.
    pub last: Outcome,
    /// Failed attempts since the last success (failed un-REGISTERs not counted).
    pub count: u32,
    /// When the first failure of the run ended its attempt.
    #[serde(serialize_with = "crate::time::serialize")]
    pub first_at: SystemTime,
    /// When the latest failure ended its attempt.
    #[serde(serialize_with = "crate::time::serialize")]
    pub last_at: SystemTime,
    /// Mean time between failures, once there are two.
    pub interval_ms: Option<u64>,
}

impl FailureRun {
    /// The run after one more failure (`outcome`, at `at`).
    pub fn after(run: Option<FailureRun>, outcome: Outcome, at: SystemTime) -> FailureRun {
        match run {
            Some(run) => {
                let count = run.count.saturating_add(1);
                let span = at.duration_since(run.first_at).unwrap_or_default();
                FailureRun {
                    last: outcome,
                    count,
                    first_at: run.first_at,
                    last_at: at,
                    interval_ms: Some(span.as_millis() as u64 / u64::from(count - 1)),
                }
            }
            None => FailureRun {
                last: outcome,
                count: 1,
                first_at: at,
                last_at: at,
                interval_ms: None,
            },
        }
    }

    /// The state the run shows: Timeout (408) after no answer, else Rejected
    /// with the code of the latest failure.
    pub fn state(&self) -> RegistrationState {
        match self.last {
            Outcome::NoAnswer => RegistrationState::Timeout,
            other => RegistrationState::Rejected {
                code: other.code().unwrap_or(0),
            },
        }
    }
}
