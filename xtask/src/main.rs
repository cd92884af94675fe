//! `cargo xtask`: Cairn's developer tasks.
//!
//! Subcommands:
//!
//! - `test` — everything CI runs: the workspace tests (nextest when installed), the doc
//!   tests, and the short forms of the loom and crash suites as they exist.
//! - `ci` — `cargo fmt --check`, `cargo clippy -D warnings`, then `test`.
//! - `tidy` — source hygiene checks (also run as a `#[test]`).
//! - `loom [--json PATH]` — the loom models of the WAL's group-commit core.
//! - `bench --quick|--full [--json PATH]` — the benchmark package in `bench/`, a workspace of
//!   its own so the peers it compares against stay out of the default build.
//!
//! Every suite that reports figures accepts `--json PATH` and writes one flat JSON object.
#![allow(
    clippy::disallowed_methods,
    reason = "xtask is developer tooling over the source tree, not a store: it reads files directly"
)]

mod figures;
mod s3;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::figures::Figures;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test                 run every test CI runs (workspace, doc tests, short loom suite)
  ci                   fmt check, clippy -D warnings, then test
  tidy                 source hygiene checks
  loom [--json PATH]   loom models of the WAL commit core (LOOM_MAX_PREEMPTIONS=2)
  bench --quick|--full [--json PATH]
                       the WAL against its peers and the machine's limits (bench/)
";

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprint!("{USAGE}");
        bail!("no command given");
    }
    let command = args.remove(0);
    let root = workspace_root();
    if command == "crash" {
        // The crash suites live in the `cairn-crash` package; run them optimised.
        return run(Command::new("cargo")
            .args(["run", "--release", "--quiet", "-p", "cairn-crash", "--"])
            .args(&args));
    }
    if command == "bench" {
        // The benchmark package is its own workspace under bench/, so its peers (raft-engine,
        // sled, ...) never enter the default build; arguments pass straight through.
        return run(Command::new("cargo")
            .args(["run", "--release", "--quiet", "--manifest-path"])
            .arg(root.join("bench/Cargo.toml"))
            .arg("--")
            .args(&args));
    }
    let json = take_option(&mut args, "--json")?.map(PathBuf::from);
    if let Some(extra) = args.first() {
        bail!("unexpected argument {extra:?} for `cargo xtask {command}`\n\n{USAGE}");
    }
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match command.as_str() {
        "test" => test(&root, json.as_deref()),
        "ci" => {
            run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
            run(Command::new("cargo").args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))?;
            test(&root, json.as_deref())
        }
        "tidy" => {
            let violations = tidy::check(&root)?;
            for v in &violations {
                eprintln!("{v}");
            }
            if !violations.is_empty() {
                bail!("{} tidy violation(s)", violations.len());
            }
            println!("tidy: clean");
            Ok(())
        }
        "loom" => loom(&root, json.as_deref()).map(|_| ()),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// Removes `--name VALUE` (or `--name=VALUE`) from `args`.
fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>> {
    let prefix = format!("{name}=");
    if let Some(i) = args.iter().position(|a| a.starts_with(&prefix)) {
        let value = args.remove(i)[prefix.len()..].to_string();
        return Ok(Some(value));
    }
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Ok(Some(value))
        }
        Some(_) => bail!("{name} needs a value"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs a command, echoing it, and fails if it does not exit 0.
fn run(command: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(command));
    let status = command
        .status()
        .with_context(|| format!("starting {}", display(command)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", display(command));
    }
    Ok(())
}

fn display(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn have_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test(root: &Path, json: Option<&Path>) -> Result<()> {
    let start = Instant::now();
    let mut figures = Figures::new();
    // Tests that talk to object storage use this server; with CAIRN_S3_REQUIRED set they fail,
    // rather than skip, when no endpoint is given.
    let s3 = s3::start()?;
    let cargo = || {
        let mut command = Command::new("cargo");
        command
            .env("CAIRN_S3_ENDPOINT", &s3.endpoint)
            .env("CAIRN_S3_REQUIRED", "1");
        command
    };
    if have_nextest() {
        run(cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--no-fail-fast",
            "--final-status-level",
            "fail",
        ]))?;
    } else {
        eprintln!("cargo-nextest not found; using cargo test");
        run(cargo().args([
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ]))?;
    }
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    drop(s3);
    if let Some(loom) = loom(root, None)? {
        figures.merge("loom_", &loom);
    }
    // The crash suites (crash/, see docs/TESTING.md) in their CI form, optimised. Each prints
    // its own figures; they are merged here as `crash_<suite>_<figure>`. Every suite gates:
    // a failing one fails `xtask test` after all four have run and reported.
    let crash_suites: [(&str, &[&str]); 4] = [
        ("sim", &["sim", "--profile", "ci"]),
        ("kill", &["kill", "--cycles", "200"]),
        ("faults", &["faults"]),
        ("ablate", &["ablate"]),
    ];
    let crash_dir = root.join("target/crash-figures");
    std::fs::create_dir_all(&crash_dir).context("creating target/crash-figures")?;
    let crash_start = Instant::now();
    let mut crash_failed = Vec::new();
    for (suite, args) in crash_suites {
        let json_path = crash_dir.join(format!("{suite}.json"));
        let _ = std::fs::remove_file(&json_path);
        let mut command = Command::new("cargo");
        command
            .args(["run", "--release", "-p", "cairn-crash", "--"])
            .args(args)
            .arg("--json")
            .arg(&json_path);
        eprintln!("$ {}", display(&command));
        let status = command.status().context("running cairn-crash")?;
        if let Ok(text) = std::fs::read_to_string(&json_path) {
            match Figures::parse_flat(&text) {
                Ok(suite_figures) => figures.merge(&format!("crash_{suite}_"), &suite_figures),
                Err(e) => eprintln!("crash {suite}: ignoring {}: {e:#}", json_path.display()),
            }
        }
        if !status.success() {
            crash_failed.push(suite);
        }
    }
    figures.push("crash_duration_s", crash_start.elapsed().as_secs_f64());
    if !crash_failed.is_empty() {
        figures.print("test");
        bail!("crash suite(s) failed: {}", crash_failed.join(", "));
    }
    figures.push("test_duration_s", start.elapsed().as_secs_f64());
    figures.print("test");
    if let Some(path) = json {
        figures.write(path)?;
    }
    Ok(())
}

/// Runs the loom models if the WAL has them; returns their figures.
fn loom(root: &Path, json: Option<&Path>) -> Result<Option<Figures>> {
    const PREEMPTION_BOUND: u64 = 2;
    let commit = std::fs::read_to_string(root.join("crates/cairn-wal/src/commit.rs"))
        .context("reading crates/cairn-wal/src/commit.rs")?;
    if !commit.contains("mod loom_models") {
        eprintln!("loom: no models in crates/cairn-wal/src/commit.rs");
        return Ok(None);
    }
    let start = Instant::now();
    // A separate target directory: `--cfg cairn_loom` changes every crate's fingerprint.
    let output = Command::new("cargo")
        .args([
            "test",
            "--release",
            "-p",
            "cairn-wal",
            "--lib",
            "loom_models",
            "--",
            "--test-threads=1",
        ])
        .env("RUSTFLAGS", "--cfg cairn_loom")
        .env("CARGO_TARGET_DIR", root.join("target/loom"))
        .env("LOOM_MAX_PREEMPTIONS", PREEMPTION_BOUND.to_string())
        .output()
        .context("running the loom models")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in stdout.lines() {
        if line.starts_with("test ") && line.ends_with(" ok") {
            passed += 1;
        } else if line.starts_with("test ") && line.ends_with(" FAILED") {
            failed += 1;
        }
    }
    let mut figures = Figures::new();
    figures.push("models", passed + failed);
    figures.push("models_passed", passed);
    figures.push("preemption_bound", PREEMPTION_BOUND);
    figures.push("duration_s", start.elapsed().as_secs_f64());
    figures.print("loom");
    if let Some(path) = json {
        figures.write(path)?;
    }
    if !output.status.success() || failed > 0 || passed == 0 {
        eprint!("{stderr}");
        bail!("loom: {failed} model(s) failed, {passed} passed");
    }
    Ok(Some(figures))
}
