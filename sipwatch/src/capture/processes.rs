//! Finding the processes whose TLS plaintext is read (`attach --pid`,
//! `--process`) and the OpenSSL library each maps, from `/proc`.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

/// Which processes to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessChoice {
    /// `--pid`: these process ids, and the processes they fork (a
    /// Kamailio's children).
    pub pids: Vec<u32>,
    /// `--process`: every process of this name (its `comm`, as `ps -e`
    /// shows it, at most 15 bytes), also those started later.
    pub name: Option<String>,
}

impl ProcessChoice {
    /// Whether any process is asked for.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.name.is_none()
    }
}

/// A process found, with the TLS library it maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its id.
    pub pid: u32,
    /// Its name (`comm`).
    pub name: String,
    /// OpenSSL's `libssl` as this process maps it, opened through
    /// `/proc/PID/root` (a container's own copy); `None`: it maps none.
    pub libssl: Option<PathBuf>,
}

/// The kernel's `comm` of a process name: its first 15 bytes.
pub fn comm_of(name: &str) -> [u8; sipwatch_common::plaintext::COMM_LEN] {
    let mut comm = [0u8; sipwatch_common::plaintext::COMM_LEN];
    let bytes = name.as_bytes();
    let n = bytes.len().min(comm.len() - 1);
    comm[..n].copy_from_slice(&bytes[..n]);
    comm
}

/// Why a `--pid` cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAProcess {
    /// No process has that id.
    Missing(u32),
    /// It is a thread of process `tgid`.
    Thread {
        /// The id given.
        tid: u32,
        /// Its process.
        tgid: u32,
    },
    /// It is a kernel thread: no user-space TLS runs there.
    Kernel(u32),
}

/// The processes `choice` names that run now: each `--pid` with its
/// descendants, and every process of the `--process` name. A `--pid` that
/// is no user process is an error; a `--process` name that no process has
/// yet is not (it may start later).
pub fn find(choice: &ProcessChoice, proc_root: &Path) -> Result<Vec<Found>, NotAProcess> {
    let mut found = Vec::new();
    for &pid in &choice.pids {
        let dir = proc_root.join(pid.to_string());
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let tgid = status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        match tgid {
            None => return Err(NotAProcess::Missing(pid)),
            Some(tgid) if tgid != pid => return Err(NotAProcess::Thread { tid: pid, tgid }),
            Some(_) => {}
        }
        // A kernel thread has no program behind it.
        if std::fs::read_link(dir.join("exe")).is_err() {
            return Err(NotAProcess::Kernel(pid));
        }
        match look(proc_root, pid) {
            Some(f) => found.push(f),
            None => return Err(NotAProcess::Missing(pid)),
        }
    }
    if !choice.pids.is_empty() {
        let parents: Vec<(u32, u32)> = all_pids(proc_root)
            .into_iter()
            .filter_map(|pid| Some((pid, parent(proc_root, pid)?)))
            .collect();
        let mut wanted: BTreeSet<u32> = choice.pids.iter().copied().collect();
        // Each pass takes one more generation; a pid's parent is older.
        loop {
            let before = wanted.len();
            for &(pid, ppid) in &parents {
                if wanted.contains(&ppid)
                    && wanted.insert(pid)
                    && let Some(f) = look(proc_root, pid)
                {
                    found.push(f);
                }
            }
            if wanted.len() == before {
                break;
            }
        }
    }
    if let Some(name) = &choice.name {
        let comm = comm_of(name);
        let wanted =
            String::from_utf8_lossy(&comm[..comm.iter().position(|&b| b == 0).unwrap_or(15)])
                .into_owned();
        for pid in all_pids(proc_root) {
            if found.iter().any(|f| f.pid == pid) {
                continue;
            }
            if let Some(f) = look(proc_root, pid)
                && f.name == wanted
            {
                found.push(f);
            }
        }
    }
    Ok(found)
}

/// Every process id under `proc_root`.
fn all_pids(proc_root: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The parent of process `pid` (`/proc/PID/stat`: `pid (comm) state
/// ppid …`, the name may hold spaces and parentheses).
fn parent(proc_root: &Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Process `pid`: its name and its libssl; `None` when it does not exist.
fn look(proc_root: &Path, pid: u32) -> Option<Found> {
    let dir = proc_root.join(pid.to_string());
    let name = std::fs::read_to_string(dir.join("comm")).ok()?;
    let maps = std::fs::read_to_string(dir.join("maps")).unwrap_or_default();
    let libssl = libssl_in(&maps).map(|p| dir.join("root").join(p.trim_start_matches('/')));
    Some(Found {
        pid,
        name: name.trim_end().to_owned(),
        libssl,
    })
}

/// The path of OpenSSL's libssl among a `/proc/PID/maps` text's mappings
/// (`libssl.so.3`, `libssl.so.1.1`…).
pub fn libssl_in(maps: &str) -> Option<&str> {
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libssl.so"))
        })
}

/// The libraries to put the probes on: each process's own, or, when none
/// runs yet (`--process` of a process not started), this system's.
pub fn libraries(found: &[Found]) -> BTreeSet<PathBuf> {
    found.iter().filter_map(|f| f.libssl.clone()).collect()
}

/// This system's libssl, for processes not started yet: the first of the
/// usual places that exists.
pub fn system_libssl() -> Option<PathBuf> {
    const PLACES: [&str; 6] = [
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/aarch64-linux-gnu/libssl.so.3",
        "/usr/lib64/libssl.so.3",
        "/usr/lib/libssl.so.3",
        "/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
        "/usr/lib64/libssl.so.1.1",
    ];
    PLACES.iter().map(PathBuf::from).find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libssl_is_found_among_the_mappings_and_nothing_else_is_taken_for_it() {
        let maps = "\
7f0000000000-7f0000001000 r--p 00000000 08:01 100 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f0000001000-7f0000002000 r-xp 00001000 08:01 101 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f0000002000-7f0000003000 rw-p 00000000 00:00 0 
";
        assert_eq!(
            libssl_in(maps),
            Some("/usr/lib/x86_64-linux-gnu/libssl.so.3")
        );
        assert_eq!(libssl_in("7f-8f r-xp 0 0:0 0 /usr/lib/libsslx.so\n"), None);
        assert_eq!(libssl_in(""), None);
    }

    #[test]
    fn a_long_name_is_cut_as_the_kernel_cuts_comm() {
        let comm = comm_of("a-very-long-process-name");
        assert_eq!(&comm[..15], b"a-very-long-pro");
        assert_eq!(comm[15], 0);
    }

    #[test]
    fn this_process_is_found_by_pid_and_a_missing_pid_is_an_error() {
        let me = std::process::id();
        let found = find(
            &ProcessChoice {
                pids: vec![me],
                name: None,
            },
            Path::new("/proc"),
        )
        .unwrap();
        assert_eq!(found[0].pid, me);
        assert_eq!(
            find(
                &ProcessChoice {
                    pids: vec![u32::MAX - 1],
                    name: None
                },
                Path::new("/proc")
            ),
            Err(NotAProcess::Missing(u32::MAX - 1))
        );
        // kthreadd is pid 2 on a host; a container's pid namespace has none.
        let kthreadd =
            std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd");
        if kthreadd {
            assert_eq!(
                find(
                    &ProcessChoice {
                        pids: vec![2],
                        name: None
                    },
                    Path::new("/proc")
                ),
                Err(NotAProcess::Kernel(2))
            );
        }
        let thread = std::thread::spawn(|| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            find(
                &ProcessChoice {
                    pids: vec![tid],
                    name: None,
                },
                Path::new("/proc"),
            )
            .map(|_| ())
        })
        .join()
        .unwrap();
        assert!(
            matches!(thread, Err(NotAProcess::Thread { tgid, .. }) if tgid == me),
            "{thread:?}"
        );
    }
}
