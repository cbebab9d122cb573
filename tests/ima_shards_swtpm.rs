//! Shards under real swtpm quotes: a generated list is measured into PCR 10 and cut into five
//! shards with a quote at every cut; the manifest (each shard begins at the previous shard's end
//! quote) verifies. A missing shard, swapped shards, a begin stated instead of quoted, a shard
//! edited after its quote and a begin quote from another boot are each rejected.
#![cfg(feature = "tpm-device")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod swtpm_ima;

use mr::core::ComputeOnly;
use std::collections::HashMap;

use mr::core::log::ima::shards::{
    verify_manifest, AnchorSpec, ShardManifest, ShardSource, ShardSpec,
};
use mr::core::log::ima::{self, Anchor, HistoryError, ImaOptions, ImaReplayConfig};
use mr::core::Error;
use mr::tpm::device::{AkKind, Tpm};
use mr::tpm::harness::Swtpm;
use swtpm_ima::{measure, power_cycle, quote, verify, Measured};

/// Files in memory; quotes verified with mr-tpm.
struct Files(HashMap<String, Vec<u8>>);

impl ShardSource for Files {
    type Values = mr::core::VerifiedRegisters;

    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| Error::Io(std::io::Error::other(format!("no file {path}"))))
    }
    fn open_list(&mut self, path: &str) -> Result<Box<dyn std::io::BufRead + '_>, Error> {
        let f = self
            .0
            .get(path)
            .ok_or_else(|| Error::Io(std::io::Error::other(format!("no file {path}"))))?;
        Ok(Box::new(&f[..]))
    }
    fn quote(&mut self, spec: &AnchorSpec) -> Result<Anchor, Error> {
        let AnchorSpec::TpmQuote {
            attest,
            sig,
            ak,
            nonce,
            pcrs,
        } = spec
        else {
            panic!("only TPM quotes here");
        };
        let q = swtpm_ima::QuoteFiles {
            attest: self.read(attest)?,
            sig: self.read(sig)?,
            ak: self.read(ak)?,
            pcrs: String::from_utf8(self.read(pcrs)?).unwrap(),
        };
        Ok(verify(&q, &hex::decode(nonce).unwrap()))
    }
}

fn quote_spec(k: usize) -> AnchorSpec {
    AnchorSpec::TpmQuote {
        attest: format!("q{k}.attest"),
        sig: format!("q{k}.sig"),
        ak: format!("q{k}.ak"),
        nonce: hex::encode(format!("cut {k}")),
        pcrs: format!("q{k}.pcrs"),
    }
}

fn manifest(order: &[usize]) -> ShardManifest {
    ShardManifest {
        version: 1,
        shards: order
            .iter()
            .map(|&k| ShardSpec {
                list: format!("shard{k}.bin"),
                begin: if k == 0 {
                    AnchorSpec::Boot
                } else {
                    quote_spec(k - 1)
                },
                end: quote_spec(k),
            })
            .collect(),
    }
}

fn history(r: Result<impl std::fmt::Debug, Error>) -> HistoryError {
    match r {
        Err(Error::History(h)) => *h,
        other => panic!("expected a history error, got {other:?}"),
    }
}

#[test]
fn five_shards_with_quotes_at_every_cut_verify_and_broken_chains_are_rejected() {
    let swtpm = Swtpm::start().expect("swtpm (scripts/install-deps.sh installs it)");
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let mut m = Measured::new(&tpm);
    let mut files = HashMap::new();
    let mut at = 0usize;
    for k in 0..5 {
        measure(&tpm, &mut m, 10 + 3 * k as u64);
        let bytes = m.list.as_bytes();
        files.insert(format!("shard{k}.bin"), bytes[at..].to_vec());
        at = bytes.len();
        let q = quote(&tpm, &ak, format!("cut {k}").as_bytes());
        files.insert(format!("q{k}.attest"), q.attest);
        files.insert(format!("q{k}.sig"), q.sig);
        files.insert(format!("q{k}.ak"), q.ak);
        files.insert(format!("q{k}.pcrs"), q.pcrs.into_bytes());
    }
    let whole = m.list.as_bytes().to_vec();
    let cfg = ImaOptions::default();

    let m0 = manifest(&[0, 1, 2, 3, 4]);
    let parsed = ShardManifest::from_json(m0.to_json().as_bytes()).unwrap();
    assert_eq!(parsed, m0);
    let report = verify_manifest(&parsed, &mut Files(files.clone()), &cfg, None).unwrap();
    assert_eq!(report.shards.len(), 5);
    assert_eq!(report.entries(), m.n);
    let full = ima::replay(&whole[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    assert_eq!(report.last_checkpoint().registers(), full.outcome.registers);

    // A missing shard: the chain has a gap between shard 1 and (old) shard 3.
    let h = history(verify_manifest(
        &manifest(&[0, 1, 3, 4]),
        &mut Files(files.clone()),
        &cfg,
        None,
    ));
    assert!(matches!(h, HistoryError::Shard { shard: 2, .. }), "{h}");
    // Swapped shards.
    let h = history(verify_manifest(
        &manifest(&[0, 2, 1, 3, 4]),
        &mut Files(files.clone()),
        &cfg,
        None,
    ));
    assert!(matches!(h, HistoryError::Shard { shard: 1, .. }), "{h}");
    // A missing shard hidden by a manifest that claims shard 3 begins where shard 1 ended.
    let mut hidden = manifest(&[0, 1, 3, 4]);
    hidden.shards[2].begin = quote_spec(1);
    let h = history(verify_manifest(
        &hidden,
        &mut Files(files.clone()),
        &cfg,
        None,
    ));
    assert!(
        matches!(h, HistoryError::ShardReplay { shard: 2, .. }),
        "{h}"
    );

    // A forged begin: the right values, but stated, not quoted.
    let mut forged = manifest(&[0, 1, 2, 3, 4]);
    let values: Vec<String> = String::from_utf8(files["q2.pcrs"].clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    forged.shards[3].begin = AnchorSpec::Values { registers: values };
    let h = history(verify_manifest(
        &forged,
        &mut Files(files.clone()),
        &cfg,
        None,
    ));
    assert!(matches!(h, HistoryError::UnanchoredStart { .. }), "{h}");
    // A forged snapshot-style start for the whole chain: the last shard alone, begun at values.
    let mut alone = manifest(&[4]);
    alone.shards[0].begin = AnchorSpec::Values {
        registers: String::from_utf8(files["q3.pcrs"].clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    };
    let h = history(verify_manifest(
        &alone,
        &mut Files(files.clone()),
        &cfg,
        None,
    ));
    assert!(matches!(h, HistoryError::UnanchoredStart { .. }), "{h}");

    // A shard edited after its quote.
    let mut edited = files.clone();
    let s = edited.get_mut("shard3.bin").unwrap();
    let at = s.windows(9).position(|w| w == b"/usr/bin/").unwrap();
    s[at + 1] = b'v';
    let h = history(verify_manifest(&m0, &mut Files(edited), &cfg, None));
    assert!(
        matches!(h, HistoryError::ShardReplay { shard: 3, .. }),
        "{h}"
    );

    // A begin quote from another boot with the very same PCR values.
    drop(ak);
    drop(tpm);
    power_cycle(&swtpm);
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let mut again = Measured::new(&tpm);
    let upto: u64 = (0..3).map(|k| 10 + 3 * k as u64).sum();
    measure(&tpm, &mut again, upto);
    let ak = tpm.create_ak(AkKind::EccP256).unwrap();
    let q = quote(&tpm, &ak, b"cut 2");
    assert_eq!(q.pcrs.as_bytes(), &files["q2.pcrs"][..], "same values");
    let mut rebooted = files.clone();
    rebooted.insert("q2.attest".into(), q.attest);
    rebooted.insert("q2.sig".into(), q.sig);
    let mut m_reboot = manifest(&[0, 1, 2, 3, 4]);
    // Shard 2 still ends at the original cut-2 quote; shard 3 begins at the new boot's quote.
    m_reboot.shards[3].begin = AnchorSpec::TpmQuote {
        attest: "q2r.attest".into(),
        sig: "q2r.sig".into(),
        ak: "q2.ak".into(),
        nonce: hex::encode("cut 2"),
        pcrs: "q2.pcrs".into(),
    };
    let mut both = files.clone();
    both.insert("q2r.attest".into(), rebooted["q2.attest"].clone());
    both.insert("q2r.sig".into(), rebooted["q2.sig"].clone());
    let h = history(verify_manifest(&m_reboot, &mut Files(both), &cfg, None));
    assert!(matches!(h, HistoryError::Shard { shard: 3, .. }), "{h}");
    assert!(h.to_string().contains("another boot"), "{h}");
}
