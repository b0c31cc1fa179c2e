//! The checklist: each step's mark (✓ / ✗ / –), the lines [`super::words`]
//! says about it, the exit code, and the `doctor_report` JSON object.
use std::{io, time::SystemTime};

use serde::Serialize;

use super::{
    Timed,
    credentials::{Credentials, Registration},
    dns::{Finding, Resolution},
    public::Public,
    reach::{Reach, Reached},
    tls::{Checked, NameMatch, Session, Tls, Trust},
    words,
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

/// One line of the checklist, in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// The verdict.
    pub mark: Mark,
    /// The step: `DNS`, `UDP 192.0.2.1:5060`, `public address`…
    pub step: String,
    /// How long it took, in milliseconds.
    pub took_ms: Option<f64>,
    /// What was seen.
    pub seen: String,
    /// Further lines (records, targets, headers, bindings).
    pub details: Vec<String>,
    /// For a ✗: why.
    pub cause: Option<String>,
    /// For a ✗: what to change, in Asterisk's terms.
    pub fix: Option<String>,
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
    /// Nothing could be tested: no DNS server answered, or no socket could
    /// be used (exit 1).
    CouldNotTest,
}

impl Report {
    /// The checklist, in order.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = vec![words::dns(&self.dns, dns_mark(&self.dns.result))];
        for r in &self.reach {
            lines.push(words::reach(r, reach_mark(&r.result)));
        }
        if self.reach.is_empty() {
            lines.push(words::reach_none());
        }
        lines.push(words::public(
            &self.public,
            public_mark(&self.public.result),
        ));
        lines.push(words::credentials(
            &self.credentials,
            credentials_mark(&self.credentials.result),
        ));
        match &self.tls {
            Tls::Checked { targets } => {
                for t in targets {
                    lines.push(words::tls_target(t, tls_mark(&t.result)));
                }
            }
            other => lines.push(words::tls(other)),
        }
        lines
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
        if self.lines().iter().any(|l| l.mark == Mark::Fail) {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    }

    /// The process's exit code: 0 all good, 2 a check failed, 1 could not
    /// test.
    pub fn exit_code(&self) -> u8 {
        match self.verdict() {
            Verdict::Ok => 0,
            Verdict::Failed => 2,
            Verdict::CouldNotTest => 1,
        }
    }

    /// The `doctor_report` object (docs/json.md), `type` and `time` first.
    pub fn json(&self) -> Json {
        Json {
            kind: "doctor_report",
            time: crate::time::rfc3339(self.time),
            target: self.target.clone(),
            verdict: self.verdict(),
            dns: Marked {
                mark: dns_mark(&self.dns.result),
                result: self.dns.clone(),
            },
            reach: self
                .reach
                .iter()
                .map(|r| Marked {
                    mark: reach_mark(&r.result),
                    result: r.clone(),
                })
                .collect(),
            public: Marked {
                mark: public_mark(&self.public.result),
                result: self.public.clone(),
            },
            credentials: Marked {
                mark: credentials_mark(&self.credentials.result),
                result: self.credentials.clone(),
            },
            tls: Marked {
                mark: match &self.tls {
                    Tls::Checked { targets } => {
                        if targets.iter().any(|t| tls_mark(&t.result) == Mark::Fail) {
                            Mark::Fail
                        } else {
                            Mark::Pass
                        }
                    }
                    _ => Mark::NotApplicable,
                },
                result: self.tls.clone(),
            },
            checklist: self.lines(),
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

/// The `doctor_report` JSON object: each step's result with its `mark`,
/// and the checklist as printed.
#[derive(Clone, Debug, Serialize)]
pub struct Json {
    /// `doctor_report`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the checklist started (RFC 3339 UTC).
    pub time: String,
    /// The target as typed.
    pub target: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Step 1.
    pub dns: Marked<Timed<Resolution>>,
    /// Step 2, one per target.
    pub reach: Vec<Marked<Timed<Reach>>>,
    /// Step 3.
    pub public: Marked<Timed<Public>>,
    /// Step 4.
    pub credentials: Marked<Timed<Credentials>>,
    /// Step 5, with the mark of the whole step (✗ when any target fails).
    pub tls: Marked<Tls>,
    /// The checklist's lines.
    pub checklist: Vec<Line>,
}

/// The checklist as text: a heading, then each step's mark, time and
/// what was seen, its details indented, and for a ✗ its cause and fix.
pub fn write_report(out: &mut dyn io::Write, report: &Report) -> io::Result<()> {
    writeln!(out, "{}", words::heading(&report.target))?;
    for line in report.lines() {
        let took = line.took_ms.map(words::took).unwrap_or_default();
        writeln!(
            out,
            "{} {}{took}: {}",
            line.mark.symbol(),
            line.step,
            line.seen
        )?;
        for d in &line.details {
            writeln!(out, "    {d}")?;
        }
        if let Some(cause) = &line.cause {
            writeln!(out, "    {}", words::cause(cause))?;
        }
        if let Some(fix) = &line.fix {
            writeln!(out, "    {}", words::fix(fix))?;
        }
    }
    writeln!(out, "{}", words::verdict(report.verdict()))
}
