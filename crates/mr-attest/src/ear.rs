//! The attestation result as an EAR claims set: IETF RATS "EAT Attestation Results"
//! (draft-fv-rats-ear, the format of Veraison and of Confidential Containers' trustee), whose
//! trustworthiness vector is the one of "Attestation Results for Secure Interactions" (AR4SI,
//! draft-ietf-rats-ar4si).
//!
//! The claims set is unsigned: signing it (JWT or COSE) is the relying party's verifier's job,
//! with its own key.
//!
//! What mr claims, per submodule (one per root: `tpm` or `td`):
//! - `instance-identity`: 2 (recognized instance) when the quote verified against the AK or trust
//!   anchor the caller gave; 99 (cryptographic validation failed) when it did not.
//! - `hardware` (TD only): 2 (genuine) when the quote chains to the trust anchor and the quoting
//!   enclave is Intel's; 32 (unsafe) when collateral says the TCB is not up to date; 97
//!   (unrecognized) when the QE or the TCB evaluation is refused.
//! - `runtime-opaque` (TD only): 2 (encrypted memory) for a TD without DEBUG; 96 (visible) for a
//!   debug TD, accepted or not.
//! - `executables`: 99 when a log (boot log, CCEL, journal, IMA list) does not replay to the
//!   values the root vouches for, or those values are not what the quote signed. A list that
//!   does replay is not a claim that its executables are approved: without an appraisal policy
//!   mr makes no claim then.
//! - With an appraisal policy (`crate::appraisal`): `executables` 2 (approved runtime) when the
//!   IMA runtime policy allows every covered entry, 3 (approved boot) when only reference values
//!   of boot-time registers were checked, 33 (unrecognized) when a reference value or an entry
//!   fails, 96 (contraindicated) when a covered entry is in the deny list; `configuration` 2
//!   when the configuration rules (TD attributes, XFAM, MRCONFIGID, Secure Boot, …) hold, 96
//!   when one fails; `hardware` 96 when a platform rule (TCB status, SVNs, MRSEAM, collateral
//!   date) fails. A claim is only ever lowered by the policy, never raised above what the
//!   verification found.
//!
//! `ear.status` is the worst tier of the vector, and never `affirming` for a result that did not
//! verify.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Step;
use crate::report::{AttestationResult, RootKind, RuleStatus};

/// The EAR profile of the claims set.
pub const EAR_PROFILE: &str = "tag:github.com,2023:veraison/ear";

/// `ear.verifier-id`: who built the verifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierId {
    /// The organisation or project that develops the verifier.
    pub developer: String,
    /// The verifier's build (name and version).
    pub build: String,
}

impl VerifierId {
    /// mr itself: the repository and `mr-attest <version>`.
    pub fn mr() -> VerifierId {
        VerifierId {
            developer: env!("CARGO_PKG_REPOSITORY").to_owned(),
            build: format!("mr-attest {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// An AR4SI trust tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustTier {
    /// No claim (values -128..=1).
    None,
    /// Affirming (2..=31).
    Affirming,
    /// Warning (32..=95).
    Warning,
    /// Contraindicated (96..=127).
    Contraindicated,
}

impl TrustTier {
    /// The tier of an AR4SI claim value.
    pub fn of(value: i8) -> TrustTier {
        match value {
            2..=31 => TrustTier::Affirming,
            32..=95 => TrustTier::Warning,
            96..=127 => TrustTier::Contraindicated,
            _ => TrustTier::None,
        }
    }
}

/// `ear.trustworthiness-vector`: AR4SI claims, each -128..=127; absent = no claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrustVector {
    /// Is the attester the instance it claims to be?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_identity: Option<i8>,
    /// Is its configuration approved?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub configuration: Option<i8>,
    /// Were only approved executables loaded?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub executables: Option<i8>,
    /// Are its file systems approved?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_system: Option<i8>,
    /// Is the hardware genuine and up to date?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hardware: Option<i8>,
    /// Is its runtime memory hidden from the host?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runtime_opaque: Option<i8>,
    /// Are its stored secrets encrypted?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub storage_opaque: Option<i8>,
    /// Are the data it uses from trusted sources?
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sourced_data: Option<i8>,
}

impl TrustVector {
    fn claims(&self) -> [Option<i8>; 8] {
        [
            self.instance_identity,
            self.configuration,
            self.executables,
            self.file_system,
            self.hardware,
            self.runtime_opaque,
            self.storage_opaque,
            self.sourced_data,
        ]
    }

    /// True when no claim is set.
    pub fn is_empty(&self) -> bool {
        self.claims().iter().all(Option::is_none)
    }

    /// The worst tier of the claims set (`none` when none is).
    pub fn tier(&self) -> TrustTier {
        self.claims()
            .iter()
            .flatten()
            .map(|v| TrustTier::of(*v))
            .max()
            .unwrap_or(TrustTier::None)
    }
}

/// One submodule's appraisal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appraisal {
    /// `ear.status`.
    #[serde(rename = "ear.status")]
    pub status: TrustTier,
    /// `ear.trustworthiness-vector`.
    #[serde(
        rename = "ear.trustworthiness-vector",
        skip_serializing_if = "TrustVector::is_empty",
        default
    )]
    pub trust_vector: TrustVector,
    /// `ear.appraisal-policy-id`.
    #[serde(
        rename = "ear.appraisal-policy-id",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub policy_id: Option<String>,
}

/// An EAR claims set (unsigned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarClaims {
    /// `eat_profile`: [`EAR_PROFILE`].
    #[serde(rename = "eat_profile")]
    pub profile: String,
    /// `iat`: when the result was made, seconds since the Unix epoch.
    pub iat: i64,
    /// `ear.verifier-id`.
    #[serde(rename = "ear.verifier-id")]
    pub verifier_id: VerifierId,
    /// `submods`: one appraisal per attested submodule.
    pub submods: BTreeMap<String, Appraisal>,
}

/// AR4SI values mr uses.
mod ar4si {
    pub const RECOGNIZED_INSTANCE: i8 = 2;
    pub const CRYPTO_FAILED: i8 = 99;
    pub const GENUINE_HW: i8 = 2;
    pub const UNSAFE_HW: i8 = 32;
    pub const UNRECOGNIZED_HW: i8 = 97;
    pub const ENCRYPTED_RT: i8 = 2;
    pub const VISIBLE_RT: i8 = 96;
    pub const APPROVED_RUNTIME: i8 = 2;
    pub const APPROVED_BOOT: i8 = 3;
    pub const UNRECOGNIZED_RUNTIME: i8 = 33;
    pub const CONTRAINDICATED_RUNTIME: i8 = 96;
    pub const APPROVED_CONFIG: i8 = 2;
    pub const UNSUPPORTABLE_CONFIG: i8 = 96;
    pub const CONTRAINDICATED_HW: i8 = 96;
}

/// `claim` set to `value` unless it already holds a worse tier.
fn lower(claim: &mut Option<i8>, value: i8) {
    if claim.is_none_or(|c| TrustTier::of(c) < TrustTier::of(value)) {
        *claim = Some(value);
    }
}

impl AttestationResult {
    /// The trustworthiness vector of this result (see the [module documentation](crate::ear)).
    pub fn trust_vector(&self) -> TrustVector {
        let mut v = TrustVector::default();
        let failed_step = self.failure.as_ref().map(|f| f.step);
        if self.quote.is_some() {
            v.instance_identity = Some(ar4si::RECOGNIZED_INSTANCE);
        } else if failed_step == Some(Step::Root) {
            v.instance_identity = Some(ar4si::CRYPTO_FAILED);
        }
        if self.root == RootKind::Td {
            let status = |name: &str| self.rule(name).map(|r| r.status);
            let fails = |name: &str| status(name) == Some(RuleStatus::Fail);
            if fails("qe_identity") || fails("tcb_status") {
                v.hardware = Some(ar4si::UNRECOGNIZED_HW);
            } else if status("tcb_status") == Some(RuleStatus::Warn) {
                v.hardware = Some(ar4si::UNSAFE_HW);
            } else if self.quote.is_some() {
                v.hardware = Some(ar4si::GENUINE_HW);
            }
            match status("debug_td") {
                Some(RuleStatus::Pass) => v.runtime_opaque = Some(ar4si::ENCRYPTED_RT),
                Some(RuleStatus::Warn | RuleStatus::Fail) => {
                    v.runtime_opaque = Some(ar4si::VISIBLE_RT)
                }
                _ => {}
            }
        }
        // A vTPM's quote exists in the result only once its hardware report (TD quote, or SNP
        // report under the VCEK chain) verified, VMPL and debug policy included.
        if let Some(crate::report::QuoteReport::Vtpm(q)) = &self.quote {
            let (debug, up_to_date) = match &q.hardware {
                mr_vtpm::VerifiedHardware::Tdx(t) => (
                    t.td_attributes().is_debug(),
                    t.tcb_status().is_none_or(|s| s.is_up_to_date()),
                ),
                mr_vtpm::VerifiedHardware::Snp(s) => (s.report.debug_allowed(), true),
            };
            v.hardware = Some(if up_to_date {
                ar4si::GENUINE_HW
            } else {
                ar4si::UNSAFE_HW
            });
            v.runtime_opaque = Some(if debug {
                ar4si::VISIBLE_RT
            } else {
                ar4si::ENCRYPTED_RT
            });
        }
        if matches!(
            failed_step,
            Some(Step::Registers | Step::BootLog | Step::Journal | Step::Ima | Step::BootAggregate)
        ) {
            v.executables = Some(ar4si::CRYPTO_FAILED);
        }
        if let Some(a) = &self.appraisal {
            self.appraisal_claims(a, &mut v);
        }
        v
    }

    /// The claims the appraisal policy decides: reference values met raise `executables` (2
    /// with a runtime policy, 3 for boot-time values only) and `configuration` (2); a failed
    /// rule lowers its claim (`executables` 33, or 96 for a denied entry; `configuration` 96;
    /// `hardware` 96).
    fn appraisal_claims(&self, a: &crate::appraisal::AppraisalReport, v: &mut TrustVector) {
        use mr_policy::Claim;
        let failed = a.failed_claims();
        let checked = |claim: Claim| a.checks.iter().any(|c| c.claim == claim);
        if failed.contains(&Claim::Executables) {
            let value = if a.denied() {
                ar4si::CONTRAINDICATED_RUNTIME
            } else {
                ar4si::UNRECOGNIZED_RUNTIME
            };
            lower(&mut v.executables, value);
        } else if a.runtime.is_some() {
            lower(&mut v.executables, ar4si::APPROVED_RUNTIME);
        } else if checked(Claim::Executables) {
            lower(&mut v.executables, ar4si::APPROVED_BOOT);
        }
        if failed.contains(&Claim::Configuration) {
            lower(&mut v.configuration, ar4si::UNSUPPORTABLE_CONFIG);
        } else if checked(Claim::Configuration) {
            lower(&mut v.configuration, ar4si::APPROVED_CONFIG);
        }
        if failed.contains(&Claim::Hardware) {
            lower(&mut v.hardware, ar4si::CONTRAINDICATED_HW);
        }
    }

    /// This result as an EAR claims set with one submodule named after the root (`tpm`, `td`, `vtpm`),
    /// issued at `iat` (seconds since the Unix epoch: the library never reads the clock) by
    /// `verifier`, under the appraisal policy `policy_id` if the caller has one.
    pub fn to_ear(&self, iat: i64, verifier: VerifierId, policy_id: Option<String>) -> EarClaims {
        let trust_vector = self.trust_vector();
        let mut status = trust_vector.tier();
        if !self.verified {
            status = TrustTier::Contraindicated;
        }
        EarClaims {
            profile: EAR_PROFILE.to_owned(),
            iat,
            verifier_id: verifier,
            submods: BTreeMap::from([(
                self.root.name().to_owned(),
                Appraisal {
                    status,
                    trust_vector,
                    policy_id,
                },
            )]),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// The example claims set of draft-fv-rats-ear (a PSA/TPM submodule appraised by Veraison),
    /// in JSON.
    const DRAFT_EXAMPLE: &str = r#"{
        "eat_profile": "tag:github.com,2023:veraison/ear",
        "iat": 1666529184,
        "ear.verifier-id": {
            "developer": "https://veraison-project.org",
            "build": "vts 0.0.1"
        },
        "submods": {
            "PARSEC_TPM": {
                "ear.status": "affirming",
                "ear.trustworthiness-vector": {
                    "instance-identity": 2,
                    "executables": 3,
                    "hardware": 2
                },
                "ear.appraisal-policy-id": "https://veraison.example/policy/1/60a0068d"
            }
        }
    }"#;

    #[test]
    fn the_drafts_example_round_trips() {
        let claims: EarClaims = serde_json::from_str(DRAFT_EXAMPLE).expect("the draft's example");
        assert_eq!(claims.profile, EAR_PROFILE);
        let a = &claims.submods["PARSEC_TPM"];
        assert_eq!(a.status, TrustTier::Affirming);
        assert_eq!(a.trust_vector.executables, Some(3));
        assert_eq!(a.trust_vector.tier(), TrustTier::Affirming);
        let original: serde_json::Value = serde_json::from_str(DRAFT_EXAMPLE).unwrap_or_default();
        assert_eq!(serde_json::to_value(&claims).ok(), Some(original));
    }

    #[test]
    fn tiers_follow_ar4si_ranges() {
        for (v, t) in [
            (-1, TrustTier::None),
            (0, TrustTier::None),
            (1, TrustTier::None),
            (2, TrustTier::Affirming),
            (31, TrustTier::Affirming),
            (32, TrustTier::Warning),
            (95, TrustTier::Warning),
            (96, TrustTier::Contraindicated),
            (99, TrustTier::Contraindicated),
            (127, TrustTier::Contraindicated),
        ] {
            assert_eq!(TrustTier::of(v), t, "{v}");
        }
        let v = TrustVector {
            instance_identity: Some(2),
            hardware: Some(32),
            executables: Some(99),
            ..TrustVector::default()
        };
        assert_eq!(v.tier(), TrustTier::Contraindicated);
        assert!(TrustVector::default().is_empty());
    }
}
