//! Figures a suite reports: printed as a table and written as one flat JSON object. Shared by
//! xtask and the crash suites (`crash/src/main.rs` includes this file), so the JSON that
//! `cargo xtask test` merges has one writer.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

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

    /// Reads back what [`Figures::to_json`] wrote: one flat JSON object whose values are
    /// integers, numbers, `null` (a non-finite measurement) or strings. Integers that fit
    /// a `u64` come back as counts, other numbers as measurements.
    pub fn parse_flat(text: &str) -> Result<Self> {
        let mut p = Parser {
            chars: text.trim().chars().peekable(),
        };
        let mut figures = Self::new();
        p.expect('{')?;
        if p.eat('}') {
            return p.end(figures);
        }
        loop {
            let key = p.string()?;
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("figure key {key:?} is not a snake_case identifier");
            }
            p.expect(':')?;
            let value = p.value()?;
            figures.entries.push((key, value));
            if p.eat('}') {
                return p.end(figures);
            }
            p.expect(',')?;
        }
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

/// The reader of [`Figures::parse_flat`].
struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    }

    /// Consumes `c` (after whitespace) if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        self.chars.next_if_eq(&c).is_some()
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if !self.eat(c) {
            bail!(
                "figures JSON: expected {c:?}, found {:?}",
                self.chars.peek()
            );
        }
        Ok(())
    }

    fn end(mut self, figures: Figures) -> Result<Figures> {
        self.skip_space();
        if let Some(c) = self.chars.next() {
            bail!("figures JSON: {c:?} after the object");
        }
        Ok(figures)
    }

    fn string(&mut self) -> Result<String> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.chars.next() {
                None => bail!("figures JSON: unterminated string"),
                Some('"') => return Ok(out),
                Some('\\') => match self.chars.next() {
                    Some('u') => {
                        let hex: String = self.chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .with_context(|| format!("figures JSON: bad escape \\u{hex}"))?;
                        out.push(code);
                    }
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(c @ ('"' | '\\' | '/')) => out.push(c),
                    other => bail!("figures JSON: bad escape \\{other:?}"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn value(&mut self) -> Result<Value> {
        self.skip_space();
        if self.chars.peek() == Some(&'"') {
            return Ok(Value::Text(self.string()?));
        }
        let mut word = String::new();
        while let Some(c) = self
            .chars
            .next_if(|c| !c.is_ascii_whitespace() && !matches!(c, ',' | '}'))
        {
            word.push(c);
        }
        if word == "null" {
            return Ok(Value::Float(f64::NAN));
        }
        if let Ok(v) = word.parse::<u64>() {
            return Ok(Value::Int(v));
        }
        match word.parse::<f64>() {
            Ok(v) => Ok(Value::Float(v)),
            Err(_) => bail!("figures JSON: {word:?} is not a figure's value"),
        }
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

    #[test]
    fn parse_flat_reads_back_to_json() {
        let mut f = Figures::new();
        f.push("acked_lost", 0u64);
        f.push("cases", 18_446_744_073_709_551_615u64);
        f.push("duration_s", 1.5f64);
        f.push("ratio", -0.25f64);
        f.push("unmeasured", f64::NAN);
        f.push("mode", "a, b: c");
        f.push("example", "say \"hi\", {x}\\ \u{1}");
        f.push("empty", "");
        let json = f.to_json();
        let back = Figures::parse_flat(&json).unwrap();
        assert_eq!(back.to_json(), json);
        let keys: Vec<&str> = back.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "acked_lost",
                "cases",
                "duration_s",
                "ratio",
                "unmeasured",
                "mode",
                "example",
                "empty"
            ]
        );
        assert!(matches!(&back.entries[5].1, Value::Text(t) if t == "a, b: c"));
        assert!(matches!(&back.entries[6].1, Value::Text(t) if t == "say \"hi\", {x}\\ \u{1}"));
        assert!(matches!(back.entries[2].1, Value::Float(v) if v == 1.5));
        assert_eq!(Figures::parse_flat("{}").unwrap().to_json(), "{}");
        assert!(Figures::parse_flat(r#"{"a": 1"#).is_err());
        assert!(Figures::parse_flat(r#"{"a b": 1}"#).is_err());
    }
}
