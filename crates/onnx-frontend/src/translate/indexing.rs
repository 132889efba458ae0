//! Indexing ops: TopK, ArgMax/ArgMin, GatherElements, GatherND, scatters, NonZero, OneHot,
//! Compress, Unique.

use ir_graph::ops::{self, ScatterNDReduction, ScatterReduction, TopKMode, TopKSort};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "TopK", &[1, 10, 11, 24], topk);
    r.register(d, "ArgMax", &[1, 11, 12, 13], |c| arg(c, TopKMode::Max));
    r.register(d, "ArgMin", &[1, 11, 12, 13], |c| arg(c, TopKMode::Min));
    r.register(d, "GatherElements", &[11, 13], gather_elements);
    r.register(d, "GatherND", &[11, 12, 13], gather_nd);
    r.register(d, "ScatterElements", &[11, 13, 16, 18], scatter_elements);
    r.register(d, "Scatter", &[9, 11], scatter_elements);
    r.register(d, "ScatterND", &[11, 13, 16, 18], scatter_nd);
    r.register(d, "NonZero", &[9, 13], non_zero);
    r.register(d, "OneHot", &[9, 11], one_hot);
    r.register(d, "Compress", &[9, 11, 28], compress);
    r.register(d, "Unique", &[11, 28], unique);
}

/// A scalar version of a one-element input: reshaped constant, else Squeeze.
fn as_scalar(c: &mut NodeContext<'_>, i: usize) -> Result<OutputRef, FrontendError> {
    let x = c.input(i)?;
    if let Some(t) = c.const_input(i) {
        if t.numel() != 1 {
            return Err(c.error(format!("input {i} must hold one value, got shape {:?}", t.shape())));
        }
        let s = t.reshaped(vec![]).map_err(|e| c.error(e.to_string()))?;
        return c.constant(s);
    }
    if c.shape(x).rank() == Some(0) {
        return Ok(x);
    }
    let target = c.const_i64(&[0], vec![])?;
    c.add(ops::Reshape { special_zero: false }, &[x, target])
}

fn topk(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let k = if c.opset() < 10 {
        let k = c.attr_int_req("k")?;
        c.const_i64(&[], vec![k])?
    } else {
        as_scalar(c, 1)?
    };
    let axis = c.attr_int("axis", -1)?;
    let largest = c.opset() < 11 || c.attr_int("largest", 1)? != 0;
    let sorted = c.opset() < 11 || c.attr_int("sorted", 1)? != 0;
    let id = c.add_node(
        ops::TopK11 {
            axis,
            mode: if largest { TopKMode::Max } else { TopKMode::Min },
            sort: if sorted { TopKSort::Value } else { TopKSort::None },
            index_element_type: ElementType::I64,
            // OpenVINO allows a stable TopK only when it sorts.
            stable: sorted,
        },
        &[x, k],
    )?;
    Ok(vec![OutputRef::new(id, 0), OutputRef::new(id, 1)])
}

/// ArgMax/ArgMin: TopK with k = 1, sorted by value and stable so ties give the first index (a
/// stable TopK must sort in OpenVINO). `select_last_index = 1` runs it on the input reversed
/// along the axis and maps the index back with `dim - 1 - index`.
fn arg(c: &mut NodeContext<'_>, mode: TopKMode) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", 0)?;
    let keepdims = c.attr_int("keepdims", 1)? != 0;
    let last = c.attr_int("select_last_index", 0)? != 0;
    let input = if last {
        let start = c.const_vec(&[-1])?;
        let stop = c.const_vec(&[i64::MIN])?;
        let step = c.const_vec(&[-1])?;
        let axes = c.const_vec(&[axis])?;
        c.add(ops::Slice {}, &[x, start, stop, step, axes])?
    } else {
        x
    };
    let k = c.const_i64(&[], vec![1])?;
    let id = c.add_node(
        ops::TopK11 { axis, mode, sort: TopKSort::Value, index_element_type: ElementType::I64, stable: true },
        &[input, k],
    )?;
    let mut idx = OutputRef::new(id, 1);
    if last {
        let rank = c.static_rank(x, "select_last_index = 1")? as i64;
        let ax = if axis < 0 { axis + rank } else { axis };
        let dim = match c.shape(x).dims().and_then(|d| d.get(ax as usize).and_then(|d| d.get())) {
            Some(n) => c.const_i64(&[], vec![n as i64 - 1])?,
            None => {
                let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
                let i = c.const_i64(&[], vec![ax])?;
                let zero = c.const_i64(&[], vec![0])?;
                let n = c.add(ops::Gather { batch_dims: 0 }, &[s, i, zero])?;
                let one = c.const_i64(&[], vec![1])?;
                c.add(ops::Subtract::default(), &[n, one])?
            }
        };
        idx = c.add(ops::Subtract::default(), &[dim, idx])?;
    }
    if keepdims {
        return Ok(vec![idx]);
    }
    let axes = c.const_vec(&[axis])?;
    Ok(vec![c.add(ops::Squeeze {}, &[idx, axes])?])
}

fn gather_elements(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let axis = c.attr_int("axis", 0)?;
    Ok(vec![c.add(ops::GatherElements { axis }, &[x, idx])?])
}

fn gather_nd(c: &mut NodeContext<'_>) -> R {
    let (x, idx) = (c.input(0)?, c.input(1)?);
    let b = c.attr_int("batch_dims", 0)?;
    let batch_dims = u64::try_from(b).map_err(|_| c.error(format!("batch_dims must be >= 0, got {b}")))?;
    Ok(vec![c.add(ops::GatherND { batch_dims }, &[x, idx])?])
}

fn scatter_elements(c: &mut NodeContext<'_>) -> R {
    let (x, idx, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let axis = c.attr_int("axis", 0)?;
    let reduction = match c.attr_string("reduction", "none")?.as_str() {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Sum,
        "mul" => ScatterReduction::Prod,
        "min" => ScatterReduction::Min,
        "max" => ScatterReduction::Max,
        other => return Err(c.error(format!("unknown reduction '{other}'"))),
    };
    let axis = c.const_i64(&[], vec![axis])?;
    Ok(vec![c.add(ops::ScatterElementsUpdate { reduction, use_init_val: true }, &[x, idx, upd, axis])?])
}

fn scatter_nd(c: &mut NodeContext<'_>) -> R {
    let (x, idx, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let reduction = match c.attr_string("reduction", "none")?.as_str() {
        "none" => return Ok(vec![c.add(ops::ScatterNDUpdate {}, &[x, idx, upd])?]),
        "add" => ScatterNDReduction::Sum,
        "mul" => ScatterNDReduction::Prod,
        "min" => ScatterNDReduction::Min,
        "max" => ScatterNDReduction::Max,
        other => return Err(c.error(format!("unknown reduction '{other}'"))),
    };
    Ok(vec![c.add(ops::ScatterNDUpdate15 { reduction }, &[x, idx, upd])?])
}

fn non_zero(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    Ok(vec![c.add(ops::NonZero { output_type: ElementType::I64 }, &[x])?])
}

fn one_hot(c: &mut NodeContext<'_>) -> R {
    let indices = c.input(0)?;
    let values = c.input(2)?;
    let axis = c.attr_int("axis", -1)?;
    // Depth as an i64 scalar.
    let depth = match c.const_input(1) {
        Some(t) => {
            let v = t.to_f64_vec().map_err(|e| c.error(format!("depth: {e}")))?;
            let [d] = v.as_slice() else {
                return Err(c.error(format!("depth must hold one value, got {}", v.len())));
            };
            c.const_i64(&[], vec![*d as i64])?
        }
        None => {
            let d = as_scalar(c, 1)?;
            if c.element_type(d) == ElementType::I64 {
                d
            } else {
                c.add(ops::Convert { destination_type: ElementType::I64 }, &[d])?
            }
        }
    };
    // ONNX counts negative indices in [-depth, -1] from the end; anything else out of range
    // gives a row of `off` (as OneHot-1 does): add depth to the negative ones only.
    let idx = if c.element_type(indices) == ElementType::I64 {
        indices
    } else {
        c.add(ops::Convert { destination_type: ElementType::I64 }, &[indices])?
    };
    let zero = c.const_i64(&[], vec![0])?;
    let negative = c.add(ops::Less::default(), &[idx, zero])?;
    let wrapped = c.add(ops::Add::default(), &[idx, depth])?;
    let idx = c.add(ops::Select::default(), &[negative, wrapped, idx])?;
    // values = [off, on].
    let zero_axis = c.const_i64(&[], vec![0])?;
    let off_i = c.const_i64(&[], vec![0])?;
    let on_i = c.const_i64(&[], vec![1])?;
    let off = c.add(ops::Gather { batch_dims: 0 }, &[values, off_i, zero_axis])?;
    let on = c.add(ops::Gather { batch_dims: 0 }, &[values, on_i, zero_axis])?;
    Ok(vec![c.add(ops::OneHot { axis }, &[idx, depth, on, off])?])
}

/// Compress, as OpenVINO's frontend builds it: the positions of the true conditions
/// (NonZero, flattened to [n]) gather along the axis, or from the flattened input without one.
/// A condition shorter than the axis selects among its first elements only.
fn compress(c: &mut NodeContext<'_>) -> R {
    let (x, cond) = (c.input(0)?, c.input(1)?);
    let flat = c.const_vec(&[-1])?;
    let nz = c.add(ops::NonZero { output_type: ElementType::I64 }, &[cond])?;
    let idx = c.add(ops::Reshape { special_zero: false }, &[nz, flat])?;
    let (data, axis) = match c.attr_int_opt("axis")? {
        Some(a) => {
            let rank = c.static_rank(x, "Compress with an axis")? as i64;
            if !(-rank..rank).contains(&a) {
                return Err(c.error(format!("axis {a} is out of range for rank {rank}")));
            }
            (x, if a < 0 { a + rank } else { a })
        }
        None => (c.add(ops::Reshape { special_zero: false }, &[x, flat])?, 0),
    };
    let axis = c.const_i64(&[], vec![axis])?;
    Ok(vec![c.add(ops::Gather { batch_dims: 0 }, &[data, idx, axis])?])
}

/// Unique: OpenVINO's Unique-10 has ONNX's four outputs in the same order and meaning (unique
/// values or slices, first-occurrence indices, inverse indices, counts), all indices i64.
fn unique(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let sorted = c.attr_int("sorted", 1)? != 0;
    let mut inputs = vec![x];
    if let Some(a) = c.attr_int_opt("axis")? {
        inputs.push(c.const_i64(&[], vec![a])?);
    }
    let op = ops::Unique { sorted, index_element_type: ElementType::I64, count_element_type: ElementType::I64 };
    let id = c.add_node(op, &inputs)?;
    Ok((0..4).map(|i| OutputRef::new(id, i)).collect())
}

#[cfg(test)]
mod compress_unique_tests {
    use ir_graph::{ElementType, Op, OutputRef, PartialShape};

    use crate::test_support::*;

    #[test]
    fn compress_gathers_the_true_positions() {
        let run = |axis: Option<i64>| {
            let attrs = axis.map(|a| vec![("axis", A::I(a))]).unwrap_or_default();
            let b = Builder::new(11)
                .init(f32_typed("x", &[2, 3], &[1., 2., 3., 4., 5., 6.]))
                .node(node("Constant", &[], &["c"], vec![("value_ints", A::Is(vec![0, 1]))]))
                .node(node("Cast", &["c"], &["cb"], vec![("to", A::I(BOOL as i64))]))
                .node(node("Compress", &["x", "cb"], &["y"], attrs))
                .output("y");
            let dir = tempfile::tempdir().expect("tempdir");
            let m = crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert");
            let Op::Constant(c) = result_producer(&m) else { panic!("not folded: {:?}", op_counts(&m)) };
            (c.value.shape().to_vec(), c.value.values::<f32>().expect("f32").into_owned())
        };
        assert_eq!(run(None), (vec![1], vec![2.0]));
        assert_eq!(run(Some(-1)), (vec![2, 1], vec![2.0, 5.0]));
        assert_eq!(run(Some(0)), (vec![1, 3], vec![4.0, 5.0, 6.0]));
    }

    #[test]
    fn unique_has_four_i64_outputs() {
        let b = Builder::new(11)
            .input(vi("x", F32, &[2, 4]))
            .node(node("Unique", &["x"], &["y", "i", "inv", "n"], vec![("axis", A::I(-1)), ("sorted", A::I(0))]))
            .output("y")
            .output("i")
            .output("inv")
            .output("n");
        let m = b.read_ok();
        let Op::Unique(u) = result_producer(&m) else { panic!("{:?}", op_counts(&m)) };
        assert!(!u.sorted);
        let id = m.node(m.results()[0]).expect("r").inputs[0].node;
        let port = |i| m.port(OutputRef::new(id, i)).expect("port").clone();
        assert_eq!(port(0).shape.to_string(), "[2,1..4]");
        assert_eq!((port(2).element_type, port(2).shape.clone()), (ElementType::I64, PartialShape::fixed(&[4])));
        assert_eq!(port(3).element_type, ElementType::I64);
    }
}
