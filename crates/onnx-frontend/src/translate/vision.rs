//! GridSample -> GridSample-9 (4-D only, as in OpenVINO); NonMaxSuppression -> NonMaxSuppression-9.

use ir_graph::ops::{self, BoxEncoding, GridSampleMode, GridSamplePadding};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "GridSample", &[16, 20, 22], grid_sample);
    r.register("", "NonMaxSuppression", &[10, 11], nms);
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
    if let Some(r) = c.shape(x).rank()
        && r != 4
    {
        return Err(c.error(format!("only 4-D input is supported (GridSample-9), got rank {r}")));
    }
    let align_corners = c.attr_int("align_corners", 0)? != 0;
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
