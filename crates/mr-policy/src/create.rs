//! Writing a runtime policy (keylime format version 1) from a known-good measurement list and/or
//! a directory tree, as keylime's `create_runtime_policy` does.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use mr_core::log::ima::{FieldId, FieldValue, ImaReader};
use mr_core::HashAlg;
use regex::Regex;
use serde_json::{json, Value};

use crate::error::PolicyError;
use crate::keys::ImaKey;

/// Collects allowed digests; [`PolicyBuilder::to_json`] writes the policy.
#[derive(Clone, Debug, Default)]
pub struct PolicyBuilder {
    digests: BTreeMap<String, Vec<String>>,
    keyrings: BTreeMap<String, Vec<String>>,
    ima_buf: BTreeMap<String, Vec<String>>,
    excludes: Vec<String>,
    exclude_regex: Option<Regex>,
}

/// What [`PolicyBuilder::add_tree`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeSummary {
    /// Regular files hashed.
    pub files: u64,
    /// Paths skipped because an exclude matched them.
    pub excluded: u64,
    /// Symbolic links and special files skipped (IMA measures the files they lead to under the
    /// path the program opened, which a tree walk cannot know).
    pub skipped: u64,
}

fn push_unique(map: &mut BTreeMap<String, Vec<String>>, name: &str, digest: &[u8]) {
    let hex = hex::encode(digest);
    let list = map.entry(name.to_owned()).or_default();
    if !list.contains(&hex) {
        list.push(hex);
    }
}

impl PolicyBuilder {
    /// An empty builder.
    pub fn new() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Add exclude patterns (Python `re` syntax the `regex` crate shares, matched at the start
    /// of the path): written to the policy's `excludes`, and paths of a tree that match are not
    /// hashed.
    pub fn with_excludes(mut self, excludes: Vec<String>) -> Result<PolicyBuilder, PolicyError> {
        self.excludes = excludes;
        // Compile through the policy validator so that create and appraise agree on syntax.
        let probe = self.to_json();
        let policy = crate::RuntimePolicy::from_value(probe)?;
        self.exclude_regex = policy.exclude_regex.clone();
        Ok(self)
    }

    /// Add every entry of a known-good list: files (`ima`, `ima-ng`, `ima-sig`) to `digests`,
    /// keys measured into keyrings to `keyrings`, other buffers to `ima-buf`. Violations carry no
    /// file digest and are skipped. Returns the number of entries read.
    pub fn add_list<R: BufRead>(&mut self, reader: &mut ImaReader<R>) -> Result<u64, PolicyError> {
        let mut n = 0;
        while let Some(entry) = reader.next_entry()? {
            n += 1;
            if entry.is_violation() {
                continue;
            }
            let (Some(name), Some((_, digest))) = (entry.event_name(), entry.file_digest()) else {
                continue;
            };
            match entry.template_name() {
                "ima" | "ima-ng" | "ima-sig" => push_unique(&mut self.digests, name, digest),
                "ima-buf" => {
                    let buf = match entry.field(FieldId::Buf).map(|f| f.value()) {
                        Some(FieldValue::Buffer(b)) => b,
                        _ => &[],
                    };
                    if matches!(ImaKey::from_buffer(buf), Ok(Some(_))) {
                        push_unique(&mut self.keyrings, name, digest);
                    } else {
                        push_unique(&mut self.ima_buf, name, digest);
                    }
                }
                _ => {}
            }
        }
        Ok(n)
    }

    /// Hash every regular file under `root` with `alg`, as IMA would log it: the path is the
    /// file's path with `root` taken as `/` (so a mounted image's files get the paths they have
    /// when it runs). Directories are walked without following symbolic links.
    pub fn add_tree(&mut self, root: &Path, alg: HashAlg) -> Result<TreeSummary, PolicyError> {
        let mut summary = TreeSummary::default();
        let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
        let io = |p: &Path, e: std::io::Error| PolicyError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        while let Some(dir) = stack.pop() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| io(&dir, e))?
                .map(|e| e.map(|e| e.path()).map_err(|e| io(&dir, e)))
                .collect::<Result<_, _>>()?;
            children.sort();
            for path in children {
                let logged = logged_path(root, &path);
                if self
                    .exclude_regex
                    .as_ref()
                    .is_some_and(|r| r.is_match(&logged))
                {
                    summary.excluded += 1;
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() {
                    let digest = hash_file(&path, alg).map_err(|e| io(&path, e))?;
                    push_unique(&mut self.digests, &logged, &digest);
                    summary.files += 1;
                } else {
                    summary.skipped += 1;
                }
            }
        }
        Ok(summary)
    }

    /// The policy document (keylime runtime policy version 1, generator "CompatibleAllowList").
    pub fn to_json(&self) -> Value {
        json!({
            "meta": {"version": 1, "generator": 2},
            "release": 0,
            "digests": self.digests,
            "excludes": self.excludes,
            "keyrings": self.keyrings,
            "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null},
            "ima-buf": self.ima_buf,
            "verification-keys": "",
        })
    }
}

/// `path` under `root` as `/a/b` (non-UTF-8 bytes replaced, as they cannot be JSON keys).
fn logged_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for part in rel.components() {
        out.push('/');
        out.push_str(&part.as_os_str().to_string_lossy());
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The file's digest with `alg`, read in 64 KiB blocks.
fn hash_file(path: &Path, alg: HashAlg) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = alg.hasher();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().as_bytes().to_vec())
}
