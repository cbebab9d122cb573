//! The measurement-register model: identifiers, the [`MeasurementRegister`] trait, an in-memory
//! [`SoftRegister`], [`VerifiedRegisters`], the values a root of trust vouches for, and
//! [`ExpectedRegisters`], values a caller expects.
//!
//! Index mappings (UEFI CC measurement, docs/formats.md#ccel): CC MR index 0 = MRTD, CC MR index n = RTMR n-1
//! for n in 1..=4.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::alg::{Digest, HashAlg};
use crate::error::Error;

/// Identifies a measurement register.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MrId {
    /// TPM PCR n (0-23 on PC-Client TPMs; any u32 is representable for odd logs).
    Pcr(u32),
    /// TDX RTMR n (0-3).
    Rtmr(u8),
    /// TDX MRTD (build-time measurement).
    Mrtd,
    /// TDX MRCONFIGID (static, supplied at TD creation).
    MrConfigId,
    /// TDX MROWNER (static).
    MrOwner,
    /// TDX MROWNERCONFIG (static).
    MrOwnerConfig,
    /// A named virtual register (e.g. `mr_ima`) derived from a journal.
    Virtual(String),
}

impl MrId {
    /// The register that a UEFI CC measurement-register index names (0 = MRTD, 1..=4 = RTMR0..3).
    pub fn from_cc_mr_index(index: u32) -> Option<MrId> {
        match index {
            0 => Some(MrId::Mrtd),
            1..=4 => Some(MrId::Rtmr((index - 1) as u8)),
            _ => None,
        }
    }

    /// The CC measurement-register index of a TDX register (MRTD = 0, RTMR n = n+1).
    pub fn cc_mr_index(&self) -> Option<u32> {
        match self {
            MrId::Mrtd => Some(0),
            MrId::Rtmr(n) if *n < 4 => Some(u32::from(*n) + 1),
            _ => None,
        }
    }

    /// Start value of this register after reset, in bank `alg`: zeros, except PCR 17-22, which a
    /// PC-Client TPM resets to all-0xFF until a dynamic launch.
    pub fn reset_value(&self, alg: HashAlg) -> Digest {
        match self {
            MrId::Pcr(17..=22) => Digest::ones(alg),
            _ => Digest::zero(alg),
        }
    }
}

impl fmt::Display for MrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MrId::Pcr(n) => write!(f, "pcr{n}"),
            MrId::Rtmr(n) => write!(f, "rtmr{n}"),
            MrId::Mrtd => f.write_str("mrtd"),
            MrId::MrConfigId => f.write_str("mrconfigid"),
            MrId::MrOwner => f.write_str("mrowner"),
            MrId::MrOwnerConfig => f.write_str("mrownerconfig"),
            MrId::Virtual(name) => f.write_str(name),
        }
    }
}

impl FromStr for MrId {
    type Err = Error;
    /// Accepts `10`, `pcr10`, `rtmr0`..`rtmr3`, `mrtd`, `mrconfigid`, `mrowner`, `mrownerconfig`,
    /// or a virtual register name (`[a-z_][a-z0-9_]*`, at most 64 characters).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidRegisterId(s.to_owned());
        let lower = s.to_ascii_lowercase();
        let digits =
            |t: &str| !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit());
        if digits(&lower) {
            return lower.parse().map(MrId::Pcr).map_err(|_| bad());
        }
        if let Some(n) = lower.strip_prefix("pcr").filter(|t| digits(t)) {
            return n.parse().map(MrId::Pcr).map_err(|_| bad());
        }
        if let Some(n) = lower.strip_prefix("rtmr").filter(|t| digits(t)) {
            return match n.parse::<u8>() {
                Ok(n @ 0..=3) => Ok(MrId::Rtmr(n)),
                _ => Err(bad()),
            };
        }
        match lower.as_str() {
            "mrtd" => return Ok(MrId::Mrtd),
            "mrconfigid" => return Ok(MrId::MrConfigId),
            "mrowner" => return Ok(MrId::MrOwner),
            "mrownerconfig" => return Ok(MrId::MrOwnerConfig),
            _ => {}
        }
        let valid_name = s.len() <= 64
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid_name {
            Ok(MrId::Virtual(s.to_owned()))
        } else {
            Err(bad())
        }
    }
}

/// A register, bank and value, written `ID:ALG:HEX` on the command line (e.g. `10:sha256:ab..`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterValue {
    /// The register.
    pub id: MrId,
    /// The value (its algorithm is the bank).
    pub value: Digest,
}

impl FromStr for RegisterValue {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidRegisterValue {
            text: s.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        let mut parts = s.trim().splitn(3, ':');
        let (Some(id), Some(alg), Some(hex)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected ID:ALG:HEX"));
        };
        let id: MrId = id.parse().map_err(|e: Error| bad(&e.to_string()))?;
        let alg: HashAlg = alg.parse().map_err(|e: Error| bad(&e.to_string()))?;
        let value = Digest::from_hex(alg, hex).map_err(|e| bad(&e.to_string()))?;
        Ok(RegisterValue { id, value })
    }
}

impl fmt::Display for RegisterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.id, self.value.alg(), self.value)
    }
}

/// A register that can be read and extended: a TPM PCR in one bank, a TDX RTMR, a register held in
/// memory, or a virtual register over a backing register.
pub trait MeasurementRegister {
    /// Which register this is.
    fn id(&self) -> MrId;
    /// The register's bank (hash algorithm).
    fn alg(&self) -> HashAlg;
    /// The current value.
    fn read(&self) -> Result<Digest, Error>;
    /// Extend: `new = H(old || digest)`; `digest` must have the register's algorithm.
    fn extend(&self, digest: &Digest) -> Result<(), Error>;
}

/// A measurement register held in memory (for tests, simulations and replay targets).
#[derive(Debug)]
pub struct SoftRegister {
    id: MrId,
    value: Mutex<Digest>,
}

impl SoftRegister {
    /// A register at its reset value (see [`MrId::reset_value`]).
    pub fn new(id: MrId, alg: HashAlg) -> SoftRegister {
        let value = id.reset_value(alg);
        SoftRegister::with_value(id, value)
    }

    /// A register holding `value`.
    pub fn with_value(id: MrId, value: Digest) -> SoftRegister {
        SoftRegister {
            id,
            value: Mutex::new(value),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Digest> {
        // A poisoned lock only means another thread panicked mid-extend; the digest is Copy and
        // always whole, so the value is still meaningful.
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MeasurementRegister for SoftRegister {
    fn id(&self) -> MrId {
        self.id.clone()
    }
    fn alg(&self) -> HashAlg {
        self.lock().alg()
    }
    fn read(&self) -> Result<Digest, Error> {
        Ok(*self.lock())
    }
    fn extend(&self, digest: &Digest) -> Result<(), Error> {
        let mut v = self.lock();
        if digest.alg() != v.alg() {
            return Err(Error::Register {
                register: self.id.clone(),
                reason: format!(
                    "cannot extend a {} register with a {} digest",
                    v.alg(),
                    digest.alg()
                ),
            });
        }
        *v = v.extended(digest.as_bytes());
        Ok(())
    }
}

/// Where a set of verified register values comes from: always a root of trust (a quote whose
/// signature chain verified) or a derivation from values one vouched for. Values a caller
/// asserts are [`ExpectedRegisters`] and have no provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provenance {
    /// A TPM quote whose signature, nonce and PCR digest verified; `ak_name` is the AK's Name (hex).
    TpmQuote {
        /// The attestation key's TPM Name, hex.
        ak_name: String,
    },
    /// A TD quote whose signature chain verified (and REPORTDATA, if a nonce was given).
    TdQuote {
        /// A short description of the trust anchor (e.g. root CA subject or fingerprint).
        root: String,
    },
    /// A TPM quote by an attestation key that a confidential VM's hardware report vouches for
    /// (a vTPM, e.g. Azure's: TD quote or SNP report → runtime data → AK → TPM quote); its
    /// signature, nonce and PCR digest verified, and so did the hardware chain.
    VtpmQuote {
        /// The attestation key's id (as in [`Provenance::TpmQuote`]).
        ak_name: String,
        /// The hardware chain that vouches for the AK, in words.
        hardware: String,
    },
    /// Derived by replaying a journal against other verified registers.
    Derived {
        /// What the backing values came from.
        from: Box<Provenance>,
    },
}

impl Provenance {
    /// The root of trust behind these values (the provenance a derivation started from).
    pub fn root(&self) -> &Provenance {
        match self {
            Provenance::Derived { from } => from.root(),
            other => other,
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::TpmQuote { ak_name } => write!(f, "TPM quote by AK {ak_name}"),
            Provenance::TdQuote { root } => write!(f, "TD quote chained to {root}"),
            Provenance::VtpmQuote { ak_name, hardware } => {
                write!(
                    f,
                    "vTPM quote by AK {ak_name}, the AK vouched for by {hardware}"
                )
            }
            Provenance::Derived { from } => write!(f, "derived from {from}"),
        }
    }
}

/// Register values a caller expects, with no claim about where they come from: values typed on
/// the command line (`--expect`), read from a policy, or claimed by a journal. A replay against
/// them says only "the log is consistent with these values" ([`crate::trust::Checked`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedRegisters {
    values: BTreeMap<(MrId, HashAlg), Digest>,
}

/// An empty set, for references that have no values.
pub(crate) static NO_VALUES: ExpectedRegisters = ExpectedRegisters {
    values: BTreeMap::new(),
};

impl ExpectedRegisters {
    /// An empty set.
    pub fn new() -> ExpectedRegisters {
        ExpectedRegisters::default()
    }

    /// A set of the given values; giving the same register and bank twice with different values
    /// is an error.
    pub fn from_values(
        values: impl IntoIterator<Item = RegisterValue>,
    ) -> Result<ExpectedRegisters, Error> {
        let mut v = ExpectedRegisters::new();
        for rv in values {
            v.insert(rv.id, rv.value)?;
        }
        Ok(v)
    }

    /// Add a value; giving the same register and bank twice with different values is an error.
    pub fn insert(&mut self, id: MrId, value: Digest) -> Result<(), Error> {
        match self.values.get(&(id.clone(), value.alg())) {
            Some(old) if *old != value => Err(Error::ConflictingValue {
                register: id,
                alg: value.alg(),
            }),
            _ => {
                self.values.insert((id, value.alg()), value);
                Ok(())
            }
        }
    }

    /// The value of `id` in bank `alg`.
    pub fn get(&self, id: &MrId, alg: HashAlg) -> Option<&Digest> {
        self.values.get(&(id.clone(), alg))
    }

    /// All values, ordered by register then bank.
    pub fn iter(&self) -> impl Iterator<Item = (&MrId, &Digest)> {
        self.values.iter().map(|((id, _), d)| (id, d))
    }

    /// All values as `ID:ALG:HEX` values, ordered by register then bank.
    pub fn to_values(&self) -> Vec<RegisterValue> {
        self.iter()
            .map(|(id, value)| RegisterValue {
                id: id.clone(),
                value: *value,
            })
            .collect()
    }

    /// Number of register/bank values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The banks present, in order.
    pub fn banks(&self) -> Vec<HashAlg> {
        let mut b: Vec<HashAlg> = self.values.keys().map(|(_, a)| *a).collect();
        b.sort();
        b.dedup();
        b
    }
}

/// Register values a root of trust vouches for, with their [`Provenance`]. Only a root verifier
/// makes them: `mr-tpm` (a TPM quote), `mr-rtmr` (a TD quote) and `mr-virtual` (a journal
/// replayed against verified values). A replay against them returns a
/// [`crate::trust::Verified`] report; values a caller asserts are [`ExpectedRegisters`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRegisters {
    provenance: Provenance,
    values: ExpectedRegisters,
}

impl VerifiedRegisters {
    /// For root verifiers only (`mr-tpm`, `mr-rtmr`, `mr-virtual`): `values` are what the root
    /// of trust `provenance` vouches for, *after* the root's evidence verified. Anything else
    /// calling this defeats the point of the type; a caller with values of its own uses
    /// [`ExpectedRegisters`].
    #[doc(hidden)]
    pub fn from_verified_root(
        provenance: Provenance,
        values: ExpectedRegisters,
    ) -> VerifiedRegisters {
        VerifiedRegisters { provenance, values }
    }

    /// The same root's values for the registers `keep` selects (a subset of verified values is
    /// still verified).
    pub fn select(&self, mut keep: impl FnMut(&MrId, &Digest) -> bool) -> VerifiedRegisters {
        VerifiedRegisters {
            provenance: self.provenance.clone(),
            values: ExpectedRegisters {
                values: self
                    .values
                    .values
                    .iter()
                    .filter(|((id, _), d)| keep(id, d))
                    .map(|(k, d)| (k.clone(), *d))
                    .collect(),
            },
        }
    }

    /// The value of `id` in bank `alg`.
    pub fn get(&self, id: &MrId, alg: HashAlg) -> Option<&Digest> {
        self.values.get(id, alg)
    }

    /// Where these values come from.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// The values without their provenance, as a replay compares against them.
    pub fn values(&self) -> &ExpectedRegisters {
        &self.values
    }

    /// All values, ordered by register then bank.
    pub fn iter(&self) -> impl Iterator<Item = (&MrId, &Digest)> {
        self.values.iter()
    }

    /// All values as `ID:ALG:HEX` values, ordered by register then bank.
    pub fn to_values(&self) -> Vec<RegisterValue> {
        self.values.to_values()
    }

    /// Number of register/bank values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The banks present, in order.
    pub fn banks(&self) -> Vec<HashAlg> {
        self.values.banks()
    }
}

/// Parse the text form of register values: one `ID:ALG:HEX` per line ([`RegisterValue`]'s
/// `FromStr`, and its `Display` writes a line back), blank lines and lines starting with `#`
/// ignored (the form `mr --expect-file` and `--pcrs` read and mr prints). A line that does not
/// parse is [`Error::RegisterLine`] with its line number (from 1).
pub fn parse_register_lines(text: &str) -> Result<Vec<RegisterValue>, Error> {
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        values.push(line.parse().map_err(|e| Error::RegisterLine {
            line: n + 1,
            source: Box::new(e),
        })?);
    }
    Ok(values)
}

/// JSON list of register values: `[{"id": "pcr10", "alg": "sha256", "value": "<hex>"}]` (the
/// form every report of mr uses, docs/cli.md).
pub fn registers_json<'a>(
    values: impl IntoIterator<Item = &'a RegisterValue>,
) -> serde_json::Value {
    serde_json::Value::Array(
        values
            .into_iter()
            .map(|v| {
                serde_json::json!({
                    "id": v.id.to_string(),
                    "alg": v.value.alg().name(),
                    "value": v.value.to_hex(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn register_lines_parse_skip_comments_and_name_the_bad_line() {
        let zero = format!("pcr10:sha256:{}", "00".repeat(32));
        let text = format!("# quoted\n\n  {zero}  \nrtmr3:sha384:{}\n", "11".repeat(48));
        let values = parse_register_lines(&text).unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0].to_string(), zero);
        assert_eq!(values[1].id, MrId::Rtmr(3));
        let written: String = values.iter().map(|v| format!("{v}\n")).collect();
        assert_eq!(parse_register_lines(&written).unwrap(), values);
        let e = parse_register_lines(&format!("{zero}\n# x\n10:sha256:zz\n")).unwrap_err();
        assert!(matches!(e, Error::RegisterLine { line: 3, .. }), "{e:?}");
        assert!(
            e.to_string().starts_with("line 3: invalid register value"),
            "{e}"
        );
        assert_eq!(e.class(), crate::ErrorClass::Malformed);
    }

    #[test]
    fn parses_register_ids() {
        assert_eq!("10".parse::<MrId>().unwrap(), MrId::Pcr(10));
        assert_eq!("PCR23".parse::<MrId>().unwrap(), MrId::Pcr(23));
        assert_eq!("rtmr3".parse::<MrId>().unwrap(), MrId::Rtmr(3));
        assert!("rtmr4".parse::<MrId>().is_err());
        assert_eq!("mrtd".parse::<MrId>().unwrap(), MrId::Mrtd);
        assert_eq!(
            "mr_ima".parse::<MrId>().unwrap(),
            MrId::Virtual("mr_ima".into())
        );
        assert!("Bad Name".parse::<MrId>().is_err());
        assert!("".parse::<MrId>().is_err());
        assert!("99999999999".parse::<MrId>().is_err());
        for s in ["pcr10", "rtmr0", "mrtd", "mr_ima"] {
            assert_eq!(s.parse::<MrId>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn cc_mr_index_mapping() {
        assert_eq!(MrId::from_cc_mr_index(1), Some(MrId::Rtmr(0)));
        assert_eq!(MrId::from_cc_mr_index(4), Some(MrId::Rtmr(3)));
        assert_eq!(MrId::from_cc_mr_index(5), None);
        assert_eq!(MrId::Rtmr(2).cc_mr_index(), Some(3));
    }

    #[test]
    fn parses_register_values() {
        let v: RegisterValue = format!("10:sha1:{}", "ab".repeat(20)).parse().unwrap();
        assert_eq!(v.id, MrId::Pcr(10));
        assert_eq!(v.value.alg(), HashAlg::Sha1);
        assert!("10:sha1:abcd".parse::<RegisterValue>().is_err());
        assert!("10:md5:abcd".parse::<RegisterValue>().is_err());
        assert!("10".parse::<RegisterValue>().is_err());
    }

    #[test]
    fn soft_register_extends() {
        let r = SoftRegister::new(MrId::Pcr(16), HashAlg::Sha256);
        let d = HashAlg::Sha256.hash(b"m");
        r.extend(&d).unwrap();
        assert_eq!(
            r.read().unwrap(),
            Digest::zero(HashAlg::Sha256).extended(d.as_bytes())
        );
        assert!(r.extend(&HashAlg::Sha1.hash(b"m")).is_err());
        assert_eq!(
            SoftRegister::new(MrId::Pcr(17), HashAlg::Sha1)
                .read()
                .unwrap(),
            Digest::ones(HashAlg::Sha1)
        );
    }

    #[test]
    fn expected_registers_refuse_conflicts() {
        let mut v = ExpectedRegisters::new();
        v.insert(MrId::Pcr(10), Digest::zero(HashAlg::Sha1))
            .unwrap();
        v.insert(MrId::Pcr(10), Digest::zero(HashAlg::Sha1))
            .unwrap();
        assert!(v
            .insert(MrId::Pcr(10), Digest::ones(HashAlg::Sha1))
            .is_err());
        assert_eq!(v.len(), 1);
    }
}
