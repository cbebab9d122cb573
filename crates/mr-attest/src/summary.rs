//! A result of an IMA list's verification in brief, for tables that set several results side by
//! side (`mr demo`: one list under a TPM root and a TD root, then tampered): a one-line verdict,
//! one register value shortened, the message, and a small JSON object.

use mr_core::register::registers_json;
use mr_core::HashAlg;

use crate::AttestationResult;

impl AttestationResult {
    /// The failure's message, or `accepted`.
    pub fn summary_message(&self) -> &str {
        self.failure
            .as_ref()
            .map_or("accepted", |f| f.message.as_str())
    }

    /// One line: `VERIFIED (N entries, M left over)`, `REJECTED (entry E)` (the first bad
    /// entry of the list), `REJECTED (REASON)`, or `REJECTED (no IMA replay)`.
    pub fn summary_verdict(&self) -> String {
        match (&self.ima, &self.failure) {
            (Some(ima), None) if self.verified => format!(
                "VERIFIED ({} entries, {} left over)",
                ima.replay.entries,
                ima.replay.outcome.left_over()
            ),
            (_, Some(f)) => match f
                .details
                .as_ref()
                .and_then(|d| d.get("bad_entry"))
                .and_then(|b| b.get("entry"))
            {
                Some(e) => format!("REJECTED (entry {e})"),
                None => format!("REJECTED ({})", f.reason),
            },
            _ => "REJECTED (no IMA replay)".to_owned(),
        }
    }

    /// The verified IMA register's value in bank `alg`, `ID HEX…` with the first 16 hex digits,
    /// or empty when the result is not verified or has no such bank.
    pub fn summary_value(&self, alg: HashAlg) -> String {
        self.ima
            .as_ref()
            .filter(|_| self.verified)
            .and_then(|ima| {
                ima.replay
                    .outcome
                    .registers
                    .iter()
                    .find(|r| r.value.alg() == alg)
                    .map(|r| {
                        let hex = r.value.to_hex();
                        let short = hex
                            .get(..16)
                            .map_or_else(|| hex.clone(), |h| format!("{h}…"));
                        format!("{} {short}", r.id)
                    })
            })
            .unwrap_or_default()
    }

    /// JSON. Verified: `verified`, `root`, `ima_entries`, `covered`, `left_over`,
    /// `violations`, `against`, `provenance`, `registers`, `journal_records`, `reason` (null).
    /// Rejected: `verified`, `root`, `reason`, `message` and, when the list has one, its
    /// `bad_entry`.
    pub fn summary_json(&self) -> serde_json::Value {
        match (&self.ima, &self.failure) {
            (Some(ima), None) if self.verified => {
                let covered = ima.replay.outcome.covered.unwrap_or(ima.replay.entries);
                serde_json::json!({
                    "verified": true,
                    "root": self.root.name(),
                    "ima_entries": ima.replay.entries,
                    "covered": covered,
                    "left_over": ima.replay.entries - covered.min(ima.replay.entries),
                    "violations": ima.replay.violations,
                    "against": ima.against,
                    "provenance": self.provenance,
                    "registers": registers_json(&self.register_values()),
                    "journal_records": self.journal.as_ref().map(|j| j.records),
                    "reason": serde_json::Value::Null,
                })
            }
            _ => {
                let rejection = self.rejection_json();
                let mut j = serde_json::json!({
                    "verified": false,
                    "root": self.root.name(),
                    "reason": rejection["reason"],
                    "message": rejection["message"],
                });
                if let Some(bad) = rejection.get("bad_entry") {
                    j["bad_entry"] = bad.clone();
                }
                j
            }
        }
    }
}
