//! Incremental verification against a full replay, measured in the same run.
//!
//! Input: a 100 000-entry synthetic binary list (mr's sample generator) verified in the SHA-1 and
//! SHA-256 banks of PCR 10, and a checkpoint made after its first 99 000 entries.
//!
//! - `full_replay_verifying` (baseline): `ima::replay` of the whole list against the final values.
//! - `verify_from_boot_with_checkpoint`: the same verification plus the checkpoint (prefix hash
//!   chain over every entry's bytes): the cost of keeping state.
//! - `resume_tail`: the 1 000 new entries only, from the checkpoint.
//! - `resume_full_list`: the whole list given; the 99 000-entry prefix is checked against the
//!   checkpoint's hash chain (parse + SHA-256, no template digests) and 1 000 entries replayed.
//!
//! Group `never_extended`: a 5 000-entry list whose entry 10 was logged but never extended;
//! `search` finds it (newest candidates first: about 12.5 M SHA-1 extends, the worst case under
//! the default budget of 2^24), `replay_baseline` is one verifying replay of the same list.
//!
//! Run: `cargo bench --bench ima_checkpoint`. Report each as a ratio to its group's baseline.
#![allow(clippy::expect_used, missing_docs)] // criterion_group! makes an undocumented fn

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mr::core::{ComputeOnly, ExpectedRegisters};

use mr::core::log::ima::extend::{
    find_never_extended, SearchOutcome, DEFAULT_NEVER_EXTENDED_BUDGET,
};
use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{
    replay, resume, Anchor, ImaInput, ImaOptions, ImaReader, ImaReaderOptions, ImaReplayConfig,
    ListKind, ResumeFrom,
};
use mr::core::HashAlg;

const ENTRIES: u64 = 100_000;
const CHECKPOINT_AT: u64 = 99_000;

fn bench(c: &mut Criterion) {
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let mut list = Vec::new();
    let summary = write_sample_list(&mut list, ListKind::Binary, ENTRIES, &banks, 1)
        .expect("writing to a Vec cannot fail");
    let end = Anchor::asserted(ExpectedRegisters::from_values(summary.expected).expect("values"));
    let cut = {
        let mut r = ImaReader::new(&list[..], ImaReaderOptions::default());
        let mut at = 0u64;
        while let Some(e) = r.next_entry().expect("valid list") {
            if e.index() == CHECKPOINT_AT {
                at = e.offset();
                break;
            }
        }
        usize::try_from(at).expect("fits")
    };
    let prefix = &list[..cut];
    let prefix_values = replay(prefix, &ImaReplayConfig::default(), &ComputeOnly)
        .expect("replays")
        .outcome
        .registers;
    let at_cut = Anchor::asserted(ExpectedRegisters::from_values(prefix_values).expect("values"));
    let cfg = ImaOptions::default();
    let cp = resume(
        ImaInput::from_bytes(prefix),
        ResumeFrom::Boot,
        &at_cut,
        &cfg,
    )
    .expect("verifies")
    .into_report()
    .checkpoint;
    assert_eq!(cp.entries(), CHECKPOINT_AT);
    let tail = &list[cut..];

    let mut g = c.benchmark_group("ima_checkpoint");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ENTRIES));
    g.bench_function("full_replay_verifying", |b| {
        b.iter(|| {
            replay(&list[..], &ImaReplayConfig::default(), end.registers()).expect("verifies")
        })
    });
    g.bench_function("verify_from_boot_with_checkpoint", |b| {
        b.iter(|| {
            resume(ImaInput::from_bytes(&list), ResumeFrom::Boot, &end, &cfg).expect("verifies")
        })
    });
    g.bench_function("resume_tail", |b| {
        b.iter(|| {
            resume(
                ImaInput::from_bytes(tail),
                ResumeFrom::Tail(&cp),
                &end,
                &cfg,
            )
            .expect("verifies")
        })
    });
    g.bench_function("resume_full_list", |b| {
        b.iter(|| {
            resume(
                ImaInput::from_bytes(&list),
                ResumeFrom::Full(&cp),
                &end,
                &cfg,
            )
            .expect("verifies")
        })
    });
    g.finish();

    // Never extended: entry 10 of a 5 000-entry list.
    let mut small = Vec::new();
    write_sample_list(&mut small, ListKind::Binary, 5_000, &banks, 2).expect("vec");
    let offsets: Vec<usize> = {
        let mut r = ImaReader::new(&small[..], ImaReaderOptions::default());
        let mut v = Vec::new();
        while let Some(e) = r.next_entry().expect("valid list") {
            v.push(usize::try_from(e.offset()).expect("fits"));
        }
        v
    };
    let mut without = small[..offsets[10]].to_vec();
    without.extend_from_slice(&small[offsets[11]..]);
    let values = replay(&without[..], &ImaReplayConfig::default(), &ComputeOnly)
        .expect("replays")
        .outcome
        .registers;
    let expected = ExpectedRegisters::from_values(values).expect("values");
    let cfg = ImaReplayConfig::default();
    assert!(replay(&small[..], &cfg, &expected).is_err());
    let mut g = c.benchmark_group("never_extended");
    g.sample_size(10);
    g.bench_function("replay_baseline", |b| {
        b.iter(|| replay(&small[..], &cfg, &expected).is_err())
    });
    g.bench_function("search", |b| {
        b.iter(|| {
            let out =
                find_never_extended(&small[..], &cfg, &expected, DEFAULT_NEVER_EXTENDED_BUDGET)
                    .expect("parses")
                    .outcome;
            assert!(matches!(out, SearchOutcome::Found(ref f) if f.entry == 10));
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
