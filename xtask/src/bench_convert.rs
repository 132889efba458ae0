//! `cargo xtask bench-convert`: our release `ovc` against OpenVINO's `ovc`, wall time and peak
//! RSS, on a 3.2 GB model and on ordinary ones.
//!
//! The big model is 48 chained MatMuls with 4096x4096 f32 weights (3 GiB), written by
//! `tests/py/make_matmul_chain.py` into `target/bench-convert/` twice: with all weights in one
//! external data file, and with one file per tensor (6.4 GB of disk; removed at the end unless
//! `--keep-models`). Each model is converted by both tools with and without FP16 compression;
//! every conversion runs as its own child process, measured by `wait4` (wall time, and the
//! child's own peak resident set size), and its IR is deleted right after. Rows also cover the
//! ONNX light models and a BERT-base-sized encoder. The machine is shared, so only the ratios
//! from one run mean anything; `--repeat` keeps the fastest of several runs.
//!
//! Targets for the big model: our peak RSS under 0.1x the weights (330 MB) and our wall time
//! under 0.5x OpenVINO's, with and without compression.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Options of one run.
pub struct Options {
    /// MatMuls in the big model.
    pub layers: usize,
    /// Their square weight size.
    pub dim: usize,
    /// Runs per tool and setting; the fastest is reported.
    pub repeat: usize,
    /// Keep the generated big models for the next run.
    pub keep_models: bool,
    /// Only the big model (no light models, no BERT).
    pub big_only: bool,
}

/// One measured conversion.
#[derive(Clone, Copy)]
struct Measure {
    seconds: f64,
    peak_rss_mb: f64,
}

struct Row {
    model: String,
    weights_mb: f64,
    fp16: bool,
    big: bool,
    ours: Measure,
    ov: Measure,
}

/// Runs `cmd` as a child and reaps it with `wait4`, which returns the child's own resource
/// usage (RUSAGE_CHILDREN would be the maximum over every child waited for so far).
fn measure(cmd: &mut Command) -> Result<Measure> {
    let started = Instant::now();
    let child =
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(s, &mut text);
        }
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for by anything else (`Child::wait` is never
    // called); `status` and `usage` are valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    let err = reader.join().unwrap_or_default();
    if r != pid {
        bail!("wait4 on {cmd:?} failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status}):\n{err}");
    }
    // Linux reports ru_maxrss in KiB.
    Ok(Measure { seconds, peak_rss_mb: usage.ru_maxrss as f64 * 1024.0 / 1e6 })
}

/// The fastest of `repeat` runs (peak RSS of that run).
fn best_of(repeat: usize, mut make: impl FnMut() -> Command, cleanup: &dyn Fn()) -> Result<Measure> {
    let mut best: Option<Measure> = None;
    for _ in 0..repeat.max(1) {
        let m = measure(&mut make());
        cleanup();
        let m = m?;
        if best.is_none_or(|b| m.seconds < b.seconds) {
            best = Some(m);
        }
    }
    best.context("no run")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn build_ovc(root: &Path) -> Result<PathBuf> {
    let status = cargo()
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "ovc-cli", "--bin", "ovc"])
        .status()
        .context("building ovc")?;
    if !status.success() {
        bail!("building the release ovc failed");
    }
    Ok(crate::conformance::setup::target_dir(root).join("release/ovc"))
}

/// Free bytes on the file system holding `dir` (from `df`).
fn free_bytes(dir: &Path) -> Result<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .with_context(|| format!("cannot read df's output:\n{text}"))
}

/// Total size of the files in `dir` (one level).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Writes the big model in one layout (`one` or `per`) unless it is already there.
fn make_big(py: &Path, root: &Path, dir: &Path, opts: &Options, layout: &str) -> Result<PathBuf> {
    let model = dir.join(layout).join("model.onnx");
    let stamp = dir.join(layout).join("complete");
    let want = format!("{} {}", opts.layers, opts.dim);
    if model.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(model);
    }
    let _ = std::fs::remove_dir_all(dir.join(layout));
    std::fs::create_dir_all(dir.join(layout))?;
    eprintln!("bench-convert: writing {} ({layout})", model.display());
    let status = Command::new(py)
        .arg(root.join("tests/py/make_matmul_chain.py"))
        .arg(opts.layers.to_string())
        .arg(opts.dim.to_string())
        .arg(layout)
        .arg(&model)
        .status()
        .context("running make_matmul_chain.py")?;
    if !status.success() {
        bail!("make_matmul_chain.py {layout} failed");
    }
    std::fs::write(&stamp, want)?;
    Ok(model)
}

/// Light models: the conformance copies if `cargo xtask conformance` made them, else the onnx
/// package's own.
fn light_models(py: &Path, root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let conf = crate::conformance::setup::target_dir(root).join("conformance-data/light");
    let mut models = Vec::new();
    if conf.is_dir() {
        for e in std::fs::read_dir(&conf)? {
            let e = e?;
            let m = e.path().join("model.onnx");
            if m.exists() {
                models.push((e.file_name().to_string_lossy().into_owned(), m));
            }
        }
    } else {
        let out = Command::new(py)
            .args(["-c", "import onnx, os; print(os.path.dirname(onnx.__file__))"])
            .output()
            .context("locating the onnx package")?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("backend/test/data/light");
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "onnx") {
                let name = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                models.push((name, p));
            }
        }
    }
    models.sort();
    Ok(models)
}

/// Runs the bench and prints the table.
pub fn run(root: &Path, opts: &Options) -> Result<()> {
    let py = crate::conformance::setup::ensure_venv(root)?;
    let ov_ovc = py.with_file_name("ovc");
    let ours = build_ovc(root)?;
    let dir = crate::conformance::setup::target_dir(root).join("bench-convert");
    std::fs::create_dir_all(&dir)?;
    let out_dir = dir.join("out");

    let weights = (opts.layers * opts.dim * opts.dim * 4) as u64;
    let have = dir_bytes(&dir.join("one")) + dir_bytes(&dir.join("per"));
    // Both layouts, plus the largest IR pair (f32) being written.
    let need = (2 * weights).saturating_sub(have) + weights + (weights / 4);
    let free = free_bytes(&dir)?;
    eprintln!("bench-convert: {:.1} GB free, {:.1} GB needed", free as f64 / 1e9, need as f64 / 1e9);
    if free < need {
        bail!(
            "not enough disk space in {}: {:.1} GB free, {:.1} GB needed (two layouts of {:.1} GB + outputs)",
            dir.display(),
            free as f64 / 1e9,
            need as f64 / 1e9,
            weights as f64 / 1e9
        );
    }

    let mut models: Vec<(String, PathBuf, bool)> = Vec::new();
    let one = make_big(&py, root, &dir, opts, "one")?;
    let per = make_big(&py, root, &dir, opts, "per")?;
    let big_name = format!("matmul{}x{} ", opts.layers, opts.dim);
    models.push((format!("{big_name}one data file"), one, true));
    models.push((format!("{big_name}file per tensor"), per, true));
    if !opts.big_only {
        models.push(("bert_base_encoder".into(), crate::bench::bert_model(root, &py)?, false));
        for (name, path) in light_models(&py, root)? {
            models.push((name, path, false));
        }
    }

    let cleanup = || {
        let _ = std::fs::remove_dir_all(&out_dir);
    };
    let mut rows = Vec::new();
    for (name, path, big) in &models {
        // Weights: what our f32 IR's .bin holds (the light models make theirs with ops that
        // constant folding turns into weights, so the .onnx file size says little).
        let bin_size = std::cell::Cell::new(0u64);
        let mut weights_mb = 0.0;
        for fp16 in [false, true] {
            let flag = format!("--compress_to_fp16={}", if fp16 { "True" } else { "False" });
            let ours_m = best_of(
                opts.repeat,
                || {
                    let mut c = Command::new(&ours);
                    c.arg(path).arg("--output_model").arg(out_dir.join("ours")).arg(&flag).arg("--quiet");
                    c
                },
                &|| {
                    if let Ok(m) = std::fs::metadata(out_dir.join("ours.bin")) {
                        bin_size.set(m.len());
                    }
                    cleanup();
                },
            )?;
            if !fp16 {
                weights_mb = if *big { weights as f64 / 1e6 } else { bin_size.get() as f64 / 1e6 };
            }
            let ov_m = best_of(
                opts.repeat,
                || {
                    let mut c = Command::new(&ov_ovc);
                    c.arg(path).arg("--output_model").arg(out_dir.join("openvino")).arg(&flag);
                    c.env("OPENVINO_TELEMETRY_OPTOUT", "1");
                    c
                },
                &cleanup,
            )?;
            eprintln!(
                "{name} fp16={fp16}: ours {:.2} s {:.0} MB, OpenVINO {:.2} s {:.0} MB",
                ours_m.seconds, ours_m.peak_rss_mb, ov_m.seconds, ov_m.peak_rss_mb
            );
            rows.push(Row { model: name.clone(), weights_mb, fp16, big: *big, ours: ours_m, ov: ov_m });
        }
    }
    cleanup();
    if !opts.keep_models {
        for layout in ["one", "per"] {
            let _ = std::fs::remove_dir_all(dir.join(layout));
        }
    }

    println!(
        "| model | weights MB | FP16 | ours s | OpenVINO s | time ours/OV | ours peak RSS MB | OpenVINO peak RSS MB | RSS ours/weights |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut misses = Vec::new();
    for r in &rows {
        let time_ratio = r.ours.seconds / r.ov.seconds;
        let rss_ratio = r.ours.peak_rss_mb / r.weights_mb;
        println!(
            "| {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.3} |",
            r.model,
            r.weights_mb,
            if r.fp16 { "yes" } else { "no" },
            r.ours.seconds,
            r.ov.seconds,
            time_ratio,
            r.ours.peak_rss_mb,
            r.ov.peak_rss_mb,
            rss_ratio
        );
        if r.big {
            let fp = if r.fp16 { "FP16" } else { "f32" };
            if r.ours.peak_rss_mb >= 0.1 * r.weights_mb {
                misses.push(format!("{} {fp}: peak RSS {:.0} MB >= 0.1x the weights", r.model, r.ours.peak_rss_mb));
            }
            if time_ratio >= 0.5 {
                misses.push(format!("{} {fp}: wall time {:.2}x OpenVINO's (target < 0.5x)", r.model, time_ratio));
            }
        }
    }
    if misses.is_empty() {
        println!("\nbig model targets (peak RSS < 0.1x weights, wall time < 0.5x OpenVINO): met");
    } else {
        println!("\nbig model targets missed:\n- {}", misses.join("\n- "));
    }
    Ok(())
}
