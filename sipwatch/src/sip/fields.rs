//! Typed views of the headers sipwatch reasons about, read from the index.
//! Lenient by design: a field that cannot be read is `None`, never an error,
//! since the raw header is always there to show.
use serde::Serialize;

/// One Via value (a header may carry several).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`…
    pub transport: String,
    /// `host[:port]` as written.
    pub sent_by: String,
    /// The host of `sent_by`: where the sender wants responses (RFC 3261
    /// §18.2.2); a private address here behind a NAT needs `rport` (RFC
    /// 3581). IPv6 addresses keep their brackets.
    pub host: String,
    /// The port of `sent_by`; `None` when not written (then the
    /// transport's default: 5060, or 5061 for TLS).
    pub port: Option<u16>,
    /// The `branch=` transaction id, `z9hG4bK…` from RFC 3261 stacks
    /// (§8.1.1.7): a response is matched to its request by it (§17.1.3).
    pub branch: Option<String>,
    /// What the next hop saw as our address (`received=`).
    pub received: Option<String>,
    /// `;rport` was present (asked for, or answered).
    pub rport_present: bool,
    /// The port the next hop saw (`rport=N`).
    pub rport: Option<u16>,
}

/// A SIP URI's parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Uri {
    /// The whole URI as written, parameters and headers included (`*` for
    /// the Contact of a REGISTER that removes every binding).
    pub text: String,
    /// What comes before the first colon (`sip`, `sips`, `tel`),
    /// lower-cased; empty when there is no colon.
    pub scheme: String,
    /// The user part (the account or extension), without a password.
    pub user: Option<String>,
    /// The host: a domain or an address, IPv6 in brackets. In a Contact, a
    /// private address seen outside the NAT means nothing rewrote it.
    pub host: String,
    /// The port, `None` when not written (then 5060 for `sip`, 5061 for
    /// `sips`, RFC 3261 §19.1.2).
    pub port: Option<u16>,
}

/// `"Display" <uri>;params` (From, To, Contact).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NameAddr {
    /// The display name before `<uri>`, quotes removed.
    pub display: Option<String>,
    /// The address itself (in a REGISTER: To and From the address of
    /// record, Contact the binding, RFC 3261 §10.2).
    pub uri: Uri,
    /// The `tag=` that identifies a dialog end (RFC 3261 §19.3): From's is
    /// set by the client, To's by the server in its answer.
    pub tag: Option<String>,
    /// `expires=` on a Contact, seconds.
    #[serde(rename = "expires_s")]
    pub expires: Option<u32>,
}

/// Authorization / Proxy-Authorization: what the client sent. The response
/// hash is never kept in full.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Credentials {
    /// The authentication scheme as written, `Digest` from SIP clients.
    pub scheme: String,
    /// The auth user name (PJSIP: `username` of the auth section named by
    /// `outbound_auth`; chan_sip: `defaultuser`), which may differ from the
    /// From user.
    pub username: Option<String>,
    /// The realm the credentials are for; it must be the challenge's
    /// (PJSIP: `realm` of the auth section, or empty to answer any).
    pub realm: Option<String>,
    /// The nonce echoed from the challenge answered (RFC 2617 §3.2.2).
    pub nonce: Option<String>,
    /// The digest-uri the hash covers, normally the Request-URI (RFC 2617
    /// §3.2.2).
    pub uri: Option<String>,
    /// The hash algorithm: `MD5` when absent, `SHA-256` (RFC 8760).
    pub algorithm: Option<String>,
    /// The quality of protection chosen from the challenge's (`auth`).
    pub qop: Option<String>,
    /// The first characters of the response hash, then `…`.
    pub response: Option<String>,
}

/// Everything a digest `response` was computed over (RFC 7616 §3.4.1,
/// RFC 2617 §3.2.2), kept whole so that a password can be checked against
/// it offline ([`crate::track::digest::check_password`]). Never shown and
/// never serialised: its `Debug` masks the response.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestProof {
    /// The request's method (`REGISTER`): part of HA2.
    pub method: String,
    /// The `username` the hash covers.
    pub username: String,
    /// The `realm` the hash covers.
    pub realm: String,
    /// The server's nonce echoed.
    pub nonce: String,
    /// The digest-uri.
    pub uri: String,
    /// `algorithm=` as written; absent means MD5.
    pub algorithm: Option<String>,
    /// `qop=` chosen (`auth`, `auth-int`), absent for RFC 2069 digests.
    pub qop: Option<String>,
    /// `nc=`, the nonce count, as written (8 hex digits).
    pub nc: Option<String>,
    /// `cnonce=`, the client's nonce.
    pub cnonce: Option<String>,
    /// The `response` hash, lower case hex.
    pub response: String,
    /// The request's body, for `qop=auth-int` (hashed into HA2).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for DigestProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestProof")
            .field("method", &self.method)
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop)
            .field("response", &mask(&self.response))
            .finish_non_exhaustive()
    }
}

/// The digest of an Authorization / Proxy-Authorization value sent with a
/// request of `method` and `body`, when it holds every parameter a response
/// needs (username, realm, nonce, uri, response; with `qop`, nc and cnonce).
pub fn parse_digest_proof(value: &str, method: &str, body: &[u8]) -> Option<DigestProof> {
    let (scheme, ps) = auth_params(value);
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let get = |n: &str| param(&ps, n).and_then(|(_, v)| v.clone());
    let qop = get("qop");
    let (nc, cnonce) = (get("nc"), get("cnonce"));
    if qop.is_some() && (nc.is_none() || cnonce.is_none()) {
        return None;
    }
    Some(DigestProof {
        method: method.to_owned(),
        username: get("username")?,
        realm: get("realm")?,
        nonce: get("nonce")?,
        uri: get("uri")?,
        algorithm: get("algorithm"),
        qop,
        nc,
        cnonce,
        response: get("response")?.to_ascii_lowercase(),
        body: body.to_vec(),
    })
}

/// WWW-Authenticate / Proxy-Authenticate: what the server asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Challenge {
    /// The authentication scheme as written, `Digest` from SIP servers.
    pub scheme: String,
    /// The protection domain whose user name and password are asked for
    /// (RFC 3261 §22.1), often the provider's domain.
    pub realm: Option<String>,
    /// The server's one-time value the client must hash with (RFC 2617
    /// §3.2.1).
    pub nonce: Option<String>,
    /// The hash asked for: `MD5` when absent, `SHA-256` (RFC 8760); a
    /// client that lacks it cannot answer.
    pub algorithm: Option<String>,
    /// The qualities of protection offered, as written (`auth`,
    /// `auth,auth-int`).
    pub qop: Option<String>,
    /// `stale=true`: the nonce had expired but the credentials were right
    /// (RFC 2617 §3.2.1); retrying with the new nonce is expected, and is
    /// not a password problem.
    pub stale: bool,
}

/// The SDP lines that NAT and ALG questions turn on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sdp {
    /// `o=` (origin, with the sender's address).
    pub origin: Option<String>,
    /// Every `c=` (session and media level).
    pub connections: Vec<String>,
    /// Every `m=`.
    pub media: Vec<String>,
}

/// Splits a header value at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// `;k=v;flag` parameters, names lower-cased, quotes removed.
fn params(text: &str) -> Vec<(String, Option<String>)> {
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(unquote(v.trim()).to_owned()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect()
}

fn param<'a>(
    ps: &'a [(String, Option<String>)],
    name: &str,
) -> Option<&'a (String, Option<String>)> {
    ps.iter().find(|(k, _)| k == name)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// `host[:port]`, with IPv6 references in brackets.
fn host_port(text: &str) -> (String, Option<u16>) {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (format!("[{host}]"), port);
    }
    match text.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            (h.to_owned(), p.parse().ok())
        }
        _ => (text.to_owned(), None),
    }
}

/// One Via value (`SIP/2.0/UDP host:port;branch=…;rport`, RFC 3261
/// §20.42), one of a header's [`split_list`]; `None` when nothing follows
/// the protocol.
pub fn parse_via(value: &str) -> Option<Via> {
    // SIP/2.0/UDP host:port;params
    let (proto, rest) = value.split_once(char::is_whitespace)?;
    let transport = proto.rsplit('/').next()?.trim().to_ascii_uppercase();
    let rest = rest.trim();
    let (sent_by, ps) = rest.split_once(';').unwrap_or((rest, ""));
    let sent_by = sent_by.trim().to_owned();
    let (host, port) = host_port(&sent_by);
    let ps = params(ps);
    let rport = param(&ps, "rport");
    Some(Via {
        transport,
        host,
        port,
        branch: param(&ps, "branch").and_then(|(_, v)| v.clone()),
        received: param(&ps, "received").and_then(|(_, v)| v.clone()),
        rport_present: rport.is_some(),
        rport: rport.and_then(|(_, v)| v.as_deref()?.parse().ok()),
        sent_by,
    })
}

/// A URI's parts (`sip:user:password@host:port;params?headers`, RFC 3261
/// §19.1.1); never fails, a part that is not there is empty or `None`.
pub fn parse_uri(text: &str) -> Uri {
    let text = text.trim();
    let (scheme, rest) = text.split_once(':').unwrap_or(("", text));
    // Drop URI parameters and headers for the host part.
    let rest = rest.split([';', '?']).next().unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_owned()), h),
        None => (None, rest),
    };
    let (host, port) = host_port(hostport);
    Uri {
        text: text.to_owned(),
        scheme: scheme.to_ascii_lowercase(),
        user,
        host,
        port,
    }
}

/// One From, To or Contact value, with or without angle brackets (RFC 3261
/// §20.10, §20.20, §20.39): parameters after a bare URI belong to the
/// header, as the RFC says. `*` is the Contact of a REGISTER removing every
/// binding; `None` when a `<` is never closed.
pub fn parse_name_addr(value: &str) -> Option<NameAddr> {
    let value = value.trim();
    if value == "*" {
        return Some(NameAddr {
            uri: Uri {
                text: "*".into(),
                ..Uri::default()
            },
            ..NameAddr::default()
        });
    }
    let (display, uri, ps) = match value.find('<') {
        Some(open) => {
            let close = value[open..].find('>')? + open;
            let display = unquote(value[..open].trim());
            let display = (!display.is_empty()).then(|| display.to_owned());
            (display, &value[open + 1..close], &value[close + 1..])
        }
        // addr-spec: parameters after the URI belong to the header.
        None => {
            let (uri, ps) = value.split_once(';').unwrap_or((value, ""));
            (None, uri, ps)
        }
    };
    let ps = params(ps);
    Some(NameAddr {
        display,
        uri: parse_uri(uri),
        tag: param(&ps, "tag").and_then(|(_, v)| v.clone()),
        expires: param(&ps, "expires").and_then(|(_, v)| v.as_deref()?.parse().ok()),
    })
}

/// `Digest k=v, k="v", …` into its scheme and parameters.
fn auth_params(value: &str) -> (String, Vec<(String, Option<String>)>) {
    let (scheme, rest) = value
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((value.trim(), ""));
    let ps = split_list(rest)
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(unquote(v.trim()).to_owned()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect();
    (scheme.to_owned(), ps)
}

/// Keeps the first 4 characters of a secret-derived value.
pub fn mask(secret: &str) -> String {
    let shown: String = secret.chars().take(4).collect();
    format!("{shown}…")
}

/// An Authorization or Proxy-Authorization value (RFC 3261 §22.2, RFC 2617
/// §3.2.2); the response hash is masked with [`mask`] on the way in.
pub fn parse_credentials(value: &str) -> Credentials {
    let (scheme, ps) = auth_params(value);
    let get = |n: &str| param(&ps, n).and_then(|(_, v)| v.clone());
    Credentials {
        scheme,
        username: get("username"),
        realm: get("realm"),
        nonce: get("nonce"),
        uri: get("uri"),
        algorithm: get("algorithm"),
        qop: get("qop"),
        response: get("response").map(|r| mask(&r)),
    }
}

/// Every challenge in one WWW-Authenticate / Proxy-Authenticate value:
/// usually one, but some stacks list several in one header
/// (`Digest …, Digest …`), as HTTP allows (RFC 7235 §4.1).
pub fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut starts = Vec::new();
    let mut at = 0;
    for item in split_list(value) {
        let offset = value[at..].find(item).map_or(at, |o| at + o);
        let first = item.split_whitespace().next().unwrap_or("");
        if !first.contains('=') && item.len() > first.len() {
            starts.push(offset);
        }
        at = offset + item.len();
    }
    if starts.len() < 2 {
        return vec![parse_challenge(value)];
    }
    starts.push(value.len());
    starts
        .windows(2)
        .map(|w| parse_challenge(value[w[0]..w[1]].trim().trim_end_matches(',')))
        .collect()
}

/// One WWW-Authenticate or Proxy-Authenticate challenge (RFC 3261 §22.1,
/// RFC 2617 §3.2.1); [`parse_challenges`] splits a value holding several.
pub fn parse_challenge(value: &str) -> Challenge {
    let (scheme, ps) = auth_params(value);
    let get = |n: &str| param(&ps, n).and_then(|(_, v)| v.clone());
    Challenge {
        scheme,
        realm: get("realm"),
        nonce: get("nonce"),
        algorithm: get("algorithm"),
        qop: get("qop"),
        stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
    }
}

/// One parameter of a challenge or credentials value (`opaque`, say),
/// unquoted; `None` when absent or without a value.
pub fn auth_param(value: &str, name: &str) -> Option<String> {
    let (_, ps) = auth_params(value);
    param(&ps, name).and_then(|(_, v)| v.clone())
}

/// The `o=`, `c=` and `m=` lines of an SDP body (RFC 4566), where an ALG
/// or NAT shows in the media addresses; the first `o=` only.
pub fn parse_sdp(body: &str) -> Sdp {
    let mut sdp = Sdp::default();
    for line in body.lines().map(str::trim_end) {
        if let Some(v) = line.strip_prefix("o=") {
            sdp.origin.get_or_insert_with(|| v.to_owned());
        } else if let Some(v) = line.strip_prefix("c=") {
            sdp.connections.push(v.to_owned());
        } else if let Some(v) = line.strip_prefix("m=") {
            sdp.media.push(v.to_owned());
        }
    }
    sdp
}

/// The message as text for display, with every digest response hash in
/// Authorization / Proxy-Authorization masked.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Folded continuation lines belong to the header above them.
    let mut in_credentials = false;
    for (i, line) in text.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        if !line.starts_with([' ', '\t']) {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            in_credentials = name == "authorization" || name == "proxy-authorization";
        }
        if !in_credentials {
            out.push_str(line);
            continue;
        }
        let lower = line.to_ascii_lowercase();
        match lower.find("response=") {
            Some(at) => {
                let value_start = at + "response=".len();
                let rest = &line[value_start..];
                let quoted = rest.starts_with('"');
                let body = rest.trim_start_matches('"');
                let end = body.find(['"', ',', ' ']).unwrap_or(body.len());
                out.push_str(&line[..value_start]);
                if quoted {
                    out.push('"');
                }
                out.push_str(&mask(&body[..end]));
                out.push_str(&body[end..]);
            }
            None => out.push_str(line),
        }
    }
    out
}
