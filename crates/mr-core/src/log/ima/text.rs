//! The text and JSON forms of the IMA reports, as `mr ima replay` and `mr ima shards verify`
//! print them (the CLI contract, docs/cli.md): a verifier that embeds mr prints the same.

use std::fmt::Write as _;

use crate::register::registers_json;

use super::checkpoint::Verification;
use super::replay::{DigestMode, ImaReplayReport};
use super::shards::ShardsReport;
use super::ListKind;

/// The name of a digest mode in reports and checkpoints.
pub(crate) fn mode_name(m: DigestMode) -> &'static str {
    match m {
        DigestMode::PerBank => "per-bank",
        DigestMode::PaddedSha1 => "padded-sha1",
        DigestMode::Auto => "auto",
    }
}

impl ImaReplayReport {
    /// The report as JSON: final registers, entries, coverage (`covered`, `not_covered`,
    /// `left_over`), violations, boot aggregates, digest mode, banks, format, trailing bytes and
    /// the kexec findings. `verified` is `true` when `checked` (the replay was compared with
    /// values), `null` otherwise.
    pub fn to_json(&self, checked: bool) -> serde_json::Value {
        let boot: Vec<serde_json::Value> = self
            .boot_aggregates
            .iter()
            .map(|b| {
                serde_json::json!({
                    "entry": b.entry,
                    "pcr": b.pcr,
                    "alg": b.digest.alg().name(),
                    "digest": b.digest.to_hex(),
                    "no_tpm": b.no_tpm,
                })
            })
            .collect();
        let kexec: Vec<String> = self.kexec.findings.iter().map(|f| f.to_string()).collect();
        serde_json::json!({
            "registers": registers_json(&self.outcome.registers),
            "entries": self.entries,
            "verified": checked.then_some(true),
            "covered": self.outcome.covered_entries(),
            "not_covered": self.outcome.not_covered_json(),
            "left_over": self.outcome.covered.map(|_| self.outcome.left_over()),
            "violations": self.violations,
            "boot_aggregates": boot,
            "boot_aggregate_count": self.boot_aggregate_count,
            "first_no_tpm_boot": self.first_no_tpm_boot,
            "digest_mode": mode_name(self.digest_mode),
            "banks": self.banks.iter().map(|b| b.name()).collect::<Vec<_>>(),
            "format": {
                "kind": match self.format.kind { ListKind::Binary => "binary", ListKind::Ascii => "ascii" },
                "endian": self.format.endian.to_string(),
                "column": self.format.column.name(),
            },
            "trailing_bytes": self.trailing_bytes,
            "kexec_findings": kexec,
        })
    }

    /// The report as text, one fact a line: format, entries, trailing bytes, boot aggregates,
    /// final registers (`ID:ALG:HEX`) and, when `checked`, the coverage and the entries no
    /// verified value covers. The kexec findings are not in it (see [`super::kexec`]).
    pub fn to_text(&self, checked: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "list: {}", self.format);
        let _ = write!(s, "entries: {}", self.entries);
        if self.violations > 0 {
            let _ = write!(s, " ({} violations)", self.violations);
        }
        s.push('\n');
        if self.trailing_bytes > 0 {
            let _ = writeln!(s, "trailing bytes ignored: {}", self.trailing_bytes);
        }
        for b in &self.boot_aggregates {
            let _ = writeln!(
                s,
                "boot_aggregate: entry {} {}:{}{}",
                b.entry,
                b.digest.alg(),
                b.digest,
                if b.no_tpm {
                    " (all zero: booted without a TPM)"
                } else {
                    ""
                }
            );
        }
        if self.boot_aggregate_count > self.boot_aggregates.len() as u64 {
            let _ = writeln!(
                s,
                "boot_aggregate entries: {} in all",
                self.boot_aggregate_count
            );
        }
        for rv in &self.outcome.registers {
            let _ = writeln!(s, "{rv}");
        }
        if checked {
            let _ = writeln!(
                s,
                "verified: {} entries covered, {} left over (digest mode {})",
                self.outcome.covered_entries().unwrap_or(0),
                self.outcome.left_over(),
                mode_name(self.digest_mode)
            );
            if let Some(line) = self.outcome.not_covered_line(("entry", "entries")) {
                let _ = writeln!(s, "{line}");
            }
        }
        s
    }
}

impl Verification {
    /// The verification as JSON: the report ([`ImaReplayReport::to_json`], checked), the
    /// first replayed entry, the new checkpoint's fields (not a file: files are sealed), whether
    /// a TPM resume was accepted and the root the checkpoint is anchored to.
    pub fn to_json(&self) -> serde_json::Value {
        let mut j = self.report.to_json(true);
        j["first_entry"] = self.first_entry.into();
        j["checkpoint"] =
            serde_json::from_str(&self.checkpoint.to_json()).unwrap_or(serde_json::Value::Null);
        j["tpm_resumed"] = self.tpm_resumed.into();
        j["root"] = self.checkpoint.root().to_string().into();
        j
    }

    /// The verification as text: the report ([`ImaReplayReport::to_text`], checked), the root,
    /// and where a resumed verification started.
    pub fn to_text(&self) -> String {
        let mut s = self.report.to_text(true);
        let _ = writeln!(s, "anchored to: {}", self.checkpoint.root());
        if self.first_entry > 0 {
            let _ = writeln!(
                s,
                "resumed from the checkpoint at entry {} ({} new entries replayed{})",
                self.first_entry,
                self.report.entries,
                if self.tpm_resumed {
                    ", TPM resumed"
                } else {
                    ""
                }
            );
        }
        s
    }
}

impl ShardsReport {
    /// The chain as JSON: `verified`, each shard (list, first entry, entries, root), the entries
    /// in all and the registers after the last shard.
    pub fn to_json(&self) -> serde_json::Value {
        let shards: Vec<serde_json::Value> = self
            .shards
            .iter()
            .map(|v| {
                serde_json::json!({
                    "list": v.list,
                    "first_entry": v.first_entry,
                    "entries": v.entries,
                    "root": v.root.to_string(),
                })
            })
            .collect();
        serde_json::json!({
            "verified": true,
            "shards": shards,
            "entries": self.entries(),
            "registers": registers_json(self.last_checkpoint().registers()),
        })
    }

    /// The chain as text: a line per shard, the registers after the last one, and the totals.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.shards.iter().enumerate() {
            let _ = writeln!(
                s,
                "shard {k} ({}): entries {}..{} verified, end anchored to {}",
                v.list,
                v.first_entry,
                v.first_entry + v.entries,
                v.root
            );
        }
        for rv in self.last_checkpoint().registers() {
            let _ = writeln!(s, "{rv}");
        }
        let _ = writeln!(
            s,
            "verified: {} shards, {} entries",
            self.shards.len(),
            self.entries()
        );
        s
    }
}
