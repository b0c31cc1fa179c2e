//! Kamailio as the lab's registrar: a minimal configuration (usrloc in
//! memory, no database) that answers REGISTER with 200 OK and a binding,
//! INVITE with 486 Busy Here, and anything else with 200 OK, over UDP and
//! TCP on the provider's address.
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{LabError, Netns, NetnsChild, addresses::PROVIDER_V4};

/// A running Kamailio; stopped (and its files removed) on drop.
pub struct Kamailio {
    _process: NetnsChild,
    dir: PathBuf,
}

impl Kamailio {
    /// Starts Kamailio in `ns` (the provider) and waits until it listens.
    pub fn start(ns: &Netns) -> Result<Kamailio, LabError> {
        let dir = std::env::temp_dir().join(format!(
            "sipwatch-kamailio-{}-{}",
            std::process::id(),
            ns.name()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(LabError::io(format!("creating {}", dir.display())))?;
        let config = dir.join("kamailio.cfg");
        std::fs::write(&config, config_text()).map_err(LabError::io("writing kamailio.cfg"))?;
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
                .is_ok_and(|o| !o.trim().is_empty());
            if listening {
                break;
            }
            if !process.running() {
                return Err(LabError::Timeout("Kamailio exited at start".into()));
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

pub fn config_text() -> String {
    format!(
        "#!KAMAILIO\n\
         debug=1\n\
         log_stderror=yes\n\
         children=1\n\
         tcp_children=1\n\
         listen=udp:{PROVIDER_V4}:5060\n\
         listen=tcp:{PROVIDER_V4}:5060\n\
         loadmodule \"sl.so\"\n\
         loadmodule \"tm.so\"\n\
         loadmodule \"pv.so\"\n\
         loadmodule \"textops.so\"\n\
         loadmodule \"usrloc.so\"\n\
         loadmodule \"registrar.so\"\n\
         request_route {{\n\
         \tif (is_method(\"REGISTER\")) {{ save(\"location\"); exit; }}\n\
         \tif (is_method(\"ACK\")) {{ exit; }}\n\
         \tif (is_method(\"INVITE\")) {{ sl_send_reply(\"486\", \"Busy Here\"); exit; }}\n\
         \tsl_send_reply(\"200\", \"OK\");\n\
         }}\n"
    )
}
