//! `--oracle openvino`: the real OpenVINO runtime (PyPI package) runs every IR we wrote and,
//! for comparison, the original ONNX model converted by OpenVINO itself
//! (`xtask/py/ov_oracle.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::{CaseRecord, Class};

/// One side (our IR, or OpenVINO's own conversion) of one case.
#[derive(Debug, Clone, Deserialize)]
pub struct Side {
    /// pass, reject (read or compile failed), wrong (values), bad-shape-or-type, error
    /// (inference failed), crash, timeout, none (no IR to check).
    pub status: String,
    #[serde(default)]
    pub reason: String,
}

/// The oracle's verdict on one case.
#[derive(Debug, Clone, Deserialize)]
pub struct OracleCase {
    pub key: String,
    pub ir: Side,
    pub onnx: Side,
}

/// Counts and lists over all cases.
#[derive(Debug, Default)]
pub struct Summary {
    pub cases: usize,
    pub irs: usize,
    pub ir_accepted: usize,
    pub ir_correct: usize,
    pub onnx_accepted: usize,
    pub onnx_correct: usize,
    /// OpenVINO rejects or miscomputes our IR but handles the ONNX itself: our IR bugs.
    pub ir_bugs: Vec<(String, String, String)>,
    /// OpenVINO computes our IR correctly but our plugin's run failed: our plugin's bugs.
    pub plugin_bugs: Vec<(String, String)>,
    pub report: PathBuf,
}

fn accepted(s: &Side) -> bool {
    matches!(s.status.as_str(), "pass" | "wrong" | "bad-shape-or-type" | "error")
}

impl Summary {
    /// Lines for the console.
    pub fn text(&self) -> String {
        let mut s = format!(
            "oracle openvino: {} IRs written for {} cases; OpenVINO accepts {} and computes {} correctly; \
             OpenVINO's own conversion of the ONNX: accepts {}, correct {}\n",
            self.irs, self.cases, self.ir_accepted, self.ir_correct, self.onnx_accepted, self.onnx_correct
        );
        s.push_str(&format!(
            "oracle openvino: {} of our IRs fail in OpenVINO while its own conversion passes (our IR bugs){}\n",
            self.ir_bugs.len(),
            if self.ir_bugs.is_empty() { "" } else { ":" }
        ));
        for (k, st, r) in &self.ir_bugs {
            s.push_str(&format!("  {k} {st}: {r}\n"));
        }
        s.push_str(&format!(
            "oracle openvino: {} cases fail in our plugin although OpenVINO computes our IR correctly (details in {})\n",
            self.plugin_bugs.len(),
            self.report.display()
        ));
        s
    }

    /// The same as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "cases": self.cases,
            "irs_written": self.irs,
            "ir_accepted": self.ir_accepted,
            "ir_correct": self.ir_correct,
            "onnx_accepted": self.onnx_accepted,
            "onnx_correct": self.onnx_correct,
            "ir_bugs": self.ir_bugs.iter().map(|(k, st, r)| serde_json::json!({"case": k, "status": st, "reason": r})).collect::<Vec<_>>(),
            "plugin_bugs": self.plugin_bugs.iter().map(|(k, c)| serde_json::json!({"case": k, "our_class": c})).collect::<Vec<_>>(),
            "details": self.report,
        })
    }
}

/// Runs `xtask/py/ov_oracle.py` over the records and summarises its verdicts.
pub fn run(
    root: &Path,
    python: &Path,
    out_dir: &Path,
    records: &[CaseRecord],
    jobs: usize,
    timeout: Duration,
) -> Result<Summary> {
    std::fs::create_dir_all(out_dir)?;
    let list_path = out_dir.join("oracle-cases.json");
    let result_path = out_dir.join("oracle.json");
    let list: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "key": r.key(),
                "dir": r.dir,
                "ir_xml": r.outcome.ir_xml,
                "timeout": if r.group == "light" { timeout.as_secs() * 5 } else { timeout.as_secs() },
            })
        })
        .collect();
    std::fs::write(&list_path, serde_json::to_string(&list)?)?;
    let script = root.join("xtask/py/ov_oracle.py");
    eprintln!("conformance: oracle: OpenVINO on {} cases ({})", records.len(), script.display());
    let status = Command::new(python)
        .arg(&script)
        .arg(&list_path)
        .arg(&result_path)
        .arg("--jobs")
        .arg(jobs.max(1).to_string())
        .status()
        .with_context(|| format!("starting {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    let text = std::fs::read_to_string(&result_path).with_context(|| format!("reading {}", result_path.display()))?;
    let verdicts: Vec<OracleCase> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", result_path.display()))?;
    let ours: std::collections::HashMap<String, Class> = records.iter().map(|r| (r.key(), r.outcome.class)).collect();
    let mut s = Summary { cases: verdicts.len(), report: result_path, ..Summary::default() };
    for v in &verdicts {
        if v.ir.status != "none" {
            s.irs += 1;
        }
        if accepted(&v.ir) {
            s.ir_accepted += 1;
        }
        if v.ir.status == "pass" {
            s.ir_correct += 1;
        }
        if accepted(&v.onnx) {
            s.onnx_accepted += 1;
        }
        if v.onnx.status == "pass" {
            s.onnx_correct += 1;
        }
        if v.ir.status != "none" && v.ir.status != "pass" && v.onnx.status == "pass" {
            s.ir_bugs.push((v.key.clone(), v.ir.status.clone(), v.ir.reason.clone()));
        }
        if v.ir.status == "pass"
            && let Some(c) = ours.get(&v.key)
            && *c != Class::Pass
        {
            s.plugin_bugs.push((v.key.clone(), c.name().to_string()));
        }
    }
    Ok(s)
}
