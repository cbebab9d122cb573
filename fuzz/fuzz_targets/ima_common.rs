// Shared body of the ima_binary and ima_ascii targets: read every entry with the list kind
// forced, exercise every accessor of each entry, then replay the same bytes.

use mr_core::log::ima::{self, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind};
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
    let _ = ima::replay(data, &ImaReplayConfig::default(), None);
    let _ = ima::replay(data, &ImaReplayConfig::default().with_kind(kind), None);
}
