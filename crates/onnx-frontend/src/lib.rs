//! ONNX frontend: reads `.onnx` files and translates them into the OpenVINO operation set of
//! [`ir_graph`], the way OpenVINO's own ONNX frontend does.
//!
//! - **Loading** ([`load`]): the model file is memory-mapped and decoded with prost; tensor
//!   payloads (`raw_data` and external data) stay views into the maps, so a large model is never
//!   copied. External data is resolved relative to the model folder and refuses absolute paths,
//!   `..`, symlinks leaving the folder, out-of-range offsets and size mismatches.
//! - **Translation** ([`translate`]): a [`Registry`] keyed by (domain, op type) picks, for each
//!   node, the translator with the newest `since_version` not above the model's opset import.
//! - **Conversion** ([`convert_model`]): load + translate + [`ir_graph::passes::standard_pipeline`]
//!   (constant folding, dead-code removal), like `ovc`; [`read_onnx`] stops before the passes,
//!   like `Core.read_model`.
//!
//! ```
//! use ir_graph::PartialShape;
//! use onnx_frontend::proto::{tensor_shape_proto::{Dimension, dimension::Value}, *};
//! use onnx_frontend::{ConvertOptions, convert_model};
//! use prost::Message;
//!
//! // A tiny ONNX model, `y = Relu(data)` with data: f32[N, 3, H, W] (N, H, W symbolic).
//! let dim = |v: Value| Dimension { value: Some(v), ..Default::default() };
//! let shape = TensorShapeProto { dim: vec![
//!     dim(Value::DimParam("N".into())), dim(Value::DimValue(3)),
//!     dim(Value::DimParam("H".into())), dim(Value::DimParam("W".into())),
//! ] };
//! let tensor = |name: &str, shape: Option<TensorShapeProto>| ValueInfoProto {
//!     name: Some(name.into()),
//!     r#type: Some(TypeProto {
//!         value: Some(type_proto::Value::TensorType(type_proto::Tensor {
//!             elem_type: Some(tensor_proto::DataType::Float as i32), shape })),
//!         ..Default::default()
//!     }),
//!     ..Default::default()
//! };
//! let graph = GraphProto {
//!     name: Some("g".into()),
//!     input: vec![tensor("data", Some(shape))],
//!     output: vec![tensor("y", None)],
//!     node: vec![NodeProto { op_type: Some("Relu".into()), input: vec!["data".into()],
//!                            output: vec!["y".into()], ..Default::default() }],
//!     ..Default::default()
//! };
//! let onnx = ModelProto { ir_version: Some(8), graph: Some(graph),
//!     opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(13) }],
//!     ..Default::default() };
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.onnx");
//! std::fs::write(&path, onnx.encode_to_vec())?;
//!
//! // As declared: the batch and spatial dims stay dynamic.
//! let model = convert_model(&path, &ConvertOptions::default())?;
//! let x = model.parameters()[0];
//! assert_eq!(model.port(x.into())?.shape.to_ir_string(), "?,3,?,?");
//!
//! // Like `ovc model.onnx --input data[1,3,224,224]`: static from the input on.
//! let options = ConvertOptions {
//!     input_shapes: vec![(Some("data".into()), PartialShape::fixed(&[1, 3, 224, 224]))],
//!     ..ConvertOptions::default()
//! };
//! let model = convert_model(&path, &options)?;
//! let relu = model.node(model.results()[0])?.inputs[0];
//! assert_eq!(model.port(relu)?.shape.to_ir_string(), "1,3,224,224");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::path::Path;
use std::time::{Duration, Instant};

use ir_graph::passes::PassTiming;
use ir_graph::{Model, PartialShape};

pub mod error;
pub mod load;
pub mod proto;
pub mod translate;
pub mod validate;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use error::FrontendError;
pub use translate::{NodeContext, Registry, Translator};

/// Conversion options, mirroring `ovc`'s `--input` and `--output`.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Input shape overrides applied before translation: `(Some(name), shape)` for a named input,
    /// `(None, shape)` for the next input in order (like `ovc --input x[1,3,224,224]`).
    pub input_shapes: Vec<(Option<String>, PartialShape)>,
    /// When not empty, only these model outputs are kept (in this order).
    pub outputs: Vec<String>,
    /// Largest tensor (bytes) constant folding may create; bigger results keep the op that
    /// computes them. `None` means [`DEFAULT_FOLD_LIMIT_BYTES`].
    pub fold_limit_bytes: Option<usize>,
}

/// Default of [`ConvertOptions::fold_limit_bytes`]: 1 GiB, above the largest weights real
/// models generate with folded ops (VGG-19's 400 MB `ConstantOfShape` weights in the ONNX
/// light models), and low enough that a hostile declared shape (e.g. `ConstantOfShape` of
/// 10^12 elements) cannot make the converter allocate it.
pub const DEFAULT_FOLD_LIMIT_BYTES: usize = 1 << 30;

impl ConvertOptions {
    fn passes(&self, model: &mut Model) -> Result<Vec<PassTiming>, FrontendError> {
        let fold =
            ir_graph::passes::ConstantFolding { max_bytes: self.fold_limit_bytes.unwrap_or(DEFAULT_FOLD_LIMIT_BYTES) };
        Ok(ir_graph::passes::standard_pipeline_timed(model, &fold)?)
    }
}

/// Where the time of a [`convert_model_timed`] went.
#[derive(Debug, Clone, Default)]
pub struct ConversionReport {
    /// Loading the file (maps, protobuf decoding) and checking it.
    pub load: Duration,
    /// Translating the ONNX graph into OpenVINO ops (shape inference included).
    pub translate: Duration,
    /// Every graph pass run, in order, with its time.
    pub passes: Vec<PassTiming>,
    /// What the conversion changed in the model's interface that a user should know (e.g. an
    /// `optional(tensor)` input that became a required tensor input), one sentence each.
    pub notes: Vec<String>,
}

/// One translatable ONNX op: domain, op type and the `since_version`s with a translator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedOp {
    /// Domain (`ai.onnx` for the default domain).
    pub domain: String,
    /// ONNX op type.
    pub op_type: String,
    /// The `since_version`s registered, ascending.
    pub since_versions: Vec<i64>,
}

/// Reads an ONNX model and translates it, without running any graph pass (like `read_model`).
pub fn read_onnx(path: &Path) -> Result<Model, FrontendError> {
    read_with(path, &ConvertOptions::default())
}

fn read_with(path: &Path, options: &ConvertOptions) -> Result<Model, FrontendError> {
    let file = load::load(path)?;
    validate::check_model(&file.proto, path)?;
    let loader = load::TensorLoader::new(Some(file.dir.clone()));
    translate::graph::translate_model(&file.proto, path, &loader, options, Registry::standard())
}

/// Reads, translates and optimizes an ONNX model: constant folding and dead-code removal
/// (like `ovc` / `openvino.convert_model`).
pub fn convert_model(path: &Path, options: &ConvertOptions) -> Result<Model, FrontendError> {
    convert_model_timed(path, options).map(|(model, _)| model)
}

/// [`convert_model`], also telling how long each stage and each graph pass took (what
/// `ovc --verbose` prints).
pub fn convert_model_timed(path: &Path, options: &ConvertOptions) -> Result<(Model, ConversionReport), FrontendError> {
    let mut report = ConversionReport::default();
    let started = Instant::now();
    let file = load::load(path)?;
    validate::check_model(&file.proto, path)?;
    report.load = started.elapsed();
    let started = Instant::now();
    let loader = load::TensorLoader::new(Some(file.dir.clone()));
    let mut model = translate::graph::translate_model(&file.proto, path, &loader, options, Registry::standard())?;
    report.translate = started.elapsed();
    report.notes = translate::graph::optional_input_notes(&file.proto);
    report.passes = options.passes(&mut model)?;
    Ok((model, report))
}

/// [`convert_model`] for a model held in memory (e.g. received over a network, or a fuzzer's
/// input). External data cannot be resolved without a folder, so tensors stored externally
/// are an error; `name` stands for the file in messages.
pub fn convert_model_from_bytes(bytes: &[u8], name: &str, options: &ConvertOptions) -> Result<Model, FrontendError> {
    use prost::Message;
    let path = Path::new(name);
    let proto = proto::ModelProto::decode(bytes)
        .map_err(|e| FrontendError::Decode { file: path.to_path_buf(), message: e.to_string() })?;
    validate::check_model(&proto, path)?;
    let loader = load::TensorLoader::new(None);
    let mut model = translate::graph::translate_model(&proto, path, &loader, options, Registry::standard())?;
    options.passes(&mut model)?;
    Ok(model)
}

/// Every ONNX op this frontend translates, sorted by domain then op type.
pub fn supported_ops() -> Vec<SupportedOp> {
    Registry::standard()
        .entries()
        .map(|(d, o, v)| SupportedOp { domain: d.to_string(), op_type: o.to_string(), since_versions: v })
        .collect()
}

/// The supported ops as a Markdown table (op, domain, since-versions, newest first) for the README.
pub fn supported_ops_markdown() -> String {
    let mut out = String::from("| ONNX op | Domain | Opsets | Since versions |\n|---|---|---|---|\n");
    for op in supported_ops() {
        let versions: Vec<String> = op.since_versions.iter().rev().map(|v| v.to_string()).collect();
        let oldest = op.since_versions.iter().min().copied().unwrap_or_default();
        // Default-domain models are accepted up to the newest opset we know; other domains
        // have no such bound, so their range is open-ended.
        let range = if op.domain == translate::DEFAULT_DOMAIN {
            format!("{oldest}–{}", validate::MAX_KNOWN_OPSET)
        } else {
            format!("{oldest}+")
        };
        out.push_str(&format!("| {} | {} | {range} | {} |\n", op.op_type, op.domain, versions.join(", ")));
    }
    out
}
