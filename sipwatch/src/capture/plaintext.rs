//! The TLS plaintext probes (`attach --pid`, `--process`): uprobes on
//! OpenSSL's `SSL_write`/`SSL_write_ex`/`SSL_read`/`SSL_read_ex` in the
//! libssl the processes map, and BTF tracepoints on every socket send and
//! receive (`sock_send_length`, `sock_recv_length`: Linux 6.4) that name
//! each call's TCP connection (see `sipwatch-ebpf/src/plaintext.rs`).
//! [`PlainProbes`] loads and attaches them; [`PlainReader`] reads what
//! each call wrote or read ([`Chunk`]s); their counters say what was lost.
//!
//! Covered: every process that calls OpenSSL's shared libssl (1.1 and 3):
//! Asterisk (pjproject and chan_sip), FreeSWITCH (Sofia-SIP), Kamailio's
//! and OpenSIPS's `tls` modules, baresip, Python's `ssl`. Not covered: TLS
//! linked statically into the binary, GnuTLS, BoringSSL's renamed
//! symbols, kernel TLS (kTLS) offload: use `--tls-keylog` there.
use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    time::SystemTime,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, UProbe, uprobe::UProbeScope},
};
use sipwatch_common::plaintext::{
    PLAIN_COUNTER_KINDS, PLAIN_COUNTER_MAP, PLAIN_ENTRY_PROGRAMS, PLAIN_FREE_PROGRAM,
    PLAIN_HEADER_LEN, PLAIN_KIND_CONNECTION, PLAIN_KIND_READ, PLAIN_KIND_WRITE,
    PLAIN_PROCESS_GLOBAL, PLAIN_RECV_PROGRAM, PLAIN_RETURN_PROGRAM, PLAIN_RING_BYTES_DEFAULT,
    PLAIN_RING_MAP, PLAIN_SEND_PROGRAM, PLAIN_SOCK_GLOBAL, PLAIN_SYMBOLS, PLAIN_TARGET_MAP,
    PlainHeader, SockOffsets, SockTuple,
};
use tokio::io::{Interest, unix::AsyncFd};

use super::{
    CaptureError,
    btf::Btf,
    frame::MonotonicClock,
    processes::{self, Found, NotAProcess, ProcessChoice},
};
use sipwatch_common::Direction;

/// What one call of the process wrote or read (or part of it: a call
/// over 4 KiB comes in several), or the connection of the thread's
/// writes that had none yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// When the call returned.
    pub time: SystemTime,
    /// The process.
    pub pid: u32,
    /// The thread.
    pub tid: u32,
    /// What it is.
    pub kind: ChunkKind,
    /// Bytes the whole call wrote or read.
    pub call_len: u32,
    /// Where `bytes` start among them.
    pub offset: u32,
    /// The connection: (this host's end, the peer's); `None` when not
    /// known yet.
    pub connection: Option<(SocketAddr, SocketAddr)>,
    /// The plaintext.
    pub bytes: Vec<u8>,
}

/// What a [`Chunk`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// Written by the process (`SSL_write`): to the peer.
    Write,
    /// Read by it (`SSL_read`): from the peer.
    Read,
    /// No bytes: the connection of this thread's writes that had none.
    Connection,
}

impl ChunkKind {
    /// The way its bytes went, as the NIC would have seen them.
    pub fn direction(self) -> Direction {
        match self {
            ChunkKind::Read => Direction::Ingress,
            ChunkKind::Write | ChunkKind::Connection => Direction::Egress,
        }
    }
}

/// What the probes counted (see `sipwatch_common::plaintext::PlainCounter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlainCounts {
    /// Calls that returned bytes.
    pub calls: u64,
    /// Records handed to the reader.
    pub records: u64,
    /// Records lost: the ring was full.
    pub ring_full: u64,
    /// Calls of more than 16 KiB whose rest was not copied.
    pub cut: u64,
    /// Records whose bytes could not be read from the process.
    pub read_errors: u64,
    /// Calls whose entry or return was not seen.
    pub unpaired: u64,
}

/// The probes, loaded and attached.
pub struct PlainProbes {
    ebpf: Ebpf,
    /// The libraries probed, as first named.
    libraries: BTreeSet<PathBuf>,
    /// The same, as files (device, inode) and the process they are
    /// probed for (0: every process): one file is probed once per
    /// process, however many paths (`/proc/PID/root/…`) name it (probed
    /// twice, every call would be read twice).
    files: BTreeSet<(u64, u64, u32)>,
    /// The processes found at attach.
    found: Vec<Found>,
    choice: ProcessChoice,
    attached: bool,
    /// What the user should know of the set-up (a process without
    /// libssl yet), for stderr.
    notes: Vec<String>,
}

/// `struct sock`'s connection fields in the running kernel's BTF.
fn sock_offsets() -> Result<SockOffsets, CaptureError> {
    let btf = Btf::from_sys_fs().map_err(|e| CaptureError::Plaintext(format!("{e}")))?;
    let at = |path: &str| {
        btf.field("sock", path)
            .map(|f| f.offset)
            .map_err(|e| CaptureError::Plaintext(format!("struct sock: {e}")))
    };
    Ok(SockOffsets {
        enabled: 1,
        family: at("__sk_common.skc_family")?,
        daddr: at("__sk_common.skc_daddr")?,
        rcv_saddr: at("__sk_common.skc_rcv_saddr")?,
        dport: at("__sk_common.skc_dport")?,
        num: at("__sk_common.skc_num")?,
        protocol: at("sk_protocol")?,
        v6_daddr: at("__sk_common.skc_v6_daddr")?,
        v6_rcv_saddr: at("__sk_common.skc_v6_rcv_saddr")?,
    })
}

impl PlainProbes {
    /// Finds the processes `choice` names, loads the probes and attaches
    /// them to the libssl each maps (this system's when `--process` names
    /// none that runs yet).
    ///
    /// # Errors
    /// [`CaptureError::Plaintext`] when a `--pid` does not exist, when no
    /// process found maps OpenSSL's libssl (static TLS, GnuTLS), or when
    /// the kernel's BTF lacks `struct sock`; [`CaptureError::Load`],
    /// [`CaptureError::Verify`] and [`CaptureError::Uprobe`] as the kernel
    /// answers.
    pub fn attach(choice: &ProcessChoice) -> Result<PlainProbes, CaptureError> {
        let found = processes::find(choice, Path::new("/proc")).map_err(|e| {
            CaptureError::Plaintext(match e {
                NotAProcess::Missing(pid) => {
                    format!("no process {pid} (--pid): `ps -e` lists the processes")
                }
                NotAProcess::Thread { tid, tgid } => {
                    format!("{tid} is a thread of process {tgid}: give --pid {tgid}")
                }
                NotAProcess::Kernel(pid) => {
                    format!("{pid} is a kernel thread, not a program with TLS: give the PBX's pid")
                }
            })
        })?;
        let mut notes = Vec::new();
        let mut libraries = processes::libraries(&found);
        if libraries.is_empty() {
            let system = processes::system_libssl().ok_or_else(|| {
                CaptureError::Plaintext(
                    "this system has no libssl.so.3 or .1.1 and no process asked for maps one: \
                     the probes read OpenSSL's shared library only; use --tls-keylog"
                        .into(),
                )
            })?;
            if !found.is_empty() {
                // A launcher that loads OpenSSL later, or TLS the probes
                // cannot read: said, and the system's library probed.
                notes.push(format!(
                    "{} maps no OpenSSL libssl yet: the probes are on {} for when it (or a child) loads it; if its TLS is linked statically or is GnuTLS nothing will be read, give --tls-keylog instead",
                    whom(&found),
                    system.display()
                ));
            } else if let Some(name) = &choice.name {
                notes.push(format!(
                    "no process named {name} runs now: its TLS is read from its first call once one starts (`ps -e` shows the names)"
                ));
            }
            libraries.insert(system);
        }
        let comm = choice
            .name
            .as_deref()
            .map(processes::comm_of)
            .unwrap_or_default();
        let offsets = sock_offsets()?;
        let ebpf = EbpfLoader::new()
            // The NIC's maps in this copy of the object stay unused: as
            // small as the kernel allows.
            .map_max_entries(sipwatch_common::RING_MAP, page_size())
            .map_max_entries(sipwatch_common::SCRATCH_MAP, 1)
            .map_max_entries(PLAIN_RING_MAP, PLAIN_RING_BYTES_DEFAULT)
            .override_global(PLAIN_PROCESS_GLOBAL, &comm, true)
            .override_global(PLAIN_SOCK_GLOBAL, &offsets, true)
            .load(super::attach::EBPF_OBJECT)
            .map_err(CaptureError::Load)?;
        let mut probes = PlainProbes {
            ebpf,
            libraries: BTreeSet::new(),
            files: BTreeSet::new(),
            found: Vec::new(),
            notes,
            choice: choice.clone(),
            attached: false,
        };
        probes.add_targets(&found)?;
        probes.found = found;
        let targets = probes.targets(&probes.found.clone(), libraries);
        probes.attach_libraries(&targets)?;
        probes.attach_sockets()?;
        Ok(probes)
    }

    /// Reads processes `found` by pid.
    fn add_targets(&mut self, found: &[Found]) -> Result<(), CaptureError> {
        let map = self
            .ebpf
            .map_mut(PLAIN_TARGET_MAP)
            .ok_or(CaptureError::MissingPart("plaintext targets map"))?;
        let mut targets: BpfHashMap<&mut MapData, u32, u8> =
            BpfHashMap::try_from(map).map_err(|source| CaptureError::Map {
                map: PLAIN_TARGET_MAP,
                source,
            })?;
        for f in found {
            targets
                .insert(f.pid, 1, 0)
                .map_err(|source| CaptureError::Map {
                    map: PLAIN_TARGET_MAP,
                    source,
                })?;
        }
        Ok(())
    }

    /// Where the probes go for `found` (whose libraries are `libraries`):
    /// with `--pid` alone, on each process's libssl for that process only,
    /// so that no other process using OpenSSL takes their traps; with
    /// `--process`, on the library for every process (one of that name
    /// started later is read from its first call).
    fn targets(
        &self,
        found: &[Found],
        libraries: BTreeSet<PathBuf>,
    ) -> Vec<(PathBuf, Option<u32>)> {
        let per_process: Vec<(PathBuf, Option<u32>)> = found
            .iter()
            .filter_map(|f| Some((f.libssl.clone()?, Some(f.pid))))
            .collect();
        if self.choice.name.is_none() && !per_process.is_empty() {
            per_process
        } else {
            libraries.into_iter().map(|l| (l, None)).collect()
        }
    }

    /// Puts the entry and return probes on each library not probed yet,
    /// for one process or (`None`) every process.
    fn attach_libraries(&mut self, targets: &[(PathBuf, Option<u32>)]) -> Result<(), CaptureError> {
        use std::os::unix::fs::MetadataExt as _;
        let mut new = Vec::new();
        for (library, pid) in targets {
            let file = std::fs::metadata(library)
                .map(|m| (m.dev(), m.ino()))
                .map_err(|e| {
                    CaptureError::Plaintext(format!("{}: {e}", display_library(library)))
                })?;
            // Already on the file for every process: nothing to add.
            if self.files.contains(&(file.0, file.1, 0)) {
                continue;
            }
            if self.files.insert((file.0, file.1, pid.unwrap_or(0))) {
                new.push((library.clone(), *pid));
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        for (program, (symbol, _, _)) in PLAIN_ENTRY_PROGRAMS.iter().zip(PLAIN_SYMBOLS) {
            self.attach_uprobe(program, symbol, &new)?;
        }
        for (symbol, _, _) in PLAIN_SYMBOLS {
            self.attach_uprobe(PLAIN_RETURN_PROGRAM, symbol, &new)?;
        }
        self.attach_uprobe(PLAIN_FREE_PROGRAM, "SSL_free", &new)?;
        self.libraries.extend(new.into_iter().map(|(l, _)| l));
        Ok(())
    }

    /// Looks again for the processes asked for: a `--pid`'s new children,
    /// a `--process` started since (its calls are read from the first by
    /// name; this adds its own libssl, a container's). Returns how many
    /// were added.
    pub fn rescan(&mut self) -> Result<usize, CaptureError> {
        if !self.attached {
            return Ok(0);
        }
        let Ok(now) = processes::find(&self.choice, Path::new("/proc")) else {
            // A --pid gone: what it did is read; nothing more will come.
            return Ok(0);
        };
        let new: Vec<Found> = now
            .into_iter()
            .filter(|f| !self.found.iter().any(|old| old.pid == f.pid))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        self.add_targets(&new)?;
        let targets = self.targets(&new, processes::libraries(&new));
        self.attach_libraries(&targets)?;
        let n = new.len();
        self.found.extend(new);
        Ok(n)
    }

    /// The tracepoints that name each call's connection.
    fn attach_sockets(&mut self) -> Result<(), CaptureError> {
        let btf = aya::Btf::from_sys_fs().map_err(|e| {
            CaptureError::Plaintext(format!("the kernel's BTF cannot be read: {e}"))
        })?;
        for (program, tracepoint) in [
            (PLAIN_SEND_PROGRAM, "sock_send_length"),
            (PLAIN_RECV_PROGRAM, "sock_recv_length"),
        ] {
            let p: &mut BtfTracePoint = self
                .ebpf
                .program_mut(program)
                .and_then(|p| p.try_into().ok())
                .ok_or(CaptureError::MissingPart(program))?;
            p.load(tracepoint, &btf).map_err(|_| {
                CaptureError::Plaintext(format!(
                    "this kernel has no {tracepoint} tracepoint (it came with Linux 6.4), which \
                     names the connection of each TLS call; on older kernels use --tls-keylog"
                ))
            })?;
            p.attach().map_err(|source| CaptureError::Uprobe {
                what: format!("the {tracepoint} tracepoint"),
                source,
            })?;
        }
        self.attached = true;
        Ok(())
    }

    fn attach_uprobe(
        &mut self,
        program: &'static str,
        symbol: &str,
        targets: &[(PathBuf, Option<u32>)],
    ) -> Result<(), CaptureError> {
        let p: &mut UProbe = self
            .ebpf
            .program_mut(program)
            .and_then(|p| p.try_into().ok())
            .ok_or(CaptureError::MissingPart(program))?;
        if p.fd().is_err() {
            p.load()
                .map_err(|source| CaptureError::Verify { program, source })?;
        }
        for (library, pid) in targets {
            let scope = pid
                .and_then(std::num::NonZeroU32::new)
                .map_or(UProbeScope::AllProcesses, UProbeScope::OneProcess);
            p.attach(symbol, library, scope)
                .map_err(|source| CaptureError::Uprobe {
                    what: format!("{symbol} in {}", library.display()),
                    source,
                })?;
        }
        Ok(())
    }

    /// What the user should know of the set-up: a process that maps no
    /// libssl yet, a `--process` name no process has yet.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// What is probed, for telling the user: "SSL_write/SSL_read in
    /// /usr/lib/…/libssl.so.3 of asterisk (pid 812)".
    pub fn describe(&self) -> String {
        let libraries: Vec<String> = self.libraries.iter().map(|l| display_library(l)).collect();
        let mapping: Vec<Found> = self
            .found
            .iter()
            .filter(|f| f.libssl.is_some())
            .cloned()
            .collect();
        let mut whom = Vec::new();
        if !mapping.is_empty() {
            whom.push(self::whom(&mapping));
        }
        let others = self.found.len() - mapping.len();
        if others > 0 {
            whom.push(format!(
                "{others} process{} mapping no libssl yet",
                if others == 1 { "" } else { "es" }
            ));
        }
        if let Some(name) = &self.choice.name {
            whom.push(format!(
                "every process named {name}, also those started later"
            ));
        }
        format!(
            "TLS plaintext: SSL_write/SSL_read in {} of {}",
            libraries.join(", "),
            whom.join(", ")
        )
    }

    /// The reader of what the calls wrote and read. Only one may exist;
    /// call inside tokio.
    pub fn chunks(&mut self) -> Result<PlainReader, CaptureError> {
        let map = self
            .ebpf
            .take_map(PLAIN_RING_MAP)
            .ok_or(CaptureError::MissingPart("plaintext ring buffer"))?;
        let ring = RingBuf::try_from(map).map_err(|source| CaptureError::Map {
            map: PLAIN_RING_MAP,
            source,
        })?;
        PlainReader::new(ring)
    }

    /// The probes' counters so far.
    pub fn counters(&self) -> Result<PlainCounts, CaptureError> {
        let map = self
            .ebpf
            .map(PLAIN_COUNTER_MAP)
            .ok_or(CaptureError::MissingPart("plaintext counters map"))?;
        let array: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|source| CaptureError::Map {
                map: PLAIN_COUNTER_MAP,
                source,
            })?;
        let mut sums = [0u64; PLAIN_COUNTER_KINDS as usize];
        for (i, sum) in sums.iter_mut().enumerate() {
            let values = array
                .get(&(i as u32), 0)
                .map_err(|source| CaptureError::Map {
                    map: PLAIN_COUNTER_MAP,
                    source,
                })?;
            *sum = values.iter().sum();
        }
        Ok(PlainCounts {
            calls: sums[0],
            records: sums[1],
            ring_full: sums[2],
            cut: sums[3],
            read_errors: sums[4],
            unpaired: sums[5],
        })
    }

    /// Detaches every probe (the programs and their links are dropped with
    /// the object); the ring can still be drained.
    pub fn detach(&mut self) {
        if !self.attached {
            return;
        }
        self.attached = false;
        // Unloading detaches the program's links first.
        for name in PLAIN_ENTRY_PROGRAMS
            .iter()
            .chain([&PLAIN_RETURN_PROGRAM, &PLAIN_FREE_PROGRAM])
        {
            let p: Option<&mut UProbe> =
                self.ebpf.program_mut(name).and_then(|p| p.try_into().ok());
            if let Some(p) = p {
                let _ = p.unload();
            }
        }
        for name in [PLAIN_SEND_PROGRAM, PLAIN_RECV_PROGRAM] {
            let p: Option<&mut BtfTracePoint> =
                self.ebpf.program_mut(name).and_then(|p| p.try_into().ok());
            if let Some(p) = p {
                let _ = p.unload();
            }
        }
    }
}

/// Processes as the user knows them: "asterisk (pid 812)", at most 8
/// named, then how many more.
fn whom(found: &[Found]) -> String {
    let mut names: Vec<String> = found
        .iter()
        .take(8)
        .map(|f| format!("{} (pid {})", f.name, f.pid))
        .collect();
    if found.len() > 8 {
        names.push(format!("{} more", found.len() - 8));
    }
    names.join(", ")
}

/// A library path as the user knows it: without `/proc/PID/root`.
fn display_library(path: &Path) -> String {
    let text = path.display().to_string();
    match text.strip_prefix("/proc/") {
        Some(rest) => match rest.split_once("/root/") {
            Some((pid, inside)) if pid.bytes().all(|b| b.is_ascii_digit()) => format!("/{inside}"),
            _ => text,
        },
        None => text,
    }
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).unwrap_or(4096)
}

/// At most this many records per [`PlainReader::next_batch`].
const MAX_BATCH: usize = 4096;

/// The user-space end of the plaintext ring.
pub struct PlainReader {
    ring: AsyncFd<RingBuf<MapData>>,
    clock: MonotonicClock,
    malformed: u64,
}

impl PlainReader {
    fn new(ring: RingBuf<MapData>) -> Result<PlainReader, CaptureError> {
        // SAFETY: the ring owns its map's file descriptor for as long as
        // it lives (inside the AsyncFd).
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| CaptureError::Ring(std::io::Error::other(e.to_string())))?;
        Ok(PlainReader {
            ring,
            clock: MonotonicClock::now(),
            malformed: 0,
        })
    }

    /// Records that were too short or of an unknown kind.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Waits for records, then appends up to a batch of them to `out`.
    /// Cancel-safe: records are taken from the ring and appended in one
    /// step, never across an await.
    pub async fn next_batch(&mut self, out: &mut Vec<Chunk>) -> Result<(), CaptureError> {
        loop {
            match tokio::time::timeout(super::ring::POLL_INTERVAL, self.ring.readable_mut()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(CaptureError::Ring)?;
                    let n = drain(guard.get_inner_mut(), &self.clock, &mut self.malformed, out);
                    if n == 0 {
                        guard.clear_ready();
                        continue;
                    }
                    return Ok(());
                }
                Err(_) => {
                    if drain(self.ring.get_mut(), &self.clock, &mut self.malformed, out) > 0 {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Everything still in the ring (after the probes are detached).
    pub fn drain(&mut self, out: &mut Vec<Chunk>) {
        while drain(self.ring.get_mut(), &self.clock, &mut self.malformed, out) > 0 {}
    }
}

fn drain(
    ring: &mut RingBuf<MapData>,
    clock: &MonotonicClock,
    malformed: &mut u64,
    out: &mut Vec<Chunk>,
) -> usize {
    let mut n = 0;
    while n < MAX_BATCH {
        let Some(item) = ring.next() else { break };
        n += 1;
        match parse(&item, clock) {
            Some(chunk) => out.push(chunk),
            None => *malformed += 1,
        }
    }
    n
}

/// One ring record as a [`Chunk`]; `None` when it is malformed.
pub fn parse(record: &[u8], clock: &MonotonicClock) -> Option<Chunk> {
    let head = record.get(..PLAIN_HEADER_LEN)?;
    // SAFETY: PLAIN_HEADER_LEN bytes of a plain #[repr(C)] struct with
    // no invalid bit patterns.
    let h: PlainHeader = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
    let kind = match h.kind {
        PLAIN_KIND_WRITE => ChunkKind::Write,
        PLAIN_KIND_READ => ChunkKind::Read,
        PLAIN_KIND_CONNECTION => ChunkKind::Connection,
        _ => return None,
    };
    let bytes = record
        .get(PLAIN_HEADER_LEN..PLAIN_HEADER_LEN.checked_add(h.len as usize)?)?
        .to_vec();
    Some(Chunk {
        time: clock.wall_time(h.ts_ns),
        pid: h.pid,
        tid: h.tid,
        kind,
        call_len: h.call_len,
        offset: h.offset,
        connection: connection(&h.tuple),
        bytes,
    })
}

/// (this host's end, the peer's) of a socket's tuple; IPv4-mapped IPv6
/// addresses as IPv4.
pub fn connection(t: &SockTuple) -> Option<(SocketAddr, SocketAddr)> {
    let ip = |b: &[u8; 16]| -> Option<IpAddr> {
        match t.family {
            2 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            10 => Some(Ipv6Addr::from(*b).to_canonical()),
            _ => None,
        }
    };
    Some((
        SocketAddr::new(ip(&t.local)?, t.local_port),
        SocketAddr::new(ip(&t.remote)?, t.remote_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, tuple: SockTuple, data: &[u8]) -> Vec<u8> {
        let h = PlainHeader {
            ts_ns: 5,
            pid: 7,
            tid: 8,
            call_len: data.len() as u32,
            offset: 0,
            len: data.len() as u32,
            kind,
            _pad: [0; 3],
            tuple,
        };
        // SAFETY: a plain #[repr(C)] struct viewed as its bytes.
        let mut v = unsafe {
            std::slice::from_raw_parts((&h as *const PlainHeader).cast::<u8>(), PLAIN_HEADER_LEN)
        }
        .to_vec();
        v.extend_from_slice(data);
        v.resize(PLAIN_HEADER_LEN + 4096, 0);
        v
    }

    fn v4() -> SockTuple {
        let mut t = SockTuple {
            family: 2,
            local_port: 40000,
            remote_port: 5061,
            ..SockTuple::default()
        };
        t.local[..4].copy_from_slice(&[192, 168, 77, 10]);
        t.remote[..4].copy_from_slice(&[203, 0, 113, 5]);
        t
    }

    #[test]
    fn a_record_gives_its_bytes_and_connection() {
        let clock = MonotonicClock::now();
        let c = parse(&record(PLAIN_KIND_WRITE, v4(), b"REGISTER"), &clock).unwrap();
        assert_eq!(c.bytes, b"REGISTER");
        assert_eq!(c.kind, ChunkKind::Write);
        assert_eq!(
            c.connection,
            Some((
                "192.168.77.10:40000".parse().unwrap(),
                "203.0.113.5:5061".parse().unwrap()
            ))
        );
    }

    #[test]
    fn mapped_ipv6_is_ipv4_and_an_unknown_family_is_no_connection() {
        let mut t = SockTuple {
            family: 10,
            local_port: 1,
            remote_port: 2,
            ..SockTuple::default()
        };
        t.local = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets();
        t.remote = "2001:db8::5".parse::<Ipv6Addr>().unwrap().octets();
        let (l, r) = connection(&t).unwrap();
        assert_eq!(l, "10.0.0.1:1".parse().unwrap());
        assert_eq!(r, "[2001:db8::5]:2".parse().unwrap());
        assert_eq!(connection(&SockTuple::default()), None);
    }

    #[test]
    fn short_records_lengths_past_the_end_and_unknown_kinds_are_malformed() {
        let clock = MonotonicClock::now();
        assert!(parse(&[0; 10], &clock).is_none());
        assert!(parse(&record(9, v4(), b"x"), &clock).is_none());
        let mut r = record(PLAIN_KIND_READ, v4(), b"abc");
        r.truncate(PLAIN_HEADER_LEN + 2);
        assert!(parse(&r, &clock).is_none());
    }

    #[test]
    fn the_library_is_shown_without_the_process_root() {
        assert_eq!(
            display_library(Path::new("/proc/812/root/usr/lib/libssl.so.3")),
            "/usr/lib/libssl.so.3"
        );
        assert_eq!(
            display_library(Path::new("/usr/lib/libssl.so.3")),
            "/usr/lib/libssl.so.3"
        );
    }
}
