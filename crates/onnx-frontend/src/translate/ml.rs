//! `ai.onnx.ml` ops that map onto plain tensor ops.

use ir_graph::OutputRef;
use ir_graph::ops;

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let ml = "ai.onnx.ml";
    r.register(ml, "Binarizer", &[1], binarizer);
    r.register(ml, "ArrayFeatureExtractor", &[1], array_feature_extractor);
}

/// `Y = X > threshold ? 1 : 0`, in the type of X.
fn binarizer(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let threshold = c.attr_float("threshold", 0.0)?;
    let t = c.const_scalar(et, f64::from(threshold))?;
    let mask = c.add(ops::Greater::default(), &[x, t])?;
    Ok(vec![c.add(ops::Convert { destination_type: et }, &[mask])?])
}

/// Picks entries of the last axis by (flattened) indices; a 1-D input gives one row, as
/// onnxruntime does.
fn array_feature_extractor(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let indices = c.input(1)?;
    let flat_shape = c.const_vec(&[-1])?;
    let flat = c.add(ops::Reshape { special_zero: false }, &[indices, flat_shape])?;
    let axis = c.const_i64(&[], vec![-1])?;
    let y = c.add(ops::Gather { batch_dims: 0 }, &[x, flat, axis])?;
    if c.static_rank(x, "ArrayFeatureExtractor")? == 1 {
        let zero = c.const_vec(&[0])?;
        return Ok(vec![c.add(ops::Unsqueeze {}, &[y, zero])?]);
    }
    Ok(vec![y])
}
