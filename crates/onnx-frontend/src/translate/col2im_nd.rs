//! Col2Im with other than 2 spatial axes, which OpenVINO's Col2Im-15 does not cover: the
//! columns are scatter-added (ScatterElementsUpdate-12, reduction sum) into a zero padded image
//! at flat positions computed from image_shape and block_shape (so runtime shapes work and
//! constant ones fold to a constant index tensor), then the pads are sliced away.
//!
//! Order of the ONNX reference: input `[N, C * prod(block), L]` is `[N, C, block..., cols...]`
//! with the block offsets and the L sliding positions each row-major over their axes.

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef, Tensor};

use super::NodeContext;
use super::signal::to_i64;
use crate::error::FrontendError;

type O = Result<OutputRef, FrontendError>;

/// Col2Im-18 over `d` spatial axes as a scatter-add into the padded image.
pub(super) fn col2im_nd(c: &mut NodeContext<'_>, d: usize) -> Result<Vec<OutputRef>, FrontendError> {
    let (x, size, block) = (c.input(0)?, c.input(1)?, c.input(2)?);
    if c.shape(x).rank().is_some_and(|r| r != 3) {
        return Err(c.error(format!("input must be 3-D [N, C * prod(block_shape), L], got {}", c.shape(x))));
    }
    let per_axis = |c: &NodeContext<'_>, name: &str, n: usize, default: i64| -> Result<Vec<i64>, FrontendError> {
        let v = c.attr_ints(name)?.unwrap_or_else(|| vec![default; n]);
        if v.len() != n {
            return Err(c.error(format!("'{name}' must have {n} values for {d} spatial axes, got {v:?}")));
        }
        Ok(v)
    };
    let strides = per_axis(c, "strides", d, 1)?;
    let dilations = per_axis(c, "dilations", d, 1)?;
    let pads = per_axis(c, "pads", 2 * d, 0)?;
    if strides.iter().chain(&dilations).any(|&v| v < 1) || pads.iter().any(|&p| p < 0) {
        return Err(c.error(format!(
            "strides {strides:?} and dilations {dilations:?} must be positive and pads {pads:?} non-negative"
        )));
    }
    let size = to_i64(c, size)?;
    let block = to_i64(c, block)?;

    // Per axis: padded extent p, block extent k, number of sliding positions n.
    let mut padded = Vec::with_capacity(d);
    let mut kernel = Vec::with_capacity(d);
    let mut count = Vec::with_capacity(d);
    for i in 0..d {
        let s = element(c, size, i)?;
        let k = element(c, block, i)?;
        let p = add_scalar(c, s, pads[i] + pads[d + i])?;
        // n = (p - dil * (k - 1) - 1) / stride + 1
        let span = mul_scalar(c, k, dilations[i])?;
        let rest = c.add(ops::Subtract::default(), &[p, span])?;
        let rest = add_scalar(c, rest, dilations[i] - 1)?;
        let st = c.constant(Tensor::scalar(strides[i]))?;
        let n = c.add(ops::Divide::default(), &[rest, st])?;
        let n = add_scalar(c, n, 1)?;
        padded.push(p);
        kernel.push(k);
        count.push(n);
    }
    // pitch[i]: elements between neighbours along axis i of the padded image.
    let mut pitch = vec![c.constant(Tensor::scalar(1i64))?; d];
    for i in (0..d.saturating_sub(1)).rev() {
        pitch[i] = c.add(ops::Multiply::default(), &[pitch[i + 1], padded[i + 1]])?;
    }
    let plane = match (pitch.first(), padded.first()) {
        (Some(&pt), Some(&p)) => c.add(ops::Multiply::default(), &[pt, p])?,
        _ => return Err(c.error("image_shape must have at least one spatial axis")),
    };

    // Positions of [block..., cols...] in one padded channel, summed over a rank-2d grid.
    let mut grid: Option<OutputRef> = None;
    for i in 0..d {
        for (axis, extent, step) in [(i, kernel[i], dilations[i]), (d + i, count[i], strides[i])] {
            let scale = mul_scalar(c, pitch[i], step)?;
            let r = range(c, extent)?;
            let r = c.add(ops::Multiply::default(), &[r, scale])?;
            let others: Vec<i64> = (0..2 * d).filter(|&a| a != axis).map(|a| a as i64).collect();
            let axes = c.const_vec(&others)?;
            let r = c.add(ops::Unsqueeze {}, &[r, axes])?;
            grid = Some(match grid {
                None => r,
                Some(g) => c.add(ops::Add::default(), &[g, r])?,
            });
        }
    }
    let grid = grid.ok_or_else(|| c.error("image_shape must have at least one spatial axis"))?;
    let flat = c.const_vec(&[1, -1])?;
    let within = c.add(ops::Reshape { special_zero: false }, &[grid, flat])?;

    // Channel c starts at c * plane; C = x.shape[1] / prod(block).
    let xshape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let cb = element(c, xshape, 1)?;
    // A Multiply chain rather than ReduceProd: with ReduceProd of block_shape, OpenVINO's CPU
    // plugin computes 0 channels here (an empty image) unless the product is a model output.
    let mut bl = kernel[0];
    for &k in &kernel[1..] {
        bl = c.add(ops::Multiply::default(), &[bl, k])?;
    }
    let channels = c.add(ops::Divide::default(), &[cb, bl])?;
    let chan = range(c, channels)?;
    let chan = c.add(ops::Multiply::default(), &[chan, plane])?;
    let one = c.const_vec(&[1])?;
    let chan = c.add(ops::Unsqueeze {}, &[chan, one])?;
    let idx = c.add(ops::Add::default(), &[chan, within])?;
    let idx = c.add(ops::Reshape { special_zero: false }, &[idx, flat])?;

    // Updates [N, C * prod(block) * L]; a mismatch with the computed positions fails in Broadcast.
    let rows = c.const_vec(&[0, -1])?;
    let updates = c.add(ops::Reshape { special_zero: true }, &[x, rows])?;
    let ushape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[updates])?;
    let idx = c.add(ops::Broadcast::default(), &[idx, ushape])?;
    let batch = slice1(c, xshape, 0, 1)?;
    let total = c.add(ops::Multiply::default(), &[channels, plane])?;
    let total = to_vec(c, total)?;
    let zshape = c.add(ops::Concat { axis: 0 }, &[batch, total])?;
    let zero = c.const_scalar(c.element_type(x), 0.0)?;
    let image = c.add(ops::Broadcast::default(), &[zero, zshape])?;
    let axis1 = c.constant(Tensor::scalar(1i64))?;
    let scatter = ops::ScatterElementsUpdate { reduction: ops::ScatterReduction::Sum, use_init_val: true };
    let image = c.add(scatter, &[image, idx, updates, axis1])?;

    // [N, C, padded...], then the pads sliced away.
    let mut dims = vec![batch, to_vec(c, channels)?];
    for &p in &padded {
        dims.push(to_vec(c, p)?);
    }
    let full = c.add(ops::Concat { axis: 0 }, &dims)?;
    let image = c.add(ops::Reshape { special_zero: false }, &[image, full])?;
    if pads.iter().all(|&p| p == 0) {
        return Ok(vec![image]);
    }
    let begin = c.const_vec(&pads[..d])?;
    let end = c.add(ops::Add::default(), &[size, begin])?;
    let step = c.const_vec(&vec![1; d])?;
    let axes: Vec<i64> = (2..2 + d as i64).collect();
    let axes = c.const_vec(&axes)?;
    Ok(vec![c.add(ops::Slice {}, &[image, begin, end, step, axes])?])
}

/// Scalar `v[i]` of a 1-D i64 tensor.
fn element(c: &mut NodeContext<'_>, v: OutputRef, i: usize) -> O {
    let idx = c.constant(Tensor::scalar(i as i64))?;
    let axis = c.constant(Tensor::scalar(0i64))?;
    c.add(ops::Gather { batch_dims: 0 }, &[v, idx, axis])
}

fn add_scalar(c: &mut NodeContext<'_>, o: OutputRef, v: i64) -> O {
    if v == 0 {
        return Ok(o);
    }
    let k = c.constant(Tensor::scalar(v))?;
    c.add(ops::Add::default(), &[o, k])
}

fn mul_scalar(c: &mut NodeContext<'_>, o: OutputRef, v: i64) -> O {
    if v == 1 {
        return Ok(o);
    }
    let k = c.constant(Tensor::scalar(v))?;
    c.add(ops::Multiply::default(), &[o, k])
}

/// `0, 1, ..., n - 1` for an i64 scalar `n`.
fn range(c: &mut NodeContext<'_>, n: OutputRef) -> O {
    let zero = c.constant(Tensor::scalar(0i64))?;
    let one = c.constant(Tensor::scalar(1i64))?;
    c.add(ops::Range { output_type: ElementType::I64 }, &[zero, n, one])
}

/// An i64 scalar as a 1-element vector.
fn to_vec(c: &mut NodeContext<'_>, o: OutputRef) -> O {
    let shape = c.const_vec(&[1])?;
    c.add(ops::Reshape { special_zero: false }, &[o, shape])
}

/// `v[begin..end]` of a 1-D tensor.
fn slice1(c: &mut NodeContext<'_>, v: OutputRef, begin: i64, end: i64) -> O {
    let (b, e, s, a) = (c.const_vec(&[begin])?, c.const_vec(&[end])?, c.const_vec(&[1])?, c.const_vec(&[0])?);
    c.add(ops::Slice {}, &[v, b, e, s, a])
}
