//! The words of the Contacts a registrar kept ([`ContactsKept`]): a Contact
//! rewritten on the way, ours not listed, and stale bindings of the same
//! AOR.
use crate::track::{ContactsKept, Relation, ReturnedContact, Rewriter};

/// The detail lines, (what was seen, what it means), for the Contact
/// `sent` in the REGISTER.
pub fn contacts_kept(kept: &ContactsKept, sent: &str) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    if let (Some(by), Some(ours)) = (
        kept.rewritten_by,
        kept.returned
            .iter()
            .find(|c| c.relation == Relation::Rewritten),
    ) {
        let who = match by {
            Rewriter::RegistrarNatFixup => {
                "it is the address the registrar saw this host as: the registrar fixing up NAT (or a SIP ALG that rewrote the REGISTER on its way out; `sipwatch probe` tells them apart)"
            }
            Rewriter::Alg => {
                "neither the address sent nor the one the registrar saw this host as: a SIP ALG on the path rewrote it"
            }
            Rewriter::Registrar => {
                "the registrar rewrote it itself: it and this host are on one host or in one private subnet, where no router (no NAT, no SIP ALG) stands between them"
            }
        };
        let fix = match by {
            Rewriter::Registrar => {
                "the PBX may not recognise its own binding: it reads the granted expiry from the Contact that matches its own (Asterisk falls back to the Expires header or its own `expiration`); the registrar's own Contact rewriting does it (an Asterisk registrar: `rewrite_contact=yes` on the endpoint; Kamailio: fix_nated_contact / set_contact_alias), not needed where no NAT stands between"
            }
            _ => {
                "the PBX may not recognise its own binding: it reads the granted expiry from the Contact that matches its own (Asterisk falls back to the Expires header or its own `expiration`), so it may refresh too late or read an unregistration where there was none; disable the ALG, or let the PBX put its public address in the Contact (PJSIP transport `external_signaling_address`, `local_net`)"
            }
        };
        lines.push((
            format!(
                "the registrar kept the Contact as {}, not {sent} as sent: {who}",
                ours.uri
            ),
            fix.into(),
        ));
    }
    let others: Vec<&ReturnedContact> = kept.others().collect();
    if kept.ours_missing() {
        lines.push((
            format!(
                "the registrar's 200 OK lists {} for this AOR, and ours ({sent}) is not among them: our binding is not listed ({})",
                crate::say::count(kept.returned.len() as u32, "binding", "bindings"),
                listed(&others).join(", ")
            ),
            "a 2xx to a REGISTER lists every binding the registrar holds for the AOR (RFC 3261 §10.3): it did not keep ours, so calls may not reach this PBX, and the expiry it granted is not in the answer (the PBX falls back to the Expires header or its own `expiration`); the others are other devices or older bindings of the account: ask the provider whether the account's binding limit is reached or the registrar replaces Contacts".into(),
        ));
        return lines;
    }
    if !others.is_empty() {
        let listed = listed(&others);
        lines.push((
            format!(
                "{} bindings for this AOR; {} of them point to addresses this PBX no longer uses: {}",
                kept.returned.len(),
                others.len(),
                listed.join(", ")
            ),
            "stale bindings from an earlier address or port of this PBX (a restart on another port, a new public address), or a second device: the registrar may send inbound calls to them; they lapse at their expiry, or remove them at once with an un-REGISTER of each (or `Contact: *`) or ask the provider; give the PJSIP transport a fixed `bind` port".into(),
        ));
    }
    lines
}

/// Each Contact with its expiry: "sip:1001@10.0.0.5:5060 (expires in 30 s)".
fn listed(contacts: &[&ReturnedContact]) -> Vec<String> {
    contacts
        .iter()
        .map(|c| match c.expires_s {
            Some(e) => format!("{} (expires in {e} s)", c.uri),
            None => c.uri.clone(),
        })
        .collect()
}
