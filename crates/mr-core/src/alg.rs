//! Hash algorithms (TCG `TPM_ALG_ID`s) and fixed-size, heap-free digests.
//!
//! Identifiers and sizes: TCG Algorithm Registry; names as the Linux kernel's `hash_algo_name`
//! (used in IMA `d-ng` fields and per-bank list file names).

use std::fmt;
use std::str::FromStr;

use sha1::Digest as _;

use crate::error::Error;

/// Largest digest size of any supported algorithm (SHA-512).
pub const MAX_DIGEST_SIZE: usize = 64;

/// A hash algorithm usable as a measurement-register bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1, `TPM_ALG_SHA1` = 0x0004, 20 bytes.
    Sha1,
    /// SHA-256, `TPM_ALG_SHA256` = 0x000B, 32 bytes.
    Sha256,
    /// SHA-384, `TPM_ALG_SHA384` = 0x000C, 48 bytes (the TDX RTMR algorithm).
    Sha384,
    /// SHA-512, `TPM_ALG_SHA512` = 0x000D, 64 bytes.
    Sha512,
    /// SM3-256, `TPM_ALG_SM3_256` = 0x0012, 32 bytes.
    Sm3_256,
}

impl HashAlg {
    /// Every supported algorithm, in TCG id order.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sm3_256,
    ];

    /// The TCG `TPM_ALG_ID`.
    pub const fn tcg_id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
            HashAlg::Sm3_256 => 0x0012,
        }
    }

    /// The algorithm with TCG id `id`, if supported.
    pub const fn from_tcg_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000B => Some(HashAlg::Sha256),
            0x000C => Some(HashAlg::Sha384),
            0x000D => Some(HashAlg::Sha512),
            0x0012 => Some(HashAlg::Sm3_256),
            _ => None,
        }
    }

    /// Digest size in bytes.
    pub const fn size(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 | HashAlg::Sm3_256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The kernel's name of the algorithm (`sha1`, `sha256`, `sha384`, `sha512`, `sm3`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sm3_256 => "sm3",
        }
    }

    /// The algorithm named `name` (kernel names; `sm3-256` and upper case accepted too).
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Some(HashAlg::Sha1),
            "sha256" | "sha-256" => Some(HashAlg::Sha256),
            "sha384" | "sha-384" => Some(HashAlg::Sha384),
            "sha512" | "sha-512" => Some(HashAlg::Sha512),
            "sm3" | "sm3-256" | "sm3_256" => Some(HashAlg::Sm3_256),
            _ => None,
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            HashAlg::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            HashAlg::Sm3_256 => Hasher::Sm3(sm3::Sm3::new()),
        }
    }

    /// Hash `data` in one call.
    #[inline]
    pub fn hash(self, data: &[u8]) -> Digest {
        self.hash_parts(&[data])
    }

    /// Hash the concatenation of `parts`.
    ///
    /// Dispatches once to the concrete hasher (no [`Hasher`] enum moved around): this is the
    /// hot path of every replay (template digests and extends).
    #[inline]
    pub fn hash_parts(self, parts: &[&[u8]]) -> Digest {
        #[inline(always)]
        fn run<H: sha1::Digest>(alg: HashAlg, parts: &[&[u8]]) -> Digest {
            let mut h = H::new();
            for p in parts {
                h.update(p);
            }
            let out = h.finalize();
            let mut d = Digest::zero(alg);
            d.bytes[..out.len()].copy_from_slice(&out);
            d
        }
        match self {
            HashAlg::Sha1 => run::<sha1::Sha1>(self, parts),
            HashAlg::Sha256 => run::<sha2::Sha256>(self, parts),
            HashAlg::Sha384 => run::<sha2::Sha384>(self, parts),
            HashAlg::Sha512 => run::<sha2::Sha512>(self, parts),
            HashAlg::Sm3_256 => run::<sm3::Sm3>(self, parts),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlg {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        HashAlg::from_name(s).ok_or_else(|| Error::UnknownAlgorithm(s.to_owned()))
    }
}

/// An incremental hasher for one [`HashAlg`] (RustCrypto; SHA-NI is used where the CPU has it).
#[derive(Clone)]
pub enum Hasher {
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    Sha384(sha2::Sha384),
    /// SHA-512.
    Sha512(sha2::Sha512),
    /// SM3-256.
    Sm3(sm3::Sm3),
}

impl Hasher {
    /// Feed `data`.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Sm3(h) => h.update(data),
        }
    }

    /// The algorithm of this hasher.
    pub fn alg(&self) -> HashAlg {
        match self {
            Hasher::Sha1(_) => HashAlg::Sha1,
            Hasher::Sha256(_) => HashAlg::Sha256,
            Hasher::Sha384(_) => HashAlg::Sha384,
            Hasher::Sha512(_) => HashAlg::Sha512,
            Hasher::Sm3(_) => HashAlg::Sm3_256,
        }
    }

    /// Finish and return the digest.
    #[inline]
    pub fn finalize(self) -> Digest {
        let alg = self.alg();
        let mut d = Digest::zero(alg);
        match self {
            Hasher::Sha1(h) => d.bytes[..20].copy_from_slice(&h.finalize()),
            Hasher::Sha256(h) => d.bytes[..32].copy_from_slice(&h.finalize()),
            Hasher::Sha384(h) => d.bytes[..48].copy_from_slice(&h.finalize()),
            Hasher::Sha512(h) => d.bytes[..64].copy_from_slice(&h.finalize()),
            Hasher::Sm3(h) => d.bytes[..32].copy_from_slice(&h.finalize()),
        }
        d
    }
}

/// A digest of a known algorithm, stored inline (no heap, `Copy`).
///
/// The length always equals `alg().size()`; constructors check it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    alg: HashAlg,
    bytes: [u8; MAX_DIGEST_SIZE],
}

impl Digest {
    /// The all-zero digest of `alg` (the reset value of PCR 0-16, 23 and of RTMRs).
    pub const fn zero(alg: HashAlg) -> Digest {
        Digest {
            alg,
            bytes: [0; MAX_DIGEST_SIZE],
        }
    }

    /// The all-0xFF digest of `alg` (what IMA extends for a violation; reset value of PCR 17-22).
    pub fn ones(alg: HashAlg) -> Digest {
        let mut d = Digest::zero(alg);
        d.bytes[..alg.size()].fill(0xFF);
        d
    }

    /// A digest of `alg` from exactly `alg.size()` bytes.
    pub fn new(alg: HashAlg, bytes: &[u8]) -> Result<Digest, Error> {
        if bytes.len() != alg.size() {
            return Err(Error::DigestLength {
                alg,
                expected: alg.size(),
                got: bytes.len(),
            });
        }
        Digest::zero_padded(alg, bytes)
    }

    /// A digest of `alg` from `bytes`, zero-padded (or rejected if longer) to the algorithm's
    /// size: how pre-5.8 kernels fed a 20-byte SHA-1 template digest into wider banks.
    pub fn zero_padded(alg: HashAlg, bytes: &[u8]) -> Result<Digest, Error> {
        if bytes.len() > alg.size() {
            return Err(Error::DigestLength {
                alg,
                expected: alg.size(),
                got: bytes.len(),
            });
        }
        let mut d = Digest::zero(alg);
        d.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(d)
    }

    /// A digest of `alg` from hex text (upper or lower case).
    pub fn from_hex(alg: HashAlg, text: &str) -> Result<Digest, Error> {
        let text = text.trim();
        if text.len() != alg.size() * 2 {
            return Err(Error::DigestLength {
                alg,
                expected: alg.size(),
                got: text.len() / 2,
            });
        }
        let mut d = Digest::zero(alg);
        hex::decode_to_slice(text, &mut d.bytes[..alg.size()])
            .map_err(|_| Error::InvalidHex(text.chars().take(16).collect()))?;
        Ok(d)
    }

    /// The algorithm.
    #[inline]
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The digest bytes (`alg().size()` of them).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.size()]
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// True when every byte is zero.
    pub fn is_zero(&self) -> bool {
        self.as_bytes().iter().all(|b| *b == 0)
    }

    /// The register extend operation: `H(self || data)`, in this digest's algorithm.
    ///
    /// `data` is normally a digest of the same size; TPM and RTMR hardware hash whatever it is given.
    #[inline]
    pub fn extended(&self, data: &[u8]) -> Digest {
        self.alg.hash_parts(&[self.as_bytes(), data])
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tcg_ids_and_names_round_trip() {
        for alg in HashAlg::ALL {
            assert_eq!(HashAlg::from_tcg_id(alg.tcg_id()), Some(alg));
            assert_eq!(HashAlg::from_name(alg.name()), Some(alg));
            assert_eq!(alg.hash(b"").as_bytes().len(), alg.size());
        }
        assert_eq!(HashAlg::from_tcg_id(0x0010), None);
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            HashAlg::Sha1.hash(b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            HashAlg::Sha256.hash(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HashAlg::Sm3_256.hash(b"abc").to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn extend_is_hash_of_concatenation() {
        let z = Digest::zero(HashAlg::Sha256);
        let d = HashAlg::Sha256.hash(b"x");
        let mut cat = vec![0u8; 32];
        cat.extend_from_slice(d.as_bytes());
        assert_eq!(z.extended(d.as_bytes()), HashAlg::Sha256.hash(&cat));
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(Digest::new(HashAlg::Sha1, &[0; 21]).is_err());
        assert!(Digest::from_hex(HashAlg::Sha1, "00").is_err());
        assert!(Digest::from_hex(HashAlg::Sha1, &"zz".repeat(20)).is_err());
        assert!(Digest::zero_padded(HashAlg::Sha1, &[0; 32]).is_err());
        let p = Digest::zero_padded(HashAlg::Sha256, &[1; 20]).unwrap();
        assert_eq!(&p.as_bytes()[20..], &[0; 12]);
    }
}
