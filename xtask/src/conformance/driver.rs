//! The conformance driver: find the cases, run each in a child process, report.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use regex::Regex;

use super::{Args, CaseOutcome, CaseRecord, Class, GROUPS, RESULT_MARKER, Table, expect, oracle, setup};

/// A case to run.
#[derive(Debug, Clone)]
pub struct CaseDir {
    pub group: String,
    pub case: String,
    pub dir: PathBuf,
}

/// Case folders (those holding a model.onnx) directly under `dir`, sorted by name.
fn case_dirs(group: &str, dir: &Path) -> Result<Vec<CaseDir>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.join("model.onnx").is_file() {
            let case = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(CaseDir { group: group.to_string(), case, dir: path });
        }
    }
    out.sort_by(|a, b| a.case.cmp(&b.case));
    Ok(out)
}

/// Every case of a `--cases DIR` folder: DIR itself, its case folders, or one more level of
/// group folders.
fn custom_cases(dir: &Path) -> Result<Vec<CaseDir>> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "cases".into());
    if dir.join("model.onnx").is_file() {
        let parent = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        return Ok(vec![CaseDir {
            group: parent.unwrap_or_else(|| "cases".into()),
            case: name,
            dir: dir.to_path_buf(),
        }]);
    }
    let mut out = case_dirs(&name, dir)?;
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.join("model.onnx").is_file())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        let group = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.extend(case_dirs(&group, &sub)?);
    }
    if out.is_empty() {
        bail!("no case folders (model.onnx + test_data_set_*) under {}", dir.display());
    }
    Ok(out)
}

/// Runs one case in a child process with a timeout.
fn run_child(runner: &Path, case: &CaseDir, ir_dir: &Path, timeout: Duration, threads: Option<usize>) -> CaseOutcome {
    let mut cmd = Command::new(runner);
    cmd.arg("conformance-case")
        .arg(&case.dir)
        .arg("--ir-dir")
        .arg(ir_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Two case processes share the machine: keep each to one compute thread.
        .env("RAYON_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("RUST_BACKTRACE", "0");
    if let Some(n) = threads {
        cmd.env("XTASK_CONFORMANCE_THREADS", n.to_string());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return CaseOutcome::fail(Class::Crash, format!("could not start {}: {e}", runner.display())),
    };
    let (tx, rx) = mpsc::channel::<()>();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stdout {
            let _ = s.read_to_end(&mut buf);
        }
        let _ = tx.send(());
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let timed_out = matches!(rx.recv_timeout(timeout), Err(mpsc::RecvTimeoutError::Timeout));
    if timed_out {
        let _ = child.kill();
    }
    let status = child.wait();
    if timed_out {
        // The reader threads end when the pipes close; do not wait for that (a grandchild could
        // hold them open).
        return CaseOutcome::fail(Class::Timeout, format!("no result within {} s", timeout.as_secs()));
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let stdout = String::from_utf8_lossy(&stdout);
    if let Some(line) = stdout.lines().find_map(|l| l.strip_prefix(RESULT_MARKER)) {
        match serde_json::from_str::<CaseOutcome>(line) {
            Ok(o) => return o,
            Err(e) => return CaseOutcome::fail(Class::Crash, format!("unreadable result line ({e}): {line}")),
        }
    }
    let status = match status {
        Ok(s) => describe_status(s),
        Err(e) => format!("wait failed: {e}"),
    };
    let stderr = String::from_utf8_lossy(&stderr);
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    if tail.is_empty() {
        CaseOutcome::fail(Class::Crash, status)
    } else {
        CaseOutcome::fail(Class::Crash, format!("{status}; stderr: {}", tail.join(" | ")))
    }
}

fn describe_status(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = match sig {
                4 => "SIGILL",
                6 => "SIGABRT",
                7 => "SIGBUS",
                8 => "SIGFPE",
                9 => "SIGKILL",
                11 => "SIGSEGV",
                _ => "signal",
            };
            return format!("killed by {name} ({sig})");
        }
    }
    format!("exited with {s} and printed no result")
}

/// How to run the cases.
struct RunSettings<'a> {
    /// Workspace root (stripped from reasons).
    root: &'a Path,
    /// The release `xtask` binary with the `runner` feature.
    runner: &'a Path,
    /// IR goes to `<ir_root>/<group>/<case>/model.xml`.
    ir_root: &'a Path,
    /// Keep the IR after the case.
    keep_ir: bool,
    /// Parallel children.
    jobs: usize,
    /// Per-case timeout (x5 for `light`).
    timeout: Duration,
    /// INFERENCE_NUM_THREADS for the children.
    threads: Option<usize>,
}

/// Runs all cases with `jobs` parallel children; returns records in input order.
fn run_all(settings: &RunSettings<'_>, cases: &[CaseDir]) -> Vec<CaseRecord> {
    let RunSettings { root, runner, ir_root, keep_ir, jobs, timeout, threads } = *settings;
    // Biggest models first so they do not straggle at the end of the run.
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order
        .sort_by_key(|&i| std::cmp::Reverse(std::fs::metadata(cases[i].dir.join("model.onnx")).map_or(0, |m| m.len())));
    let queue = Arc::new(Mutex::new(order.into_iter().collect::<VecDeque<usize>>()));
    let results: Arc<Mutex<Vec<Option<CaseRecord>>>> = Arc::new(Mutex::new(vec![None; cases.len()]));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let total = cases.len();
    let started = Instant::now();
    let strip_prefix = format!("{}/", root.display());
    let strip_prefix = strip_prefix.as_str();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let queue = queue.clone();
            let results = results.clone();
            let done = done.clone();
            let failed = failed.clone();
            s.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(i) = next else { break };
                    let case = &cases[i];
                    let ir_dir = ir_root.join(&case.group).join(&case.case);
                    let _ = std::fs::remove_dir_all(&ir_dir);
                    let case_timeout = if case.group == "light" { timeout * 5 } else { timeout };
                    let t0 = Instant::now();
                    let mut outcome = run_child(runner, case, &ir_dir, case_timeout, threads);
                    let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
                    // Reasons must not depend on where the workspace lives (they go into a committed file).
                    outcome.reason = outcome.reason.replace(strip_prefix, "");
                    if !keep_ir {
                        let _ = std::fs::remove_dir_all(&ir_dir);
                        outcome.ir_xml = None;
                    }
                    if outcome.class != Class::Pass {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    let rec = CaseRecord {
                        group: case.group.clone(),
                        case: case.case.clone(),
                        dir: case.dir.clone(),
                        outcome,
                        wall_ms,
                    };
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(rec);
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(200) || n == total {
                        eprintln!(
                            "conformance: {n}/{total} cases, {} failed, {:.0} s",
                            failed.load(Ordering::Relaxed),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let results = Arc::try_unwrap(results).map(|m| m.into_inner().unwrap_or_default()).unwrap_or_default();
    results
        .into_iter()
        .zip(cases)
        .map(|(r, c)| {
            r.unwrap_or_else(|| CaseRecord {
                group: c.group.clone(),
                case: c.case.clone(),
                dir: c.dir.clone(),
                outcome: CaseOutcome::fail(Class::Crash, "the driver lost this case"),
                wall_ms: 0.0,
            })
        })
        .collect()
}

/// Counts per group and class, groups in suite order.
fn table(records: &[CaseRecord]) -> Table {
    let mut t = Table::new();
    for r in records {
        *t.entry(r.group.clone()).or_default().entry(r.outcome.class).or_default() += 1;
    }
    t
}

fn group_order(groups: impl Iterator<Item = String>) -> Vec<String> {
    let mut gs: Vec<String> = groups.collect();
    gs.sort_by_key(|g| (GROUPS.iter().position(|x| x == g).unwrap_or(GROUPS.len()), g.clone()));
    gs.dedup();
    gs
}

/// The table by group and class, as text.
fn format_table(t: &Table) -> String {
    let classes: Vec<Class> =
        Class::ALL.into_iter().filter(|c| *c == Class::Pass || t.values().any(|m| m.contains_key(c))).collect();
    let groups = group_order(t.keys().cloned());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["group".to_string(), "total".to_string()];
    header.extend(classes.iter().map(|c| c.name().to_string()));
    rows.push(header);
    let mut totals = vec![0usize; classes.len()];
    let mut grand = 0usize;
    for g in &groups {
        let m = &t[g];
        let n: usize = m.values().sum();
        grand += n;
        let mut row = vec![g.clone(), n.to_string()];
        for (k, c) in classes.iter().enumerate() {
            let v = m.get(c).copied().unwrap_or(0);
            totals[k] += v;
            row.push(v.to_string());
        }
        rows.push(row);
    }
    let mut row = vec!["total".to_string(), grand.to_string()];
    row.extend(totals.iter().map(|v| v.to_string()));
    rows.push(row);
    let widths: Vec<usize> = (0..rows[0].len()).map(|k| rows.iter().map(|r| r[k].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(k, c)| if k == 0 { format!("{c:<w$}", w = widths[k]) } else { format!("{c:>w$}", w = widths[k]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 || i == rows.len() - 2 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out
}

/// The most frequent unsupported ops (domain, op, opset) -> cases.
fn unsupported_summary(records: &[CaseRecord]) -> Vec<(String, usize)> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        if let Some(u) = &r.outcome.unsupported {
            *m.entry(format!("{}:{}-{}", u.domain, u.op, u.opset)).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// `cargo xtask conformance`.
pub fn run(root: &Path, args: &Args) -> Result<i32> {
    let started = Instant::now();
    let target = setup::target_dir(root);
    let out_dir = target.join("conformance");
    let filter = args.filter.as_deref().map(Regex::new).transpose().context("--filter is not a valid regex")?;
    for g in &args.group {
        if args.cases.is_none() && !GROUPS.contains(&g.as_str()) {
            bail!("unknown group {g:?}; the groups are {}", GROUPS.join(", "));
        }
    }
    if let Some(o) = &args.oracle
        && o != "openvino"
    {
        bail!("unknown oracle {o:?}; the only oracle is `openvino`");
    }
    let python = if args.cases.is_none() || args.oracle.is_some() { Some(setup::ensure_venv(root)?) } else { None };

    let mut cases = match &args.cases {
        Some(dir) => custom_cases(dir)?,
        None => {
            let data = setup::ensure_data(root, python.as_deref().context("no venv")?, args.regen)?;
            let mut all = Vec::new();
            for g in GROUPS {
                all.extend(case_dirs(g, &data.join(g))?);
            }
            all
        }
    };
    cases.retain(|c| {
        (args.group.is_empty() || args.group.contains(&c.group))
            && filter.as_ref().is_none_or(|re| re.is_match(&format!("{}/{}", c.group, c.case)))
    });
    if cases.is_empty() {
        bail!("no case matches the filters");
    }

    let runner = match &args.runner {
        Some(p) => p.clone(),
        None => setup::build_runner(root)?,
    };
    let ir_root = out_dir.join("ir");
    let keep_ir = args.keep_ir || args.oracle.is_some();
    let timeout = Duration::from_secs(args.timeout.max(1));
    eprintln!("conformance: running {} cases with {} workers", cases.len(), args.jobs.max(1));
    let settings = RunSettings {
        root,
        runner: &runner,
        ir_root: &ir_root,
        keep_ir,
        jobs: args.jobs,
        timeout,
        threads: args.threads,
    };
    let cases_started = Instant::now();
    let records = run_all(&settings, &cases);
    let cases_elapsed = cases_started.elapsed();
    let elapsed = started.elapsed();

    // Expectations (suite runs only).
    let expected_path = root.join("xtask/conformance-expected.txt");
    let check = if args.cases.is_none() {
        let expected = expect::load(&expected_path)?;
        // Without --filter/--group every suite case ran, so lines naming other cases are stale.
        let full_run = args.filter.is_none() && args.group.is_empty();
        let check = expect::check(&expected, &records, full_run);
        if args.bless {
            expect::bless(&expected_path, &expected, &records, full_run)?;
        }
        Some(check)
    } else {
        None
    };

    let oracle_summary = match (&args.oracle, &python) {
        (Some(_), Some(py)) => Some(oracle::run(root, py, &out_dir, &records, args.jobs, timeout)?),
        _ => None,
    };

    let t = table(&records);
    let passed = records.iter().filter(|r| r.outcome.class == Class::Pass).count();
    let failed = records.len() - passed;
    let shape_only: Vec<String> = records.iter().filter(|r| r.outcome.shape_type_only).map(|r| r.key()).collect();

    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let report_path = out_dir.join("report.json");
    let report = serde_json::json!({
        "onnx": std::fs::read_to_string(target.join("conformance-data/STAMP")).ok().and_then(|s| s.lines().next().map(str::to_string)),
        "cases_dir": args.cases,
        "filter": args.filter,
        "groups": args.group,
        "duration_s": elapsed.as_secs_f64(),
        "cases_duration_s": cases_elapsed.as_secs_f64(),
        "passed": passed,
        "failed": failed,
        "table": t.iter().map(|(g, m)| (g.clone(), m.iter().map(|(c, n)| (c.name(), *n)).collect::<BTreeMap<_, _>>())).collect::<BTreeMap<_, _>>(),
        "shape_and_type_only": shape_only,
        "unsupported_ops": unsupported_summary(&records).into_iter().map(|(k, n)| serde_json::json!({"op": k, "cases": n})).collect::<Vec<_>>(),
        "expectations": check.as_ref().map(|c| c.to_json()),
        "blessed": args.bless,
        "oracle": oracle_summary.as_ref().map(|o| o.to_json()),
        "cases": records,
    });
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", report_path.display()))?;

    // Human output: table, notes, unexpected results, and the summary line last.
    println!("{}", format_table(&t).trim_end());
    if !shape_only.is_empty() {
        println!(
            "note: {} case(s) draw random numbers; only output shapes and element types were compared: {}",
            shape_only.len(),
            shape_only.join(", ")
        );
    }
    if let Some(o) = &oracle_summary {
        println!("{}", o.text().trim_end());
    }
    println!(
        "report: {}  (cases {:.0} s, total {:.1} min)",
        report_path.display(),
        cases_elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / 60.0
    );
    let mut code = 0;
    match &check {
        Some(c) => {
            if args.bless {
                println!(
                    "blessed: {} rewritten ({} expected non-passes)",
                    expected_path.display(),
                    c.expected_after_bless
                );
            } else if !c.is_clean() {
                println!("{}", c.text().trim_end());
                println!("run `cargo xtask conformance --bless` to accept these results");
                code = 1;
            }
        }
        None => {
            if failed > 0 {
                for r in records.iter().filter(|r| r.outcome.class != Class::Pass) {
                    println!("FAIL {} {}: {}", r.key(), r.outcome.class.name(), r.outcome.reason);
                }
                code = 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(code)
}
