//! The lab's addresses and interface names. Documentation and private ranges
//! only, and they exist only inside the lab's namespaces.
use std::net::{Ipv4Addr, Ipv6Addr};

pub const PBX_IF: &str = "eth0";
pub const ROUTER_LAN_IF: &str = "lan0";
pub const ROUTER_WAN_IF: &str = "wan0";
pub const PROVIDER_IF: &str = "eth0";
/// VLAN ids of the tagged frames the lab tests put on the wire. The lab's
/// kernel may lack 802.1Q (no VLAN devices), so tagged traffic is written
/// with packet sockets rather than routed over VLAN interfaces.
pub const VLAN_ID: u16 = 100;
pub const OUTER_VLAN_ID: u16 = 200;

pub const PBX_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 10);
pub const ROUTER_LAN_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The router's public address: what NAT and the SIP ALG rewrite to.
pub const ROUTER_WAN_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const PROVIDER_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// A second provider-side address, for a `sipwatch echo` beside the
/// registrar (see [`crate::Lab::add_echo_address`]).
pub const ECHO_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);

pub const PBX_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0x10);
pub const ROUTER_LAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
pub const ROUTER_WAN_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 1);
pub const PROVIDER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 2);
/// The echo's second provider-side address, over IPv6 (see
/// [`crate::Lab::add_echo_address`]).
pub const ECHO_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 0x20);
