//! QuantizeLinear and DequantizeLinear: per-tensor, per-axis and blocked scales, integer
//! (8/16/32-bit and the packed 4- and 2-bit types) and low-precision float (f8e4m3, f8e5m2,
//! f4e2m1) quantized types, decomposed into Convert / arithmetic the way OpenVINO's own ONNX
//! frontend does.

use ir_graph::ops::{self, RoundMode};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::elementwise::cast_to;
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "QuantizeLinear", &[10, 13, 19, 21, 23, 24, 25], quantize);
    r.register(d, "DequantizeLinear", &[10, 13, 19, 21, 23, 24, 25], dequantize);
}

/// Integer range of a quantized integer type.
fn int_range(et: ElementType) -> Option<(f64, f64)> {
    use ElementType as E;
    Some(match et {
        E::U8 => (0.0, 255.0),
        E::I8 => (-128.0, 127.0),
        E::U16 => (0.0, 65535.0),
        E::I16 => (-32768.0, 32767.0),
        E::I32 => (i32::MIN as f64, i32::MAX as f64),
        E::U32 => (0.0, u32::MAX as f64),
        E::I4 => (-8.0, 7.0),
        E::U4 => (0.0, 15.0),
        E::U2 => (0.0, 3.0),
        _ => return None,
    })
}

/// Brings a scale or zero point next to `x` (of rank `rank`): scalars and one-element 1-D
/// tensors are per-tensor; other 1-D ones are per `axis`; with `block_size` each entry covers
/// `block_size` consecutive positions along `axis`.
fn align(
    c: &mut NodeContext<'_>,
    p: OutputRef,
    x: OutputRef,
    axis: Option<usize>,
    rank: usize,
    block_size: i64,
) -> Result<OutputRef, FrontendError> {
    let prank = c.static_rank(p, "the scale / zero point")?;
    if prank == 0 {
        return Ok(p);
    }
    let one_element = c.shape(p).to_static().is_some_and(|d| d == [1]);
    if one_element && block_size <= 0 {
        // Per-tensor, given as a 1-element 1-D tensor: broadcasts, except against a scalar x.
        if rank == 0 {
            let t = c.const_vec(&[])?;
            return c.add(ops::Reshape { special_zero: false }, &[p, t]);
        }
        return Ok(p);
    }
    let axis = match axis {
        Some(a) => a,
        None => {
            let axis = c.attr_int("axis", 1)?;
            return Err(c.error(format!("axis {axis} is out of range for rank {rank}")));
        }
    };
    if block_size > 0 {
        if prank != rank {
            return Err(c.error(format!("a blocked scale must have the rank of x ({rank}), got {prank}")));
        }
        let dims = c.shape(x).dims().map(|d| d.to_vec()).unwrap_or_default();
        let len = dims
            .get(axis)
            .and_then(|d| d.get())
            .ok_or_else(|| c.error("blocked quantization needs a static dimension along the axis"))?;
        let idx: Vec<i64> = (0..len as i64).map(|i| i / block_size).collect();
        let idx = c.const_vec(&idx)?;
        let ax = c.constant(Tensor::scalar(axis as i64))?;
        return c.add(ops::Gather::default(), &[p, idx, ax]);
    }
    if prank != 1 {
        return Err(
            c.error(format!("the scale / zero point must be a scalar or 1-D without block_size, got rank {prank}"))
        );
    }
    let mut target = vec![1i64; rank];
    target[axis] = -1;
    let t = c.const_vec(&target)?;
    c.add(ops::Reshape { special_zero: false }, &[p, t])
}

/// The `axis` attribute normalised against `rank`; `None` when out of range (an error only for
/// the per-axis and blocked forms, which use it).
fn axis_of(c: &NodeContext<'_>, rank: usize) -> Result<Option<usize>, FrontendError> {
    let axis = c.attr_int("axis", 1)?;
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    Ok((0..r).contains(&a).then_some(a as usize))
}

fn convert(c: &mut NodeContext<'_>, x: OutputRef, to: ElementType) -> Result<OutputRef, FrontendError> {
    if c.element_type(x) == to {
        return Ok(x);
    }
    c.add(ops::Convert { destination_type: to }, &[x])
}

fn output_dtype(c: &NodeContext<'_>) -> Result<Option<ElementType>, FrontendError> {
    let dt = c.attr_int("output_dtype", 0)?;
    if dt == 0 {
        return Ok(None);
    }
    let dt = i32::try_from(dt).map_err(|_| c.error(format!("bad output_dtype {dt}")))?;
    crate::load::element_type(dt).map(Some).map_err(|m| c.error(m))
}

/// y = saturate(round_half_even(x / scale) + zero_point), or a (saturating) cast of
/// x / scale + zero_point for float quantized types.
fn quantize(c: &mut NodeContext<'_>) -> R {
    use ElementType as E;
    let x = c.input(0)?;
    let scale = c.input(1)?;
    let zp = c.opt_input(2);
    let to = match zp {
        Some(z) => c.element_type(z),
        None => output_dtype(c)?.unwrap_or(E::U8),
    };
    let xt = c.element_type(x);
    if !xt.is_float() {
        return Err(c.error(format!("QuantizeLinear of {xt} input is not supported")));
    }
    let rank = c.static_rank(x, "QuantizeLinear")?;
    let axis = axis_of(c, rank)?;
    let block_size = c.attr_int("block_size", 0)?;
    let scale = convert(c, scale, xt)?;
    let scale = align(c, scale, x, axis, rank, block_size)?;
    let mut y = c.add(ops::Divide::default(), &[x, scale])?;
    if let Some((lo, hi)) = int_range(to) {
        y = c.add(ops::Round { mode: RoundMode::HalfToEven }, &[y])?;
        if let Some(z) = zp {
            let z = convert(c, z, xt)?;
            let z = align(c, z, x, axis, rank, block_size)?;
            y = c.add(ops::Add::default(), &[y, z])?;
        }
        y = c.add(ops::Clamp { min: lo, max: hi }, &[y])?;
        return Ok(vec![c.add(ops::Convert { destination_type: to }, &[y])?]);
    }
    match to {
        E::F8E4M3 | E::F8E5M2 | E::F4E2M1 => {
            if let Some(z) = zp {
                let z = convert(c, z, xt)?;
                let z = align(c, z, x, axis, rank, block_size)?;
                y = c.add(ops::Add::default(), &[y, z])?;
            }
            Ok(vec![cast_to(c, y, to)?])
        }
        other => Err(c.error(format!("QuantizeLinear to {other} is not supported"))),
    }
}

/// y = (x - zero_point) * scale, in the scale's type (or `output_dtype`).
fn dequantize(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let scale = c.input(1)?;
    let zp = c.opt_input(2);
    let st = c.element_type(scale);
    let out = output_dtype(c)?.unwrap_or(st);
    if !out.is_float() {
        return Err(c.error(format!("DequantizeLinear to {out} is not supported")));
    }
    let rank = c.static_rank(x, "DequantizeLinear")?;
    let axis = axis_of(c, rank)?;
    let block_size = c.attr_int("block_size", 0)?;
    let mut y = convert(c, x, out)?;
    if let Some(z) = zp {
        let z = convert(c, z, out)?;
        let z = align(c, z, x, axis, rank, block_size)?;
        y = c.add(ops::Subtract::default(), &[y, z])?;
    }
    let scale = convert(c, scale, out)?;
    let scale = align(c, scale, x, axis, rank, block_size)?;
    Ok(vec![c.add(ops::Multiply::default(), &[y, scale])?])
}
