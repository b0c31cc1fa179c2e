//! The checklist's decisions: each step's mark (✓ / ✗ / –), the verdict
//! and the exit code. Its words, the printed checklist and the
//! `doctor_report` JSON object are [`crate::say::doctor`]'s.
use std::time::SystemTime;

use serde::Serialize;

use super::{
    Timed,
    credentials::{Credentials, Registration},
    dns::{Finding, Resolution},
    public::Public,
    reach::{Reach, Reached},
    tls::{Checked, NameMatch, Session, Tls, Trust},
};

/// A step's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// ✓: checked and good.
    Pass,
    /// ✗: checked and failing.
    Fail,
    /// –: not applicable or not tested.
    NotApplicable,
}

impl Mark {
    /// `✓`, `✗`, `–`.
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::NotApplicable => "–",
        }
    }
}

/// Everything the doctor found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target as typed.
    pub target: String,
    /// When the checklist started.
    pub time: SystemTime,
    /// Step 1.
    pub dns: Timed<Resolution>,
    /// Step 2, one per target.
    pub reach: Vec<Timed<Reach>>,
    /// Step 3.
    pub public: Timed<Public>,
    /// Step 4.
    pub credentials: Timed<Credentials>,
    /// Step 5.
    pub tls: Tls,
}

/// The DNS step's mark: ✗ on a failure, or on records that disagree.
pub fn dns_mark(r: &Resolution) -> Mark {
    if r.servers.is_none() {
        return Mark::NotApplicable;
    }
    let disagree = r.findings.iter().any(|f| {
        matches!(
            f,
            Finding::SrvTargetWithoutAddress { .. } | Finding::NaptrWithoutSrv { .. }
        )
    });
    if r.failure.is_some() || r.targets.is_empty() || disagree {
        Mark::Fail
    } else {
        Mark::Pass
    }
}

/// A target's mark: ✓ when anything answered (a 4xx/5xx to OPTIONS still
/// shows the provider reachable).
pub fn reach_mark(r: &Reach) -> Mark {
    match r.reached {
        Reached::Answered(_) => Mark::Pass,
        Reached::NotTested => Mark::NotApplicable,
        _ => Mark::Fail,
    }
}

/// The public address's mark: ✓ when seen, – when nothing answered.
pub fn public_mark(p: &Public) -> Mark {
    match p {
        Public::Seen(_) => Mark::Pass,
        Public::NoAnswer => Mark::NotApplicable,
    }
}

/// The credentials' mark: ✓ registered, – not asked or nowhere to ask.
pub fn credentials_mark(c: &Credentials) -> Mark {
    match c {
        Credentials::NotAsked | Credentials::NoTarget => Mark::NotApplicable,
        Credentials::Tested(t) => match t.registration {
            Registration::Registered { .. } => Mark::Pass,
            _ => Mark::Fail,
        },
    }
}

/// A TLS target's mark: ✓ when the chain is trusted, valid now, and the
/// domain or the SRV target is among its names.
pub fn tls_mark(c: &Checked) -> Mark {
    match &c.session {
        Session::Completed(h) => {
            let named = h.domain_match != NameMatch::No
                || h.target_match.is_some_and(|m| m != NameMatch::No);
            if h.trust == Trust::Trusted && named {
                Mark::Pass
            } else {
                Mark::Fail
            }
        }
        _ => Mark::Fail,
    }
}

/// The verdict, as the exit code says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every step checked is good (exit 0).
    Ok,
    /// A check failed: the trunk cannot register as it stands (exit 2).
    Failed,
    /// Nothing could be tested: no DNS server answered, or no target could
    /// even be tried (exit 4).
    CouldNotTest,
}

impl Report {
    /// Every step's mark, in the checklist's order.
    pub fn marks(&self) -> Vec<Mark> {
        let mut marks = vec![dns_mark(&self.dns.result)];
        marks.extend(self.reach.iter().map(|r| reach_mark(&r.result)));
        if self.reach.is_empty() {
            marks.push(Mark::NotApplicable);
        }
        marks.push(public_mark(&self.public.result));
        marks.push(credentials_mark(&self.credentials.result));
        marks.push(self.tls_mark());
        marks
    }

    /// The TLS step's mark: ✗ when any target fails, – when not checked.
    pub fn tls_mark(&self) -> Mark {
        match &self.tls {
            Tls::Checked { targets } => {
                if targets.iter().any(|t| tls_mark(&t.result) == Mark::Fail) {
                    Mark::Fail
                } else {
                    Mark::Pass
                }
            }
            _ => Mark::NotApplicable,
        }
    }

    /// The verdict: could not test when DNS could not be asked or no
    /// target could even be tried; failed on any ✗; else ok.
    pub fn verdict(&self) -> Verdict {
        let none_tried = !self.reach.is_empty()
            && self
                .reach
                .iter()
                .all(|r| matches!(r.result.reached, Reached::Failed { .. }));
        if self.dns.result.unreachable() || none_tried {
            return Verdict::CouldNotTest;
        }
        if self.marks().contains(&Mark::Fail) {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    }

    /// The process's exit code, as `probe`'s: 0 all good, 2 a check
    /// failed, 4 could not test (1 is left to errors before any test).
    pub fn exit_code(&self) -> u8 {
        match self.verdict() {
            Verdict::Ok => 0,
            Verdict::Failed => 2,
            Verdict::CouldNotTest => 4,
        }
    }
}

/// A step's result with its mark first.
#[derive(Clone, Debug, Serialize)]
pub struct Marked<T> {
    /// The step's mark.
    pub mark: Mark,
    /// What it found.
    #[serde(flatten)]
    pub result: T,
}
