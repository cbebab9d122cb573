//! Malformed IMA lists give `Error::Parse` with byte offset and entry number, never a panic, and
//! lists that do not verify are rejected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::error::{ParseError, ParseErrorKind};
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{
    self, Endian, ImaReader, ImaReaderOptions, ImaReplayConfig, ListKind, MAX_TEMPLATE_DATA_LEN,
};
use mr_core::ComputeOnly;
use mr_core::{Error, HashAlg, MrId};

fn small_list(kind: ListKind, endian: Endian) -> Vec<u8> {
    let mut b = ImaListBuilder::new(kind).with_endian(endian);
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    b.ima_sig(10, &HashAlg::Sha256.hash(b"a"), "/usr/bin/a", &[3, 2, 1]);
    b.violation(10, "ima-ng", HashAlg::Sha256, "/tmp/x");
    b.legacy_ima(11, &[9; 20], "/etc/legacy").unwrap();
    b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"root=/dev/sda");
    b.finish()
}

fn read_all(bytes: &[u8], opts: ImaReaderOptions) -> Result<u64, Error> {
    let mut r = ImaReader::new(bytes, opts);
    while r.next_entry()?.is_some() {}
    Ok(r.entries())
}

fn parse_error(e: Error) -> ParseError {
    match e {
        Error::Parse(p) => p,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn truncation_at_every_byte_is_an_error_with_offset_never_a_panic() {
    for (kind, endian) in [
        (ListKind::Binary, Endian::Little),
        (ListKind::Binary, Endian::Big),
        (ListKind::Ascii, Endian::Little),
    ] {
        let list = small_list(kind, endian);
        assert_eq!(read_all(&list, ImaReaderOptions::default()).unwrap(), 5);
        let mut boundaries = Vec::new();
        let mut r = ImaReader::new(&list[..], ImaReaderOptions::default());
        while let Some(e) = r.next_entry().unwrap() {
            boundaries.push(e.offset() as usize);
        }
        for cut in 0..list.len() {
            let part = &list[..cut];
            match kind {
                ListKind::Binary if cut > 0 && boundaries.contains(&cut) => {
                    // A cut between entries is a shorter, valid list.
                    let n = boundaries.iter().position(|b| *b == cut).unwrap() as u64;
                    assert_eq!(read_all(part, ImaReaderOptions::default()).unwrap(), n);
                }
                ListKind::Binary => {
                    let p = parse_error(read_all(part, ImaReaderOptions::default()).unwrap_err());
                    assert!(p.offset <= cut as u64, "cut {cut}: offset {}", p.offset);
                    assert!(p.entry.is_some());
                    // Replay reports the same error.
                    let e =
                        ima::replay(part, &ImaReplayConfig::default(), &ComputeOnly).unwrap_err();
                    assert!(matches!(e, Error::Parse(_)), "cut {cut}");
                }
                ListKind::Ascii => {
                    // A cut at a line end is a shorter valid list; elsewhere an error or a
                    // shorter last line whose digest no longer matches its data.
                    let _ = ima::replay(part, &ImaReplayConfig::default(), &ComputeOnly);
                }
            }
        }
    }
}

#[test]
fn empty_input_is_an_error() {
    let p = parse_error(read_all(b"", ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::Empty);
    assert_eq!(p.offset, 0);
    assert!(ima::replay(&b""[..], &ImaReplayConfig::default(), &ComputeOnly).is_err());
}

fn entry_header(pcr: u32, name: &[u8]) -> Vec<u8> {
    let mut v = pcr.to_le_bytes().to_vec();
    v.extend_from_slice(&[0xAB; 20]);
    v.extend_from_slice(&(name.len() as u32).to_le_bytes());
    v.extend_from_slice(name);
    v
}

#[test]
fn huge_lengths_are_refused_before_reading() {
    // Template data length 0xFFFFFFFF.
    let mut v = entry_header(10, b"ima-ng");
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    let p = parse_error(read_all(&v, ImaReaderOptions::default()).unwrap_err());
    assert_eq!(
        p.kind,
        ParseErrorKind::LengthTooLarge {
            len: u64::from(u32::MAX),
            max: u64::from(MAX_TEMPLATE_DATA_LEN)
        }
    );
    assert_eq!((p.offset, p.entry), (34, Some(0)));

    // Template name length 0xFFFFFFFF (forced format: detection would refuse it too).
    let mut v = 10u32.to_le_bytes().to_vec();
    v.extend_from_slice(&[0; 20]);
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    let opts = ImaReaderOptions::default()
        .with_kind(ListKind::Binary)
        .with_endian(Endian::Little)
        .with_column(HashAlg::Sha1);
    let p = parse_error(read_all(&v, opts).unwrap_err());
    assert!(matches!(p.kind, ParseErrorKind::LengthTooLarge { .. }));
    assert_eq!(p.offset, 24);

    // A field length inside the template data beyond the data.
    let mut v = entry_header(10, b"ima-ng");
    let data = [&u32::MAX.to_le_bytes()[..], b"xx"].concat();
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    let p = parse_error(read_all(&v, ImaReaderOptions::default()).unwrap_err());
    assert!(matches!(p.kind, ParseErrorKind::LengthTooLarge { .. }));

    // Legacy name length 0xFFFFFFFF.
    let mut v = entry_header(10, b"ima");
    v.extend_from_slice(&[1; 20]);
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    let p = parse_error(read_all(&v, ImaReaderOptions::default()).unwrap_err());
    assert!(matches!(p.kind, ParseErrorKind::LengthTooLarge { .. }));

    // A second entry with a huge length names entry 1 and its offset.
    let mut list = small_list(ListKind::Binary, Endian::Little);
    let start = list.len() as u64;
    let mut v = entry_header(10, b"ima-ng");
    v.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    list.extend_from_slice(&v);
    let p = parse_error(read_all(&list, ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.entry, Some(5));
    assert_eq!(p.offset, start + 34);
}

#[test]
fn unknown_templates_and_fields_are_typed_errors() {
    let mut list = small_list(ListKind::Binary, Endian::Little);
    let mut v = entry_header(10, b"ima-bogus");
    v.extend_from_slice(&0u32.to_le_bytes());
    list.extend_from_slice(&v);
    let p = parse_error(read_all(&list, ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::UnknownTemplate("ima-bogus".into()));
    assert_eq!(p.entry, Some(5));

    let ascii = b"10 0000000000000000000000000000000000000000 d-ng|frob sha1:00 x\n";
    let p = parse_error(read_all(ascii, ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::UnknownTemplate("d-ng|frob".into()));

    // A first entry that is no IMA list at all.
    let p = parse_error(read_all(&[0xEE; 400], ImaReaderOptions::default()).unwrap_err());
    assert!(matches!(p.kind, ParseErrorKind::Invalid(_)));
}

/// An empty template name is no template: it is refused wherever it stands. Found by the
/// ima_ascii fuzz target: the reader skipped the template lookup when the name equalled the
/// previous entry's, and a fresh reader's "previous" name is empty, so an empty name at the first
/// entry (or the first entry of a two-thread chunk) was parsed as ima-ng.
#[test]
fn an_empty_template_name_is_refused_at_the_first_entry_and_later() {
    let d = "0000000000000000000000000000000000000000";
    let ima_ng = format!("sha256:{} /bin/x", "00".repeat(32));
    // ASCII: two spaces where the name would be.
    let first = format!("10 {d}  {ima_ng}\n");
    let p = parse_error(read_all(first.as_bytes(), ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::UnknownTemplate(String::new()));
    assert_eq!(p.entry, Some(0));
    let later = format!("10 {d} ima-ng {ima_ng}\n10 {d}  {ima_ng}\n");
    let p = parse_error(read_all(later.as_bytes(), ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::UnknownTemplate(String::new()));
    assert_eq!(p.entry, Some(1));

    // Binary: a zero-length name before valid ima-ng data.
    let good = small_list(ListKind::Binary, Endian::Little);
    let mut data = Vec::new();
    let d_ng = [b"sha256:\0".as_slice(), &[0; 32]].concat();
    for field in [d_ng.as_slice(), b"/bin/x\0"] {
        data.extend_from_slice(&(field.len() as u32).to_le_bytes());
        data.extend_from_slice(field);
    }
    let mut empty = entry_header(10, b"");
    empty.extend_from_slice(&(data.len() as u32).to_le_bytes());
    empty.extend_from_slice(&data);
    for (list, entry) in [(empty.clone(), 0), ([good.as_slice(), &empty].concat(), 5)] {
        let p = parse_error(read_all(&list, ImaReaderOptions::default()).unwrap_err());
        if entry == 0 {
            // At the first entry, format detection finds no known template.
            assert!(matches!(p.kind, ParseErrorKind::Invalid(_)), "{p}");
        } else {
            assert_eq!(
                p.kind,
                ParseErrorKind::Invalid("empty template name".into())
            );
            assert_eq!(p.entry, Some(entry));
        }
        // The replay on one and on two threads refuses it alike.
        let one = ima::replay(
            list.as_slice(),
            &ImaReplayConfig::default(),
            &mr_core::ComputeOnly,
        )
        .unwrap_err();
        let (two, _) = ima::replay_parallel_chunked(
            ima::chunks::Source::<&[u8]>::Memory(list.as_slice()),
            &ImaReplayConfig::default(),
            &mr_core::ComputeOnly,
            64,
        );
        assert_eq!(one.to_string(), two.unwrap_err().to_string());
    }
}

#[test]
fn non_utf8_names_are_errors() {
    // ima-ng with a non-UTF-8 path.
    let mut b = ImaListBuilder::binary();
    b.entry(
        10,
        "ima-ng",
        &[b"sha1:\0aaaaaaaaaaaaaaaaaaaa", b"/bin/\xff\xfe\0"],
    )
    .unwrap();
    let p = parse_error(read_all(&b.finish(), ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::InvalidUtf8);
    assert_eq!(p.entry, Some(0));
    // Legacy ima with a non-UTF-8 name.
    let mut v = entry_header(10, b"ima");
    v.extend_from_slice(&[1; 20]);
    v.extend_from_slice(&2u32.to_le_bytes());
    v.extend_from_slice(b"\xc3\x28");
    let p = parse_error(read_all(&v, ImaReaderOptions::default()).unwrap_err());
    assert_eq!(p.kind, ParseErrorKind::InvalidUtf8);
    // ASCII line that is not UTF-8.
    let p = parse_error(
        read_all(
            b"10 0000000000000000000000000000000000000000 ima-ng sha1:00 /\xff\n",
            ImaReaderOptions::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(p.kind, ParseErrorKind::InvalidUtf8);
}

#[test]
fn wrong_field_counts_and_leftover_template_data_are_errors() {
    // ima-sig needs three fields.
    let mut b = ImaListBuilder::binary();
    b.entry(10, "ima-ng", &[b"sha1:\0aaaaaaaaaaaaaaaaaaaa", b"/x\0"])
        .unwrap();
    let mut list = b.finish();
    // Rename "ima-ng" to "ima-sig"? Lengths differ; instead append a byte inside the data.
    let len_at = 4 + 20 + 4 + 6;
    let len = u32::from_le_bytes(list[len_at..len_at + 4].try_into().unwrap());
    list[len_at..len_at + 4].copy_from_slice(&(len + 1).to_le_bytes());
    list.push(0);
    let p = parse_error(read_all(&list, ImaReaderOptions::default()).unwrap_err());
    assert!(matches!(p.kind, ParseErrorKind::Invalid(_)), "{p}");
    assert!(b_entry_err(&mut ImaListBuilder::binary()));
    // ASCII with too few fields.
    let p = parse_error(
        read_all(
            b"10 0000000000000000000000000000000000000000 ima-sig sha1:00\n",
            ImaReaderOptions::default(),
        )
        .unwrap_err(),
    );
    assert!(matches!(p.kind, ParseErrorKind::Invalid(_)));
}

fn b_entry_err(b: &mut ImaListBuilder) -> bool {
    b.entry(10, "ima-sig", &[b"x"]).is_err() && b.entry(10, "nope", &[]).is_err()
}

#[test]
fn tampered_entry_is_rejected_naming_the_entry_even_when_values_match() {
    let list = small_list(ListKind::Binary, Endian::Little);
    let clean = ima::replay(&list[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    // Flip one byte of the second entry's path: its header digest no longer matches.
    let pos = list.windows(10).position(|w| w == b"/usr/bin/a").unwrap();
    let mut bad = list.clone();
    bad[pos + 5] = b'X';
    // Expected values computed from the tampered data itself still reject.
    let mut exp = mr_core::ExpectedRegisters::new();
    let unchecked = {
        let mut r = ImaReader::new(&bad[..], ImaReaderOptions::default());
        let mut v = mr_core::Digest::zero(HashAlg::Sha256);
        while let Some(e) = r.next_entry().unwrap() {
            if e.pcr() == 10 {
                let d = if e.is_violation() {
                    mr_core::Digest::ones(HashAlg::Sha256)
                } else {
                    e.template_digest(HashAlg::Sha256)
                };
                v = v.extended(d.as_bytes());
            }
        }
        v
    };
    exp.insert(MrId::Pcr(10), unchecked).unwrap();
    let config = ImaReplayConfig::default().with_replay(
        mr_core::replay::ReplayOptions::default()
            .with_unextended(mr_core::replay::UnextendedPolicy::Ignore),
    );
    match ima::replay(&bad[..], &config, &exp) {
        Err(Error::EntryDigest(m)) => {
            assert_eq!(m.entry, 1);
            assert_eq!(m.register, MrId::Pcr(10));
            assert_eq!(m.alg, HashAlg::Sha1);
        }
        other => panic!("tampered list not rejected: {other:?}"),
    }
    assert!(matches!(
        ima::replay(&bad[..], &ImaReplayConfig::default(), &ComputeOnly),
        Err(Error::EntryDigest(_))
    ));
    assert_eq!(clean.entries, 5);
}

#[test]
fn per_register_replay_keeps_pcrs_apart_and_reports_boot_aggregate() {
    let list = small_list(ListKind::Binary, Endian::Big);
    let r = ima::replay(&list[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    assert_eq!(r.format.endian, Endian::Big);
    let ids: Vec<(MrId, HashAlg)> = r
        .outcome
        .registers
        .iter()
        .map(|v| (v.id.clone(), v.value.alg()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (MrId::Pcr(10), HashAlg::Sha1),
            (MrId::Pcr(10), HashAlg::Sha256),
            (MrId::Pcr(11), HashAlg::Sha1),
            (MrId::Pcr(11), HashAlg::Sha256),
        ]
    );
    assert_eq!(r.violations, 1);
    assert_eq!(r.boot_aggregates.len(), 1);
    assert_eq!(r.boot_aggregates[0].digest, HashAlg::Sha256.hash(b"pcrs"));
}

#[test]
fn all_zero_boot_aggregate_is_reported_as_no_tpm() {
    let mut b = ImaListBuilder::ascii();
    b.boot_aggregate("ima-ng", &mr_core::Digest::zero(HashAlg::Sha256));
    b.ima_ng(10, &HashAlg::Sha256.hash(b"k"), "/k");
    // After kexec: a second boot_aggregate.
    b.boot_aggregate("ima", &HashAlg::Sha1.hash(b"pcrs"));
    let r = ima::replay(&b.finish()[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
    assert_eq!(r.boot_aggregate_count, 2);
    assert!(r.boot_aggregates[0].no_tpm);
    assert_eq!(r.boot_aggregates[1].digest.alg(), HashAlg::Sha1);
    assert_eq!(r.boot_aggregates[1].entry, 2);
}

#[test]
fn binary_lists_whose_first_bytes_look_like_text_are_still_binary() {
    // PCR 32 (' ') and PCR 49 ('1') little endian; and a big-endian list.
    for (pcr, endian) in [
        (32, Endian::Little),
        (49, Endian::Little),
        (0x20, Endian::Big),
    ] {
        let mut b = ImaListBuilder::binary().with_endian(endian);
        b.ima_ng(pcr, &HashAlg::Sha256.hash(b"t"), "/t");
        let r = ima::replay(&b.finish()[..], &ImaReplayConfig::default(), &ComputeOnly).unwrap();
        assert_eq!(
            (r.format.kind, r.format.endian),
            (ListKind::Binary, endian),
            "pcr {pcr}"
        );
        assert_eq!(r.outcome.registers[0].id, MrId::Pcr(pcr));
    }
}
