//! The probe's findings: per request, what changed and where it was lost;
//! overall, a verdict and an exit code scripts can use.
use std::{io::Write, net::SocketAddr};

use serde::Serialize;

use crate::{
    alg::{Finding, alg_suspected},
    net::Transport,
};

/// Where a probe ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Answered: it arrived, and the answer came back.
    Delivered,
    /// The echo never saw it (its query channel says so): lost on the way out.
    DroppedOnTheWayOut,
    /// The echo saw and answered it; the answer never arrived here.
    LostOnTheWayBack,
    /// No answer, and no query channel to tell which way it was lost.
    NoAnswer,
    /// TCP: the connection never came up (the SYN or its answer was lost);
    /// nothing was sent, so the query channel cannot tell the way.
    TcpConnectFailed,
    /// Sent by the socket, never seen leaving the NIC: this host's own
    /// firewall (OUTPUT) dropped it.
    DroppedOnThisHost,
    /// The answer reached the NIC but not the socket: this host's own
    /// firewall (INPUT) dropped it.
    AnswerDroppedOnThisHost,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeOutcome {
    pub id: String,
    /// The echo's address and port probed.
    pub target: SocketAddr,
    pub kind: String,
    pub transport: Transport,
    pub local: SocketAddr,
    /// Times sent (UDP retransmits).
    pub sent: u32,
    pub rtt_ms: Option<f64>,
    pub leg: Leg,
    /// The address and port the echo saw: differs from `local` behind NAT.
    pub nat_source: Option<SocketAddr>,
    /// What changed on the path out: between the NIC and the echo when this
    /// host's leg was observed, else between the socket and the echo.
    pub out: Vec<Finding>,
    /// What changed on this host: between the socket and the NIC (a local
    /// NAT helper, container networking), when observed.
    pub on_this_host: Vec<Finding>,
    /// What changed in the echo's answer on its way back.
    pub back: Vec<Finding>,
    /// Seen leaving this host's NIC (eBPF), when that leg was observed.
    pub left_nic: Option<bool>,
    /// The request as sent and as the echo received it, for the comparisons.
    #[serde(skip)]
    pub sent_bytes: Vec<u8>,
    #[serde(skip)]
    pub mirrored_bytes: Option<Vec<u8>>,
    /// Its answer seen arriving at this host's NIC, when observed.
    pub answer_at_nic: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything arrived unchanged both ways (NAT of the addresses in the
    /// IP header alone is fine, and reported).
    Clean,
    /// SIP headers or SDP were rewritten on the path: a SIP ALG.
    AlgFound,
    /// Probes were lost.
    DropsFound,
    /// Nothing came back and nothing tells why.
    CouldNotTest,
}

/// Exit codes, documented for scripts (1 is an error before probing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Clean = 0,
    AlgFound = 2,
    DropsFound = 3,
    CouldNotTest = 4,
}

pub fn verdict(outcomes: &[ProbeOutcome]) -> (Verdict, ExitCode) {
    if outcomes.iter().all(|o| o.leg == Leg::NoAnswer) {
        return (Verdict::CouldNotTest, ExitCode::CouldNotTest);
    }
    if outcomes
        .iter()
        .any(|o| alg_suspected(&o.out) || alg_suspected(&o.back) || alg_suspected(&o.on_this_host))
    {
        return (Verdict::AlgFound, ExitCode::AlgFound);
    }
    if outcomes.iter().any(|o| o.leg != Leg::Delivered) {
        return (Verdict::DropsFound, ExitCode::DropsFound);
    }
    (Verdict::Clean, ExitCode::Clean)
}

/// Which legs were seen and which are inferred, in words.
fn legs(o: &ProbeOutcome) -> String {
    let nic = match (o.left_nic, o.answer_at_nic) {
        (Some(left), Some(back)) => format!(
            "NIC observed (left: {}, answer arrived: {})",
            if left { "yes" } else { "no" },
            if back { "yes" } else { "no" }
        ),
        _ => "NIC not observed".into(),
    };
    let echo = match o.leg {
        Leg::Delivered => "echo observed (its mirror)",
        Leg::DroppedOnTheWayOut | Leg::LostOnTheWayBack => "echo observed (query channel)",
        Leg::DroppedOnThisHost | Leg::AnswerDroppedOnThisHost => {
            "the path beyond inferred from this host's legs"
        }
        Leg::NoAnswer | Leg::TcpConnectFailed => "echo not observed",
    };
    format!("socket observed; {nic}; {echo}")
}

pub fn write_report(out: &mut impl Write, outcomes: &[ProbeOutcome]) -> std::io::Result<()> {
    for o in outcomes {
        let nat = match o.nat_source {
            Some(s) if s != o.local => format!("; seen from {s} (NAT)"),
            Some(_) => "; seen from our own address (no NAT)".into(),
            None => String::new(),
        };
        let rtt = o
            .rtt_ms
            .map(|r| format!(" in {r:.1} ms"))
            .unwrap_or_default();
        let leg = match o.leg {
            Leg::Delivered => format!("answered{rtt}"),
            Leg::DroppedOnTheWayOut => format!(
                "dropped on the way out (the echo never saw it; sent {} times)",
                o.sent
            ),
            Leg::LostOnTheWayBack => {
                "answered by the echo, but the answer was lost on the way back".into()
            }
            Leg::NoAnswer => format!(
                "no answer (sent {} times); no query channel to tell which way",
                o.sent
            ),
            Leg::TcpConnectFailed => {
                "the TCP connection never came up (its SYN, or the answer to it, was lost)".into()
            }
            Leg::DroppedOnThisHost => {
                "dropped on this host: sent, but never seen leaving the NIC (local firewall, OUTPUT)".into()
            }
            Leg::AnswerDroppedOnThisHost => {
                "answered, and the answer reached the NIC but not sipwatch (local firewall, INPUT)".into()
            }
        };
        writeln!(
            out,
            "{} {} from {} to {}: {leg}{nat}",
            o.transport, o.kind, o.local, o.target
        )?;
        writeln!(out, "    legs: {}", legs(o))?;
        for (way, findings) in [
            ("on this host", &o.on_this_host),
            ("out", &o.out),
            ("back", &o.back),
        ] {
            for f in findings {
                writeln!(
                    out,
                    "    {way}: {} {:?}: {} -> {}",
                    f.header,
                    f.kind,
                    f.before.as_deref().unwrap_or("(none)"),
                    f.after.as_deref().unwrap_or("(none)")
                )?;
            }
        }
    }
    let (v, _) = verdict(outcomes);
    let words = match v {
        Verdict::Clean => "clean: SIP crosses the path unchanged both ways",
        Verdict::AlgFound => {
            "SIP ALG found: SIP headers or SDP are rewritten on the path; disable the router's SIP ALG (\"SIP helper\", \"SIP passthrough\")"
        }
        Verdict::DropsFound => {
            "drops found: some probes or their answers were lost; check firewall rules for SIP on the leg named"
        }
        Verdict::CouldNotTest => {
            "could not test: nothing came back; is sipwatch echo running there, and reachable?"
        }
    };
    writeln!(out, "verdict: {words}")
}
