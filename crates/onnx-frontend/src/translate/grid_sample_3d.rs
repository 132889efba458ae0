//! GridSample on 5-D input, which OpenVINO's GridSample-9 (4-D only) cannot take, decomposed as
//! the ONNX reference (`onnx/reference/ops/op_grid_sample.py`) computes it: each grid component
//! is unnormalized to a coordinate along its axis (x along W, y along H, z along D), rounded half
//! to even for `nearest`, moved back inside the borders (`border`: clamped, `reflection`:
//! reflected); the 1 (nearest) or 2 (linear) source indices per axis are made valid by the
//! padding rule (`zeros`: out-of-range reads give 0), the 1 or 8 corners are gathered from the
//! flattened volume and blended with the products of the per-axis linear weights.

use ir_graph::ops::{self, GridSampleMode, GridSamplePadding, RoundMode};
use ir_graph::{ElementType, OutputRef};

use super::NodeContext;
use super::attention::{convert, static_dim};
use crate::error::FrontendError;

type Out = Result<OutputRef, FrontendError>;

/// One source index along one axis: the index (integral, in the grid's float type), whether
/// it reads inside the volume (`None`: always), and its linear weight (`None`: 1).
struct Tap {
    index: OutputRef,
    valid: Option<OutputRef>,
    weight: Option<OutputRef>,
}

fn scalar(c: &mut NodeContext<'_>, et: ElementType, v: f64) -> Out {
    c.const_scalar(et, v)
}

fn bin(c: &mut NodeContext<'_>, op: impl Into<ops::Op>, a: OutputRef, b: OutputRef) -> Out {
    c.add(op, &[a, b])
}

/// `v` reflected between `lo` and `hi` until it lies inside, as the reference's `_gs_reflect`.
fn reflect(c: &mut NodeContext<'_>, v: OutputRef, lo: f64, hi: f64) -> Out {
    let et = c.element_type(v);
    let span = hi - lo;
    if span <= 0.0 {
        // A one-point range: everything reflects onto it.
        let zero = scalar(c, et, 0.0)?;
        let lo_t = scalar(c, et, lo)?;
        let z = bin(c, ops::Multiply::default(), v, zero)?;
        return bin(c, ops::Add::default(), z, lo_t);
    }
    let (lo_t, hi_t, span_t) = (scalar(c, et, lo)?, scalar(c, et, hi)?, scalar(c, et, span)?);
    let below = bin(c, ops::Less::default(), v, lo_t)?;
    let above = bin(c, ops::Greater::default(), v, hi_t)?;
    let under = bin(c, ops::Subtract::default(), lo_t, v)?;
    let over = bin(c, ops::Subtract::default(), v, hi_t)?;
    let dx = c.add(ops::Select::default(), &[below, under, over])?;
    let q = bin(c, ops::Divide::default(), dx, span_t)?;
    let n = c.add(ops::Floor {}, &[q])?;
    let whole = bin(c, ops::Multiply::default(), n, span_t)?;
    let r = bin(c, ops::Subtract::default(), dx, whole)?;
    let two = scalar(c, et, 2.0)?;
    let parity = bin(c, ops::FloorMod::default(), n, two)?;
    let zero = scalar(c, et, 0.0)?;
    let even = bin(c, ops::Equal::default(), parity, zero)?;
    let from_lo = bin(c, ops::Add::default(), lo_t, r)?;
    let from_hi = bin(c, ops::Subtract::default(), hi_t, r)?;
    let low_side = c.add(ops::Select::default(), &[even, from_lo, from_hi])?;
    let high_side = c.add(ops::Select::default(), &[even, from_hi, from_lo])?;
    let inside_or_high = c.add(ops::Select::default(), &[above, high_side, v])?;
    c.add(ops::Select::default(), &[below, low_side, inside_or_high])
}

/// An integral source index made readable by the padding rule (reference `_pixel_at_array`).
fn pad_index(
    c: &mut NodeContext<'_>,
    i: OutputRef,
    len: i64,
    padding: GridSamplePadding,
    align: bool,
) -> Result<Tap, FrontendError> {
    let et = c.element_type(i);
    let last = (len - 1) as f64;
    let clamp = ops::Clamp { min: 0.0, max: last };
    Ok(match padding {
        GridSamplePadding::Zeros => {
            let (zero, hi) = (scalar(c, et, 0.0)?, scalar(c, et, last)?);
            let ge = bin(c, ops::GreaterEqual::default(), i, zero)?;
            let le = bin(c, ops::LessEqual::default(), i, hi)?;
            let valid = bin(c, ops::LogicalAnd::default(), ge, le)?;
            Tap { index: c.add(clamp, &[i])?, valid: Some(valid), weight: None }
        }
        GridSamplePadding::Border => Tap { index: c.add(clamp, &[i])?, valid: None, weight: None },
        GridSamplePadding::Reflection => {
            let (lo, hi) = borders(len, align);
            let r = reflect(c, i, lo, hi)?;
            // The reference truncates toward zero; reflected values are above -1.
            let r = c.add(clamp, &[r])?;
            Tap { index: c.add(ops::Floor {}, &[r])?, valid: None, weight: None }
        }
    })
}

/// The coordinate range the padding rules keep samples in (reference `_prepare_border`).
fn borders(len: i64, align: bool) -> (f64, f64) {
    if align { (0.0, (len - 1) as f64) } else { (-0.5, len as f64 - 0.5) }
}

/// The taps of one axis for normalized coordinates `n`.
fn axis_taps(
    c: &mut NodeContext<'_>,
    n: OutputRef,
    len: i64,
    mode: GridSampleMode,
    padding: GridSamplePadding,
    align: bool,
) -> Result<Vec<Tap>, FrontendError> {
    let et = c.element_type(n);
    let (one, two) = (scalar(c, et, 1.0)?, scalar(c, et, 2.0)?);
    let shifted = bin(c, ops::Add::default(), n, one)?;
    let mut x = if align {
        let half = bin(c, ops::Divide::default(), shifted, two)?;
        let l = scalar(c, et, (len - 1) as f64)?;
        bin(c, ops::Multiply::default(), half, l)?
    } else {
        let l = scalar(c, et, len as f64)?;
        let t = bin(c, ops::Multiply::default(), shifted, l)?;
        let t = bin(c, ops::Subtract::default(), t, one)?;
        bin(c, ops::Divide::default(), t, two)?
    };
    if mode == GridSampleMode::Nearest {
        x = c.add(ops::Round { mode: RoundMode::HalfToEven }, &[x])?;
    }
    let (lo, hi) = borders(len, align);
    x = match padding {
        GridSamplePadding::Zeros => x,
        GridSamplePadding::Border => {
            let (lo_t, hi_t) = (scalar(c, et, lo)?, scalar(c, et, hi)?);
            let below = bin(c, ops::Less::default(), x, lo_t)?;
            let above = bin(c, ops::Greater::default(), x, hi_t)?;
            let out = bin(c, ops::LogicalOr::default(), below, above)?;
            let clamped = c.add(ops::Clamp { min: 0.0, max: (len - 1) as f64 }, &[x])?;
            c.add(ops::Select::default(), &[out, clamped, x])?
        }
        GridSamplePadding::Reflection => reflect(c, x, lo, hi)?,
    };
    match mode {
        GridSampleMode::Nearest => Ok(vec![pad_index(c, x, len, padding, align)?]),
        GridSampleMode::Bilinear => {
            let i0 = c.add(ops::Floor {}, &[x])?;
            let i1 = bin(c, ops::Add::default(), i0, one)?;
            let w1 = bin(c, ops::Subtract::default(), x, i0)?;
            let w0 = bin(c, ops::Subtract::default(), one, w1)?;
            let mut t0 = pad_index(c, i0, len, padding, align)?;
            let mut t1 = pad_index(c, i1, len, padding, align)?;
            t0.weight = Some(w0);
            t1.weight = Some(w1);
            Ok(vec![t0, t1])
        }
        GridSampleMode::Bicubic => Err(c.error("cubic mode on 5-D input is not supported")),
    }
}

fn and_opt(
    c: &mut NodeContext<'_>,
    a: Option<OutputRef>,
    b: Option<OutputRef>,
) -> Result<Option<OutputRef>, FrontendError> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(bin(c, ops::LogicalAnd::default(), a, b)?),
        (a, None) => a,
        (None, b) => b,
    })
}

fn mul_opt(
    c: &mut NodeContext<'_>,
    a: Option<OutputRef>,
    b: Option<OutputRef>,
) -> Result<Option<OutputRef>, FrontendError> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(bin(c, ops::Multiply::default(), a, b)?),
        (a, None) => a,
        (None, b) => b,
    })
}

/// GridSample of a 5-D `x` (`[N, C, D, H, W]`) at a `[N, Do, Ho, Wo, 3]` grid.
pub(super) fn grid_sample_3d(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    grid: OutputRef,
    mode: GridSampleMode,
    padding: GridSamplePadding,
    align: bool,
) -> Out {
    if mode == GridSampleMode::Bicubic {
        return Err(c.error("cubic mode on 5-D input is not supported"));
    }
    if c.static_rank(grid, "GridSample's grid")? != 5 {
        return Err(c.error("the grid of a 5-D input must be 5-D (N, D_out, H_out, W_out, 3)"));
    }
    let mut lens = [0i64; 3];
    for (a, l) in lens.iter_mut().enumerate() {
        *l = static_dim(c, x, 2 + a).ok_or_else(|| c.error("5-D GridSample needs static spatial input dims"))?;
    }
    if lens.contains(&0) {
        return Err(c.error("5-D GridSample needs non-empty spatial input dims"));
    }
    let xt = c.element_type(x);
    // The grid's last axis lists x (W), y (H), z (D): axis a (D, H, W) reads component 2 - a.
    let last = c.const_i64(&[], vec![4])?;
    let mut taps: Vec<Vec<Tap>> = Vec::new();
    for (a, &len) in lens.iter().enumerate() {
        let comp = c.const_i64(&[], vec![2 - a as i64])?;
        let n = c.add(ops::Gather { batch_dims: 0 }, &[grid, comp, last])?;
        taps.push(axis_taps(c, n, len, mode, padding, align)?);
    }

    let flat_shape = c.const_vec(&[0, 0, -1])?;
    let volume = c.add(ops::Reshape { special_zero: true }, &[x, flat_shape])?;
    let per_batch = c.const_vec(&[0, -1])?;
    let weight_shape = c.const_vec(&[0, 1, -1])?;
    let (h_len, w_len) = (c.const_i64(&[], vec![lens[1]])?, c.const_i64(&[], vec![lens[2]])?);
    let gather_axis = c.const_i64(&[], vec![2])?;
    let zero_x = c.const_scalar(xt, 0.0)?;
    let mut sum: Option<OutputRef> = None;
    let n_taps = taps[0].len();
    for iz in 0..n_taps {
        for iy in 0..n_taps {
            for ix in 0..n_taps {
                let (tz, ty, tx) = (&taps[0][iz], &taps[1][iy], &taps[2][ix]);
                let (z, y, xi) = (tz.index, ty.index, tx.index);
                let (vz, vy, vx) = (tz.valid, ty.valid, tx.valid);
                let (wz, wy, wx) = (tz.weight, ty.weight, tx.weight);
                let z = convert(c, z, ElementType::I64)?;
                let y = convert(c, y, ElementType::I64)?;
                let xi = convert(c, xi, ElementType::I64)?;
                let flat = bin(c, ops::Multiply::default(), z, h_len)?;
                let flat = bin(c, ops::Add::default(), flat, y)?;
                let flat = bin(c, ops::Multiply::default(), flat, w_len)?;
                let flat = bin(c, ops::Add::default(), flat, xi)?;
                let flat = c.add(ops::Reshape { special_zero: true }, &[flat, per_batch])?;
                let mut v = c.add(ops::Gather { batch_dims: 1 }, &[volume, flat, gather_axis])?;
                let valid = and_opt(c, vz, vy)?;
                if let Some(valid) = and_opt(c, valid, vx)? {
                    let valid = c.add(ops::Reshape { special_zero: true }, &[valid, weight_shape])?;
                    v = c.add(ops::Select::default(), &[valid, v, zero_x])?;
                }
                let w = mul_opt(c, wz, wy)?;
                if let Some(w) = mul_opt(c, w, wx)? {
                    let w = convert(c, w, xt)?;
                    let w = c.add(ops::Reshape { special_zero: true }, &[w, weight_shape])?;
                    v = bin(c, ops::Multiply::default(), w, v)?;
                }
                sum = Some(match sum {
                    Some(s) => bin(c, ops::Add::default(), s, v)?,
                    None => v,
                });
            }
        }
    }
    let sum = sum.ok_or_else(|| c.error("no corners to sample"))?;
    // [N, C, Do * Ho * Wo] -> [N, C, Do, Ho, Wo].
    let zero = c.const_i64(&[], vec![0])?;
    let x_shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let nc_idx = c.const_vec(&[0, 1])?;
    let nc = c.add(ops::Gather { batch_dims: 0 }, &[x_shape, nc_idx, zero])?;
    let g_shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[grid])?;
    let sp_idx = c.const_vec(&[1, 2, 3])?;
    let sp = c.add(ops::Gather { batch_dims: 0 }, &[g_shape, sp_idx, zero])?;
    let out_shape = c.add(ops::Concat { axis: 0 }, &[nc, sp])?;
    c.add(ops::Reshape { special_zero: false }, &[sum, out_shape])
}
