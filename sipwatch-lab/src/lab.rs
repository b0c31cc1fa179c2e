//! Building and tearing down the lab.
use std::{
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{LabError, Netns, Personality, addresses::*, netns::run_command};

/// Namespaces of every lab start with this, then the owning process id.
const PREFIX: &str = "swlab-";

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// A running lab. Dropping it removes its namespaces (and with them the veth
/// pairs) after killing every process still inside.
#[derive(Debug)]
pub struct Lab {
    pub pbx: Netns,
    pub router: Netns,
    pub provider: Netns,
    pub personality: Personality,
}

/// Fails with the missing tool and its package when the lab cannot run here.
pub fn require_tools() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("sysctl", "procps"),
        ("ping", "iputils-ping"),
    ] {
        if !on_path(tool) {
            return Err(LabError::MissingTool { tool, package });
        }
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file())
}

/// The router's table for a return-path drop added to a running lab.
const RETURN_DROP_TABLE: &str = "sipwatch_lab_return_drop";

impl Lab {
    /// Builds a lab with the router in `personality`.
    pub fn new(personality: Personality) -> Result<Lab, LabError> {
        require_tools()?;
        sweep_stale_labs();
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            pbx: Netns::new(format!("{id}-pbx")),
            router: Netns::new(format!("{id}-router")),
            provider: Netns::new(format!("{id}-provider")),
            personality,
        };
        // From here on, an error drops `lab`, which removes what was made.
        for ns in lab.namespaces() {
            ip(&["netns", "add", ns.name()])?;
            ns.run(&["ip", "link", "set", "lo", "up"])?;
        }
        lab.wire()?;
        lab.address()?;
        lab.route()?;
        lab.router
            .run_with_stdin(&["nft", "-f", "-"], Some(&personality.ruleset()))?;
        lab.wait_until_reachable()?;
        Ok(lab)
    }

    /// Gives the provider [`crate::ECHO_V4`] and [`crate::ECHO_V6`] too, so that a `sipwatch echo`
    /// listens beside the registrar (which holds 5060 on its own address).
    pub fn add_echo_address(&self) -> Result<(), LabError> {
        self.provider.run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", crate::ECHO_V4),
            "dev",
            PROVIDER_IF,
        ])?;
        self.provider
            .run(&[
                "ip",
                "addr",
                "add",
                &format!("{}/64", crate::ECHO_V6),
                "dev",
                PROVIDER_IF,
                "nodad",
            ])
            .map(|_| ())
    }

    /// From now on, the router's firewall drops SIP from the provider on its
    /// way back to the PBX, as [`Personality::DropReturn`] does from the
    /// start, until [`Lab::stop_dropping_sip_on_the_way_back`].
    pub fn drop_sip_on_the_way_back(&self) -> Result<(), LabError> {
        let table = format!(
            "table inet {RETURN_DROP_TABLE} {{\n\
             \tchain forward_filter {{\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             \t\t{}\n\
             \t}}\n\
             }}\n",
            crate::personality::return_path_drop()
        );
        self.router
            .run_with_stdin(&["nft", "-f", "-"], Some(&table))
            .map(|_| ())
    }

    /// Removes what [`Lab::drop_sip_on_the_way_back`] added.
    pub fn stop_dropping_sip_on_the_way_back(&self) -> Result<(), LabError> {
        self.router
            .run(&["nft", "delete", "table", "inet", RETURN_DROP_TABLE])
            .map(|_| ())
    }

    /// From now on, a command run in any of the lab's namespaces with `ip
    /// netns exec` ([`Netns::command`], [`Netns::run`], [`Netns::spawn`])
    /// resolves names with `server` alone: `/etc/netns/NAME/resolv.conf`,
    /// which `ip netns exec` bind-mounts over `/etc/resolv.conf`. Removed
    /// when the lab is dropped. (Code run with [`Netns::enter`] still reads
    /// the host's `/etc/resolv.conf`: only `ip netns exec` mounts it.)
    pub fn use_dns(&self, server: std::net::IpAddr) -> Result<(), LabError> {
        for ns in self.namespaces() {
            let dir = resolver_dir(ns.name());
            std::fs::create_dir_all(&dir)
                .map_err(LabError::io(format!("creating {}", dir.display())))?;
            let file = dir.join("resolv.conf");
            std::fs::write(
                &file,
                format!("# sipwatch lab {}\nnameserver {server}\n", ns.name()),
            )
            .map_err(LabError::io(format!("writing {}", file.display())))?;
        }
        Ok(())
    }

    pub fn namespaces(&self) -> [&Netns; 3] {
        [&self.pbx, &self.router, &self.provider]
    }

    fn wire(&self) -> Result<(), LabError> {
        let (pbx, router, provider) = (self.pbx.name(), self.router.name(), self.provider.name());
        ip(&[
            "-n",
            pbx,
            "link",
            "add",
            PBX_IF,
            "type",
            "veth",
            "peer",
            "name",
            ROUTER_LAN_IF,
            "netns",
            router,
        ])?;
        ip(&[
            "-n",
            router,
            "link",
            "add",
            ROUTER_WAN_IF,
            "type",
            "veth",
            "peer",
            "name",
            PROVIDER_IF,
            "netns",
            provider,
        ])?;
        for (ns, ifs) in [
            (pbx, &[PBX_IF][..]),
            (router, &[ROUTER_LAN_IF, ROUTER_WAN_IF][..]),
            (provider, &[PROVIDER_IF][..]),
        ] {
            for interface in ifs {
                ip(&["-n", ns, "link", "set", interface, "up"])?;
            }
        }
        Ok(())
    }

    fn address(&self) -> Result<(), LabError> {
        let assignments: [(&Netns, &str, String); 8] = [
            (&self.pbx, PBX_IF, format!("{PBX_V4}/24")),
            (&self.pbx, PBX_IF, format!("{PBX_V6}/64")),
            (&self.router, ROUTER_LAN_IF, format!("{ROUTER_LAN_V4}/24")),
            (&self.router, ROUTER_LAN_IF, format!("{ROUTER_LAN_V6}/64")),
            (&self.router, ROUTER_WAN_IF, format!("{ROUTER_WAN_V4}/24")),
            (&self.router, ROUTER_WAN_IF, format!("{ROUTER_WAN_V6}/64")),
            (&self.provider, PROVIDER_IF, format!("{PROVIDER_V4}/24")),
            (&self.provider, PROVIDER_IF, format!("{PROVIDER_V6}/64")),
        ];
        for (ns, interface, addr) in assignments {
            let mut args = vec!["-n", ns.name(), "addr", "add", &addr, "dev", interface];
            if addr.contains(':') {
                // Usable at once: no duplicate address detection delay.
                args.push("nodad");
            }
            ip(&args)?;
        }
        Ok(())
    }

    fn route(&self) -> Result<(), LabError> {
        let pbx = self.pbx.name();
        ip(&[
            "-n",
            pbx,
            "route",
            "add",
            "default",
            "via",
            &ROUTER_LAN_V4.to_string(),
        ])?;
        ip(&[
            "-n",
            pbx,
            "-6",
            "route",
            "add",
            "default",
            "via",
            &ROUTER_LAN_V6.to_string(),
        ])?;
        self.router.run(&[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ])?;
        Ok(())
    }

    /// The first packets of a fresh namespace wait on neighbour discovery;
    /// wait until the provider answers from the PBX on every path.
    fn wait_until_reachable(&self) -> Result<(), LabError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for target in [PROVIDER_V4.to_string(), PROVIDER_V6.to_string()] {
            while self
                .pbx
                .run(&["ping", "-c1", "-W1", "-q", &target])
                .is_err()
            {
                if Instant::now() > deadline {
                    return Err(LabError::Timeout(format!(
                        "lab {}: {target} not reachable from the PBX within 10 s",
                        self.pbx.name()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces() {
            remove_namespace(ns.name());
        }
    }
}

fn ip(args: &[&str]) -> Result<String, LabError> {
    run_command(
        Command::new("ip").args(args),
        None,
        &format!("ip {}", args.join(" ")),
    )
}

/// Where `ip netns exec` finds a namespace's own `/etc` files.
fn resolver_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/etc/netns").join(name)
}

/// Kills what runs in a namespace and deletes it, with the resolver
/// configuration [`Lab::use_dns`] gave it; best effort, for teardown.
fn remove_namespace(name: &str) {
    let _ = std::fs::remove_dir_all(resolver_dir(name));
    if let Ok(pids) = ip(&["netns", "pids", name]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = ip(&["netns", "del", name]);
}

/// Removes labs whose owning process is gone (killed before it could clean
/// up), so that they do not pile up across runs.
fn sweep_stale_labs() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let owner_alive = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !owner_alive {
            remove_namespace(name);
        }
    }
}
