//! This host's own leg: the eBPF capture on the interface toward the echo,
//! running while the probes go out, to see which probes left the NIC and
//! which answers reached it.
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::Duration,
};

use sipwatch_common::Direction;

use crate::{
    capture::{Capture, CaptureConfig},
    net::{Decoder, DropWay, DroppedPacket, KernelDrop, SipSelection, tcp::TcpLimits},
    sip::{MessageAssembler, MessageIndex},
};

/// Probes seen leaving (with their bytes as they left) and answers seen
/// arriving at the NIC, by probe id.
#[derive(Debug, Default)]
pub struct NicView {
    /// The interface watched: the one holding this host's address toward
    /// the echo.
    pub interface: String,
    /// Probes seen leaving the NIC, by id, with their bytes as they left
    /// (to tell this host's rewrites from the path's).
    pub left: HashMap<String, Vec<u8>>,
    /// Ids of the probes whose answers were seen arriving at the NIC.
    pub arrived: HashSet<String>,
    /// Probes this host's kernel dropped on their way out, and why.
    pub dropped: HashMap<String, KernelDrop>,
    /// Probes whose answers this host's kernel dropped, and why.
    pub answer_dropped: HashMap<String, KernelDrop>,
}

/// The eBPF capture running on its own thread while the probes go out;
/// [`NicWatch::finish`] stops it and hands over the [`NicView`].
pub struct NicWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<NicView, String>>,
}

impl NicWatch {
    /// Attaches the capture to the interface holding `local_ip`, selecting
    /// `port` besides the defaults. Fails (with the reason) where it cannot:
    /// the probe then goes on without this host's leg.
    pub fn start(local_ip: IpAddr, ports: &[u16]) -> Result<NicWatch, String> {
        let ports = ports.to_vec();
        let interface = crate::net::local::interface_of(local_ip)
            .ok_or_else(|| format!("no interface holds {local_ip}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || -> Result<NicView, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut config = CaptureConfig::new(&interface);
                for port in ports {
                    if !config.sip_ports.contains(&port) {
                        config.sip_ports.push(port);
                    }
                }
                let mut capture = match Capture::attach(&config) {
                    Ok(c) => c,
                    Err(e) => {
                        let reason = format!("{e:#}");
                        let _ = ready_tx.send(Err(reason.clone()));
                        return Err(reason);
                    }
                };
                let mut reader = capture.frames().map_err(|e| e.to_string())?;
                let _ = ready_tx.send(Ok(()));
                let mut frames = Vec::new();
                while !flag.load(Ordering::SeqCst) {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(50),
                        reader.next_batch(&mut frames),
                    )
                    .await;
                }
                capture.detach().map_err(|e| e.to_string())?;
                reader.drain(&mut frames);
                let mut view = NicView {
                    interface,
                    ..NicView::default()
                };
                let selection = SipSelection::new(&config.sip_ports, config.sniff_udp);
                let (mut decoder, mut assembler, mut messages) = (
                    Decoder::new(),
                    MessageAssembler::with_selection(TcpLimits::default(), selection),
                    Vec::new(),
                );
                let reasons = capture.drop_reasons().clone();
                for f in &frames {
                    // Not on the wire: what this host's kernel dropped.
                    if f.kernel_drop.is_some() {
                        let Some(d) = DroppedPacket::from_frame(f, &reasons) else {
                            continue;
                        };
                        let index = MessageIndex::parse(&d.payload);
                        if let Some(id) = index.header("x-sipwatch-probe") {
                            let into = match d.drop.way {
                                DropWay::Leaving => &mut view.dropped,
                                DropWay::Arriving => &mut view.answer_dropped,
                            };
                            into.insert(id.into_owned(), d.drop);
                        }
                        continue;
                    }
                    if let Some(d) = decoder.push(f) {
                        assembler.push(d, &mut messages);
                    }
                }
                assembler.finish(&mut messages);
                for m in messages {
                    let index = MessageIndex::parse(&m.bytes);
                    let Some(id) = index.header("x-sipwatch-probe") else {
                        continue;
                    };
                    match m.direction {
                        Some(Direction::Egress) => {
                            view.left.insert(id.into_owned(), m.bytes.clone());
                        }
                        Some(Direction::Ingress) => {
                            view.arrived.insert(id.into_owned());
                        }
                        None => {}
                    }
                }
                Ok(view)
            })
        });
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => Ok(NicWatch { stop, thread }),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err("the capture did not start within 30 s".into()),
        }
    }

    /// Stops the capture (after the last packets crossed) and returns what it saw.
    pub fn finish(self) -> Result<NicView, String> {
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| "the capture thread panicked".to_string())?
    }
}
