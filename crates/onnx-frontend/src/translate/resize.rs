//! Resize (opsets 10-19) and Upsample (7, 9) as Interpolate-11, the way OpenVINO's frontend maps
//! them: nearest / linear -> `linear_onnx` / cubic, scales or sizes, optional axes.

use ir_graph::ops::{self, CoordMode, Interpolate, InterpolateMode, NearestMode, RoundMode, ShapeCalcMode};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Resize", &[10], resize_v10);
    r.register(d, "Resize", &[11, 13, 18, 19], resize);
    r.register(d, "Upsample", &[7, 9], upsample);
}

fn interp_mode(c: &NodeContext<'_>) -> Result<InterpolateMode, FrontendError> {
    Ok(match c.attr_string("mode", "nearest")?.as_str() {
        "nearest" => InterpolateMode::Nearest,
        "linear" | "bilinear" | "trilinear" => InterpolateMode::LinearOnnx,
        "cubic" | "bicubic" => InterpolateMode::Cubic,
        other => return Err(c.error(format!("unknown mode '{other}'"))),
    })
}

/// Interpolate in scales mode with ONNX Upsample semantics (asymmetric, floor).
fn legacy(c: &mut NodeContext<'_>, x: OutputRef, scales: OutputRef) -> R {
    let op = Interpolate {
        mode: interp_mode(c)?,
        shape_calculation_mode: ShapeCalcMode::Scales,
        coordinate_transformation_mode: CoordMode::Asymmetric,
        nearest_mode: NearestMode::Floor,
        cube_coeff: -0.75,
        ..Default::default()
    };
    Ok(vec![c.add(op, &[x, scales])?])
}

fn upsample(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let scales = if c.opset() < 9 {
        let s = c.attr_floats("scales")?.ok_or_else(|| c.error("attribute 'scales' is required"))?;
        let t = Tensor::from_vec(vec![s.len()], s).map_err(|e| c.error(e.to_string()))?;
        c.constant(t)?
    } else {
        c.input(1)?
    };
    legacy(c, x, scales)
}

fn resize_v10(c: &mut NodeContext<'_>) -> R {
    let (x, scales) = (c.input(0)?, c.input(1)?);
    legacy(c, x, scales)
}

/// Input `i` unless absent or a constant with no elements.
fn given(c: &NodeContext<'_>, i: usize) -> Option<OutputRef> {
    let o = c.opt_input(i)?;
    match c.model().const_value(o) {
        Some(t) if t.numel() == 0 => None,
        _ => Some(o),
    }
}

fn resize(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let mode = interp_mode(c)?;
    let ctm = c.attr_string("coordinate_transformation_mode", "half_pixel")?;
    let coordinate_transformation_mode = match ctm.as_str() {
        "half_pixel" => CoordMode::HalfPixel,
        "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
        "align_corners" => CoordMode::AlignCorners,
        "asymmetric" => CoordMode::Asymmetric,
        "tf_half_pixel_for_nn" => CoordMode::TfHalfPixelForNn,
        other => return Err(c.error(format!("coordinate_transformation_mode '{other}' is not supported"))),
    };
    let nearest_mode = match c.attr_string("nearest_mode", "round_prefer_floor")?.as_str() {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => return Err(c.error(format!("unknown nearest_mode '{other}'"))),
    };
    if c.attr_int("exclude_outside", 0)? != 0 && mode == InterpolateMode::Cubic {
        return Err(c.error("exclude_outside = 1 is not supported (Interpolate-11 has no such attribute)"));
    }
    let antialias = c.attr_int("antialias", 0)? != 0;
    if antialias && mode == InterpolateMode::Cubic {
        return Err(c.error("antialias with cubic mode is not supported"));
    }
    let cube_coeff = c.attr_float("cubic_coeff_a", -0.75)? as f64;
    let axes = c.attr_ints("axes")?;
    let policy = c.attr_string("keep_aspect_ratio_policy", "stretch")?;
    let (target, shape_calculation_mode) = match (given(c, 3), given(c, 2)) {
        (Some(sizes), _) => (sizes, ShapeCalcMode::Sizes),
        (None, Some(scales)) => (scales, ShapeCalcMode::Scales),
        (None, None) => return Err(c.error("one of 'scales' and 'sizes' is required")),
    };
    let op = Interpolate {
        mode,
        shape_calculation_mode,
        coordinate_transformation_mode,
        nearest_mode,
        antialias,
        cube_coeff,
        ..Default::default()
    };
    let axes_in = match &axes {
        Some(a) => Some(c.const_vec(a)?),
        None => None,
    };
    let target = match (shape_calculation_mode, policy.as_str()) {
        (_, "stretch") | (ShapeCalcMode::Scales, _) => target,
        (ShapeCalcMode::Sizes, "not_larger" | "not_smaller") => {
            keep_aspect(c, x, target, axes.as_deref(), policy == "not_larger")?
        }
        (_, other) => return Err(c.error(format!("unknown keep_aspect_ratio_policy '{other}'"))),
    };
    let mut inputs = vec![x, target];
    inputs.extend(axes_in);
    Ok(vec![c.add(op, &inputs)?])
}

/// Sizes that keep the aspect ratio: one scale `min` (not_larger) or `max` (not_smaller) of
/// `sizes / input dims` over the axes, and `round(dim * scale)` per axis.
fn keep_aspect(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    sizes: OutputRef,
    axes: Option<&[i64]>,
    smaller: bool,
) -> Result<OutputRef, FrontendError> {
    let axes: Vec<i64> = match axes {
        Some(a) => a.to_vec(),
        None => (0..c.static_rank(x, "keep_aspect_ratio_policy")? as i64).collect(),
    };
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let idx = c.const_vec(&axes)?;
    let zero = c.const_i64(&[], vec![0])?;
    let dims = c.add(ops::Gather { batch_dims: 0 }, &[shape, idx, zero])?;
    let f = ElementType::F32;
    let dims = c.add(ops::Convert { destination_type: f }, &[dims])?;
    let want = c.add(ops::Convert { destination_type: f }, &[sizes])?;
    let ratio = c.add(ops::Divide::default(), &[want, dims])?;
    let ax0 = c.const_vec(&[0])?;
    let scale = if smaller {
        c.add(ops::ReduceMin { keep_dims: false }, &[ratio, ax0])?
    } else {
        c.add(ops::ReduceMax { keep_dims: false }, &[ratio, ax0])?
    };
    let out = c.add(ops::Multiply::default(), &[dims, scale])?;
    let out = c.add(ops::Round { mode: RoundMode::HalfAwayFromZero }, &[out])?;
    c.add(ops::Convert { destination_type: ElementType::I64 }, &[out])
}
