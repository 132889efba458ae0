//! Slicing and data movement: Slice, Split, Pad, Tile, DepthToSpace, SpaceToDepth, ReverseSequence.

use ir_graph::ops::{self, BlockMode, PadMode};
use ir_graph::{OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Slice", &[1], slice_attrs);
    r.register(d, "Slice", &[10, 11, 13], slice_inputs);
    r.register(d, "Split", &[1, 2, 11, 13, 18], split);
    r.register(d, "Pad", &[1, 2, 11, 13, 18, 19, 21, 23], pad);
    r.register(d, "Tile", &[6, 13], tile);
    r.register(d, "DepthToSpace", &[1, 11, 13], |c| block_op(c, true));
    r.register(d, "SpaceToDepth", &[1, 13], |c| block_op(c, false));
    r.register(d, "ReverseSequence", &[10], reverse_sequence);
}

fn slice_attrs(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let starts = c.attr_ints("starts")?.ok_or_else(|| c.error("attribute 'starts' is required"))?;
    let ends = c.attr_ints("ends")?.ok_or_else(|| c.error("attribute 'ends' is required"))?;
    let axes = c.attr_ints("axes")?;
    let steps = vec![1i64; starts.len()];
    let (s, e, st) = (c.const_vec(&starts)?, c.const_vec(&ends)?, c.const_vec(&steps)?);
    let y = match axes {
        Some(a) => {
            let a = c.const_vec(&a)?;
            c.add(ops::Slice {}, &[x, s, e, st, a])?
        }
        None => c.add(ops::Slice {}, &[x, s, e, st])?,
    };
    Ok(vec![y])
}

fn slice_inputs(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (s, e) = (c.input(1)?, c.input(2)?);
    let steps = match c.opt_input(4) {
        Some(st) => st,
        None => {
            let n = match c.shape(s).to_static().as_deref() {
                Some([n]) => *n,
                _ => return Err(c.error("without 'steps', 'starts' must be a 1-D tensor of static length")),
            };
            let et = c.element_type(s);
            let ones = Tensor::from_vec(vec![n], vec![1i64; n]).map_err(|e| c.error(e.to_string()))?;
            let ones = c.constant(ones)?;
            if et == ir_graph::ElementType::I32 { c.add(ops::Convert { destination_type: et }, &[ones])? } else { ones }
        }
    };
    let y = match c.opt_input(3) {
        Some(a) => c.add(ops::Slice {}, &[x, s, e, steps, a])?,
        None => c.add(ops::Slice {}, &[x, s, e, steps])?,
    };
    Ok(vec![y])
}

fn split(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let n = c.output_count();
    if n == 0 {
        return Err(c.error("has no outputs"));
    }
    let axis = c.attr_int("axis", 0)?;
    let axis_c = c.const_i64(&[], vec![axis])?;
    // Split lengths: the `split` attribute before opset 13, input 1 from 13 on (and in opset 1).
    let lengths: Option<OutputRef> = if c.opset() >= 13 || (c.opset() < 2 && c.opt_input(1).is_some()) {
        c.opt_input(1)
    } else {
        match c.attr_ints("split")? {
            Some(v) if !v.is_empty() => Some(c.const_vec(&v)?),
            _ => None,
        }
    };
    let id = match lengths {
        Some(l) => c.add_node(ops::VariadicSplit {}, &[x, axis_c, l])?,
        None => {
            let parts = if c.opset() >= 18 { c.attr_int("num_outputs", n as i64)? } else { n as i64 };
            let parts = u64::try_from(parts).ok().filter(|&p| p > 0).ok_or_else(|| c.error("bad num_outputs"))?;
            // Opset 18 allows an uneven last chunk: use explicit lengths then.
            let dim = c.shape(x).dims().and_then(|d| {
                let r = d.len() as i64;
                let a = if axis < 0 { axis + r } else { axis };
                usize::try_from(a).ok().and_then(|a| d.get(a)).and_then(|d| d.get())
            });
            match dim {
                Some(d) if d % parts != 0 => {
                    let chunk = d.div_ceil(parts);
                    let lens: Vec<i64> = (0..parts).map(|i| chunk.min(d.saturating_sub(i * chunk)) as i64).collect();
                    let l = c.const_vec(&lens)?;
                    c.add_node(ops::VariadicSplit {}, &[x, axis_c, l])?
                }
                _ => c.add_node(ops::Split { num_splits: parts }, &[x, axis_c])?,
            }
        }
    };
    let produced = c.model().node(id).map(|n| n.outputs.len()).unwrap_or(0);
    Ok((0..produced.min(n) as u32).map(|k| OutputRef::new(id, k)).collect())
}

fn pad_mode(c: &NodeContext<'_>) -> Result<PadMode, FrontendError> {
    Ok(match c.attr_string("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => return Err(c.error(format!("pad mode '{other}' is not supported"))),
    })
}

fn pad(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let wrap = c.attr_string("mode", "constant")? == "wrap";
    let pad_mode = if wrap { PadMode::Constant } else { pad_mode(c)? };
    let (begin, end, value) = if c.opset() < 11 {
        let pads = match c.attr_ints("pads")? {
            Some(p) => p,
            None => c.attr_ints("paddings")?.ok_or_else(|| c.error("attribute 'pads' is required"))?,
        };
        if pads.len() % 2 != 0 {
            return Err(c.error(format!("'pads' has an odd number of values ({})", pads.len())));
        }
        let h = pads.len() / 2;
        let value = c.attr_float("value", 0.0)?;
        let et = c.element_type(x);
        let v =
            if value != 0.0 && pad_mode == PadMode::Constant { Some(c.const_scalar(et, value as f64)?) } else { None };
        (c.const_vec(&pads[..h])?, c.const_vec(&pads[h..])?, v)
    } else {
        let pads = c.input(1)?;
        let value = match (c.opt_input(2), c.const_input(2)) {
            (None, _) => None,
            (Some(_), Some(t)) if t.numel() == 1 => {
                let s = t.reshaped(vec![]).map_err(|e| c.error(e.to_string()))?;
                Some(c.constant(s)?)
            }
            (Some(v), _) => match c.shape(v).to_static() {
                // OpenVINO's Pad wants a scalar pad value; ONNX allows a one-element tensor.
                Some(s) if !s.is_empty() && s.iter().product::<usize>() == 1 => {
                    let scalar = c.const_vec(&[])?;
                    Some(c.add(ops::Reshape { special_zero: false }, &[v, scalar])?)
                }
                _ => Some(v),
            },
        };
        let axes = c.opt_input(3);
        let (begin, end) = match (c.const_input(1), axes) {
            (Some(t), None) => {
                let p = t.to_i64_vec().map_err(|e| c.error(e.to_string()))?;
                if p.len() % 2 != 0 {
                    return Err(c.error(format!("'pads' has an odd number of values ({})", p.len())));
                }
                let h = p.len() / 2;
                (c.const_vec(&p[..h])?, c.const_vec(&p[h..])?)
            }
            (Some(_), Some(axes)) if c.const_input(3).is_none() => {
                let rank = c.static_rank(x, "Pad with axes")?;
                runtime_pads_on_runtime_axes(c, pads, axes, rank)?
            }
            (Some(t), Some(_)) => {
                let Some(axes) = c.const_input(3) else {
                    return Err(c.error("non-constant 'axes' are not supported"));
                };
                let rank = c.static_rank(x, "Pad with axes")?;
                let p = t.to_i64_vec().map_err(|e| c.error(e.to_string()))?;
                let axes = axes.to_i64_vec().map_err(|e| c.error(e.to_string()))?;
                if p.len() != 2 * axes.len() {
                    return Err(c.error(format!("{} pads for {} axes", p.len(), axes.len())));
                }
                let (mut b, mut e) = (vec![0i64; rank], vec![0i64; rank]);
                for (i, &a) in axes.iter().enumerate() {
                    let a = if a < 0 { a + rank as i64 } else { a };
                    let a =
                        usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| c.error("axis out of range"))?;
                    b[a] = p[i];
                    e[a] = p[axes.len() + i];
                }
                (c.const_vec(&b)?, c.const_vec(&e)?)
            }
            (None, None) => {
                let zero = c.const_i64(&[], vec![0])?;
                let id = c.add_node(ops::Split { num_splits: 2 }, &[pads, zero])?;
                (OutputRef::new(id, 0), OutputRef::new(id, 1))
            }
            (None, Some(axes)) => {
                let rank = c.static_rank(x, "Pad with axes")?;
                match c.const_input(3) {
                    Some(a) => {
                        let a = a.to_i64_vec().map_err(|e| c.error(e.to_string()))?;
                        runtime_pads_on_axes(c, pads, &a, rank)?
                    }
                    None => runtime_pads_on_runtime_axes(c, pads, axes, rank)?,
                }
            }
        };
        (begin, end, value)
    };
    if wrap {
        return Ok(vec![wrap_pad(c, x, begin, end)?]);
    }
    let y = match value {
        Some(v) if pad_mode == PadMode::Constant => c.add(ops::Pad { pad_mode }, &[x, begin, end, v])?,
        _ => c.add(ops::Pad { pad_mode }, &[x, begin, end])?,
    };
    Ok(vec![y])
}

/// Full-rank begin and end pads from runtime `pads` (`[b_0..b_n, e_0..e_n]` for the constant
/// `axes`): a Gather over `pads` with a zero appended, by an index map that sends every axis not
/// listed to that zero.
fn runtime_pads_on_axes(
    c: &mut NodeContext<'_>,
    pads: OutputRef,
    axes: &[i64],
    rank: usize,
) -> Result<(OutputRef, OutputRef), FrontendError> {
    let n = axes.len();
    let zero_at = 2 * n as i64;
    let (mut b, mut e) = (vec![zero_at; rank], vec![zero_at; rank]);
    for (i, &a) in axes.iter().enumerate() {
        let a = if a < 0 { a + rank as i64 } else { a };
        let a = usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| c.error("axis out of range"))?;
        b[a] = i as i64;
        e[a] = (n + i) as i64;
    }
    let pads = if c.element_type(pads) == ir_graph::ElementType::I64 {
        pads
    } else {
        c.add(ops::Convert { destination_type: ir_graph::ElementType::I64 }, &[pads])?
    };
    let zero = c.const_vec(&[0])?;
    let padded = c.add(ops::Concat { axis: 0 }, &[pads, zero])?;
    let axis = c.const_i64(&[], vec![0])?;
    let (bi, ei) = (c.const_vec(&b)?, c.const_vec(&e)?);
    let begin = c.add(ops::Gather { batch_dims: 0 }, &[padded, bi, axis])?;
    let end = c.add(ops::Gather { batch_dims: 0 }, &[padded, ei, axis])?;
    Ok((begin, end))
}

/// Full-rank begin and end pads from runtime `pads` and runtime `axes`: each half of `pads`
/// scattered into zeros at the axes (negative ones wrapped by `FloorMod` with the rank).
fn runtime_pads_on_runtime_axes(
    c: &mut NodeContext<'_>,
    pads: OutputRef,
    axes: OutputRef,
    rank: usize,
) -> Result<(OutputRef, OutputRef), FrontendError> {
    let i64_of = |c: &mut NodeContext<'_>, v: OutputRef| -> Result<OutputRef, FrontendError> {
        if c.element_type(v) == ir_graph::ElementType::I64 {
            Ok(v)
        } else {
            c.add(ops::Convert { destination_type: ir_graph::ElementType::I64 }, &[v])
        }
    };
    let (pads, axes) = (i64_of(c, pads)?, i64_of(c, axes)?);
    let r = c.const_i64(&[], vec![rank as i64])?;
    let axes = c.add(ops::FloorMod::default(), &[axes, r])?;
    let zero = c.const_i64(&[], vec![0])?;
    let halves = c.add_node(ops::Split { num_splits: 2 }, &[pads, zero])?;
    let zeros = c.const_vec(&vec![0; rank])?;
    let mut out = [zeros; 2];
    for (k, o) in out.iter_mut().enumerate() {
        let half = OutputRef::new(halves, k as u32);
        *o = c.add(ops::ScatterElementsUpdate::default(), &[zeros, axes, half, zero])?;
    }
    Ok((out[0], out[1]))
}

/// Pad mode 'wrap' (OpenVINO's Pad has no such mode): along each axis, a Gather of the
/// indices `(i - begin) mod len` for `i` in `[0, len + begin + end)`, which also covers pads
/// longer than the axis and negative (cropping) pads.
fn wrap_pad(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    begin: OutputRef,
    end: OutputRef,
) -> Result<OutputRef, FrontendError> {
    let i64t = ir_graph::ElementType::I64;
    let rank = c.static_rank(x, "pad mode 'wrap'")?;
    let as_i64 = |c: &mut NodeContext<'_>, v: OutputRef| {
        if c.element_type(v) == i64t { Ok(v) } else { c.add(ops::Convert { destination_type: i64t }, &[v]) }
    };
    let (begin, end) = (as_i64(c, begin)?, as_i64(c, end)?);
    let zero = c.const_i64(&[], vec![0])?;
    let one = c.const_i64(&[], vec![1])?;
    let mut y = x;
    for a in 0..rank {
        let axis = c.const_i64(&[], vec![a as i64])?;
        let shape = c.add(ops::ShapeOf { output_type: i64t }, &[y])?;
        let len = c.add(ops::Gather { batch_dims: 0 }, &[shape, axis, zero])?;
        let b = c.add(ops::Gather { batch_dims: 0 }, &[begin, axis, zero])?;
        let e = c.add(ops::Gather { batch_dims: 0 }, &[end, axis, zero])?;
        let n = c.add(ops::Add::default(), &[len, b])?;
        let n = c.add(ops::Add::default(), &[n, e])?;
        let i = c.add(ops::Range { output_type: i64t }, &[zero, n, one])?;
        let i = c.add(ops::Subtract::default(), &[i, b])?;
        let i = c.add(ops::FloorMod::default(), &[i, len])?;
        y = c.add(ops::Gather { batch_dims: 0 }, &[y, i, axis])?;
    }
    Ok(y)
}

fn tile(c: &mut NodeContext<'_>) -> R {
    let (x, repeats) = (c.input(0)?, c.input(1)?);
    Ok(vec![c.add(ops::Tile {}, &[x, repeats])?])
}

fn block_op(c: &mut NodeContext<'_>, depth_to_space: bool) -> R {
    let x = c.input(0)?;
    let block_size = c.attr_int_req("blocksize")?;
    let block_size = u64::try_from(block_size)
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| c.error(format!("blocksize must be positive, got {block_size}")))?;
    // DCR (the default; SpaceToDepth has the attribute from opset 25 on) is blocks first.
    let mode = match c.attr_string("mode", "DCR")?.as_str() {
        "DCR" => BlockMode::BlocksFirst,
        "CRD" => BlockMode::DepthFirst,
        other => return Err(c.error(format!("unknown mode '{other}'"))),
    };
    let y = if depth_to_space {
        c.add(ops::DepthToSpace { block_size, mode }, &[x])?
    } else {
        c.add(ops::SpaceToDepth { block_size, mode }, &[x])?
    };
    Ok(vec![y])
}

fn reverse_sequence(c: &mut NodeContext<'_>) -> R {
    let (x, lens) = (c.input(0)?, c.input(1)?);
    let batch_axis = c.attr_int("batch_axis", 1)?;
    let seq_axis = c.attr_int("time_axis", 0)?;
    Ok(vec![c.add(ops::ReverseSequence { batch_axis, seq_axis }, &[x, lens])?])
}
