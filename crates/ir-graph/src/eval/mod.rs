//! Reference evaluation of ops on concrete tensors: the correctness oracle for constant folding
//! and for the CPU plugin's fast kernels.

use crate::error::{GraphError, Result};
use crate::ops::AutoBroadcast;
use crate::tensor::Tensor;

fn not_evaluable(op: &str, inputs: &[Tensor]) -> GraphError {
    let et = inputs.first().map(|t| t.element_type().to_string()).unwrap_or_else(|| "none".into());
    GraphError::NotEvaluable { op: op.to_string(), element_type: et }
}

/// Element-wise binary op `op` (IR type name) with broadcasting.
pub fn binary(op: &str, _mode: AutoBroadcast, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    Err(not_evaluable(op, inputs))
}

/// Element-wise unary op `op` (IR type name).
pub fn unary(op: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    Err(not_evaluable(op, inputs))
}

/// Element-wise unary op with scalar parameters (Clamp min/max, Elu alpha, Gelu mode).
pub fn unary_with(op: &str, inputs: &[Tensor], _params: &[f64]) -> Result<Vec<Tensor>> {
    Err(not_evaluable(op, inputs))
}

/// Reduction `op` over the axes of input 1.
pub fn reduce(op: &str, _keep_dims: bool, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    Err(not_evaluable(op, inputs))
}
