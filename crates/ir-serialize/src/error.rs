//! The one error type of the crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while writing or reading IR, with the file and layer involved.
#[derive(Debug, Error)]
pub enum SerializeError {
    /// A file could not be created, written, read or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The XML text is not well formed, or uses a feature IR never uses (DTDs, entities).
    #[error("{}: malformed XML near byte {position}: {message}", path.display())]
    Xml {
        /// The XML file.
        path: PathBuf,
        /// Byte offset where parsing stopped.
        position: u64,
        /// What the parser saw.
        message: String,
    },
    /// The XML is well formed but is not an IR document this reader understands.
    #[error("{}: {message}", path.display())]
    Format {
        /// The XML file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One layer of the IR is invalid (bad attribute, bad port, bad edge, failed validation).
    #[error("{}: layer id={id} name='{name}' type={type_name}: {message}", path.display())]
    Layer {
        /// The XML file.
        path: PathBuf,
        /// Layer `id` attribute.
        id: String,
        /// Layer `name` attribute.
        name: String,
        /// Layer `type` attribute.
        type_name: String,
        /// What is wrong.
        message: String,
    },
    /// A layer uses an operation type/version this build does not implement.
    #[error(
        "{}: layer id={id} name='{name}': operation {type_name} of version {version} is not supported",
        path.display()
    )]
    UnsupportedOp {
        /// The XML file.
        path: PathBuf,
        /// Layer `id` attribute.
        id: String,
        /// Layer `name` attribute.
        name: String,
        /// Layer `type` attribute.
        type_name: String,
        /// Layer `version` attribute.
        version: String,
    },
    /// A constant's `offset`/`size` do not fit the weights file or its shape.
    #[error("{}: Const layer id={id} name='{name}': {message}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Layer `id` attribute.
        id: String,
        /// Layer `name` attribute.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The in-memory model cannot be written (dangling edge, cycle, unserializable attribute).
    #[error("cannot write {}: node '{node}' ({type_name}): {message}", path.display())]
    Model {
        /// The destination XML file.
        path: PathBuf,
        /// Friendly name of the node.
        node: String,
        /// IR type of the node.
        type_name: String,
        /// What is wrong.
        message: String,
    },
}

impl SerializeError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SerializeError {
        SerializeError::Io { path: path.into(), source }
    }
}
