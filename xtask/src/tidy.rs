//! Source hygiene: rules every `.rs` file in the repository follows.
//!
//! - it opens with a `//!` paragraph saying what it is for;
//! - no debugging or placeholder macros are left behind;
//! - no test is switched off or turned into a panic expectation.
//!
//! Runs as `cargo xtask tidy` and as a `#[test]`, so `cargo test` enforces it.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One broken rule.
#[derive(Debug)]
pub struct Violation {
    pub path: PathBuf,
    pub line: usize,
    pub rule: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.rule)
    }
}

/// Patterns that must not appear, built with `concat!` so this file does not match itself.
const FORBIDDEN: &[(&str, &str)] = &[
    (concat!("dbg", "!("), "dbg! left in source"),
    (concat!("todo", "!("), "todo! left in source"),
    (
        concat!("unimplemented", "!("),
        "unimplemented! left in source",
    ),
    (
        concat!("#[", "ignore"),
        "an ignore attribute hides a test: fix it or delete it",
    ),
    (
        concat!("#[", "should_panic"),
        "a should-panic test: assert on a returned error instead",
    ),
];

/// Directories never scanned.
const SKIP_DIRS: &[&str] = &["target", ".git", "corpus", "artifacts"];

/// Checks every `.rs` file under `root`.
pub fn check(root: &Path) -> Result<Vec<Violation>> {
    let mut files = Vec::new();
    collect(root, &mut files)?;
    assert!(
        !files.is_empty(),
        "no .rs files found under {}",
        root.display()
    );
    let mut violations = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if !text.starts_with("//!") {
            violations.push(Violation {
                path: shown.clone(),
                line: 1,
                rule: "file must open with a `//!` paragraph saying what it is for",
            });
        }
        for (index, line) in text.lines().enumerate() {
            for (pattern, rule) in FORBIDDEN {
                if line.contains(pattern) {
                    violations.push(Violation {
                        path: shown.clone(),
                        line: index + 1,
                        rule,
                    });
                }
            }
        }
    }
    Ok(violations)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&name.as_ref()) && !name.starts_with('.') {
                collect(&path, out)?;
            }
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_is_tidy() {
        let root = crate::workspace_root();
        let violations = check(&root).unwrap();
        let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(
            violations.is_empty(),
            "tidy violations:\n{}",
            report.join("\n")
        );
    }

    #[test]
    fn rules_catch_what_they_name() {
        let dir = std::env::temp_dir().join(format!("cairn-tidy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.rs"), "fn main() {}\n").unwrap();
        let bad = format!("//! ok\n{}\n", concat!("#[", "ignore]"));
        std::fs::write(dir.join("b.rs"), bad).unwrap();
        let mut found = check(&dir).unwrap();
        found.sort_by_key(|v| (v.path.clone(), v.line));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].rule.contains("//!"));
        assert!(found[1].rule.contains("ignore"));
    }
}
