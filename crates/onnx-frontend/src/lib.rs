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
//! ```no_run
//! use onnx_frontend::{ConvertOptions, convert_model};
//! use ir_graph::PartialShape;
//!
//! let options = ConvertOptions {
//!     // Like `ovc model.onnx --input data[1,3,224,224]`.
//!     input_shapes: vec![(Some("data".into()), PartialShape::fixed(&[1, 3, 224, 224]))],
//!     ..ConvertOptions::default()
//! };
//! let model = convert_model("model.onnx".as_ref(), &options)?;
//! println!("{} nodes", model.node_count());
//! # Ok::<(), onnx_frontend::FrontendError>(())
//! ```

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::path::Path;

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
    fn passes(&self, model: &mut Model) -> Result<(), FrontendError> {
        let fold =
            ir_graph::passes::ConstantFolding { max_bytes: self.fold_limit_bytes.unwrap_or(DEFAULT_FOLD_LIMIT_BYTES) };
        ir_graph::passes::standard_pipeline_with(model, &fold)?;
        Ok(())
    }
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
    let mut model = read_with(path, options)?;
    options.passes(&mut model)?;
    Ok(model)
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
    let mut out = String::from("| ONNX op | Domain | Since versions |\n|---|---|---|\n");
    for op in supported_ops() {
        let versions: Vec<String> = op.since_versions.iter().rev().map(|v| v.to_string()).collect();
        out.push_str(&format!("| {} | {} | {} |\n", op.op_type, op.domain, versions.join(", ")));
    }
    out
}
