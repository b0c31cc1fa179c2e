//! One network namespace: running commands and code inside it.
use std::{
    fs::File,
    io::{Read, Write},
    os::fd::AsRawFd,
    process::{Child, Command, Output, Stdio},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::LabError;

#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    pub(crate) fn new(name: String) -> Self {
        Self { name }
    }

    /// Names an existing namespace of a lab (e.g. to enter it from another
    /// thread); it is not removed when this value is dropped.
    pub fn from_name(name: String) -> Self {
        Self { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside this namespace.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Runs a command inside the namespace; its stdout on success.
    pub fn run(&self, argv: &[&str]) -> Result<String, LabError> {
        self.run_with_stdin(argv, None)
    }

    pub fn run_with_stdin(&self, argv: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
        let mut cmd = self.command(argv);
        run_command(
            &mut cmd,
            stdin,
            &format!("{} (in {})", argv.join(" "), self.name),
        )
    }

    /// Starts a long-running command inside the namespace; it is killed
    /// when the returned handle is dropped.
    pub fn spawn(&self, argv: &[&str]) -> Result<NetnsChild, LabError> {
        self.spawn_with(argv, Stdio::piped(), Stdio::piped())
    }

    /// [`Netns::spawn`] with the output going where the caller says (e.g.
    /// inherited, for a demo the user watches live).
    pub fn spawn_with(
        &self,
        argv: &[&str],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<NetnsChild, LabError> {
        let mut child = self
            .command(argv)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(LabError::io(format!("starting {}", argv.join(" "))))?;
        // Drain piped output while the process runs: a full pipe would block
        // it before it ever sees the signal that should stop it.
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Ok(NetnsChild {
            child: Some(child),
            what: argv.join(" "),
            stdout,
            stderr,
        })
    }

    /// Runs `f` on a thread that has entered this namespace, so sockets it
    /// opens and interfaces it looks up are the namespace's. Sockets keep
    /// their namespace, so they may be returned and used from any thread.
    pub fn enter<F, R>(&self, f: F) -> Result<R, LabError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter_current_thread()?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Moves the calling thread into this namespace, for threads that live
    /// in it for good (the thread must not be one that others rely on).
    pub fn enter_current_thread(&self) -> Result<(), LabError> {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).map_err(LabError::io(format!("opening {path}")))?;
        // SAFETY: a valid namespace file descriptor; affects this thread only.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(LabError::Io {
                what: format!("entering namespace {}", self.name),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// A process running in a lab namespace; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct NetnsChild {
    child: Option<Child>,
    what: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

impl NetnsChild {
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` and waits up to `timeout` for the process to exit,
    /// returning what it printed. SIGKILL after the timeout.
    pub fn stop(mut self, signal: i32, timeout: Duration) -> Result<Output, LabError> {
        let mut child = self.child.take().expect("child present until stopped");
        // `ip netns exec` execs the command, so the pid is the command's.
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    break;
                }
            }
        }
        let status = child
            .wait()
            .map_err(LabError::io(format!("waiting for {}", self.what)))?;
        let collect =
            |h: Option<JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        Ok(Output {
            status,
            stdout: collect(self.stdout.take()),
            stderr: collect(self.stderr.take()),
        })
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }
}

impl Drop for NetnsChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn run_command(
    cmd: &mut Command,
    stdin: Option<&str>,
    what: &str,
) -> Result<String, LabError> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(LabError::io(format!("starting {what}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(LabError::io(format!("writing to {what}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(LabError::io(format!("waiting for {what}")))?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: what.to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
