//! GridSample -> GridSample-9 (4-D, as in OpenVINO; 5-D is decomposed in `grid_sample_3d`); NonMaxSuppression -> NonMaxSuppression-9;
//! RoiAlign -> ROIAlign-9; DeformConv -> DeformableConvolution-8 (+ Add for the bias);
//! AffineGrid -> MatMul of a Range-built base grid with theta; MaxUnpool ->
//! ScatterElementsUpdate into zeros; CenterCropPad -> Slice + Pad.

use ir_graph::ops::{self, BoxEncoding, GridSampleMode, GridSamplePadding};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "GridSample", &[16, 20, 22], grid_sample);
    r.register("", "NonMaxSuppression", &[10, 11], nms);
    r.register("", "RoiAlign", &[10, 16, 22], roi_align);
    r.register("", "DeformConv", &[19, 22], deform_conv);
    r.register("", "AffineGrid", &[20], affine_grid);
    r.register("", "MaxUnpool", &[9, 11, 22], max_unpool);
    r.register("", "CenterCropPad", &[18], center_crop_pad);
}

fn grid_sample(c: &mut NodeContext<'_>) -> R {
    let (x, grid) = (c.input(0)?, c.input(1)?);
    let default = if c.opset() >= 20 { "linear" } else { "bilinear" };
    let mode = match c.attr_string("mode", default)?.as_str() {
        "bilinear" | "linear" => GridSampleMode::Bilinear,
        "bicubic" | "cubic" => GridSampleMode::Bicubic,
        "nearest" => GridSampleMode::Nearest,
        other => return Err(c.error(format!("unknown mode '{other}'"))),
    };
    let padding_mode = match c.attr_string("padding_mode", "zeros")?.as_str() {
        "zeros" => GridSamplePadding::Zeros,
        "border" => GridSamplePadding::Border,
        "reflection" => GridSamplePadding::Reflection,
        other => return Err(c.error(format!("unknown padding_mode '{other}'"))),
    };
    let align_corners = c.attr_int("align_corners", 0)? != 0;
    match c.shape(x).rank() {
        Some(5) => {
            return Ok(vec![super::grid_sample_3d::grid_sample_3d(c, x, grid, mode, padding_mode, align_corners)?]);
        }
        Some(r) if r != 4 => {
            return Err(c.error(format!("only 4-D (GridSample-9) and 5-D inputs are supported, got rank {r}")));
        }
        _ => {}
    }
    Ok(vec![c.add(ops::GridSample { align_corners, mode, padding_mode }, &[x, grid])?])
}

/// NonMaxSuppression-10/11: the one-element threshold inputs are squeezed to scalars; absent
/// ones become max_output_boxes 0, iou_threshold 0 and no score threshold.
fn nms(c: &mut NodeContext<'_>) -> R {
    let (boxes, scores) = (c.input(0)?, c.input(1)?);
    let box_encoding = if c.attr_int("center_point_box", 0)? != 0 { BoxEncoding::Center } else { BoxEncoding::Corner };
    let mut inputs = vec![boxes, scores];
    let fet = c.element_type(scores);
    for i in 2..5 {
        let v = match c.opt_input(i) {
            Some(v) if c.shape(v).rank() == Some(0) => v,
            Some(v) => c.add(ops::Squeeze {}, &[v])?,
            None => match i {
                2 => c.const_i64(&[], vec![0])?,
                3 => c.const_scalar(fet, 0.0)?,
                _ => c.const_scalar(fet, f64::from(f32::MIN))?,
            },
        };
        inputs.push(v);
    }
    let op = ops::NonMaxSuppression { box_encoding, sort_result_descending: false, output_type: ElementType::I64 };
    Ok(vec![c.add(op, &inputs)?])
}

/// RoiAlign-10/16/22 -> ROIAlign-9. Opset 10 has no coordinate_transformation_mode and behaves
/// as `output_half_pixel` (OpenVINO's `asymmetric`); from 16 the default is `half_pixel`
/// (OpenVINO's `half_pixel_for_nn`).
fn roi_align(c: &mut NodeContext<'_>) -> R {
    let (x, rois, idx) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let default = if c.opset() >= 16 { "half_pixel" } else { "output_half_pixel" };
    let aligned_mode = match c.attr_string("coordinate_transformation_mode", default)?.as_str() {
        // OpenVINO's half_pixel_for_nn is `x * scale - 0.5`, ONNX's half_pixel (its own
        // half_pixel adds 0.5 before scaling), as OpenVINO's ONNX frontend maps it.
        "half_pixel" => ops::RoiAlignedMode::HalfPixelForNn,
        "output_half_pixel" => ops::RoiAlignedMode::Asymmetric,
        other => return Err(c.error(format!("unknown coordinate_transformation_mode '{other}'"))),
    };
    let mode = match c.attr_string("mode", "avg")?.as_str() {
        "avg" => ops::RoiAlignMode::Avg,
        "max" => ops::RoiAlignMode::Max,
        other => return Err(c.error(format!("unknown mode '{other}'"))),
    };
    let positive = |c: &NodeContext<'_>, name: &str| -> Result<u64, FrontendError> {
        let v = c.attr_int(name, 1)?;
        u64::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| c.error(format!("'{name}' must be positive, got {v}")))
    };
    let pooled_h = positive(c, "output_height")?;
    let pooled_w = positive(c, "output_width")?;
    let sr = c.attr_int("sampling_ratio", 0)?;
    let sampling_ratio = u64::try_from(sr).map_err(|_| c.error(format!("sampling_ratio {sr} is negative")))?;
    let spatial_scale = f64::from(c.attr_float("spatial_scale", 1.0)?);
    let op = ops::RoiAlign { pooled_h, pooled_w, sampling_ratio, spatial_scale, mode, aligned_mode };
    Ok(vec![c.add(op, &[x, rois, idx])?])
}

/// DeformConv-19/22 -> DeformableConvolution-8 with bilinear_interpolation_pad (ONNX samples
/// with zero padding, as GridSample with align_corners), the mask as its fourth input and the
/// bias added after.
fn deform_conv(c: &mut NodeContext<'_>) -> R {
    let (x, w, offset) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let rank = c.static_rank(x, "DeformConv")?;
    if rank != 4 {
        return Err(c.error(format!("only 2-D DeformConv is supported (DeformableConvolution-8), got rank {rank}")));
    }
    let two = |c: &NodeContext<'_>, name: &str, n: usize, default: i64| -> Result<Vec<i64>, FrontendError> {
        let v = c.attr_ints(name)?.unwrap_or_else(|| vec![default; n]);
        if v.len() != n {
            return Err(c.error(format!("'{name}' must have {n} values, got {v:?}")));
        }
        Ok(v)
    };
    let strides = two(c, "strides", 2, 1)?;
    let dilations = two(c, "dilations", 2, 1)?;
    let pads = two(c, "pads", 4, 0)?;
    let group = c.attr_int("group", 1)?;
    let offset_group = c.attr_int("offset_group", 1)?;
    if group < 1 || offset_group < 1 {
        return Err(c.error("group and offset_group must be positive"));
    }
    let op = ops::DeformableConvolution {
        bilinear_interpolation_pad: true,
        strides,
        dilations,
        pads_begin: pads[..2].to_vec(),
        pads_end: pads[2..].to_vec(),
        auto_pad: ops::PadType::Explicit,
        group: group as u64,
        deformable_group: offset_group as u64,
    };
    let mut inputs = vec![x, offset, w];
    if let Some(m) = c.opt_input(4) {
        inputs.push(m);
    }
    let mut y = c.add(op, &inputs)?;
    if let Some(b) = c.opt_input(3) {
        let shape = c.const_vec(&[1, -1, 1, 1])?;
        let b = c.add(ops::Reshape { special_zero: false }, &[b, shape])?;
        y = c.add(ops::Add::default(), &[y, b])?;
    }
    Ok(vec![y])
}

/// AffineGrid-20: the base grid `[prod(spatial), k + 1]` of normalized coordinates (x fastest,
/// then y, then z, then 1) times theta transposed, reshaped to `[N, spatial..., k]`.
fn affine_grid(c: &mut NodeContext<'_>) -> R {
    let (theta, size) = (c.input(0)?, c.input(1)?);
    let align = c.attr_int("align_corners", 0)? != 0;
    let k = match c.shape(theta).dims().and_then(|d| d.get(1).and_then(|v| v.get())) {
        Some(k @ (2 | 3)) => k as usize,
        _ => match c.shape(size).dims().and_then(|d| d.first().and_then(|v| v.get())) {
            Some(4) => 2,
            Some(5) => 3,
            _ => return Err(c.error("needs theta [N, 2, 3] or [N, 3, 4], or a size of known length")),
        },
    };
    let et = c.element_type(theta);
    let size = super::signal::to_i64(c, size)?;
    let spatial_idx: Vec<i64> = (2..2 + k as i64).collect();
    let spatial_idx = c.const_vec(&spatial_idx)?;
    let axis0 = c.const_i64(&[], vec![0])?;
    let spatial = c.add(ops::Gather { batch_dims: 0 }, &[size, spatial_idx, axis0])?;
    // Per spatial axis (in size order: D, H, W), the normalized coordinates.
    let mut coords = Vec::with_capacity(k);
    for i in 0..k {
        let at = c.const_i64(&[], vec![2 + i as i64])?;
        let len = c.add(ops::Gather { batch_dims: 0 }, &[size, at, axis0])?;
        let len = c.add(ops::Convert { destination_type: et }, &[len])?;
        let (zero, one, two) = (c.const_scalar(et, 0.0)?, c.const_scalar(et, 1.0)?, c.const_scalar(et, 2.0)?);
        let n = c.add(ops::Range { output_type: et }, &[zero, len, one])?;
        let v = if align {
            // -1 + 2 i / (L - 1)
            let l1 = c.add(ops::Subtract::default(), &[len, one])?;
            let t = c.add(ops::Multiply::default(), &[n, two])?;
            let t = c.add(ops::Divide::default(), &[t, l1])?;
            c.add(ops::Subtract::default(), &[t, one])?
        } else {
            // (2 i + 1) / L - 1
            let t = c.add(ops::Multiply::default(), &[n, two])?;
            let t = c.add(ops::Add::default(), &[t, one])?;
            let t = c.add(ops::Divide::default(), &[t, len])?;
            c.add(ops::Subtract::default(), &[t, one])?
        };
        // Shape it to broadcast along its own axis: [L, 1, ...].
        let trailing = (k - 1 - i) as i64;
        let v = if trailing > 0 {
            let axes: Vec<i64> = (1..=trailing).collect();
            let axes = c.const_vec(&axes)?;
            c.add(ops::Unsqueeze {}, &[v, axes])?
        } else {
            v
        };
        let v = c.add(ops::Broadcast { mode: ops::BroadcastMode::Numpy }, &[v, spatial])?;
        coords.push(v);
    }
    // Last-axis order of the grid: x (W), y (H), z (D), then 1.
    let one = c.const_scalar(et, 1.0)?;
    let ones = c.add(ops::Broadcast { mode: ops::BroadcastMode::Numpy }, &[one, spatial])?;
    let last = c.const_vec(&[-1])?;
    let mut parts = Vec::with_capacity(k + 1);
    for v in coords.into_iter().rev().chain([ones]) {
        parts.push(c.add(ops::Unsqueeze {}, &[v, last])?);
    }
    let base = c.add(ops::Concat { axis: -1 }, &parts)?;
    let flat = c.const_vec(&[-1, k as i64 + 1])?;
    let base = c.add(ops::Reshape { special_zero: false }, &[base, flat])?;
    let grid = c.add(ops::MatMul { transpose_a: false, transpose_b: true }, &[base, theta])?;
    let n_idx = c.const_vec(&[0])?;
    let n = c.add(ops::Gather { batch_dims: 0 }, &[size, n_idx, axis0])?;
    let kk = c.const_vec(&[k as i64])?;
    let shape = c.add(ops::Concat { axis: 0 }, &[n, spatial, kk])?;
    Ok(vec![c.add(ops::Reshape { special_zero: false }, &[grid, shape])?])
}

/// MaxUnpool: the values scattered at their flat indices into zeros of the inferred shape
/// `(in - 1) * stride - pads + kernel`, then zero-padded at the end to output_shape if given.
fn max_unpool(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let kernel = c.attr_ints("kernel_shape")?.ok_or_else(|| c.error("attribute 'kernel_shape' is required"))?;
    let k = kernel.len();
    let rank = c.static_rank(x, "MaxUnpool")?;
    if rank != k + 2 {
        return Err(c.error(format!("input rank {rank} does not fit a {k}-D kernel")));
    }
    let strides = c.attr_ints("strides")?.unwrap_or_else(|| vec![1; k]);
    let pads = c.attr_ints("pads")?.unwrap_or_else(|| vec![0; 2 * k]);
    if strides.len() != k || pads.len() != 2 * k {
        return Err(c.error("strides and pads must match the kernel's rank"));
    }
    let mut mul = vec![1i64, 1];
    let mut add = vec![0i64, 0];
    for i in 0..k {
        mul.push(strides[i]);
        add.push(kernel[i] - strides[i] - pads[i] - pads[k + i]);
    }
    let xs = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let mul = c.const_vec(&mul)?;
    let add = c.const_vec(&add)?;
    let inferred = c.add(ops::Multiply::default(), &[xs, mul])?;
    let inferred = c.add(ops::Add::default(), &[inferred, add])?;
    let axes0 = c.const_vec(&[0])?;
    let total = c.add(ops::ReduceProd { keep_dims: true }, &[inferred, axes0])?;
    let zero = c.const_scalar(c.element_type(x), 0.0)?;
    let zeros = c.add(ops::Broadcast { mode: ops::BroadcastMode::Numpy }, &[zero, total])?;
    let flat = c.const_vec(&[-1])?;
    let fi = c.add(ops::Reshape { special_zero: false }, &[idx, flat])?;
    let fi = super::signal::to_i64(c, fi)?;
    let fx = c.add(ops::Reshape { special_zero: false }, &[x, flat])?;
    let axis = c.const_i64(&[], vec![0])?;
    let scatter = ops::ScatterElementsUpdate { reduction: ops::ScatterReduction::None, use_init_val: true };
    let y = c.add(scatter, &[zeros, fi, fx, axis])?;
    let mut y = c.add(ops::Reshape { special_zero: false }, &[y, inferred])?;
    if let Some(out) = c.opt_input(2) {
        let out = super::signal::to_i64(c, out)?;
        let extra = c.add(ops::Subtract::default(), &[out, inferred])?;
        let begin = c.const_vec(&vec![0; rank])?;
        let zero = c.const_scalar(c.element_type(x), 0.0)?;
        y = c.add(ops::Pad { pad_mode: ops::PadMode::Constant }, &[y, begin, extra, zero])?;
    }
    Ok(vec![y])
}

/// CenterCropPad-18: along each axis, crop `(dim - target) / 2` from the start (floor) and
/// keep `min(dim, target)`, then pad `(target - dim) / 2` before and the rest after.
fn center_crop_pad(c: &mut NodeContext<'_>) -> R {
    let (x, shape) = (c.input(0)?, c.input(1)?);
    let rank = c.static_rank(x, "CenterCropPad")?;
    let axes: Vec<i64> = match c.attr_ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&v| {
                let n = if v < 0 { v + rank as i64 } else { v };
                if (0..rank as i64).contains(&n) { Ok(n) } else { Err(c.error(format!("axis {v} is out of range"))) }
            })
            .collect::<Result<_, _>>()?,
        None => (0..rank as i64).collect(),
    };
    let target = super::signal::to_i64(c, shape)?;
    let xs = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let axes_c = c.const_vec(&axes)?;
    let axis0 = c.const_i64(&[], vec![0])?;
    let dims = c.add(ops::Gather { batch_dims: 0 }, &[xs, axes_c, axis0])?;
    let diff = c.add(ops::Subtract::default(), &[dims, target])?;
    let zero = c.const_vec(&[0])?;
    let two = c.const_vec(&[2])?;
    let crop = c.add(ops::Maximum::default(), &[diff, zero])?;
    let start = c.add(ops::Divide { m_pythondiv: true, ..Default::default() }, &[crop, two])?;
    let keep = c.add(ops::Minimum::default(), &[dims, target])?;
    let stop = c.add(ops::Add::default(), &[start, keep])?;
    let steps = c.const_vec(&vec![1; axes.len()])?;
    let cropped = c.add(ops::Slice {}, &[x, start, stop, steps, axes_c])?;
    let neg = c.add(ops::Negative {}, &[diff])?;
    let pad = c.add(ops::Maximum::default(), &[neg, zero])?;
    let before = c.add(ops::Divide { m_pythondiv: true, ..Default::default() }, &[pad, two])?;
    let after = c.add(ops::Subtract::default(), &[pad, before])?;
    let zeros = c.const_vec(&vec![0; rank])?;
    let scatter = ops::ScatterElementsUpdate { reduction: ops::ScatterReduction::None, use_init_val: true };
    let pb = c.add(scatter.clone(), &[zeros, axes_c, before, axis0])?;
    let pe = c.add(scatter, &[zeros, axes_c, after, axis0])?;
    let fill = c.const_scalar(c.element_type(x), 0.0)?;
    Ok(vec![c.add(ops::Pad { pad_mode: ops::PadMode::Constant }, &[cropped, pb, pe, fill])?])
}
