//! baresip as the lab's PBX: a real SIP user agent that registers on its
//! own, answers digest challenges and refreshes before its binding expires,
//! as Asterisk's outbound registration does. Headless: no audio device, no
//! console, its configuration in a directory of its own.
use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::{LabError, Netns, NetnsChild};

/// A running baresip; stopped (and its files removed) on drop.
pub struct Baresip {
    process: Option<NetnsChild>,
    dir: PathBuf,
}

/// One account: who registers where, and how often.
pub struct Account<'a> {
    /// The address of record, `sip:user@registrar`.
    pub aor: &'a str,
    /// The digest password, if the registrar challenges.
    pub password: Option<&'a str>,
    /// Seconds between registrations (baresip's `regint`, sent as Expires).
    pub regint: u32,
}

impl Baresip {
    /// Starts baresip in `ns` listening on `listen` (UDP) with `account`,
    /// and waits until its SIP socket is bound.
    pub fn start(
        ns: &Netns,
        listen: SocketAddr,
        account: &Account<'_>,
    ) -> Result<Baresip, LabError> {
        let dir = std::env::temp_dir().join(format!(
            "sipwatch-baresip-{}-{}",
            std::process::id(),
            ns.name()
        ));
        std::fs::create_dir_all(&dir).map_err(LabError::io("creating baresip's directory"))?;
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{listen}\n\
             sip_transports\t\tudp\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module_app\t\taccount.so\n\
             audio_player\t\taufile,/dev/null\n\
             audio_source\t\taufile,/dev/null\n\
             audio_alert\t\taufile,/dev/null\n"
        );
        let password = account
            .password
            .map(|p| format!(";auth_pass={p}"))
            .unwrap_or_default();
        let accounts = format!("<{}>{password};regint={}\n", account.aor, account.regint);
        std::fs::write(dir.join("config"), config)
            .map_err(LabError::io("writing baresip's config"))?;
        std::fs::write(dir.join("accounts"), accounts)
            .map_err(LabError::io("writing baresip's accounts"))?;
        let dir_arg = dir.display().to_string();
        let mut process = ns.spawn(&["baresip", "-f", &dir_arg])?;
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = format!("sport = :{}", listen.port());
        while !ns
            .run(&["ss", "-Hlun", &port])
            .is_ok_and(|o| !o.trim().is_empty())
        {
            if !process.running() || Instant::now() > deadline {
                let out = process.stop(libc::SIGKILL, Duration::from_secs(1))?;
                return Err(LabError::Timeout(format!(
                    "baresip did not start: {}",
                    String::from_utf8_lossy(&out.stdout)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Baresip {
            process: Some(process),
            dir,
        })
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            let _ = p.stop(libc::SIGTERM, Duration::from_secs(2));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
