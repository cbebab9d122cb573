//! Verification times given as text (`mr … --at`): RFC 3339 with UTC offsets and fractions,
//! at or after the Unix epoch; anything else, multi-byte junk included, is an error, never a
//! panic. (Moved from the CLI's unit tests with the parser.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::UNIX_EPOCH;

use mr_attest::time::parse_rfc3339;

fn secs(s: &str) -> u64 {
    match parse_rfc3339(s) {
        Ok(t) => t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX),
        Err(_) => u64::MAX,
    }
}

#[test]
fn rfc3339_parses_utc_offsets_and_fractions() {
    assert_eq!(secs("2025-07-19T10:00:34Z"), 1_752_919_234);
    assert_eq!(secs("2025-07-19T12:00:34+02:00"), 1_752_919_234);
    assert_eq!(secs("2025-07-19T10:00:34.999Z"), 1_752_919_234);
    assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
    assert_eq!(secs("2025-07-19 10:00:34"), u64::MAX);
    assert_eq!(secs("2025-13-19T10:00:34Z"), u64::MAX);
    assert_eq!(secs("yesterday"), u64::MAX);
}

#[test]
fn multi_byte_and_junk_times_are_errors_not_panics() {
    // Issue 14 item 8: the hand parser sliced the string by byte offsets and panicked on a
    // multi-byte character at a slice boundary.
    for junk in [
        "ü",
        "üüüüüüüüüüüüüüüüüüüü",
        "2025-07-19T10:00:3ü",
        "2025-07-19T10:00:34ü",
        "2025-07-19T10:00:34+0ü:00",
        "2025-07-19T10:00:34+0ü00",
        "2025-07-19T10:00:34+02:0ü",
        "2025-07-19T10:00:34.ü",
        "2025-07-19T10:00:34+99:00",
        "1969-12-31T23:59:59Z",
        "",
        "\u{0}",
    ] {
        let e = parse_rfc3339(junk).unwrap_err();
        assert_eq!(e.text, junk);
        assert!(
            e.to_string()
                .starts_with(&format!("{junk:?} is not an RFC 3339 time")),
            "{junk:?}: {e}"
        );
    }
    let e = parse_rfc3339("1969-12-31T23:59:59Z").unwrap_err();
    assert_eq!(e.reason, "before 1970-01-01");
}
