//! Element-wise ops: arithmetic, comparisons, logic, activations, Cast, Clip, Where.

use ir_graph::ops::{self, AutoBroadcast};
use ir_graph::{ElementType, Op, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    // Binary arithmetic (opset < 7 used legacy `broadcast`/`axis` attributes).
    r.register(d, "Add", &[1, 6, 7, 13, 14], |c| binary(c, ops::Add::default()));
    r.register(d, "Sub", &[1, 6, 7, 13, 14], |c| binary(c, ops::Subtract::default()));
    r.register(d, "Mul", &[1, 6, 7, 13, 14], |c| binary(c, ops::Multiply::default()));
    r.register(d, "Div", &[1, 6, 7, 13, 14], div);
    r.register(d, "Pow", &[1, 7, 12, 13, 15], pow);
    r.register(d, "Mod", &[10, 13], modulo);
    r.register(d, "PRelu", &[1, 6, 7, 9, 16], |c| binary(c, ops::PRelu {}));
    // Comparisons and logic.
    r.register(d, "Equal", &[1, 7, 11, 13, 19], |c| binary(c, ops::Equal::default()));
    r.register(d, "Greater", &[1, 7, 9, 13], |c| binary(c, ops::Greater::default()));
    r.register(d, "Less", &[1, 7, 9, 13], |c| binary(c, ops::Less::default()));
    r.register(d, "GreaterOrEqual", &[12, 16], |c| binary(c, ops::GreaterEqual::default()));
    r.register(d, "LessOrEqual", &[12, 16], |c| binary(c, ops::LessEqual::default()));
    r.register(d, "And", &[1, 7], |c| binary(c, ops::LogicalAnd::default()));
    r.register(d, "Or", &[1, 7], |c| binary(c, ops::LogicalOr::default()));
    r.register(d, "Xor", &[1, 7], |c| binary(c, ops::LogicalXor::default()));
    r.register(d, "Not", &[1], |c| unary(c, ops::LogicalNot {}));
    // N-ary.
    r.register(d, "Sum", &[1, 6, 8, 13], |c| nary(c, |_| ops::Add::default().into()));
    r.register(d, "Max", &[1, 6, 8, 12, 13], |c| nary(c, |_| ops::Maximum::default().into()));
    r.register(d, "Min", &[1, 6, 8, 12, 13], |c| nary(c, |_| ops::Minimum::default().into()));
    r.register(d, "Mean", &[1, 6, 8, 13], mean);
    // Unary math.
    r.register(d, "Relu", &[1, 6, 13, 14], |c| unary(c, ops::Relu {}));
    r.register(d, "Sigmoid", &[1, 6, 13], |c| unary(c, ops::Sigmoid {}));
    r.register(d, "Tanh", &[1, 6, 13], |c| unary(c, ops::Tanh {}));
    r.register(d, "Exp", &[1, 6, 13], |c| unary(c, ops::Exp {}));
    r.register(d, "Log", &[1, 6, 13], |c| unary(c, ops::Log {}));
    r.register(d, "Sqrt", &[1, 6, 13], |c| unary(c, ops::Sqrt {}));
    r.register(d, "Abs", &[1, 6, 13], |c| unary(c, ops::Abs {}));
    r.register(d, "Neg", &[1, 6, 13], |c| unary(c, ops::Negative {}));
    r.register(d, "Floor", &[1, 6, 13], |c| unary(c, ops::Floor {}));
    r.register(d, "Ceil", &[1, 6, 13], |c| unary(c, ops::Ceiling {}));
    r.register(d, "Erf", &[9, 13], |c| unary(c, ops::Erf {}));
    r.register(d, "Sign", &[9, 13], |c| unary(c, ops::Sign {}));
    r.register(d, "Sin", &[7], |c| unary(c, ops::Sin {}));
    r.register(d, "Cos", &[7], |c| unary(c, ops::Cos {}));
    r.register(d, "Tan", &[7], |c| unary(c, ops::Tan {}));
    r.register(d, "Asin", &[7], |c| unary(c, ops::Asin {}));
    r.register(d, "Acos", &[7], |c| unary(c, ops::Acos {}));
    r.register(d, "Atan", &[7], |c| unary(c, ops::Atan {}));
    r.register(d, "Sinh", &[9], |c| unary(c, ops::Sinh {}));
    r.register(d, "Cosh", &[9], |c| unary(c, ops::Cosh {}));
    r.register(d, "Asinh", &[9], |c| unary(c, ops::Asinh {}));
    r.register(d, "Acosh", &[9], |c| unary(c, ops::Acosh {}));
    r.register(d, "Atanh", &[9], |c| unary(c, ops::Atanh {}));
    r.register(d, "Reciprocal", &[1, 6, 13], reciprocal);
    // Activations.
    r.register(d, "Softsign", &[1], |c| unary(c, ops::SoftSign {}));
    r.register(d, "Softplus", &[1], |c| unary(c, ops::SoftPlus {}));
    r.register(d, "HardSwish", &[14], |c| unary(c, ops::HSwish {}));
    r.register(d, "Mish", &[18], |c| unary(c, ops::Mish {}));
    r.register(d, "Swish", &[24], swish);
    r.register(d, "Elu", &[1, 6], elu);
    r.register(d, "LeakyRelu", &[1, 6, 16], leaky_relu);
    r.register(d, "Selu", &[1, 6], selu);
    r.register(d, "HardSigmoid", &[1, 6], hard_sigmoid);
    r.register(d, "ThresholdedRelu", &[10], thresholded_relu);
    r.register(d, "Gelu", &[20], gelu);
    r.register(d, "Clip", &[1, 6], clip_attr);
    r.register(d, "Clip", &[11, 12, 13], clip_inputs);
    // Types and selection.
    r.register(d, "Cast", &[1, 6, 9, 13, 19, 21, 23], cast);
    r.register(d, "CastLike", &[15, 19, 21, 23], cast_like);
    r.register(d, "Where", &[9, 16], where_);
    r.register(d, "Identity", &[1, 13, 14, 16, 19, 21, 23], super::sequence::identity);
}

fn unary(c: &mut NodeContext<'_>, op: impl Into<Op>) -> R {
    let x = c.input(0)?;
    Ok(vec![c.add(op, &[x])?])
}

/// The two inputs of a binary op, applying opset < 7 `broadcast`/`axis` semantics to `b`.
fn binary_inputs(c: &mut NodeContext<'_>) -> Result<(OutputRef, OutputRef), FrontendError> {
    let a = c.input(0)?;
    let mut b = c.input(1)?;
    if c.opset() < 7 && c.attr_int("broadcast", 0)? == 1 {
        // Legacy broadcasting aligns `b` with `a` starting at `axis` (default: trailing dims).
        let (ra, rb) = (c.static_rank(a, "legacy broadcasting")?, c.static_rank(b, "legacy broadcasting")?);
        let axis = c.attr_int("axis", (ra as i64) - (rb as i64))?;
        let axis = if axis < 0 { axis + ra as i64 } else { axis };
        let trailing = ra as i64 - axis - rb as i64;
        if axis < 0 || trailing < 0 {
            return Err(c.error(format!("legacy broadcast axis {axis} does not fit ranks {ra} and {rb}")));
        }
        if trailing > 0 {
            let axes: Vec<i64> = (rb as i64..rb as i64 + trailing).collect();
            let axes = c.const_vec(&axes)?;
            b = c.add(ops::Unsqueeze {}, &[b, axes])?;
        }
    }
    Ok((a, b))
}

fn binary(c: &mut NodeContext<'_>, op: impl Into<Op>) -> R {
    let (a, b) = binary_inputs(c)?;
    Ok(vec![c.add(op, &[a, b])?])
}

/// Pow: the result has the base's type. An exponent of another type is converted to the base's
/// type, except that an integer base with a floating exponent is raised in the exponent's type
/// and converted back (as ONNX's reference does), so fractional exponents are not truncated.
fn pow(c: &mut NodeContext<'_>) -> R {
    let (a, b) = binary_inputs(c)?;
    let (ta, tb) = (c.element_type(a), c.element_type(b));
    if ta == tb || ta == ElementType::Dynamic || tb == ElementType::Dynamic {
        return Ok(vec![c.add(ops::Power::default(), &[a, b])?]);
    }
    if !ta.is_float() && tb.is_float() {
        let af = c.add(ops::Convert { destination_type: tb }, &[a])?;
        let y = c.add(ops::Power::default(), &[af, b])?;
        return Ok(vec![c.add(ops::Convert { destination_type: ta }, &[y])?]);
    }
    let b = c.add(ops::Convert { destination_type: ta }, &[b])?;
    Ok(vec![c.add(ops::Power::default(), &[a, b])?])
}

fn div(c: &mut NodeContext<'_>) -> R {
    let (a, b) = binary_inputs(c)?;
    // ONNX integer division truncates toward zero; OpenVINO's python-style division floors.
    let m_pythondiv = !c.element_type(a).is_signed_integer();
    Ok(vec![c.add(ops::Divide { auto_broadcast: AutoBroadcast::Numpy, m_pythondiv }, &[a, b])?])
}

fn modulo(c: &mut NodeContext<'_>) -> R {
    let (a, b) = binary_inputs(c)?;
    let fmod = c.attr_int("fmod", 0)?;
    let out = if fmod == 1 { c.add(ops::Mod::default(), &[a, b])? } else { c.add(ops::FloorMod::default(), &[a, b])? };
    Ok(vec![out])
}

fn nary(c: &mut NodeContext<'_>, make: fn(usize) -> Op) -> R {
    let inputs = c.present_inputs();
    let Some((&first, rest)) = inputs.split_first() else {
        return Err(c.error("needs at least one input"));
    };
    let mut acc = first;
    for (i, &x) in rest.iter().enumerate() {
        acc = c.add(make(i), &[acc, x])?;
    }
    Ok(vec![acc])
}

fn mean(c: &mut NodeContext<'_>) -> R {
    let n = c.present_inputs().len();
    let sum = nary(c, |_| ops::Add::default().into())?[0];
    if n <= 1 {
        return Ok(vec![sum]);
    }
    let et = c.element_type(sum);
    let k = c.const_scalar(et, n as f64)?;
    Ok(vec![c.add(ops::Divide::default(), &[sum, k])?])
}

fn reciprocal(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let one = c.const_scalar(c.element_type(x), 1.0)?;
    Ok(vec![c.add(ops::Divide::default(), &[one, x])?])
}

/// Swish (opset 24): x * sigmoid(alpha * x) is Swish-4, with alpha as its beta input unless 1.
fn swish(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let alpha = c.attr_float("alpha", 1.0)?;
    if alpha == 1.0 {
        return Ok(vec![c.add(ops::Swish {}, &[x])?]);
    }
    let beta = c.const_scalar(c.element_type(x), f64::from(alpha))?;
    Ok(vec![c.add(ops::Swish {}, &[x, beta])?])
}

fn elu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let alpha = c.attr_float("alpha", 1.0)?;
    Ok(vec![c.add(ops::Elu { alpha: alpha as f64 }, &[x])?])
}

fn leaky_relu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let alpha = c.attr_float("alpha", 0.01)?;
    let slope = c.const_scalar(c.element_type(x), alpha as f64)?;
    Ok(vec![c.add(ops::PRelu {}, &[x, slope])?])
}

fn selu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let alpha = c.attr_float("alpha", 1.673_263_2)?;
    let gamma = c.attr_float("gamma", 1.050_701)?;
    let a = c.const_scalar(et, alpha as f64)?;
    let g = c.const_scalar(et, gamma as f64)?;
    Ok(vec![c.add(ops::Selu {}, &[x, a, g])?])
}

/// `max(0, min(1, alpha * x + beta))`; ir-graph has no `HardSigmoid` op yet, so this is
/// Multiply + Add + Clamp (numerically the same).
fn hard_sigmoid(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let alpha = c.attr_float("alpha", 0.2)?;
    let beta = c.attr_float("beta", 0.5)?;
    // OpenVINO's frontend emits HardSigmoid-1 with scalar alpha/beta constants.
    let a = c.const_scalar(et, alpha as f64)?;
    let b = c.const_scalar(et, beta as f64)?;
    Ok(vec![c.add(ops::HardSigmoid {}, &[x, a, b])?])
}

fn thresholded_relu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let alpha = c.attr_float("alpha", 1.0)?;
    let a = c.const_scalar(et, alpha as f64)?;
    let mask = c.add(ops::Greater::default(), &[x, a])?;
    let mask = c.add(ops::Convert { destination_type: et }, &[mask])?;
    Ok(vec![c.add(ops::Multiply::default(), &[x, mask])?])
}

fn gelu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let approximation_mode = match c.attr_string("approximate", "none")?.as_str() {
        "none" => ops::GeluApproximation::Erf,
        "tanh" => ops::GeluApproximation::Tanh,
        other => return Err(c.error(format!("unknown approximate mode '{other}'"))),
    };
    Ok(vec![c.add(ops::Gelu { approximation_mode }, &[x])?])
}

/// Lowest and highest finite values of an element type, as f64.
fn type_limits(et: ElementType) -> (f64, f64) {
    use ElementType as E;
    match et {
        E::F16 => (-65504.0, 65504.0),
        E::Bf16 | E::F32 => (f32::MIN as f64, f32::MAX as f64),
        E::I8 => (i8::MIN as f64, i8::MAX as f64),
        E::U8 => (0.0, u8::MAX as f64),
        E::I16 => (i16::MIN as f64, i16::MAX as f64),
        E::U16 => (0.0, u16::MAX as f64),
        E::I32 => (i32::MIN as f64, i32::MAX as f64),
        E::U32 => (0.0, u32::MAX as f64),
        E::I64 => (i64::MIN as f64, i64::MAX as f64),
        E::U64 => (0.0, u64::MAX as f64),
        _ => (f64::MIN, f64::MAX),
    }
}

fn clip_attr(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (lo, hi) = type_limits(c.element_type(x));
    let min = c.attr("min").map(|_| c.attr_float("min", 0.0)).transpose()?.map_or(lo, f64::from);
    let max = c.attr("max").map(|_| c.attr_float("max", 0.0)).transpose()?.map_or(hi, f64::from);
    Ok(vec![c.add(ops::Clamp { min, max }, &[x])?])
}

fn scalar_of(c: &NodeContext<'_>, t: &Tensor, what: &str) -> Result<f64, FrontendError> {
    let v = t.to_f64_vec().map_err(|e| c.error(format!("{what}: {e}")))?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(c.error(format!("{what} must hold one value, got {}", v.len()))),
    }
}

fn clip_inputs(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (lo, hi) = type_limits(c.element_type(x));
    let (min_in, max_in) = (c.opt_input(1), c.opt_input(2));
    let min_c = c.const_input(1);
    let max_c = c.const_input(2);
    let min_const = min_in.is_none() || min_c.is_some();
    let max_const = max_in.is_none() || max_c.is_some();
    if min_const && max_const {
        let min = min_c.map(|t| scalar_of(c, &t, "min")).transpose()?.unwrap_or(lo);
        let max = max_c.map(|t| scalar_of(c, &t, "max")).transpose()?.unwrap_or(hi);
        return Ok(vec![c.add(ops::Clamp { min, max }, &[x])?]);
    }
    // Bounds computed at run time: Maximum then Minimum.
    let mut y = x;
    if let Some(m) = min_in {
        y = c.add(ops::Maximum::default(), &[y, m])?;
    }
    if let Some(m) = max_in {
        y = c.add(ops::Minimum::default(), &[y, m])?;
    }
    Ok(vec![y])
}

fn cast(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let to = c.attr_int_req("to")?;
    let to = i32::try_from(to).map_err(|_| c.error(format!("bad 'to' type {to}")))?;
    let destination_type = crate::load::element_type(to).map_err(|m| c.error(m))?;
    Ok(vec![cast_to(c, x, destination_type)?])
}

fn cast_like(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let like = c.input(1)?;
    let destination_type = c.element_type(like);
    if destination_type == ElementType::Dynamic {
        return Err(c.error("the target type (input 1) is not known"));
    }
    Ok(vec![cast_to(c, x, destination_type)?])
}

/// ONNX Cast/CastLike (with their `saturate` and `round_mode` attributes) on top of OpenVINO's
/// Convert, whose rules are in `ir_graph::eval::lowp`: Convert does not saturate to f8e4m3 /
/// f8e5m2, maps NaN to ±6 in f4e2m1 and rounds to nearest in f8e8m0, so those targets get a
/// few extra nodes.
pub(super) fn cast_to(c: &mut NodeContext<'_>, x: OutputRef, to: ElementType) -> Result<OutputRef, FrontendError> {
    use ElementType as E;
    let from = c.element_type(x);
    let convert =
        |c: &mut NodeContext<'_>, x: OutputRef, to: ElementType| c.add(ops::Convert { destination_type: to }, &[x]);
    if from == to || from == E::Dynamic {
        return convert(c, x, to);
    }
    let low_float = |t: ElementType| matches!(t, E::F8E4M3 | E::F8E5M2 | E::F8E8M0 | E::F4E2M1 | E::Nf4);
    match to {
        E::F8E4M3 | E::F8E5M2 if c.attr_int("saturate", 1)? != 0 => {
            // Clamp to the largest finite value; NaN stays NaN (OpenVINO's Clamp would not keep it).
            let x = if low_float(from) { convert(c, x, E::F32)? } else { x };
            let max = if to == E::F8E4M3 { 448.0 } else { 57344.0 };
            let clamped = c.add(ops::Clamp { min: -max, max }, &[x])?;
            let y = if c.element_type(x).is_float() {
                let nan = c.add(ops::IsNaN {}, &[x])?;
                c.add(ops::Select::default(), &[nan, x, clamped])?
            } else {
                clamped
            };
            convert(c, y, to)
        }
        E::F4E2M1 if from.is_float() => {
            // ONNX (ml_dtypes) stores NaN as -0; Convert would saturate it to ±6.
            let x = if low_float(from) { convert(c, x, E::F32)? } else { x };
            let et = c.element_type(x);
            let nan = c.add(ops::IsNaN {}, &[x])?;
            let neg_zero = c.const_scalar(et, -0.0)?;
            let y = c.add(ops::Select::default(), &[nan, neg_zero, x])?;
            convert(c, y, to)
        }
        E::F8E8M0 => {
            if c.attr_int("saturate", 1)? == 0 {
                return Err(c.error("saturate = 0 is not supported for FLOAT8E8M0"));
            }
            let mode = c.attr_string("round_mode", "up")?;
            // ONNX converts to float32 and keeps only the exponent bits (the sign is ignored).
            let xf = if from == E::F32 { x } else { convert(c, x, E::F32)? };
            let a = c.add(ops::Abs {}, &[xf])?;
            let nearest = convert(c, a, to)?; // ties to the even code
            let yf = convert(c, nearest, E::F32)?;
            let (fix, factor) = match mode.as_str() {
                "up" => (c.add(ops::Less::default(), &[yf, a])?, 2.0),
                "down" => (c.add(ops::Greater::default(), &[yf, a])?, 0.5),
                "nearest" => {
                    // Ties round up (away from zero), not to the even code.
                    let k = c.const_scalar(E::F32, 1.5)?;
                    let tie = c.add(ops::Multiply::default(), &[yf, k])?;
                    (c.add(ops::Equal::default(), &[tie, a])?, 2.0)
                }
                other => return Err(c.error(format!("unknown round_mode '{other}'"))),
            };
            // Select among exact f32 powers of two and convert once (OpenVINO's CPU plugin has
            // no f8e8m0 Select).
            let k = c.const_scalar(E::F32, factor)?;
            let scaled = c.add(ops::Multiply::default(), &[yf, k])?;
            let picked = c.add(ops::Select::default(), &[fix, scaled, yf])?;
            convert(c, picked, to)
        }
        _ => convert(c, x, to),
    }
}

fn where_(c: &mut NodeContext<'_>) -> R {
    let (cond, a, b) = (c.input(0)?, c.input(1)?, c.input(2)?);
    Ok(vec![c.add(ops::Select::default(), &[cond, a, b])?])
}
