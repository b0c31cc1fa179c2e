//! One way to read bytes from either hook's packet.
//!
//! Every read goes through the kernel's load-bytes helpers rather than direct
//! packet pointers: the verifier accepts them without pointer-range proofs,
//! and they see the whole packet even when it is not linear (GSO super-packets
//! at TC egress, multi-buffer XDP).
use aya_ebpf::{
    helpers::generated::{bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    programs::{TcContext, XdpContext},
};

pub trait Packet {
    /// The program context, for aya-log.
    type Context: aya_ebpf::EbpfContext;
    fn context(&self) -> &Self::Context;
    /// The interface the packet is on.
    fn ifindex(&self) -> u32;
    /// The packet's whole length.
    fn len(&self) -> u32;
    /// Copies `len` bytes from `offset` to `dst`; false if the packet is shorter.
    fn load(&self, offset: u32, dst: *mut u8, len: u32) -> bool;
    /// The outer VLAN tag when it is held in metadata: (TCI, protocol).
    fn vlan_metadata(&self) -> Option<(u16, u16)>;

    /// Reads `N` bytes at `offset`.
    #[inline(always)]
    fn read<const N: usize>(&self, offset: u32) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        if self.load(offset, buf.as_mut_ptr(), N as u32) {
            Some(buf)
        } else {
            None
        }
    }
}

pub struct XdpPacket<'a> {
    ctx: &'a XdpContext,
}

impl<'a> XdpPacket<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext) -> Self {
        Self { ctx }
    }
}

impl Packet for XdpPacket<'_> {
    type Context = XdpContext;

    #[inline(always)]
    fn context(&self) -> &XdpContext {
        self.ctx
    }

    #[inline(always)]
    fn ifindex(&self) -> u32 {
        self.ctx.ingress_ifindex() as u32
    }

    #[inline(always)]
    fn len(&self) -> u32 {
        unsafe { bpf_xdp_get_buff_len(self.ctx.ctx) as u32 }
    }

    #[inline(always)]
    fn load(&self, offset: u32, dst: *mut u8, len: u32) -> bool {
        unsafe { bpf_xdp_load_bytes(self.ctx.ctx, offset, dst.cast(), len) == 0 }
    }

    #[inline(always)]
    fn vlan_metadata(&self) -> Option<(u16, u16)> {
        None
    }
}

pub struct SkbPacket<'a> {
    ctx: &'a TcContext,
}

impl<'a> SkbPacket<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a TcContext) -> Self {
        Self { ctx }
    }
}

impl Packet for SkbPacket<'_> {
    type Context = TcContext;

    #[inline(always)]
    fn context(&self) -> &TcContext {
        self.ctx
    }

    #[inline(always)]
    fn ifindex(&self) -> u32 {
        unsafe { (*self.ctx.skb.skb).ifindex }
    }

    #[inline(always)]
    fn len(&self) -> u32 {
        self.ctx.len()
    }

    #[inline(always)]
    fn load(&self, offset: u32, dst: *mut u8, len: u32) -> bool {
        unsafe { bpf_skb_load_bytes(self.ctx.skb.skb.cast(), offset, dst.cast(), len) == 0 }
    }

    #[inline(always)]
    fn vlan_metadata(&self) -> Option<(u16, u16)> {
        let skb = self.ctx.skb.skb;
        unsafe {
            if (*skb).vlan_present != 0 {
                Some((
                    (*skb).vlan_tci as u16,
                    u16::from_be((*skb).vlan_proto as u16),
                ))
            } else {
                None
            }
        }
    }
}
