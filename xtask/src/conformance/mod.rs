//! `cargo xtask conformance`: the ONNX backend test suite through the whole flow.
//!
//! The driver (this module, built in the dev profile by `cargo xtask`) prepares a Python venv
//! with the pinned `onnx`, writes the test data with `xtask/py/gen_data.py`, builds a release
//! copy of this binary with the `runner` feature, and runs every case in its own child process
//! (`xtask conformance-case <dir>`) with a timeout, so a crash or a hang costs one case only.
//! The outcomes are compared with `xtask/conformance-expected.txt`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

mod driver;
mod expect;
mod oracle;
pub mod setup;

#[cfg(feature = "runner")]
mod runner;

/// The groups of the suite, in report order.
pub const GROUPS: [&str; 5] = ["node", "simple", "pytorch-converted", "pytorch-operator", "light"];

/// Marker in front of the one JSON line a case child prints.
pub const RESULT_MARKER: &str = "@@xtask-case-result ";

/// Command-line options of `cargo xtask conformance`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Rewrite xtask/conformance-expected.txt from this run (only the cases that ran).
    #[arg(long)]
    pub bless: bool,
    /// Only cases whose `<group>/<case>` matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub filter: Option<String>,
    /// Only this group (node, simple, pytorch-converted, pytorch-operator, light); repeatable.
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
    /// Run every case folder (model.onnx + test_data_set_*) under DIR instead of the suite;
    /// no expectations are checked and any failure fails the run.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,
    /// Also check the emitted IR with a reference runtime (`openvino`).
    #[arg(long, value_name = "RUNTIME")]
    pub oracle: Option<String>,
    /// Parallel case processes.
    #[arg(long, short = 'j', default_value_t = 2)]
    pub jobs: usize,
    /// Per-case timeout in seconds (cases of the `light` group get 5x).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// INFERENCE_NUM_THREADS of each case's compiled model (default: the plugin's default).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Keep every case's IR under target/conformance/ir (always kept with --oracle).
    #[arg(long)]
    pub keep_ir: bool,
    /// Regenerate the test data even when its stamp is current.
    #[arg(long)]
    pub regen: bool,
    /// Use this runner binary instead of building target/release/xtask --features runner.
    #[arg(long, value_name = "PATH", hide = true)]
    pub runner: Option<PathBuf>,
}

/// How one case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Every output matched the reference.
    Pass,
    /// The frontend has no translator for an ONNX (domain, op, opset).
    UnsupportedOp,
    /// Any other conversion failure.
    ConversionError,
    /// `save_model` or `read_model` failed.
    IrRoundtripError,
    /// `compile_model` failed.
    CompileError,
    /// `infer` failed (or the test data could not be fed).
    RuntimeError,
    /// Values differ beyond the tolerance.
    WrongResult,
    /// Output count, shape or element type differs.
    BadShapeOrType,
    /// The case process panicked, aborted or was killed by a signal.
    Crash,
    /// The case process ran longer than the timeout.
    Timeout,
}

impl Class {
    /// All classes, in table order.
    pub const ALL: [Class; 10] = [
        Class::Pass,
        Class::UnsupportedOp,
        Class::ConversionError,
        Class::IrRoundtripError,
        Class::CompileError,
        Class::RuntimeError,
        Class::WrongResult,
        Class::BadShapeOrType,
        Class::Crash,
        Class::Timeout,
    ];

    /// The kebab-case name used in the table, the report and the expectations file.
    pub fn name(self) -> &'static str {
        match self {
            Class::Pass => "pass",
            Class::UnsupportedOp => "unsupported-op",
            Class::ConversionError => "conversion-error",
            Class::IrRoundtripError => "ir-roundtrip-error",
            Class::CompileError => "compile-error",
            Class::RuntimeError => "runtime-error",
            Class::WrongResult => "wrong-result",
            Class::BadShapeOrType => "bad-shape-or-type",
            Class::Crash => "crash",
            Class::Timeout => "timeout",
        }
    }

    /// Parses [`Class::name`].
    pub fn from_name(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The ONNX op a conversion failed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsupportedOp {
    /// Operator set domain (`ai.onnx` for the default one).
    pub domain: String,
    /// Operator type.
    pub op: String,
    /// The model's opset version for that domain.
    pub opset: i64,
}

/// Milliseconds spent in each stage of one case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StageTimes {
    pub convert_ms: f64,
    pub save_ms: f64,
    pub read_ms: f64,
    pub compile_ms: f64,
    pub infer_ms: f64,
}

/// What a case child reports (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseOutcome {
    /// The class; `pass` when everything matched.
    pub class: Class,
    /// One line for a person; empty on pass.
    pub reason: String,
    /// The op the frontend could not translate, for `unsupported-op`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<UnsupportedOp>,
    /// Outputs were compared by shape and type only (the model draws random numbers).
    #[serde(default)]
    pub shape_type_only: bool,
    /// Number of test data sets run.
    #[serde(default)]
    pub data_sets: usize,
    /// The IR written for this case, when saving got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir_xml: Option<PathBuf>,
    /// Time per stage inside the child.
    #[serde(default)]
    pub times: StageTimes,
}

impl CaseOutcome {
    /// A failed outcome with a reason (made one line).
    pub fn fail(class: Class, reason: impl AsRef<str>) -> CaseOutcome {
        CaseOutcome {
            class,
            reason: one_line(reason.as_ref()),
            unsupported: None,
            shape_type_only: false,
            data_sets: 0,
            ir_xml: None,
            times: StageTimes::default(),
        }
    }
}

/// One case of the run: where it lives and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub group: String,
    pub case: String,
    pub dir: PathBuf,
    #[serde(flatten)]
    pub outcome: CaseOutcome,
    /// Wall time of the child process, ms.
    pub wall_ms: f64,
}

impl CaseRecord {
    /// `<group>/<case>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.case)
    }
}

/// Collapses whitespace runs (newlines included) to one space and caps the length.
pub fn one_line(s: &str) -> String {
    const MAX: usize = 400;
    let mut out = String::with_capacity(s.len().min(MAX + 3));
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > MAX {
            let mut cut = MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out
}

/// `cargo xtask conformance`; returns the process exit code.
pub fn run(root: &Path, args: &Args) -> Result<i32> {
    driver::run(root, args)
}

/// `xtask conformance-case DIR --ir-dir IR`: runs one case and prints its outcome.
pub fn run_case_child(dir: &Path, ir_dir: &Path) -> Result<i32> {
    let outcome = run_case_guarded(dir, ir_dir);
    println!("{RESULT_MARKER}{}", serde_json::to_string(&outcome)?);
    Ok(0)
}

#[cfg(feature = "runner")]
fn run_case_guarded(dir: &Path, ir_dir: &Path) -> CaseOutcome {
    runner::run_case_catching_panics(dir, ir_dir)
}

#[cfg(not(feature = "runner"))]
fn run_case_guarded(_dir: &Path, _ir_dir: &Path) -> CaseOutcome {
    CaseOutcome::fail(Class::Crash, "this xtask binary was built without the `runner` feature")
}

/// Counts of outcomes per group and class.
pub type Table = BTreeMap<String, BTreeMap<Class, usize>>;
