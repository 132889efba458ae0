//! Math ops: Round, IsNaN/IsInf, bitwise ops, CumSum, Einsum, Range.

use ir_graph::ops::{self, RoundMode};
use ir_graph::{ElementType, Op, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Round", &[11, 22], |c| unary(c, ops::Round { mode: RoundMode::HalfToEven }.into()));
    r.register(d, "IsNaN", &[9, 13, 20], |c| unary(c, ops::IsNaN {}.into()));
    r.register(d, "IsInf", &[10, 20], is_inf);
    r.register(d, "BitwiseAnd", &[18], |c| binary(c, ops::BitwiseAnd::default().into()));
    r.register(d, "BitwiseOr", &[18], |c| binary(c, ops::BitwiseOr::default().into()));
    r.register(d, "BitwiseXor", &[18], |c| binary(c, ops::BitwiseXor::default().into()));
    r.register(d, "BitwiseNot", &[18], |c| unary(c, ops::BitwiseNot {}.into()));
    r.register(d, "CumSum", &[11, 14], cumsum);
    r.register(d, "Einsum", &[12], einsum);
    r.register(d, "Range", &[11], range);
}

fn unary(c: &mut NodeContext<'_>, op: Op) -> R {
    let x = c.input(0)?;
    Ok(vec![c.add(op, &[x])?])
}

fn binary(c: &mut NodeContext<'_>, op: Op) -> R {
    let (a, b) = (c.input(0)?, c.input(1)?);
    Ok(vec![c.add(op, &[a, b])?])
}

fn is_inf(c: &mut NodeContext<'_>) -> R {
    let detect_negative = c.attr_int("detect_negative", 1)? != 0;
    let detect_positive = c.attr_int("detect_positive", 1)? != 0;
    unary(c, ops::IsInf { detect_negative, detect_positive }.into())
}

fn cumsum(c: &mut NodeContext<'_>) -> R {
    let (x, axis) = (c.input(0)?, c.input(1)?);
    let exclusive = c.attr_int("exclusive", 0)? != 0;
    let reverse = c.attr_int("reverse", 0)? != 0;
    Ok(vec![c.add(ops::CumSum { exclusive, reverse }, &[x, axis])?])
}

fn einsum(c: &mut NodeContext<'_>) -> R {
    let inputs = c.present_inputs();
    // OpenVINO keeps the equation without blanks.
    let equation: String = c.attr_string("equation", "")?.chars().filter(|ch| !ch.is_whitespace()).collect();
    if equation.is_empty() {
        return Err(c.error("attribute 'equation' is required"));
    }
    Ok(vec![c.add(ops::Einsum { equation }, &inputs)?])
}

fn range(c: &mut NodeContext<'_>) -> R {
    let (start, limit, delta) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let output_type = c.element_type(start);
    if output_type == ElementType::Dynamic {
        return Err(c.error("the type of 'start' is not known"));
    }
    Ok(vec![c.add(ops::Range { output_type }, &[start, limit, delta])?])
}
