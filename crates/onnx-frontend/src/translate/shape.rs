//! Shape and data-movement ops, constants.

use ir_graph::ops::{self, BroadcastMode};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Reshape", &[1, 5, 13, 14, 19, 21, 23], reshape);
    r.register(d, "Concat", &[1, 4, 11, 13], concat);
    r.register(d, "Transpose", &[1, 13, 21, 23], transpose);
    r.register(d, "Unsqueeze", &[1, 11], |c| unsqueeze(c, false));
    r.register(d, "Unsqueeze", &[13, 21, 23], |c| unsqueeze(c, true));
    r.register(d, "Squeeze", &[1, 11], |c| squeeze(c, false));
    r.register(d, "Squeeze", &[13, 21, 23], |c| squeeze(c, true));
    r.register(d, "ConstantOfShape", &[9, 20, 21, 23], constant_of_shape);
    r.register(d, "Constant", &[1, 9, 11, 12, 13, 19, 21, 23], constant);
    r.register(d, "Shape", &[1, 13, 15, 19, 21, 23], shape_of);
    r.register(d, "Size", &[1, 13, 19, 21, 23], size);
    r.register(d, "Gather", &[1, 11, 13], gather);
    r.register(d, "Expand", &[8, 13], expand);
}

fn i64s(c: &NodeContext<'_>, t: &Tensor, what: &str) -> Result<Vec<i64>, FrontendError> {
    t.to_i64_vec().map_err(|e| c.error(format!("{what}: {e}")))
}

fn reshape(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let target = if c.opset() < 5 {
        let s = c.attr_ints("shape")?.ok_or_else(|| c.error("attribute 'shape' is required"))?;
        c.const_vec(&s)?
    } else {
        c.input(1)?
    };
    // ONNX 0 copies the input dim unless allowzero = 1 (opset 14+).
    let allowzero = c.opset() >= 14 && c.attr_int("allowzero", 0)? != 0;
    Ok(vec![c.add(ops::Reshape { special_zero: !allowzero }, &[x, target])?])
}

fn concat(c: &mut NodeContext<'_>) -> R {
    let inputs = c.present_inputs();
    if inputs.is_empty() {
        return Err(c.error("needs at least one input"));
    }
    let axis = if c.opset() < 4 { c.attr_int("axis", 1)? } else { c.attr_int_req("axis")? };
    Ok(vec![c.add(ops::Concat { axis }, &inputs)?])
}

fn transpose(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let perm = match c.attr_ints("perm")? {
        Some(p) => p,
        None => {
            let rank = c.static_rank(x, "Transpose without 'perm'")?;
            (0..rank as i64).rev().collect()
        }
    };
    let perm = c.const_vec(&perm)?;
    Ok(vec![c.add(ops::Transpose {}, &[x, perm])?])
}

fn unsqueeze(c: &mut NodeContext<'_>, axes_input: bool) -> R {
    let x = c.input(0)?;
    let axes = if axes_input {
        c.input(1)?
    } else {
        let a = c.attr_ints("axes")?.ok_or_else(|| c.error("attribute 'axes' is required"))?;
        c.const_vec(&a)?
    };
    Ok(vec![c.add(ops::Unsqueeze {}, &[x, axes])?])
}

fn squeeze(c: &mut NodeContext<'_>, axes_input: bool) -> R {
    let x = c.input(0)?;
    let axes = if axes_input {
        match (c.opt_input(1), c.const_input(1)) {
            (Some(_), Some(t)) if t.numel() == 0 => None,
            (a, _) => a,
        }
    } else {
        match c.attr_ints("axes")? {
            Some(a) if !a.is_empty() => Some(c.const_vec(&a)?),
            _ => None,
        }
    };
    let y = match axes {
        Some(a) => c.add(ops::Squeeze {}, &[x, a])?,
        None => c.add(ops::Squeeze {}, &[x])?,
    };
    Ok(vec![y])
}

fn constant_of_shape(c: &mut NodeContext<'_>) -> R {
    let shape = c.input(0)?;
    let value = match c.attr_tensor("value")? {
        Some(t) => {
            if t.numel() != 1 {
                return Err(c.error(format!("'value' must hold one element, got shape {:?}", t.shape())));
            }
            t.reshaped(vec![]).map_err(|e| c.error(e.to_string()))?
        }
        None => Tensor::scalar(0f32),
    };
    let v = c.constant(value)?;
    Ok(vec![c.add(ops::Broadcast { mode: BroadcastMode::Numpy }, &[v, shape])?])
}

fn constant(c: &mut NodeContext<'_>) -> R {
    let tensor = if let Some(t) = c.attr_tensor("value")? {
        t
    } else if c.has_attr("value_float") {
        Tensor::scalar(c.attr_float("value_float", 0.0)?)
    } else if let Some(v) = c.attr_floats("value_floats")? {
        Tensor::from_vec(vec![v.len()], v).map_err(|e| c.error(e.to_string()))?
    } else if let Some(v) = c.attr_int_opt("value_int")? {
        Tensor::scalar(v)
    } else if let Some(v) = c.attr_ints("value_ints")? {
        Tensor::from_vec(vec![v.len()], v).map_err(|e| c.error(e.to_string()))?
    } else if c.has_attr("value_string") {
        let s = c.attr_string("value_string", "")?;
        Tensor::from_strings(vec![], &[s]).map_err(|e| c.error(e.to_string()))?
    } else if let Some(v) = c.attr_strings("value_strings")? {
        Tensor::from_strings(vec![v.len()], &v).map_err(|e| c.error(e.to_string()))?
    } else if c.has_attr("sparse_value") {
        return Err(c.error("sparse constants are not supported"));
    } else {
        return Err(c.error("has none of the value attributes"));
    };
    Ok(vec![c.constant(tensor)?])
}

fn shape_of(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    if c.opset() < 15 || (!c.has_attr("start") && !c.has_attr("end")) {
        return Ok(vec![s]);
    }
    // Shape-15 start/end: a slice of the shape vector, done with Gather (the rank must be known).
    let rank = c.static_rank(x, "Shape with start/end")? as i64;
    let clamp = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) };
    let start = clamp(c.attr_int("start", 0)?);
    let end = clamp(c.attr_int("end", rank)?);
    let idx: Vec<i64> = (start..end.max(start)).collect();
    let idx = c.const_vec(&idx)?;
    let axis = c.const_i64(&[], vec![0])?;
    Ok(vec![c.add(ops::Gather { batch_dims: 0 }, &[s, idx, axis])?])
}

fn size(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let axes = c.const_vec(&[0])?;
    Ok(vec![c.add(ops::ReduceProd { keep_dims: false }, &[s, axes])?])
}

fn gather(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let axis = c.attr_int("axis", 0)?;
    let axis = c.const_i64(&[], vec![axis])?;
    Ok(vec![c.add(ops::Gather { batch_dims: 0 }, &[x, idx, axis])?])
}

fn expand(c: &mut NodeContext<'_>) -> R {
    let (x, shape) = (c.input(0)?, c.input(1)?);
    if let Some(t) = c.const_input(1) {
        // Validate early for a clearer message than the shape-inference one.
        let dims = i64s(c, &t, "shape")?;
        if dims.iter().any(|&d| d < 0) {
            return Err(c.error(format!("shape {dims:?} has negative dimensions")));
        }
    }
    Ok(vec![c.add(ops::Broadcast { mode: BroadcastMode::Bidirectional }, &[x, shape])?])
}
