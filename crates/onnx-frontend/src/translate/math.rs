//! Math ops: Round, IsNaN/IsInf, bitwise ops, CumSum, Einsum, Range, Trilu, CumProd, EyeLike, Det.

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
    r.register(d, "Trilu", &[14], trilu);
    r.register(d, "CumProd", &[26], cumprod);
    r.register(d, "EyeLike", &[9, 22], eye_like);
    r.register(d, "Det", &[11, 22], det);
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

/// Dimension `axis` of `x` as an i64 scalar: a constant when static, else ShapeOf + Gather.
fn dim_scalar(c: &mut NodeContext<'_>, x: OutputRef, axis: usize) -> Result<OutputRef, FrontendError> {
    if let Some(n) = c.shape(x).dims().and_then(|d| d.get(axis).and_then(|d| d.get())) {
        return c.const_i64(&[], vec![n as i64]);
    }
    let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let i = c.const_i64(&[], vec![axis as i64])?;
    let zero = c.const_i64(&[], vec![0])?;
    c.add(ops::Gather { batch_dims: 0 }, &[s, i, zero])
}

/// `0, 1, ..., n - 1` as i64 for an i64 scalar `n`.
fn iota(c: &mut NodeContext<'_>, n: OutputRef) -> Result<OutputRef, FrontendError> {
    let zero = c.const_i64(&[], vec![0])?;
    let one = c.const_i64(&[], vec![1])?;
    c.add(ops::Range { output_type: ElementType::I64 }, &[zero, n, one])
}

/// An input converted to i64 when it has another integer type.
fn to_i64(c: &mut NodeContext<'_>, v: OutputRef) -> Result<OutputRef, FrontendError> {
    if c.element_type(v) == ElementType::I64 {
        return Ok(v);
    }
    c.add(ops::Convert { destination_type: ElementType::I64 }, &[v])
}

/// Trilu, as OpenVINO's frontend decomposes it: with row indices `i` ([N, 1]) and column
/// indices `j` ([M]) from Range, the kept elements are `j - i >= k` (upper) or `j - i <= k`
/// (lower); a Select puts zeros elsewhere. `k` may be a run-time input of any value.
fn trilu(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let upper = c.attr_int("upper", 1)? != 0;
    let rank = c.static_rank(x, "Trilu")?;
    if rank < 2 {
        return Err(c.error(format!("Trilu needs an input of rank >= 2, got rank {rank}")));
    }
    let et = c.element_type(x);
    let n = dim_scalar(c, x, rank - 2)?;
    let m = dim_scalar(c, x, rank - 1)?;
    let rows = iota(c, n)?;
    let one_axis = c.const_vec(&[1])?;
    let rows = c.add(ops::Unsqueeze {}, &[rows, one_axis])?;
    let cols = iota(c, m)?;
    let diff = c.add(ops::Subtract::default(), &[cols, rows])?;
    let k = match c.opt_input(1) {
        Some(k) => to_i64(c, k)?,
        None => c.const_i64(&[], vec![0])?,
    };
    let keep = if upper {
        c.add(ops::GreaterEqual::default(), &[diff, k])?
    } else {
        c.add(ops::LessEqual::default(), &[diff, k])?
    };
    let zero = c.const_scalar(et, 0.0)?;
    Ok(vec![c.add(ops::Select::default(), &[keep, x, zero])?])
}

/// CumProd (opset 26). OpenVINO has no cumulative product, and Exp(CumSum(Log)) is neither
/// exact nor defined for zeros and negatives, so the product is built from exact ops: the axis
/// is moved to the front ([L, ...]), a mask `[L_out, L_in]` marks which inputs each output
/// multiplies (`in <= out`; `<` when exclusive; `>=` / `>` when reversed), Select puts 1 at
/// the others of `x` broadcast to `[L, L, ...]`, and ReduceProd over `L_in` gives the result.
/// It costs L times the input in memory, but works for any length, integer types (wrapping like
/// the reference) and a run-time axis; a constant axis folds the permutations away.
fn cumprod(c: &mut NodeContext<'_>) -> R {
    let (x, axis) = (c.input(0)?, c.input(1)?);
    let exclusive = c.attr_int("exclusive", 0)? != 0;
    let reverse = c.attr_int("reverse", 0)? != 0;
    let rank = c.static_rank(x, "CumProd")?;
    if rank == 0 {
        return Err(c.error("CumProd needs an input of rank >= 1"));
    }
    let et = c.element_type(x);
    // Permutation moving the axis to the front, and its inverse.
    let const_axis = match c.const_input(1) {
        Some(t) => match t.to_i64_vec().map_err(|e| c.error(e.to_string()))?.as_slice() {
            [a] if (-(rank as i64)..rank as i64).contains(a) => Some(if *a < 0 { a + rank as i64 } else { *a }),
            v => return Err(c.error(format!("axis {v:?} is out of range for rank {rank}"))),
        },
        None => None,
    };
    let perms = match const_axis {
        Some(0) => None,
        _ if rank == 1 => None,
        Some(a) => {
            let mut p: Vec<i64> = vec![a];
            p.extend((0..rank as i64).filter(|&i| i != a));
            let mut inv = vec![0i64; rank];
            for (i, &v) in p.iter().enumerate() {
                inv[v as usize] = i as i64;
            }
            Some((c.const_vec(&p)?, c.const_vec(&inv)?))
        }
        None => {
            let a = to_i64(c, axis)?;
            let shape1 = c.const_vec(&[])?;
            let a = c.add(ops::Reshape { special_zero: false }, &[a, shape1])?;
            let r = c.const_i64(&[], vec![rank as i64])?;
            let a = c.add(ops::FloorMod::default(), &[a, r])?;
            // perm = [a, j for j < a, j + 1 for j >= a] over j in 0..rank-1.
            let j: Vec<i64> = (0..rank as i64 - 1).collect();
            let jc = c.const_vec(&j)?;
            let j1 = c.const_vec(&j.iter().map(|v| v + 1).collect::<Vec<_>>())?;
            let before = c.add(ops::Less::default(), &[jc, a])?;
            let tail = c.add(ops::Select::default(), &[before, jc, j1])?;
            let one = c.const_vec(&[1])?;
            let a1 = c.add(ops::Reshape { special_zero: false }, &[a, one])?;
            let perm = c.add(ops::Concat { axis: 0 }, &[a1, tail])?;
            // inv[i] = i + 1 for i < a, 0 for i == a, i for i > a.
            let i: Vec<i64> = (0..rank as i64).collect();
            let ic = c.const_vec(&i)?;
            let i1 = c.const_vec(&i.iter().map(|v| v + 1).collect::<Vec<_>>())?;
            let zero = c.const_i64(&[], vec![0])?;
            let at = c.add(ops::Equal::default(), &[ic, a])?;
            let rest = c.add(ops::Select::default(), &[at, zero, ic])?;
            let below = c.add(ops::Less::default(), &[ic, a])?;
            let inv = c.add(ops::Select::default(), &[below, i1, rest])?;
            Some((perm, inv))
        }
    };
    let xt = match &perms {
        Some((p, _)) => c.add(ops::Transpose {}, &[x, *p])?,
        None => x,
    };
    let len = dim_scalar(c, xt, 0)?;
    let idx = iota(c, len)?;
    let one_axis = c.const_vec(&[1])?;
    let out_idx = c.add(ops::Unsqueeze {}, &[idx, one_axis])?;
    let mask = match (reverse, exclusive) {
        (false, false) => c.add(ops::LessEqual::default(), &[idx, out_idx])?,
        (false, true) => c.add(ops::Less::default(), &[idx, out_idx])?,
        (true, false) => c.add(ops::GreaterEqual::default(), &[idx, out_idx])?,
        (true, true) => c.add(ops::Greater::default(), &[idx, out_idx])?,
    };
    let mask = if rank > 1 {
        let axes = c.const_vec(&(2..=rank as i64).collect::<Vec<_>>())?;
        c.add(ops::Unsqueeze {}, &[mask, axes])?
    } else {
        mask
    };
    let zero_axis = c.const_vec(&[0])?;
    let xu = c.add(ops::Unsqueeze {}, &[xt, zero_axis])?;
    let one = c.const_scalar(et, 1.0)?;
    let picked = c.add(ops::Select::default(), &[mask, xu, one])?;
    let red_axis = c.const_vec(&[1])?;
    let y = c.add(ops::ReduceProd { keep_dims: false }, &[picked, red_axis])?;
    Ok(vec![match perms {
        Some((_, inv)) => c.add(ops::Transpose {}, &[y, inv])?,
        None => y,
    }])
}

/// EyeLike: Eye-9 with the rows and columns of the 2-D input.
fn eye_like(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let rank = c.static_rank(x, "EyeLike")?;
    if rank != 2 {
        return Err(c.error(format!("EyeLike needs a 2-D input, got rank {rank}")));
    }
    let output_type = match c.attr_int_opt("dtype")? {
        Some(t) => {
            let t = i32::try_from(t).map_err(|_| c.error(format!("bad dtype {t}")))?;
            crate::load::element_type(t).map_err(|m| c.error(m))?
        }
        None => c.element_type(x),
    };
    if output_type == ElementType::Dynamic {
        return Err(c.error("the output type is not known"));
    }
    let k = c.attr_int("k", 0)?;
    let rows = dim_scalar(c, x, 0)?;
    let cols = dim_scalar(c, x, 1)?;
    let k = c.const_i64(&[], vec![k])?;
    Ok(vec![c.add(ops::Eye { output_type }, &[rows, cols, k])?])
}

/// Largest matrix order Det expands (n! products of n factors).
const DET_MAX_ORDER: usize = 6;

/// Det: OpenVINO has no determinant op, so the Leibniz formula is built for the (static)
/// order n: one Gather picks, for every permutation p, the elements `x[i, p(i)]` of the flattened
/// matrices ([..., n!, n]), the permutation's sign weighs the first of them, ReduceProd
/// multiplies them and ReduceSum adds the terms up. Exact arithmetic apart from summation order; limited to n <= 6.
fn det(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let rank = c.static_rank(x, "Det")?;
    let dims = c.shape(x).dims().map(|d| d.to_vec()).unwrap_or_default();
    if rank < 2 {
        return Err(c.error(format!("Det needs an input of rank >= 2, got rank {rank}")));
    }
    let (n, m) = (dims[rank - 2].get(), dims[rank - 1].get());
    let n = match (n, m) {
        (Some(n), Some(m)) if n == m => n as usize,
        (Some(_), Some(_)) => return Err(c.error(format!("Det needs square matrices, got {n:?}x{m:?}"))),
        _ => n.or(m).ok_or_else(|| c.error("Det needs a static matrix order"))? as usize,
    };
    if n == 0 || n > DET_MAX_ORDER {
        return Err(c.error(format!("Det of order {n} is not supported (1 to {DET_MAX_ORDER})")));
    }
    let et = c.element_type(x);
    let (mut picks, mut signs) = (Vec::new(), Vec::new());
    permutations(n, &mut |p: &[usize], sign: f64| {
        picks.extend(p.iter().enumerate().map(|(i, &j)| (i * n + j) as i64));
        signs.push(sign);
    });
    let count = signs.len();
    let mut target = vec![0i64; rank - 2];
    target.push((n * n) as i64);
    let target = c.const_vec(&target)?;
    let flat = c.add(ops::Reshape { special_zero: true }, &[x, target])?;
    let picks = c.const_i64(&[count, n], picks)?;
    let axis = c.const_i64(&[], vec![rank as i64 - 2])?;
    let terms = c.add(ops::Gather { batch_dims: 0 }, &[flat, picks, axis])?;
    // The signs weigh the first factor of each term, before ReduceProd: OpenVINO's CPU plugin
    // computes ReduceProd -> Multiply(constant) -> ReduceSum wrongly (it fuses the Multiply into
    // the reduction), and this order is as exact.
    let weights: Vec<f64> =
        signs.iter().flat_map(|&s| std::iter::once(s).chain(std::iter::repeat_n(1.0, n - 1))).collect();
    let weights: Vec<ir_graph::Tensor> =
        weights.iter().map(|&v| super::scalar_tensor(et, v)).collect::<Result<_, _>>().map_err(|m| c.error(m))?;
    let bytes: Vec<u8> = weights.iter().flat_map(|t| t.raw().to_vec()).collect();
    let weights = ir_graph::Tensor::from_bytes(et, vec![count, n], ir_graph::Bytes::from_pod_vec(bytes))
        .map_err(|e| c.error(e.to_string()))?;
    let weights = c.constant(weights)?;
    let weighed = c.add(ops::Multiply::default(), &[terms, weights])?;
    let last = c.const_vec(&[-1])?;
    let prods = c.add(ops::ReduceProd { keep_dims: false }, &[weighed, last])?;
    let last = c.const_vec(&[-1])?;
    Ok(vec![c.add(ops::ReduceSum { keep_dims: false }, &[prods, last])?])
}

/// Calls `f` with every permutation of `0..n` and its sign.
fn permutations(n: usize, f: &mut dyn FnMut(&[usize], f64)) {
    fn go(p: &mut Vec<usize>, k: usize, sign: f64, f: &mut dyn FnMut(&[usize], f64)) {
        if k == p.len() {
            f(p, sign);
            return;
        }
        for i in k..p.len() {
            p.swap(k, i);
            go(p, k + 1, if i == k { sign } else { -sign }, f);
            p.swap(k, i);
        }
    }
    go(&mut (0..n).collect(), 0, 1.0, f);
}

#[cfg(test)]
mod tests {
    use ir_graph::{Model, Op, Tensor};

    use crate::test_support::*;

    /// Converts with folding; every input is an initializer, so the output is a constant.
    fn folded_output(b: &Builder) -> Tensor {
        let dir = tempfile::tempdir().expect("tempdir");
        let m: Model = crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert");
        let Op::Constant(c) = result_producer(&m) else { panic!("not folded: {:?}", op_counts(&m)) };
        c.value.clone()
    }

    fn f32s(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }

    #[test]
    fn trilu_keeps_the_band_for_any_k() {
        let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let run = |upper: i64, k: i64| {
            let b = Builder::new(14)
                .init(f32_typed("x", &[3, 4], &x))
                .init(i64_typed("k", &[], &[k]))
                .node(node("Trilu", &["x", "k"], &["y"], vec![("upper", A::I(upper))]))
                .output("y");
            f32s(&folded_output(&b))
        };
        assert_eq!(run(1, 1), [0., 2., 3., 4., 0., 0., 7., 8., 0., 0., 0., 12.]);
        assert_eq!(run(0, -1), [0., 0., 0., 0., 5., 0., 0., 0., 9., 10., 0., 0.]);
        assert_eq!(run(1, -7), x);
        assert_eq!(run(0, -7), [0.0; 12]);
    }

    #[test]
    fn cumprod_is_exact_with_zeros_and_negatives() {
        let x = [2.0f32, -3.0, 0.0, 4.0, 5.0, -1.0];
        let run = |axis: i64, exclusive: i64, reverse: i64| {
            let b = Builder::new(26)
                .init(f32_typed("x", &[2, 3], &x))
                .init(i64_typed("a", &[], &[axis]))
                .node(node(
                    "CumProd",
                    &["x", "a"],
                    &["y"],
                    vec![("exclusive", A::I(exclusive)), ("reverse", A::I(reverse))],
                ))
                .output("y");
            f32s(&folded_output(&b))
        };
        assert_eq!(run(1, 0, 0), [2., -6., -0., 4., 20., -20.]);
        assert_eq!(run(-1, 1, 0), [1., 2., -6., 1., 4., 20.]);
        assert_eq!(run(1, 0, 1), [-0., -0., 0., -20., -5., -1.]);
        assert_eq!(run(1, 1, 1), [-0., 0., 1., -5., -1., 1.]);
        assert_eq!(run(0, 0, 0), [2., -3., 0., 8., -15., -0.]);
    }

    #[test]
    fn cumprod_with_a_run_time_axis_permutes_around_it() {
        let b = Builder::new(26)
            .input(vi("x", F32, &[2, 3, 4]))
            .input(vi("a", I64, &[]))
            .node(node("CumProd", &["x", "a"], &["y"], vec![]))
            .output("y");
        let m = b.read_ok();
        let c = op_counts(&m);
        assert_eq!((c.get("Transpose"), c.get("ReduceProd")), (Some(&2), Some(&1)), "{c:?}");
        assert_eq!(m.port(m.node(m.results()[0]).expect("r").inputs[0]).expect("p").shape.rank(), Some(3));
    }

    #[test]
    fn det_by_permutations() {
        let b = Builder::new(22)
            .init(f32_typed(
                "x",
                &[2, 3, 3],
                &[2., -1., 0., 1., 3., 2., 0., 1., 4., 1., 0., 0., 0., 1., 0., 0., 0., 1.],
            ))
            .node(node("Det", &["x"], &["y"], vec![]))
            .output("y");
        let y = folded_output(&b);
        assert_eq!(y.shape(), &[2]);
        assert_eq!(f32s(&y), [24.0, 1.0]);
        let big = Builder::new(22).input(vi("x", F32, &[7, 7])).node(node("Det", &["x"], &["y"], vec![])).output("y");
        let e = big.read().expect_err("order 7").to_string();
        assert!(e.contains("Det of order 7") && e.contains("node 'y'"), "{e}");
    }

    #[test]
    fn eye_like_takes_the_shape_and_dtype() {
        let b = Builder::new(22)
            .init(f32_typed("x", &[2, 3], &[9.0; 6]))
            .node(node("EyeLike", &["x"], &["y"], vec![("k", A::I(1)), ("dtype", A::I(I64 as i64))]))
            .output("y");
        let y = folded_output(&b);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(&*y.values::<i64>().expect("i64"), &[0, 1, 0, 0, 0, 1]);
    }
}
