//! The appraisal policy document: the examples validate against the published schema
//! (`docs/policy.schema.json`, checked by the small validator below: the `jsonschema` crate is
//! not a light dependency) and load; documents the schema refuses are refused by the loader;
//! DSSE envelopes; the facts of real boot logs ($MR_SHARED); rule semantics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine;
use mr_policy::{
    pae, AppraisalPolicy, BootFacts, DsseKey, PolicyError, PolicyFiles, RuntimePolicy, TdFacts,
    TpmFacts, Variable,
};
use serde_json::{json, Value};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/policies")
}

fn schema() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.schema.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Resolve a local `$ref` (`#/$defs/name`).
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").unwrap();
            &root["$defs"][name]
        }
        None => s,
    }
}

/// Validate `v` against schema `s` (the keywords the schema uses: type, const, enum,
/// properties, required, additionalProperties, propertyNames, items, minItems, maxItems,
/// minLength, pattern, minimum, maximum, oneOf, $ref). Errors name the location.
fn validate(root: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(root, s);
    let err = |m: &str| Err(format!("{at}: {m}"));
    if let Some(c) = s.get("const") {
        if c != v {
            return err(&format!("not {c}"));
        }
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        if !e.contains(v) {
            return err("not in enum");
        }
    }
    if let Some(Value::Array(alts)) = s.get("oneOf") {
        let n = alts
            .iter()
            .filter(|a| validate(root, a, v, at).is_ok())
            .count();
        if n != 1 {
            return err(&format!("matches {n} of oneOf"));
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            other => panic!("type {other} not handled"),
        };
        if !ok {
            return err(&format!("not of type {t}"));
        }
    }
    if let Some(n) = v.as_i64() {
        if s.get("minimum")
            .and_then(Value::as_i64)
            .is_some_and(|m| n < m)
            || s.get("maximum")
                .and_then(Value::as_i64)
                .is_some_and(|m| n > m)
        {
            return err("out of range");
        }
    }
    if let Some(text) = v.as_str() {
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            if !regex::Regex::new(p).unwrap().is_match(text) {
                return err(&format!("{text:?} does not match {p}"));
            }
        }
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| (text.chars().count() as u64) < m)
        {
            return err("too short");
        }
    }
    if let Some(items) = v.as_array() {
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| (items.len() as u64) < m)
            || s.get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (items.len() as u64) > m)
        {
            return err("wrong number of items");
        }
        if let Some(is) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, is, item, &format!("{at}/{i}"))?;
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req {
                if !obj.contains_key(r.as_str().unwrap()) {
                    return err(&format!("missing {r}"));
                }
            }
        }
        for (k, val) in obj {
            let here = format!("{at}/{k}");
            if let Some(pn) = s.get("propertyNames") {
                validate(root, pn, &Value::String(k.clone()), &here)?;
            }
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, val, &here)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{here}: not allowed")),
                    Some(extra @ Value::Object(_)) => validate(root, extra, val, &here)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

fn examples() -> Vec<(String, Value)> {
    ["td.json", "tpm.json"]
        .iter()
        .map(|n| {
            let v = serde_json::from_slice(&std::fs::read(data().join(n)).unwrap()).unwrap();
            (n.to_string(), v)
        })
        .collect()
}

#[test]
fn the_examples_validate_against_the_schema_and_load() {
    let root = schema();
    for (name, doc) in examples() {
        validate(&root, &root, &doc, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = AppraisalPolicy::from_file(&data().join(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(p.runtime.is_some(), "{name}: the runtime policy is loaded");
    }
    let td = AppraisalPolicy::from_file(&data().join("td.json")).unwrap();
    assert!(td.td.is_some() && td.tpm.is_none());
    assert_eq!(td.deny_list.as_ref().unwrap().len(), 1);
    let tpm = AppraisalPolicy::from_file(&data().join("tpm.json")).unwrap();
    let t = tpm.tpm.as_ref().unwrap();
    assert_eq!(t.pcrs.len(), 3);
    assert_eq!(t.variables.len(), 2);
    assert!(t.needs_boot_log());
}

/// Documents the schema refuses: the loader refuses each of them too, and every property the
/// schema lists is one the loader knows (an example with it loads).
#[test]
fn what_the_schema_refuses_the_loader_refuses() {
    let root = schema();
    let (_, td) = examples().remove(0);
    let mut bad = Vec::new();
    let mut with = |edit: &dyn Fn(&mut Value)| {
        let mut d = td.clone();
        d["runtime_policy"] = examples()[1].1["runtime_policy"].clone();
        edit(&mut d);
        bad.push(d);
    };
    with(&|d| d["version"] = json!(2));
    with(&|d| d["unknown"] = json!(1));
    with(&|d| d["td"]["mr_tdx"] = json!([]));
    with(&|d| d["td"]["mr_td"] = json!([]));
    with(&|d| d["td"]["mr_td"] = json!(["00"]));
    with(&|d| d["td"]["mr_td"] = json!(["zz".repeat(48)]));
    with(&|d| d["td"]["report_data"] = json!(["00".repeat(48)]));
    with(&|d| d["td"]["xfam"] = json!({"mask": "ff".repeat(8)}));
    with(&|d| d["td"]["td_attributes"]["debug"] = json!(true));
    with(&|d| d["td"]["minimum_qe_svn"] = json!(65536));
    with(&|d| d["td"]["minimum_tee_tcb_svn"] = json!("00".repeat(15)));
    with(&|d| d["td"]["tcb"]["statuses"] = json!([]));
    with(&|d| d["td"]["tcb"]["extra"] = json!(true));
    with(&|d| d["tpm"] = json!({"pcrs": {"md5": {"0": ["00".repeat(16)]}}}));
    with(&|d| d["tpm"] = json!({"pcrs": {"sha256": {"24": ["00".repeat(32)]}}}));
    with(&|d| d["tpm"] = json!({"pcrs": {"sha256": {"0": []}}}));
    with(&|d| d["tpm"] = json!({"db": {"allowed": []}}));
    with(&|d| d["tpm"] = json!({"secure_boot": "yes"}));
    with(&|d| d["runtime_policy"] = json!(5));
    with(&|d| d["deny_list"] = json!(["not hex"]));
    for d in bad {
        assert!(
            validate(&root, &root, &d, "").is_err(),
            "the schema accepts {d}"
        );
        assert!(
            AppraisalPolicy::from_json(d.to_string().as_bytes(), &data()).is_err(),
            "the loader accepts {d}"
        );
    }
    // Lengths the schema checks by pattern: a PCR value must be its bank's size (loader only).
    let d = json!({"version": 1, "tpm": {"pcrs": {"sha256": {"0": ["00".repeat(20)]}}}});
    assert!(matches!(
        AppraisalPolicy::from_json(d.to_string().as_bytes(), &data()),
        Err(PolicyError::Document { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// DSSE envelopes.
// ---------------------------------------------------------------------------------------------

const PAYLOAD_TYPE: &str = "application/vnd.keylime+json";

fn runtime_policy_bytes() -> Vec<u8> {
    std::fs::read(data().join("runtime.json")).unwrap()
}

fn envelope(payload: &[u8], key: &p256_v13::ecdsa::SigningKey, der: bool) -> Vec<u8> {
    use p256_v13::ecdsa::signature::Signer;
    let sig: p256_v13::ecdsa::Signature = key.sign(&pae(PAYLOAD_TYPE, payload));
    let sig = if der {
        sig.to_der().as_bytes().to_vec()
    } else {
        sig.to_bytes().to_vec()
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({
        "payload": b64(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": "k", "sig": b64(&sig)}],
    })
    .to_string()
    .into_bytes()
}

fn public_pem(key: &p256_v13::ecdsa::SigningKey) -> Vec<u8> {
    use p256_v13::pkcs8::EncodePublicKey;
    key.verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap()
        .into_bytes()
}

#[test]
fn a_dsse_envelope_is_read_only_when_its_signature_verifies_with_the_given_key() {
    let signer = p256_v13::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let other = p256_v13::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let key = DsseKey::from_bytes(&public_pem(&signer)).unwrap();
    let payload = runtime_policy_bytes();
    for der in [true, false] {
        let env = envelope(&payload, &signer, der);
        let p = RuntimePolicy::from_json_signed(&env, Some(&key)).unwrap();
        assert_eq!(p.paths(), 1);
        // Without a key the envelope is refused, never read unverified.
        assert!(matches!(
            RuntimePolicy::from_json(&env),
            Err(PolicyError::Envelope(_))
        ));
    }
    // Another signer, an altered payload, an altered payload type, no signature.
    let env = envelope(&payload, &other, true);
    assert!(RuntimePolicy::from_json_signed(&env, Some(&key)).is_err());
    let mut doc: Value = serde_json::from_slice(&envelope(&payload, &signer, true)).unwrap();
    let mut altered = payload.clone();
    altered[payload.len() / 2] ^= 0x20;
    doc["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(&altered));
    assert!(RuntimePolicy::from_json_signed(doc.to_string().as_bytes(), Some(&key)).is_err());
    let mut doc: Value = serde_json::from_slice(&envelope(&payload, &signer, true)).unwrap();
    doc["payloadType"] = json!("text/plain");
    assert!(RuntimePolicy::from_json_signed(doc.to_string().as_bytes(), Some(&key)).is_err());
    doc["signatures"] = json!([]);
    assert!(RuntimePolicy::from_json_signed(doc.to_string().as_bytes(), Some(&key)).is_err());
    // A key given for a plain policy is an error too (the operator expected a signed one).
    assert!(RuntimePolicy::from_json_signed(&payload, Some(&key)).is_err());
    // Not a key.
    assert!(DsseKey::from_bytes(b"not a key").is_err());
}

#[test]
fn a_document_names_a_signed_runtime_policy_and_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let signer = p256_v13::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    std::fs::write(dir.path().join("key.pem"), public_pem(&signer)).unwrap();
    std::fs::write(
        dir.path().join("signed.json"),
        envelope(&runtime_policy_bytes(), &signer, true),
    )
    .unwrap();
    let doc =
        json!({"version": 1, "runtime_policy": "signed.json", "runtime_policy_key": "key.pem"});
    std::fs::write(dir.path().join("policy.json"), doc.to_string()).unwrap();
    let p = AppraisalPolicy::from_file(&dir.path().join("policy.json")).unwrap();
    assert_eq!(p.runtime.unwrap().paths(), 1);
    let unsigned = json!({"version": 1, "runtime_policy": "signed.json"});
    std::fs::write(dir.path().join("policy.json"), unsigned.to_string()).unwrap();
    assert!(AppraisalPolicy::from_file(&dir.path().join("policy.json")).is_err());
}

#[test]
fn separate_files_make_one_policy_and_a_deny_list_alone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let deny = dir.path().join("deny.txt");
    std::fs::write(&deny, format!("{}\n", "ab".repeat(32))).unwrap();
    let runtime = data().join("runtime.json");
    assert!(AppraisalPolicy::from_files(PolicyFiles::default())
        .unwrap()
        .is_none());
    let p = AppraisalPolicy::from_files(PolicyFiles {
        runtime: Some(&runtime),
        deny_list: Some(&deny),
        ..PolicyFiles::default()
    })
    .unwrap()
    .unwrap();
    assert!(p.runtime.is_some() && p.deny_list.is_some());
    let alone = AppraisalPolicy::from_files(PolicyFiles {
        deny_list: Some(&deny),
        ..PolicyFiles::default()
    });
    assert!(
        matches!(alone, Err(PolicyError::DenyListAlone)),
        "{alone:?}"
    );
    // The library's words name no CLI flag (mr maps them back to --runtime-policy).
    let message = alone.map_or_else(|e| e.to_string(), |_| String::new());
    assert!(
        message.contains("give a runtime policy or a policy document") && !message.contains("--"),
        "{message}"
    );
    // A document that names a runtime policy and a second one given separately: refused.
    let doc = json!({"version": 1, "runtime_policy": runtime.display().to_string()});
    let doc_path = dir.path().join("policy.json");
    std::fs::write(&doc_path, doc.to_string()).unwrap();
    let twice = AppraisalPolicy::from_files(PolicyFiles {
        document: Some(&doc_path),
        runtime: Some(&runtime),
        ..PolicyFiles::default()
    });
    assert!(
        matches!(twice, Err(PolicyError::Document { .. })),
        "{twice:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule semantics.
// ---------------------------------------------------------------------------------------------

fn facts() -> TdFacts {
    TdFacts {
        mr_td: [1; 48],
        rtmr: [[2; 48]; 4],
        mr_config_id: [0; 48],
        mr_owner: [0; 48],
        mr_owner_config: [0; 48],
        mr_seam: [3; 48],
        mr_signer_seam: [0; 48],
        report_data: [0; 64],
        td_attributes: [0; 8],
        xfam: [0xe7, 0x02, 0x06, 0, 0, 0, 0, 0],
        tee_tcb_svn: [3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        qe_svn: 8,
        pce_svn: 13,
        qe_vendor_id: [0; 16],
        tcb: None,
    }
}

fn td_policy(td: Value) -> mr_policy::TdPolicy {
    let doc = json!({"version": 1, "td": td});
    AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap()
        .td
        .unwrap()
}

#[test]
fn tee_tcb_svn_is_compared_byte_by_byte_and_debug_is_refused_by_default() {
    let lower_first_higher_third = td_policy(json!({
        "minimum_tee_tcb_svn": "04000000000000000000000000000000",
        "tcb": {"require_collateral": false},
    }));
    let checks = lower_first_higher_third.check(&facts());
    let svn = checks.iter().find(|c| c.name == "td.tee_tcb_svn").unwrap();
    assert!(!svn.passed, "{}", svn.detail);
    assert!(svn.detail.contains("byte(s) [0]"), "{}", svn.detail);

    let mut debug = facts();
    debug.td_attributes[0] = 1;
    let p = td_policy(json!({"tcb": {"require_collateral": false}}));
    let a = p
        .check(&debug)
        .into_iter()
        .find(|c| c.name == "td.td_attributes")
        .unwrap();
    assert!(!a.passed && a.detail.contains("DEBUG"), "{}", a.detail);
    let p = td_policy(
        json!({"td_attributes": {"allow_debug": true}, "tcb": {"require_collateral": false}}),
    );
    assert!(p.check(&debug).iter().all(|c| c.passed));
}

#[test]
fn tcb_status_and_advisories_follow_the_allow_lists() {
    let p = td_policy(
        json!({"tcb": {"statuses": ["UpToDate", "SWHardeningNeeded"], "advisories": ["INTEL-SA-00615"]}}),
    );
    let with = |status: &str, advisories: &[&str]| {
        let mut f = facts();
        f.tcb = Some(mr_policy::TcbFacts {
            status: status.into(),
            advisory_ids: advisories.iter().map(|s| s.to_string()).collect(),
            issue_dates: vec![],
        });
        p.check(&f)
            .into_iter()
            .find(|c| c.name == "td.tcb_status")
            .unwrap()
    };
    assert!(with("UpToDate", &[]).passed);
    assert!(with("SWHardeningNeeded", &["INTEL-SA-00615"]).passed);
    let c = with("SWHardeningNeeded", &["INTEL-SA-00615", "INTEL-SA-00828"]);
    assert!(
        !c.passed && c.detail.contains("INTEL-SA-00828"),
        "{}",
        c.detail
    );
    assert!(!with("OutOfDate", &[]).passed);
}

// ---------------------------------------------------------------------------------------------
// Facts of real boot logs ($MR_SHARED/vectors/tcg2).
// ---------------------------------------------------------------------------------------------

fn tcg2(p: &str) -> Option<Vec<u8>> {
    let v = PathBuf::from(std::env::var_os("MR_SHARED")?)
        .join("vectors/tcg2")
        .join(p);
    Some(std::fs::read(v).unwrap())
}

#[test]
fn secure_boot_state_of_real_logs() {
    let Some(on) = tcg2("keylime/binary_bios_measurements-secureboot") else {
        eprintln!("MR_SHARED not set: skipped");
        return;
    };
    // keylime's test data: Secure Boot enabled / disabled (create_mb_refstate needs -i).
    let f = BootFacts::from_log(&on, |_| true).unwrap();
    assert_eq!(f.secure_boot, Some(true));
    let db = f.variables.iter().find(|(n, _)| *n == "db").unwrap();
    let Variable::Measured(db) = &db.1 else {
        panic!("db not measured: {db:?}");
    };
    assert!(!db.certs.is_empty(), "db holds certificates");
    let dbx = f.variables.iter().find(|(n, _)| *n == "dbx").unwrap();
    assert!(matches!(&dbx.1, Variable::Measured(d) if !d.hashes.is_empty()));
    assert!(!f.boot_applications.is_empty());

    let off = tcg2("keylime/binary_bios_measurements").unwrap();
    assert_eq!(
        BootFacts::from_log(&off, |_| true).unwrap().secure_boot,
        Some(false)
    );
    // go-attestation: a CoreOS Shielded VM without Secure Boot.
    let coreos = tcg2("go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog").unwrap();
    assert_eq!(
        BootFacts::from_log(&coreos, |_| true).unwrap().secure_boot,
        Some(false)
    );

    // Facts come only from verified PCRs: without PCR 7 nothing about Secure Boot is known.
    let f7 = BootFacts::from_log(&on, |p| p != 7).unwrap();
    assert_eq!(f7.secure_boot, None);
    assert!(f7.variables.is_empty());

    // The TPM rules over them: a db certificate required, Secure Boot required.
    let cert = hex::encode(db.certs[0]);
    let doc = json!({"version": 1, "tpm": {"secure_boot": true, "db": {"required": [cert]}, "dbx": {"forbidden": [cert]}}});
    let p = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."))
        .unwrap()
        .tpm
        .unwrap();
    let on_checks = p.check(&TpmFacts {
        pcrs: vec![],
        boot: Some(f.clone()),
    });
    assert!(on_checks.iter().all(|c| c.passed), "{on_checks:?}");
    let off_checks = p.check(&TpmFacts {
        pcrs: vec![],
        boot: Some(BootFacts::from_log(&off, |_| true).unwrap()),
    });
    let sb = off_checks
        .iter()
        .find(|c| c.name == "tpm.secure_boot")
        .unwrap();
    assert!(
        !sb.passed && sb.detail.contains("disabled"),
        "{}",
        sb.detail
    );
    let missing = p.check(&TpmFacts {
        pcrs: vec![],
        boot: Some(f7),
    });
    assert!(missing
        .iter()
        .filter(|c| c.name == "tpm.db")
        .all(|c| !c.passed));
}

// ---------------------------------------------------------------------------------------------
// Each TD and TPM rule refuses the evidence that breaks it and passes the evidence at its
// boundary (over the facts a verifier takes from verified evidence).
// ---------------------------------------------------------------------------------------------

/// The check named `name` of `checks` (exactly one).
fn the<'a>(checks: &'a [mr_policy::RuleCheck], name: &str) -> &'a mr_policy::RuleCheck {
    let mut found = checks.iter().filter(|c| c.name == name);
    let c = found
        .next()
        .unwrap_or_else(|| panic!("no {name} in {checks:?}"));
    assert!(found.next().is_none(), "{name} twice in {checks:?}");
    c
}

/// The TD section `td` with no collateral required (the facts have none).
fn td_without_collateral(mut td: Value) -> mr_policy::TdPolicy {
    td["tcb"] = json!({"require_collateral": false});
    td_policy(td)
}

fn with_attributes(a: [u8; 8]) -> TdFacts {
    TdFacts {
        td_attributes: a,
        ..facts()
    }
}

/// SEPT_VE_DISABLE (bit 28: bit 4 of the fourth byte), a bit a real TD sets.
const SEPT_VE_DISABLE: [u8; 8] = [0, 0, 0, 0x10, 0, 0, 0, 0];

#[test]
fn td_attributes_debug_exact_value_required_and_forbidden_bits_refuse_and_pass() {
    let attrs = |p: &mr_policy::TdPolicy, a: [u8; 8]| {
        the(&p.check(&with_attributes(a)), "td.td_attributes").clone()
    };
    // Default: DEBUG refused, every other bit accepted.
    let default = td_without_collateral(json!({}));
    for a in [[0; 8], SEPT_VE_DISABLE, [0xfe; 8]] {
        let c = attrs(&default, a);
        assert!(c.passed, "{}", c.detail);
        assert!(c.detail.ends_with("(DEBUG clear)"), "{}", c.detail);
    }
    for a in [[1, 0, 0, 0, 0, 0, 0, 0], [0xff; 8]] {
        let c = attrs(&default, a);
        assert!(
            !c.passed && c.detail.contains("DEBUG is set"),
            "{}",
            c.detail
        );
    }
    let debug_allowed = td_without_collateral(json!({"td_attributes": {"allow_debug": true}}));
    let c = attrs(&debug_allowed, [1, 0, 0, 0, 0, 0, 0, 0]);
    assert!(
        c.passed && c.detail.contains("set, allowed"),
        "{}",
        c.detail
    );

    // The exact value: equal passes, one bit more or less refuses.
    let exact = td_without_collateral(json!({"td_attributes": {"value": "0000001000000000"}}));
    assert!(attrs(&exact, SEPT_VE_DISABLE).passed);
    for a in [[0; 8], [0, 0, 0, 0x10, 0, 0, 0, 0x40]] {
        let c = attrs(&exact, a);
        assert!(
            !c.passed && c.detail.contains("not the required value 0000001000000000"),
            "{}",
            c.detail
        );
    }

    // A required bit: set passes (whatever else is set), clear refuses naming the bit.
    let required =
        td_without_collateral(json!({"td_attributes": {"required": "0000001000000000"}}));
    for a in [SEPT_VE_DISABLE, [0xfe; 8]] {
        assert!(attrs(&required, a).passed, "{a:?}");
    }
    for a in [[0; 8], [0xfe, 0xfe, 0xfe, 0xef, 0xfe, 0xfe, 0xfe, 0xfe]] {
        let c = attrs(&required, a);
        assert!(
            !c.passed && c.detail.contains("required bits 0000001000000000 clear"),
            "{}",
            c.detail
        );
    }

    // A forbidden bit: clear passes (whatever else is set), set refuses naming the bit.
    let forbidden =
        td_without_collateral(json!({"td_attributes": {"forbidden": "0000001000000000"}}));
    for a in [[0; 8], [0xfe, 0xfe, 0xfe, 0xef, 0xfe, 0xfe, 0xfe, 0xfe]] {
        assert!(attrs(&forbidden, a).passed, "{a:?}");
    }
    for a in [SEPT_VE_DISABLE, [0xfe; 8]] {
        let c = attrs(&forbidden, a);
        assert!(
            !c.passed && c.detail.contains("forbidden bits 0000001000000000 set"),
            "{}",
            c.detail
        );
    }
}

#[test]
fn xfam_is_compared_under_its_mask() {
    // facts(): xfam e7 02 06 00 ...
    let xfam = |value: &str, mask: Option<&str>| {
        let mut x = json!({ "value": value });
        if let Some(m) = mask {
            x["mask"] = json!(m);
        }
        let c = the(
            &td_without_collateral(json!({ "xfam": x })).check(&facts()),
            "td.xfam",
        )
        .clone();
        (c.passed, c.detail)
    };
    let (passed, detail) = xfam("e702060000000000", None);
    assert!(passed, "{detail}");
    assert_eq!(
        detail,
        "xfam e702060000000000 matches e702060000000000 under mask ffffffffffffffff"
    );
    // One bit off, with the default (full) mask: refused.
    let (passed, detail) = xfam("e602060000000000", None);
    assert!(!passed && detail.contains("does not match"), "{detail}");
    // Bits outside the mask are not compared; a bit inside it is.
    assert!(xfam("e700000000000000", Some("ff00000000000000")).0);
    assert!(xfam("0702060000000000", Some("0fffffffffffffff")).0);
    assert!(!xfam("e700000000000000", Some("ffff000000000000")).0);
    assert!(!xfam("0000000000000000", Some("0100000000000000")).0);
}

#[test]
fn minimum_svns_pass_when_equal_and_refuse_one_below() {
    // facts(): tee_tcb_svn 03 00 05 00..., qe_svn 8, pce_svn 13.
    let svn = |min: &str| {
        the(
            &td_without_collateral(json!({ "minimum_tee_tcb_svn": min })).check(&facts()),
            "td.tee_tcb_svn",
        )
        .clone()
    };
    let equal = svn("03000500000000000000000000000000");
    assert!(
        equal.passed && equal.detail.contains("≥"),
        "{}",
        equal.detail
    );
    assert!(svn("02000400000000000000000000000000").passed);
    assert!(svn("00000000000000000000000000000000").passed);
    for (min, at) in [
        ("04000500000000000000000000000000", "[0]"),
        ("03000600000000000000000000000000", "[2]"),
        ("03010500000000000000000000000000", "[1]"),
        ("03000500000000000000000000000001", "[15]"),
        ("04000600000000000000000000000000", "[0, 2]"),
    ] {
        let c = svn(min);
        assert!(
            !c.passed && c.detail.ends_with(&format!("at byte(s) {at}")),
            "{min}: {}",
            c.detail
        );
    }

    for (option, name, value) in [
        ("minimum_qe_svn", "td.qe_svn", 8u16),
        ("minimum_pce_svn", "td.pce_svn", 13),
    ] {
        let check = |min: u16| {
            the(
                &td_without_collateral(json!({ option: min })).check(&facts()),
                name,
            )
            .clone()
        };
        let c = check(value);
        assert!(c.passed, "{}", c.detail);
        assert_eq!(
            c.detail,
            format!("{} {value} ≥ minimum {value}", &name[3..])
        );
        assert!(check(0).passed);
        let c = check(value + 1);
        assert!(!c.passed, "{}", c.detail);
        assert_eq!(
            c.detail,
            format!("{} {value} < minimum {}", &name[3..], value + 1)
        );
    }
}

#[test]
fn an_allowed_set_names_the_value_and_the_set() {
    let ones = "01".repeat(48);
    let other = "ee".repeat(48);
    let p = td_without_collateral(json!({"mr_td": [other, ones], "mr_seam": [other]}));
    let checks = p.check(&facts());
    let mr_td = the(&checks, "td.mr_td");
    assert!(mr_td.passed);
    assert_eq!(mr_td.detail, format!("{ones} in {{{other}, {ones}}}"));
    let seam = the(&checks, "td.mr_seam");
    assert!(!seam.passed);
    assert_eq!(
        seam.detail,
        format!("{} not in {{{other}}}", "03".repeat(48))
    );
    // The QE vendor id is a set of one.
    let p = td_without_collateral(json!({"qe_vendor_id": "00".repeat(16)}));
    assert!(the(&p.check(&facts()), "td.qe_vendor_id").passed);
    let p = td_without_collateral(json!({"qe_vendor_id": "93".repeat(16)}));
    assert!(!the(&p.check(&facts()), "td.qe_vendor_id").passed);
}

fn with_tcb(status: &str, issue_dates: &[(&'static str, &str)]) -> TdFacts {
    TdFacts {
        tcb: Some(mr_policy::TcbFacts {
            status: status.to_owned(),
            advisory_ids: vec![],
            issue_dates: issue_dates
                .iter()
                .map(|(p, d)| (*p, d.to_string()))
                .collect(),
        }),
        ..facts()
    }
}

#[test]
fn the_default_tcb_rule_requires_collateral_and_up_to_date() {
    // No `tcb` object, and a `tcb` object that sets neither field: the same defaults.
    for td in [json!({}), json!({"tcb": {"advisories": []}})] {
        let p = td_policy(td.clone());
        let none = p.check(&facts());
        let c = the(&none, "td.tcb_status");
        assert!(
            !c.passed && c.detail.contains("requires it"),
            "{td}: {}",
            c.detail
        );
        let up = p.check(&with_tcb("UpToDate", &[]));
        let c = the(&up, "td.tcb_status");
        assert!(c.passed, "{td}: {}", c.detail);
        assert!(
            c.detail.starts_with("status UpToDate in [\"UpToDate\"]"),
            "{}",
            c.detail
        );
        for status in ["OutOfDate", "SWHardeningNeeded", "", "xyzzy"] {
            let c = p.check(&with_tcb(status, &[]));
            assert!(!the(&c, "td.tcb_status").passed, "{td}: {status}");
        }
    }
    let optional = td_policy(json!({"tcb": {"require_collateral": false}}));
    let c = optional.check(&facts());
    assert!(the(&c, "td.tcb_status").passed);
    // Without collateral there is no date to check: the date rule is not evaluated.
    let p = td_policy(json!({"tcb": {"collateral_not_before": "2025-01-01T00:00:00Z"}}));
    assert!(p
        .check(&facts())
        .iter()
        .all(|c| c.name != "td.collateral_date"));
}

#[test]
fn collateral_issued_at_the_oldest_accepted_date_passes_and_one_second_older_refuses() {
    let p = td_policy(json!({"tcb": {"collateral_not_before": "2025-01-01T00:00:00Z"}}));
    let date = |dates: &[(&'static str, &str)]| {
        the(&p.check(&with_tcb("UpToDate", dates)), "td.collateral_date").clone()
    };
    let at = date(&[
        ("tcb_info", "2025-01-01T00:00:00Z"),
        // The same instant in another offset.
        ("qe_identity", "2025-01-01T01:00:00+01:00"),
    ]);
    assert!(at.passed, "{}", at.detail);
    assert_eq!(
        at.detail,
        "tcb_info 2025-01-01T00:00:00Z, qe_identity 2025-01-01T01:00:00+01:00 not before \
         2025-01-01T00:00:00Z"
    );
    assert!(date(&[("tcb_info", "2031-06-01T12:00:00Z")]).passed);
    let older = date(&[
        ("tcb_info", "2025-01-01T00:00:00Z"),
        ("qe_identity", "2024-12-31T23:59:59Z"),
    ]);
    assert!(!older.passed);
    assert_eq!(
        older.detail,
        "qe_identity issued 2024-12-31T23:59:59Z before 2025-01-01T00:00:00Z"
    );
    // One second older in another offset.
    assert!(!date(&[("tcb_info", "2025-01-01T00:59:59+01:00")]).passed);
    let unreadable = date(&[("tcb_info", "1 January 2025")]);
    assert!(
        !unreadable.passed && unreadable.detail.contains("unreadable"),
        "{}",
        unreadable.detail
    );
    let none = date(&[]);
    assert!(
        !none.passed && none.detail.contains("no issue date"),
        "{}",
        none.detail
    );
    // A date the policy cannot read is refused when the document loads.
    for bad in ["2025-01-01", "yesterday", ""] {
        let doc = json!({"version": 1, "td": {"tcb": {"collateral_not_before": bad}}});
        let e = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."));
        assert!(
            matches!(&e, Err(PolicyError::Document { path, .. }) if path == "/td/tcb/collateral_not_before"),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn a_document_of_the_largest_accepted_size_loads_and_one_byte_more_is_refused() {
    let max = usize::try_from(mr_policy::MAX_POLICY_DOCUMENT_LEN).unwrap();
    let mut doc = br#"{"version": 1}"#.to_vec();
    doc.resize(max, b' ');
    AppraisalPolicy::from_json(&doc, Path::new(".")).unwrap();
    doc.push(b' ');
    assert!(matches!(
        AppraisalPolicy::from_json(&doc, Path::new(".")),
        Err(PolicyError::TooLarge { len, max: m, .. })
            if len == m + 1 && m == mr_policy::MAX_POLICY_DOCUMENT_LEN
    ));
}

fn tpm_policy(tpm: Value) -> Result<mr_policy::TpmPolicy, PolicyError> {
    let doc = json!({"version": 1, "tpm": tpm});
    AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new(".")).map(|p| p.tpm.unwrap())
}

#[test]
fn an_allowed_set_holds_at_most_max_set_len_values() {
    let set = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();
    let p = tpm_policy(json!({ "kernel_cmdlines": set(mr_policy::MAX_SET_LEN) })).unwrap();
    assert_eq!(
        p.kernel_cmdlines.as_ref().map(Vec::len),
        Some(mr_policy::MAX_SET_LEN)
    );
    assert!(tpm_policy(json!({"kernel_cmdlines": ["one"]})).is_ok());
    for n in [0, mr_policy::MAX_SET_LEN + 1] {
        let e = tpm_policy(json!({ "kernel_cmdlines": set(n) }));
        assert!(
            matches!(&e, Err(PolicyError::Document { path, .. }) if path == "/tpm/kernel_cmdlines"),
            "{n}: {e:?}"
        );
    }
    let many = vec!["00".repeat(48); mr_policy::MAX_SET_LEN + 1];
    let doc = json!({"version": 1, "td": {"mr_td": many}});
    let e = AppraisalPolicy::from_json(doc.to_string().as_bytes(), Path::new("."));
    assert!(
        matches!(&e, Err(PolicyError::Document { path, .. }) if path == "/td/mr_td"),
        "{e:?}"
    );
}

fn pcr(index: u32, alg: mr_core::HashAlg, byte: u8) -> mr_core::RegisterValue {
    mr_core::RegisterValue {
        id: mr_core::MrId::Pcr(index),
        value: mr_core::Digest::new(alg, &vec![byte; alg.size()]).unwrap(),
    }
}

#[test]
fn a_pcr_rule_reads_the_value_of_its_own_pcr_and_bank() {
    use mr_core::HashAlg::{Sha1, Sha256};
    let facts = TpmFacts {
        pcrs: vec![
            pcr(0, Sha1, 0x11),
            pcr(1, Sha256, 0x22),
            pcr(0, Sha256, 0x33),
            pcr(23, Sha256, 0x44),
        ],
        boot: None,
    };
    let rule = |pcrs: Value| {
        let p = tpm_policy(json!({ "pcrs": pcrs })).unwrap();
        assert!(!p.needs_boot_log());
        let checks = p.check(&facts);
        assert_eq!(checks.len(), 1, "{checks:?}");
        checks[0].clone()
    };
    let c = rule(json!({"sha256": {"0": ["33".repeat(32)]}}));
    assert!(c.passed, "{}", c.detail);
    assert_eq!(
        c.detail,
        format!(
            "pcr0 sha256: {} in {{{}}}",
            "33".repeat(32),
            "33".repeat(32)
        )
    );
    assert!(rule(json!({"sha1": {"0": ["11".repeat(20)]}})).passed);
    assert!(rule(json!({"sha256": {"23": ["44".repeat(32)]}})).passed);
    // Another PCR's or bank's value is not this one's.
    for pcrs in [
        json!({"sha256": {"0": ["22".repeat(32)]}}),
        json!({"sha256": {"1": ["33".repeat(32)]}}),
        json!({"sha1": {"0": ["33".repeat(20)]}}),
    ] {
        let c = rule(pcrs.clone());
        assert!(
            !c.passed && c.detail.contains("not in"),
            "{pcrs}: {}",
            c.detail
        );
    }
    let c = rule(json!({"sha256": {"7": ["00".repeat(32)]}}));
    assert!(
        !c.passed && c.detail.contains("no verified value"),
        "{}",
        c.detail
    );
    // PCR numbers 0-23.
    for bad in ["24", "-1", "x"] {
        let e = tpm_policy(json!({"pcrs": {"sha256": {bad: ["00".repeat(32)]}}}));
        assert!(
            matches!(&e, Err(PolicyError::Document { path, .. }) if path == &format!("/tpm/pcrs/sha256/{bad}")),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn hex_values_of_the_tpm_section_must_decode_and_not_be_empty() {
    for (tpm, at) in [
        (
            json!({"pcrs": {"sha256": {"0": [""]}}}),
            "/tpm/pcrs/sha256/0",
        ),
        (
            json!({"pcrs": {"sha256": {"0": ["zz".repeat(32)]}}}),
            "/tpm/pcrs/sha256/0",
        ),
        (
            json!({"pcrs": {"sha1": {"0": ["00".repeat(32)]}}}),
            "/tpm/pcrs/sha1/0",
        ),
        (json!({"db": {"required": [""]}}), "/tpm/db"),
        (json!({"kek": {"forbidden": ["0g"]}}), "/tpm/kek"),
        (json!({"boot_applications": [""]}), "/tpm/boot_applications"),
        (
            json!({"boot_applications": ["abc"]}),
            "/tpm/boot_applications",
        ),
        (json!({"boot_applications": []}), "/tpm/boot_applications"),
    ] {
        let e = tpm_policy(tpm.clone());
        assert!(
            matches!(&e, Err(PolicyError::Document { path, .. }) if path == at),
            "{tpm}: {e:?}"
        );
    }
    // Values of any length where no bank fixes it.
    let p = tpm_policy(json!({"pk": {"required": ["ab"]}, "boot_applications": ["0102"]})).unwrap();
    assert_eq!(p.boot_applications, Some(vec![vec![1, 2]]));
}

#[test]
fn every_boot_log_rule_needs_a_verified_boot_log() {
    for tpm in [
        json!({"secure_boot": true}),
        json!({"secure_boot": false}),
        json!({"pk": {}}),
        json!({"dbx": {"forbidden": ["ab"]}}),
        json!({"boot_applications": ["ab"]}),
        json!({"kernel_cmdlines": ["ro"]}),
    ] {
        let p = tpm_policy(tpm.clone()).unwrap();
        assert!(p.needs_boot_log(), "{tpm}");
        let checks = p.check(&TpmFacts::default());
        let c = the(&checks, "tpm.boot_log");
        assert!(
            !c.passed && c.detail.contains("no boot log"),
            "{tpm}: {}",
            c.detail
        );
        assert_eq!(checks.len(), 1, "{tpm}: {checks:?}");
    }
    let none = tpm_policy(json!({})).unwrap();
    assert!(!none.needs_boot_log());
    assert!(none.check(&TpmFacts::default()).is_empty());
}

fn boot(apps: &[&[u8]], cmdlines: &[&str], secure_boot: Option<bool>) -> TpmFacts {
    TpmFacts {
        pcrs: vec![],
        boot: Some(BootFacts {
            secure_boot,
            boot_applications: apps.iter().map(|a| a.to_vec()).collect(),
            kernel_cmdlines: cmdlines.iter().map(|c| c.to_string()).collect(),
            ..BootFacts::default()
        }),
    }
}

#[test]
fn boot_applications_and_kernel_command_lines_must_all_be_allowed_and_present() {
    let apps = tpm_policy(json!({"boot_applications": ["0a", "0b", "0c"]})).unwrap();
    let app = |facts: &TpmFacts| the(&apps.check(facts), "tpm.boot_applications").clone();
    let c = app(&boot(&[&[0x0a], &[0x0b]], &[], None));
    assert!(c.passed, "{}", c.detail);
    assert_eq!(c.detail, "{0a, 0b} in {0a, 0b, 0c}");
    let c = app(&boot(&[&[0x0a], &[0x0d]], &[], None));
    assert!(!c.passed);
    assert_eq!(c.detail, "{0d} not in {0a, 0b, 0c}");
    let c = app(&boot(&[], &[], None));
    assert!(
        !c.passed && c.detail.contains("no EFI application"),
        "{}",
        c.detail
    );

    let lines = tpm_policy(json!({"kernel_cmdlines": ["ro quiet", "ro"]})).unwrap();
    let line = |facts: &TpmFacts| the(&lines.check(facts), "tpm.kernel_cmdline").clone();
    let c = line(&boot(&[], &["ro"], None));
    assert!(c.passed, "{}", c.detail);
    let c = line(&boot(&[], &["ro", "ro init=/bin/sh"], None));
    assert!(
        !c.passed && c.detail.contains("init=/bin/sh"),
        "{}",
        c.detail
    );
    assert!(!c.detail.starts_with("[\"ro\","), "{}", c.detail);
    let c = line(&boot(&[], &[], None));
    assert!(
        !c.passed && c.detail.contains("no kernel command line"),
        "{}",
        c.detail
    );
}

#[test]
fn secure_boot_must_be_in_the_required_state_and_measured() {
    for (want, state, passed, shown) in [
        (true, Some(true), true, "enabled"),
        (false, Some(false), true, "disabled"),
        (true, Some(false), false, "disabled"),
        (false, Some(true), false, "enabled"),
        (true, None, false, "not measured"),
        (false, None, false, "not measured"),
    ] {
        let p = tpm_policy(json!({ "secure_boot": want })).unwrap();
        let c = the(&p.check(&boot(&[], &[], state)), "tpm.secure_boot").clone();
        assert_eq!(c.passed, passed, "{want} {state:?}: {}", c.detail);
        assert!(
            c.detail.starts_with(&format!("SecureBoot {shown} ")),
            "{}",
            c.detail
        );
    }
}
