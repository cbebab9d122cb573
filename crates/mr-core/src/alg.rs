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

    /// Hash `data` into `out` (the first `self.size()` bytes; the rest is left as it is).
    #[inline]
    fn hash_into(self, data: &[u8], out: &mut [u8; MAX_DIGEST_SIZE]) {
        match self {
            HashAlg::Sha1 => direct::sha1(data, out),
            HashAlg::Sha256 => direct::sha256(data, out),
            _ => *out = self.hash(data).bytes,
        }
    }

    /// Hash `data` in one call (the one-shot `digest` of the concrete hasher, no part loop).
    #[inline]
    pub fn hash(self, data: &[u8]) -> Digest {
        #[inline(always)]
        fn run<H: sha1::Digest>(alg: HashAlg, data: &[u8]) -> Digest {
            let out = H::digest(data);
            let mut d = Digest::zero(alg);
            d.bytes[..out.len()].copy_from_slice(&out);
            d
        }
        let short = data.len() <= direct::SHORT_MESSAGE;
        match self {
            HashAlg::Sha1 if short => {
                let mut d = Digest::zero(self);
                direct::sha1(data, &mut d.bytes);
                d
            }
            HashAlg::Sha256 if short => {
                let mut d = Digest::zero(self);
                direct::sha256(data, &mut d.bytes);
                d
            }
            HashAlg::Sha1 => run::<sha1::Sha1>(self, data),
            HashAlg::Sha256 => run::<sha2::Sha256>(self, data),
            HashAlg::Sha384 => run::<sha2::Sha384>(self, data),
            HashAlg::Sha512 => run::<sha2::Sha512>(self, data),
            HashAlg::Sm3_256 => run::<sm3::Sm3>(self, data),
        }
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
        if let [one] = parts {
            return self.hash(one);
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

/// SHA-1 and SHA-256 straight on RustCrypto's compression functions (`sha1::compress`,
/// `sha2::compress256`, which use SHA-NI where the CPU has it).
///
/// The replay hot path hashes millions of short messages (template data of a few hundred bytes,
/// extends of 40 or 64 bytes). The incremental hashers copy the tail through a block buffer and
/// build the padding there; here whole blocks are compressed from the input and the final one or
/// two blocks (tail, `0x80`, zeros, big-endian bit length: FIPS 180-4 §5.1.1) are laid out once on
/// the stack. Results are checked against the incremental hashers in the tests below.
mod direct {
    use sha2::digest::generic_array::{typenum::U64, GenericArray};

    type Block = GenericArray<u8, U64>;

    /// Longest message hashed here rather than by the incremental hasher: whole blocks go to the
    /// compression function one call each (a safe slice of blocks cannot be made from `&[u8]`),
    /// which beats the hasher's buffering for a few blocks (template data, extends: 5-15% less
    /// time with SHA-NI up to ~250 bytes) but not for long event data (certificates, EFI
    /// variables), where one call over all blocks wins (measured crossover ~300-400 bytes).
    pub(super) const SHORT_MESSAGE: usize = 5 * 64 - 1;

    /// FIPS 180-4 §5.3.1.
    const SHA1_IV: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    /// FIPS 180-4 §5.3.3.
    const SHA256_IV: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];

    /// Merkle-Damgard over 64-byte blocks with 64-bit big-endian length padding.
    #[inline(always)]
    fn md<const W: usize>(
        mut state: [u32; W],
        data: &[u8],
        compress: impl Fn(&mut [u32; W], &[Block]),
        out: &mut [u8],
    ) {
        let (blocks, rest) = data.as_chunks::<64>();
        for b in blocks {
            compress(&mut state, std::slice::from_ref(Block::from_slice(b)));
        }
        let mut tail = [Block::default(); 2];
        let n = rest.len(); // < 64
        let used = if n < 56 { 1 } else { 2 };
        let bit_len = (data.len() as u64).wrapping_mul(8).to_be_bytes();
        {
            let (first, second) = tail.split_at_mut(1);
            let first = &mut first[0];
            first[..n].copy_from_slice(rest);
            first[n] = 0x80;
            let last = if used == 1 { first } else { &mut second[0] };
            last[56..].copy_from_slice(&bit_len);
        }
        compress(&mut state, &tail[..used]);
        for (o, w) in out.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
    }

    /// The register extend of a SHA-256 value with a SHA-256 digest, in place: `value[..32] =
    /// SHA-256(value[..32] || data)`. The message is exactly one block, so the padding block is
    /// fixed (`0x80`, zeros, bit length 512) and both go to one call of the compression function.
    #[inline]
    pub(super) fn sha256_extend(value: &mut [u8; 64], data: &[u8; 32]) {
        let mut blocks = [Block::default(); 2];
        blocks[0][..32].copy_from_slice(&value[..32]);
        blocks[0][32..].copy_from_slice(data);
        blocks[1][0] = 0x80;
        blocks[1][62] = 0x02; // 512 bits
        let mut state = SHA256_IV;
        sha2::compress256(&mut state, &blocks);
        for (o, w) in value.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
    }

    /// The register extend of a SHA-1 value with a SHA-1 digest, in place: the 40-byte message
    /// and its padding (`0x80`, zeros, bit length 320) are one block.
    #[inline]
    pub(super) fn sha1_extend(value: &mut [u8; 64], data: &[u8; 20]) {
        let mut block = Block::default();
        block[..20].copy_from_slice(&value[..20]);
        block[20..40].copy_from_slice(data);
        block[40] = 0x80;
        block[62] = 0x01; // 320 bits = 0x140
        block[63] = 0x40;
        let mut state = SHA1_IV;
        sha1::compress(&mut state, std::slice::from_ref(&block));
        for (o, w) in value.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
    }

    /// SHA-1 of `data` into `out[..20]`.
    #[inline]
    pub(super) fn sha1(data: &[u8], out: &mut [u8]) {
        md(SHA1_IV, data, sha1::compress, out);
    }

    /// SHA-256 of `data` into `out[..32]`.
    #[inline]
    pub(super) fn sha256(data: &[u8], out: &mut [u8]) {
        md(SHA256_IV, data, sha2::compress256, out);
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
/// The length always equals `alg().size()`; constructors check it. The bytes after the first
/// `alg().size()` are always zero, so equality and hashing may look at all of them.
#[derive(Clone, Copy, Eq)]
pub struct Digest {
    alg: HashAlg,
    bytes: [u8; MAX_DIGEST_SIZE],
}

/// Equality without a `memcmp` call: the replay engine compares a running value after every
/// extend (prefix matching), so this is on the hot path. Same relation as a derived `eq` (the
/// algorithm and all 64 bytes), hence consistent with the derived `Hash`.
impl PartialEq for Digest {
    #[inline]
    fn eq(&self, other: &Digest) -> bool {
        self.alg == other.alg
            && self
                .bytes
                .iter()
                .zip(&other.bytes)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Hashes what `eq` compares (the algorithm and all bytes), as a derived `Hash` would.
impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::hash::Hash::hash(&self.alg, state);
        std::hash::Hash::hash(&self.bytes, state);
    }
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
    #[inline(always)]
    pub fn new(alg: HashAlg, bytes: &[u8]) -> Result<Digest, Error> {
        let mut d = Digest::zero(alg);
        match d.bytes.get_mut(..bytes.len()) {
            Some(dst) if bytes.len() == alg.size() => {
                dst.copy_from_slice(bytes);
                Ok(d)
            }
            _ => Err(digest_length(alg, bytes.len())),
        }
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
        let mut d = *self;
        d.extend(data);
        d
    }

    /// Extend in place: `self = H(self || data)` (see [`Digest::extended`]).
    #[inline]
    pub fn extend(&mut self, data: &[u8]) {
        // `self || data` in one stack buffer and one one-shot hash, written straight back into
        // `self`: full blocks go to the compression function without a hasher's block buffer.
        match self.alg {
            HashAlg::Sha256 => {
                if let Some(d) = data.first_chunk::<32>().filter(|_| data.len() == 32) {
                    return direct::sha256_extend(&mut self.bytes, d);
                }
            }
            HashAlg::Sha1 => {
                if let Some(d) = data.first_chunk::<20>().filter(|_| data.len() == 20) {
                    return direct::sha1_extend(&mut self.bytes, d);
                }
            }
            _ => {}
        }
        let n = self.alg.size();
        let mut buf = [0u8; 2 * MAX_DIGEST_SIZE];
        match buf.get_mut(n..n + data.len()) {
            Some(tail) => {
                tail.copy_from_slice(data);
                buf[..n].copy_from_slice(&self.bytes[..n]);
                self.alg.hash_into(&buf[..n + data.len()], &mut self.bytes);
            }
            None => *self = self.alg.hash_parts(&[self.as_bytes(), data]),
        }
    }
}

/// The wrong-length error, out of line (cold) so that [`Digest::new`] stays small.
#[cold]
#[inline(never)]
fn digest_length(alg: HashAlg, got: usize) -> Error {
    Error::DigestLength {
        alg,
        expected: alg.size(),
        got,
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
    fn direct_compression_equals_incremental_hashers_at_every_tail_length() {
        // Every tail length around the one- and two-block padding boundaries (55/56/63/64 bytes)
        // and several whole blocks, in one and in several updates.
        let data: Vec<u8> = (0..400u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..=data.len() {
            let m = &data[..len];
            for alg in [HashAlg::Sha1, HashAlg::Sha256] {
                let mut h = alg.hasher();
                h.update(&m[..len / 3]);
                h.update(&m[len / 3..]);
                let incremental = h.finalize();
                assert_eq!(alg.hash(m), incremental, "{alg} of {len} bytes");
                assert_eq!(alg.hash_parts(&[m]), incremental, "{alg} of {len} bytes");
            }
        }
    }

    #[test]
    fn extend_equals_hash_of_concatenation_for_every_data_length() {
        for alg in HashAlg::ALL {
            let old = alg.hash(b"old");
            for len in 0..=200usize {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut cat = old.as_bytes().to_vec();
                cat.extend_from_slice(&data);
                let mut h = alg.hasher();
                h.update(&cat);
                assert_eq!(old.extended(&data), h.finalize(), "{alg}, {len} bytes");
            }
        }
    }

    #[test]
    fn equality_is_by_algorithm_and_bytes() {
        let a = HashAlg::Sha256.hash(b"a");
        let mut b = a;
        assert_eq!(a, b);
        b.bytes[31] ^= 1;
        assert_ne!(a, b);
        assert_ne!(
            Digest::zero(HashAlg::Sha256),
            Digest::zero(HashAlg::Sm3_256)
        );
        assert_eq!(
            Digest::new(HashAlg::Sha1, &[7; 20]).unwrap(),
            Digest::zero_padded(HashAlg::Sha1, &[7; 20]).unwrap()
        );
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
