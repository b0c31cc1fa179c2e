//! Shared by the tests: the committed cases and `analyze` of a file
//! ([`analyzed`], no root needed), the binary and temporary folders, and
//! for the lab tests building a lab (failing loudly, never skipping, when
//! this machine cannot), capturing on the PBX while traffic runs, and SIP
//! peers in the lab's namespaces.
#![allow(dead_code)]

pub mod analyzed;
pub mod cases;
pub mod frames;
pub mod hep;
pub mod inject;
pub mod peers;
pub mod tmux;

use std::{sync::mpsc, thread, time::Duration};

use sipwatch::capture::{Capture, CaptureConfig, Counters, Frame};
use sipwatch_lab::{Lab, PBX_IF, Personality};

/// The `sipwatch` binary cargo built for these tests.
pub const SIPWATCH: &str = env!("CARGO_BIN_EXE_sipwatch");

/// A fresh temporary folder for `test`, removed when dropped (even when the
/// test fails).
pub fn temp_dir(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sipwatch-{test}-"))
        .tempdir()
        .expect("a temporary folder")
}

/// Every line of `bytes` as one JSON object (`--json` output), or a panic
/// naming the line that is not.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The `kind` of each diagnosis of a registration (a JSON `registration`).
pub fn diagnosis_kinds(registration: &serde_json::Value) -> Vec<&str> {
    registration["diagnoses"]
        .as_array()
        .expect("diagnoses")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect()
}

/// Each registration of the summary that ends `records`, as "AOR state
/// last-code [diagnosis kinds]", sorted: what two views of the same
/// exchange must agree on.
pub fn registration_outcomes(records: &[serde_json::Value]) -> Vec<String> {
    let summary = records
        .last()
        .filter(|s| s["type"] == "summary")
        .expect("the summary, last");
    let mut out: Vec<String> = summary["registrations"]
        .as_array()
        .expect("registrations")
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?}",
                r["key"]["aor"],
                r["state"]["state"],
                r["last_code"],
                diagnosis_kinds(r)
            )
        })
        .collect();
    out.sort();
    out
}

/// Stops a `sipwatch attach --json` with SIGTERM, checks that it ended
/// well, and returns what it wrote.
pub fn stop_json(capture: sipwatch_lab::NetnsChild) -> Vec<serde_json::Value> {
    let out = capture
        .stop(libc::SIGTERM, Duration::from_secs(20))
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// A REGISTER for `user` as Asterisk sends it from the PBX's 5060 to the
/// lab's registrar (its User-Agent, `rport`), CSeq `cseq`, asking for
/// `expires` s; `test` keeps each test's Call-ID and branches its own.
pub fn asterisk_register(test: &str, user: &str, cseq: u32, expires: u32) -> String {
    use sipwatch_lab::{PBX_V4, PROVIDER_V4};
    format!(
        "REGISTER sip:{PROVIDER_V4} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PBX_V4}:5060;branch=z9hG4bK-{test}-{user}-{cseq}-{expires};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{PROVIDER_V4}>;tag={test}{user}\r\n\
         To: <sip:{user}@{PROVIDER_V4}>\r\n\
         Call-ID: {test}-{user}@{PBX_V4}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@{PBX_V4}:5060>\r\n\
         Expires: {expires}\r\n\
         User-Agent: Asterisk PBX 22.0.0\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The PBX's own UDP socket on 5060, as a PBX holds it, reading with `timeout`.
pub fn pbx_udp_socket(lab: &Lab, timeout: Duration) -> std::net::UdpSocket {
    let socket = lab
        .pbx
        .enter(|| std::net::UdpSocket::bind((sipwatch_lab::PBX_V4, 5060)))
        .unwrap()
        .unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket
}

/// A lab, or a panic that says why this machine cannot run lab tests.
pub fn lab(personality: Personality) -> Lab {
    Lab::new(personality).unwrap_or_else(|e| {
        panic!(
            "lab tests need root, iproute2 and nftables (`cargo xtask setup` installs them) \
             and a kernel with network namespaces: {e}"
        )
    })
}

/// Waits until a `sipwatch attach` started on the PBX has attached (its
/// XDP program shows on the interface; TC follows at once).
pub fn wait_until_attached(lab: &Lab) {
    wait_for_xdp(&lab.pbx, PBX_IF);
}

/// Waits until `interface` in `ns` has an XDP program, then 300 ms: a
/// `sipwatch attach` there has attached all it attaches (TLS probes
/// first, the NIC's XDP, then TC egress right after, which a packet
/// leaving at once could otherwise beat).
pub fn wait_for_xdp(ns: &sipwatch_lab::Netns, interface: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ns
        .run(&["ip", "link", "show", interface])
        .unwrap()
        .contains("xdp")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "sipwatch did not attach within 30 s"
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(300));
}

/// Starts `sipwatch echo` at the provider on 203.0.113.2:5060 with its query
/// channel on :5099, plus `extra` arguments, and waits until it serves.
pub fn start_echo(lab: &Lab, extra: &[&str]) -> sipwatch_lab::NetnsChild {
    let mut argv = vec![SIPWATCH, "echo", "--listen", "203.0.113.2:5060"];
    argv.extend_from_slice(extra);
    let child = lab.provider.spawn(&argv).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    // The query channel (on by default) or, without it, the SIP port.
    let port = if extra.contains(&"--no-query") {
        "sport = :5060"
    } else {
        "sport = :5099"
    };
    while !lab
        .provider
        .run(&["ss", "-Hltn", port])
        .is_ok_and(|o| !o.trim().is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "sipwatch echo did not start"
        );
        thread::sleep(Duration::from_millis(50));
    }
    child
}

/// What a capture on the PBX's interface delivered.
#[derive(Debug)]
pub struct CaptureRun {
    pub frames: Vec<Frame>,
    pub counters: Counters,
    pub malformed_records: u64,
}

/// Attaches sipwatch to the PBX's `eth0` (from a thread inside the PBX
/// namespace), runs `traffic`, then detaches, drains the ring and reads the
/// counters, exactly as `sipwatch attach` does on Ctrl-C.
pub fn capture_during<R>(
    lab: &Lab,
    config: impl FnOnce(&mut CaptureConfig),
    traffic: impl FnOnce() -> R,
) -> (CaptureRun, R) {
    capture_on(&lab.pbx, PBX_IF, config, traffic).1
}

/// The same on any `interface` of the PBX namespace `pbx`; also returns
/// the hooks as attached, as start-up names them.
pub fn capture_on<R>(
    pbx: &sipwatch_lab::Netns,
    interface: &str,
    config: impl FnOnce(&mut CaptureConfig),
    traffic: impl FnOnce() -> R,
) -> (Vec<String>, (CaptureRun, R)) {
    let mut cfg = CaptureConfig::new(interface);
    config(&mut cfg);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pbx_ns = pbx.name().to_owned();
    let capture_thread = thread::spawn(move || -> Result<CaptureRun, String> {
        let ns = sipwatch_lab::Netns::from_name(pbx_ns);
        ns.enter_current_thread().map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let mut capture = match Capture::attach(&cfg) {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#?}")));
                    return Err("attach failed".into());
                }
            };
            let mut reader = capture.frames().map_err(|e| e.to_string())?;
            let hooks = capture
                .hooks()
                .iter()
                .map(|h| format!("{} {}", h.hook, h.how))
                .collect();
            let _ = ready_tx.send(Ok(hooks));
            let mut frames = Vec::new();
            tokio::pin!(stop_rx);
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    r = reader.next_batch(&mut frames) => { r.map_err(|e| e.to_string())?; }
                }
            }
            capture.detach().map_err(|e| e.to_string())?;
            reader.drain(&mut frames);
            Ok(CaptureRun {
                frames,
                counters: capture.counters().map_err(|e| e.to_string())?,
                malformed_records: reader.malformed(),
            })
        })
    });
    let hooks = match ready_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(hooks)) => hooks,
        Ok(Err(e)) => panic!("sipwatch could not attach to the lab's PBX interface: {e}"),
        Err(_) => panic!(
            "sipwatch did not attach within 30 s: {:?}",
            capture_thread.join()
        ),
    };
    let result = traffic();
    // Let the last packets cross the hooks before detaching.
    thread::sleep(Duration::from_millis(300));
    let _ = stop_tx.send(());
    let run = capture_thread
        .join()
        .expect("capture thread panicked")
        .expect("capture failed");
    (hooks, (run, result))
}

/// sipsak on the PBX sending `text` (a REGISTER) from port 5060 to the
/// lab's registrar, answering its challenge with `password` when given:
/// what sipsak printed.
pub fn sipsak(lab: &Lab, dir_name: &str, text: &str, password: Option<&str>) -> String {
    sipsak_over(lab, dir_name, text, password, "udp")
}

/// As [`sipsak`], over `transport` (`udp` or `tcp`; the text's Via says
/// which).
pub fn sipsak_over(
    lab: &Lab,
    dir_name: &str,
    text: &str,
    password: Option<&str>,
    transport: &str,
) -> String {
    let tmp = temp_dir(&format!("sipsak-{dir_name}"));
    let dir = tmp.path();
    let file = dir.join("register.sip");
    std::fs::write(&file, text).unwrap();
    let target = format!(
        "sip:{}@{}",
        sipwatch_lab::kamailio::USER,
        sipwatch_lab::PROVIDER_V4
    );
    let mut argv = vec![
        "sipsak",
        "-f",
        file.to_str().unwrap(),
        "-s",
        &target,
        "-S",
        "-l",
        "5060",
        "--no-via",
        "--no-crlf",
        "-vv",
    ];
    let transport = format!("--transport={transport}");
    argv.push(&transport);
    let auth;
    if let Some(p) = password {
        auth = [p.to_owned(), sipwatch_lab::kamailio::USER.to_owned()];
        argv.extend(["-a", &auth[0], "-u", &auth[1]]);
    }
    let out = lab.pbx.command(&argv).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's arguments to print each SIP message of `file` as its request
/// or status line (tab-separated fields, one message a line).
pub fn tshark_sip_lines(file: &str) -> [&str; 11] {
    [
        "tshark",
        "-r",
        file,
        "-Y",
        "sip",
        "-T",
        "fields",
        "-e",
        "sip.Request-Line",
        "-e",
        "sip.Status-Line",
    ]
}

/// A TLS port of the lab's Kamailio with `pki`'s certificate for `names`,
/// valid until `until` (year, month, day) or a year, signed by the CA or
/// by itself.
pub fn tls_port(
    pki: &sipwatch_lab::pki::Pki,
    port: u16,
    names: &[&str],
    until: Option<(i32, u8, u8)>,
    self_signed: bool,
) -> sipwatch_lab::kamailio::TlsPort {
    let issued = pki.server(names, until, self_signed);
    sipwatch_lab::kamailio::TlsPort {
        port,
        chain_pem: issued.pem,
        key_pem: issued.key_pem,
    }
}
