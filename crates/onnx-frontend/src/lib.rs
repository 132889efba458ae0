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

use std::path::Path;

use ir_graph::{Model, PartialShape};

pub mod error;
pub mod load;
pub mod proto;
pub mod translate;

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
    let loader = load::TensorLoader::new(Some(file.dir.clone()));
    translate::graph::translate_model(&file.proto, path, &loader, options, Registry::standard())
}

/// Reads, translates and optimizes an ONNX model: constant folding and dead-code removal
/// (like `ovc` / `openvino.convert_model`).
pub fn convert_model(path: &Path, options: &ConvertOptions) -> Result<Model, FrontendError> {
    let mut model = read_with(path, options)?;
    ir_graph::passes::standard_pipeline(&mut model)?;
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
