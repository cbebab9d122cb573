//! Every citation in the repository can be followed: no comment, doc or script cites the
//! design notes that live outside the repository, and every `docs/….md` path and Markdown link
//! to a `.md` file (with or without `#anchor`) names a file that exists and a heading it has.
//!
//! Anchors are GitHub's heading slugs: lowercase, punctuation other than `-` and `_` dropped,
//! spaces turned into `-`, `-1`, `-2`, … appended to repeated headings; `<a id="…">` and
//! `<a name="…">` count too.
#![allow(clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Extensions of the files that may cite something.
const TEXT_EXTENSIONS: [&str; 8] = ["rs", "md", "toml", "sh", "py", "yml", "yaml", "txt"];

/// Directories that hold no source: build output, VCS data, fuzzing corpora and crashes.
const SKIPPED_DIRS: [&str; 5] = ["target", ".git", "corpus", "artifacts", "node_modules"];

/// Citations of files outside the repository (spelt in pieces so that a `grep` for them finds
/// no false hit here; this file is not scanned either, as its tests name missing files).
const FORBIDDEN_CITATIONS: [&str; 6] = [
    concat!("SPECS ", "\u{a7}"),
    concat!("DESIGN ", "\u{a7}"),
    concat!("SPECS", ".md"),
    concat!("DESIGN", ".md"),
    concat!("PEERS", ".md"),
    concat!("STYLE", ".md"),
];

/// Every text file under `dir` that may hold a citation (including `.ci/run`).
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry
            .file_type()
            .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()));
        if file_type.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                text_files(&path, out);
            }
        } else if file_type.is_file() {
            let by_extension = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| TEXT_EXTENSIONS.contains(&e));
            let ci_script = path.parent().and_then(|p| p.file_name()) == Some(".ci".as_ref());
            if by_extension || ci_script {
                out.push(path);
            }
        }
    }
}

/// GitHub's anchor for a heading text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown file defines: heading slugs (outside code fences) and HTML ids.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            let base = slug(&trimmed[hashes..]);
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(&format!("<a {attr}")) {
                rest = &rest[at + 3 + attr.len()..];
                if let Some(end) = rest.find('"') {
                    out.insert(rest[..end].to_owned());
                }
            }
        }
    }
    out
}

/// Whether `b` may be part of a path or an anchor in a citation.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

fn is_anchor_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-')
}

/// A cited Markdown file (relative to the repository root, or to `base` for a relative link)
/// and the anchor it names, if any.
struct Citation {
    line: usize,
    target: PathBuf,
    anchor: Option<String>,
}

/// `target` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Read an anchor starting at `at` (just after `#`).
fn anchor_at(text: &[u8], at: usize) -> Option<String> {
    let end = text[at..]
        .iter()
        .position(|&b| !is_anchor_byte(b))
        .map_or(text.len(), |n| at + n);
    // A sentence may end right after an anchor: "see docs/formats.md#ima-kexec."
    let anchor = String::from_utf8_lossy(&text[at..end])
        .trim_end_matches('-')
        .to_owned();
    (!anchor.is_empty()).then_some(anchor)
}

/// The citations in one file: bare `docs/NAME.md[#anchor]` paths anywhere (relative to the
/// root), and in Markdown files the `](target.md[#anchor])` and `](#anchor)` links (relative to
/// the file).
fn citations(file: &Path, text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let is_markdown = file.extension().is_some_and(|e| e == "md");
    let dir = file.parent().unwrap_or(Path::new(""));
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        // Bare `docs/….md` mentions.
        let mut from = 0;
        while let Some(at) = line[from..].find("docs/").map(|i| from + i) {
            from = at + 5;
            if at > 0 && is_path_byte(bytes[at - 1]) {
                continue; // part of a longer path (`benches/docs/…`, `../docs/…`): not root-relative
            }
            let end = bytes[at..]
                .iter()
                .position(|&b| !is_path_byte(b))
                .map_or(bytes.len(), |k| at + k);
            let path = line[at..end].trim_end_matches('.');
            let Some(stem) = path.strip_suffix(".md") else {
                continue;
            };
            let anchor = (bytes.get(at + stem.len() + 3) == Some(&b'#'))
                .then(|| anchor_at(bytes, at + stem.len() + 4))
                .flatten();
            out.push(Citation {
                line: n + 1,
                target: PathBuf::from(path),
                anchor,
            });
        }
        if !is_markdown {
            continue;
        }
        // Markdown links `](…)`.
        let mut from = 0;
        while let Some(at) = line[from..].find("](").map(|i| from + i) {
            from = at + 2;
            let rest = &line[at + 2..];
            let Some(close) = rest.find(')') else {
                continue;
            };
            let link = &rest[..close];
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a.to_owned())),
                None => (link, None),
            };
            if !(path.is_empty() || path.ends_with(".md")) {
                continue;
            }
            let target = if path.is_empty() {
                file.strip_prefix(ROOT).unwrap_or(file).to_path_buf()
            } else {
                normalize(&dir.strip_prefix(ROOT).unwrap_or(dir).join(path))
            };
            out.push(Citation {
                line: n + 1,
                target,
                anchor,
            });
        }
    }
    out
}

#[test]
fn every_citation_can_be_followed() {
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    text_files(root, &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("docs/formats.md")),
        "the walk found no docs/formats.md under {ROOT}"
    );

    let mut anchor_cache: BTreeMap<PathBuf, Option<BTreeSet<String>>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut followed = 0usize;
    for file in files.iter().filter(|f| !f.ends_with(file!())) {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not UTF-8: not a text file
        };
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            for f in FORBIDDEN_CITATIONS {
                if line.contains(f) {
                    problems.push(format!(
                        "{shown}:{}: cites `{f}`, which is not in the repository; cite docs/ or the public specification",
                        n + 1
                    ));
                }
            }
        }
        for c in citations(file, &text) {
            followed += 1;
            let anchors = anchor_cache.entry(c.target.clone()).or_insert_with(|| {
                std::fs::read_to_string(root.join(&c.target))
                    .ok()
                    .map(|t| anchors(&t))
            });
            match (anchors, &c.anchor) {
                (None, _) => problems.push(format!(
                    "{shown}:{}: cites {}, which does not exist",
                    c.line,
                    c.target.display()
                )),
                (Some(set), Some(a)) if !set.contains(a) => problems.push(format!(
                    "{shown}:{}: cites {}#{a}, which has no such heading",
                    c.line,
                    c.target.display()
                )),
                _ => {}
            }
        }
    }
    assert!(
        followed > 40,
        "only {followed} citations found: the scanner is broken"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("IMA binary list"), "ima-binary-list");
    assert_eq!(slug("CEL: TLV (v1.0)"), "cel-tlv-v10");
    assert_eq!(slug("configfs-tsm"), "configfs-tsm");
    let set = anchors("# A\n## A\n```\n# not a heading\n```\n<a id=\"x-y\"></a>\n");
    let expected: BTreeSet<String> = ["a", "a-1", "x-y"].iter().map(|s| s.to_string()).collect();
    assert_eq!(set, expected);
}

#[test]
fn the_scanner_finds_what_it_must_refuse() {
    let file = Path::new(ROOT).join("docs/example.md");
    let text = "see docs/formats.md#ima-kexec. and [x](cli.md#exit-codes) and [y](#here)\n";
    let found = citations(&file, text);
    let shown: Vec<(String, Option<String>)> = found
        .iter()
        .map(|c| (c.target.display().to_string(), c.anchor.clone()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("docs/formats.md".to_owned(), Some("ima-kexec".to_owned())),
            ("docs/cli.md".to_owned(), Some("exit-codes".to_owned())),
            ("docs/example.md".to_owned(), Some("here".to_owned())),
        ]
    );
    let line = concat!("// Layout: see SPECS", " \u{a7}6.");
    assert!(FORBIDDEN_CITATIONS.iter().any(|f| line.contains(f)));
}
