//! The one error type of the graph crate.

use thiserror::Error;

/// Everything that can go wrong while building, inferring, evaluating or rewriting a graph.
#[derive(Debug, Error)]
pub enum GraphError {
    /// An op received inputs it cannot work with (wrong count, type or shape).
    #[error("{op} '{node}': {message}")]
    Validation {
        /// IR type name of the op.
        op: String,
        /// Friendly name of the node.
        node: String,
        /// What is wrong, for a person.
        message: String,
    },
    /// A value of the wrong kind or out of range reached an op that only checks at run time.
    #[error("{0}")]
    Invalid(String),
    /// The reference evaluator has no implementation for this op / element type combination.
    #[error("cannot evaluate {op} for element type {element_type}")]
    NotEvaluable {
        /// IR type name of the op.
        op: String,
        /// The element type that was asked for.
        element_type: String,
    },
    /// An attribute could not be parsed or written.
    #[error("attribute '{name}': {message}")]
    Attribute {
        /// Attribute name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The graph structure itself is broken (cycle, dangling edge, missing node).
    #[error("graph structure: {0}")]
    Structure(String),
}

/// Result alias used across the crate.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;

/// Builds a [`GraphError::Invalid`] from format arguments.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::GraphError::Invalid(format!($($arg)*)) };
}
