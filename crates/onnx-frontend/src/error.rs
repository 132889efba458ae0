//! The one error type of the frontend.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while reading or translating an ONNX model.
#[derive(Debug, Error)]
pub enum FrontendError {
    /// The model file (or an external data file) could not be opened, read or mapped.
    #[error("cannot read '{}': {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf message.
    #[error("'{}' is not a valid ONNX model: {message}", file.display())]
    Decode {
        /// The model file.
        file: PathBuf,
        /// What the protobuf decoder reported.
        message: String,
    },
    /// The model is structurally invalid (missing graph or opset import, cycle, undefined input...).
    #[error("invalid ONNX model '{}': {message}", file.display())]
    InvalidModel {
        /// The model file.
        file: PathBuf,
        /// What is wrong, for a person.
        message: String,
    },
    /// A tensor (initializer or Constant attribute) cannot be turned into a constant.
    #[error("tensor '{tensor}': {message}")]
    Tensor {
        /// Name of the tensor.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// The external data of a tensor is missing, outside the model folder or the wrong size.
    #[error("external data of tensor '{tensor}' in '{}': {message}", file.display())]
    ExternalData {
        /// Name of the tensor.
        tensor: String,
        /// The external file, as named by `location` (resolved when possible).
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No translator exists for this op at this opset.
    #[error("no conversion rule for ONNX op '{op}' (domain '{domain}', opset {opset}) in node '{node}'{hint}")]
    UnsupportedOp {
        /// ONNX op type.
        op: String,
        /// ONNX domain (`ai.onnx` for the default domain).
        domain: String,
        /// The model's opset import for this domain.
        opset: i64,
        /// ONNX node name (or first output name when unnamed).
        node: String,
        /// Extra explanation (e.g. the oldest supported version), may be empty.
        hint: String,
    },
    /// A translator rejected a node (bad attribute, unsupported input form, ...).
    #[error("node '{node}' ({domain}.{op}, opset {opset}): {message}")]
    Node {
        /// ONNX node name (or first output name when unnamed).
        node: String,
        /// ONNX op type.
        op: String,
        /// ONNX domain.
        domain: String,
        /// Opset version in force for the domain.
        opset: i64,
        /// What is wrong.
        message: String,
    },
    /// A user option (input shape override, output selection) does not fit the model.
    #[error("invalid option: {0}")]
    Option(String),
    /// The graph library rejected an operation (shape inference failure, pass failure, ...).
    #[error(transparent)]
    Graph(#[from] ir_graph::GraphError),
}

impl FrontendError {
    /// Builds a [`FrontendError::Tensor`].
    pub(crate) fn tensor(tensor: &str, message: impl Into<String>) -> FrontendError {
        FrontendError::Tensor { tensor: tensor.to_string(), message: message.into() }
    }
}
