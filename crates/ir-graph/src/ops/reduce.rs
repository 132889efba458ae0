//! Reductions over the axes given by input 1.

use serde::{Deserialize, Serialize};

use super::nn::normalize_axis;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Normalized, deduplicated, sorted reduction axes from a constant axes input.
pub fn reduction_axes(axes: &Tensor, rank: usize) -> Result<Vec<usize>> {
    let mut out = axes.to_i64_vec()?.into_iter().map(|a| normalize_axis(a, rank)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Output shape of a reduction.
pub fn infer_reduce(
    inputs: &[InferInput<'_>],
    keep_dims: bool,
    out_type: Option<ElementType>,
) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 2)?;
    let et = out_type.unwrap_or(inputs[0].element_type);
    if !inputs[1].element_type.is_integer() && inputs[1].element_type != ElementType::Dynamic {
        return Err(invalid!("axes must be integers, got {}", inputs[1].element_type));
    }
    let shape = match (inputs[0].shape.dims(), inputs[1].value) {
        (Some(dims), Some(axes)) => {
            let axes = reduction_axes(axes, dims.len())?;
            let mut out = Vec::new();
            for (i, d) in dims.iter().enumerate() {
                if axes.contains(&i) {
                    if keep_dims {
                        out.push(Dim::fixed(1));
                    }
                } else {
                    out.push(*d);
                }
            }
            PartialShape::Ranked(out)
        }
        (Some(dims), None) if keep_dims => PartialShape::dynamic_of_rank(dims.len()),
        (Some(dims), None) => match inputs[1].shape.to_static().as_deref() {
            Some([n]) if *n <= dims.len() => PartialShape::dynamic_of_rank(dims.len() - n),
            Some([]) => PartialShape::dynamic_of_rank(dims.len().saturating_sub(1)),
            _ => PartialShape::DynamicRank,
        },
        (None, _) => PartialShape::DynamicRank,
    };
    Ok(vec![OutputType::new(et, shape)])
}

macro_rules! reduce_ops {
    ($($(#[$doc:meta])* $name:ident = $ty:literal, $opset:literal, $out:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {
            /// Keep reduced axes as size-1 dims.
            #[serde(default)]
            pub keep_dims: bool,
        }

        impl OpSpec for $name {
            const TYPE: &'static str = $ty;
            const OPSET: u32 = $opset;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                infer_reduce(inputs, self.keep_dims, $out)
            }
            fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
                crate::eval::reduce(Self::TYPE, self.keep_dims, inputs)
            }
        }
    )*};
}

reduce_ops! {
    /// Mean.
    ReduceMean = "ReduceMean", 1, None;
    /// Sum.
    ReduceSum = "ReduceSum", 1, None;
    /// Maximum.
    ReduceMax = "ReduceMax", 1, None;
    /// Minimum.
    ReduceMin = "ReduceMin", 1, None;
    /// Product.
    ReduceProd = "ReduceProd", 1, None;
    /// Sum of absolute values.
    ReduceL1 = "ReduceL1", 4, None;
    /// Square root of the sum of squares.
    ReduceL2 = "ReduceL2", 4, None;
    /// All true.
    ReduceLogicalAnd = "ReduceLogicalAnd", 1, Some(ElementType::Boolean);
    /// Any true.
    ReduceLogicalOr = "ReduceLogicalOr", 1, Some(ElementType::Boolean);
}
