// Shared body of the ima_binary and ima_ascii targets: read every entry with the list kind
// forced, exercise every accessor of each entry, then replay the same bytes on one thread and,
// for one input length in eight, on two (replay_parallel), which must agree. Starting threads
// costs far more than parsing a small input (perf: three quarters of the time in the kernel's
// thread start and join), so the differential runs on a deterministic sample chosen by the
// input's length: a crash stays reproducible, and the two-thread path still sees every kind of
// input the fuzzer finds.

use mr_core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
use mr_core::ComputeOnly;
use mr_core::HashAlg;

pub fn run(data: &[u8], kind: ListKind) {
    for allow_trailing in [false, true] {
        let opts = ImaReaderOptions::default()
            .with_kind(kind)
            .with_trailing_bytes_allowed(allow_trailing);
        let mut reader = ImaReader::new(data, opts);
        // Bounded: every entry consumes at least one byte of input.
        while let Ok(Some(entry)) = reader.next_entry() {
            let _ = entry.index();
            let _ = entry.offset();
            let _ = entry.register();
            let _ = entry.header_digest();
            let _ = entry.template_name();
            let _ = entry.template_format();
            let _ = entry.is_legacy();
            let _ = entry.template_data();
            let _ = entry.is_violation();
            for field in entry.fields() {
                let _ = field.value();
            }
            let _ = entry.event_name();
            let _ = entry.file_digest();
            let _ = entry.template_digest(HashAlg::Sha1);
            let _ = entry.template_digest(HashAlg::Sha256);
            let _ = entry.verify_header();
            let _ = entry.boot_aggregate();
            let _ = entry.to_ascii_line();
        }
        let _ = reader.format();
        let _ = reader.entries();
        let _ = reader.trailing_bytes();
    }
    let one = ima::replay(data, &ImaReplayConfig::default(), &ComputeOnly);
    let forced = ImaReplayConfig::default().with_kind(kind);
    let one_forced = ima::replay(data, &forced, &ComputeOnly);

    if data.len() % 8 != 0 {
        return;
    }
    // Differential: the two-thread replay (small chunks, so inputs span several) must give
    // exactly the one-thread result, report or error.
    let runs = [(&ImaReplayConfig::default(), &one), (&forced, &one_forced)];
    for ((config, expected), memory) in runs.into_iter().flat_map(|r| [(r, false), (r, true)]) {
        let source = if memory {
            ima::chunks::Source::Memory(data)
        } else {
            ima::chunks::Source::Read(data)
        };
        let (two, _) = ima::replay_parallel_chunked(source, config, &ComputeOnly, 1024);
        match (expected, &two) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "reports differ"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "errors differ"),
            _ => panic!("one thread {expected:?}, two threads {two:?}"),
        }
    }
}
