//! The command-line tools' shared code: `ovc` (ONNX -> OpenVINO IR v11) with OpenVINO's flag
//! spellings, messages and exit codes, and model loading for `benchmark_app`.
//!
//! `ovc INPUT_MODEL [--output_model PATH] [--compress_to_fp16 [True|False]] [--input SPEC]
//! [--output NAMES] [--verbose] [--quiet] [--version]` exits 0 on success, 1 when the conversion fails
//! (one `[ ERROR ]` paragraph on stderr) and 2 on a usage error.

#![warn(missing_docs)]
// Inputs come from untrusted files: library code reports errors instead of panicking.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use ir_graph::{Model, PartialShape, RtValue};

pub mod progress;

/// Version string written to `--version` and to the IR's `Runtime_version`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-ovc-rs");

/// The banner `ovc` prints before writing a compressed IR.
pub const FP16_BANNER: &str = "[ INFO ] Generated IR will be compressed to FP16. If you get lower accuracy, please \
consider disabling compression by removing argument \"compress_to_fp16\" or set it to false \"compress_to_fp16=False\".\n\
Find more information about compression to FP16 at https://docs.openvino.ai/2023.0/openvino_docs_MO_DG_FP16_Compression.html";

/// Reads a model for running it: ONNX (by the `.onnx` extension) through the frontend,
/// anything else as OpenVINO IR.
///
/// ```
/// use ir_graph::{ElementType, Model, PartialShape, Tensor, ops::Relu};
///
/// let mut m = Model::new("tiny");
/// let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[3]))?;
/// let y = m.add_node(Relu {}, "y", &[x.into()])?;
/// m.add_result("y/sink_port_0", y.into())?;
/// let dir = tempfile::tempdir()?;
/// let xml = dir.path().join("tiny.xml");
/// ir_serialize::save_model(&m, &xml, &ir_serialize::SaveOptions::default())?;
///
/// // IR by extension (an `.onnx` path would go through the ONNX frontend instead).
/// let model = ovc_cli::read_any_model(&xml)?;
/// let compiled = cpu_plugin::compile_model(&model, &cpu_plugin::Config::default())?;
/// let out = compiled.create_infer_request().infer(&[Tensor::from_vec(vec![3], vec![-1.0f32, 0.0, 2.0])?])?;
/// assert_eq!(out[0].values::<f32>()?.as_ref(), &[0.0, 0.0, 2.0]);
/// assert!(ovc_cli::read_any_model(&dir.path().join("missing.onnx")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_any_model(path: &Path) -> anyhow::Result<Model> {
    let is_onnx = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if is_onnx {
        onnx_frontend::convert_model(path, &onnx_frontend::ConvertOptions::default())
            .with_context(|| format!("converting {}", path.display()))
    } else {
        ir_serialize::read_model(path).with_context(|| format!("reading IR {}", path.display()))
    }
}

/// Entry points shared by the fuzz targets (`fuzz/`) and the tests that replay their corpora.
#[doc(hidden)]
pub mod fuzzing {
    use ir_graph::{Bytes, Model};

    /// Splits an `ir_read` fuzz input: 4-byte little-endian XML length, XML text, weights.
    /// `None` when the input is too short or the XML is not UTF-8.
    pub fn split_ir_input(data: &[u8]) -> Option<(&str, &[u8])> {
        let (len, rest) = data.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?.min(rest.len());
        let (xml, bin) = rest.split_at(len);
        Some((std::str::from_utf8(xml).ok()?, bin))
    }

    /// Packs an XML text and its weights into one `ir_read` fuzz input.
    pub fn pack_ir_input(xml: &str, bin: &[u8]) -> Vec<u8> {
        let len = u32::try_from(xml.len()).unwrap_or(u32::MAX);
        let mut out = len.to_le_bytes().to_vec();
        out.extend_from_slice(xml.as_bytes());
        out.extend_from_slice(bin);
        out
    }

    /// The `ir_read` target: reads the IR (parse, edges, constants, shape inference) and
    /// re-validates the model. `None` when the input cannot be split.
    pub fn read_ir_input(data: &[u8]) -> Option<Result<Model, String>> {
        let (xml, bin) = split_ir_input(data)?;
        let result = ir_serialize::read_model_from(xml, Bytes::from_pod_vec(bin.to_vec()))
            .map_err(|e| e.to_string())
            .and_then(|mut m| m.validate().map(|_| m).map_err(|e| e.to_string()));
        Some(result)
    }

    /// The `onnx_convert` target: converts ONNX bytes with a 1 MiB constant folding limit.
    pub fn convert_onnx_input(data: &[u8]) -> Result<Model, String> {
        let options = onnx_frontend::ConvertOptions { fold_limit_bytes: Some(1 << 20), ..Default::default() };
        onnx_frontend::convert_model_from_bytes(data, "fuzz.onnx", &options).map_err(|e| e.to_string())
    }
}

/// `ovc`'s command line. Flag spellings follow OpenVINO's `ovc` exactly.
#[derive(Debug, Parser)]
#[command(
    name = "ovc",
    disable_version_flag = true,
    about = "Converts an ONNX model to OpenVINO IR v11 (model.xml + model.bin)."
)]
pub struct OvcArgs {
    /// Input model file (ONNX).
    #[arg(value_name = "INPUT_MODEL")]
    pub input_model: Option<PathBuf>,
    /// Output IR path: a folder (existing, or ending with '/') or a file path ('.xml' is added).
    #[arg(long = "output_model", value_name = "OUTPUT_MODEL")]
    pub output_model: Option<String>,
    /// Compress f32 weights to FP16 (default True). A bare flag without a value disables it, as in ovc.
    #[arg(long = "compress_to_fp16", num_args = 0..=1, value_name = "True|False", value_parser = parse_bool)]
    pub compress_to_fp16: Option<Option<bool>>,
    /// Input shapes: comma-separated `name[shape]` or `[shape]`, e.g. `x[1,3,224,224]`, `[?,16]`, `x[1..8,16]`.
    #[arg(long = "input", value_name = "INPUT")]
    pub input: Option<String>,
    /// Comma-separated names of model outputs to keep.
    #[arg(long = "output", value_name = "OUTPUT")]
    pub output: Option<String>,
    /// Extension libraries (not supported by this implementation).
    #[arg(long = "extension", value_name = "EXTENSION")]
    pub extension: Option<String>,
    /// PyTorch only; ignored for files, as in ovc.
    #[arg(long = "dynamo")]
    pub dynamo: bool,
    /// Print the conversion arguments, the graph passes and the time of each stage.
    #[arg(long = "verbose")]
    pub verbose: bool,
    /// No progress bar and no `[ INFO ]`/`[ SUCCESS ]` lines; errors are still reported.
    #[arg(long = "quiet")]
    pub quiet: bool,
    /// Print the converter version and exit.
    #[arg(long = "version")]
    pub version: bool,
}

/// `True`/`False` in any letter case, like ovc's argparse type.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("invalid value '{s}': expected True or False")),
    }
}

/// One `--input` entry: an optional input name and an optional shape override.
pub type InputSpec = (Option<String>, Option<PartialShape>);

/// Parses `--input`: `x[1,3,224,224],y[?,16]` or `[1,3],[2]`; a name without brackets keeps its shape.
pub fn parse_input_spec(spec: &str) -> Result<Vec<InputSpec>, String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in spec.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced ']' in --input '{spec}'"));
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '[' in --input '{spec}'"));
    }
    items.push(cur);
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty entry in --input '{spec}'"));
        }
        let (name, shape) = match item.find('[') {
            Some(open) => {
                let close = item.rfind(']').filter(|&c| c == item.len() - 1).ok_or_else(|| {
                    format!("cannot parse '{item}' in --input: expected name[d0,d1,...] or [d0,d1,...]")
                })?;
                let shape = parse_cli_shape(&item[open + 1..close])
                    .map_err(|e| format!("cannot parse the shape of '{item}' in --input: {e}"))?;
                let name = item[..open].trim();
                ((!name.is_empty()).then(|| name.to_string()), Some(shape))
            }
            None => (Some(item.to_string()), None),
        };
        out.push((name, shape));
    }
    let named = out.iter().filter(|(n, _)| n.is_some()).count();
    if named != 0 && named != out.len() {
        return Err(format!("--input '{spec}' mixes named and unnamed inputs; name all of them or none"));
    }
    Ok(out)
}

/// Dims: integers, `?` or `-1`, ranges `a..b`, `..b`, `a..`; empty means a scalar.
fn parse_cli_shape(text: &str) -> Result<PartialShape, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(PartialShape::scalar());
    }
    let mut dims = Vec::new();
    for d in t.split(',') {
        let d = d.trim();
        let s = PartialShape::parse(d).map_err(|e| e.to_string())?;
        match s.dims() {
            Some([one]) => dims.push(*one),
            _ => return Err(format!("bad dimension '{d}'")),
        }
    }
    Ok(PartialShape::Ranked(dims))
}

/// Where `ovc` writes the XML: `<cwd>/<stem>.xml` by default; `--output_model` naming an
/// existing folder or ending with a separator gets `<stem>.xml` inside it; any other path
/// gets `.xml` appended unless it already ends with it.
pub fn xml_output_path(input: &Path, output_model: Option<&str>, cwd: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_os_string()).unwrap_or_else(|| OsString::from("model"));
    let mut file = stem;
    file.push(".xml");
    match output_model {
        None => cwd.join(file),
        Some(p) => {
            let given = cwd.join(p);
            if p.ends_with('/') || p.ends_with(std::path::MAIN_SEPARATOR) || given.is_dir() {
                given.join(file)
            } else if p.ends_with(".xml") {
                given
            } else {
                let mut s = given.into_os_string();
                s.push(".xml");
                PathBuf::from(s)
            }
        }
    }
}

/// An error with its causes, on one line each joined by ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// Runs `ovc` with `args` (program name first); returns the process exit code.
pub fn run_ovc<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match OvcArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            return if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = write!(out, "{e}");
                0
            } else {
                let _ = write!(err, "{e}");
                2
            };
        }
    };
    if args.version {
        let _ = writeln!(out, "OpenVINO Model Converter (ovc) {VERSION}");
        return 0;
    }
    let Some(input) = args.input_model.clone() else {
        let _ = writeln!(
            err,
            "usage: ovc INPUT_MODEL [options]\novc: error: the following arguments are required: INPUT_MODEL"
        );
        return 2;
    };
    let started = std::time::Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(&args, &input, out)));
    match result {
        Ok(Ok(())) => {
            if args.verbose {
                let _ =
                    writeln!(out, "[ SUCCESS ] Total execution time: {:.2} seconds. ", started.elapsed().as_secs_f64());
            }
            0
        }
        Ok(Err(message)) => {
            let _ = writeln!(err, "[ ERROR ]  {message}");
            1
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            let _ = writeln!(err, "[ ERROR ]  Internal error while converting {}: {what}", input.display());
            1
        }
    }
}

/// The conversion itself; `Err` is the one paragraph printed after `[ ERROR ]`.
fn convert(args: &OvcArgs, input: &Path, out: &mut dyn Write) -> Result<(), String> {
    if !input.exists() {
        return Err(format!("The \"{}\" is not existing file or directory", input.display()));
    }
    if args.extension.is_some() {
        return Err("--extension is not supported by this converter (it has no plugin mechanism)".to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| format!("cannot determine the current directory: {e}"))?;
    let xml_path = xml_output_path(input, args.output_model.as_deref(), &cwd);
    let compress = match args.compress_to_fp16 {
        None => true,
        // ovc's quirk: a bare `--compress_to_fp16` parses as None, which disables compression.
        Some(None) => false,
        Some(Some(b)) => b,
    };

    let mut options = onnx_frontend::ConvertOptions::default();
    // Inputs named without a shape keep their declared shape; they must exist.
    let mut named_only = Vec::new();
    if let Some(spec) = &args.input {
        for (name, shape) in parse_input_spec(spec)? {
            match (name, shape) {
                (name, Some(shape)) => options.input_shapes.push((name, shape)),
                (Some(name), None) => named_only.push(name),
                (None, None) => {}
            }
        }
    }
    if let Some(spec) = &args.output {
        options.outputs = spec.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    if args.verbose {
        let _ = writeln!(out, "Model Conversion arguments:");
        let _ = writeln!(out, "Common parameters:");
        let _ = writeln!(out, "\t- Input Model: \t{}", input.display());
        let _ = writeln!(out, "\t- Output Model: \t{}", xml_path.display());
        let _ = writeln!(
            out,
            "\t- Input layers: \t{}",
            args.input.as_deref().unwrap_or("Not specified, inherited from the model")
        );
        let _ = writeln!(
            out,
            "\t- Output layers: \t{}",
            args.output.as_deref().unwrap_or("Not specified, inherited from the model")
        );
        let _ = writeln!(out, "\t- Compress to FP16: \t{}", if compress { "True" } else { "False" });
    }
    if args.dynamo {
        let _ = writeln!(out, "[ WARNING ] --dynamo is used only for PyTorch models and is ignored.");
    }

    let progress = progress::Progress::new(!args.quiet);
    progress.stage("Reading and converting the model");
    let (mut model, report) = onnx_frontend::convert_model_timed(input, &options).map_err(|e| chain(&e))?;
    check_named_inputs(&model, &named_only)?;
    for note in &report.notes {
        let _ = writeln!(out, "[ WARNING ] {note}");
    }
    record_rt_info(&mut model, args);
    if args.verbose {
        print_report(out, &report);
    }

    if compress && !args.quiet {
        let _ = writeln!(out, "{FP16_BANNER}");
    }
    let started = std::time::Instant::now();
    let mut started_bytes = false;
    ir_serialize::save_model_with_progress(
        &model,
        &xml_path,
        &ir_serialize::SaveOptions { compress_to_fp16: compress },
        &mut |p| {
            if !started_bytes {
                progress.start_bytes("Writing the IR", p.total);
                started_bytes = true;
            }
            progress.set_bytes(p.done);
        },
    )
    .map_err(|e| chain(&e))?;
    progress.finish();
    if args.verbose {
        let _ = writeln!(out, "[ INFO ] Wrote the IR in {:.3} s", started.elapsed().as_secs_f64());
    }
    if !args.quiet {
        let xml_abs = std::path::absolute(&xml_path).unwrap_or(xml_path.clone());
        let _ = writeln!(out, "[ SUCCESS ] XML file: {}", xml_abs.display());
        let _ = writeln!(out, "[ SUCCESS ] BIN file: {}", xml_abs.with_extension("bin").display());
    }
    Ok(())
}

/// Every input named in `--input` without a shape is a model input (by name or tensor name).
fn check_named_inputs(model: &Model, names: &[String]) -> Result<(), String> {
    let inputs: Vec<(String, Vec<String>)> = model
        .parameters()
        .iter()
        .filter_map(|&id| model.node(id).ok())
        .map(|n| (n.name.clone(), n.outputs.first().map(|p| p.names.iter().cloned().collect()).unwrap_or_default()))
        .collect();
    for name in names {
        if !inputs.iter().any(|(n, tensors)| n == name || tensors.contains(name)) {
            let all: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!("the model has no input '{name}' (inputs: {})", all.join(", ")));
        }
    }
    Ok(())
}

/// `--verbose`: the time of loading and translating, then every graph pass run.
fn print_report(out: &mut dyn Write, report: &onnx_frontend::ConversionReport) {
    let _ = writeln!(out, "[ INFO ] Loaded and checked the ONNX model in {:.3} s", report.load.as_secs_f64());
    let _ = writeln!(out, "[ INFO ] Translated to OpenVINO ops in {:.3} s", report.translate.as_secs_f64());
    for p in &report.passes {
        let _ = writeln!(
            out,
            "[ INFO ] Pass {} (round {}): {:.3} ms, {}, {} nodes",
            p.name,
            p.round,
            p.elapsed.as_secs_f64() * 1e3,
            if p.changed { "changed the model" } else { "no change" },
            p.nodes_after
        );
    }
    let total: std::time::Duration = report.passes.iter().map(|p| p.elapsed).sum();
    let _ = writeln!(out, "[ INFO ] Graph passes: {:.3} s", total.as_secs_f64());
}

/// Model-level rt_info as ovc writes it: runtime version (twice, as OpenVINO does) and the
/// non-default conversion parameters, keys in OpenVINO's (sorted) order.
fn record_rt_info(model: &mut Model, args: &OvcArgs) {
    let mut params: Vec<(String, RtValue)> = Vec::new();
    if args.compress_to_fp16 == Some(Some(false)) {
        params.push(("compress_to_fp16".into(), RtValue::Str("False".into())));
    }
    if let Some(i) = &args.input {
        params.push(("input".into(), RtValue::Str(i.clone())));
    }
    params.push(("is_python_object".into(), RtValue::Str("False".into())));
    if let Some(o) = &args.output {
        params.push(("output".into(), RtValue::Str(o.clone())));
    }
    if let Some(o) = &args.output_model {
        params.push(("output_model".into(), RtValue::Str(o.clone())));
    }
    let ours = ["OpenVINO Runtime", "Runtime_version", "conversion_parameters"];
    model.rt_info.retain(|(k, _)| !ours.contains(&k.as_str()));
    model.rt_info.push(("OpenVINO Runtime".into(), RtValue::Str(VERSION.into())));
    model.rt_info.push(("Runtime_version".into(), RtValue::Str(VERSION.into())));
    model.rt_info.push(("conversion_parameters".into(), RtValue::Map(params)));
    model.rt_info.sort_by(|a, b| a.0.cmp(&b.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_specs() {
        let v = parse_input_spec("x[1,3,224,224],y[?,16]").expect("parses");
        assert_eq!(v[0].0.as_deref(), Some("x"));
        assert_eq!(v[0].1.as_ref().map(|s| s.to_ir_string()), Some("1,3,224,224".into()));
        assert_eq!(v[1].1.as_ref().map(|s| s.to_ir_string()), Some("?,16".into()));
        let v = parse_input_spec("[-1,16]").expect("parses");
        assert_eq!(v[0].0, None);
        assert_eq!(v[0].1.as_ref().map(|s| s.to_ir_string()), Some("?,16".into()));
        let v = parse_input_spec("x[1..8,..5,2..],s[]").expect("parses");
        assert_eq!(v[0].1.as_ref().map(|s| s.to_ir_string()), Some("1..8,..5,2..".into()));
        assert_eq!(v[1].1, Some(PartialShape::scalar()));
        assert!(parse_input_spec("x[1,2],[3]").is_err());
        assert!(parse_input_spec("x[1,2").is_err());
        assert!(parse_input_spec("x[a]").is_err());
    }

    #[test]
    fn output_paths() {
        let cwd = Path::new("/work/here");
        let m = Path::new("/models/net.onnx");
        assert_eq!(xml_output_path(m, None, cwd), PathBuf::from("/work/here/net.xml"));
        assert_eq!(xml_output_path(m, Some("out/m"), cwd), PathBuf::from("/work/here/out/m.xml"));
        assert_eq!(xml_output_path(m, Some("out/m.xml"), cwd), PathBuf::from("/work/here/out/m.xml"));
        assert_eq!(xml_output_path(m, Some("out/"), cwd), PathBuf::from("/work/here/out/net.xml"));
        assert_eq!(xml_output_path(m, Some("/abs/x"), cwd), PathBuf::from("/abs/x.xml"));
    }

    #[test]
    fn usage_errors_exit_2_and_version_exits_0() {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(run_ovc(["ovc", "--compress_to_fp16=maybe", "m.onnx"], &mut o, &mut e), 2);
        assert_eq!(run_ovc(["ovc", "--nope", "m.onnx"], &mut o, &mut e), 2);
        assert_eq!(run_ovc(["ovc"], &mut o, &mut e), 2);
        assert_eq!(run_ovc(["ovc", "a.onnx", "b.onnx"], &mut o, &mut e), 2);
        let mut o = Vec::new();
        assert_eq!(run_ovc(["ovc", "--version"], &mut o, &mut e), 0);
        assert!(String::from_utf8_lossy(&o).starts_with("OpenVINO Model Converter (ovc) "));
        let mut e = Vec::new();
        assert_eq!(run_ovc(["ovc", "/definitely/missing.onnx"], &mut o, &mut e), 1);
        assert_eq!(
            String::from_utf8_lossy(&e),
            "[ ERROR ]  The \"/definitely/missing.onnx\" is not existing file or directory\n"
        );
    }

    #[test]
    fn compress_flag_forms() {
        let p = |v: &[&str]| OvcArgs::try_parse_from(v).expect("parses").compress_to_fp16;
        assert_eq!(p(&["ovc", "m.onnx"]), None);
        assert_eq!(p(&["ovc", "m.onnx", "--compress_to_fp16"]), Some(None));
        assert_eq!(p(&["ovc", "m.onnx", "--compress_to_fp16=False"]), Some(Some(false)));
        assert_eq!(p(&["ovc", "m.onnx", "--compress_to_fp16", "true"]), Some(Some(true)));
    }
}
