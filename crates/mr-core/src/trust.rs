//! Trust carried in the types: what a replay was compared against decides the type of its
//! result.
//!
//! Every log replay (IMA, TCG/CCEL, CEL, a resumed IMA verification) takes a [`Reference`]:
//!
//! | reference                                     | result        | means                                   |
//! |-----------------------------------------------|---------------|-----------------------------------------|
//! | [`VerifiedRegisters`] (from a root verifier)  | [`Verified`]  | a root of trust vouches for the values  |
//! | [`ExpectedRegisters`] (asserted by the caller)| [`Checked`]   | consistent with what the caller expects |
//! | [`ComputeOnly`]                               | the report    | values computed, nothing compared       |
//!
//! so that "consistent with what I typed" cannot be mistaken for "vouched for by a quote": a
//! function that needs evidence a root of trust vouched for takes a `Verified<_>`.
//!
//! ```
//! use mr_core::log::ima::{self, builder::ImaListBuilder, ImaInput, ImaOptions};
//! use mr_core::{Checked, ExpectedRegisters, HashAlg, MrId, RegisterValue};
//!
//! let mut b = ImaListBuilder::binary();
//! let e = b.ima_ng(10, &HashAlg::Sha256.hash(b"file"), "/bin/file");
//! let list = b.finish();
//! let pcr10 = mr_core::Digest::zero(HashAlg::Sha256)
//!     .extended(e.template_digest(HashAlg::Sha256).as_bytes());
//! let typed = ExpectedRegisters::from_values([RegisterValue { id: MrId::Pcr(10), value: pcr10 }])?;
//! let report: Checked<_> = ima::verify(ImaInput::from_bytes(&list), &typed, &ImaOptions::default())?;
//! assert_eq!(report.entries, 1);
//! # Ok::<(), mr_core::Error>(())
//! ```
//!
//! A replay against asserted values is never `Verified`:
//!
//! ```compile_fail
//! # use mr_core::log::ima::{self, ImaInput, ImaOptions};
//! # use mr_core::{ExpectedRegisters, Verified};
//! let typed = ExpectedRegisters::new();
//! let report: Verified<_> = ima::verify(ImaInput::from_bytes(b""), &typed, &ImaOptions::default()).unwrap();
//! ```
//!
//! and a checkpoint anchor from a quote takes verified values only:
//!
//! ```compile_fail
//! # use mr_core::log::ima::Anchor;
//! # use mr_core::ExpectedRegisters;
//! let anchor = Anchor::td(ExpectedRegisters::new(), "identity".into());
//! ```

use std::ops::Deref;

use crate::register::{ExpectedRegisters, Provenance, VerifiedRegisters};

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::register::VerifiedRegisters {}
    impl Sealed for crate::register::ExpectedRegisters {}
    impl Sealed for super::ComputeOnly {}
}

/// What a replay compares its computed values with, and the type of its result (see the
/// [module documentation](self)). Implemented by [`VerifiedRegisters`], [`ExpectedRegisters`]
/// and [`ComputeOnly`] only.
pub trait Reference: sealed::Sealed {
    /// The result of a replay of a report `T` against this reference.
    type Outcome<T>;

    /// The values to compare with (`None`: compute only).
    fn expected(&self) -> Option<&ExpectedRegisters>;

    /// The root of trust that vouches for the values (`None`: nothing does).
    fn provenance(&self) -> Option<&Provenance>;

    /// Wrap a report of a replay that passed against these values.
    fn outcome<T>(&self, report: T) -> Self::Outcome<T>;

    /// The report inside an outcome (for code generic over the reference).
    fn report_of<T>(outcome: &Self::Outcome<T>) -> &T;

    /// The report inside an outcome, without its wrapper (for code generic over the reference
    /// that reports the result, such as a command-line tool printing it).
    fn into_report<T>(outcome: Self::Outcome<T>) -> T;
}

/// No values to compare with: the replay computes register values and checks each entry's own
/// digests, nothing more. Its result is the bare report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComputeOnly;

impl Reference for ComputeOnly {
    type Outcome<T> = T;

    fn expected(&self) -> Option<&ExpectedRegisters> {
        None
    }

    fn provenance(&self) -> Option<&Provenance> {
        None
    }

    fn outcome<T>(&self, report: T) -> T {
        report
    }

    fn report_of<T>(outcome: &T) -> &T {
        outcome
    }

    fn into_report<T>(outcome: T) -> T {
        outcome
    }
}

impl Reference for ExpectedRegisters {
    type Outcome<T> = Checked<T>;

    fn expected(&self) -> Option<&ExpectedRegisters> {
        Some(self)
    }

    fn provenance(&self) -> Option<&Provenance> {
        None
    }

    fn outcome<T>(&self, report: T) -> Checked<T> {
        Checked { report }
    }

    fn report_of<T>(outcome: &Checked<T>) -> &T {
        &outcome.report
    }

    fn into_report<T>(outcome: Checked<T>) -> T {
        outcome.report
    }
}

impl Reference for VerifiedRegisters {
    type Outcome<T> = Verified<T>;

    fn expected(&self) -> Option<&ExpectedRegisters> {
        Some(self.values())
    }

    fn provenance(&self) -> Option<&Provenance> {
        Some(VerifiedRegisters::provenance(self))
    }

    fn outcome<T>(&self, report: T) -> Verified<T> {
        Verified {
            report,
            provenance: self.provenance().clone(),
        }
    }

    fn report_of<T>(outcome: &Verified<T>) -> &T {
        &outcome.report
    }

    fn into_report<T>(outcome: Verified<T>) -> T {
        outcome.report
    }
}

/// A report whose log replayed to values a root of trust vouches for ([`VerifiedRegisters`]),
/// with that root's [`Provenance`]. Only a replay against `VerifiedRegisters` makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T> {
    report: T,
    provenance: Provenance,
}

impl<T> Verified<T> {
    /// The report.
    pub fn report(&self) -> &T {
        &self.report
    }

    /// Who vouches for the values the log replayed to.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// The report, without the provenance.
    pub fn into_report(self) -> T {
        self.report
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.report
    }
}

/// A report whose log replayed to values the caller asserted ([`ExpectedRegisters`]): the log is
/// consistent with them, and nothing vouches for the values themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked<T> {
    report: T,
}

impl<T> Checked<T> {
    /// The report.
    pub fn report(&self) -> &T {
        &self.report
    }

    /// The report, without the marker.
    pub fn into_report(self) -> T {
        self.report
    }
}

impl<T> Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.report
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::alg::{Digest, HashAlg};
    use crate::log::ima::{self, builder::ImaListBuilder, ImaReplayConfig};
    use crate::register::MrId;

    #[test]
    fn the_outcome_type_follows_the_reference_and_carries_the_provenance() {
        let mut b = ImaListBuilder::binary();
        let e = b.ima_ng(10, &HashAlg::Sha256.hash(b"f"), "/bin/f");
        let list = b.finish();
        let value =
            Digest::zero(HashAlg::Sha256).extended(e.template_digest(HashAlg::Sha256).as_bytes());
        let mut values = ExpectedRegisters::new();
        values.insert(MrId::Pcr(10), value).unwrap();
        let root = Provenance::TpmQuote {
            ak_name: "000bak".into(),
        };
        let verified = VerifiedRegisters::from_verified_root(root.clone(), values.clone());
        let cfg = ImaReplayConfig::default();

        let v: Verified<_> = ima::replay(&list[..], &cfg, &verified).unwrap();
        assert_eq!(v.provenance(), &root);
        let c: Checked<_> = ima::replay(&list[..], &cfg, &values).unwrap();
        // Without values the default banks are SHA-1 and SHA-256: ask for the verified bank.
        let sha256 = ImaReplayConfig::default().with_banks([HashAlg::Sha256]);
        let plain = ima::replay(&list[..], &sha256, &ComputeOnly).unwrap();
        // The same replay underneath: only the wrapper differs.
        assert_eq!(v.report(), c.report());
        assert_eq!(v.report().outcome.registers, plain.outcome.registers);
        assert_eq!(VerifiedRegisters::report_of(&v).entries, 1);
        assert_eq!(ExpectedRegisters::into_report(c).entries, 1);
        assert_eq!(VerifiedRegisters::provenance(&verified), &root);
        assert_eq!(Reference::provenance(&values), None);
        assert_eq!(Reference::provenance(&ComputeOnly), None);
    }

    #[test]
    fn a_selection_of_verified_values_keeps_their_provenance() {
        let mut values = ExpectedRegisters::new();
        values
            .insert(MrId::Rtmr(2), HashAlg::Sha384.hash(b"2"))
            .unwrap();
        values
            .insert(MrId::Rtmr(3), HashAlg::Sha384.hash(b"3"))
            .unwrap();
        let td = Provenance::TdQuote { root: "r".into() };
        let derived = Provenance::Derived {
            from: Box::new(td.clone()),
        };
        let all = VerifiedRegisters::from_verified_root(derived.clone(), values);
        let three = all.select(|id, _| *id == MrId::Rtmr(3));
        assert_eq!(three.len(), 1);
        assert_eq!(three.provenance(), &derived);
        assert_eq!(three.provenance().root(), &td);
        assert!(three.get(&MrId::Rtmr(2), HashAlg::Sha384).is_none());
        assert_eq!(
            three.get(&MrId::Rtmr(3), HashAlg::Sha384),
            all.get(&MrId::Rtmr(3), HashAlg::Sha384)
        );
    }
}
