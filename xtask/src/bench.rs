//! `cargo xtask bench`: our CPU plugin against onnxruntime and OpenVINO, same models, same run.
//!
//! For each model and thread count the three engines are measured back to back (ours in
//! process, the others through `xtask/py/bench_ref.py` in the pinned venv), and the table
//! reports median latencies and the ratios ours/onnxruntime and ours/OpenVINO. The machine is
//! shared and noisy, so only ratios from one run mean anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Models the bench runs: the light CNNs shipped with onnx plus a BERT-base-sized encoder.
const LIGHT: [&str; 6] = ["resnet50", "densenet121", "inception_v2", "shufflenet", "squeezenet", "vgg19"];

/// Options of one bench run.
pub struct BenchOptions {
    /// Thread counts to measure.
    pub threads: Vec<usize>,
    /// Timed iterations per engine and setting.
    pub iterations: usize,
    /// Only models whose name contains this.
    pub filter: Option<String>,
}

struct Row {
    model: String,
    threads: usize,
    ours: f64,
    ort: f64,
    ov: f64,
    ov_f32: f64,
}

/// Median latency of our plugin, from the release `benchmark_app` (it reports the median itself).
fn bench_ours(exe: &Path, model: &Path, threads: usize, iterations: usize) -> Result<f64> {
    let out = Command::new(exe)
        .arg("-m")
        .arg(model)
        .args(["-niter", &iterations.to_string(), "-nthreads", &threads.to_string(), "-hint", "latency"])
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        bail!("benchmark_app failed on {}: {}", model.display(), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split("Median:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("ms").trim().parse::<f64>().ok())
        .with_context(|| format!("no median latency in benchmark_app output:\n{text}"))
}

fn build_benchmark_app(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "ovc-cli", "--bin", "benchmark_app"])
        .status()
        .context("building benchmark_app")?;
    if !status.success() {
        bail!("building benchmark_app failed");
    }
    Ok(crate::conformance::setup::target_dir(root).join("release/benchmark_app"))
}

fn bench_ref(py: &Path, script: &Path, engine: &str, model: &Path, threads: usize, iterations: usize) -> Result<f64> {
    let out = Command::new(py)
        .arg(script)
        .arg(engine)
        .arg(model)
        .arg(threads.to_string())
        .arg(iterations.to_string())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{engine} failed on {}: {}", model.display(), String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("bench_ref.py output")?;
    v["median_ms"].as_f64().context("median_ms missing")
}

/// The BERT-base-sized encoder (`xtask/py/make_bert.py`), written once into `target/bench`.
pub fn bert_model(root: &Path, py: &Path) -> Result<PathBuf> {
    let dir = crate::conformance::setup::target_dir(root).join("bench");
    let bert = dir.join("bert_encoder.onnx");
    if !bert.exists() {
        std::fs::create_dir_all(&dir)?;
        let status = Command::new(py).arg(root.join("xtask/py/make_bert.py")).arg(&bert).status()?;
        if !status.success() {
            bail!("make_bert.py failed");
        }
    }
    Ok(bert)
}

/// Runs the bench and prints the table.
pub fn run(root: &Path, opts: &BenchOptions) -> Result<()> {
    let py = crate::conformance::setup::ensure_venv(root)?;
    let exe = build_benchmark_app(root)?;
    let script = root.join("xtask/py/bench_ref.py");
    let onnx_dir = Command::new(&py)
        .args(["-c", "import onnx, os; print(os.path.dirname(onnx.__file__))"])
        .output()
        .context("locating the onnx package")?;
    let light_dir = PathBuf::from(String::from_utf8_lossy(&onnx_dir.stdout).trim()).join("backend/test/data/light");
    let mut models: Vec<(String, PathBuf)> =
        LIGHT.iter().map(|n| (format!("light_{n}"), light_dir.join(format!("light_{n}.onnx")))).collect();
    models.push(("bert_base_encoder".into(), bert_model(root, &py)?));
    let mut rows = Vec::new();
    for (name, path) in &models {
        if opts.filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        for &t in &opts.threads {
            let ours = bench_ours(&exe, path, t, opts.iterations)?;
            let ort = bench_ref(&py, &script, "onnxruntime", path, t, opts.iterations)?;
            let ov = bench_ref(&py, &script, "openvino", path, t, opts.iterations)?;
            let ov_f32 = bench_ref(&py, &script, "openvino_f32", path, t, opts.iterations)?;
            eprintln!(
                "{name} {t}T: ours {ours:.2} ms, onnxruntime {ort:.2} ms, OpenVINO {ov:.2} ms (f32 {ov_f32:.2} ms)"
            );
            rows.push(Row { model: name.clone(), threads: t, ours, ort, ov, ov_f32 });
        }
    }
    println!("OpenVINO runs in its default precision (bf16 where the CPU has AVX512_BF16/AMX); OV-f32 forces f32.");
    println!(
        "| model | threads | ours ms | onnxruntime ms | OpenVINO ms | OV-f32 ms | ours/ORT | ours/OV | ours/OV-f32 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.model,
            r.threads,
            r.ours,
            r.ort,
            r.ov,
            r.ov_f32,
            r.ours / r.ort,
            r.ours / r.ov,
            r.ours / r.ov_f32
        );
    }
    Ok(())
}
