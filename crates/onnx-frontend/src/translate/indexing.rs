//! Indexing ops: TopK, ArgMax/ArgMin, GatherElements, GatherND, scatters, NonZero, OneHot.

use ir_graph::ops::{self, ScatterReduction, TopKMode, TopKSort};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "TopK", &[1, 10, 11, 24], topk);
    r.register(d, "ArgMax", &[1, 11, 12, 13], |c| arg(c, TopKMode::Max));
    r.register(d, "ArgMin", &[1, 11, 12, 13], |c| arg(c, TopKMode::Min));
    r.register(d, "GatherElements", &[11, 13], gather_elements);
    r.register(d, "GatherND", &[11, 12, 13], gather_nd);
    r.register(d, "ScatterElements", &[11, 13, 16, 18], scatter_elements);
    r.register(d, "Scatter", &[9, 11], scatter_elements);
    r.register(d, "ScatterND", &[11, 13, 16, 18], scatter_nd);
    r.register(d, "NonZero", &[9, 13], non_zero);
    r.register(d, "OneHot", &[9, 11], one_hot);
}

/// A scalar version of a one-element input: reshaped constant, else Squeeze.
fn as_scalar(c: &mut NodeContext<'_>, i: usize) -> Result<OutputRef, FrontendError> {
    let x = c.input(i)?;
    if let Some(t) = c.const_input(i) {
        if t.numel() != 1 {
            return Err(c.error(format!("input {i} must hold one value, got shape {:?}", t.shape())));
        }
        let s = t.reshaped(vec![]).map_err(|e| c.error(e.to_string()))?;
        return c.constant(s);
    }
    if c.shape(x).rank() == Some(0) {
        return Ok(x);
    }
    let target = c.const_i64(&[0], vec![])?;
    c.add(ops::Reshape { special_zero: false }, &[x, target])
}

fn topk(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let k = if c.opset() < 10 {
        let k = c.attr_int_req("k")?;
        c.const_i64(&[], vec![k])?
    } else {
        as_scalar(c, 1)?
    };
    let axis = c.attr_int("axis", -1)?;
    let largest = c.opset() < 11 || c.attr_int("largest", 1)? != 0;
    let sorted = c.opset() < 11 || c.attr_int("sorted", 1)? != 0;
    let id = c.add_node(
        ops::TopK11 {
            axis,
            mode: if largest { TopKMode::Max } else { TopKMode::Min },
            sort: if sorted { TopKSort::Value } else { TopKSort::None },
            index_element_type: ElementType::I64,
            stable: true,
        },
        &[x, k],
    )?;
    Ok(vec![OutputRef::new(id, 0), OutputRef::new(id, 1)])
}

fn arg(c: &mut NodeContext<'_>, mode: TopKMode) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", 0)?;
    let keepdims = c.attr_int("keepdims", 1)? != 0;
    if c.attr_int("select_last_index", 0)? != 0 {
        return Err(c.error("select_last_index = 1 is not supported"));
    }
    let k = c.const_i64(&[], vec![1])?;
    let id = c.add_node(
        ops::TopK11 { axis, mode, sort: TopKSort::None, index_element_type: ElementType::I64, stable: true },
        &[x, k],
    )?;
    let idx = OutputRef::new(id, 1);
    if keepdims {
        return Ok(vec![idx]);
    }
    let axes = c.const_vec(&[axis])?;
    Ok(vec![c.add(ops::Squeeze {}, &[idx, axes])?])
}

fn gather_elements(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let axis = c.attr_int("axis", 0)?;
    Ok(vec![c.add(ops::GatherElements { axis }, &[x, idx])?])
}

fn gather_nd(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let b = c.attr_int("batch_dims", 0)?;
    let batch_dims = u64::try_from(b).map_err(|_| c.error(format!("batch_dims must be >= 0, got {b}")))?;
    Ok(vec![c.add(ops::GatherND { batch_dims }, &[x, idx])?])
}

fn scatter_elements(c: &mut NodeContext<'_>) -> R {
    let (x, idx, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let axis = c.attr_int("axis", 0)?;
    let reduction = match c.attr_string("reduction", "none")?.as_str() {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Sum,
        "mul" => ScatterReduction::Prod,
        "min" => ScatterReduction::Min,
        "max" => ScatterReduction::Max,
        other => return Err(c.error(format!("unknown reduction '{other}'"))),
    };
    let axis = c.const_i64(&[], vec![axis])?;
    Ok(vec![c.add(ops::ScatterElementsUpdate { reduction, use_init_val: true }, &[x, idx, upd, axis])?])
}

fn scatter_nd(c: &mut NodeContext<'_>) -> R {
    let (x, idx, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let reduction = c.attr_string("reduction", "none")?;
    if reduction != "none" {
        return Err(c.error(format!("reduction '{reduction}' is not supported (ScatterNDUpdate-4 only overwrites)")));
    }
    Ok(vec![c.add(ops::ScatterNDUpdate {}, &[x, idx, upd])?])
}

fn non_zero(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    Ok(vec![c.add(ops::NonZero { output_type: ElementType::I64 }, &[x])?])
}

fn one_hot(c: &mut NodeContext<'_>) -> R {
    let indices = c.input(0)?;
    let values = c.input(2)?;
    let axis = c.attr_int("axis", -1)?;
    // Depth as an i64 scalar.
    let depth = match c.const_input(1) {
        Some(t) => {
            let v = t.to_f64_vec().map_err(|e| c.error(format!("depth: {e}")))?;
            let [d] = v.as_slice() else {
                return Err(c.error(format!("depth must hold one value, got {}", v.len())));
            };
            c.const_i64(&[], vec![*d as i64])?
        }
        None => {
            let d = as_scalar(c, 1)?;
            if c.element_type(d) == ElementType::I64 {
                d
            } else {
                c.add(ops::Convert { destination_type: ElementType::I64 }, &[d])?
            }
        }
    };
    // ONNX counts negative indices from the end: normalize with FloorMod(index, depth).
    let idx = if c.element_type(indices) == ElementType::I64 {
        indices
    } else {
        c.add(ops::Convert { destination_type: ElementType::I64 }, &[indices])?
    };
    let idx = c.add(ops::FloorMod::default(), &[idx, depth])?;
    // values = [off, on].
    let zero_axis = c.const_i64(&[], vec![0])?;
    let off_i = c.const_i64(&[], vec![0])?;
    let on_i = c.const_i64(&[], vec![1])?;
    let off = c.add(ops::Gather { batch_dims: 0 }, &[values, off_i, zero_axis])?;
    let on = c.add(ops::Gather { batch_dims: 0 }, &[values, on_i, zero_axis])?;
    Ok(vec![c.add(ops::OneHot { axis }, &[idx, depth, on, off])?])
}
