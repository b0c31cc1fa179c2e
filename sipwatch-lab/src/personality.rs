//! What the router does to SIP: the faults sipwatch exists to find.
use crate::addresses::{ROUTER_LAN_IF, ROUTER_WAN_IF};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Personality {
    /// Forwarding with masquerade (IPv4 and IPv6): addresses rewritten in
    /// the IP headers only.
    PlainNat,
    /// NAT plus the kernel's SIP ALG (`nf_conntrack_sip` / `nf_nat_sip`)
    /// on UDP and TCP 5060/5080: rewrites Via, Contact, SDP.
    SipAlg,
    /// NAT, and SIP from the LAN is dropped on its way out.
    DropOutbound,
    /// NAT, and SIP from the provider is dropped on its way back.
    DropReturn,
}

/// The router's forward rule that drops SIP from the provider on its way
/// back to the PBX (UDP and TCP from 5060 and 5080), in nftables syntax.
pub fn return_path_drop() -> String {
    format!(
        "iifname \"{ROUTER_WAN_IF}\" meta l4proto {{ udp, tcp }} th sport {{ 5060, 5080 }} drop"
    )
}

impl Personality {
    /// The router's nftables rule set for this personality.
    pub fn ruleset(self) -> String {
        let mut rules = format!(
            "table inet sipwatch_lab {{\n\
             \tchain forward_filter {{\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             {drops}\
             \t}}\n\
             \tchain postrouting_nat {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\toifname \"{ROUTER_WAN_IF}\" masquerade\n\
             \t}}\n\
             }}\n",
            drops = match self {
                Personality::DropOutbound => format!(
                    "\t\tiifname \"{ROUTER_LAN_IF}*\" meta l4proto {{ udp, tcp }} th dport {{ 5060, 5080 }} drop\n"
                ),
                Personality::DropReturn => format!("\t\t{}\n", return_path_drop()),
                Personality::PlainNat | Personality::SipAlg => String::new(),
            }
        );
        if self == Personality::SipAlg {
            // The helper must be assigned by a rule, on a connection's first
            // packet (there is no automatic assignment on current kernels).
            rules.push_str(
                "table ip sipwatch_lab_alg {\n\
                 \tct helper sip-udp { type \"sip\" protocol udp; l3proto ip; }\n\
                 \tct helper sip-tcp { type \"sip\" protocol tcp; l3proto ip; }\n\
                 \tchain prerouting_helper {\n\
                 \t\ttype filter hook prerouting priority filter; policy accept;\n\
                 \t\tudp dport { 5060, 5080 } ct state new ct helper set \"sip-udp\"\n\
                 \t\ttcp dport { 5060, 5080 } ct state new ct helper set \"sip-tcp\"\n\
                 \t}\n\
                 }\n",
            );
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_alg_personality_assigns_the_sip_helper() {
        assert!(
            Personality::SipAlg
                .ruleset()
                .contains("ct helper set \"sip-udp\"")
        );
        assert!(!Personality::PlainNat.ruleset().contains("ct helper"));
    }

    #[test]
    fn drop_personalities_drop_in_their_direction() {
        assert!(
            Personality::DropOutbound
                .ruleset()
                .contains("iifname \"lan0*\"")
        );
        assert!(Personality::DropReturn.ruleset().contains("th sport"));
        assert!(!Personality::PlainNat.ruleset().contains("drop"));
    }
}
