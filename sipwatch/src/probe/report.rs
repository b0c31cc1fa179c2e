//! The probe's findings: per request, what changed and where it was lost;
//! overall, a verdict and an exit code scripts can use.
use std::{fmt, io::Write, net::SocketAddr};

use serde::Serialize;

pub use crate::net::Leg;
use crate::{
    alg::{Finding, sip_changed},
    net::Transport,
    say::kernel_drop,
};

/// The request a probe sends: what a PBX sends to its provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProbeMethod {
    /// A registration, as a PBX's outbound registration sends it.
    Register,
    /// A call with SDP (the body an ALG rewrites).
    Invite,
    /// A qualify / keep-alive.
    Options,
}

impl ProbeMethod {
    /// Every method, in the order probed.
    pub const ALL: [ProbeMethod; 3] = [
        ProbeMethod::Register,
        ProbeMethod::Invite,
        ProbeMethod::Options,
    ];
}

impl fmt::Display for ProbeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeMethod::Register => "REGISTER",
            ProbeMethod::Invite => "INVITE",
            ProbeMethod::Options => "OPTIONS",
        })
    }
}

/// A SIP response that is no echo's mirror: what answered in its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignAnswer {
    /// Its status code (`401`).
    pub code: u16,
    /// Its reason phrase, as written.
    pub reason: String,
    /// Its Server header (else User-Agent): who answered (`kamailio (5.7.4)`).
    pub server: Option<String>,
}

impl ForeignAnswer {
    /// `401 Unauthorized, Server: kamailio (5.7.4)`.
    fn words(&self) -> String {
        let server = self
            .server
            .as_deref()
            .map(|s| format!(", Server: {s}"))
            .unwrap_or_default();
        format!("{} {}{server}", self.code, self.reason)
    }
}

/// One probe: what was sent, where it ended up, and what changed on the way.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeOutcome {
    /// The probe's id (its `X-Sipwatch-Probe` header).
    pub id: String,
    /// The echo's address and port probed.
    pub target: SocketAddr,
    /// The request sent.
    pub method: ProbeMethod,
    /// UDP or TCP (`--transport`).
    pub transport: Transport,
    /// This host's address and port it was sent from (port 0: a TCP
    /// connection that never came up had none).
    pub local: SocketAddr,
    /// Times sent (UDP retransmits on the RFC 3261 §17.1.2.2 schedule).
    pub sent: u32,
    /// First send to the echo's answer, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Where it ended up: delivered, or the leg on which it was lost.
    pub leg: Leg,
    /// Why the query channel could not tell where an unanswered probe was
    /// lost, and what to open.
    pub query_error: Option<String>,
    /// Why an answer that came back is not an echo's mirror.
    pub answer_problem: Option<String>,
    /// What answered instead of an echo, when a SIP response came back
    /// that is no mirror (a registrar's `401`, with its `Server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_instead: Option<ForeignAnswer>,
    /// The echo left the request out of its UDP answer, which would not
    /// have crossed a path unfragmented ([`crate::echo::wire::UDP_ANSWER_MAX`]),
    /// and the request came from its query channel, or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Withheld>,
    /// The address and port the echo saw: differs from `local` behind NAT.
    pub nat_source: Option<SocketAddr>,
    /// What changed on the path out: between the NIC and the echo when this
    /// host's leg was observed, else between the socket and the echo.
    pub out: Vec<Finding>,
    /// What changed on this host: between the socket and the NIC (a local
    /// NAT helper, container networking), when both copies were seen.
    pub on_this_host: Vec<Finding>,
    /// What changed in the echo's answer on its way back.
    pub back: Vec<Finding>,
    /// Seen leaving this host's NIC (eBPF), when that leg was observed.
    pub left_nic: Option<bool>,
    /// The request exactly as the socket sent it, for the comparisons with
    /// the NIC's and the echo's copies (not in JSON; empty when nothing was
    /// sent).
    #[serde(skip)]
    pub sent_bytes: Vec<u8>,
    /// The request as the echo received it, from its mirror (not in JSON);
    /// `None` when no mirror came back.
    #[serde(skip)]
    pub mirrored_bytes: Option<Vec<u8>>,
    /// Its answer seen arriving at this host's NIC, when observed.
    pub answer_at_nic: Option<bool>,
    /// This host's kernel dropped the probe (or its answer), and why: the
    /// drop tracer's reading, when the NIC was observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_drop: Option<crate::net::KernelDrop>,
}

/// A request the echo left out of its UDP answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Withheld {
    /// The size the answer would have had with the request, compressed (bytes).
    pub answer_bytes: usize,
    /// Why the query channel could not give the request (`None`: it did,
    /// and the way out was compared from its copy).
    pub query_error: Option<String>,
}

/// The probe's overall answer.
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
    /// 0: [`Verdict::Clean`].
    Clean = 0,
    /// 2: [`Verdict::AlgFound`].
    AlgFound = 2,
    /// 3: [`Verdict::DropsFound`].
    DropsFound = 3,
    /// 4: [`Verdict::CouldNotTest`].
    CouldNotTest = 4,
}

/// Whether this host's own leg (socket to NIC) was watched with eBPF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "observed", rename_all = "snake_case")]
pub enum NicObservation {
    /// Watched on this interface.
    Yes {
        /// The interface holding this host's address toward the echo.
        interface: String,
    },
    /// Not watched, and why (no root, `--no-nic`, no interface holds the address).
    No {
        /// Why, in words, e.g. `not asked for (--no-nic)`.
        reason: String,
    },
}

/// The whole report, as `probe --json` writes it:
/// `{"type":"probe_report","verdict":…,"this_host":…,"probes":[…]}`.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When the probes started.
    #[serde(serialize_with = "crate::time::serialize")]
    pub time: std::time::SystemTime,
    /// The verdict over all probes (see [`verdict`]).
    pub verdict: Verdict,
    /// Whether this host's own leg was watched with eBPF, and where.
    pub this_host: NicObservation,
    /// Every probe sent, in order: each port, transport, then method.
    pub probes: Vec<ProbeOutcome>,
}

impl ProbeReport {
    /// A report of `probes`, its verdict derived from them.
    pub fn new(
        time: std::time::SystemTime,
        this_host: NicObservation,
        probes: Vec<ProbeOutcome>,
    ) -> ProbeReport {
        ProbeReport {
            kind: "probe_report",
            time,
            verdict: verdict(&probes).0,
            this_host,
            probes,
        }
    }

    /// The exit code scripts read.
    pub fn exit_code(&self) -> ExitCode {
        verdict(&self.probes).1
    }
}

/// The verdict over all probes, and its exit code: an ALG wins over drops,
/// drops over clean; nothing back at all cannot be judged.
pub fn verdict(outcomes: &[ProbeOutcome]) -> (Verdict, ExitCode) {
    let untested = |o: &ProbeOutcome| {
        matches!(
            o.leg,
            Leg::NoAnswer | Leg::InvalidAnswer | Leg::Refused | Leg::RefusedByEcho
        )
    };
    if outcomes.iter().all(untested) {
        return (Verdict::CouldNotTest, ExitCode::CouldNotTest);
    }
    if outcomes
        .iter()
        .any(|o| sip_changed(&o.out) || sip_changed(&o.back) || sip_changed(&o.on_this_host))
    {
        return (Verdict::AlgFound, ExitCode::AlgFound);
    }
    // A probe the echo refused was not lost.
    if outcomes
        .iter()
        .any(|o| !matches!(o.leg, Leg::Delivered | Leg::RefusedByEcho))
    {
        return (Verdict::DropsFound, ExitCode::DropsFound);
    }
    // A request not compared, or refused, is no clean way out.
    if outcomes.iter().any(|o| {
        o.leg == Leg::RefusedByEcho || o.withheld.as_ref().is_some_and(|w| w.query_error.is_some())
    }) {
        return (Verdict::CouldNotTest, ExitCode::CouldNotTest);
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
        Leg::DroppedOnTheWayOut | Leg::LostOnTheWayBack | Leg::RefusedByEcho => {
            "echo observed (query channel)"
        }
        Leg::DroppedOnThisHost | Leg::AnswerDroppedOnThisHost => {
            "the path beyond inferred from this host's legs"
        }
        Leg::InvalidAnswer if o.answered_instead.is_some() => "something else answered",
        Leg::NoAnswer | Leg::TcpConnectFailed | Leg::Refused | Leg::InvalidAnswer => {
            "echo not observed"
        }
    };
    format!("socket observed; {nic}; {echo}")
}

/// Where a probe ended up, in words.
fn leg_words(o: &ProbeOutcome) -> String {
    let rtt = o
        .rtt_ms
        .map(|r| format!(" in {r:.1} ms"))
        .unwrap_or_default();
    match o.leg {
        Leg::Delivered => match &o.withheld {
            None => format!("answered{rtt}"),
            Some(w) => format!(
                "answered{rtt}; the echo's answer with the request would have been {} bytes, more than the {} that cross any path unfragmented, so the echo sent the request through its query channel{}",
                w.answer_bytes,
                crate::echo::wire::UDP_ANSWER_MAX,
                match &w.query_error {
                    None => " (compared from there)".to_owned(),
                    Some(why) => format!(
                        ", which could not give it: {why}; what the path did to the request is not known (let TCP port {} through to the echo, or pass --query)",
                        crate::echo::DEFAULT_QUERY_PORT
                    ),
                }
            ),
        },
        Leg::DroppedOnTheWayOut => format!(
            "dropped on the way out (the echo never saw it; sent {})",
            crate::say::count(o.sent, "time", "times")
        ),
        Leg::LostOnTheWayBack => {
            "answered by the echo, but the answer was lost on the way back".into()
        }
        Leg::NoAnswer => format!(
            "no answer (sent {}); which way it was lost is not known: {}",
            crate::say::count(o.sent, "time", "times"),
            o.query_error
                .as_deref()
                .unwrap_or("the echo's query channel was not asked")
        ),
        Leg::RefusedByEcho => format!(
            "arrived, and {}; nothing was lost on the way",
            o.query_error
                .as_deref()
                .unwrap_or("the echo refused it")
        ),
        Leg::TcpConnectFailed => {
            "the TCP connection never came up (its SYN, or the answer to it, was lost)".into()
        }
        Leg::Refused if o.transport == Transport::Udp => {
            "refused (ICMP port unreachable): nothing listens there (is sipwatch echo running on that port?), or a firewall rejects SIP".into()
        }
        Leg::Refused => {
            "the TCP connection was refused: nothing listens there (is sipwatch echo running on that port?), or a firewall rejects SIP over TCP".into()
        }
        Leg::InvalidAnswer => match &o.answered_instead {
            Some(a) => format!(
                "something else answers SIP there, not a sipwatch echo: it answered {} ({}); the path works both ways to it, but what it changes cannot be told without an echo's mirror",
                a.words(),
                o.answer_problem.as_deref().unwrap_or("no mirror")
            ),
            None => format!(
                "an answer came back, but not an echo's mirror ({}): is it a sipwatch echo on that port, or something else answering SIP there?",
                o.answer_problem.as_deref().unwrap_or("unreadable")
            ),
        },
        Leg::DroppedOnThisHost => match &o.kernel_drop {
            Some(d) => format!(
                "dropped on this host: never left, dropped by {}; {}",
                kernel_drop::describe(d),
                kernel_drop::fix(d)
            ),
            None => "dropped on this host: sent, but never seen leaving the NIC (local firewall, OUTPUT)"
                .into(),
        },
        Leg::AnswerDroppedOnThisHost => match &o.kernel_drop {
            Some(d) => format!(
                "answered, and the answer reached the NIC, then {} dropped it; {}",
                kernel_drop::describe(d),
                kernel_drop::fix(d)
            ),
            None => "answered, and the answer reached the NIC but not sipwatch (local firewall, INPUT)"
                .into(),
        },
    }
}

/// The report in words; `verbose` adds each finding's full values as sent
/// and as received.
pub fn write_report(
    out: &mut impl Write,
    report: &ProbeReport,
    verbose: bool,
) -> std::io::Result<()> {
    // Mirrors hold bytes from the path: shown, never obeyed by the terminal.
    let out = &mut crate::report::printable::Printable::new(out);
    match &report.this_host {
        NicObservation::Yes { interface } => {
            writeln!(out, "this host's own leg observed on {interface} (eBPF)")?;
        }
        NicObservation::No { reason } => {
            writeln!(out, "this host's own leg not observed: {reason}")?;
        }
    }
    for o in &report.probes {
        let nat = match o.nat_source {
            Some(s) if s != o.local => format!("; seen from {s} (NAT)"),
            Some(_) => "; seen from our own address (no NAT)".into(),
            None => String::new(),
        };
        let from = if o.local.port() == 0 {
            format!("{} (no connection)", o.local.ip())
        } else {
            o.local.to_string()
        };
        writeln!(
            out,
            "{} {} from {from} to {}: {}{nat}",
            o.transport,
            o.method,
            o.target,
            leg_words(o)
        )?;
        writeln!(out, "    legs: {}", legs(o))?;
        for (way, findings) in [
            ("on this host", &o.on_this_host),
            ("out", &o.out),
            ("back", &o.back),
        ] {
            for f in findings {
                writeln!(out, "    {way}: {}", f.describe())?;
                if verbose {
                    if let Some(before) = &f.before {
                        writeln!(out, "        sent:     {before}")?;
                    }
                    if let Some(after) = &f.after {
                        writeln!(out, "        received: {after}")?;
                    }
                }
            }
        }
    }
    writeln!(out, "verdict: {}", verdict_words(report))
}

fn verdict_words(report: &ProbeReport) -> String {
    match report.verdict {
        Verdict::Clean => "clean: SIP crosses the path unchanged both ways".into(),
        Verdict::AlgFound => "SIP ALG found: SIP headers or SDP are rewritten on the path; disable the router's SIP ALG (\"SIP helper\", \"SIP passthrough\")".into(),
        Verdict::DropsFound => {
            let mut where_: Vec<&str> = Vec::new();
            for o in &report.probes {
                let leg = match o.leg {
                    Leg::DroppedOnTheWayOut => "on the way out (the router's or the provider's firewall)",
                    Leg::LostOnTheWayBack => "on the way back (a firewall dropping the answers, or a NAT mapping that did not hold)",
                    Leg::DroppedOnThisHost => "on this host, leaving (nftables/iptables OUTPUT)",
                    Leg::AnswerDroppedOnThisHost => "on this host, arriving (nftables/iptables INPUT)",
                    Leg::TcpConnectFailed => "TCP connections to the echo (its port closed or filtered)",
                    Leg::NoAnswer => "somewhere unknown (the query channel did not answer)",
                    Leg::Refused => "refused (nothing listens there, or a firewall rejects it)",
                    Leg::InvalidAnswer | Leg::Delivered | Leg::RefusedByEcho => continue,
                };
                if !where_.contains(&leg) {
                    where_.push(leg);
                }
            }
            format!("drops found: SIP is lost {}; check the firewall rules for SIP there", where_.join("; and "))
        }
        Verdict::CouldNotTest if let Some(why) = report.probes.iter().find_map(|o| {
            (o.leg == Leg::RefusedByEcho).then_some(o.query_error.as_deref()).flatten()
        }) => format!("could not test: {why}"),
        Verdict::CouldNotTest if let Some(why) = report.probes.iter().find_map(|o| {
            o.withheld.as_ref().and_then(|w| w.query_error.as_deref())
        }) => format!(
            "could not test the way out: the echo's answers with the requests would not cross a path unfragmented, and {why}; let TCP port {} through to the echo (or pass --query)",
            crate::echo::DEFAULT_QUERY_PORT
        ),
        Verdict::CouldNotTest => match report.probes.iter().find_map(|o| o.answered_instead.as_ref()) {
            Some(a) => format!(
                "could not test: what answers there is not a sipwatch echo (it answered {}); run `sipwatch echo` on a host beyond the path and probe that",
                a.words()
            ),
            None => "could not test: nothing came back; is sipwatch echo running there, and reachable?".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::FindingKind;

    fn outcome(leg: Leg, transport: Transport, local: &str) -> ProbeOutcome {
        ProbeOutcome {
            id: "sw-1".into(),
            target: "203.0.113.20:5060".parse().unwrap(),
            method: ProbeMethod::Register,
            transport,
            local: local.parse().unwrap(),
            sent: 1,
            rtt_ms: None,
            leg,
            query_error: None,
            answer_problem: None,
            answered_instead: None,
            withheld: None,
            nat_source: None,
            out: Vec::new(),
            on_this_host: Vec::new(),
            back: Vec::new(),
            left_nic: None,
            sent_bytes: Vec::new(),
            mirrored_bytes: None,
            answer_at_nic: None,
            kernel_drop: None,
        }
    }

    fn text(report: &ProbeReport, verbose: bool) -> String {
        let mut out = Vec::new();
        write_report(&mut out, report, verbose).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn findings_and_legs_are_written_in_words_with_full_values_only_in_verbose() {
        let mut alg = outcome(Leg::Delivered, Transport::Udp, "192.168.77.10:5060");
        alg.out.push(Finding {
            header: "Contact".into(),
            before: Some("<sip:probe@192.168.77.10:5060>".into()),
            after: Some("<sip:probe@203.0.113.1:5060>".into()),
            kind: FindingKind::AddressRewritten,
        });
        let dead = outcome(Leg::TcpConnectFailed, Transport::Tcp, "192.168.77.10:0");
        let report = ProbeReport::new(
            std::time::SystemTime::UNIX_EPOCH,
            NicObservation::No {
                reason: "not asked for (--no-nic)".into(),
            },
            vec![alg, dead],
        );
        let short = text(&report, false);
        assert!(
            short.contains("out: Contact: address rewritten 192.168.77.10:5060 → 203.0.113.1:5060"),
            "{short}"
        );
        assert!(
            short.contains("TCP REGISTER from 192.168.77.10 (no connection) to"),
            "{short}"
        );
        assert!(
            !short.contains(":0 ") && !short.contains("AddressRewritten"),
            "{short}"
        );
        assert!(!short.contains("received: "), "{short}");
        let long = text(&report, true);
        assert!(
            long.contains("        received: <sip:probe@203.0.113.1:5060>"),
            "{long}"
        );
    }

    #[test]
    fn the_drop_verdict_names_the_legs_where_sip_was_lost() {
        let report = ProbeReport::new(
            std::time::SystemTime::UNIX_EPOCH,
            NicObservation::Yes {
                interface: "eth0".into(),
            },
            vec![
                outcome(
                    Leg::DroppedOnTheWayOut,
                    Transport::Udp,
                    "192.168.77.10:5060",
                ),
                outcome(Leg::Delivered, Transport::Tcp, "192.168.77.10:40000"),
            ],
        );
        assert_eq!(report.exit_code(), ExitCode::DropsFound);
        let t = text(&report, false);
        assert!(
            t.contains("verdict: drops found: SIP is lost on the way out"),
            "{t}"
        );
        assert!(!t.contains("on the leg named"), "{t}");
    }
}
