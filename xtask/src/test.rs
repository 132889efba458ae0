//! `cargo xtask test`: every check the project gates on, in the order CI runs them.
//!
//! Formatting, clippy (the runner feature of xtask included), the workspace tests (which use
//! the Python oracles in `target/py`, so the venv is made first), and the conformance gate.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn step(name: &str, cmd: &mut Command) -> Result<bool> {
    eprintln!("\n==> {name}: {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {name}"))?;
    if !status.success() {
        eprintln!("==> {name} FAILED ({status})");
    }
    Ok(status.success())
}

/// Runs all gates; returns the process exit code (0 when every gate passed).
pub fn run(root: &Path) -> Result<i32> {
    crate::conformance::setup::ensure_venv(root)?;
    let fmt = step("fmt", cargo().current_dir(root).args(["fmt", "--all", "--check"]))?;
    let clippy = step(
        "clippy",
        cargo().current_dir(root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    )?;
    let clippy_runner = step(
        "clippy-runner",
        cargo().current_dir(root).args([
            "clippy",
            "-p",
            "xtask",
            "--all-targets",
            "--features",
            "runner",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let tests = step("tests", cargo().current_dir(root).args(["test", "--workspace"]))?;
    let mut results = vec![("fmt", fmt), ("clippy", clippy), ("clippy-runner", clippy_runner), ("tests", tests)];
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    results.push(("conformance", step("conformance", Command::new(exe).current_dir(root).arg("conformance"))?));
    let failed: Vec<&str> = results.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    let passed = results.len() - failed.len();
    eprintln!();
    if !failed.is_empty() {
        eprintln!("failed gates: {}", failed.join(", "));
    }
    println!("gates: {passed} passed, {} failed", failed.len());
    Ok(if failed.is_empty() { 0 } else { 1 })
}
