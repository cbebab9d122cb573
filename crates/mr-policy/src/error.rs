//! The errors of mr-policy.

/// A runtime policy, a deny list or an appraised list that cannot be used: the caller must not
/// appraise with it (CLI exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The document is larger than the cap.
    #[error("{what} is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Not JSON, or JSON nested too deeply.
    #[error("runtime policy is not valid JSON: {0}")]
    Json(String),
    /// A DSSE envelope that cannot be opened.
    #[error("DSSE envelope: {0}")]
    Envelope(String),
    /// The policy breaks keylime's `RUNTIME_POLICY_SCHEMA` (or the keyring schema of its
    /// `verification-keys`).
    #[error("runtime policy does not match the schema at {path}: {message}")]
    Schema {
        /// JSON pointer-like location.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A format version this implementation does not know (keylime's current version is 1).
    #[error("runtime policy version {0} is not supported (version 1 is)")]
    Version(u64),
    /// An exclude pattern that does not compile (or uses Python `re` syntax the `regex` crate
    /// lacks: look-around, back-references), or compiles to more than the size limit.
    #[error("exclude pattern {index} ({pattern:?}): {message}")]
    Exclude {
        /// 0-based index in `excludes`.
        index: usize,
        /// The pattern (truncated).
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// A key of `verification-keys` that cannot be used.
    #[error("verification key {index}: {source}")]
    VerificationKey {
        /// 0-based index in `pubkeys`.
        index: usize,
        /// Why.
        source: crate::keys::KeyError,
    },
    /// A deny-list line that is not a hex digest.
    #[error("deny list line {line}: {message}")]
    DenyList {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The measurement list cannot be read.
    #[error("measurement list: {0}")]
    List(#[from] mr_core::Error),
    /// The appraisal policy document does not match its schema (`docs/policy.schema.json`).
    #[error("policy document does not match the schema at {path}: {message}")]
    Document {
        /// JSON pointer-like location.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The boot log cannot be read for its facts.
    #[error("boot log: {0}")]
    BootLog(String),
    /// A deny list without a runtime policy (it would apply to nothing).
    #[error(
        "a deny list applies with a runtime policy: give a runtime policy or a policy document \
         that names one"
    )]
    DenyListAlone,
    /// Reading a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        message: String,
    },
}
