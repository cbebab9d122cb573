//! CEL encode / decode throughput in each encoding, against a baseline measured in the same run.
//!
//! Input: a 10 000-entry synthetic binary IMA list (mr's sample generator: ima-ng, ima-sig,
//! ima-buf and violation entries) converted to CEL records with SHA-1 and SHA-256 digests.
//!
//! - `baseline_ima_binary_parse`: reading the same list with the IMA binary reader (framing and
//!   field splitting, no hashing) — the cost of reading the same content in its native format.
//! - `decode_{tlv,json,cbor}`: `cel::decode` of the encoded log into owned records.
//! - `encode_{tlv,json,cbor}`: `cel::encode` of the records.
//! - `replay_tlv_records` vs `baseline_ima_replay`: replaying the decoded records (content checks
//!   included: SHA-1 and SHA-256 template digests) against replaying the IMA list.
//! - `replay_{tlv,json,cbor}_stream`: `cel::replay` of the encoded log, decoding each record as
//!   it streams (what `mr cel replay` does), against `baseline_ima_replay`.
//! - `decode_cbor_minicbor`: the same CEL-CBOR log decoded with the `minicbor` crate into owned
//!   fields (recnum, index, digests, template name and data), without mr's checks (duplicate
//!   and unknown keys, algorithm ids, template names): the speed a crate-based reader would
//!   start from, against `decode_cbor` (docs/formats.md#cel-cbor).
//!
//! Run: `cargo bench --bench cel -- --warm-up-time 2 --measurement-time 5`. Report each figure
//! as a ratio to `baseline_ima_binary_parse` (or to `baseline_ima_replay` for the replay).
#![allow(clippy::expect_used, missing_docs)] // criterion_group! makes an undocumented fn

use mr::core::ComputeOnly;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use mr::core::log::cel::{self, CelReplayConfig, Encoding};
use mr::core::log::ima::sample::write_sample_list;
use mr::core::log::ima::{replay, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr::core::HashAlg;

const ENTRIES: u64 = 10_000;

fn bench(c: &mut Criterion) {
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let mut list = Vec::new();
    write_sample_list(&mut list, ListKind::Binary, ENTRIES, &banks, 1)
        .expect("writing to a Vec cannot fail");
    let records =
        cel::from_ima(&list[..], ImaReaderOptions::default(), &banks).expect("a valid list");

    let mut g = c.benchmark_group("cel_10k");
    g.throughput(Throughput::Elements(ENTRIES));
    g.bench_function("baseline_ima_binary_parse", |b| {
        b.iter(|| {
            let mut r = ImaReader::new(black_box(&list[..]), ImaReaderOptions::default());
            let mut n = 0u64;
            while let Some(e) = r.next_entry().expect("a valid list") {
                n += e.template_data().len() as u64;
            }
            n
        })
    });
    for enc in [Encoding::Tlv, Encoding::Json, Encoding::Cbor] {
        let bytes = cel::encode(&records, enc).expect("encodable");
        eprintln!(
            "cel_10k: {enc} log is {} bytes (IMA list {} bytes)",
            bytes.len(),
            list.len()
        );
        g.bench_function(format!("decode_{enc}"), |b| {
            b.iter(|| cel::decode(black_box(&bytes), enc).map(|r| r.len()))
        });
        g.bench_function(format!("encode_{enc}"), |b| {
            b.iter(|| cel::encode(black_box(&records), enc).map(|b| b.len()))
        });
        g.bench_function(format!("replay_{enc}_stream"), |b| {
            b.iter(|| {
                cel::replay(
                    black_box(&bytes[..]),
                    enc,
                    &CelReplayConfig::default(),
                    &ComputeOnly,
                )
                .map(|r| r.outcome.entries)
            })
        });
    }
    let cfg = ImaReplayConfig::default().with_banks(banks);
    g.bench_function("baseline_ima_replay", |b| {
        b.iter(|| replay(black_box(&list[..]), &cfg, &ComputeOnly).map(|r| r.entries))
    });
    g.bench_function("replay_tlv_records", |b| {
        b.iter(|| {
            cel::replay_records(
                black_box(&records),
                &CelReplayConfig::default(),
                &ComputeOnly,
            )
            .map(|r| r.outcome.entries)
        })
    });
    let cbor = cel::encode(&records, Encoding::Cbor).expect("encodable");
    g.bench_function("decode_cbor_minicbor", |b| {
        b.iter(|| minicbor_decode(black_box(&cbor)).map(|r| r.len()))
    });
    g.finish();
}

/// One record's fields, decoded by minicbor.
type MiniRecord = (u64, u32, Vec<(u16, Vec<u8>)>, u8, String, Vec<u8>);

/// A CEL-CBOR sequence of `ima_template` records decoded with minicbor (definite lengths; keys
/// as mr writes them).
fn minicbor_decode(bytes: &[u8]) -> Result<Vec<MiniRecord>, minicbor::decode::Error> {
    let mut d = minicbor::Decoder::new(bytes);
    let mut out = Vec::new();
    while d.position() < bytes.len() {
        let mut r: MiniRecord = (0, 0, Vec::new(), 0, String::new(), Vec::new());
        for _ in 0..d.map()?.unwrap_or(0) {
            match d.u64()? {
                0 => r.0 = d.u64()?,
                1 | 2 | 108 => r.1 = d.u32()?,
                3 => {
                    for _ in 0..d.array()?.unwrap_or(0) {
                        d.map()?;
                        d.u8()?;
                        let alg = d.u16()?;
                        d.u8()?;
                        r.2.push((alg, d.bytes()?.to_vec()));
                    }
                }
                9 => r.3 = d.u8()?,
                _ => {
                    d.map()?;
                    d.u8()?;
                    r.4 = d.str()?.to_owned();
                    d.u8()?;
                    r.5 = d.bytes()?.to_vec();
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

criterion_group!(cel_bench, bench);
criterion_main!(cel_bench);
