//! The words for path faults ([`super::diagnosis::explain`] calls these):
//! answers from another address, lost fragments, ICMP errors, failed TCP
//! connections, NAT mappings that expire between refreshes, and bans. Each gives (what happened, with its evidence; what
//! to do), the fix in Asterisk terms (PJSIP, chan_sip where it differs).
use std::net::{IpAddr, SocketAddr};

use std::time::SystemTime;

use crate::{
    net::{ConnectionFault, IcmpKind, Transport},
    pbx::asterisk,
    time::clock,
    track::{ActedOn, Side, UDP_REQUEST_LIMIT},
};

/// Common NAT and firewall idle timeouts for TCP are a few minutes; a
/// connection silent longer than this may have been forgotten.
const TCP_IDLE_SUSPECT_S: u64 = 120;

pub(super) fn answers_from_other_address(
    side: Side,
    (asked, answered): (&SocketAddr, &SocketAddr),
    count: u32,
    (registers, over_ms): (u32, u64),
) -> (String, String) {
    let rate = if registers > 1 {
        format!(
            "; {registers} REGISTERs in {:.2} s: the client never settles",
            over_ms as f64 / 1000.0
        )
    } else {
        String::new()
    };
    let cause = format!(
        "{} from {answered} while the REGISTERs were sent to {asked}: a stateful firewall or the client's own transport may drop them, and PJSIP-based clients (Linphone) re-register in a loop{rate}",
        if count == 1 {
            "an answer came".to_owned()
        } else {
            format!("{count} answers came")
        }
    );
    let fix = match side {
        Side::Registrar => format!(
            "answer from the address that was asked: one PJSIP transport per address, bound to it (`bind={asked}`), rather than one bound to all addresses (the kernel then picks the source by route); or source-based routing on this host. Nothing to change in the phone's credentials"
        ),
        Side::Client => format!(
            "the provider must answer from the address it was asked on ({asked}); until then send to the address that answers ({answered}: `server_uri` or `outbound_proxy`), and let a stateful firewall accept answers from it"
        ),
    };
    (cause, fix)
}

pub(super) fn fragments_lost(
    side: Side,
    (source, destination): (&SocketAddr, &SocketAddr),
    datagrams: u32,
    (fragment_bytes, datagram_bytes): (u32, u32),
    start_line: &Option<String>,
) -> (String, String) {
    let what = match start_line.as_deref() {
        Some(l) if l.starts_with("SIP/") => format!("the answer ({l})"),
        Some(l) => format!("the REGISTER ({l})"),
        None => "the REGISTER".to_owned(),
    };
    let cause = format!(
        "{what} never arrived whole: {datagrams} datagrams from {source} to {destination} came as their first IP fragment only ({fragment_bytes} of {datagram_bytes} bytes), never the rest; fragments are lost on the way (an MTU, or a NAT or firewall that drops fragments), so the message is lost — not an authentication problem"
    );
    let fix = match side {
        Side::Registrar => {
            "have the phone register over TCP or TLS (an Asterisk `transport` for TCP, the phone's transport set to TCP), or make its REGISTER smaller (push notification parameters off on UDP)"
        }
        Side::Client => {
            "register over TCP (PJSIP `transport` for TCP, `server_uri` with `;transport=tcp`), or make the REGISTER smaller (fewer Contact parameters and headers) so that it fits one packet"
        }
    };
    (cause, fix.into())
}

pub(super) fn large_request_unanswered(
    side: Side,
    (bytes, answered): (u32, u32),
    destination: &SocketAddr,
) -> (String, String) {
    let why = if bytes > UDP_REQUEST_LIMIT {
        format!(
            "larger than RFC 3261 allows over UDP without a known MTU, {UDP_REQUEST_LIMIT} bytes"
        )
    } else {
        format!(
            "{} bytes more than the one answered, under the {UDP_REQUEST_LIMIT} bytes RFC 3261 allows: a path-MTU black hole, a link on the way (a tunnel, VPN or PPPoE) whose MTU the small REGISTER fits and this one does not, with the ICMP \"fragmentation needed\" that would say so filtered",
            bytes - answered
        )
    };
    let cause = format!(
        "the REGISTER of {bytes} bytes to {destination} over UDP got no answer while REGISTERs of up to {answered} bytes were answered: it is lost for its size ({why}), to an MTU with Don't Fragment set or a device that drops fragments"
    );
    let fix = match side {
        Side::Client => {
            "register over TCP (PJSIP `transport` for TCP, `server_uri` with `;transport=tcp`), or make the REGISTER smaller (fewer Contact parameters and headers); find the link whose MTU is too small (`ping -M do -s` with growing sizes towards the registrar) and let its ICMP \"fragmentation needed\" through"
        }
        Side::Registrar => {
            "have the phone register over TCP or TLS, or make its REGISTER smaller (push notification parameters off on UDP); find the link whose MTU is too small and let its ICMP \"fragmentation needed\" through"
        }
    };
    (cause, fix.into())
}

pub(super) fn unreachable(
    side: Side,
    icmp: IcmpKind,
    (reporter, count): (&IpAddr, u32),
    mtu: Option<u32>,
    (destination, transport): (&SocketAddr, Transport),
    start_line: &Option<String>,
) -> (String, String) {
    let quoted = start_line
        .as_deref()
        .map(|l| format!(" quoting {l}"))
        .unwrap_or_default();
    let cause = format!(
        "{count} ICMP {icmp} from {reporter}{quoted} instead of an answer to the REGISTER to {destination} over {transport}"
    );
    let from_registrar = destination.ip() == *reporter;
    let fix = match icmp {
        IcmpKind::PortUnreachable => format!(
            "the host is up but nothing listens on that port: check the port and transport in `server_uri` (and `outbound_proxy`), and whether the registrar is running; a registrar that answered before and now refuses may have banned this address{}",
            if side == Side::Registrar {
                " (here: is the phone listening where it registered from?)"
            } else {
                ""
            }
        ),
        IcmpKind::HostUnreachable | IcmpKind::NetworkUnreachable => format!(
            "{reporter} cannot reach {}: check the address the registrar's name resolves to (dig) and the routing to it; the host may be down",
            destination.ip()
        ),
        IcmpKind::AdministrativelyProhibited => format!(
            "a firewall{} rejects SIP to {destination}: have it allow SIP from this host, or ask the provider to allow this address",
            if from_registrar {
                " on the registrar".to_owned()
            } else {
                format!(" at {reporter}")
            }
        ),
        IcmpKind::FragmentationNeeded | IcmpKind::PacketTooBig => format!(
            "the REGISTER is larger than the path's MTU{}: register over TCP (PJSIP `transport` for TCP, `server_uri` with `;transport=tcp`) or make the REGISTER smaller",
            mtu.map(|m| format!(" ({m} bytes)")).unwrap_or_default()
        ),
        IcmpKind::OtherUnreachable => format!(
            "{reporter} cannot deliver to {destination}: check the address and port in `server_uri` and the route to it"
        ),
    };
    (cause, fix)
}

pub(super) fn connection_failed(
    _side: Side,
    destination: &SocketAddr,
    fault: &ConnectionFault,
) -> (String, String) {
    match fault {
        ConnectionFault::Refused { by } => (
            format!("connection refused: {by} answered the SYN to {destination} with a TCP RST; the host is up, nothing accepts TCP on that port"),
            "check the registrar's port and transport (`server_uri`, `outbound_proxy`, the PJSIP `transport`) and that the registrar runs; a firewall may also reject with RST".into(),
        ),
        ConnectionFault::NoAnswer { syns } => (
            format!("no answer: the TCP connection to {destination} was never established ({syns} SYNs, none answered)"),
            "a firewall drops TCP to that address and port, or the host is down: check the address `server_uri` resolves to (dig), that a firewall lets TCP out to the registrar's port, and that the provider accepts TCP there".into(),
        ),
        ConnectionFault::Reset { by } => (
            format!("the TCP connection to {destination} was reset by {by} (RST)"),
            "a RST from the registrar means it tore the connection down (restart, overload, idle limit); from elsewhere, a firewall did: Asterisk opens a new connection and re-registers; if it repeats, ask the provider".into(),
        ),
        ConnectionFault::Closed { by } => (
            format!("the registrar ({by}) closed the TCP connection to {destination} (FIN)"),
            "Asterisk re-registers at once over TCP when the connection closes; if the registrar closes idle connections, keep it busy with `keep_alive_interval` in `[global]` below its idle limit".into(),
        ),
        ConnectionFault::Unacknowledged { from, retransmissions, idle_before_ms } => {
            let idle_s = (idle_before_ms + 500) / 1000;
            let idle = if idle_s >= TCP_IDLE_SUSPECT_S {
                format!(" after the connection had been idle for {idle_s} s (longer than common NAT and firewall TCP idle timeouts)")
            } else {
                format!(" (the connection had been idle for {idle_s} s)")
            };
            (
                format!("the REGISTER went out from {from} on a TCP connection to {destination}{idle}, and was sent again {retransmissions} times without any ACK and without RST: the connection is dead on the path (a NAT or firewall dropped its state)"),
                "keep the connection alive: `keep_alive_interval` in `[global]` below the NAT's TCP idle timeout (e.g. 30; 0 disables it; default 90), or raise that timeout; Asterisk keeps using the dead connection until the kernel gives up, and a shorter `expiration` only moves the problem".into(),
            )
        }
    }
}

pub(super) fn nat_mapping_lost(
    side: Side,
    (public_address, ports): (&str, &[u16]),
    changes: u32,
    local: &str,
    interval_s: u64,
) -> (String, String) {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let who = match side {
        Side::Client => "the PBX",
        Side::Registrar => "the phone",
    };
    let cause = format!(
        "the public port changed {changes} times from one REGISTER to the next ({public_address}: {}) while {who} sent from {local}, every {interval_s} s: the NAT forgot the mapping in between, and requests sent to the old port went nowhere until the next REGISTER (inbound calls fail)",
        ports.join(" → ")
    );
    let fix = match side {
        Side::Client => {
            "keep the mapping open between refreshes: `qualify_frequency` (e.g. 30) on the provider's AOR, or an `expiration` below the router's UDP timeout; or a static port forward with `external_signaling_address` and `local_net`; `keep_alive_interval` does not help over UDP"
        }
        Side::Registrar => {
            "keep the phone's mapping open: `qualify_frequency` (e.g. 30) on its AOR, or have the phone register more often than its router's UDP timeout, or use TCP with keep-alives"
        }
    };
    (cause, fix.into())
}

pub(super) fn banned(
    side: Side,
    registrar: &str,
    (rejections, burst): (u32, u32),
    stopped: SystemTime,
    (icmp, icmp_count): (Option<IcmpKind>, u32),
) -> (String, String) {
    let before = if rejections > 0 {
        format!(
            "the password was rejected {rejections} times (401/407 to the REGISTER that carried credentials)"
        )
    } else {
        format!("{registrar} answered {burst} REGISTERs in a row within a second each")
    };
    let now = match icmp {
        Some(kind) => format!("answers every REGISTER with ICMP {kind} ({icmp_count} since)"),
        None => "answers nothing at all".into(),
    };
    let cause = format!(
        "{before}, then from {} the same registrar ({}) {now}: its intrusion or flood protection (fail2ban or alike) banned this address — not a dead registrar and not DNS",
        clock(stopped),
        host_of(registrar)
    );
    let fix = match (side, rejections > 0) {
        (Side::Client, true) => format!(
            "correct the `password` in the auth section used by `outbound_auth`; keep `{}=yes` (the default) so that Asterisk stops retrying a rejected password; then ask the provider to lift the ban on this address",
            asterisk::AUTH_REJECTION_PERMANENT.name
        ),
        (Side::Client, false) => format!(
            "register less often: check `{}`, `{}` and `{}` (and that no loop re-registers), then ask the provider to lift the ban on this address",
            asterisk::EXPIRATION.name,
            asterisk::RETRY_INTERVAL.name,
            asterisk::MAX_RETRIES.name
        ),
        (Side::Registrar, _) => {
            "this registrar (or a firewall in front of it) bans the client: fix the phone's password or its registration rate, then lift the ban (fail2ban: unban the address)".to_owned()
        }
    };
    (cause, fix)
}

/// The host of `ip:port` (IPv6 in brackets kept whole).
pub(super) fn answers_not_captured(
    side: Side,
    destination: &SocketAddr,
    transport: Transport,
    sent: u32,
    acted_on: ActedOn,
) -> (String, String) {
    let acted = match acted_on {
        ActedOn::Credentials => {
            "the sender answered a challenge this capture does not hold (credentials after a REGISTER without them)".to_owned()
        }
        ActedOn::Ack => "the sender acknowledged (ACK) a final answer this capture does not hold".to_owned(),
        ActedOn::InDialog => "the sender sent requests inside a dialog (BYE…) that only an answer could have set up".to_owned(),
    };
    let cause = format!(
        "answers not in this capture: the REGISTER to {destination} over {transport} (seen {}) has no answer here, but {acted}, and nothing at all came back from {} in this capture: it holds one direction only (a mirror of one leg, asymmetric routing); no timeout is claimed",
        crate::say::count(sent, "time", "times"),
        destination.ip()
    );
    let fix = match side {
        Side::Client => {
            "capture both directions to judge this registration: on the PBX host itself (`sipwatch attach`), or mirror both directions of its port (the answers may come in on another interface: asymmetric routing)"
        }
        Side::Registrar => {
            "capture both directions to judge this phone: on this PBX's own interfaces (`sipwatch attach`), or mirror both directions of the phone's port"
        }
    };
    (cause, fix.to_owned())
}

/// Asterisk PJSIP refreshes this long before the granted expiry
/// (`REREGISTER_BUFFER_TIME` in res_pjsip_outbound_registration.c).
const ASTERISK_REFRESH_LEAD_S: u64 = 10;

pub(super) fn dead_target(
    side: Side,
    (dead, transport, sent, connection, timed_out_at): (
        &SocketAddr,
        Transport,
        u32,
        Option<&ConnectionFault>,
        SystemTime,
    ),
    through: &SocketAddr,
    delay_ms: u64,
) -> (String, String) {
    let times = if sent == 1 {
        "once".to_owned()
    } else {
        format!("{sent} times")
    };
    // Over TCP a dead target may never have let the REGISTER out at all.
    let failure = match connection {
        Some(ConnectionFault::NoAnswer { syns }) => format!(
            "the TCP connection to {dead} never came up (SYN sent {syns} times, no answer; given up at {})",
            clock(timed_out_at)
        ),
        Some(ConnectionFault::Refused { by }) => format!(
            "the TCP connection to {dead} was refused (RST from {by} at {})",
            clock(timed_out_at)
        ),
        _ => format!(
            "the REGISTER to {dead} over {transport} (sent {times}) got no answer at all (given up at {})",
            clock(timed_out_at)
        ),
    };
    let delay_s = delay_ms.div_ceil(1000);
    let lapse = if delay_s > ASTERISK_REFRESH_LEAD_S {
        format!(
            "; Asterisk starts a refresh {ASTERISK_REFRESH_LEAD_S} s before the expiry, so its binding lapses for about {} s at each one",
            delay_s - ASTERISK_REFRESH_LEAD_S
        )
    } else {
        String::new()
    };
    let cause = format!(
        "registered through {through}, but only after {failure}: that target is dead, and the PBX tries it first again at the next refresh (DNS SRV order), {delay_s} s lost each time{lapse}"
    );
    let fix = match side {
        Side::Client => format!(
            "the registration works; the provider must fix or remove its dead target {dead} (its DNS SRV records, or that server); until then send to the target that answers: PJSIP `outbound_proxy` (or `server_uri`) naming {through} (chan_sip: the `register =>` host), or check that this host may reach {dead} at all (firewall, route)"
        ),
        Side::Registrar => format!(
            "the phone reaches this PBX only after failing over from {dead}: remove or fix that target in the DNS SRV records phones resolve, or point the phone at {through}"
        ),
    };
    (cause, fix)
}

fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}
