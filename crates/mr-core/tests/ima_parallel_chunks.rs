//! How the two-thread IMA replay cuts a list into chunks: a chunk is [`ima::CHUNK_LEN`] bytes of
//! whole entries, the last one ends where the input ends (even without a final newline), and an
//! entry that does not fit in a chunk hands the list to the one-thread replay at once, so the
//! bytes buffered stay bounded by a few chunks whatever the input claims. The result is always
//! the one-thread replay's; the flag returned by `replay_parallel_chunked` says which path
//! applied the entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::chunks::Source;
use mr_core::log::ima::{self, ImaReplayConfig, ImaReplayReport, ListKind};
use mr_core::{ComputeOnly, Error, HashAlg};
use mr_test_alloc::measure;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// The one-thread replay of `list` and the two-thread one with chunks of `chunk` bytes, which
/// must agree; the result and whether the two-thread path applied every entry.
fn both(list: &[u8], chunk: usize) -> (Result<ImaReplayReport, Error>, bool) {
    let cfg = ImaReplayConfig::default();
    let one = ima::replay(list, &cfg, &ComputeOnly);
    let (two, parallel) =
        ima::replay_parallel_chunked(Source::Read(list), &cfg, &ComputeOnly, chunk);
    assert_eq!(format!("{one:?}"), format!("{two:?}"), "chunks of {chunk}");
    let (in_memory, same_path) =
        ima::replay_parallel_chunked(Source::<&[u8]>::Memory(list), &cfg, &ComputeOnly, chunk);
    assert_eq!(
        format!("{one:?}"),
        format!("{in_memory:?}"),
        "chunks of {chunk}, in memory"
    );
    assert_eq!(
        parallel, same_path,
        "chunks of {chunk}: the same path in memory"
    );
    (one, parallel)
}

/// A list of legacy `ima` entries of about 6 KiB: the chunk cutter cannot size a legacy entry
/// (it has no data length), so such a list runs on two threads only when it is one chunk, as it
/// is with chunks of `CHUNK_LEN` bytes.
#[test]
fn a_list_shorter_than_chunk_len_is_one_chunk() {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima", &HashAlg::Sha1.hash(b"aggregate"));
    for i in 0..100u32 {
        b.legacy_ima(10, &[i as u8; 20], &format!("/usr/lib/l{i}"))
            .unwrap();
    }
    let list = b.finish();
    assert!((4 << 10..ima::CHUNK_LEN).contains(&list.len()));
    let (r, parallel) = both(&list, ima::CHUNK_LEN);
    assert_eq!(r.unwrap().entries, 101);
    assert!(parallel, "one chunk of CHUNK_LEN bytes holds the list");
    // In chunks of 1 KiB the legacy entries go to the one-thread replay.
    let (_, parallel) = both(&list, 1024);
    assert!(!parallel);
}

/// An ASCII list whose last line has no newline: the end of the input ends the last chunk, so
/// the last line is an entry of the two-thread path like the others.
#[test]
fn an_ascii_list_without_a_final_newline_ends_its_last_chunk_at_the_end_of_input() {
    let mut b = ImaListBuilder::new(ListKind::Ascii);
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"aggregate"));
    for i in 0..60u32 {
        b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/bin/a{i}"),
        );
    }
    let mut list = b.finish();
    assert_eq!(list.pop(), Some(b'\n'));
    assert!(list.len() > 4 * 1024, "several chunks of 1 KiB");
    let (r, parallel) = both(&list, 1024);
    let r = r.unwrap();
    assert_eq!((r.entries, r.trailing_bytes), (61, 0));
    assert!(parallel, "the last line is replayed on two threads");
}

/// An entry whose data length is impossible (over `MAX_TEMPLATE_DATA_LEN`) followed by 4 MiB:
/// the chunk after the last whole entry holds no entry, so the list goes to the one-thread
/// replay, which refuses it, before the chunker buffers the rest. Measured on this thread (the
/// one that reads the input): no allocation near the size of the input.
#[test]
fn an_entry_larger_than_a_chunk_ends_the_two_thread_path_before_the_input_is_buffered() {
    let mut b = ImaListBuilder::binary();
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"aggregate"));
    for i in 0..20u32 {
        b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/bin/b{i}"),
        );
    }
    let mut list = b.finish();
    let whole = list.len();
    list.extend_from_slice(&10u32.to_le_bytes());
    list.extend_from_slice(&[0x5A; 20]);
    list.extend_from_slice(&6u32.to_le_bytes());
    list.extend_from_slice(b"ima-ng");
    list.extend_from_slice(&u32::MAX.to_le_bytes());
    list.resize(list.len() + (4 << 20), 0x41);

    let cfg = ImaReplayConfig::default();
    let ((two, parallel), stats) =
        measure(|| ima::replay_parallel_chunked(Source::Read(&list[..]), &cfg, &ComputeOnly, 1024));
    assert!(!parallel);
    assert!(
        stats.largest < 64 << 10,
        "largest allocation {} bytes for a {} byte input",
        stats.largest,
        list.len()
    );
    let one = ima::replay(&list[..], &cfg, &ComputeOnly);
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    match two {
        Err(Error::Parse(p)) => {
            assert_eq!(p.entry, Some(21));
            // The data length field: after PCR, SHA-1 column, name length and "ima-ng".
            assert_eq!(p.offset, (whole + 4 + 20 + 4 + 6) as u64);
        }
        other => panic!("{other:?}"),
    }
}
