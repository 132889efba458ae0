//! One case through the whole flow, inside a `conformance-case` child process:
//! ONNX -> `convert_model` -> `save_model` (fp32) -> `read_model` -> `compile_model` -> `infer`
//! on every test data set -> compare with the reference outputs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use ir_graph::{Model, Tensor};
use serde::Deserialize;

use super::{CaseOutcome, Class, StageTimes, UnsupportedOp};

pub mod compare;
pub mod pb;

/// IR op types whose outputs are random: such models are compared by shape and type only.
const RANDOM_IR_OPS: &[&str] = &["RandomUniform"];

/// `case.json`, written by gen_data.py (absent for `--cases` folders).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    inputs: Vec<String>,
    input_kinds: Vec<String>,
    output_kinds: Vec<String>,
    random: Vec<String>,
}

impl Meta {
    fn load(dir: &Path) -> Meta {
        std::fs::read_to_string(dir.join("case.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

/// Runs the case on a thread with a large stack; a panic becomes a `crash` outcome.
pub fn run_case_catching_panics(dir: &Path, ir_dir: &Path) -> CaseOutcome {
    let message: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let hook_message = message.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut m) = hook_message.lock() {
            m.get_or_insert_with(|| info.to_string());
        }
    }));
    let (dir, ir_dir) = (dir.to_path_buf(), ir_dir.to_path_buf());
    let handle = std::thread::Builder::new().stack_size(512 << 20).spawn(move || run_case(&dir, &ir_dir));
    match handle.map(|h| h.join()) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => {
            let m = message.lock().ok().and_then(|m| m.clone()).unwrap_or_else(|| "panic".into());
            CaseOutcome::fail(Class::Crash, m)
        }
        Err(e) => CaseOutcome::fail(Class::Crash, format!("could not start the case thread: {e}")),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Sorted `prefix_N` entries of a folder, by N.
fn numbered(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<(u64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(n) = name.strip_prefix(prefix).and_then(|r| r.strip_suffix(suffix)).and_then(|n| n.parse().ok()) {
            v.push((n, p));
        }
    }
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

fn has_random_ops(model: &Model) -> bool {
    model.nodes().any(|(_, n)| RANDOM_IR_OPS.contains(&n.op.type_name()))
}

/// Orders the data set's inputs as the model's Parameters: by name when every Parameter's name
/// (friendly or tensor name) is among the input names, by position otherwise.
fn order_inputs(model: &Model, names: &[String], values: Vec<Tensor>) -> Result<Vec<Tensor>> {
    let params = model.parameters();
    let mut by_name = Vec::with_capacity(params.len());
    for &p in params {
        let node = model.node(p).map_err(|e| anyhow::anyhow!("{e}"))?;
        let found = names.iter().position(|n| {
            !n.is_empty() && (node.name == *n || node.outputs.first().is_some_and(|o| o.names.contains(n)))
        });
        by_name.push(found);
    }
    if by_name.iter().all(Option::is_some) {
        return Ok(by_name.into_iter().flatten().map(|i| values[i].clone()).collect());
    }
    if params.len() == values.len() {
        return Ok(values);
    }
    anyhow::bail!("the model has {} Parameters but the test data set has {} inputs", params.len(), values.len())
}

/// Splits a frontend error into unsupported-op (with domain/op/opset) or conversion-error.
fn classify_frontend_error(e: &onnx_frontend::FrontendError) -> CaseOutcome {
    match e {
        onnx_frontend::FrontendError::UnsupportedOp { op, domain, opset, .. } => {
            let mut o = CaseOutcome::fail(Class::UnsupportedOp, format!("{domain}:{op}-{opset}: {e}"));
            o.unsupported = Some(UnsupportedOp { domain: domain.clone(), op: op.clone(), opset: *opset });
            o
        }
        _ => CaseOutcome::fail(Class::ConversionError, e.to_string()),
    }
}

fn run_case(dir: &Path, ir_dir: &Path) -> CaseOutcome {
    let meta = Meta::load(dir);
    let mut times = StageTimes::default();

    let t = Instant::now();
    let model = match onnx_frontend::convert_model(&dir.join("model.onnx"), &onnx_frontend::ConvertOptions::default()) {
        Ok(m) => m,
        Err(e) => return classify_frontend_error(&e),
    };
    times.convert_ms = ms(t);

    let t = Instant::now();
    let xml = ir_dir.join("model.xml");
    if let Err(e) = std::fs::create_dir_all(ir_dir) {
        return CaseOutcome::fail(Class::IrRoundtripError, format!("creating {}: {e}", ir_dir.display()));
    }
    if let Err(e) = ir_serialize::save_model(&model, &xml, &ir_serialize::SaveOptions { compress_to_fp16: false }) {
        let mut o = CaseOutcome::fail(Class::IrRoundtripError, format!("save_model: {e}"));
        o.times = times;
        return o;
    }
    times.save_ms = ms(t);
    let with_ir = |mut o: CaseOutcome, times: &StageTimes| {
        o.ir_xml = Some(xml.clone());
        o.times = times.clone();
        o
    };

    let t = Instant::now();
    let model = match ir_serialize::read_model(&xml) {
        Ok(m) => m,
        Err(e) => return with_ir(CaseOutcome::fail(Class::IrRoundtripError, format!("read_model: {e}")), &times),
    };
    times.read_ms = ms(t);
    let shape_type_only = !meta.random.is_empty() || has_random_ops(&model);

    let t = Instant::now();
    let mut config = cpu_plugin::Config::default();
    if let Some(n) = std::env::var("XTASK_CONFORMANCE_THREADS").ok().and_then(|v| v.parse().ok()) {
        config.inference_num_threads = Some(n);
    }
    let compiled = match cpu_plugin::compile_model(&model, &config) {
        Ok(c) => c,
        Err(e) => return with_ir(CaseOutcome::fail(Class::CompileError, format!("compile_model: {e}")), &times),
    };
    times.compile_ms = ms(t);

    let data_sets = match numbered(dir, "test_data_set_", "") {
        Ok(d) => d,
        Err(e) => return with_ir(CaseOutcome::fail(Class::RuntimeError, format!("test data: {e:#}")), &times),
    };
    let mut request = compiled.create_infer_request();
    for (n, ds) in data_sets.iter().enumerate() {
        let inputs = match load_inputs(ds, &meta).and_then(|(names, values)| order_inputs(&model, &names, values)) {
            Ok(v) => v,
            Err(e) => {
                return with_ir(CaseOutcome::fail(Class::RuntimeError, format!("data set {n}: inputs: {e:#}")), &times);
            }
        };
        let t = Instant::now();
        let outputs = match request.infer(&inputs) {
            Ok(o) => o,
            Err(e) => {
                return with_ir(CaseOutcome::fail(Class::RuntimeError, format!("data set {n}: infer: {e}")), &times);
            }
        };
        times.infer_ms += ms(t);
        let expected = match numbered(ds, "output_", ".pb") {
            Ok(v) => v,
            Err(e) => return with_ir(CaseOutcome::fail(Class::RuntimeError, format!("test data: {e:#}")), &times),
        };
        if outputs.len() != expected.len() {
            let msg = format!("data set {n}: {} outputs but the reference has {}", outputs.len(), expected.len());
            return with_ir(CaseOutcome::fail(Class::BadShapeOrType, msg), &times);
        }
        for (k, (got, path)) in outputs.iter().zip(&expected).enumerate() {
            let kind = meta.output_kinds.get(k).map(String::as_str).unwrap_or("tensor");
            let want = match pb::read_value(path, kind) {
                Ok(w) => w,
                Err(e) => {
                    let msg = format!("data set {n} output {k}: reference: {e:#}");
                    return with_ir(CaseOutcome::fail(Class::BadShapeOrType, msg), &times);
                }
            };
            match compare::compare(got, &want, shape_type_only) {
                Ok(()) => {}
                Err(compare::Mismatch::ShapeOrType(m)) => {
                    let msg = format!("data set {n} output {k}: {m}");
                    return with_ir(CaseOutcome::fail(Class::BadShapeOrType, msg), &times);
                }
                Err(compare::Mismatch::Values(m)) => {
                    let msg = format!("data set {n} output {k}: {m}");
                    return with_ir(CaseOutcome::fail(Class::WrongResult, msg), &times);
                }
            }
        }
    }
    CaseOutcome {
        class: Class::Pass,
        reason: String::new(),
        unsupported: None,
        shape_type_only,
        data_sets: data_sets.len(),
        ir_xml: Some(xml.clone()),
        times,
    }
}

/// Inputs of one data set, with the names to match against Parameters.
fn load_inputs(ds: &Path, meta: &Meta) -> Result<(Vec<String>, Vec<Tensor>)> {
    let files = numbered(ds, "input_", ".pb")?;
    let mut names = Vec::with_capacity(files.len());
    let mut values = Vec::with_capacity(files.len());
    for (k, f) in files.iter().enumerate() {
        let kind = meta.input_kinds.get(k).map(String::as_str).unwrap_or("tensor");
        values.push(pb::read_value(f, kind).with_context(|| format!("input {k}"))?);
        names.push(meta.inputs.get(k).cloned().unwrap_or_else(|| pb::stored_name(f)));
    }
    Ok((names, values))
}
