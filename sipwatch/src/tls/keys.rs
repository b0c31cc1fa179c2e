//! The key schedule glue and one direction's record protection: traffic
//! keys from the key log's secrets, and records opened with RustCrypto's
//! AEADs.
//!
//! TLS 1.2 (RFC 5246 §5 and §6.3): the key block is the PRF (`P_SHA256` or
//! `P_SHA384`, HMAC-based) of the master secret over "key expansion" and
//! the two randoms; AES-GCM records carry an 8-byte explicit nonce after
//! the 4-byte implicit one (RFC 5288 §3), ChaCha20-Poly1305 XORs the
//! sequence number into a 12-byte IV (RFC 7905 §2). TLS 1.3 (RFC 8446
//! §7.1 and §7.3): key and IV are `HKDF-Expand-Label` of each traffic
//! secret; every record's nonce is the IV XOR its sequence number, and its
//! additional data the record header (§5.2).
use aes_gcm::{
    Aes128Gcm, Aes256Gcm,
    aead::{Aead as _, KeyInit, Payload},
};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The record protection a cipher suite uses; what sipwatch can open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aead {
    /// AES-128-GCM (RFC 5288, RFC 8446).
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 7905, RFC 8446).
    ChaCha20Poly1305,
}

impl Aead {
    fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha20Poly1305 => 32,
        }
    }
}

/// The hash of a suite's PRF (TLS 1.2) or HKDF (TLS 1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// A cipher suite sipwatch can decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// Its record protection.
    pub aead: Aead,
    /// Its hash.
    pub hash: Hash,
}

impl Suite {
    /// The suite numbered `id` (IANA's TLS Cipher Suites registry), when
    /// sipwatch can decrypt it: AES-GCM or ChaCha20-Poly1305 with SHA-256
    /// or SHA-384. `None` for the others (CBC, CCM, RC4…).
    pub fn of(id: u16) -> Option<Suite> {
        use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherSuite, TlsPRF};
        let s = TlsCipherSuite::from_id(id)?;
        let aead = match (s.enc, s.enc_mode, s.enc_size) {
            (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 128) => Aead::Aes128Gcm,
            (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 256) => Aead::Aes256Gcm,
            (TlsCipherEnc::Chacha20_Poly1305, _, _) => Aead::ChaCha20Poly1305,
            _ => return None,
        };
        let hash = match s.prf {
            TlsPRF::Sha384 => Hash::Sha384,
            TlsPRF::Sha256 | TlsPRF::Default => Hash::Sha256,
            _ => return None,
        };
        Some(Suite { aead, hash })
    }
}

/// One direction's record protection and its sequence number.
pub struct RecordKey {
    aead: Aead,
    key: Vec<u8>,
    /// 4 bytes (TLS 1.2 AES-GCM's implicit nonce) or 12.
    iv: Vec<u8>,
    /// TLS 1.3: the record header is the additional data, and the inner
    /// content type follows the content.
    tls13: bool,
    seq: u64,
}

/// The two directions' keys of a TLS 1.2 session, from its master secret.
pub fn tls12_keys(
    suite: Suite,
    master: &[u8],
    client_random: &[u8],
    server_random: &[u8],
) -> (RecordKey, RecordKey) {
    let key_len = suite.aead.key_len();
    let iv_len = match suite.aead {
        Aead::ChaCha20Poly1305 => 12,
        Aead::Aes128Gcm | Aead::Aes256Gcm => 4,
    };
    let seed = [server_random, client_random].concat();
    let block = prf(
        suite.hash,
        master,
        b"key expansion",
        &seed,
        2 * (key_len + iv_len),
    );
    let (client_key, rest) = block.split_at(key_len);
    let (server_key, rest) = rest.split_at(key_len);
    let (client_iv, server_iv) = rest.split_at(iv_len);
    let key = |key: &[u8], iv: &[u8]| RecordKey {
        aead: suite.aead,
        key: key.to_vec(),
        iv: iv.to_vec(),
        tls13: false,
        seq: 0,
    };
    (key(client_key, client_iv), key(server_key, server_iv))
}

/// One direction's TLS 1.3 key from a traffic secret.
pub fn tls13_key(suite: Suite, secret: &[u8]) -> RecordKey {
    RecordKey {
        aead: suite.aead,
        key: expand_label(suite.hash, secret, b"key", suite.aead.key_len()),
        iv: expand_label(suite.hash, secret, b"iv", 12),
        tls13: true,
        seq: 0,
    }
}

/// A record that did not open: the wrong key, or bytes altered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotOpened;

impl RecordKey {
    /// Opens one protected record of `content_type` (the header's), its
    /// `version` and `fragment` as on the wire. TLS 1.3 returns the inner
    /// content type with the content; TLS 1.2 the header's.
    pub fn open(
        &mut self,
        content_type: u8,
        version: u16,
        fragment: &[u8],
    ) -> Result<(u8, Vec<u8>), NotOpened> {
        const TAG: usize = 16;
        let (nonce, ciphertext, aad) = if self.tls13 {
            let mut aad = vec![content_type];
            aad.extend_from_slice(&version.to_be_bytes());
            aad.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
            (self.xor_nonce(), fragment, aad)
        } else {
            let (nonce, ciphertext) = if self.iv.len() == 4 {
                if fragment.len() < 8 {
                    return Err(NotOpened);
                }
                ([&self.iv[..], &fragment[..8]].concat(), &fragment[8..])
            } else {
                (self.xor_nonce(), fragment)
            };
            let plain_len = ciphertext.len().checked_sub(TAG).ok_or(NotOpened)?;
            let mut aad = self.seq.to_be_bytes().to_vec();
            aad.push(content_type);
            aad.extend_from_slice(&version.to_be_bytes());
            aad.extend_from_slice(&(plain_len as u16).to_be_bytes());
            (nonce, ciphertext, aad)
        };
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let nonce = aes_gcm::Nonce::from_slice(&nonce);
        let plain = match self.aead {
            Aead::Aes128Gcm => Aes128Gcm::new_from_slice(&self.key)
                .map_err(|_| NotOpened)?
                .decrypt(nonce, payload),
            Aead::Aes256Gcm => Aes256Gcm::new_from_slice(&self.key)
                .map_err(|_| NotOpened)?
                .decrypt(nonce, payload),
            Aead::ChaCha20Poly1305 => ChaCha20Poly1305::new_from_slice(&self.key)
                .map_err(|_| NotOpened)?
                .decrypt(nonce, payload),
        }
        .map_err(|_| NotOpened)?;
        self.seq += 1;
        if !self.tls13 {
            return Ok((content_type, plain));
        }
        // TLSInnerPlaintext: content, the real type, zero padding (§5.2).
        let mut plain = plain;
        while plain.last() == Some(&0) {
            plain.pop();
        }
        let inner = plain.pop().ok_or(NotOpened)?;
        Ok((inner, plain))
    }

    fn xor_nonce(&self) -> Vec<u8> {
        let mut nonce = self.iv.clone();
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }
}

/// TLS 1.2's PRF: `P_hash(secret, label + seed)` cut to `len` bytes (RFC
/// 5246 §5).
fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    fn p_hash<M: Mac + KeyInit>(secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
        let hmac = |parts: &[&[u8]]| {
            let mut m = <M as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        };
        let mut out = Vec::with_capacity(len);
        let mut a = hmac(&[seed]);
        while out.len() < len {
            out.extend(hmac(&[&a, seed]));
            a = hmac(&[&a]);
        }
        out.truncate(len);
        out
    }
    let seed = [label, seed].concat();
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, &seed, len),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, &seed, len),
    }
}

/// `HKDF-Expand-Label(secret, label, "", len)` (RFC 8446 §7.1).
fn expand_label(hash: Hash, secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(0);
    let mut out = vec![0; len];
    let expanded = match hash {
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret).map(|h| h.expand(&info, &mut out)),
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret).map(|h| h.expand(&info, &mut out)),
    };
    // A secret shorter than the hash was refused when the key log was read.
    debug_assert!(matches!(expanded, Ok(Ok(()))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8448 §3: the server's handshake traffic secret, key and IV of the
    /// "simple 1-RTT handshake".
    #[test]
    fn hkdf_expand_label_gives_rfc_8448s_server_handshake_key_and_iv() {
        let secret = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        assert_eq!(
            expand_label(Hash::Sha256, &secret, b"key", 16),
            unhex("3fce516009c21727d0f2e4e86ee403bc")
        );
        assert_eq!(
            expand_label(Hash::Sha256, &secret, b"iv", 12),
            unhex("5d313eb2671276ee13000b30")
        );
    }

    /// The TLS 1.2 PRF test vector for P_SHA256 published on the IETF TLS
    /// list (used by many implementations' tests).
    #[test]
    fn the_tls12_prf_gives_the_published_sha256_vector() {
        let out = prf(
            Hash::Sha256,
            &unhex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &unhex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        );
        assert_eq!(&out[..16], &unhex("e3f229ba727be17b8d122620557cd453")[..]);
    }

    #[test]
    fn supported_suites_are_aead_with_sha256_or_sha384() {
        assert_eq!(Suite::of(0x1301).map(|s| s.aead), Some(Aead::Aes128Gcm));
        assert_eq!(Suite::of(0x1302).map(|s| s.hash), Some(Hash::Sha384));
        assert_eq!(
            Suite::of(0xcca8).map(|s| s.aead),
            Some(Aead::ChaCha20Poly1305)
        );
        assert_eq!(Suite::of(0xc030).map(|s| s.aead), Some(Aead::Aes256Gcm));
        assert_eq!(Suite::of(0x002f), None, "AES-128-CBC-SHA");
    }
}
