//! What the sections of one trunk say to each other: an identify matching
//! by hostname, a registration's transport whose protocol is not its URI's,
//! two registrations for one AOR, and the endpoint's `from_user` /
//! `from_domain` against the registration's `client_uri`.
use super::{Finding, Place, Problem};
use crate::pbx::config::{
    Section, Value,
    pjsip::{self, Pjsip, uri_parts},
};

/// Every finding of these kinds.
pub(super) fn check(p: &Pjsip, out: &mut Vec<Finding>) {
    for i in &p.identifies {
        identify_by_hostname(i, out);
    }
    for r in &p.registrations {
        if let (Some(uri), Some(t)) = (r.server_uri(), r.transport()) {
            transport(r.section, ("server_uri", &uri.value), t, p, out);
        }
        from_differs(r, p, out);
    }
    for w in p.wizards.iter().filter(|w| w.sends_registrations()) {
        if let Some(t) = w.transport() {
            let pattern = w
                .server_uri_pattern()
                .map_or(WIZARD_SERVER_URI, |v| &v.value);
            transport(w.section, ("server_uri_pattern", pattern), t, p, out);
        }
    }
    same_aor_twice(p, out);
}

fn identify_by_hostname(i: &Section, out: &mut Vec<Finding>) {
    for v in i.all("match") {
        for m in pjsip::list(Some(v)) {
            let host = m.trim_start_matches('[');
            let host = host.split(['/', ']']).next().unwrap_or(host);
            let host = if host.matches(':').count() == 1 {
                host.split(':').next().unwrap_or(host)
            } else {
                host
            };
            let is_name = host.parse::<std::net::IpAddr>().is_err()
                && host.chars().any(|c| c.is_ascii_alphabetic());
            if is_name {
                out.push(Finding {
                    place: Place::value(i, v),
                    problem: Problem::IdentifyByHostname {
                        host: host.to_owned(),
                    },
                });
            }
        }
    }
}

/// The transport a URI asks for: its `transport=` parameter, `tls` for
/// `sips:`, else none (any).
fn uri_transport(uri: &str) -> Option<String> {
    let u = uri_parts(uri)?;
    if let Some(t) = u.transport {
        return Some(t.to_ascii_lowercase());
    }
    uri.trim()
        .trim_start_matches('<')
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("sips:"))
        .map(|_| "tls".to_owned())
}

/// The wizard's `server_uri_pattern` default (`res_pjsip_config_wizard.c`).
const WIZARD_SERVER_URI: &str = "sip:${REMOTE_HOST}";

/// A registration's (or wizard trunk's) `transport` `t` whose protocol is
/// not the one its server URI asks for.
/// `uri` is the option holding the URI and its value.
fn transport(s: &Section, uri: (&str, &str), t: &Value, p: &Pjsip, out: &mut Vec<Finding>) {
    let (Some(wanted), Some(section)) = (uri_transport(uri.1), p.transport(&t.value)) else {
        return;
    };
    let protocol = section
        .text("protocol")
        .unwrap_or("udp")
        .to_ascii_lowercase();
    if protocol != wanted {
        out.push(Finding {
            place: Place::value(s, t),
            problem: Problem::TransportMismatch {
                uri_option: uri.0.to_owned(),
                uri_transport: wanted,
                transport: section.name.clone(),
                protocol,
            },
        });
    }
}

fn from_differs(r: &pjsip::Registration, p: &Pjsip, out: &mut Vec<Finding>) {
    let Some(client) = r.client_uri().and_then(|v| uri_parts(&v.value)) else {
        return;
    };
    let auths = r.outbound_auth();
    if auths.is_empty() {
        return;
    }
    // The trunk's endpoint: the one answering challenges with the same auth.
    let endpoints = p
        .endpoints
        .iter()
        .filter(|e| pjsip::list(e.get("outbound_auth")) == auths);
    for e in endpoints {
        let pairs = [
            ("from_user", client.user.unwrap_or_default()),
            ("from_domain", client.host),
        ];
        for (option, client_part) in pairs {
            let Some(v) = e.get(option) else { continue };
            let known = out.iter().any(|f| {
                f.place.line == v.line
                    && f.place.file == v.file
                    && matches!(f.problem, Problem::FromDiffers { .. })
            });
            if known || client_part.is_empty() || v.value.eq_ignore_ascii_case(client_part) {
                continue;
            }
            out.push(Finding {
                place: Place::value(e, v),
                problem: Problem::FromDiffers {
                    option: option.to_owned(),
                    value: v.value.clone(),
                    client: client_part.to_owned(),
                    registration: r.section.name.clone(),
                },
            });
        }
    }
}

fn same_aor_twice(p: &Pjsip, out: &mut Vec<Finding>) {
    let mut seen: Vec<(String, &Section)> = Vec::new();
    for r in &p.registrations {
        let (Some(client), Some(server)) = (
            r.client_uri().and_then(|v| uri_parts(&v.value)),
            r.server_uri().and_then(|v| uri_parts(&v.value)),
        ) else {
            continue;
        };
        let Some(user) = client.user else { continue };
        let key = format!("{user}@{}|{}", client.host, server.host).to_ascii_lowercase();
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => out.push(Finding {
                place: Place::at(r.section, r.client_uri()),
                problem: Problem::SameAorTwice {
                    aor: format!("{user}@{}", client.host),
                    other_section: first.name.clone(),
                    other_line: first.line,
                },
            }),
            None => seen.push((key, r.section)),
        }
    }
}
