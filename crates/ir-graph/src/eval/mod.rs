//! Reference evaluation of ops on concrete tensors: the correctness oracle for constant folding
//! and for the CPU plugin's fast kernels.
//!
//! The kernels favour obviously-correct code over speed: arithmetic widens every value (floats
//! to `f64`, integers to `i128`; see [`values`]) and rounds once when storing the result, and
//! data movement copies whole elements by flat index. Op/type pairs without a kernel fail with
//! [`GraphError::NotEvaluable`](crate::GraphError::NotEvaluable), which constant folding skips.

pub mod deconv;
pub mod elementwise;
pub mod graph;
pub mod indexing;
pub mod lowp;
pub mod math;
pub mod movement;
pub mod nn;
pub mod reduce;
pub mod resize;
pub mod signal;
pub mod slicing;
pub mod strings;
pub mod values;
pub mod vision;

pub use elementwise::{binary, unary, unary_with};
pub use reduce::reduce;

use crate::error::Result;
use crate::invalid;
use crate::ops::{InferInput, OpSpec};
use crate::shape::PartialShape;
use crate::tensor::Tensor;

/// Output shapes of `op` on concrete inputs, from its own shape inference (which sees every
/// input as a constant, so shape-like inputs resolve).
pub fn static_output_shapes<O: OpSpec>(op: &O, inputs: &[Tensor]) -> Result<Vec<Vec<usize>>> {
    let shapes: Vec<PartialShape> = inputs.iter().map(|t| PartialShape::fixed(t.shape())).collect();
    let ii: Vec<InferInput<'_>> = inputs
        .iter()
        .zip(&shapes)
        .map(|(t, s)| InferInput { element_type: t.element_type(), shape: s, value: Some(t) })
        .collect();
    op.infer(&ii)?
        .iter()
        .map(|o| o.shape.to_static().ok_or_else(|| invalid!("{} output shape {} is not static", O::TYPE, o.shape)))
        .collect()
}

/// The single static output shape of `op`.
pub fn static_output_shape<O: OpSpec>(op: &O, inputs: &[Tensor]) -> Result<Vec<usize>> {
    static_output_shapes(op, inputs)?.into_iter().next().ok_or_else(|| invalid!("{} has no outputs", O::TYPE))
}
