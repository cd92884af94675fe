//! Figures a suite reports: printed as a table and written as one flat JSON object. Shared by
//! xtask and the crash suites (`crash/src/main.rs` includes this file), so the JSON that
//! `cargo xtask test` merges has one writer.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// One figure's value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A count.
    Int(u64),
    /// A measurement.
    Float(f64),
    /// A label (a seed as text, a mode name).
    Text(String),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

/// An ordered list of named figures.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    entries: Vec<(String, Value)>,
}

impl Figures {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        assert!(
            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "figure keys are snake_case identifiers: {key:?}"
        );
        self.entries.push((key.to_string(), value.into()));
    }

    /// Adds every figure of `other`, each key prefixed.
    pub fn merge(&mut self, prefix: &str, other: &Figures) {
        for (key, value) in &other.entries {
            self.push(&format!("{prefix}{key}"), value.clone());
        }
    }

    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{key}\": ");
            match value {
                Value::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Float(v) if v.is_finite() => {
                    let _ = write!(out, "{v}");
                }
                Value::Float(_) => out.push_str("null"),
                Value::Text(s) => {
                    out.push('"');
                    for c in s.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(out, "\\u{:04x}", c as u32);
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
            }
        }
        out.push('}');
        out
    }

    pub fn print(&self, suite: &str) {
        println!("== {suite} figures ==");
        for (key, value) in &self.entries {
            match value {
                Value::Int(v) => println!("  {key:<32} {v}"),
                Value::Float(v) => println!("  {key:<32} {v:.3}"),
                Value::Text(v) => println!("  {key:<32} {v}"),
            }
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json() + "\n")
            .with_context(|| format!("writing figures to {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_flat_and_escaped() {
        let mut f = Figures::new();
        f.push("acked_lost", 0u64);
        f.push("duration_s", 1.5f64);
        f.push("seed", "a\"b");
        assert_eq!(
            f.to_json(),
            r#"{"acked_lost": 0, "duration_s": 1.5, "seed": "a\"b"}"#
        );
    }
}
