//! ASCII lists read as the binary lists of the same entries, and a line that is broken gives a
//! typed error at that line (its start offset and its entry number), whichever way it is
//! broken. (That the fast and general ASCII paths agree byte for byte, errors included, is
//! tested next to them in `log/ima/ascii.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::sample::write_sample_list;
use mr_core::log::ima::template::{encode_digest_ng, encode_digest_ngv2};
use mr_core::log::ima::{Endian, FieldId, ImaReader, ImaReaderOptions, ListKind};
use mr_core::{Digest, Error, HashAlg};
use proptest::prelude::*;

/// What an entry is, independent of the list's form (offsets differ between forms).
#[derive(Debug, PartialEq)]
struct Entry {
    index: u64,
    pcr: u32,
    recorded: Digest,
    template: String,
    legacy: bool,
    data: Vec<u8>,
    fields: Vec<(FieldId, Vec<u8>)>,
}

/// The entries of `list`, their offsets, and the error that ended it (if any).
fn read(list: &[u8], opts: &ImaReaderOptions) -> (Vec<Entry>, Vec<u64>, Option<Error>) {
    let mut r = ImaReader::new(list, opts.clone());
    let mut entries = Vec::new();
    let mut offsets = Vec::new();
    loop {
        match r.next_entry() {
            Ok(Some(e)) => {
                offsets.push(e.offset());
                entries.push(Entry {
                    index: e.index(),
                    pcr: e.pcr(),
                    recorded: *e.header_digest(),
                    template: e.template_name().to_owned(),
                    legacy: e.is_legacy(),
                    data: e.template_data().to_vec(),
                    fields: e.fields().map(|f| (f.id, f.data.to_vec())).collect(),
                });
            }
            Ok(None) => return (entries, offsets, None),
            Err(e) => return (entries, offsets, Some(e)),
        }
    }
}

fn read_ok(list: &[u8], opts: &ImaReaderOptions) -> Vec<Entry> {
    let (entries, _, err) = read(list, opts);
    assert!(err.is_none(), "{err:?}");
    entries
}

/// Every template and field type the ASCII form can carry.
fn varied_list(kind: ListKind, endian: Endian, column: HashAlg) -> Vec<u8> {
    let mut b = ImaListBuilder::new(kind)
        .with_endian(endian)
        .with_column(column);
    b.boot_aggregate("ima-ng", &HashAlg::Sha256.hash(b"pcrs"));
    for (i, alg) in HashAlg::ALL.into_iter().enumerate() {
        b.ima_ng(
            [10, 0, 9, 11][i % 4],
            &alg.hash(&[i as u8]),
            "/usr/lib/a.so",
        );
    }
    b.ima_ng(
        4_294_967_295,
        &HashAlg::Sha1.hash(b"x"),
        "/caf\u{e9}/\u{1F600}",
    );
    b.ima_sig(10, &HashAlg::Sha256.hash(b"s"), "/bin/s", &[3, 2, 4, 0xAB]);
    b.ima_sig(10, &HashAlg::Sha384.hash(b"t"), "/bin/t", &[]);
    b.ima_buf(10, HashAlg::Sha256, "kexec-cmdline", b"root=/dev/vda1 ro");
    b.violation(10, "ima-ng", HashAlg::Sha256, "/var/log/v");
    b.violation(10, "ima", HashAlg::Sha1, "/var/log/x");
    b.legacy_ima(10, &[7; 20], "/bin/legacy").unwrap();
    let v2 = encode_digest_ngv2("verity", "sha256", &[9; 32]);
    b.entry(10, "ima-ngv2", &[&v2, b"/v2\0"]).unwrap();
    let dng = encode_digest_ng("sha256", &[1; 32]);
    let dmod = encode_digest_ng("sha512", &[2; 64]);
    b.entry(
        10,
        "ima-modsig",
        &[&dng, b"/m\0", &[], &dmod, &[0x30, 0x82]],
    )
    .unwrap();
    let lens = [endian.u32_bytes(3), endian.u32_bytes(1)].concat();
    b.entry(
        10,
        "evm-sig",
        &[
            &dng,
            b"/evm\0",
            &[5, 6],
            b"security.ima|security.evm\0",
            &lens,
            b"abcd",
            &endian.u32_bytes(1000),
            &endian.u32_bytes(0),
            &endian.u16_bytes(0o100_644),
        ],
    )
    .unwrap();
    b.entry(10, "n|sig", &[b"plain\0", &[0xEE]]).unwrap();
    b.finish()
}

/// `l` with its hex digits in uppercase: whole hex columns and the digest after `algo:`.
fn upper_hex(l: &str) -> String {
    let hex = |t: &str| t.bytes().all(|b| b.is_ascii_hexdigit());
    l.split(' ')
        .map(|c| match c.rsplit_once(':') {
            Some((algo, digest)) if hex(digest) => format!("{algo}:{}", digest.to_uppercase()),
            _ if hex(c) => c.to_uppercase(),
            _ => c.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ascii_opts(endian: Endian) -> ImaReaderOptions {
    ImaReaderOptions::default()
        .with_kind(ListKind::Ascii)
        .with_endian(endian)
}

#[test]
fn ascii_sample_lists_read_as_their_binary_twins() {
    for (entries, seed) in [(1, 1), (2, 2), (257, 3), (5000, 4)] {
        let banks = [HashAlg::Sha1, HashAlg::Sha256];
        let mut bin = Vec::new();
        let mut txt = Vec::new();
        let a = write_sample_list(&mut bin, ListKind::Binary, entries, &banks, seed).unwrap();
        let b = write_sample_list(&mut txt, ListKind::Ascii, entries, &banks, seed).unwrap();
        assert_eq!(a, b);
        let bin = read_ok(&bin, &ImaReaderOptions::default());
        let txt = read_ok(&txt, &ImaReaderOptions::default());
        assert_eq!(txt.len() as u64, entries);
        assert_eq!(txt, bin);
    }
}

#[test]
fn every_template_reads_the_same_in_ascii_and_binary_in_both_byte_orders_and_columns() {
    for endian in [Endian::Little, Endian::Big] {
        for column in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
            let bin = varied_list(ListKind::Binary, endian, column);
            let txt = varied_list(ListKind::Ascii, endian, column);
            let bin = read_ok(&bin, &ImaReaderOptions::default());
            assert_eq!(bin.len(), 17);
            assert_eq!(read_ok(&txt, &ascii_opts(endian)), bin, "{endian} {column}");
        }
    }
}

#[test]
fn respelled_ascii_lists_read_as_the_binary_list() {
    let bin = read_ok(
        &varied_list(ListKind::Binary, Endian::Little, HashAlg::Sha1),
        &ImaReaderOptions::default(),
    );
    let text =
        String::from_utf8(varied_list(ListKind::Ascii, Endian::Little, HashAlg::Sha1)).unwrap();
    let respell =
        |f: &dyn Fn(&str) -> String| -> String { text.lines().map(|l| f(l) + "\n").collect() };
    for variant in [
        respell(&|l| format!("{l}\r")),
        respell(&upper_hex),
        respell(&|l| format!("   00{}", l.trim_start())),
        respell(&|l| format!("+{}", l.trim_start())),
        text.trim_end_matches('\n').to_owned(),
    ] {
        assert_eq!(
            read_ok(variant.as_bytes(), &ascii_opts(Endian::Little)),
            bin
        );
    }
}

/// One way to break (or respell) a line.
#[derive(Clone, Debug)]
enum Edit {
    /// Overwrite the byte at this position of the line.
    Set(usize, u8),
    /// Insert a byte before this position.
    Insert(usize, u8),
    /// Remove the byte at this position.
    Delete(usize),
    /// Keep only this many bytes of the line.
    Truncate(usize),
    /// Double the n-th space.
    ExtraSpace(usize),
    /// Replace the PCR index.
    Pcr(&'static str),
    /// Remove one digit from the n-th all-hex run (odd hex length).
    OddHex(usize),
}

const BYTES: &[u8] = b" \r\n:0 9afAFgG+-|x\0\x7f\x80\xc3\xa9\xff";
const PCRS: &[&str] = &[
    "4294967296",
    "99999999999",
    "-1",
    "1x",
    "",
    "0x10",
    " ",
    "1 0",
    "\u{661}",
];

fn edit() -> impl Strategy<Value = Edit> {
    let byte = proptest::sample::select(BYTES.to_vec());
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), byte).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::ExtraSpace),
        proptest::sample::select(PCRS.to_vec()).prop_map(Edit::Pcr),
        any::<usize>().prop_map(Edit::OddHex),
    ]
}

fn apply(line: &[u8], e: &Edit) -> Vec<u8> {
    let mut l = line.to_vec();
    let at = |p: usize, n: usize| if n == 0 { 0 } else { p % n };
    match *e {
        Edit::Set(p, b) if !l.is_empty() => {
            let p = at(p, l.len());
            l[p] = b;
        }
        Edit::Insert(p, b) => l.insert(at(p, l.len() + 1), b),
        Edit::Delete(p) if !l.is_empty() => {
            l.remove(at(p, l.len()));
        }
        Edit::Truncate(p) => l.truncate(at(p, l.len())),
        Edit::ExtraSpace(n) => {
            let spaces: Vec<usize> = (0..l.len()).filter(|i| l[*i] == b' ').collect();
            if !spaces.is_empty() {
                l.insert(spaces[at(n, spaces.len())], b' ');
            }
        }
        Edit::Pcr(p) => {
            let text = String::from_utf8(l).unwrap();
            let rest = text.trim_start().split_once(' ').unwrap().1;
            l = format!("{p} {rest}").into_bytes();
        }
        Edit::OddHex(n) => {
            let runs: Vec<(usize, usize)> = l
                .split(|b| *b == b' ' || *b == b':')
                .scan(0usize, |start, col| {
                    let s = *start;
                    *start += col.len() + 1;
                    Some((s, col.len()))
                })
                .filter(|(s, len)| *len >= 2 && l[*s..*s + *len].iter().all(u8::is_ascii_hexdigit))
                .collect();
            if !runs.is_empty() {
                let (s, len) = runs[at(n, runs.len())];
                l.remove(s + len - 1);
            }
        }
        _ => {}
    }
    l
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Breaking line k leaves lines 0..k as they were, and either still reads (a different but
    /// well-formed line) or fails with a typed parse error at line k (or at k + 1 when the
    /// edit inserted a line break) with that line's start as offset.
    #[test]
    fn an_edited_line_reads_or_fails_at_that_line(
        k in 0..17usize,
        e in edit(),
        column in proptest::sample::select(vec![HashAlg::Sha1, HashAlg::Sha256]),
    ) {
        let bin = read_ok(
            &varied_list(ListKind::Binary, Endian::Little, column),
            &ImaReaderOptions::default(),
        );
        let text = varied_list(ListKind::Ascii, Endian::Little, column);
        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        prop_assert_eq!(lines.len(), 17);
        let mut edited = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if i == k {
                let body = &l[..l.len() - 1];
                edited.extend_from_slice(&apply(body, &e));
                edited.push(b'\n');
            } else {
                edited.extend_from_slice(l);
            }
        }
        let starts: Vec<u64> = std::iter::once(0)
            .chain(
                edited
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i as u64 + 1),
            )
            .collect();
        let (entries, offsets, err) = read(&edited, &ascii_opts(Endian::Little));
        prop_assert_eq!(&entries[..k.min(entries.len())], &bin[..k.min(entries.len())]);
        for (i, o) in offsets.iter().enumerate() {
            prop_assert_eq!(*o, starts[i]);
        }
        match err {
            None => {
                let extra = usize::from(matches!(e, Edit::Insert(_, b'\n')));
                prop_assert_eq!(entries.len(), 17 + extra);
                let after = k + 1 + extra;
                prop_assert_eq!(&entries[after..].len(), &bin[k + 1..].len());
                for (a, b) in entries[after..].iter().zip(&bin[k + 1..]) {
                    prop_assert_eq!(&a.data, &b.data);
                    prop_assert_eq!(&a.recorded, &b.recorded);
                }
            }
            Some(Error::Parse(p)) => {
                let entry = p.entry.expect("an entry number") as usize;
                prop_assert_eq!(p.format, "ima ascii log");
                prop_assert_eq!(entry, entries.len());
                let newline_inserted = matches!(e, Edit::Insert(_, b'\n') | Edit::Set(_, b'\n'));
                prop_assert!(
                    entry == k || (newline_inserted && entry == k + 1),
                    "error at entry {} for an edit of line {}: {:?}", entry, k, p
                );
                prop_assert_eq!(p.offset, starts[entry], "{:?}", p);
            }
            Some(other) => prop_assert!(false, "not a parse error: {other:?}"),
        }
    }

    /// Respellings that the format allows give exactly the binary list's entries.
    #[test]
    fn a_respelled_line_reads_as_the_binary_entry(
        k in 0..17usize,
        spelling in 0..5u8,
    ) {
        let bin = read_ok(
            &varied_list(ListKind::Binary, Endian::Little, HashAlg::Sha1),
            &ImaReaderOptions::default(),
        );
        let text = String::from_utf8(varied_list(ListKind::Ascii, Endian::Little, HashAlg::Sha1))
            .unwrap();
        let mut edited = String::new();
        for (i, l) in text.lines().enumerate() {
            let l = if i != k {
                l.to_owned()
            } else {
                match spelling {
                    0 => format!("{l}\r"),
                    1 => upper_hex(l),
                    2 => format!("  {}", l.trim_start()),
                    3 => format!("0{}", l.trim_start()),
                    _ => format!("+{}", l.trim_start()),
                }
            };
            edited.push_str(&l);
            edited.push('\n');
        }
        let (entries, _, err) = read(edited.as_bytes(), &ascii_opts(Endian::Little));
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(entries, bin);
    }
}
