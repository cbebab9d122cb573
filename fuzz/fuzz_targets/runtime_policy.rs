#![no_main]
//! keylime runtime policies (mr-policy): the plain JSON reader with its schema checks, the DSSE
//! envelope reader (the input as an envelope checked with a fixed key, and the input as the
//! payload of an envelope that key really signed, so that the payload path is reached), the
//! deny list, and an accepted policy applied to a small list of the paths and digests it names.
//!
//! First byte: 0 plain policy, 1 envelope, 2 signed payload, 3 deny list; the rest is the input.

use libfuzzer_sys::fuzz_target;
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::{ImaReader, ImaReaderOptions};
use mr_core::HashAlg;
use mr_policy::{
    appraise_list, pae, AppraiseOptions, DenyList, DsseKey, PolicyError, RuntimePolicy,
};

/// keylime's DSSE payload type.
const PAYLOAD_TYPE: &str = "application/vnd.keylime+json";

/// DER SubjectPublicKeyInfo prefix of an uncompressed P-256 point (id-ecPublicKey, prime256v1;
/// RFC 5480), followed by `04 || x || y`.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

fn signer() -> mr_testkit::tpm::EcdsaKey {
    mr_testkit::tpm::ecc_key(7)
}

/// The signer's public key, loaded once.
fn dsse_key() -> &'static DsseKey {
    static KEY: std::sync::OnceLock<DsseKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let point = signer().verifying_key().to_encoded_point(false);
        let mut der = hex::decode(P256_SPKI_PREFIX).expect("constant hex");
        der.extend_from_slice(point.as_bytes());
        DsseKey::from_bytes(&der).expect("the fixed P-256 key loads")
    })
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An envelope of `payload` signed by [`signer`] (fixed-size `r || s` signature).
fn signed_envelope(payload: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let digest = HashAlg::Sha256.hash(&pae(PAYLOAD_TYPE, payload));
    let sig: p256::ecdsa::Signature = signer()
        .sign_prehash(digest.as_bytes())
        .expect("a SHA-256 digest signs");
    format!(
        r#"{{"payload":"{}","payloadType":"{PAYLOAD_TYPE}","signatures":[{{"keyid":"k","sig":"{}"}}]}}"#,
        base64(payload),
        base64(&sig.to_bytes())
    )
    .into_bytes()
}

/// Every accessor of an accepted policy, and the policy applied to a list of a few entries.
fn use_policy(policy: &RuntimePolicy, deny: Option<DenyList>) {
    let _ = (policy.release(), policy.generator(), policy.log_hash_alg());
    let _ = (policy.paths(), policy.excludes().len());
    let mut list = ImaListBuilder::ascii();
    for (i, path) in ["boot_aggregate", "/usr/bin/bash", "/etc/passwd", ""]
        .iter()
        .enumerate()
    {
        let _ = policy.is_excluded(path);
        let digest = HashAlg::Sha256.hash(&[i as u8]);
        list.ima_ng(10, &digest, path);
    }
    list.ima_buf(10, HashAlg::Sha256, ".ima", b"not a key");
    let bytes = list.finish();
    let mut reader = ImaReader::new(&bytes[..], ImaReaderOptions::default());
    let options = AppraiseOptions {
        deny_list: deny,
        ..AppraiseOptions::default()
    };
    if let Ok(result) = appraise_list(&mut reader, policy, options) {
        assert!(result.failed <= result.entries);
        let _ = (result.lines(), result.to_json());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(p) = RuntimePolicy::from_json(rest) {
                use_policy(&p, None);
            }
        }
        1 => {
            if let Ok(p) = RuntimePolicy::from_json_signed(rest, Some(dsse_key())) {
                use_policy(&p, None);
            }
        }
        2 => {
            let envelope = signed_envelope(rest);
            let signed = RuntimePolicy::from_json_signed(&envelope, Some(dsse_key()));
            // The payload is read exactly as the same bytes given plainly.
            let plain = RuntimePolicy::from_json(rest);
            // Inside a verified envelope the payload is read as the same bytes given plainly;
            // only a plain read refuses a document that is itself an envelope.
            match (&signed, &plain) {
                (Err(e), Ok(_)) => panic!("a signed payload is refused ({e}) but read plainly"),
                (Ok(_), Err(e)) => assert!(
                    matches!(e, PolicyError::Envelope(_)),
                    "a signed payload is read but refused plainly: {e}"
                ),
                _ => {}
            }
            if let Ok(p) = signed {
                use_policy(&p, None);
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(deny) = DenyList::parse(text) {
                    let _ = deny.len();
                    for d in [&[0u8; 32][..], &[0xff; 20][..], rest] {
                        let _ = deny.contains(d);
                    }
                    if let Ok(p) = RuntimePolicy::from_json(include_bytes!(
                        "../../crates/mr-policy/tests/data/policies/runtime.json"
                    )) {
                        use_policy(&p, Some(deny));
                    }
                }
            }
        }
    }
});
