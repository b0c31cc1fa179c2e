//! HEP in from a real sender: Kamailio's `siptrace` in the provider
//! namespace mirrors every SIP message it receives and sends as HEP v3,
//! over UDP and over TCP, while the PBX registers through the lab's NAT.
//! `sipwatch hep-listen` must find the same registrations and diagnoses as
//! the NIC capture of the same exchange; `attach --hep-listen` must take
//! each message once; garbage, a wrong password and a flood on the HEP
//! port must be counted, by reason, and nothing else lost. Needs root;
//! fails, saying why, without.
mod support;

use std::{
    io::Write,
    net::{SocketAddr, TcpStream, UdpSocket},
    time::Duration,
};

use serde_json::Value;
use sipwatch_lab::{
    kamailio::{HepTrace, Kamailio, TlsPort},
    *,
};
use support::{
    SIPWATCH, asterisk_register, json_lines, lab, pbx_udp_socket, registration_outcomes,
};

/// Where sipwatch listens for HEP: beside Kamailio, at the provider.
const HEP_PORT: u16 = 9060;
/// Kamailio's `hep_capture_id`.
const CAPTURE_ID: u32 = 2001;
/// Each user makes the lab's registrar answer one way (kamailio.rs).
const USERS: [(&str, &str); 4] = [
    ("alice", "registered"),
    ("banned", "rejected"),
    ("ghost", "rejected"),
    ("busy", "rejected"),
];

fn hep_addr() -> SocketAddr {
    SocketAddr::from((PROVIDER_V4, HEP_PORT))
}

fn kamailio(lab: &Lab, tcp: bool, auth_key: Option<&str>) -> Kamailio {
    kamailio_with(lab, 3, tcp, auth_key, &[])
}

fn kamailio_with(
    lab: &Lab,
    version: u8,
    tcp: bool,
    auth_key: Option<&str>,
    tls: &[TlsPort],
) -> Kamailio {
    let hep = HepTrace {
        to: hep_addr(),
        version,
        tcp,
        capture_id: CAPTURE_ID,
        auth_key: auth_key.map(str::to_owned),
    };
    Kamailio::start_with_hep(&lab.provider, tls, &hep)
        .unwrap_or_else(|e| panic!("Kamailio with siptrace: {e}"))
}

/// Waits until something listens on the HEP port over UDP and TCP at the
/// provider.
fn wait_for_hep_port(lab: &Lab) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let filter = format!("sport = :{HEP_PORT}");
    while !["-Hlun", "-Hltn"].iter().all(|f| {
        lab.provider
            .run(&["ss", f, &filter])
            .is_ok_and(|o| !o.trim().is_empty())
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "sipwatch did not listen for HEP within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The PBX registers each of [`USERS`] through the NAT, waiting for each
/// final answer.
fn register_everyone(lab: &Lab, test: &str) {
    let socket = pbx_udp_socket(lab, Duration::from_secs(5));
    for (user, _) in USERS {
        let register = asterisk_register(test, user, 1, 300);
        socket
            .send_to(register.as_bytes(), (PROVIDER_V4, 5060))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let (n, _) = socket
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("no answer to {user}'s REGISTER: {e}"));
            if !buf[..n].starts_with(b"SIP/2.0 1") {
                break;
            }
        }
    }
    // siptrace's copies of the last answers, and a tick, reach sipwatch.
    std::thread::sleep(Duration::from_millis(1500));
}

/// Stops a `sipwatch … --json` with SIGTERM: its records, and its
/// standard error.
fn stop(child: NetnsChild) -> (Vec<Value>, String) {
    let out = child.stop(libc::SIGTERM, Duration::from_secs(20)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (json_lines(&out.stdout), stderr)
}

fn summary(records: &[Value]) -> &Value {
    records
        .last()
        .filter(|s| s["type"] == "summary")
        .expect("the summary, last")
}

fn messages(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "message").collect()
}

/// Every user registered or was rejected as the registrar answers it.
fn assert_every_user(regs: &[String], view: &str) {
    for (user, state) in USERS {
        let r = regs
            .iter()
            .find(|r| r.contains(&format!("sip:{user}@")))
            .unwrap_or_else(|| panic!("{view}: no registration of {user} in {regs:?}"));
        assert!(r.contains(&format!(" \"{state}\" ")), "{view}: {user}: {r}");
    }
}

#[test]
fn kamailio_siptrace_over_udp_gives_the_registrations_and_diagnoses_the_nic_saw() {
    same_as_the_nic(3, "hepudp");
}

#[test]
fn kamailio_siptrace_in_hep_v2_gives_the_registrations_and_diagnoses_the_nic_saw() {
    same_as_the_nic(2, "hepv2");
}

/// Kamailio sends HEP `version` over UDP while the NIC at the provider
/// captures the same exchange: the same registrations, codes, diagnoses
/// and messages.
fn same_as_the_nic(version: u8, test: &str) {
    let lab = lab(Personality::PlainNat);
    let _k = kamailio_with(&lab, version, false, None, &[]);
    let nic = lab
        .provider
        .spawn(&[SIPWATCH, "attach", PROVIDER_IF, "--json"])
        .unwrap();
    support::wait_for_xdp(&lab.provider, PROVIDER_IF);
    let hep = lab
        .provider
        .spawn(&[SIPWATCH, "hep-listen", &hep_addr().to_string(), "--json"])
        .unwrap();
    wait_for_hep_port(&lab);
    register_everyone(&lab, test);
    let (hep, hep_err) = stop(hep);
    let (nic, _) = stop(nic);

    let from_hep = registration_outcomes(&hep);
    assert_every_user(&from_hep, "hep-listen");
    assert_eq!(from_hep, registration_outcomes(&nic), "HEP against the NIC");
    // The same messages, byte for byte in length and order of kinds.
    let lengths = |r: &[Value]| {
        let mut l: Vec<u64> = messages(r)
            .iter()
            .map(|m| m["length"].as_u64().unwrap())
            .collect();
        l.sort();
        l
    };
    assert_eq!(lengths(&hep), lengths(&nic), "{hep_err}");
    assert_eq!(messages(&hep).len(), 2 * USERS.len());
    for m in messages(&hep) {
        assert_eq!(m["hep"]["capture_id"], CAPTURE_ID, "{m}");
        assert_eq!(m["transport"], "UDP", "{m}");
    }
    let counts = &summary(&hep)["hep"];
    assert_eq!(counts["taken"], 2 * USERS.len() as u64, "{counts}");
    assert_eq!(counts["refused"], serde_json::json!({}), "{counts}");
}

#[test]
fn kamailio_siptrace_over_tcp_merged_with_the_nic_takes_each_message_once() {
    let lab = lab(Personality::PlainNat);
    let _k = kamailio(&lab, true, None);
    let both = lab
        .provider
        .spawn(&[
            SIPWATCH,
            "attach",
            PROVIDER_IF,
            "--hep-listen",
            &hep_addr().to_string(),
            "--json",
        ])
        .unwrap();
    support::wait_for_xdp(&lab.provider, PROVIDER_IF);
    wait_for_hep_port(&lab);
    register_everyone(&lab, "heptcp");
    let (records, stderr) = stop(both);

    assert_every_user(&registration_outcomes(&records), "attach --hep-listen");
    let s = summary(&records);
    let hep = &s["hep"];
    assert_eq!(hep["connections"], 1, "{hep}");
    assert_eq!(hep["taken"], 2 * USERS.len() as u64, "{hep}\n{stderr}");
    // Each message once: the NIC's and Kamailio's copies are one.
    assert_eq!(messages(&records).len(), 2 * USERS.len());
    assert_eq!(s["pipeline"]["messages"], 2 * USERS.len() as u64);
    assert_eq!(s["pipeline"]["tracking"]["retransmissions"], 0, "{s}");
    let copies = s["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .find(|c| c["what"].as_str().is_some_and(|w| w.starts_with("copies")))
        .unwrap_or_else(|| panic!("no copies counted: {s}"));
    assert_eq!(copies["n"], 2 * USERS.len() as u64);
}

/// A HEP v3 packet of a REGISTER with `password`, as a test writes it.
fn hep_packet(password: &[u8]) -> Vec<u8> {
    let chunk = |kind: u16, value: &[u8]| {
        let mut c = vec![0, 0];
        c.extend_from_slice(&kind.to_be_bytes());
        c.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
        c.extend_from_slice(value);
        c
    };
    let register = asterisk_register("flood", "mallory", 1, 300);
    let mut body = Vec::new();
    for c in [
        chunk(0x0001, &[2]),
        chunk(0x0002, &[17]),
        chunk(0x0003, &PBX_V4.octets()),
        chunk(0x0004, &PROVIDER_V4.octets()),
        chunk(0x0007, &5060u16.to_be_bytes()),
        chunk(0x0008, &5060u16.to_be_bytes()),
        chunk(0x000e, password),
        chunk(0x000f, register.as_bytes()),
    ] {
        body.extend(c);
    }
    let mut packet = b"HEP3".to_vec();
    packet.extend_from_slice(&((body.len() + 6) as u16).to_be_bytes());
    packet.extend(body);
    packet
}

#[test]
fn garbage_a_wrong_password_and_a_flood_are_counted_and_nothing_else_is_lost() {
    const GARBAGE: usize = 20_000;
    const WRONG: usize = 500;
    const CONNECTIONS: usize = 100;
    let lab = lab(Personality::PlainNat);
    let _k = kamailio(&lab, false, Some("s3cret"));
    let hep = lab
        .provider
        .spawn(&[
            SIPWATCH,
            "hep-listen",
            &hep_addr().to_string(),
            "--password",
            "s3cret",
            "--json",
        ])
        .unwrap();
    wait_for_hep_port(&lab);
    // The flood, from the provider itself: nothing on the way loses any.
    let flood = lab
        .provider
        .enter(|| UdpSocket::bind((PROVIDER_V4, 0)))
        .unwrap()
        .unwrap();
    for i in 0..GARBAGE {
        let _ = flood.send_to(format!("garbage {i}").as_bytes(), hep_addr());
    }
    let wrong = hep_packet(b"guess");
    for _ in 0..WRONG {
        let _ = flood.send_to(&wrong, hep_addr());
    }
    // More connections than it follows, held open while the PBX registers.
    let held: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| {
            lab.provider
                .enter(|| TcpStream::connect(hep_addr()))
                .unwrap()
                .unwrap()
        })
        .collect();
    let mut v2 = held[0].try_clone().unwrap();
    v2.write_all(&[2, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc4])
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    register_everyone(&lab, "hepflood");
    let (records, stderr) = stop(hep);
    drop(held);

    assert_every_user(&registration_outcomes(&records), "hep-listen under a flood");
    assert_eq!(messages(&records).len(), 2 * USERS.len(), "{stderr}");
    let hep = &summary(&records)["hep"];
    eprintln!("the HEP listener's counts after the flood: {hep}");
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let refused = &hep["refused"];
    assert!(n(&refused["not_hep"]) > 0, "{hep}");
    assert!(n(&refused["wrong_password"]) > 0, "{hep}");
    // Every datagram sent is accounted for: refused by reason, or dropped
    // by the kernel at the full socket buffer, and counted as such.
    assert_eq!(
        n(&refused["not_hep"]) + n(&refused["wrong_password"]) + n(&hep["socket_drops"]),
        (GARBAGE + WRONG) as u64,
        "{hep}"
    );
    assert_eq!(n(&hep["connections"]), 64, "{hep}");
    assert_eq!(
        n(&hep["connections_refused"]),
        (CONNECTIONS - 64) as u64,
        "{hep}"
    );
    assert_eq!(n(&refused["v2_over_tcp"]), 1, "{hep}");
    assert_eq!(n(&hep["taken"]), 2 * USERS.len() as u64, "{hep}");
}

#[test]
fn sip_over_tls_traced_by_kamailio_is_shown_and_tracked_as_tls() {
    const TLS_PORT: u16 = 5061;
    let lab = lab(Personality::PlainNat);
    let issued = pki::Pki::new().server(&["provider.lab"], None, false);
    let port = TlsPort {
        port: TLS_PORT,
        chain_pem: issued.pem,
        key_pem: issued.key_pem,
    };
    let _k = kamailio_with(&lab, 3, false, None, &[port]);
    let hep = lab
        .provider
        .spawn(&[SIPWATCH, "hep-listen", &hep_addr().to_string(), "--json"])
        .unwrap();
    wait_for_hep_port(&lab);
    // The PBX registers over TLS (openssl as its TLS stack), its Via TLS.
    let register = asterisk_register("heptls", "alice", 1, 300)
        .replace("SIP/2.0/UDP", "SIP/2.0/TLS")
        .replace(":5060>", ":5061;transport=tls>");
    let target = format!("{PROVIDER_V4}:{TLS_PORT}");
    let answer = lab
        .pbx
        .run_with_stdin(
            &[
                "timeout", "3", "openssl", "s_client", "-connect", &target, "-quiet", "-ign_eof",
            ],
            Some(&register),
        )
        .unwrap_or_default();
    std::thread::sleep(Duration::from_millis(1500));
    let (records, stderr) = stop(hep);

    let messages = messages(&records);
    assert_eq!(messages.len(), 2, "{answer}\n{stderr}\n{records:?}");
    for m in &messages {
        assert_eq!(m["transport"], "TLS", "{m}");
    }
    let regs = registration_outcomes(&records);
    assert!(
        regs.len() == 1 && regs[0].contains("sip:alice@") && regs[0].contains(" \"registered\" "),
        "{regs:?}"
    );
}
