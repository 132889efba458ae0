//! Reductions: axes as an attribute (older opsets) or as input 1 (ReduceSum 13+, others 18+).

use ir_graph::ops;
use ir_graph::{ElementType, Op, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

#[derive(Clone, Copy)]
enum Kind {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

pub(super) fn register(r: &mut Registry) {
    let d = "";
    let common: &[i64] = &[1, 11, 13, 18];
    r.register(d, "ReduceMean", common, |c| reduce(c, Kind::Mean, 18));
    r.register(d, "ReduceMax", &[1, 11, 12, 13, 18, 20], |c| reduce(c, Kind::Max, 18));
    r.register(d, "ReduceMin", &[1, 11, 12, 13, 18, 20], |c| reduce(c, Kind::Min, 18));
    r.register(d, "ReduceProd", common, |c| reduce(c, Kind::Prod, 18));
    r.register(d, "ReduceL1", common, |c| reduce(c, Kind::L1, 18));
    r.register(d, "ReduceL2", common, |c| reduce(c, Kind::L2, 18));
    r.register(d, "ReduceSumSquare", common, |c| reduce(c, Kind::SumSquare, 18));
    r.register(d, "ReduceLogSum", common, |c| reduce(c, Kind::LogSum, 18));
    r.register(d, "ReduceLogSumExp", common, |c| reduce(c, Kind::LogSumExp, 18));
    r.register(d, "ReduceSum", &[1, 11, 13], |c| reduce(c, Kind::Sum, 13));
}

fn reduce_op(kind: Kind, keep_dims: bool) -> Op {
    match kind {
        Kind::Mean => ops::ReduceMean { keep_dims }.into(),
        Kind::Sum | Kind::SumSquare | Kind::LogSum | Kind::LogSumExp => ops::ReduceSum { keep_dims }.into(),
        Kind::Max => ops::ReduceMax { keep_dims }.into(),
        Kind::Min => ops::ReduceMin { keep_dims }.into(),
        Kind::Prod => ops::ReduceProd { keep_dims }.into(),
        Kind::L1 => ops::ReduceL1 { keep_dims }.into(),
        Kind::L2 => ops::ReduceL2 { keep_dims }.into(),
    }
}

/// `axes_input_since`: first opset where axes come from input 1 instead of the attribute.
fn reduce(c: &mut NodeContext<'_>, kind: Kind, axes_input_since: i64) -> R {
    let x = c.input(0)?;
    let keep_dims = c.attr_int("keepdims", 1)? != 0;
    let noop_empty = c.attr_int("noop_with_empty_axes", 0)? != 0;
    // Some(out) = axes given (as an input or a constant); None = reduce over every axis.
    let axes: Option<OutputRef> = if c.opset() >= axes_input_since {
        match c.opt_input(1) {
            None => None,
            // An axes input known to be empty (a constant, or a statically shaped [0] input)
            // means "every axis" (or a no-op with noop_with_empty_axes).
            Some(a) => match c.const_input(1) {
                Some(t) if t.numel() == 0 => None,
                _ if c.shape(a).to_static().is_some_and(|s| s.contains(&0)) => None,
                None if !noop_empty && c.shape(a).to_static().is_none() => Some(all_axes_when_empty(c, x, a)?),
                _ => Some(a),
            },
        }
    } else {
        match c.attr_ints("axes")? {
            Some(v) if !v.is_empty() => Some(c.const_vec(&v)?),
            _ => None,
        }
    };
    let axes = match axes {
        Some(a) => a,
        None if noop_empty => return Ok(vec![x]),
        None => {
            let rank = c.static_rank(x, "reducing over all axes")?;
            let all: Vec<i64> = (0..rank as i64).collect();
            c.const_vec(&all)?
        }
    };
    // Max and min of booleans are "any" and "all". OpenVINO's ReduceMax/Min take numbers only
    // and its CPU plugin runs ReduceLogicalOr/And with constant axes only, so count in i32:
    // any = sum != 0, all = product != 0 (false and true over an empty set, as in ONNX).
    if c.element_type(x) == ElementType::Boolean && matches!(kind, Kind::Max | Kind::Min) {
        let x = c.add(ops::Convert { destination_type: ElementType::I32 }, &[x])?;
        let op: Op = if matches!(kind, Kind::Max) {
            ops::ReduceSum { keep_dims }.into()
        } else {
            ops::ReduceProd { keep_dims }.into()
        };
        let y = c.add(op, &[x, axes])?;
        return Ok(vec![c.add(ops::Convert { destination_type: ElementType::Boolean }, &[y])?]);
    }
    let input = match kind {
        Kind::SumSquare => c.add(ops::Multiply::default(), &[x, x])?,
        Kind::LogSumExp => c.add(ops::Exp {}, &[x])?,
        _ => x,
    };
    let y = c.add(reduce_op(kind, keep_dims), &[input, axes])?;
    let y = match kind {
        Kind::LogSum | Kind::LogSumExp => c.add(ops::Log {}, &[y])?,
        _ => y,
    };
    Ok(vec![y])
}

/// A runtime axes input that may turn out empty: `Concat(axes, Range(0, rank * (len == 0)))`,
/// which is `axes` when it holds any axis and `[0, rank)` when it holds none.
fn all_axes_when_empty(c: &mut NodeContext<'_>, x: OutputRef, axes: OutputRef) -> Result<OutputRef, FrontendError> {
    let i64t = ElementType::I64;
    let axes =
        if c.element_type(axes) == i64t { axes } else { c.add(ops::Convert { destination_type: i64t }, &[axes])? };
    let shape = c.add(ops::ShapeOf { output_type: i64t }, &[x])?;
    let rank = c.add(ops::ShapeOf { output_type: i64t }, &[shape])?;
    let len = c.add(ops::ShapeOf { output_type: i64t }, &[axes])?;
    let zero = c.const_vec(&[0])?;
    let empty = c.add(ops::Equal::default(), &[len, zero])?;
    let empty = c.add(ops::Convert { destination_type: i64t }, &[empty])?;
    let stop = c.add(ops::Multiply::default(), &[rank, empty])?;
    let scalar = c.const_i64(&[0], vec![])?;
    let stop = c.add(ops::Reshape { special_zero: false }, &[stop, scalar])?;
    let start = c.const_i64(&[], vec![0])?;
    let step = c.const_i64(&[], vec![1])?;
    let all = c.add(ops::Range { output_type: i64t }, &[start, stop, step])?;
    c.add(ops::Concat { axis: 0 }, &[axes, all])
}
