//! The facts of hand-built PC-Client logs, one event kind at a time: the `SecureBoot` value, the
//! signature databases (every bound of an `EFI_SIGNATURE_LIST`, UEFI specification "Signature
//! Database"), the last measurement of a variable winning, events whose data does not hash to
//! their digests, the EFI applications of PCR 4 and their bank, GRUB's kernel command lines and
//! the Linux EFI stub's load options (known by their digests only); then the variable and
//! command line rules over those facts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mr_core::log::tcg::EventType;
use mr_core::HashAlg;
use mr_policy::{AppraisalPolicy, BootFacts, SignatureDb, TpmFacts, Variable};
use serde_json::json;
use sha2::Digest as _;

const EFI_GLOBAL_VARIABLE: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
const EFI_IMAGE_SECURITY_DATABASE: &str = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
const EFI_CERT_X509: &str = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
const EFI_CERT_SHA256: &str = "c1c41626-504c-4092-aca9-41f936934328";
/// `EFI_CERT_RSA2048_GUID`: a signature type the facts count as "other".
const EFI_CERT_RSA2048: &str = "3c5766e8-269c-4e34-aa14-ed776e85b3b6";
/// An owner GUID for the signatures.
const OWNER: &str = "77fa9abd-0359-4d32-bd60-28f4e78f784b";

/// The bytes of a GUID written as text (the first three fields little-endian).
fn guid(s: &str) -> [u8; 16] {
    let h = hex::decode(s.replace('-', "")).unwrap();
    let mut g = [0u8; 16];
    g.copy_from_slice(&h);
    g[..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
}

/// A crypto-agile log: the Spec ID record for `banks`, then `events`.
fn log(banks: &[HashAlg], events: &[Vec<u8>]) -> Vec<u8> {
    let mut data = b"Spec ID Event03\0".to_vec();
    data.extend_from_slice(&0u32.to_le_bytes()); // platformClass
    data.extend_from_slice(&[0, 2, 0, 2]); // minor, major, errata, uintnSize (64-bit)
    data.extend_from_slice(&(banks.len() as u32).to_le_bytes());
    for alg in banks {
        data.extend_from_slice(&alg.tcg_id().to_le_bytes());
        data.extend_from_slice(&(alg.size() as u16).to_le_bytes());
    }
    data.push(0); // vendorInfoSize
    let mut out = 0u32.to_le_bytes().to_vec();
    out.extend_from_slice(&EventType::EV_NO_ACTION.0.to_le_bytes());
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    for e in events {
        out.extend_from_slice(e);
    }
    out
}

/// A TCG_PCR_EVENT2 whose digests (one per bank of `banks`) are those of `hashed`.
fn event_hashing(
    banks: &[HashAlg],
    pcr: u32,
    event_type: EventType,
    hashed: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let mut e = pcr.to_le_bytes().to_vec();
    e.extend_from_slice(&event_type.0.to_le_bytes());
    e.extend_from_slice(&(banks.len() as u32).to_le_bytes());
    for alg in banks {
        e.extend_from_slice(&alg.tcg_id().to_le_bytes());
        e.extend_from_slice(alg.hash(hashed).as_bytes());
    }
    e.extend_from_slice(&(data.len() as u32).to_le_bytes());
    e.extend_from_slice(data);
    e
}

/// A SHA-256 event whose digest is the hash of its data.
fn event(pcr: u32, event_type: EventType, data: &[u8]) -> Vec<u8> {
    event_hashing(&[HashAlg::Sha256], pcr, event_type, data, data)
}

/// `UEFI_VARIABLE_DATA`.
fn variable_data(vendor: &str, name: &str, value: &[u8]) -> Vec<u8> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let mut d = guid(vendor).to_vec();
    d.extend_from_slice(&(units.len() as u64).to_le_bytes());
    d.extend_from_slice(&(value.len() as u64).to_le_bytes());
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d.extend_from_slice(value);
    d
}

/// A Secure Boot variable measured into PCR 7 (its digest the hash of its data).
fn variable(vendor: &str, name: &str, value: &[u8]) -> Vec<u8> {
    event(
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &variable_data(vendor, name, value),
    )
}

/// An `EFI_SIGNATURE_LIST` of `sig_type` with `header` and signatures holding `values` (each
/// behind its owner GUID).
fn list(sig_type: &str, header: &[u8], values: &[&[u8]]) -> Vec<u8> {
    let sig_size = 16 + values.first().map_or(1, |v| v.len());
    raw_list(
        sig_type,
        (28 + header.len() + sig_size * values.len()) as u32,
        header.len() as u32,
        sig_size as u32,
        &[header, &values.concat_with_owner()].concat(),
    )
}

/// An `EFI_SIGNATURE_LIST` with the given header fields and body.
fn raw_list(
    sig_type: &str,
    list_size: u32,
    header_size: u32,
    sig_size: u32,
    rest: &[u8],
) -> Vec<u8> {
    let mut l = guid(sig_type).to_vec();
    l.extend_from_slice(&list_size.to_le_bytes());
    l.extend_from_slice(&header_size.to_le_bytes());
    l.extend_from_slice(&sig_size.to_le_bytes());
    l.extend_from_slice(rest);
    l
}

trait WithOwner {
    fn concat_with_owner(&self) -> Vec<u8>;
}

impl WithOwner for [&[u8]] {
    fn concat_with_owner(&self) -> Vec<u8> {
        self.iter()
            .flat_map(|v| guid(OWNER).into_iter().chain(v.iter().copied()))
            .collect()
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(b).into()
}

fn facts(events: &[Vec<u8>]) -> BootFacts {
    BootFacts::from_log(&log(&[HashAlg::Sha256], events), |_| true).unwrap()
}

/// The facts of one `db` variable holding `value`.
fn db_of(value: &[u8]) -> Variable {
    let f = facts(&[variable(EFI_IMAGE_SECURITY_DATABASE, "db", value)]);
    assert_eq!(f.variables.len(), 1, "{f:?}");
    f.variables[0].1.clone()
}

fn unverifiable(v: &Variable) -> &str {
    match v {
        Variable::Unverifiable(why) => why,
        Variable::Measured(db) => panic!("measured: {db:?}"),
    }
}

#[test]
fn secure_boot_is_enabled_only_by_the_value_1_of_the_global_variable() {
    for (value, state) in [
        (&[1u8][..], Some(true)),
        (&[0], Some(false)),
        (&[1, 0], Some(false)),
        (&[2], Some(false)),
        (&[], Some(false)),
    ] {
        let f = facts(&[variable(EFI_GLOBAL_VARIABLE, "SecureBoot", value)]);
        assert_eq!(f.secure_boot, state, "{value:?}");
        assert!(f.variables.is_empty());
    }
    // Under another vendor GUID, or whose data does not hash to its digest: not measured.
    let other = facts(&[variable(EFI_IMAGE_SECURITY_DATABASE, "SecureBoot", &[1])]);
    assert_eq!(other.secure_boot, None);
    let data = variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot", &[1]);
    let forged = event_hashing(
        &[HashAlg::Sha256],
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        &variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot", &[0]),
        &data,
    );
    assert_eq!(facts(&[forged]).secure_boot, None);
    // Only PCR 7's driver-config events count.
    assert_eq!(
        facts(&[event(1, EventType::EV_EFI_VARIABLE_DRIVER_CONFIG, &data)]).secure_boot,
        None
    );
    assert_eq!(
        facts(&[event(7, EventType::EV_EFI_VARIABLE_BOOT, &data)]).secure_boot,
        None
    );
}

#[test]
fn signature_databases_hold_certificates_by_hash_hashes_by_value_and_count_the_rest() {
    let pk_cert = b"the platform key's certificate";
    let kek = [&b"kek one"[..], b"kek two!"];
    let dbx_hash = [[0xa1; 32], [0xb2; 32]];
    let rsa_key = [0x5a; 256];
    let events = [
        variable(EFI_GLOBAL_VARIABLE, "SecureBoot", &[1]),
        variable(
            EFI_GLOBAL_VARIABLE,
            "PK",
            &list(EFI_CERT_X509, &[], &[pk_cert]),
        ),
        variable(
            EFI_GLOBAL_VARIABLE,
            "KEK",
            &[
                list(EFI_CERT_X509, &[], &kek[..1]),
                list(EFI_CERT_X509, &[], &kek[1..]),
            ]
            .concat(),
        ),
        variable(
            EFI_IMAGE_SECURITY_DATABASE,
            "db",
            &list(EFI_CERT_X509, &[], &[b"old db"]),
        ),
        variable(
            EFI_IMAGE_SECURITY_DATABASE,
            "dbx",
            &[
                list(EFI_CERT_SHA256, &[], &[&dbx_hash[0], &dbx_hash[1]]),
                list(EFI_CERT_RSA2048, &[], &[&rsa_key]),
            ]
            .concat(),
        ),
        // The same names under the other vendor GUID are other variables.
        variable(
            EFI_GLOBAL_VARIABLE,
            "db",
            &list(EFI_CERT_X509, &[], &[b"not db"]),
        ),
        variable(
            EFI_IMAGE_SECURITY_DATABASE,
            "PK",
            &list(EFI_CERT_X509, &[], &[b"not pk"]),
        ),
        // The last measurement of a variable is its value; a list header is skipped.
        variable(
            EFI_IMAGE_SECURITY_DATABASE,
            "db",
            &list(EFI_CERT_X509, &[9, 9, 9, 9], &[b"new db 1", b"new db 2"]),
        ),
    ];
    let f = facts(&events);
    assert_eq!(f.secure_boot, Some(true));
    let db = |certs: Vec<[u8; 32]>, hashes: Vec<[u8; 32]>, other: u64| {
        Variable::Measured(SignatureDb {
            certs,
            hashes,
            other,
        })
    };
    assert_eq!(
        f.variables,
        vec![
            ("pk", db(vec![sha256(pk_cert)], vec![], 0)),
            (
                "kek",
                db(kek.iter().map(|c| sha256(c)).collect(), vec![], 0)
            ),
            ("dbx", db(vec![], dbx_hash.to_vec(), 1)),
            (
                "db",
                db(vec![sha256(b"new db 1"), sha256(b"new db 2")], vec![], 0)
            ),
        ]
    );
    // Events of PCRs the caller did not verify give no facts.
    let unverified = BootFacts::from_log(&log(&[HashAlg::Sha256], &events), |p| p != 7).unwrap();
    assert_eq!(unverified, BootFacts::default());
}

#[test]
fn a_variable_whose_data_does_not_hash_to_its_digest_is_unverifiable() {
    let value = list(EFI_CERT_X509, &[], &[b"cert"]);
    let forged = event_hashing(
        &[HashAlg::Sha256],
        7,
        EventType::EV_EFI_VARIABLE_DRIVER_CONFIG,
        b"something else",
        &variable_data(EFI_IMAGE_SECURITY_DATABASE, "db", &value),
    );
    let f = facts(&[forged]);
    assert_eq!(f.variables.len(), 1);
    assert_eq!(f.variables[0].0, "db");
    assert_eq!(
        unverifiable(&f.variables[0].1),
        "the data of event 1 does not hash to its digest"
    );
}

#[test]
fn every_bound_of_a_signature_list_is_checked() {
    let x509 = guid(EFI_CERT_X509);
    // An empty list (28 bytes, no signature) and no list at all: an empty database.
    assert_eq!(
        db_of(&raw_list(EFI_CERT_X509, 28, 0, 17, &[])),
        Variable::Measured(SignatureDb::default())
    );
    assert_eq!(db_of(&[]), Variable::Measured(SignatureDb::default()));
    // Shorter than a list header.
    assert_eq!(
        unverifiable(&db_of(&x509[..10])),
        "a signature list shorter than its header"
    );
    // A list size below its header's, and beyond the data.
    for (size, remaining) in [(0u32, 28usize), (27, 28), (46, 45)] {
        let mut l = raw_list(EFI_CERT_X509, size, 0, 17, &[]);
        l.resize(remaining, 0);
        assert_eq!(
            unverifiable(&db_of(&l)),
            format!("a signature list of {size} bytes in {remaining} remaining")
        );
    }
    // A list that runs past the data after a first good one.
    let good = list(EFI_CERT_X509, &[], &[b"c"]);
    let mut two = good.clone();
    two.extend_from_slice(&raw_list(EFI_CERT_X509, 28 + 17, 0, 17, &[0; 16]));
    assert_eq!(
        unverifiable(&db_of(&two)),
        "a signature list of 45 bytes in 44 remaining"
    );
    // A signature header larger than the list.
    for header_size in [18u32, u32::MAX] {
        let l = raw_list(EFI_CERT_X509, 28 + 17, header_size, 17, &[0; 17]);
        assert_eq!(
            unverifiable(&db_of(&l)),
            "a signature header larger than its list"
        );
    }
    // Signatures no larger than their owner GUID, or that do not fill the body.
    for sig_size in [0u32, 1, 16] {
        let l = raw_list(EFI_CERT_X509, 28 + 32, 0, sig_size, &[0; 32]);
        assert_eq!(
            unverifiable(&db_of(&l)),
            format!("signatures of {sig_size} bytes do not fill a list body of 32 bytes")
        );
    }
    let l = raw_list(EFI_CERT_X509, 28 + 4 + 33, 4, 17, &[0; 37]);
    assert_eq!(
        unverifiable(&db_of(&l)),
        "signatures of 17 bytes do not fill a list body of 33 bytes"
    );
    // The smallest signature (a GUID and one byte) and a header before the signatures.
    let l = raw_list(
        EFI_CERT_X509,
        28 + 3 + 17,
        3,
        17,
        &[[7u8; 3].as_slice(), &[0; 16], b"x"].concat(),
    );
    assert_eq!(
        db_of(&l),
        Variable::Measured(SignatureDb {
            certs: vec![sha256(b"x")],
            ..SignatureDb::default()
        })
    );
    // A SHA-256 entry must be 32 bytes.
    let l = list(EFI_CERT_SHA256, &[], &[&[0xcc; 20]]);
    assert_eq!(unverifiable(&db_of(&l)), "a SHA-256 entry of 20 bytes");
    // Entries of other types are counted, not read.
    let l = [
        list(EFI_CERT_RSA2048, &[], &[&[1; 256], &[2; 256]]),
        list(OWNER, &[], &[b"?"]),
    ]
    .concat();
    assert_eq!(
        db_of(&l),
        Variable::Measured(SignatureDb {
            other: 3,
            ..SignatureDb::default()
        })
    );
}

#[test]
fn boot_applications_are_pcr_4_events_in_the_sha256_bank_when_the_log_has_it() {
    let app = |pcr: u32, image: &[u8]| {
        event_hashing(
            &[HashAlg::Sha1, HashAlg::Sha256],
            pcr,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            image,
            &[0; 32],
        )
    };
    let both = log(
        &[HashAlg::Sha1, HashAlg::Sha256],
        &[app(4, b"shim"), app(2, b"option rom"), app(4, b"grub")],
    );
    let f = BootFacts::from_log(&both, |_| true).unwrap();
    assert_eq!(
        f.boot_applications,
        vec![sha256(b"shim").to_vec(), sha256(b"grub").to_vec()]
    );
    let sha1_only = log(
        &[HashAlg::Sha1],
        &[event_hashing(
            &[HashAlg::Sha1],
            4,
            EventType::EV_EFI_BOOT_SERVICES_APPLICATION,
            b"shim",
            &[0; 32],
        )],
    );
    let f = BootFacts::from_log(&sha1_only, |_| true).unwrap();
    assert_eq!(
        f.boot_applications,
        vec![HashAlg::Sha1.hash(b"shim").as_bytes().to_vec()]
    );
}

#[test]
fn kernel_command_lines_of_grub_must_hash_to_their_digests() {
    let ipl = |pcr: u32, hashed: &[u8], text: &[u8]| {
        event_hashing(&[HashAlg::Sha256], pcr, EventType::EV_IPL, hashed, text)
    };
    let line = b"kernel_cmdline: /vmlinuz root=/dev/sda1 ro\0";
    let without_nul = &line[..line.len() - 1];
    let f = facts(&[
        // GRUB hashes the text without its NUL; some versions with it.
        ipl(8, &without_nul[16..], line),
        ipl(8, &line[16..], line),
        ipl(8, &without_nul[16..], without_nul),
        // Not GRUB's command line event, or not PCR 8.
        ipl(8, b"grub_cmd: linux /vmlinuz", b"grub_cmd: linux /vmlinuz"),
        ipl(9, &without_nul[16..], line),
    ]);
    assert_eq!(f.kernel_cmdlines, vec!["/vmlinuz root=/dev/sda1 ro"; 3]);
    assert_eq!(f.unverified_cmdlines, 0);
    let f = facts(&[
        ipl(8, b"/vmlinuz init=/bin/sh", line),
        ipl(8, without_nul, line),
    ]);
    assert!(f.kernel_cmdlines.is_empty(), "{f:?}");
    assert_eq!(f.unverified_cmdlines, 2);
    // Every bank must match.
    let two_banks = log(
        &[HashAlg::Sha1, HashAlg::Sha256],
        &[{
            let mut e = event_hashing(
                &[HashAlg::Sha1, HashAlg::Sha256],
                8,
                EventType::EV_IPL,
                &without_nul[16..],
                line,
            );
            // Corrupt the SHA-1 digest (after index, type, count and its algorithm id).
            e[14] ^= 1;
            e
        }],
    );
    let f = BootFacts::from_log(&two_banks, |_| true).unwrap();
    assert!(f.kernel_cmdlines.is_empty());
    assert_eq!(f.unverified_cmdlines, 1);
}

/// A PCR 9 tagged event as the Linux EFI stub logs it: the event's data is a fixed description
/// (`LOADED_IMAGE::LoadOptions`, `Linux initrd`), its digests are the hashes of what it loaded
/// (`measured`).
fn efi_stub_event(banks: &[HashAlg], id: u32, description: &[u8], measured: &[u8]) -> Vec<u8> {
    let mut d = id.to_le_bytes().to_vec();
    d.extend_from_slice(&(description.len() as u32).to_le_bytes());
    d.extend_from_slice(description);
    event_hashing(banks, 9, EventType::EV_EVENT_TAG, measured, &d)
}

const LOAD_OPTIONS: u32 = 0x8F3B_22ED;
const INITRD: u32 = 0x8F3B_22EC;
const LOAD_OPTIONS_TEXT: &[u8] = b"LOADED_IMAGE::LoadOptions\0";

/// A command line as UEFI load options: UTF-16LE, with or without its NUL.
fn utf16(s: &str, nul: bool) -> Vec<u8> {
    let mut b: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    if nul {
        b.extend_from_slice(&[0, 0]);
    }
    b
}

#[test]
fn the_linux_efi_stub_command_line_is_known_by_its_digest_never_by_the_event_data() {
    let sha256 = [HashAlg::Sha256];
    let good = "root=/dev/vda ro console=ttyS0";
    let stub = |measured: &str, nul: bool| {
        efi_stub_event(
            &sha256,
            LOAD_OPTIONS,
            LOAD_OPTIONS_TEXT,
            &utf16(measured, nul),
        )
    };
    // Event data forged to read as an allowed command line: it is not what was measured.
    let forged = efi_stub_event(
        &sha256,
        LOAD_OPTIONS,
        &utf16(good, true),
        &utf16("init=/bin/sh", true),
    );
    let initrd = efi_stub_event(&sha256, INITRD, b"Linux initrd\0", b"an initrd");
    let f = facts(&[stub(good, true), initrd.clone(), forged.clone()]);
    assert!(f.kernel_cmdlines.is_empty(), "{:?}", f.kernel_cmdlines);
    assert_eq!(
        f.load_options,
        vec![
            vec![HashAlg::Sha256.hash(&utf16(good, true))],
            vec![HashAlg::Sha256.hash(&utf16("init=/bin/sh", true))],
        ]
    );

    let doc = json!({"version": 1, "tpm": {"kernel_cmdlines": [good, "ro quiet"]}});
    let policy = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap()
        .tpm
        .unwrap();
    let rule = |boot: BootFacts| {
        let checks = policy.check(&TpmFacts {
            pcrs: vec![],
            boot: Some(boot),
        });
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(checks[0].name, "tpm.kernel_cmdline");
        checks[0].clone()
    };
    // The allowed command line, measured with or without its NUL: passes, and is named.
    for nul in [true, false] {
        let c = rule(facts(&[stub(good, nul), initrd.clone()]));
        assert!(c.passed, "{}", c.detail);
        assert_eq!(c.detail, format!("[{good:?}] in [{good:?}, \"ro quiet\"]"));
    }
    // Another command line, whatever the event's data says: refused, named by its digest.
    let c = rule(facts(std::slice::from_ref(&forged)));
    assert!(!c.passed);
    assert!(
        c.detail.starts_with(&format!(
            "[load options sha256:{}] not in",
            HashAlg::Sha256.hash(&utf16("init=/bin/sh", true)).to_hex()
        )),
        "{}",
        c.detail
    );
    let c = rule(facts(&[stub(good, true), stub("ro quiet", true), forged]));
    assert!(!c.passed, "{}", c.detail);
    // Only the initrd measured: no command line.
    let c = rule(facts(&[initrd]));
    assert!(
        !c.passed && c.detail == "the boot log measured no kernel command line",
        "{}",
        c.detail
    );
    // GRUB's line and the stub's load options together: each must be allowed.
    let grub = event(8, EventType::EV_IPL, b"kernel_cmdline: ro quiet");
    assert!(rule(facts(&[grub.clone(), stub(good, true)])).passed);
    assert!(!rule(facts(&[grub, stub("ro", true)])).passed);
    // Every bank's digest must be the command line's.
    let banks = [HashAlg::Sha1, HashAlg::Sha256];
    let mut one_bank_off =
        efi_stub_event(&banks, LOAD_OPTIONS, LOAD_OPTIONS_TEXT, &utf16(good, true));
    // The SHA-1 digest (after index, type, count and its algorithm id).
    one_bank_off[14] ^= 1;
    let two = BootFacts::from_log(&log(&banks, &[one_bank_off]), |_| true).unwrap();
    assert_eq!(two.load_options.len(), 1);
    assert!(!rule(two).passed);
    let both = efi_stub_event(&banks, LOAD_OPTIONS, LOAD_OPTIONS_TEXT, &utf16(good, true));
    let two = BootFacts::from_log(&log(&banks, &[both]), |_| true).unwrap();
    assert!(rule(two).passed);
    // Events of PCR 9 are facts only when PCR 9 is verified.
    let unverified = BootFacts::from_log(&log(&sha256, &[stub(good, true)]), |p| p != 9).unwrap();
    assert!(unverified.load_options.is_empty());
}

#[test]
fn variable_rules_read_their_own_variable() {
    let cert = |name: &str| sha256(format!("{name} cert").as_bytes());
    let events: Vec<Vec<u8>> = [("PK", EFI_GLOBAL_VARIABLE), ("KEK", EFI_GLOBAL_VARIABLE)]
        .into_iter()
        .chain([("db", EFI_IMAGE_SECURITY_DATABASE)])
        .map(|(name, vendor)| {
            let c = format!("{} cert", name.to_lowercase());
            variable(vendor, name, &list(EFI_CERT_X509, &[], &[c.as_bytes()]))
        })
        .chain([variable(
            EFI_IMAGE_SECURITY_DATABASE,
            "dbx",
            &list(EFI_CERT_SHA256, &[], &[&[0xdd; 32]]),
        )])
        .collect();
    let boot = facts(&events);
    let check = |rules: serde_json::Value| {
        let doc = json!({"version": 1, "tpm": rules});
        let p = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
            .unwrap()
            .tpm
            .unwrap();
        p.check(&TpmFacts {
            pcrs: vec![],
            boot: Some(boot.clone()),
        })
    };
    // Each variable holds its own value and not the others'.
    for (name, own) in [
        ("pk", hex::encode(cert("pk"))),
        ("kek", hex::encode(cert("kek"))),
        ("db", hex::encode(cert("db"))),
        ("dbx", "dd".repeat(32)),
    ] {
        let others: Vec<String> = ["pk", "kek", "db"]
            .iter()
            .filter(|n| **n != name)
            .map(|n| hex::encode(cert(n)))
            .collect();
        let c = check(json!({ name: {"required": [own], "forbidden": others} }));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, format!("tpm.{name}"));
        assert!(c[0].passed, "{name}: {}", c[0].detail);
        assert!(
            c[0].detail
                .ends_with("every required value present, no forbidden one"),
            "{}",
            c[0].detail
        );
        // Its own value forbidden, another's required: each alone refuses.
        for rule in [
            json!({ name: {"forbidden": [own]} }),
            json!({ name: {"required": [others[0]]} }),
        ] {
            let c = check(rule.clone());
            assert_eq!(c[0].name, format!("tpm.{name}"));
            assert!(!c[0].passed, "{rule}: {}", c[0].detail);
        }
    }
    let c = check(json!({"db": {"required": ["abcd"], "forbidden": [hex::encode(cert("db"))]}}));
    assert_eq!(
        c[0].detail,
        format!(
            "db holds 1 certificate(s), 0 hash(es), 0 other: missing [\"abcd\"], forbidden \
             present [\"{}\"]",
            hex::encode(cert("db"))
        )
    );
    let c = check(json!({"dbx": {"required": ["abcd"]}}));
    assert!(
        c[0].detail
            .contains("missing [\"abcd\"], forbidden present []"),
        "{}",
        c[0].detail
    );
    // A variable the log did not measure, or measured unverifiably: refused.
    let doc = json!({"version": 1, "tpm": {"kek": {}}});
    let p = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap()
        .tpm
        .unwrap();
    let c = p.check(&TpmFacts {
        pcrs: vec![],
        boot: Some(facts(&events[..1])),
    });
    assert!(!c[0].passed && c[0].detail == "kek was not measured into a verified PCR 7");
    let mut bad = facts(&events[..1]);
    bad.variables
        .push(("kek", Variable::Unverifiable("forged".to_owned())));
    let c = p.check(&TpmFacts {
        pcrs: vec![],
        boot: Some(bad),
    });
    assert!(!c[0].passed);
    assert_eq!(c[0].detail, "kek: forged");
}
