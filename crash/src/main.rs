//! `cairn-crash`: Cairn's crash-injection suites.
//!
//! - `sim --profile ci|long [--seed S] [--cut C --model M] [--json PATH]` — the crash-point
//!   explorer on `cairn-sim` (bounded-exhaustive and seeded-random workloads, every crash
//!   model, compound crashes during recovery); `--seed S --cut C --model M` replays one case.
//! - `kill --cycles N [--seed S] [--json PATH]` — the SIGKILL harness on the real file system.
//! - `faults [--json PATH]` — one suite per fault class, each with its pass rule.
//! - `ablate [--json PATH]` — switches off each sync site in turn; the suites must notice.
//!
//! Every suite prints its figures and exits non-zero on any violation. See `docs/TESTING.md`.

mod ablate;
mod check;
mod explore;
mod faults;
// One Figures type for every suite: xtask merges the JSON the crash suites write, so both
// binaries compile the same file.
#[allow(
    clippy::disallowed_methods,
    reason = "the figures file is the harness's own output, not a file under test"
)]
#[allow(dead_code, reason = "xtask's merge and parse_flat are not needed here")]
#[path = "../../xtask/src/figures.rs"]
mod figures;
mod journal;
mod kill;
mod rng;
mod system;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cairn-crash <suite> [options]

suites:
  sim --profile ci|long [--seed S] [--json PATH]
  sim --seed S --cut C --model M          replay one crash state
  kill --cycles N [--seed S] [--json PATH]
  faults [--json PATH]
  ablate [--json PATH]
";

/// Command-line options, `--name value` pairs after the suite name.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn take(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            return Ok(Some(self.rest.remove(i)[prefix.len()..].to_string()));
        }
        match self.rest.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) if i + 1 < self.rest.len() => {
                let v = self.rest.remove(i + 1);
                self.rest.remove(i);
                Ok(Some(v))
            }
            Some(_) => bail!("{name} needs a value"),
        }
    }

    fn take_u64(&mut self, name: &str) -> Result<Option<u64>> {
        self.take(name)?
            .map(|v| v.parse::<u64>().with_context(|| format!("{name} {v:?}")))
            .transpose()
    }

    fn done(&self) -> Result<()> {
        if let Some(extra) = self.rest.first() {
            bail!("unexpected argument {extra:?}\n\n{USAGE}");
        }
        Ok(())
    }
}

fn real_main() -> Result<bool> {
    let mut all: Vec<String> = std::env::args().skip(1).collect();
    if all.is_empty() {
        eprint!("{USAGE}");
        bail!("no suite given");
    }
    let suite = all.remove(0);
    let mut args = Args { rest: all };
    check::install_panic_hook();
    if suite != kill::CHILD_COMMAND {
        check::start_watchdog(Duration::from_secs(120));
    }
    let json = args.take("--json")?.map(PathBuf::from);
    match suite.as_str() {
        "sim" => {
            let profile = args.take("--profile")?.unwrap_or_else(|| "ci".into());
            let seed = args.take_u64("--seed")?;
            let cut = args.take_u64("--cut")?;
            let model = args.take("--model")?;
            args.done()?;
            explore::main(&profile, seed, cut, model, json)
        }
        "kill" => {
            let cycles = args.take_u64("--cycles")?.unwrap_or(200);
            let seed = args.take_u64("--seed")?;
            args.done()?;
            kill::main(cycles, seed, json)
        }
        kill::CHILD_COMMAND => {
            let rest = std::mem::take(&mut args.rest);
            kill::child_main(&rest)
        }
        "faults" => {
            args.done()?;
            faults::main(json)
        }
        "ablate" => {
            args.done()?;
            ablate::main(json)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(true)
        }
        other => bail!("unknown suite {other:?}\n\n{USAGE}"),
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cairn-crash: {e:#}");
            ExitCode::from(2)
        }
    }
}
