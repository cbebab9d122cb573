//! Generated appraisal cases shared by the mr-only tests and the differential test against
//! keylime: each case is an ASCII list, a runtime policy and the entries that must fail, by
//! construction.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine;
use mr_core::log::ima::builder::ImaListBuilder;
use mr_core::log::ima::ListKind;
use mr_core::{Digest, HashAlg};
use mr_policy::ImaKey;
use serde_json::{json, Value};

/// One case.
pub struct Case {
    pub name: &'static str,
    pub list: Vec<u8>,
    pub policy: Value,
    /// 1-based entry numbers that must fail.
    pub expected: Vec<u64>,
    /// True when keylime is known to decide differently (documented in docs/appraisal.md).
    pub keylime_differs: bool,
}

/// Test keys: RSA-2048 and P-256, with their SubjectPublicKeyInfo DER.
pub struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub rsa_spki: Vec<u8>,
    pub p256: p256_v13::ecdsa::SigningKey,
    pub p256_spki: Vec<u8>,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::EncodePublicKey as _;
        let mut rng = rand_core::OsRng;
        let rsa = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let rsa_spki = rsa.to_public_key().to_public_key_der().unwrap().to_vec();
        let p256 = p256_v13::ecdsa::SigningKey::random(&mut rng);
        let p256_spki = p256_v13::pkcs8::EncodePublicKey::to_public_key_der(p256.verifying_key())
            .unwrap()
            .to_vec();
        Keys {
            rsa,
            rsa_spki,
            p256,
            p256_spki,
        }
    })
}

pub fn keyid(spki: &[u8]) -> u32 {
    ImaKey::from_spki_der(spki).unwrap().keyid()
}

/// Which key signs.
#[derive(Clone, Copy)]
pub enum Signer {
    Rsa,
    P256,
}

/// A `signature_v2_hdr` signature (type 3) of `digest` (SHA-256) with version `version`
/// (3: over the `ima_file_id`), signed by `signer`, claiming key id `keyid`.
pub fn ima_signature(signer: Signer, digest: &[u8], version: u8, keyid: u32) -> Vec<u8> {
    use sha2::Digest as _;
    let k = keys();
    let signed: Vec<u8> = if version == 3 {
        let mut file_id = vec![3u8, 4];
        file_id.extend_from_slice(digest);
        sha2::Sha256::digest(&file_id).to_vec()
    } else {
        digest.to_vec()
    };
    let body = match signer {
        Signer::Rsa => k
            .rsa
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &signed)
            .unwrap(),
        Signer::P256 => {
            use p256_v13::ecdsa::signature::hazmat::PrehashSigner;
            let s: p256_v13::ecdsa::Signature = k.p256.sign_prehash(&signed).unwrap();
            s.to_der().as_bytes().to_vec()
        }
    };
    let mut sig = vec![3u8, version, 4];
    sig.extend_from_slice(&keyid.to_be_bytes());
    sig.extend_from_slice(&(body.len() as u16).to_be_bytes());
    sig.extend_from_slice(&body);
    sig
}

pub fn sha256(data: &[u8]) -> Digest {
    HashAlg::Sha256.hash(data)
}

/// Builds a list and its policy side by side.
pub struct CaseBuilder {
    pub list: ImaListBuilder,
    pub digests: BTreeMap<String, Vec<String>>,
    pub keyrings: BTreeMap<String, Vec<String>>,
    pub ima_buf: BTreeMap<String, Vec<String>>,
    pub excludes: Vec<String>,
    pub ignored_keyrings: Vec<String>,
    pub verification_keys: Vec<Vec<u8>>,
    pub expected: Vec<u64>,
    n: u64,
}

impl CaseBuilder {
    /// An ASCII list that starts with a boot_aggregate the policy allows.
    pub fn new() -> CaseBuilder {
        CaseBuilder::with_kind(ListKind::Ascii)
    }

    /// A list of `kind` that starts with a boot_aggregate the policy allows.
    pub fn with_kind(kind: ListKind) -> CaseBuilder {
        let mut c = CaseBuilder {
            list: ImaListBuilder::new(kind),
            digests: BTreeMap::new(),
            keyrings: BTreeMap::new(),
            ima_buf: BTreeMap::new(),
            excludes: Vec::new(),
            ignored_keyrings: Vec::new(),
            verification_keys: Vec::new(),
            expected: Vec::new(),
            n: 0,
        };
        let agg = sha256(b"pcrs 0-9");
        c.list.boot_aggregate("ima-ng", &agg);
        c.allow("boot_aggregate", agg.as_bytes());
        c.n = 1;
        c
    }

    pub fn allow(&mut self, path: &str, digest: &[u8]) {
        self.digests
            .entry(path.into())
            .or_default()
            .push(hex::encode(digest));
    }

    fn next(&mut self, fails: bool) {
        self.n += 1;
        if fails {
            self.expected.push(self.n);
        }
    }

    /// An ima-ng entry of `content` at `path`.
    pub fn file(&mut self, path: &str, content: &[u8], fails: bool) -> Digest {
        let d = sha256(content);
        self.list.ima_ng(10, &d, path);
        self.next(fails);
        d
    }

    /// An ima-sig entry.
    pub fn signed(&mut self, path: &str, content: &[u8], sig: &[u8], fails: bool) -> Digest {
        let d = sha256(content);
        self.list.ima_sig(10, &d, path, sig);
        self.next(fails);
        d
    }

    /// An ima-buf entry.
    pub fn buf(&mut self, name: &str, buf: &[u8], fails: bool) -> Digest {
        self.list.ima_buf(10, HashAlg::Sha256, name, buf);
        self.next(fails);
        sha256(buf)
    }

    pub fn violation(&mut self, path: &str) {
        self.list.violation(10, "ima-ng", HashAlg::Sha256, path);
        self.next(true);
    }

    pub fn legacy(&mut self, path: &str, content: &[u8], fails: bool) -> [u8; 20] {
        let d: [u8; 20] = HashAlg::Sha1.hash(content).as_bytes().try_into().unwrap();
        self.list.legacy_ima(10, &d, path).unwrap();
        self.next(fails);
        d
    }

    pub fn wrong_pcr(&mut self, path: &str, content: &[u8]) {
        let d = sha256(content);
        self.list.ima_ng(11, &d, path);
        self.allow(path, d.as_bytes());
        self.next(true);
    }

    pub fn policy(&self) -> Value {
        let vk = if self.verification_keys.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = self
                .verification_keys
                .iter()
                .map(|k| base64::engine::general_purpose::STANDARD.encode(k))
                .collect();
            json!({"meta": {"version": 1}, "keyids": [], "pubkeys": keys}).to_string()
        };
        json!({
            "meta": {"version": 1, "generator": 1},
            "release": 0,
            "digests": self.digests,
            "excludes": self.excludes,
            "keyrings": self.keyrings,
            "ima": {"ignored_keyrings": self.ignored_keyrings, "log_hash_alg": "sha1", "dm_policy": null},
            "ima-buf": self.ima_buf,
            "verification-keys": vk,
        })
    }

    pub fn finish(self, name: &'static str) -> Case {
        let policy = self.policy();
        Case {
            name,
            expected: self.expected,
            list: self.list.finish(),
            policy,
            keylime_differs: false,
        }
    }
}

/// Every generated case, as ASCII lists.
pub fn cases() -> Vec<Case> {
    cases_in(ListKind::Ascii)
}

/// Every generated case, as lists of `kind`.
pub fn cases_in(kind: ListKind) -> Vec<Case> {
    let k = keys();
    let mut out = Vec::new();

    let mut c = CaseBuilder::with_kind(kind);
    for i in 0..5 {
        let path = format!("/usr/bin/tool{i}");
        let d = c.file(&path, path.as_bytes(), false);
        c.allow(&path, d.as_bytes());
    }
    out.push(c.finish("allowed"));

    let mut c = CaseBuilder::with_kind(kind);
    let d = c.file("/usr/bin/a", b"a", false);
    c.allow("/usr/bin/a", d.as_bytes());
    c.file("/usr/bin/b", b"b tampered", true);
    c.allow("/usr/bin/b", sha256(b"b").as_bytes());
    let d = c.file("/usr/bin/c", b"c", false);
    c.allow("/usr/bin/c", d.as_bytes());
    out.push(c.finish("altered-digest"));

    let mut c = CaseBuilder::with_kind(kind);
    let d = c.file("/usr/bin/a", b"a", false);
    c.allow("/usr/bin/a", d.as_bytes());
    c.file("/usr/bin/unknown", b"x", true);
    c.file("/usr/bin/A", b"a", true); // paths are case-sensitive
    c.file("/usr/bin/a/", b"a", true); // and exact
    out.push(c.finish("missing-path"));

    let mut c = CaseBuilder::with_kind(kind);
    c.excludes = vec![
        "/usr/lib".into(),
        r"/var/log/.*\.log$".into(),
        "tmp".into(),
        "/opt/(a|b)/".into(),
        r"/home/[^/]+/\.cache".into(),
    ];
    c.file("/usr/lib64/libc.so", b"1", false); // prefix-only match
    c.file("/usr/libexec/x", b"2", false);
    c.file("/usr/li", b"3", true); // shorter than the pattern
    c.file("/bin/tmp", b"4", true); // "tmp" matches only at the start
    c.file("/tmp/x", b"5", true);
    c.file("tmpfile", b"6", false);
    c.file("/var/log/a.log", b"7", false);
    c.file("/var/log/a.log.1", b"8", true); // `$` anchors the end
    c.file("/opt/a/z", b"9", false);
    c.file("/opt/c/z", b"10", true);
    c.file("/home/u/.cache/f", b"11", false);
    c.file("/home/u/v/.cache/f", b"12", true);
    out.push(c.finish("excludes"));

    let mut c = CaseBuilder::with_kind(kind);
    c.allow("/etc/conf", sha256(b"v1").as_bytes());
    c.allow("/etc/conf", sha256(b"v2").as_bytes());
    c.allow("/etc/conf", sha256(b"v3").as_bytes());
    c.file("/etc/conf", b"v2", false);
    c.file("/etc/conf", b"v3", false);
    c.file("/etc/conf", b"v4", true);
    c.file("/etc/conf", b"v1", false);
    out.push(c.finish("several-digests"));

    let rsa_id = keyid(&k.rsa_spki);
    let p256_id = keyid(&k.p256_spki);
    let mut c = CaseBuilder::with_kind(kind);
    c.verification_keys = vec![k.rsa_spki.clone(), k.p256_spki.clone()];
    c.excludes = vec!["/excluded/".into()];
    let sig = |s, content: &[u8], id| ima_signature(s, sha256(content).as_bytes(), 2, id);
    c.signed("/s/rsa-good", b"r", &sig(Signer::Rsa, b"r", rsa_id), false);
    c.signed(
        "/s/p256-good",
        b"p",
        &sig(Signer::P256, b"p", p256_id),
        false,
    );
    let mut bad = sig(Signer::Rsa, b"q", rsa_id);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    c.signed("/s/rsa-bad", b"q", &bad, true);
    let d = c.signed("/s/rsa-bad-listed", b"q", &bad, false);
    c.allow("/s/rsa-bad-listed", d.as_bytes());
    c.signed(
        "/s/wrong-file",
        b"other",
        &sig(Signer::P256, b"p", p256_id),
        true,
    );
    c.signed(
        "/s/unknown-key",
        b"u",
        &sig(Signer::Rsa, b"u", rsa_id ^ 1),
        true,
    );
    c.signed(
        "/s/rsa-key-p256-sig",
        b"m",
        &sig(Signer::P256, b"m", rsa_id),
        true,
    );
    let d = c.signed("/s/unsigned-listed", b"n", b"", false);
    c.allow("/s/unsigned-listed", d.as_bytes());
    c.signed("/s/unsigned", b"o", b"", true);
    let mut short = sig(Signer::Rsa, b"t", rsa_id);
    short.pop();
    c.signed("/s/malformed", b"t", &short, true);
    c.signed("/excluded/bad", b"q", &bad, false);
    out.push(c.finish("signatures"));

    let mut c = CaseBuilder::with_kind(kind);
    c.ignored_keyrings = vec![".builtin_trusted_keys".into()];
    let rsa_sig = ima_signature(Signer::Rsa, sha256(b"r").as_bytes(), 2, rsa_id);
    let p_sig = ima_signature(Signer::P256, sha256(b"p").as_bytes(), 2, p256_id);
    c.signed("/s/before-key", b"r", &rsa_sig, true);
    let d = c.buf(".ima", &k.rsa_spki, false);
    c.keyrings
        .insert(".ima".into(), vec![hex::encode(d.as_bytes())]);
    c.signed("/s/after-key", b"r", &rsa_sig, false);
    c.buf(".evm", &k.p256_spki, true); // keyring not in the policy: not learned
    c.signed("/s/p256-not-learned", b"p", &p_sig, true);
    c.buf(".builtin_trusted_keys", &k.p256_spki, false); // ignored: allowed, not learned
    c.signed("/s/p256-ignored", b"p", &p_sig, true);
    c.buf(".ima", &k.p256_spki, true); // .ima allows only the RSA key's digest
    c.signed("/s/p256-refused", b"p", &p_sig, true);
    let d = c.buf("kexec-cmdline", b"root=/dev/vda1 ro", false);
    c.ima_buf
        .insert("kexec-cmdline".into(), vec![hex::encode(d.as_bytes())]);
    c.buf("kexec-cmdline", b"root=/dev/vda1 ro init=/bin/sh", true);
    c.buf("unlisted-buffer", b"data", true);
    out.push(c.finish("ima-buf-keys"));

    let mut c = CaseBuilder::with_kind(kind);
    let d = c.file("/usr/bin/a", b"a", false);
    c.allow("/usr/bin/a", d.as_bytes());
    c.violation("/usr/bin/a");
    c.violation("/var/log/written");
    c.file("/usr/bin/a", b"a", false);
    out.push(c.finish("violations"));

    let mut c = CaseBuilder::with_kind(kind);
    let d = c.legacy("/usr/bin/legacy", b"l", false);
    c.allow("/usr/bin/legacy", &d);
    c.legacy("/usr/bin/legacy-unknown", b"x", true);
    c.legacy("/usr/bin/legacy", b"changed", true);
    out.push(c.finish("legacy-ima"));

    let mut c = CaseBuilder::with_kind(kind);
    c.wrong_pcr("/usr/bin/pcr11", b"x");
    out.push(c.finish("wrong-pcr"));

    let mut c = CaseBuilder::with_kind(kind);
    c.digests.clear();
    c.expected.push(1);
    c.file("/usr/bin/x", b"x", true);
    out.push(c.finish("boot-aggregate-missing"));

    // Signature version 3 (as evmctl makes it): mr verifies it, keylime does not check v3 and
    // falls back to the allow-list (documented difference).
    let mut c = CaseBuilder::with_kind(kind);
    c.verification_keys = vec![k.rsa_spki.clone()];
    let v3 = ima_signature(Signer::Rsa, sha256(b"v").as_bytes(), 3, rsa_id);
    c.signed("/s/v3-good", b"v", &v3, false);
    c.signed("/s/v3-other-file", b"w", &v3, true);
    let v2_as_v3 = {
        let mut s = ima_signature(Signer::Rsa, sha256(b"v").as_bytes(), 2, rsa_id);
        s[1] = 3;
        s
    };
    c.signed("/s/v2-body-v3-header", b"v", &v2_as_v3, true);
    let mut case = c.finish("signature-v3");
    case.keylime_differs = true;
    out.push(case);

    out
}
