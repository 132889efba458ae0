//! Sequences. IR has no sequence type, so a sequence is resolved at conversion time: it is a
//! list of tensor values whose length is known here, and sequence ops rearrange that list.
//!
//! Positions may be runtime values. The elements must then share one shape: they are stacked
//! (Unsqueeze + Concat) and picked with Gather at a normalized index; Insert and Erase at a
//! runtime position keep a known length and pick every resulting element from the stack.

use ir_graph::{Dim, ElementType, OutputRef, PartialShape, ops};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type O = Result<OutputRef, FrontendError>;

/// Why a sequence cannot be a model input or output.
pub(crate) const INTERFACE_MESSAGE: &str = "IR has no sequence type, so a sequence cannot be a model input or \
     output (sequences are supported inside the model, where their length is known at conversion time)";

/// A sequence value: its elements, each a tensor of the translated graph.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// The elements, in order.
    pub elements: Vec<OutputRef>,
    /// The element type (as declared for an empty sequence, else that of the elements).
    pub elem_type: ElementType,
}

/// Ops whose inputs may be sequences (others reject a sequence input by name).
pub(crate) fn reads_sequences(domain: &str, op: &str) -> bool {
    domain == super::DEFAULT_DOMAIN
        && matches!(
            op,
            "SequenceInsert"
                | "SequenceAt"
                | "SequenceErase"
                | "SequenceLength"
                | "ConcatFromSequence"
                | "SequenceMap"
                | "Identity"
                | "Optional"
                | "OptionalGetElement"
                | "OptionalHasElement"
                | "Loop"
        )
}

pub(super) fn register(r: &mut Registry) {
    r.register("", "SequenceEmpty", &[11], empty);
    r.register("", "SequenceConstruct", &[11], construct);
    r.register("", "SequenceInsert", &[11], insert);
    r.register("", "SequenceAt", &[11], at);
    r.register("", "SequenceErase", &[11], erase);
    r.register("", "SequenceLength", &[11], length);
    r.register("", "SplitToSequence", &[11, 24], split_to_sequence);
    r.register("", "ConcatFromSequence", &[11], concat_from_sequence);
    r.register("", "SequenceMap", &[17], sequence_map);
}

/// Identity (and optional wrapping) of a sequence or a tensor.
pub(super) fn identity(c: &mut NodeContext<'_>) -> R {
    match c.opt_sequence_input(0) {
        Some(s) => {
            c.set_sequence_output(0, s);
            Ok(vec![])
        }
        None => Ok(vec![c.input(0)?]),
    }
}

fn output(c: &mut NodeContext<'_>, elements: Vec<OutputRef>, elem_type: ElementType) -> R {
    c.set_sequence_output(0, Sequence { elements, elem_type });
    Ok(vec![])
}

fn empty(c: &mut NodeContext<'_>) -> R {
    let dtype = c.attr_int("dtype", 1)?;
    let et = i32::try_from(dtype)
        .map_err(|_| format!("unknown ONNX data type {dtype}"))
        .and_then(crate::load::element_type)
        .map_err(|m| c.error(m))?;
    output(c, vec![], et)
}

fn construct(c: &mut NodeContext<'_>) -> R {
    let elements: Vec<OutputRef> = (0..c.input_count()).map(|i| c.input(i)).collect::<Result<_, _>>()?;
    let first = elements.first().ok_or_else(|| c.error("needs at least one input"))?;
    let et = c.element_type(*first);
    if let Some(other) = elements.iter().map(|&e| c.element_type(e)).find(|&t| !same_type(t, et)) {
        return Err(c.error(format!("inputs have different element types ({et} and {other})")));
    }
    output(c, elements, et)
}

fn same_type(a: ElementType, b: ElementType) -> bool {
    a == b || a == ElementType::Dynamic || b == ElementType::Dynamic
}

/// A constant position input as an integer (`None` when absent or computed at run time).
fn const_position(c: &NodeContext<'_>, i: usize) -> Result<Option<i64>, FrontendError> {
    let Some(t) = c.const_input(i) else { return Ok(None) };
    let v = t.to_i64_vec().map_err(|e| c.error(e.to_string()))?;
    match v.as_slice() {
        [p] => Ok(Some(*p)),
        _ => Err(c.error(format!("the position must be a single value, got {} values", v.len()))),
    }
}

/// `p` normalized into `0..=max` where negative positions count from `len`.
fn normalize(c: &NodeContext<'_>, p: i64, len: usize, max: usize) -> Result<usize, FrontendError> {
    let q = if p < 0 { p + len as i64 } else { p };
    usize::try_from(q)
        .ok()
        .filter(|&q| q <= max)
        .ok_or_else(|| c.error(format!("position {p} is out of range for a sequence of length {len}")))
}

fn insert(c: &mut NodeContext<'_>) -> R {
    let seq = c.sequence_input(0)?;
    let t = c.input(1)?;
    let t_type = c.element_type(t);
    if !same_type(t_type, seq.elem_type) {
        return Err(c.error(format!("inserting a {t_type} tensor into a sequence of {}", seq.elem_type)));
    }
    let n = seq.elements.len();
    let et = if seq.elem_type == ElementType::Dynamic { t_type } else { seq.elem_type };
    let mut elements = seq.elements.clone();
    match (c.opt_input(2), const_position(c, 2)?) {
        (None, _) => elements.push(t),
        (Some(_), Some(p)) => elements.insert(normalize(c, p, n, n)?, t),
        // Only position 0 fits an empty sequence.
        (Some(_), None) if n == 0 => elements.push(t),
        (Some(pos), None) => elements = runtime_insert(c, &seq, t, pos)?,
    }
    output(c, elements, et)
}

fn at(c: &mut NodeContext<'_>) -> R {
    let seq = c.sequence_input(0)?;
    let n = seq.elements.len();
    if n == 0 {
        return Err(c.error("reads from an empty sequence"));
    }
    match const_position(c, 1)? {
        Some(p) => Ok(vec![seq.elements[normalize(c, p, n, n - 1)?]]),
        None => {
            let pos = c.input(1)?;
            let stack = stack(c, &seq.elements)?;
            let idx = runtime_index(c, pos, n)?;
            Ok(vec![gather(c, stack, idx)?])
        }
    }
}

fn erase(c: &mut NodeContext<'_>) -> R {
    let seq = c.sequence_input(0)?;
    let n = seq.elements.len();
    if n == 0 {
        return Err(c.error("erases from an empty sequence"));
    }
    let mut elements = seq.elements.clone();
    match (c.opt_input(1), const_position(c, 1)?) {
        (None, _) => {
            elements.pop();
        }
        (Some(_), Some(p)) => {
            elements.remove(normalize(c, p, n, n - 1)?);
        }
        (Some(_), None) if n == 1 => elements.clear(),
        (Some(pos), None) => elements = runtime_erase(c, &seq, pos)?,
    }
    output(c, elements, seq.elem_type)
}

fn length(c: &mut NodeContext<'_>) -> R {
    let seq = c.sequence_input(0)?;
    Ok(vec![c.const_i64(&[], vec![seq.elements.len() as i64])?])
}

/// The error for a sequence whose length only the data decides.
fn runtime_length(c: &NodeContext<'_>, why: &str) -> FrontendError {
    c.error(format!(
        "the length of the resulting sequence depends on {why}, known only at run time: IR has no sequence \
         type, so only sequences of a length known at conversion time can be expressed"
    ))
}

fn split_to_sequence(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let rank = c.static_rank(x, "SplitToSequence")?;
    let axis = ops::normalize_axis(c.attr_int("axis", 0)?, rank).map_err(|e| c.error(e.to_string()))?;
    let dim = c.shape(x).dims().and_then(|d| d.get(axis).copied()).and_then(|d| d.get());
    let axis_c = c.const_i64(&[], vec![axis as i64])?;
    let Some(split) = c.opt_input(1) else {
        // One element per index along the axis.
        let d = dim.ok_or_else(|| runtime_length(c, &format!("the size of axis {axis} of the input")))?;
        if d == 0 {
            return output(c, vec![], et);
        }
        let id = c.add_node(ops::Split { num_splits: d }, &[x, axis_c])?;
        let keepdims = c.attr_int("keepdims", 1)? != 0;
        let mut elements = Vec::with_capacity(d as usize);
        for k in 0..d as u32 {
            let part = OutputRef::new(id, k);
            elements.push(if keepdims {
                part
            } else {
                let a = c.const_vec(&[axis as i64])?;
                c.add(ops::Squeeze {}, &[part, a])?
            });
        }
        return output(c, elements, et);
    };
    let lengths = match c.shape(split).rank() {
        Some(0) => {
            // Equal chunks of the given size, the last one smaller.
            let size = const_position(c, 1)?.ok_or_else(|| runtime_length(c, "the value of the 'split' input"))?;
            let d = dim.ok_or_else(|| runtime_length(c, &format!("the size of axis {axis} of the input")))?;
            let size =
                u64::try_from(size).ok().filter(|&s| s > 0).ok_or_else(|| c.error("'split' must be positive"))?;
            let lens: Vec<i64> = (0..d.div_ceil(size)).map(|i| size.min(d - i * size) as i64).collect();
            if lens.is_empty() {
                return output(c, vec![], et);
            }
            c.const_vec(&lens)?
        }
        Some(1) => {
            let n = c.shape(split).dims().and_then(|d| d[0].get());
            if n.is_none() {
                return Err(runtime_length(c, "the number of values of the 'split' input"));
            }
            super::signal::to_i64(c, split)?
        }
        _ => return Err(c.error("'split' must be a scalar or a 1-D tensor of static length")),
    };
    let id = c.add_node(ops::VariadicSplit {}, &[x, axis_c, lengths])?;
    let count = c.model().node(id).map(|n| n.outputs.len()).unwrap_or(0);
    let elements = (0..count as u32).map(|k| OutputRef::new(id, k)).collect();
    output(c, elements, et)
}

fn concat_from_sequence(c: &mut NodeContext<'_>) -> R {
    let seq = c.sequence_input(0)?;
    let axis = c.attr_int_req("axis")?;
    let new_axis = c.attr_int("new_axis", 0)? != 0;
    let first = *seq.elements.first().ok_or_else(|| c.error("concatenates an empty sequence"))?;
    if !new_axis {
        return Ok(vec![c.add(ops::Concat { axis }, &seq.elements)?]);
    }
    let rank = c.static_rank(first, "ConcatFromSequence with new_axis")?;
    let axis = ops::normalize_axis(axis, rank + 1).map_err(|e| c.error(e.to_string()))? as i64;
    let a = c.const_vec(&[axis])?;
    let parts: Vec<OutputRef> =
        seq.elements.iter().map(|&e| c.add(ops::Unsqueeze {}, &[e, a])).collect::<Result<_, _>>()?;
    Ok(vec![c.add(ops::Concat { axis }, &parts)?])
}

/// SequenceMap: the body is translated for each position (elements may differ in shape) and
/// its nodes are copied into the graph, fed that position's elements and the tensor inputs.
fn sequence_map(c: &mut NodeContext<'_>) -> R {
    let len = c.sequence_input(0)?.elements.len();
    let mut per_input = Vec::with_capacity(c.input_count());
    for k in 0..c.input_count() {
        match c.opt_sequence_input(k) {
            Some(s) if s.elements.len() != len => {
                return Err(
                    c.error(format!("input {k} is a sequence of {} elements, input 0 one of {len}", s.elements.len()))
                );
            }
            Some(s) => per_input.push(Err(s)),
            None => per_input.push(Ok(c.input(k)?)),
        }
    }
    let n_out = c.output_count();
    let mut outputs: Vec<Vec<OutputRef>> = vec![Vec::with_capacity(len); n_out];
    for i in 0..len {
        let args: Vec<OutputRef> =
            per_input.iter().map(|v| v.as_ref().map_or_else(|s| s.elements[i], |t| *t)).collect();
        let formal: Vec<_> = args.iter().map(|&a| Some((c.element_type(a), c.shape(a)))).collect();
        let (body, outer, layout) = c.body_with_sequences("body", &formal)?;
        if layout.iter().any(Option::is_some) {
            return Err(c.error("the body returns a sequence; SequenceMap bodies return tensors"));
        }
        if layout.len() != n_out {
            return Err(c.error(format!("the body has {} outputs, the node {n_out}", layout.len())));
        }
        let mut fed = args;
        fed.extend(outer);
        let results = super::control::inline_body(c, &body, &fed)?;
        for (out, r) in outputs.iter_mut().zip(results) {
            out.push(r);
        }
    }
    for (k, elements) in outputs.into_iter().enumerate() {
        let elem_type = elements.first().map_or(ElementType::Dynamic, |&e| c.element_type(e));
        c.set_sequence_output(k, Sequence { elements, elem_type });
    }
    Ok(vec![])
}

// ----- runtime positions -----

/// The one shape every element has, as far as shapes are known here: ranks must agree and
/// static dims must match (dynamic dims are checked by the stacking Concat at run time).
fn common_shape(c: &NodeContext<'_>, elements: &[OutputRef]) -> Result<(), FrontendError> {
    let mut acc: Option<Vec<Dim>> = None;
    for &e in elements {
        let PartialShape::Ranked(d) = c.shape(e) else {
            return Err(c.error("a runtime position needs sequence elements of known rank"));
        };
        match &acc {
            None => acc = Some(d),
            Some(a) => {
                let fits = a.len() == d.len()
                    && a.iter().zip(&d).all(|(p, q)| p.get().zip(q.get()).is_none_or(|(p, q)| p == q));
                if !fits {
                    return Err(c.error(format!(
                        "a runtime position needs sequence elements of one shape, got {} and {}",
                        PartialShape::Ranked(a.clone()),
                        PartialShape::Ranked(d)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The elements stacked along a new axis 0.
fn stack(c: &mut NodeContext<'_>, elements: &[OutputRef]) -> O {
    common_shape(c, elements)?;
    let zero = c.const_vec(&[0])?;
    let parts: Vec<OutputRef> =
        elements.iter().map(|&e| c.add(ops::Unsqueeze {}, &[e, zero])).collect::<Result<_, _>>()?;
    c.add(ops::Concat { axis: 0 }, &parts)
}

/// A runtime position as an i64 scalar in `0..len` (negative positions count from `len`).
fn runtime_index(c: &mut NodeContext<'_>, pos: OutputRef, len: usize) -> O {
    let p = super::signal::to_i64(c, pos)?;
    let p = if c.shape(p).rank() == Some(0) {
        p
    } else {
        let scalar = c.const_i64(&[0], vec![])?;
        c.add(ops::Reshape { special_zero: false }, &[p, scalar])?
    };
    let zero = c.const_i64(&[], vec![0])?;
    let n = c.const_i64(&[], vec![len as i64])?;
    let negative = c.add(ops::Less::default(), &[p, zero])?;
    let wrapped = c.add(ops::Add::default(), &[p, n])?;
    c.add(ops::Select::default(), &[negative, wrapped, p])
}

fn gather(c: &mut NodeContext<'_>, data: OutputRef, idx: OutputRef) -> O {
    let axis = c.const_i64(&[], vec![0])?;
    c.add(ops::Gather { batch_dims: 0 }, &[data, idx, axis])
}

/// Every element of a stack, picked with a constant index.
fn unstack(c: &mut NodeContext<'_>, stack: OutputRef, len: usize) -> Result<Vec<OutputRef>, FrontendError> {
    (0..len)
        .map(|k| {
            let idx = c.const_i64(&[], vec![k as i64])?;
            gather(c, stack, idx)
        })
        .collect()
}

/// Inserts `t` at runtime position `pos`: with `q` the normalized position, element `j` of the
/// result is old element `j` before `q`, `t` at `q` and old element `j - 1` after it.
fn runtime_insert(
    c: &mut NodeContext<'_>,
    seq: &Sequence,
    t: OutputRef,
    pos: OutputRef,
) -> Result<Vec<OutputRef>, FrontendError> {
    let n = seq.elements.len();
    let mut all = seq.elements.clone();
    all.push(t);
    let stacked = stack(c, &all)?;
    // Insert accepts positions up to `n` (append), so `n + 1` candidates.
    let q = runtime_index(c, pos, n)?;
    let j = c.const_vec(&(0..=n as i64).collect::<Vec<_>>())?;
    let before = c.const_vec(&(-1..n as i64).collect::<Vec<_>>())?;
    let last = c.const_i64(&[], vec![n as i64])?;
    let is_before = c.add(ops::Less::default(), &[j, q])?;
    let is_at = c.add(ops::Equal::default(), &[j, q])?;
    let after = c.add(ops::Select::default(), &[is_at, last, before])?;
    let idx = c.add(ops::Select::default(), &[is_before, j, after])?;
    let picked = gather(c, stacked, idx)?;
    unstack(c, picked, n + 1)
}

/// Erases the element at runtime position `pos`: element `j` of the result is old element `j`
/// before the normalized position and `j + 1` from it on.
fn runtime_erase(c: &mut NodeContext<'_>, seq: &Sequence, pos: OutputRef) -> Result<Vec<OutputRef>, FrontendError> {
    let n = seq.elements.len();
    let stacked = stack(c, &seq.elements)?;
    let q = runtime_index(c, pos, n)?;
    let j = c.const_vec(&(0..n as i64 - 1).collect::<Vec<_>>())?;
    let next = c.const_vec(&(1..n as i64).collect::<Vec<_>>())?;
    let is_before = c.add(ops::Less::default(), &[j, q])?;
    let idx = c.add(ops::Select::default(), &[is_before, j, next])?;
    let picked = gather(c, stacked, idx)?;
    unstack(c, picked, n - 1)
}
