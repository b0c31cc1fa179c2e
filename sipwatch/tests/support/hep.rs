//! HEP as two independent decoders read it, for tests/hep_out.rs and
//! tests/hep_out_lab.rs: hep-js (sipcapture's Node.js library, installed
//! by `cargo xtask setup` in tests/support/hep-js) listening on UDP and
//! TCP, and tshark's reading of a capture file, as one comparable list of
//! SIP messages.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use serde_json::Value;

/// One SIP message as a decoder or tshark read it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    /// Capture time, microseconds since the epoch.
    pub time_us: u64,
    pub transport: &'static str,
    pub src: String,
    pub dst: String,
    pub call_id: String,
    pub cseq: String,
}

/// `1700000000.001000000` in microseconds.
pub fn micros(epoch: &str) -> u64 {
    let (s, frac) = epoch.split_once('.').unwrap_or((epoch, "0"));
    let frac = format!("{frac:0<6}");
    s.parse::<u64>().unwrap() * 1_000_000 + frac[..6].parse::<u64>().unwrap()
}

/// Every SIP message tshark reads in `pcap`, in order. Several messages of
/// one frame (one TCP segment) each a microsecond after the one before:
/// how sipwatch keeps them in order in HOMER.
pub fn tshark(pcap: &Path) -> Vec<Seen> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "sip.CSeq", "-T", "fields", "-E", "occurrence=a"])
        .args(["-E", "aggregator=|", "-E", "separator=\t"])
        .args(["-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "sip.Call-ID", "-e", "sip.CSeq"])
        .output()
        .expect("tshark runs (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (transport, sport, dport) = if f[3].is_empty() {
            ("tcp", f[5], f[6])
        } else {
            ("udp", f[3], f[4])
        };
        let cseqs: Vec<&str> = f[8].split('|').collect();
        for (i, call_id) in f[7].split('|').enumerate() {
            seen.push(Seen {
                time_us: micros(f[0]) + i as u64,
                transport,
                src: format!("{}:{sport}", f[1]),
                dst: format!("{}:{dport}", f[2]),
                call_id: call_id.to_owned(),
                cseq: cseqs[i].to_owned(),
            });
        }
    }
    seen
}

/// The value of `name` in a SIP message's header lines.
pub fn header(message: &str, name: &str) -> String {
    message
        .split("\r\n")
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// hep-js listening on 127.0.0.1 (UDP and TCP), one JSON line per packet.
pub struct HepJs {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    pub udp: u16,
    pub tcp: u16,
}

/// Where hep-js and its listener are.
pub fn hep_js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hep-js")
}

impl HepJs {
    /// hep-js on this host's 127.0.0.1.
    pub fn start() -> HepJs {
        HepJs::start_with(|argv| {
            let mut cmd = Command::new(argv[0]);
            cmd.args(&argv[1..]);
            cmd
        })
    }

    /// hep-js run by the command `command` makes of its argv (e.g. inside a
    /// lab namespace, on that namespace's 127.0.0.1).
    pub fn start_with(command: impl FnOnce(&[&str]) -> Command) -> HepJs {
        let dir = hep_js_dir();
        if !dir.join("node_modules/hep-js").is_dir() {
            // `cargo xtask setup` does this; a fresh clone gets it here.
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm runs (Node.js 20 and npm: see cargo xtask setup)");
            assert!(status.success(), "npm ci in {} failed", dir.display());
        }
        let script = dir.join("listen.js");
        let mut child = command(&["node", script.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs (Node.js 20: see cargo xtask setup)");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line).unwrap();
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let ports = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("hep-js listening");
        HepJs {
            stdin: child.stdin.take(),
            child,
            lines,
            udp: ports["udp"].as_u64().unwrap() as u16,
            tcp: ports["tcp"].as_u64().unwrap() as u16,
        }
    }

    /// Every packet received until none came for a second (sipwatch has
    /// sent everything once `analyze` returned).
    pub fn packets(&self) -> Vec<Value> {
        let mut got = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(1)) {
            got.push(v);
        }
        got
    }
}

impl Drop for HepJs {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SIP messages hep-js decoded that came over `over`, in time order,
/// checked packet
/// by packet: decoded at all, capture id and node name as given, the
/// correlation id the message's own Call-ID.
pub fn sip_messages(packets: &[Value], over: &str) -> Vec<Seen> {
    let mut seen = Vec::new();
    for p in packets.iter().filter(|p| p["over"] == over) {
        assert!(p.get("error").is_none(), "hep-js could not decode: {p}");
        let r = &p["rcinfo"];
        assert_eq!(r["captureId"], 4242, "{p}");
        assert_eq!(r["hepNodeName"], "lab-node", "{p}");
        if r["payloadType"] != 1 {
            continue;
        }
        let payload = p["payload"].as_str().unwrap();
        let call_id = header(payload, "call-id");
        assert_eq!(r["correlation_id"], call_id.as_str(), "{p}");
        seen.push(Seen {
            time_us: r["timeSeconds"].as_u64().unwrap() * 1_000_000
                + r["timeUseconds"].as_u64().unwrap(),
            transport: match r["protocol"].as_u64() {
                Some(17) => "udp",
                Some(6) => "tcp",
                other => panic!("IP protocol {other:?}"),
            },
            src: format!("{}:{}", r["srcIp"].as_str().unwrap(), r["srcPort"]),
            dst: format!("{}:{}", r["dstIp"].as_str().unwrap(), r["dstPort"]),
            call_id,
            cseq: header(payload, "cseq"),
        });
    }
    seen.sort();
    seen
}

/// The log records (HEP type 100) hep-js decoded over `over`: (Call-ID, text).
pub fn log_records(packets: &[Value], over: &str) -> Vec<(String, String)> {
    packets
        .iter()
        .filter(|p| p["over"] == over && p["rcinfo"]["payloadType"] == 100)
        .map(|p| {
            (
                p["rcinfo"]["correlation_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                p["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
