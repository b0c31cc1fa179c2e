//! Loading the kernel programs and attaching them to an interface.
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, MapData, PerCpuArray, RingBuf},
    programs::{
        BtfTracePoint, ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
        tc::{SchedClassifierLinkId, TcError, qdisc_add_clsact},
        xdp::XdpLinkId,
    },
    util::KernelVersion,
};
use aya_log::EbpfLogger;
use sipwatch_common::{
    COUNTER_MAP, DROP_CONFIG_GLOBAL, DROP_PROGRAM, DROP_TRACEPOINT, DropConfig, ECHO_MAP, EchoKey,
    EndpointKey, LINK_ETHERNET, LINK_GLOBAL, LINK_NONE, PORT_MAP, PORT_SIP, PORT_TLS, RING_MAP,
    SCRATCH_MAP, SCRATCH_SLOTS_PER_CPU, SIP_ENDPOINT_MAP, SNAP_LEN_GLOBAL, SNIFF_GLOBAL,
    TC_INGRESS_PROGRAM, TC_PROGRAM, WAKEUP_BYTES_MAX, WAKEUP_GLOBAL, XDP_PROGRAM,
};

use super::{
    CaptureConfig, CaptureError, Counters, FrameReader, Hook, XdpModeChoice,
    drops::{self, DropReasons},
    privileges::require_capabilities,
};

/// The kernel programs, built by build.rs from `sipwatch-ebpf`.
pub(super) static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sipwatch"));

/// A hook as it was attached, for telling the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedHook {
    /// Which hook: XDP (ingress), TC (egress) or, on layer-3 devices, TC
    /// (ingress).
    pub hook: Hook,
    /// How, and why there when it is not the usual hook for its direction:
    /// "in driver mode", "in generic mode", "via a TCX link", "via a clsact
    /// filter", "via a TCX link (wg0 has no Ethernet header: XDP cannot
    /// read its packets)".
    pub how: String,
}

/// What the hooks see of an interface's packets, from its ARPHRD type
/// (`/sys/class/net/<interface>/type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Ethernet (1), and what looks like it: VLANs, bonds, bridges,
    /// macvlan/ipvlan, veth, gretap/VXLAN devices. XDP ingress, TC egress.
    Ethernet,
    /// Loopback (772): Ethernet-like headers, and every packet both leaves
    /// and arrives, so TC egress alone sees each once.
    Loopback,
    /// Layer-3 devices whose packets begin with the IP header: tun and
    /// WireGuard (65534), PPP (512), raw IP (519), IP-in-IP (768), IPv6
    /// tunnels (769), SIT (776), GRE (778), IPv6 GRE (823). Both directions
    /// at TC.
    Layer3,
}

impl LinkKind {
    /// The kind of ARPHRD type `arphrd`; `None` for types sipwatch cannot
    /// read (InfiniBand, CAN, IEEE 802.11 monitor, …).
    pub fn of_arphrd(arphrd: u16) -> Option<LinkKind> {
        match arphrd {
            1 => Some(LinkKind::Ethernet),
            772 => Some(LinkKind::Loopback),
            65534 | 512 | 519 | 768 | 769 | 776 | 778 | 823 => Some(LinkKind::Layer3),
            _ => None,
        }
    }
}

/// Loaded and attached kernel programs. Dropping it detaches them (the links
/// are file descriptors, so a crashed sipwatch leaves nothing attached either).
pub struct Capture {
    ebpf: Ebpf,
    interface: String,
    link: LinkKind,
    hooks: Vec<AttachedHook>,
    /// The hooks that were attached before [`Capture::detach`]: their
    /// counters still name them.
    detached: Vec<Hook>,
    xdp_link: Option<XdpLinkId>,
    tc_link: Option<SchedClassifierLinkId>,
    /// TC ingress, in XDP's place on layer-3 devices.
    tc_ingress_link: Option<SchedClassifierLinkId>,
    drop_link: Option<aya::programs::tp_btf::BtfTracePointLinkId>,
    /// The kernel's drop reason names (empty when drops are not traced).
    drop_reasons: DropReasons,
    /// Why drops are not traced, when they are not though asked for.
    drop_problem: Option<String>,
    logger: Option<EbpfLogger<&'static dyn log::Log>>,
}

impl Capture {
    /// Loads the programs with `config` and attaches the chosen hooks to the
    /// interface (looked up in the calling thread's network namespace).
    pub fn attach(config: &CaptureConfig) -> Result<Capture, CaptureError> {
        config.validate()?;
        require_ring_buffer()?;
        require_capabilities()?;
        let link = check_interface(&config.interface)?;
        raise_memlock_limit();

        let cpus =
            aya::util::nr_cpus().map_err(|(path, source)| CaptureError::Cpus { path, source })?;
        let scratch_slots = u32::try_from(cpus).unwrap_or(u32::MAX / 4) * SCRATCH_SLOTS_PER_CPU;
        let sniff = u8::from(config.sniff_udp);
        let wakeup_bytes = WAKEUP_BYTES_MAX.min(config.ring_bytes / 8);
        // Offsets from the kernel's BTF; without them the tracer stays off
        // (an all-zero config) and the capture goes on.
        let (drop_config, drop_reasons, mut drop_problem) = if config.trace_drops {
            match drops::prepare() {
                Ok(setup) => (setup.config, setup.reasons, None),
                Err(e) => (
                    DropConfig::default(),
                    DropReasons::default(),
                    Some(e.to_string()),
                ),
            }
        } else {
            let off = "turned off (attach --no-drops)".to_owned();
            (DropConfig::default(), DropReasons::default(), Some(off))
        };
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(RING_MAP, config.ring_bytes)
            .map_max_entries(SCRATCH_MAP, scratch_slots)
            .override_global(SNAP_LEN_GLOBAL, &config.snap_len, true)
            .override_global(SNIFF_GLOBAL, &sniff, true)
            .override_global(WAKEUP_GLOBAL, &wakeup_bytes, true)
            .override_global(DROP_CONFIG_GLOBAL, &drop_config, true)
            .override_global(
                LINK_GLOBAL,
                &if link == LinkKind::Layer3 {
                    LINK_NONE
                } else {
                    LINK_ETHERNET
                },
                true,
            )
            .load(EBPF_OBJECT)
            .map_err(CaptureError::Load)?;
        // The programs log only rare events; without the log map there is
        // simply nothing to read.
        let logger = EbpfLogger::init(&mut ebpf).ok();
        write_ports(&mut ebpf, config)?;
        write_echoes(&mut ebpf, &config.consume_from)?;

        let mut capture = Capture {
            ebpf,
            interface: config.interface.clone(),
            link,
            hooks: Vec::new(),
            detached: Vec::new(),
            xdp_link: None,
            tc_link: None,
            tc_ingress_link: None,
            drop_link: None,
            drop_reasons,
            drop_problem: None,
            logger,
        };
        let name = &config.interface;
        match link {
            LinkKind::Ethernet => {
                for hook in &config.hooks {
                    match hook {
                        Hook::Xdp if capture.xdp_link.is_none() => {
                            capture.attach_xdp(config.xdp_mode)?
                        }
                        Hook::Tc if capture.tc_link.is_none() => {
                            capture.attach_tc(TcAttachType::Egress, "")?
                        }
                        _ => {}
                    }
                }
            }
            LinkKind::Loopback => {
                let why = format!(
                    " (both directions: on {name} every packet leaves and arrives, so each is captured once, leaving, and shown without a direction)"
                );
                capture.attach_tc(TcAttachType::Egress, &why)?;
            }
            LinkKind::Layer3 => {
                let why = format!(" ({name} has no Ethernet header: XDP cannot read its packets)");
                for hook in &config.hooks {
                    match hook {
                        Hook::Xdp | Hook::TcIngress if capture.tc_ingress_link.is_none() => {
                            capture.attach_tc(TcAttachType::Ingress, &why)?
                        }
                        Hook::Tc if capture.tc_link.is_none() => {
                            capture.attach_tc(TcAttachType::Egress, "")?
                        }
                        _ => {}
                    }
                }
            }
        }
        if drop_config.enabled != 0
            && let Err(e) = capture.attach_drops()
        {
            drop_problem = Some(match e {
                CaptureError::DropTracer(why) => why,
                other => other.to_string(),
            });
        }
        if drop_problem.is_some() {
            capture.drop_reasons = DropReasons::default();
        }
        capture.drop_problem = drop_problem;
        Ok(capture)
    }

    /// Stops consuming `echo`'s answers at XDP (it turned out to be where
    /// the PBX sends its own SIP): they reach the PBX again.
    ///
    /// # Errors
    /// [`CaptureError::Map`] when the kernel refuses the map update.
    pub fn stop_consuming(&mut self, echo: std::net::SocketAddr) -> Result<(), CaptureError> {
        match echo_map(&mut self.ebpf)?.remove(&echo_key(echo)) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(echo_map_error(e)),
        }
    }

    /// The kernel's drop reason names, for the packets the drop tracer
    /// copies; empty when drops are not traced.
    pub fn drop_reasons(&self) -> &DropReasons {
        &self.drop_reasons
    }

    /// Why the packets this host's kernel drops are not traced though that
    /// was asked for (no BTF, an older kernel, a verifier refusal…); the
    /// capture itself runs.
    pub fn drop_problem(&self) -> Option<&str> {
        self.drop_problem.as_deref()
    }

    /// Whether the drop tracer is attached.
    pub fn traces_drops(&self) -> bool {
        self.drop_link.is_some()
    }

    fn attach_drops(&mut self) -> Result<(), CaptureError> {
        let btf = aya::Btf::from_sys_fs().map_err(|e| CaptureError::DropTracer(e.to_string()))?;
        let program = self.program::<BtfTracePoint>(DROP_PROGRAM)?;
        program.load(DROP_TRACEPOINT, &btf).map_err(|e| {
            // The verifier's log, first line, says what the kernel lacks.
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!(
                    "{why}: {}",
                    s.to_string().lines().next().unwrap_or_default()
                );
                source = s.source();
            }
            CaptureError::DropTracer(why)
        })?;
        let link = program
            .attach()
            .map_err(|e| CaptureError::DropTracer(e.to_string()))?;
        self.drop_link = Some(link);
        Ok(())
    }

    /// The name of the interface the hooks are attached to.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// What the interface's packets begin with, which decided the hooks.
    pub fn link(&self) -> LinkKind {
        self.link
    }

    /// The hooks attached and how (driver or generic XDP, TCX link or
    /// clsact filter), in the order attached; empty after [`Capture::detach`].
    pub fn hooks(&self) -> &[AttachedHook] {
        &self.hooks
    }

    /// The reader of captured frames. Only one may exist; call inside tokio.
    pub fn frames(&mut self) -> Result<FrameReader, CaptureError> {
        let map = self
            .ebpf
            .take_map(RING_MAP)
            .ok_or(CaptureError::MissingPart("ring buffer"))?;
        let ring = RingBuf::try_from(map).map_err(|source| CaptureError::Map {
            map: RING_MAP,
            source,
        })?;
        FrameReader::new(ring, self.link == LinkKind::Loopback)
    }

    /// The kernel's counters so far.
    pub fn counters(&self) -> Result<Counters, CaptureError> {
        let map = self
            .ebpf
            .map(COUNTER_MAP)
            .ok_or(CaptureError::MissingPart("counters map"))?;
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|source| CaptureError::Map {
                map: COUNTER_MAP,
                source,
            })?;
        let mut counters = Counters::read(&counters)?;
        // The LRU map evicts silently: what was added and is gone was evicted.
        let added = counters.ingress.endpoints_remembered + counters.egress.endpoints_remembered;
        if added > 0 {
            let live = self.sip_endpoints_held()?;
            counters.sip_endpoints_forgotten = added.saturating_sub(live);
        }
        let attached = |wanted: &[Hook]| {
            self.hooks
                .iter()
                .map(|h| h.hook)
                .chain(self.detached.iter().copied())
                .find(|hook| wanted.contains(hook))
        };
        counters.ingress_hook = attached(&[Hook::Xdp, Hook::TcIngress]);
        counters.egress_hook = attached(&[Hook::Tc]);
        Ok(counters)
    }

    /// Entries in the kernel's table of sniffed SIP endpoints now (at most
    /// 4096 keys walked).
    fn sip_endpoints_held(&self) -> Result<u64, CaptureError> {
        let map = self
            .ebpf
            .map(SIP_ENDPOINT_MAP)
            .ok_or(CaptureError::MissingPart("SIP endpoints map"))?;
        let table: aya::maps::HashMap<&MapData, EndpointKey, u8> =
            aya::maps::HashMap::try_from(map).map_err(|source| CaptureError::Map {
                map: SIP_ENDPOINT_MAP,
                source,
            })?;
        Ok(table.keys().filter(Result::is_ok).count() as u64)
    }

    /// Passes the kernel programs' log records (aya-log) to the `log` crate.
    pub fn flush_logs(&mut self) {
        if let Some(logger) = &mut self.logger {
            logger.flush();
        }
    }

    /// Detaches every hook now, so that nothing more is captured; the frames
    /// already in the ring can still be drained and the counters read.
    pub fn detach(&mut self) -> Result<(), CaptureError> {
        if let Some(link) = self.xdp_link.take() {
            self.program::<Xdp>(XDP_PROGRAM)?
                .detach(link)
                .map_err(|source| self.detach_error(Hook::Xdp, source))?;
        }
        if let Some(link) = self.tc_link.take() {
            self.program::<SchedClassifier>(TC_PROGRAM)?
                .detach(link)
                .map_err(|source| self.detach_error(Hook::Tc, source))?;
        }
        if let Some(link) = self.tc_ingress_link.take() {
            self.program::<SchedClassifier>(TC_INGRESS_PROGRAM)?
                .detach(link)
                .map_err(|source| self.detach_error(Hook::TcIngress, source))?;
        }
        if let Some(link) = self.drop_link.take() {
            // Only the tracer stops: nothing on the interface depends on it.
            let _ = self
                .program::<BtfTracePoint>(DROP_PROGRAM)
                .map(|p| p.detach(link));
        }
        self.detached
            .extend(self.hooks.drain(..).map(|attached| attached.hook));
        Ok(())
    }

    fn detach_error(&self, hook: Hook, source: ProgramError) -> CaptureError {
        CaptureError::Detach {
            hook,
            interface: self.interface.clone(),
            source,
        }
    }

    fn program<P>(&mut self, name: &'static str) -> Result<&mut P, CaptureError>
    where
        for<'a> &'a mut P: TryFrom<&'a mut aya::programs::Program>,
    {
        self.ebpf
            .program_mut(name)
            .and_then(|p| p.try_into().ok())
            .ok_or(CaptureError::MissingPart(name))
    }

    fn attach_xdp(&mut self, choice: XdpModeChoice) -> Result<(), CaptureError> {
        let interface = self.interface.clone();
        let program = self.program::<Xdp>(XDP_PROGRAM)?;
        program.load().map_err(|source| CaptureError::Verify {
            program: XDP_PROGRAM,
            source,
        })?;
        let attempts: &[(XdpMode, &'static str)] = match choice {
            XdpModeChoice::Auto => &[
                (XdpMode::Driver, "in driver mode"),
                (XdpMode::Skb, "in generic mode"),
            ],
            XdpModeChoice::Driver => &[(XdpMode::Driver, "in driver mode")],
            XdpModeChoice::Generic => &[(XdpMode::Skb, "in generic mode")],
        };
        let mut last_error = None;
        for &(mode, how) in attempts {
            match program.attach(&interface, mode) {
                Ok(link) => {
                    self.xdp_link = Some(link);
                    self.hooks.push(AttachedHook {
                        hook: Hook::Xdp,
                        how: how.to_owned(),
                    });
                    return Ok(());
                }
                Err(e) if is_busy(&e) => {
                    return Err(CaptureError::XdpBusy {
                        interface,
                        detail: e.to_string(),
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(CaptureError::Attach {
            hook: Hook::Xdp,
            interface,
            source: last_error.unwrap_or(ProgramError::NotAttached),
        })
    }

    /// Attaches TC on `side` (egress: `sipwatch_tc`; ingress, on layer-3
    /// devices: `sipwatch_tc_ingress`); `why` ends what the user is told.
    fn attach_tc(&mut self, side: TcAttachType, why: &str) -> Result<(), CaptureError> {
        let interface = self.interface.clone();
        let (name, hook) = match side {
            TcAttachType::Ingress => (TC_INGRESS_PROGRAM, Hook::TcIngress),
            _ => (TC_PROGRAM, Hook::Tc),
        };
        // Kernels from 6.6 on attach through a TCX link, which coexists with
        // other tc programs and needs no qdisc; older ones need clsact.
        let tcx = KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0));
        if !tcx {
            match qdisc_add_clsact(&interface) {
                Ok(()) | Err(TcError::AlreadyAttached) => {}
                Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(CaptureError::Attach {
                        hook,
                        interface,
                        source: ProgramError::from(e),
                    });
                }
            }
        }
        let program = self.program::<SchedClassifier>(name)?;
        program.load().map_err(|source| CaptureError::Verify {
            program: name,
            source,
        })?;
        let link = program
            .attach(&interface, side)
            .map_err(|source| CaptureError::Attach {
                hook,
                interface: interface.clone(),
                source,
            })?;
        match hook {
            Hook::TcIngress => self.tc_ingress_link = Some(link),
            _ => self.tc_link = Some(link),
        }
        let how = if tcx {
            "via a TCX link"
        } else {
            "via a clsact filter"
        };
        self.hooks.push(AttachedHook {
            hook,
            how: format!("{how}{why}"),
        });
        Ok(())
    }
}

fn is_busy(e: &ProgramError) -> bool {
    let os_error = match e {
        ProgramError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    };
    matches!(os_error, Some(libc::EBUSY) | Some(libc::EEXIST))
}

fn require_ring_buffer() -> Result<(), CaptureError> {
    match KernelVersion::current() {
        Ok(v) if v < KernelVersion::new(5, 8, 0) => Err(CaptureError::NoRingBuffer {
            kernel: v.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The interface exists here, and what its packets begin with.
fn check_interface(interface: &str) -> Result<LinkKind, CaptureError> {
    let name = std::ffi::CString::new(interface)
        .map_err(|_| CaptureError::UnknownInterface(interface.to_owned()))?;
    // SAFETY: a valid NUL-terminated string.
    if unsafe { libc::if_nametoindex(name.as_ptr()) } == 0 {
        return Err(CaptureError::UnknownInterface(interface.to_owned()));
    }
    let Some(link_type) = arphrd(&name) else {
        // Not answered (a kernel without the ioctl?): Ethernet, as most are.
        return Ok(LinkKind::Ethernet);
    };
    LinkKind::of_arphrd(link_type).ok_or_else(|| CaptureError::NotEthernet {
        interface: interface.to_owned(),
        link_type: link_type.to_string(),
    })
}

/// The interface's ARPHRD type, as the kernel of this thread's network
/// namespace says (`SIOCGIFHWADDR`; `/sys/class/net/<if>/type` would show
/// the namespace /sys was mounted in, which under `setns` is not ours).
fn arphrd(name: &std::ffi::CStr) -> Option<u16> {
    // SAFETY: a plain socket call; the descriptor is closed below.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return None;
    }
    // SAFETY: ifreq is plain data; all zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= req.ifr_name.len() {
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(socket) };
        return None;
    }
    for (dst, &b) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = b as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR with a valid ifreq naming the interface.
    let r = unsafe { libc::ioctl(socket, libc::SIOCGIFHWADDR, &mut req) };
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(socket) };
    // SAFETY: on success the kernel filled the hardware address member.
    let family = unsafe { req.ifr_ifru.ifru_hwaddr.sa_family };
    (r == 0).then_some(family)
}

/// The echo servers whose answers XDP consumes, as the programs read them
/// from a packet (address words in network order, port in host order).
fn write_echoes(ebpf: &mut Ebpf, echoes: &[std::net::SocketAddr]) -> Result<(), CaptureError> {
    if echoes.is_empty() {
        return Ok(());
    }
    let mut map = echo_map(ebpf)?;
    for echo in echoes {
        map.insert(echo_key(*echo), 1, 0).map_err(echo_map_error)?;
    }
    Ok(())
}

fn echo_map_error(source: aya::maps::MapError) -> CaptureError {
    CaptureError::Map {
        map: ECHO_MAP,
        source,
    }
}

fn echo_map(
    ebpf: &mut Ebpf,
) -> Result<aya::maps::HashMap<&mut MapData, EchoKey, u8>, CaptureError> {
    ebpf.map_mut(ECHO_MAP)
        .ok_or(CaptureError::MissingPart("echo map"))?
        .try_into()
        .map_err(echo_map_error)
}

/// An echo's address as XDP reads it from a packet.
fn echo_key(echo: std::net::SocketAddr) -> EchoKey {
    let (addr, ip_version) = match echo.ip() {
        std::net::IpAddr::V4(v4) => ([u32::from_ne_bytes(v4.octets()), 0, 0, 0], 4),
        std::net::IpAddr::V6(v6) => {
            let o = v6.octets();
            let word = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            ([word(0), word(4), word(8), word(12)], 6)
        }
    };
    EchoKey {
        addr,
        port: echo.port(),
        ip_version,
        _pad: 0,
    }
}

/// Kernels before 5.11 charge BPF maps against RLIMIT_MEMLOCK.
fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit; failure only matters on old kernels, where the
    // map creation error that follows says so.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
}

fn write_ports(ebpf: &mut Ebpf, config: &CaptureConfig) -> Result<(), CaptureError> {
    let map_error = |source| CaptureError::Map {
        map: PORT_MAP,
        source,
    };
    let mut ports: Array<&mut MapData, u8> = ebpf
        .map_mut(PORT_MAP)
        .ok_or(CaptureError::MissingPart("port map"))?
        .try_into()
        .map_err(map_error)?;
    for &port in &config.tls_ports {
        ports.set(u32::from(port), PORT_TLS, 0).map_err(map_error)?;
    }
    // Written last: a port given as both is plain SIP.
    for &port in &config.sip_ports {
        ports.set(u32::from(port), PORT_SIP, 0).map_err(map_error)?;
    }
    Ok(())
}
