//! The one error type of the CPU plugin.

use ir_graph::GraphError;
use thiserror::Error;

/// Everything that can go wrong while compiling a model or running an inference.
#[derive(Debug, Error)]
pub enum PluginError {
    /// A node failed to compile or run; carries the node's op type and friendly name.
    #[error("{op} '{node}': {message}")]
    Node {
        /// IR type name of the op.
        op: String,
        /// Friendly name of the node.
        node: String,
        /// What went wrong, for a person.
        message: String,
    },
    /// The graph layer reported an error (shape inference, constant folding, structure).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The caller passed inputs that do not match the model.
    #[error("invalid input: {0}")]
    Input(String),
    /// The configuration cannot be honoured (e.g. the thread pool cannot be built).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl PluginError {
    /// A node-scoped error.
    pub fn node(op: &str, node: &str, message: impl std::fmt::Display) -> PluginError {
        PluginError::Node { op: op.to_string(), node: node.to_string(), message: message.to_string() }
    }
}

/// Result alias used across the plugin.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
