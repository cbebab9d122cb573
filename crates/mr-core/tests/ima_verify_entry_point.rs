//! The one IMA entry point (`ima::verify`) and its input: which inputs are replayed on the
//! calling thread, streamed in memory bounded by an entry (one thread asked for, or a list in
//! memory shorter than two chunks), and which are cut into chunks for two threads (a list of at
//! least two chunks, or an input of unknown length, on a machine with two cores); the result is
//! the same either way. The largest allocation tells the two apart for a reader: the two-thread
//! replay reads it into chunk buffers of `CHUNK_LEN` bytes, the one-thread replay never holds
//! more than an entry. A list in memory is never copied: its chunks borrow its bytes, so neither
//! path allocates a chunk, and `ImaInput::wants_two_threads` (what `verify` asks) tells them
//! apart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use mr_core::log::ima::{self, builder::ImaListBuilder, ImaInput, ImaOptions, CHUNK_LEN};
use mr_core::{ComputeOnly, HashAlg};
use mr_test_alloc::measure;

#[global_allocator]
static ALLOC: mr_test_alloc::CountingAlloc = mr_test_alloc::CountingAlloc;

/// A binary ima-ng list of PCR 10 entries, at least `min_len` bytes long.
fn list_of_at_least(min_len: usize) -> Vec<u8> {
    let mut b = ImaListBuilder::binary();
    let mut i = 0u32;
    let mut len = 0;
    while len < min_len {
        b.ima_ng(
            10,
            &HashAlg::Sha256.hash(&i.to_le_bytes()),
            &format!("/usr/bin/f{i}"),
        );
        i += 1;
        // Entries are about 100 bytes: measure the list only every 512 of them.
        if i.is_multiple_of(512) {
            len = b.clone().finish().len();
        }
    }
    b.finish()
}

/// Whether this machine lets the replay start a second thread.
fn two_cores() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// The largest allocation of the calling thread during `ima::verify`, and the entries replayed.
fn verify_largest(input: ImaInput<'_>, options: &ImaOptions) -> (usize, u64) {
    let (report, stats) = measure(|| ima::verify(input, &ComputeOnly, options));
    (stats.largest, report.unwrap().entries)
}

#[test]
fn a_list_in_memory_shorter_than_two_chunks_is_streamed_on_the_calling_thread() {
    let list = list_of_at_least(CHUNK_LEN + CHUNK_LEN / 2);
    assert!(list.len() < 2 * CHUNK_LEN, "{} bytes", list.len());
    let (largest, entries) = verify_largest(ImaInput::from_bytes(&list), &ImaOptions::default());
    assert!(
        largest < CHUNK_LEN / 4,
        "largest allocation {largest} bytes"
    );
    assert!(!ImaInput::from_bytes(&list).wants_two_threads(0));
    // Two threads asked for: chunks borrowed from the list (no chunk buffer), same entries; the
    // same bytes from a reader are read into chunk buffers (when the machine has two cores).
    let two_threads = ImaOptions::default().with_threads(2);
    assert!(ImaInput::from_bytes(&list).wants_two_threads(2));
    let (two, entries_two) = verify_largest(ImaInput::from_bytes(&list), &two_threads);
    assert_eq!(entries_two, entries);
    assert!(two < CHUNK_LEN / 4, "largest allocation {two} bytes");
    let (read, entries_read) = verify_largest(ImaInput::from_reader(&list[..]), &two_threads);
    assert_eq!(entries_read, entries);
    if two_cores() {
        assert!(read >= CHUNK_LEN, "largest allocation {read} bytes");
    }
}

#[test]
fn one_thread_streams_any_input_even_of_unknown_length_or_two_chunks() {
    let list = list_of_at_least(2 * CHUNK_LEN + 1024);
    let one = ImaOptions::default().with_threads(1);
    for input in [
        ImaInput::from_reader(&list[..]),
        ImaInput::from_bytes(&list),
    ] {
        let (largest, _) = verify_largest(input, &one);
        assert!(
            largest < CHUNK_LEN / 4,
            "largest allocation {largest} bytes"
        );
    }
}

#[test]
fn a_list_of_two_chunks_or_of_unknown_length_is_cut_into_chunks_by_default() {
    if !two_cores() {
        return;
    }
    let list = list_of_at_least(2 * CHUNK_LEN + 1024);
    assert!(ImaInput::from_bytes(&list).wants_two_threads(0));
    let (largest, entries) = verify_largest(ImaInput::from_bytes(&list), &ImaOptions::default());
    assert!(
        largest < CHUNK_LEN / 4,
        "a list in memory is not copied: {largest} bytes"
    );
    let (from_reader, entries_read) =
        verify_largest(ImaInput::from_reader(&list[..]), &ImaOptions::default());
    assert!(
        from_reader >= CHUNK_LEN,
        "largest allocation {from_reader} bytes"
    );
    assert_eq!(entries_read, entries);
}

/// The input's debug form shows its known length: the bytes' length, a regular file's size, none
/// for a reader.
#[test]
fn an_input_shows_its_known_length() {
    let bytes = [1u8, 2, 3];
    assert_eq!(
        format!("{:?}", ImaInput::from_bytes(&bytes)),
        "ImaInput { len: Some(3), .. }"
    );
    assert_eq!(
        format!("{:?}", ImaInput::from_vec(vec![0; 5])),
        "ImaInput { len: Some(5), .. }"
    );
    assert_eq!(
        format!("{:?}", ImaInput::from_reader(&bytes[..])),
        "ImaInput { len: None, .. }"
    );
    let path = std::env::temp_dir().join(format!("mr-ima-input-{}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&[0; 7])
        .unwrap();
    let shown = format!("{:?}", ImaInput::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(shown, "ImaInput { len: Some(7), .. }");
}

/// A reader that hands out at most 1000 bytes per call and fails once with `Interrupted`, to
/// check that the two-thread replay's chunk filling keeps reading until a chunk is full.
struct ShortReads<'a> {
    rest: &'a [u8],
    interrupted: bool,
}

impl std::io::Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.interrupted && self.rest.len() < 100_000 {
            self.interrupted = true;
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(1000).min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn short_reads_and_pinned_threads_give_the_one_thread_result_and_restore_the_affinity() {
    let list = list_of_at_least(3 * CHUNK_LEN + 4096);
    let one = ima::verify(
        ImaInput::from_bytes(&list),
        &ComputeOnly,
        &ImaOptions::default().with_threads(1),
    )
    .unwrap();
    let short = ima::verify(
        ImaInput::from_reader(std::io::BufReader::with_capacity(
            CHUNK_LEN,
            ShortReads {
                rest: &list,
                interrupted: false,
            },
        )),
        &ComputeOnly,
        &ImaOptions::default().with_threads(2),
    )
    .unwrap();
    assert_eq!(short, one);

    let before = rustix::thread::sched_getaffinity(None).unwrap();
    let pinned = ima::verify(
        ImaInput::from_bytes(&list),
        &ComputeOnly,
        &ImaOptions::default()
            .with_threads(2)
            .with_pinned_threads(true),
    )
    .unwrap();
    assert_eq!(pinned, one);
    let after = rustix::thread::sched_getaffinity(None).unwrap();
    assert!(
        before == after,
        "the calling thread's CPU affinity was not restored"
    );
}
