//! The Prometheus alert rules and the Grafana dashboard in `contrib/`:
//! the rules pass `promtool check rules` (Debian's `prometheus` package,
//! installed by `cargo xtask setup`) and fire as their unit tests expect
//! (`promtool test rules`: a trunk unregistered, 408s on the way back, an
//! ALG, a PBX that gave up), and every `sipwatch_*` metric a rule, its
//! tests or a panel names is in sipwatch's own metrics output, filled from
//! committed captures driven through `analyze`'s pipeline, with the path
//! audit's results and a kernel drop a live run would add. No root needed.
mod support;

use std::{
    collections::BTreeSet,
    io::{self, Write},
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::Command,
    time::SystemTime,
};

use sipwatch::{
    alg::{Finding, FindingKind},
    audit::{AuditOutcome, PathAudit, TimeoutEvidence},
    capture::{Counters, Direction, DropReasons, DropRecord, Frame, LinkType},
    net::{DroppedPacket, IcmpError, Leg},
    report::{Metrics, Output, RunEnd, Snapshot, metrics},
    sip::{Message, ParsedMessage},
    track::Event,
};
use support::cases::case_file;

fn contrib(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(file)
}

const RULES: &str = "prometheus/sipwatch-rules.yml";
const RULE_TESTS: &str = "prometheus/sipwatch-rules.test.yml";
const DASHBOARD: &str = "grafana/sipwatch-dashboard.json";

/// `promtool ARGS… FILE`, which must succeed.
fn promtool(args: &[&str], file: &str) {
    let out = Command::new("promtool")
        .args(args)
        .arg(contrib(file))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's prometheus package (cargo xtask setup)"
            )
        });
    assert!(
        out.status.success(),
        "promtool {args:?} {file}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_pass_promtool() {
    promtool(&["check", "rules"], RULES);
}

#[test]
fn the_alerts_fire_as_their_unit_tests_expect() {
    promtool(&["test", "rules"], RULE_TESTS);
}

#[test]
fn every_metric_the_rules_and_the_dashboard_name_is_in_sipwatchs_output() {
    let dashboard = std::fs::read_to_string(contrib(DASHBOARD)).unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let rules = std::fs::read_to_string(contrib(RULES)).unwrap();
    let rule_tests = std::fs::read_to_string(contrib(RULE_TESTS)).unwrap();
    let mut output = BTreeSet::new();
    for (case, file) in [
        ("sha256-digest-challenge", "d-sha256-ok.pcap"),
        ("nonce-expired-no-stale", "b-giveup.pcap"),
        ("provider-ban-after-failed-logins", "b-fail2ban-reject.pcap"),
        ("tcp-idle-connection-dropped", "dead-connection.pcap"),
    ] {
        output.extend(exported(case, file));
    }
    for (what, text) in [
        ("rules", &rules),
        ("rules' tests", &rule_tests),
        ("dashboard", &dashboard),
    ] {
        let named = metric_names(text);
        assert!(named.len() > 5, "{what} names {named:?}");
        let missing: Vec<_> = named.difference(&output).collect();
        assert!(
            missing.is_empty(),
            "the {what} name metrics sipwatch does not export: {missing:?}\nexported: {output:#?}"
        );
    }
}

/// Every `sipwatch_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices("sipwatch_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// The sample names of the metrics after `analyze` of a committed capture.
fn exported(case: &str, file: &str) -> BTreeSet<String> {
    let m = Metrics::new();
    let registry = m.registry();
    sipwatch::analyze::run(
        &case_file(case, file),
        vec![Box::new(AsLive(m))],
        io::sink(),
    )
    .unwrap();
    let text = metrics::encode(&registry);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The metrics of a capture, with what only a live run adds at the end:
/// the path audit's findings about the capture's first binding, a kernel
/// drop, and the kernel's packet counters.
struct AsLive(Metrics);

impl Output for AsLive {
    fn message(
        &mut self,
        out: &mut dyn Write,
        m: &Message,
        parsed: Option<&ParsedMessage<'_>>,
    ) -> io::Result<()> {
        self.0.message(out, m, parsed)
    }

    fn icmp(&mut self, out: &mut dyn Write, e: &IcmpError) -> io::Result<()> {
        self.0.icmp(out, e)
    }

    fn event(&mut self, out: &mut dyn Write, e: &Event) -> io::Result<()> {
        self.0.event(out, e)
    }

    fn tick(&mut self, out: &mut dyn Write, now: &Snapshot<'_>) -> io::Result<()> {
        self.0.tick(out, now)
    }

    fn finish(&mut self, out: &mut dyn Write, end: &RunEnd<'_>) -> io::Result<()> {
        let at = SystemTime::now();
        if let Some(r) = end.tracker.registrations().first() {
            let found = |outcome| PathAudit::new(at, r.key.clone(), "shadow-1".into(), outcome);
            self.0.audit(
                out,
                &found(AuditOutcome::Compared {
                    nat_source: None,
                    findings: vec![Finding {
                        header: "Contact".into(),
                        before: Some("<sip:trunk@192.168.77.10:5060>".into()),
                        after: Some("<sip:trunk@198.51.100.7:5060>".into()),
                        kind: FindingKind::AddressRewritten,
                    }],
                    alg: true,
                }),
            )?;
            self.0.audit(
                out,
                &found(AuditOutcome::NatLifetime {
                    at_least_s: 20,
                    less_than_s: Some(40),
                    refresh_s: Some(300),
                }),
            )?;
            self.0.audit(
                out,
                &found(AuditOutcome::TimeoutLocated {
                    leg: Leg::LostOnTheWayBack,
                    evidence: TimeoutEvidence::AnswerNeverArrived,
                }),
            )?;
        }
        self.0.kernel_drop(out, &kernel_drop())?;
        self.0.finish(out, end)?;
        self.0.tick(
            out,
            &Snapshot {
                tracker: end.tracker,
                audit: None,
                kernel: Some(Counters::default()),
                hep: None,
                tls: Default::default(),
            },
        )
    }
}

/// A REGISTER this host's firewall dropped on its way out, as the drop
/// tracer reports it.
fn kernel_drop() -> DroppedPacket {
    let src: SocketAddr = (Ipv4Addr::new(192, 168, 77, 10), 5060).into();
    let dst: SocketAddr = (Ipv4Addr::new(203, 0, 113, 2), 5060).into();
    let payload = b"REGISTER sip:203.0.113.2 SIP/2.0\r\n\r\n";
    let mut data = Vec::new();
    etherparse::PacketBuilder::ipv4([192, 168, 77, 10], [203, 0, 113, 2], 64)
        .udp(src.port(), dst.port())
        .write(&mut data, payload)
        .unwrap();
    let frame = Frame {
        timestamp: SystemTime::now(),
        ifindex: 2,
        direction: Some(Direction::Egress),
        link: LinkType::RawIp,
        wire_len: data.len() as u32,
        data,
        truncated: false,
        kernel_drop: Some(DropRecord {
            reason: 7,
            had_device: false,
            had_route: true,
        }),
    };
    let reasons = DropReasons::new([(7, "NETFILTER_DROP".to_owned())]);
    DroppedPacket::from_frame(&frame, &reasons).expect("a UDP packet")
}
