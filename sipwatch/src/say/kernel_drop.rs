//! The words for a packet this host's kernel dropped: which part of this
//! host did it (the kernel's reason, `enum skb_drop_reason` of Linux 5.17
//! and later, `include/net/dropreason-core.h`) and what to look at, in an
//! Asterisk admin's terms.
use crate::net::{Chain, DropWay, KernelDrop};

/// Where on this host, in words: "this host's firewall (nftables /
/// iptables), OUTPUT chain (NETFILTER_DROP)".
pub fn describe(d: &KernelDrop) -> String {
    let reason = d.reason.as_deref();
    if let (Some(r @ "NETFILTER_DROP"), Some(chain)) = (reason, d.chain) {
        return format!(
            "this host's firewall (nftables / iptables), its {} chain ({r})",
            chain.name()
        );
    }
    let what = match (reason, d.way) {
        (Some("NETFILTER_DROP"), DropWay::Leaving) => {
            "this host's firewall (nftables / iptables) in its OUTPUT or POSTROUTING chain"
        }
        (Some("NETFILTER_DROP"), DropWay::Arriving) => {
            "this host's firewall (nftables / iptables) in its PREROUTING or INPUT chain"
        }
        (Some("NO_SOCKET"), _) => "this host: no socket listens on that address and port",
        (Some("SOCKET_RCVBUFF"), _) => {
            "this host: the receiving socket's buffer was full (the PBX did not read in time)"
        }
        (Some("SOCKET_FILTER"), _) => "a filter on the receiving socket",
        (Some("SOCKET_BACKLOG" | "PROTO_MEM"), _) => {
            "this host: the socket or the protocol ran out of memory"
        }
        (Some("UDP_CSUM" | "TCP_CSUM" | "IP_CSUM" | "SKB_CSUM"), _) => {
            "this host: a bad checksum (a NIC's checksum offload, or damage on the path)"
        }
        (Some("IP_RPFILTER"), _) => {
            "this host's reverse-path filter (rp_filter): the answer arrived on an interface the route back does not use"
        }
        (Some("IP_OUTNOROUTES" | "IP_INNOROUTES"), _) => "this host: no route",
        (Some(r), _) if r.starts_with("NEIGH_") => {
            "this host: the next hop did not answer ARP / neighbour discovery"
        }
        (Some(r), _) if r.starts_with("QDISC_") || r.starts_with("FQ_") => {
            "this host's interface queue (traffic shaping, qdisc) was full"
        }
        (Some("BPF_CGROUP_EGRESS"), _) => "a cgroup BPF program (a container's firewall)",
        (Some("XFRM_POLICY"), _) => "an IPsec policy on this host",
        (Some("SECURITY_HOOK"), _) => "a security module on this host (SELinux, AppArmor)",
        (Some("OTHERHOST"), _) => "this host: it was addressed to another host",
        _ => "this host's kernel",
    };
    match reason {
        Some(r) => format!("{what} ({r})"),
        None => format!("{what} (the kernel gives no reason before Linux 5.17)"),
    }
}

/// What to look at, in an Asterisk admin's terms.
pub fn fix(d: &KernelDrop) -> &'static str {
    match (d.reason.as_deref(), d.way, d.chain) {
        (Some("NETFILTER_DROP"), _, Some(Chain::Postrouting)) => {
            "let SIP out in this host's firewall: `nft list ruleset` (or `iptables -t mangle -S POSTROUTING` and the other tables) and allow the PBX's UDP/TCP to the registrar's port"
        }
        (Some("NETFILTER_DROP"), _, Some(Chain::Forward)) => {
            "SIP passing through this host (containers, VMs, a router) is dropped: `nft list ruleset` (or `iptables -S FORWARD`, and Docker's DOCKER-USER chain), allow it"
        }
        (Some("NETFILTER_DROP"), _, Some(Chain::Prerouting)) => {
            "let the registrar's answers in: `nft list ruleset` (or `iptables -t raw -S PREROUTING`, `-t mangle`), allow UDP/TCP from the registrar to the PBX's port (fail2ban may have banned it)"
        }
        (Some("NETFILTER_DROP"), DropWay::Leaving, _) => {
            "let SIP out in this host's firewall: `nft list ruleset` (or `iptables -S OUTPUT`) and allow the PBX's UDP/TCP to the registrar's port"
        }
        (Some("NETFILTER_DROP"), DropWay::Arriving, _) => {
            "let the registrar's answers in: `nft list ruleset` (or `iptables -S INPUT`), allow UDP/TCP from the registrar to the PBX's port (fail2ban may have banned it)"
        }
        (Some("NO_SOCKET"), _, _) => {
            "the PBX does not listen where the answers come back: check the PJSIP transport `bind` (chan_sip `udpbindaddr`) and that Asterisk runs"
        }
        (Some("SOCKET_RCVBUFF" | "SOCKET_BACKLOG" | "PROTO_MEM"), _, _) => {
            "the PBX is overloaded or stalled: check its CPU, and raise net.core.rmem_max / the socket buffer"
        }
        (Some("IP_RPFILTER"), _, _) => {
            "set net.ipv4.conf.<iface>.rp_filter=2 (loose), or route the registrar's answers back through the interface they arrive on"
        }
        _ => "look at this host's firewall, routes and interfaces for the reason shown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop(reason: Option<&str>, way: DropWay, chain: Option<Chain>) -> KernelDrop {
        KernelDrop {
            reason: reason.map(str::to_owned),
            way,
            chain,
        }
    }

    #[test]
    fn a_firewall_drop_names_its_chain_and_the_command_to_look_at_it() {
        let d = drop(
            Some("NETFILTER_DROP"),
            DropWay::Leaving,
            Some(Chain::Output),
        );
        assert!(
            describe(&d).contains("its OUTPUT chain"),
            "{}",
            describe(&d)
        );
        let d = drop(
            Some("NETFILTER_DROP"),
            DropWay::Arriving,
            Some(Chain::Forward),
        );
        assert!(describe(&d).contains("its FORWARD chain"));
        assert!(fix(&d).contains("iptables -S FORWARD"));
    }

    #[test]
    fn an_unnamed_reason_or_none_is_still_worded() {
        let d = drop(Some("reason 999"), DropWay::Arriving, None);
        assert!(describe(&d).contains("kernel"), "{}", describe(&d));
        let d = drop(None, DropWay::Arriving, None);
        assert!(describe(&d).contains("5.17"));
    }
}
