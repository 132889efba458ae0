//! Random generators, all on `RandomUniform`-8 (OpenVINO's only random op). Their values
//! cannot match another runtime's draw; shapes and types do.

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "RandomUniform", &[1, 22], random_uniform);
    r.register("", "RandomUniformLike", &[1, 22], random_uniform_like);
    r.register("", "RandomNormal", &[1, 22], random_normal);
    r.register("", "RandomNormalLike", &[1, 22], random_normal_like);
    r.register("", "Bernoulli", &[15, 22], bernoulli);
}

/// The `dtype` attribute as an element type, or `default` when absent.
fn dtype(c: &NodeContext<'_>, default: ElementType) -> Result<ElementType, FrontendError> {
    match c.attr_int_opt("dtype")? {
        None => Ok(default),
        Some(t) => {
            let t = i32::try_from(t).map_err(|_| c.error(format!("bad dtype {t}")))?;
            crate::load::element_type(t).map_err(|m| c.error(m))
        }
    }
}

/// A uniform draw in `[low, high)` of the given shape; ONNX's float `seed` becomes the op seed
/// (OpenVINO draws a fresh sequence per run when both seeds are 0).
fn uniform(
    c: &mut NodeContext<'_>,
    shape: OutputRef,
    et: ElementType,
    low: f64,
    high: f64,
) -> Result<OutputRef, FrontendError> {
    if !et.is_float() {
        return Err(c.error(format!("random values of type {et} are not supported (floating-point only)")));
    }
    let seed = c.attr_float("seed", 0.0)?;
    let op_seed = if seed.is_finite() && seed > 0.0 { seed as u64 } else { 0 };
    let lo = c.const_scalar(et, low)?;
    let hi = c.const_scalar(et, high)?;
    c.add(ops::RandomUniform { output_type: et, global_seed: 0, op_seed }, &[shape, lo, hi])
}

fn static_shape(c: &mut NodeContext<'_>) -> Result<OutputRef, FrontendError> {
    let dims = c.attr_ints("shape")?.ok_or_else(|| c.error("attribute 'shape' is required"))?;
    if dims.iter().any(|&d| d < 0) {
        return Err(c.error(format!("negative dimension in shape {dims:?}")));
    }
    c.const_vec(&dims)
}

fn shape_like(c: &mut NodeContext<'_>, x: OutputRef) -> Result<OutputRef, FrontendError> {
    c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])
}

fn random_uniform(c: &mut NodeContext<'_>) -> R {
    let et = dtype(c, ElementType::F32)?;
    let shape = static_shape(c)?;
    let (low, high) = (c.attr_float("low", 0.0)?, c.attr_float("high", 1.0)?);
    Ok(vec![uniform(c, shape, et, f64::from(low), f64::from(high))?])
}

fn random_uniform_like(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = dtype(c, c.element_type(x))?;
    let shape = shape_like(c, x)?;
    let (low, high) = (c.attr_float("low", 0.0)?, c.attr_float("high", 1.0)?);
    Ok(vec![uniform(c, shape, et, f64::from(low), f64::from(high))?])
}

/// Box-Muller: `mean + scale * sqrt(-2 ln u1) * cos(2 pi u2)` with `u1` in `(0, 1]`.
fn normal(c: &mut NodeContext<'_>, shape: OutputRef, et: ElementType) -> Result<OutputRef, FrontendError> {
    let (mean, scale) = (c.attr_float("mean", 0.0)?, c.attr_float("scale", 1.0)?);
    let u0 = uniform(c, shape, et, 0.0, 1.0)?;
    let one = c.const_scalar(et, 1.0)?;
    let u1 = c.add(ops::Subtract::default(), &[one, u0])?;
    let u2 = uniform(c, shape, et, 0.0, 1.0)?;
    let ln = c.add(ops::Log {}, &[u1])?;
    let m2 = c.const_scalar(et, -2.0)?;
    let r = c.add(ops::Multiply::default(), &[ln, m2])?;
    let r = c.add(ops::Sqrt {}, &[r])?;
    let two_pi = c.const_scalar(et, std::f64::consts::TAU)?;
    let angle = c.add(ops::Multiply::default(), &[u2, two_pi])?;
    let cos = c.add(ops::Cos {}, &[angle])?;
    let z = c.add(ops::Multiply::default(), &[r, cos])?;
    let s = c.const_scalar(et, f64::from(scale))?;
    let z = c.add(ops::Multiply::default(), &[z, s])?;
    let m = c.const_scalar(et, f64::from(mean))?;
    c.add(ops::Add::default(), &[z, m])
}

fn random_normal(c: &mut NodeContext<'_>) -> R {
    let et = dtype(c, ElementType::F32)?;
    let shape = static_shape(c)?;
    Ok(vec![normal(c, shape, et)?])
}

fn random_normal_like(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = dtype(c, c.element_type(x))?;
    let shape = shape_like(c, x)?;
    Ok(vec![normal(c, shape, et)?])
}

/// `y = (uniform draw < p) ? 1 : 0` in `dtype` (default: the type of `p`).
fn bernoulli(c: &mut NodeContext<'_>) -> R {
    let p = c.input(0)?;
    let pt = c.element_type(p);
    let et = dtype(c, pt)?;
    let shape = shape_like(c, p)?;
    let draw = uniform(c, shape, pt, 0.0, 1.0)?;
    let hit = c.add(ops::Less::default(), &[draw, p])?;
    Ok(vec![c.add(ops::Convert { destination_type: et }, &[hit])?])
}
