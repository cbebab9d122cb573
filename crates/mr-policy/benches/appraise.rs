//! Appraisal throughput: a 100 000-entry list (ima-ng, ASCII and binary) against a runtime policy
//! of all its paths (every entry looked up and allowed), on one thread (`appraise_list`) and on
//! two (`appraise_input`, as `mr ima appraise` calls it, threads pinned), and the parse-only
//! floor (`ImaReader` over the same list, no appraisal) measured in the same run.
//!
//! Run: `cargo bench -p mr-policy --bench appraise -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{ImaInput, ImaReader, ImaReaderOptions};
use mr_core::HashAlg;
use mr_policy::create::PolicyBuilder;
use mr_policy::{appraise_input, appraise_list, AppraiseOptions, ListOptions, RuntimePolicy};

const ENTRIES: u64 = 100_000;

fn list(mut b: ImaListBuilder) -> Vec<u8> {
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    for i in 1..ENTRIES {
        let path = format!("/usr/lib/pkg{}/file{i}.so", i % 997);
        b.ima_ng(10, &HashAlg::Sha256.hash(path.as_bytes()), &path);
    }
    b.finish()
}

fn bench(c: &mut Criterion) {
    let ascii = list(ImaListBuilder::ascii());
    let binary = list(ImaListBuilder::binary());
    let mut pb = PolicyBuilder::new();
    pb.add_list(&mut ImaReader::new(
        &binary[..],
        ImaReaderOptions::default(),
    ))
    .unwrap();
    let json = pb.to_json().to_string();
    let policy = RuntimePolicy::from_json(json.as_bytes()).unwrap();
    let mut g = c.benchmark_group("appraise_100k");
    g.throughput(Throughput::Elements(ENTRIES));
    g.sample_size(10);
    for (name, bytes) in [("ascii", &ascii), ("binary", &binary)] {
        g.bench_function(format!("parse_only_{name}"), |b| {
            b.iter(|| {
                let mut r = ImaReader::new(&bytes[..], ImaReaderOptions::default());
                let mut n = 0u64;
                while r.next_entry().unwrap().is_some() {
                    n += 1;
                }
                assert_eq!(n, ENTRIES);
            })
        });
        g.bench_function(format!("appraise_{name}"), |b| {
            b.iter(|| {
                let mut r = ImaReader::new(&bytes[..], ImaReaderOptions::default());
                let a = appraise_list(&mut r, &policy, AppraiseOptions::default()).unwrap();
                assert!(a.is_allowed() && a.entries == ENTRIES);
            })
        });
    }
    let pinned = ListOptions::default().with_pinned_threads(true);
    for (name, bytes) in [("ascii", &ascii), ("binary", &binary)] {
        g.bench_function(format!("appraise_two_threads_{name}"), |b| {
            b.iter(|| {
                let input = ImaInput::from_bytes(bytes);
                let a =
                    appraise_input(input, &policy, AppraiseOptions::default(), &pinned).unwrap();
                assert!(a.is_allowed() && a.entries == ENTRIES);
            })
        });
    }
    g.bench_function("load_policy", |b| {
        b.iter(|| RuntimePolicy::from_json(json.as_bytes()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
