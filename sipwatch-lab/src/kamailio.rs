//! Kamailio as the lab's registrar: usrloc in memory and digest
//! authentication against a fixed password (no database), over UDP and TCP on
//! the provider's address. Each user name makes the registrar answer one way,
//! so tests can produce every failure a real provider gives:
//!
//! | user | REGISTER is answered with |
//! |---|---|
//! | [`USER`] | 401 challenge; 200 with the right password ([`PASSWORD`]), 401 again with a wrong one |
//! | `ghost` | 404 Not Found |
//! | `banned` | 403 Forbidden with a Warning |
//! | `busy` | 503 Service Unavailable with Retry-After: 30 |
//! | `alice` | 200 without authentication (the demo) |
//! | `natted` | 200 without authentication, the Contact rewritten to the address the REGISTER came from (nathelper `fix_nated_contact`) |
//!
//! An Expires below [`MIN_EXPIRES`] gets 423 Interval Too Brief; INVITE gets
//! 486 Busy Here, anything else 200 OK.
//!
//! [`Kamailio::start_tls`] adds SIP over TLS (Kamailio's `tls` module,
//! Debian's `kamailio-tls-modules`): one port per [`TlsPort`], each with the
//! certificate the test made for it (valid, expired, for another name,
//! self-signed…), the same routes behind.
//!
//! [`Kamailio::start_with_hep`] adds the `siptrace` module mirroring every
//! SIP message Kamailio receives and sends as HEP v3 or v2 (`trace_mode` 1: its
//! core's network events, no script change; `trace_on` 1, without which
//! those events trace nothing) to a [`HepTrace`] destination,
//! over UDP or TCP, with a capture id and optionally a password.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    LabError, Netns, NetnsChild,
    addresses::{PROVIDER_V4, PROVIDER_V6},
};

/// A running Kamailio; stopped (and its files removed) on drop.
pub struct Kamailio {
    _process: NetnsChild,
    dir: PathBuf,
}

/// One TLS port of the registrar, with its certificate chain and key (PEM).
#[derive(Clone, Debug)]
pub struct TlsPort {
    /// The port on the provider's IPv4 address.
    pub port: u16,
    /// The certificate chain, end-entity first, PEM.
    pub chain_pem: String,
    /// Its private key, PEM (PKCS #8 or traditional).
    pub key_pem: String,
}

impl Kamailio {
    /// Starts Kamailio in `ns` (the provider) and waits until it listens.
    pub fn start(ns: &Netns) -> Result<Kamailio, LabError> {
        Kamailio::start_tls(ns, &[])
    }

    /// Starts Kamailio in `ns` with SIP over TLS on each of `tls` too, each
    /// port with its own certificate, and waits until every port listens.
    pub fn start_tls(ns: &Netns, tls: &[TlsPort]) -> Result<Kamailio, LabError> {
        Kamailio::start_config(ns, tls, None)
    }

    /// Starts Kamailio in `ns` (with SIP over TLS on each of `tls`, as
    /// [`Kamailio::start_tls`]) sending HEP v3 of every SIP message it
    /// receives and sends as `hep` says.
    pub fn start_with_hep(
        ns: &Netns,
        tls: &[TlsPort],
        hep: &HepTrace,
    ) -> Result<Kamailio, LabError> {
        Kamailio::start_config(ns, tls, Some(hep))
    }

    /// The id of Kamailio's main process (its children are forked from
    /// it), from its pid file.
    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("kamailio.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .expect("Kamailio's pid file")
    }

    fn start_config(
        ns: &Netns,
        tls: &[TlsPort],
        hep: Option<&HepTrace>,
    ) -> Result<Kamailio, LabError> {
        let dir = std::env::temp_dir().join(format!(
            "sipwatch-kamailio-{}-{}",
            std::process::id(),
            ns.name()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(LabError::io(format!("creating {}", dir.display())))?;
        let mut text = config_text();
        if !tls.is_empty() {
            let tls_cfg = dir.join("tls.cfg");
            std::fs::write(&tls_cfg, tls_config(&dir, tls)?)
                .map_err(LabError::io("writing tls.cfg"))?;
            text = with_tls(&text, &tls_cfg, tls);
        }
        if let Some(hep) = hep {
            text = with_hep(&text, hep);
        }
        let config = dir.join("kamailio.cfg");
        std::fs::write(&config, text).map_err(LabError::io("writing kamailio.cfg"))?;
        let path = |p: &Path| p.display().to_string();
        let mut process = ns.spawn(&[
            "kamailio",
            "-f",
            &path(&config),
            "-DD",
            "-E",
            "-Y",
            &path(&dir),
            "-P",
            &path(&dir.join("kamailio.pid")),
        ])?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let listening = ns
                .run(&["ss", "-Hlun", "sport = :5060"])
                .is_ok_and(|o| !o.trim().is_empty())
                && tls.iter().all(|t| {
                    ns.run(&["ss", "-Hltn", &format!("sport = :{}", t.port)])
                        .is_ok_and(|o| !o.trim().is_empty())
                });
            if listening {
                break;
            }
            if !process.running() {
                let out = process.stop(libc::SIGKILL, Duration::from_secs(1))?;
                let log = String::from_utf8_lossy(&out.stderr);
                let errors: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("ERROR") || l.contains("CRITICAL"))
                    .collect();
                return Err(LabError::Timeout(format!(
                    "Kamailio exited at start: {}",
                    errors.join(" | ")
                )));
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout(
                    "Kamailio did not listen within 15 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Kamailio {
            _process: process,
            dir,
        })
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub const USER: &str = "1001";
pub const PASSWORD: &str = "secret";
pub const REALM: &str = "provider.lab";
pub const MIN_EXPIRES: u32 = 60;

pub fn config_text() -> String {
    format!(
        "#!KAMAILIO\n\
         debug=1\n\
         log_stderror=yes\n\
         children=1\n\
         tcp_children=1\n\
         listen=udp:{PROVIDER_V4}:5060\n\
         listen=tcp:{PROVIDER_V4}:5060\n\
         listen=udp:[{PROVIDER_V6}]:5060\n\
         listen=tcp:[{PROVIDER_V6}]:5060\n\
         loadmodule \"sl.so\"\n\
         loadmodule \"tm.so\"\n\
         loadmodule \"pv.so\"\n\
         loadmodule \"textops.so\"\n\
         loadmodule \"usrloc.so\"\n\
         loadmodule \"registrar.so\"\n\
         loadmodule \"auth.so\"\n\
         loadmodule \"nathelper.so\"\n\
         modparam(\"registrar\", \"min_expires\", {MIN_EXPIRES})\n\
         modparam(\"registrar\", \"min_expires_mode\", 1)\n\
         request_route {{\n\
         \tif (is_method(\"REGISTER\")) {{\n\
         \t\tif ($tU == \"alice\") {{ save(\"location\"); exit; }}\n\
         \t\tif ($tU == \"natted\") {{ fix_nated_contact(); save(\"location\"); exit; }}\n\
         \t\tif ($tU == \"ghost\") {{ sl_send_reply(\"404\", \"Not Found\"); exit; }}\n\
         \t\tif ($tU == \"banned\") {{ append_to_reply(\"Warning: 399 {REALM} \\\"account disabled\\\"\\r\\n\"); sl_send_reply(\"403\", \"Forbidden\"); exit; }}\n\
         \t\tif ($tU == \"busy\") {{ append_to_reply(\"Retry-After: 30\\r\\n\"); sl_send_reply(\"503\", \"Service Unavailable\"); exit; }}\n\
         \t\tif (!pv_www_authenticate(\"{REALM}\", \"{PASSWORD}\", \"0\")) {{ www_challenge(\"{REALM}\", \"0\"); exit; }}\n\
         \t\tsave(\"location\");\n\
         \t\texit;\n\
         \t}}\n\
         \tif (is_method(\"ACK\")) {{ exit; }}\n\
         \tif (is_method(\"INVITE\")) {{ sl_send_reply(\"486\", \"Busy Here\"); exit; }}\n\
         \tsl_send_reply(\"200\", \"OK\");\n\
         }}\n"
    )
}

/// The `tls` module's configuration: a server section per port (the first
/// also the default), no client certificate asked, TLS 1.2 and later.
fn tls_config(dir: &Path, tls: &[TlsPort]) -> Result<String, LabError> {
    let mut out = String::new();
    for (i, t) in tls.iter().enumerate() {
        let cert = dir.join(format!("tls-{}.pem", t.port));
        let key = dir.join(format!("tls-{}.key", t.port));
        std::fs::write(&cert, &t.chain_pem).map_err(LabError::io("writing a certificate"))?;
        std::fs::write(&key, &t.key_pem).map_err(LabError::io("writing a private key"))?;
        let mut sections = vec![format!("[server:{PROVIDER_V4}:{}]", t.port)];
        if i == 0 {
            sections.push("[server:default]".to_owned());
        }
        for section in sections {
            out.push_str(&format!(
                "{section}\n\
                 method = TLSv1.2+\n\
                 verify_certificate = no\n\
                 require_certificate = no\n\
                 certificate = {}\n\
                 private_key = {}\n\n",
                cert.display(),
                key.display()
            ));
        }
    }
    out.push_str("[client:default]\nverify_certificate = no\nrequire_certificate = no\n");
    Ok(out)
}

/// Where and how Kamailio's `siptrace` sends HEP.
#[derive(Clone, Debug)]
pub struct HepTrace {
    /// The HEP listener's address.
    pub to: std::net::SocketAddr,
    /// Over TCP (`;transport=tcp`), else UDP.
    pub tcp: bool,
    /// `hep_version`: 3, or 2 (the fixed header, UDP only).
    pub version: u8,
    /// `hep_capture_id`.
    pub capture_id: u32,
    /// `auth_key`: the password sent in every packet, when set.
    pub auth_key: Option<String>,
}

/// `config` with `siptrace` mirroring all SIP traffic as HEP v3.
fn with_hep(config: &str, hep: &HepTrace) -> String {
    let transport = if hep.tcp { ";transport=tcp" } else { "" };
    let mut extra = format!(
        "loadmodule \"siptrace.so\"\n\
         modparam(\"siptrace\", \"duplicate_uri\", \"sip:{}{transport}\")\n\
         modparam(\"siptrace\", \"hep_mode_on\", 1)\n\
         modparam(\"siptrace\", \"hep_version\", {})\n\
         modparam(\"siptrace\", \"hep_capture_id\", {})\n\
         modparam(\"siptrace\", \"trace_to_database\", 0)\n\
         modparam(\"siptrace\", \"trace_mode\", 1)\n\
         modparam(\"siptrace\", \"trace_on\", 1)\n",
        hep.to, hep.version, hep.capture_id
    );
    if let Some(key) = &hep.auth_key {
        extra.push_str(&format!(
            "modparam(\"siptrace\", \"auth_key\", \"{key}\")\n"
        ));
    }
    config.replacen("request_route {", &format!("{extra}request_route {{"), 1)
}

/// `config` with TLS enabled: the module, its configuration file, and a
/// `listen=tls:` line per port.
fn with_tls(config: &str, tls_cfg: &Path, tls: &[TlsPort]) -> String {
    let mut extra = String::from("enable_tls=yes\n");
    for t in tls {
        extra.push_str(&format!("listen=tls:{PROVIDER_V4}:{}\n", t.port));
    }
    extra.push_str(&format!(
        "loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"{}\")\n",
        tls_cfg.display()
    ));
    config.replacen(
        "loadmodule \"sl.so\"\n",
        &format!("{extra}loadmodule \"sl.so\"\n"),
        1,
    )
}
