//! Normalizations and activations decomposed into IR ops: RMSNormalization, GroupNormalization,
//! LpNormalization, Hardmax, Celu, Shrink.

use ir_graph::ops::{self, EpsMode, TopKMode, TopKSort};
use ir_graph::{ElementType, OutputRef};

use super::nn::{channel_vector, flatten};
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "RMSNormalization", &[23], rms_norm);
    r.register(d, "GroupNormalization", &[18, 21], group_norm);
    r.register(d, "LpNormalization", &[1, 22], lp_norm);
    r.register(d, "Hardmax", &[1, 11], |c| hardmax(c, true));
    r.register(d, "Hardmax", &[13], |c| hardmax(c, false));
    r.register(d, "Celu", &[12], celu);
    r.register(d, "Shrink", &[9], shrink);
}

/// Axes from `axis` to the last one, negative when `axis` is (no rank needed then).
fn trailing_axes(c: &NodeContext<'_>, x: OutputRef, axis: i64, what: &str) -> Result<Vec<i64>, FrontendError> {
    Ok(if axis < 0 {
        (axis..0).collect()
    } else {
        let rank = c.static_rank(x, what)? as i64;
        (axis..rank).collect()
    })
}

/// RMSNormalization-23: `x / sqrt(mean(x^2 over axes) + eps) * scale`, as OpenVINO decomposes it.
fn rms_norm(c: &mut NodeContext<'_>) -> R {
    let (x, scale) = (c.input(0)?, c.input(1)?);
    let axis = c.attr_int("axis", -1)?;
    let eps = c.attr_float("epsilon", 1e-5)? as f64;
    let et = c.element_type(x);
    let axes = trailing_axes(c, x, axis, "RMSNormalization with a non-negative axis")?;
    let axes = c.const_vec(&axes)?;
    let two = c.const_scalar(et, 2.0)?;
    let sq = c.add(ops::Power::default(), &[x, two])?;
    let mean = c.add(ops::ReduceMean { keep_dims: true }, &[sq, axes])?;
    let e = c.const_scalar(et, eps)?;
    let mean = c.add(ops::Add::default(), &[mean, e])?;
    let rms = c.add(ops::Sqrt {}, &[mean])?;
    let y = c.add(ops::Divide::default(), &[x, rms])?;
    Ok(vec![c.add(ops::Multiply::default(), &[y, scale])?])
}

/// GroupNormalization-18/21: MVN over each group of channels, then per-channel scale and bias
/// (per-group in opset 18).
fn group_norm(c: &mut NodeContext<'_>) -> R {
    let (x, scale, bias) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let groups = c.attr_int_req("num_groups")?;
    let eps = c.attr_float("epsilon", 1e-5)?;
    let rank = c.static_rank(x, "GroupNormalization")?;
    if groups < 1 || rank < 2 {
        return Err(c.error(format!("num_groups {groups} and rank {rank} are invalid")));
    }
    let grouped = c.const_vec(&[0, groups, -1])?;
    let xg = c.add(ops::Reshape { special_zero: true }, &[x, grouped])?;
    let axes = c.const_vec(&[2])?;
    let y = c.add(ops::Mvn { eps, normalize_variance: true, eps_mode: EpsMode::InsideSqrt }, &[xg, axes])?;
    let back = match c.shape(x).to_static() {
        Some(s) => c.const_vec(&s.iter().map(|&d| d as i64).collect::<Vec<_>>())?,
        None => c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?,
    };
    let y = c.add(ops::Reshape { special_zero: false }, &[y, back])?;
    let (scale, bias) = if c.opset() < 21 {
        // Per-group parameters: repeat each C/G times.
        let ch = c.shape(x).dims().and_then(|d| d[1].get()).ok_or_else(|| c.error("needs a static channel count"))?;
        let per = ch as i64 / groups;
        let rep = |c: &mut NodeContext<'_>, v: OutputRef| -> Result<OutputRef, FrontendError> {
            let col = c.const_vec(&[groups, 1])?;
            let v = c.add(ops::Reshape { special_zero: false }, &[v, col])?;
            let to = c.const_vec(&[groups, per])?;
            let v = c.add(ops::Broadcast::default(), &[v, to])?;
            let flat = c.const_vec(&[ch as i64])?;
            c.add(ops::Reshape { special_zero: false }, &[v, flat])
        };
        (rep(c, scale)?, rep(c, bias)?)
    } else {
        (scale, bias)
    };
    let s = channel_vector(c, scale, rank)?;
    let b = channel_vector(c, bias, rank)?;
    let y = c.add(ops::Multiply::default(), &[y, s])?;
    Ok(vec![c.add(ops::Add::default(), &[y, b])?])
}

/// LpNormalization: `x / ReduceL{p}(x, axis)` as OpenVINO's frontend builds it (zero norms divide by 1).
fn lp_norm(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", -1)?;
    let p = c.attr_int("p", 2)?;
    let axes = c.const_vec(&[axis])?;
    let norm = match p {
        1 => c.add(ops::ReduceL1 { keep_dims: true }, &[x, axes])?,
        2 => c.add(ops::ReduceL2 { keep_dims: true }, &[x, axes])?,
        _ => return Err(c.error(format!("p must be 1 or 2, got {p}"))),
    };
    // A zero norm means an all-zero slice: divide by 1 so it stays 0 (ONNX's result) not NaN.
    let et = c.element_type(x);
    let (zero, one) = (c.const_scalar(et, 0.0)?, c.const_scalar(et, 1.0)?);
    let is_zero = c.add(ops::Equal::default(), &[norm, zero])?;
    let norm = c.add(ops::Select::default(), &[is_zero, one, norm])?;
    Ok(vec![c.add(ops::Divide::default(), &[x, norm])?])
}

/// Hardmax: one-hot of the first maximum along `axis` (TopK k=1 + OneHot); opset < 13 works on
/// the input coerced to 2-D at `axis`.
fn hardmax(c: &mut NodeContext<'_>, legacy: bool) -> R {
    let x0 = c.input(0)?;
    let et = c.element_type(x0);
    let (x, axis) = if legacy {
        let axis = c.attr_int("axis", 1)?;
        (flatten(c, x0, axis)?, 1)
    } else {
        (x0, c.attr_int("axis", -1)?)
    };
    let rank = c.static_rank(x, "Hardmax")?;
    let ax = if axis < 0 { axis + rank as i64 } else { axis };
    if ax < 0 || ax >= rank as i64 {
        return Err(c.error(format!("axis {axis} is out of range for rank {rank}")));
    }
    let k = c.const_i64(&[], vec![1])?;
    let id = c.add_node(
        ops::TopK11 {
            axis: ax,
            mode: TopKMode::Max,
            sort: TopKSort::Value,
            index_element_type: ElementType::I64,
            stable: true,
        },
        &[x, k],
    )?;
    let axes = c.const_vec(&[ax])?;
    let idx = c.add(ops::Squeeze {}, &[OutputRef::new(id, 1), axes])?;
    let depth = match c.shape(x).dims().and_then(|d| d[ax as usize].get()) {
        Some(n) => c.const_i64(&[], vec![n as i64])?,
        None => {
            let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
            let i = c.const_i64(&[], vec![ax])?;
            let zero = c.const_i64(&[], vec![0])?;
            c.add(ops::Gather { batch_dims: 0 }, &[s, i, zero])?
        }
    };
    let on = c.const_scalar(et, 1.0)?;
    let off = c.const_scalar(et, 0.0)?;
    let y = c.add(ops::OneHot { axis: ax }, &[idx, depth, on, off])?;
    if !legacy {
        return Ok(vec![y]);
    }
    let back = match c.shape(x0).to_static() {
        Some(s) => c.const_vec(&s.iter().map(|&d| d as i64).collect::<Vec<_>>())?,
        None => c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x0])?,
    };
    Ok(vec![c.add(ops::Reshape { special_zero: false }, &[y, back])?])
}

/// Celu: `alpha * Elu(x / alpha)`.
fn celu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let alpha = c.attr_float("alpha", 1.0)? as f64;
    let a = c.const_scalar(et, alpha)?;
    let y = c.add(ops::Divide::default(), &[x, a])?;
    let y = c.add(ops::Elu { alpha: 1.0 }, &[y])?;
    Ok(vec![c.add(ops::Multiply::default(), &[y, a])?])
}

/// Shrink: `x + bias` below `-lambd`, `x - bias` above `lambd`, else 0.
fn shrink(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let lambd = c.attr_float("lambd", 0.5)? as f64;
    let bias = c.attr_float("bias", 0.0)? as f64;
    let (lo, hi) = (c.const_scalar(et, -lambd)?, c.const_scalar(et, lambd)?);
    let b = c.const_scalar(et, bias)?;
    let zero = c.const_scalar(et, 0.0)?;
    let below = c.add(ops::Less::default(), &[x, lo])?;
    let above = c.add(ops::Greater::default(), &[x, hi])?;
    let plus = c.add(ops::Add::default(), &[x, b])?;
    let minus = c.add(ops::Subtract::default(), &[x, b])?;
    let y = c.add(ops::Select::default(), &[above, minus, zero])?;
    Ok(vec![c.add(ops::Select::default(), &[below, plus, y])?])
}
