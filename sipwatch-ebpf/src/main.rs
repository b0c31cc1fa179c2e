//! sipwatch's kernel programs.
//!
//! `sipwatch_xdp` sees frames arriving at the interface, `sipwatch_tc` frames
//! leaving it (TC egress); on layer-3 devices, where packets begin with the
//! IP header (`LINK_LAYER`), `sipwatch_tc_ingress` takes XDP's place. Both pass every packet on untouched: they only
//! decide whether a packet is SIP ([`select`]) and, if so, copy it into the
//! ring buffer ([`emit`]). Every decision that could lose a packet is counted.
//! `sipwatch_drop` sees the packets this host's kernel drops ([`drop`]).
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod drop;
#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod packet;
#[cfg(target_arch = "bpf")]
mod plaintext;
#[cfg(target_arch = "bpf")]
mod select;

#[cfg(target_arch = "bpf")]
mod programs {
    use aya_ebpf::{
        bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action},
        macros::{btf_tracepoint, classifier, xdp},
        programs::{BtfTracePointContext, TcContext, XdpContext},
    };
    use sipwatch_common::{Counter, Direction};

    use crate::{
        emit::{count, emit},
        packet::{SkbPacket, XdpPacket},
        select::{Selection, select},
    };

    /// Scratch slot of each hook (see `SCRATCH_SLOTS_PER_CPU`).
    const XDP_SLOT: u32 = 0;
    const TC_SLOT: u32 = 1;

    // frags: the program reads whole multi-buffer frames (jumbo, GRO), and veth
    // keeps GSO and large MTUs on its peer.
    #[xdp(frags)]
    pub fn sipwatch_xdp(ctx: XdpContext) -> u32 {
        let packet = XdpPacket::new(&ctx);
        if handle(&packet, Direction::Ingress, XDP_SLOT) == Selection::Consumed {
            // An echo's answer to a shadow REGISTER: the PBX must not see it.
            return xdp_action::XDP_DROP;
        }
        xdp_action::XDP_PASS
    }

    #[classifier]
    pub fn sipwatch_tc(ctx: TcContext) -> i32 {
        let packet = SkbPacket::new(&ctx);
        handle(&packet, Direction::Egress, TC_SLOT);
        TC_ACT_OK
    }

    /// Arriving packets on interfaces XDP cannot read (layer-3 devices:
    /// tun, WireGuard, PPP, IP tunnels). It takes XDP's scratch slot: the
    /// two are never attached together.
    #[classifier]
    pub fn sipwatch_tc_ingress(ctx: TcContext) -> i32 {
        let packet = SkbPacket::new(&ctx);
        if handle(&packet, Direction::Ingress, XDP_SLOT) == Selection::Consumed {
            // An echo's answer to a shadow REGISTER: the PBX must not see it.
            return TC_ACT_SHOT;
        }
        TC_ACT_OK
    }

    /// Every packet the kernel drops, with its reason (`kfree_skb(skb,
    /// location, reason, …)`): the SIP ones of this namespace are copied.
    #[btf_tracepoint(function = "kfree_skb")]
    pub fn sipwatch_drop(ctx: BtfTracePointContext) -> i32 {
        let skb: u64 = ctx.arg(0);
        // Kernels before 5.17 have no reason argument: the verifier prunes
        // this read there, since the global is a load-time constant.
        let reason: u64 = if crate::maps::global(&crate::maps::DROP_CONFIG).has_reason != 0 {
            ctx.arg(2)
        } else {
            0
        };
        crate::drop::trace(skb, reason as u32);
        0
    }

    #[inline(always)]
    fn handle<P: crate::packet::Packet>(packet: &P, direction: Direction, slot: u32) -> Selection {
        count(direction, Counter::Seen);
        let selection = select(packet, direction);
        match selection {
            Selection::Skip => {}
            Selection::Tls => count(direction, Counter::Tls),
            Selection::Sip => {
                count(direction, Counter::Selected);
                emit(packet, direction, slot);
            }
            Selection::Consumed => {
                count(direction, Counter::Selected);
                count(direction, Counter::Consumed);
                emit(packet, direction, slot);
            }
            Selection::Fragment => {
                count(direction, Counter::Selected);
                count(direction, Counter::Fragments);
                emit(packet, direction, slot);
            }
        }
        selection
    }
}

/// The TLS plaintext probes (see [`plaintext`]).
#[cfg(target_arch = "bpf")]
mod plaintext_programs {
    use aya_ebpf::{
        macros::{btf_tracepoint, uprobe, uretprobe},
        programs::{BtfTracePointContext, ProbeContext, RetProbeContext},
    };
    use sipwatch_common::plaintext::{PLAIN_KIND_READ, PLAIN_KIND_WRITE};

    use crate::plaintext::{enter, free, leave, tcp};

    #[inline(always)]
    fn arg(ctx: &ProbeContext, n: usize) -> u64 {
        ctx.arg::<u64>(n).unwrap_or(0)
    }

    /// `int SSL_write(SSL *ssl, const void *buf, int num)`.
    #[uprobe]
    pub fn sipwatch_ssl_write(ctx: ProbeContext) -> u32 {
        enter(arg(&ctx, 0), arg(&ctx, 1), 0, PLAIN_KIND_WRITE, false);
        0
    }

    /// `int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)`.
    #[uprobe]
    pub fn sipwatch_ssl_write_ex(ctx: ProbeContext) -> u32 {
        enter(
            arg(&ctx, 0),
            arg(&ctx, 1),
            arg(&ctx, 3),
            PLAIN_KIND_WRITE,
            true,
        );
        0
    }

    /// `int SSL_read(SSL *ssl, void *buf, int num)`.
    #[uprobe]
    pub fn sipwatch_ssl_read(ctx: ProbeContext) -> u32 {
        enter(arg(&ctx, 0), arg(&ctx, 1), 0, PLAIN_KIND_READ, false);
        0
    }

    /// `int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)`.
    #[uprobe]
    pub fn sipwatch_ssl_read_ex(ctx: ProbeContext) -> u32 {
        enter(
            arg(&ctx, 0),
            arg(&ctx, 1),
            arg(&ctx, 3),
            PLAIN_KIND_READ,
            true,
        );
        0
    }

    /// `void SSL_free(SSL *ssl)`: its connection is forgotten.
    #[uprobe]
    pub fn sipwatch_ssl_free(ctx: ProbeContext) -> u32 {
        free(arg(&ctx, 0));
        0
    }

    /// The return of any of the four: its value is an `int`.
    #[uretprobe]
    pub fn sipwatch_ssl_return(ctx: RetProbeContext) -> u32 {
        let ret: i32 = ctx.ret();
        leave(i64::from(ret));
        0
    }

    /// `sock_send_length(struct sock *sk, int ret, int flags)`: a
    /// socket's send returned (Linux 6.4 and later).
    #[btf_tracepoint(function = "sock_send_length")]
    pub fn sipwatch_sock_send(ctx: BtfTracePointContext) -> i32 {
        let sk: u64 = ctx.arg(0);
        tcp(sk, PLAIN_KIND_WRITE);
        0
    }

    /// `sock_recv_length(struct sock *sk, int ret, int flags)`: a
    /// socket's receive returned.
    #[btf_tracepoint(function = "sock_recv_length")]
    pub fn sipwatch_sock_recv(ctx: BtfTracePointContext) -> i32 {
        let sk: u64 = ctx.arg(0);
        tcp(sk, PLAIN_KIND_READ);
        0
    }
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

/// The crate builds for the host too (so `cargo` metadata and tooling work);
/// there it is an empty program.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
