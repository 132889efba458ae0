//! Sub-graph ops: `If` (opset8), `Loop` (opset5) and `TensorIterator` (opset1).
//!
//! Each holds its bodies as shared [`Model`]s and OpenVINO's port descriptions: which outer
//! input feeds which body Parameter (whole, sliced along an axis, or merged with a back edge
//! from a body Result), and which body Result feeds which outer output (the last iteration's
//! value, or every iteration's value concatenated along an axis). Indices are positions in
//! the body's parameter / result lists; the IR writer maps them to layer ids.
//!
//! Evaluation runs the bodies with the reference evaluator ([`crate::eval::graph::run_model`]).
//! Nesting is bounded by [`MAX_BODY_DEPTH`]: readers refuse deeper bodies, so evaluation and
//! inference cannot recurse without bound.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType};
use crate::element::ElementType;
use crate::error::Result;
use crate::eval::graph::run_model;
use crate::invalid;
use crate::model::{Model, NodeId};
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Deepest nesting of bodies inside bodies that readers and frontends accept.
pub const MAX_BODY_DEPTH: usize = 16;

/// Most iterations a Loop without a trip count may run in the reference evaluator.
pub const MAX_LOOP_ITERATIONS: u64 = 1 << 24;

/// A sub-graph shared between copies of its op.
#[derive(Debug, Clone, Default)]
pub struct Body(pub Arc<Model>);

impl Body {
    /// Wraps a model.
    pub fn new(m: Model) -> Body {
        Body(Arc::new(m))
    }

    /// Type and shape of body Parameter `k`.
    pub fn param_type(&self, k: usize) -> Result<OutputType> {
        let id = *self.0.parameters().get(k).ok_or_else(|| invalid!("the body has no parameter {k}"))?;
        let p = self.0.port(id.into())?;
        Ok(OutputType::new(p.element_type, p.shape.clone()))
    }

    /// Type and shape of the value body Result `k` exposes.
    pub fn result_type(&self, k: usize) -> Result<OutputType> {
        let id = *self.0.results().get(k).ok_or_else(|| invalid!("the body has no result {k}"))?;
        let p = self.0.port(id.into())?;
        Ok(OutputType::new(p.element_type, p.shape.clone()))
    }

    /// The producer of body Result `k` when it is a Const, with its value.
    pub fn result_const(&self, k: usize) -> Option<&Tensor> {
        let id: NodeId = *self.0.results().get(k)?;
        let src = *self.0.node(id).ok()?.inputs.first()?;
        self.0.const_value(src)
    }

    /// Nesting depth of bodies inside this one (0 when it has no sub-graph ops).
    pub fn depth(&self) -> usize {
        self.0.body_depth()
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How an outer input reaches a body Parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum InputDesc {
    /// The same value on every iteration.
    Invariant {
        /// Outer input index.
        input: usize,
        /// Body parameter index.
        param: usize,
    },
    /// One part along `axis` per iteration.
    Sliced {
        /// Outer input index.
        input: usize,
        /// Body parameter index.
        param: usize,
        /// Slice attributes as in IR.
        slice: SliceAttrs,
    },
    /// The initial value; later iterations get body Result `result` of the previous one.
    Merged {
        /// Outer input index.
        input: usize,
        /// Body parameter index.
        param: usize,
        /// Body result index of the back edge.
        result: usize,
    },
}

impl InputDesc {
    /// The outer input index.
    pub fn input(&self) -> usize {
        match *self {
            InputDesc::Invariant { input, .. } | InputDesc::Sliced { input, .. } | InputDesc::Merged { input, .. } => {
                input
            }
        }
    }
    /// The body parameter index.
    pub fn param(&self) -> usize {
        match *self {
            InputDesc::Invariant { param, .. } | InputDesc::Sliced { param, .. } | InputDesc::Merged { param, .. } => {
                param
            }
        }
    }
}

/// `axis start stride part_size end` of a sliced input or concatenated output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceAttrs {
    /// Axis.
    pub axis: i64,
    /// First position (negative counts from the end).
    pub start: i64,
    /// Step between iterations.
    pub stride: i64,
    /// Size of one part along the axis.
    pub part_size: i64,
    /// Last position (`-1` is the last element).
    pub end: i64,
}

impl SliceAttrs {
    /// Whole axis forward, one element per iteration.
    pub fn forward(axis: i64) -> SliceAttrs {
        SliceAttrs { axis, start: 0, stride: 1, part_size: 1, end: -1 }
    }
    /// Whole axis backward, one element per iteration.
    pub fn backward(axis: i64) -> SliceAttrs {
        SliceAttrs { axis, start: -1, stride: -1, part_size: 1, end: 0 }
    }

    fn norm(&self, len: i64) -> (i64, i64) {
        let s = if self.start < 0 { self.start + len } else { self.start };
        let e = if self.end < 0 { self.end + len } else { self.end };
        (s, e)
    }

    /// Iterations over an axis of `len` elements.
    pub fn iterations(&self, len: u64) -> Result<u64> {
        if self.part_size <= 0 || self.stride == 0 {
            return Err(invalid!(
                "slice part_size {} / stride {} must be positive / non-zero",
                self.part_size,
                self.stride
            ));
        }
        if len == 0 {
            return Ok(0);
        }
        let (s, e) = self.norm(len as i64);
        Ok(((e - s).unsigned_abs() + 1) / self.part_size as u64)
    }

    /// First element of the part iteration `i` reads (or writes), on an axis of `len`.
    pub fn offset(&self, i: u64, len: u64) -> Result<usize> {
        let (s, _) = self.norm(len as i64);
        let pos = if self.stride > 0 {
            s + i as i64 * self.stride
        } else {
            s + i as i64 * self.stride - (self.part_size - 1)
        };
        if pos < 0 || pos + self.part_size > len as i64 {
            return Err(invalid!("iteration {i} slices outside an axis of {len}"));
        }
        Ok(pos as usize)
    }
}

/// How a body Result reaches an outer output.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputDesc {
    /// The value of the last iteration.
    Last {
        /// Body result index.
        result: usize,
        /// Outer output index.
        output: usize,
    },
    /// Every iteration's value, concatenated along an axis.
    Concat {
        /// Body result index.
        result: usize,
        /// Outer output index.
        output: usize,
        /// Concatenation attributes as in IR.
        slice: SliceAttrs,
    },
}

impl OutputDesc {
    /// The outer output index.
    pub fn output(&self) -> usize {
        match *self {
            OutputDesc::Last { output, .. } | OutputDesc::Concat { output, .. } => output,
        }
    }
    /// The body result index.
    pub fn result(&self) -> usize {
        match *self {
            OutputDesc::Last { result, .. } | OutputDesc::Concat { result, .. } => result,
        }
    }
}

macro_rules! no_data_attrs {
    ($t:ident) => {
        impl Serialize for $t {
            /// Sub-graph ops have no `<data>`: bodies and port maps are written by the IR writer.
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                s.serialize_struct(stringify!($t), 0)?.end()
            }
        }
        impl<'de> Deserialize<'de> for $t {
            /// An op without bodies; the IR reader fills them in from `<body>` and `<port_map>`.
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
                Ok($t::default())
            }
        }
    };
}

/// `If`-8: runs `then_body` or `else_body` by a boolean scalar (or one-element) condition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct If {
    /// Body run when the condition is true.
    pub then_body: Body,
    /// Body run when the condition is false.
    pub else_body: Body,
    /// Outer input -> then-body parameter (input 0 is the condition and never listed).
    pub then_inputs: Vec<InputDesc>,
    /// Outer input -> else-body parameter.
    pub else_inputs: Vec<InputDesc>,
    /// Then-body result -> outer output.
    pub then_outputs: Vec<OutputDesc>,
    /// Else-body result -> outer output.
    pub else_outputs: Vec<OutputDesc>,
}
no_data_attrs!(If);

/// `Loop`-5: inputs 0 (trip count, `-1` = none) and 1 (execution condition), then data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Loop {
    /// The body.
    pub body: Body,
    /// Port descriptions of data inputs.
    pub inputs: Vec<InputDesc>,
    /// Port descriptions of outputs.
    pub outputs: Vec<OutputDesc>,
    /// Body parameter receiving the iteration number, if any.
    pub current_iteration: Option<usize>,
    /// Body result holding the condition for the next iteration.
    pub condition: usize,
}
no_data_attrs!(Loop);

/// `TensorIterator`-1: runs the body once per slice of its sliced inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorIterator {
    /// The body.
    pub body: Body,
    /// Port descriptions of inputs.
    pub inputs: Vec<InputDesc>,
    /// Port descriptions of outputs.
    pub outputs: Vec<OutputDesc>,
}
no_data_attrs!(TensorIterator);

fn check_inputs_against(
    body: &Body,
    descs: &[InputDesc],
    inputs: &[InferInput<'_>],
    what: &str,
    exempt: Option<usize>,
) -> Result<()> {
    let n_params = body.0.parameters().len();
    let mut seen = vec![false; n_params];
    if let Some(e) = exempt
        && let Some(s) = seen.get_mut(e)
    {
        *s = true;
    }
    for d in descs {
        let (i, p) = (d.input(), d.param());
        let inp = inputs.get(i).ok_or_else(|| invalid!("{what} port map names input {i}, which does not exist"))?;
        let s = seen.get_mut(p).ok_or_else(|| invalid!("{what} port map names body parameter {p} of {n_params}"))?;
        if *s {
            return Err(invalid!("{what} body parameter {p} is fed twice"));
        }
        *s = true;
        let pt = body.param_type(p)?;
        if pt.element_type != ElementType::Dynamic
            && inp.element_type != ElementType::Dynamic
            && !pt.element_type.compatible(inp.element_type)
        {
            return Err(invalid!(
                "{what} input {i} is {} but body parameter {p} expects {}",
                inp.element_type,
                pt.element_type
            ));
        }
        if let InputDesc::Merged { result, .. } = d
            && *result >= body.0.results().len()
        {
            return Err(invalid!("{what} back edge from body result {result} which does not exist"));
        }
    }
    if let Some(p) = seen.iter().position(|s| !s) {
        return Err(invalid!("{what} body parameter {p} has no input"));
    }
    Ok(())
}

fn output_count(descs: &[&[OutputDesc]], body_results: &[usize]) -> Result<usize> {
    let mut n = 0usize;
    for (ds, &nr) in descs.iter().zip(body_results) {
        for d in *ds {
            if d.result() >= nr {
                return Err(invalid!("an output maps body result {} of {nr}", d.result()));
            }
            n = n.max(d.output() + 1);
        }
    }
    Ok(n)
}

fn merge_type(a: Option<OutputType>, b: OutputType) -> OutputType {
    match a {
        None => b,
        Some(a) => {
            let et = if a.element_type == b.element_type { a.element_type } else { ElementType::Dynamic };
            let shape = match (&a.shape, &b.shape) {
                (PartialShape::Ranked(x), PartialShape::Ranked(y)) if x.len() == y.len() => {
                    PartialShape::Ranked(x.iter().zip(y).map(|(p, q)| if p == q { *p } else { Dim::DYNAMIC }).collect())
                }
                _ => PartialShape::DynamicRank,
            };
            OutputType::new(et, shape)
        }
    }
}

/// A scalar or one-element tensor as i64.
pub fn scalar_i64(t: &Tensor, what: &str) -> Result<i64> {
    let v = t.to_i64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(invalid!("{what} must hold one value, got shape {:?}", t.shape())),
    }
}

/// A scalar or one-element tensor as bool (any numeric type: non-zero is true).
pub fn scalar_bool(t: &Tensor, what: &str) -> Result<bool> {
    if t.numel() != 1 {
        return Err(invalid!("{what} must hold one value, got shape {:?}", t.shape()));
    }
    if t.element_type() == ElementType::Boolean {
        return Ok(t.raw().first().is_some_and(|&b| b != 0));
    }
    Ok(t.to_f64_vec()?.first().is_some_and(|&v| v != 0.0))
}

fn one_element(shape: &PartialShape) -> bool {
    match shape.dims() {
        None => true,
        Some(d) => d.iter().all(|d| d.contains(1)),
    }
}

impl OpSpec for If {
    const TYPE: &'static str = "If";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        let cond = inputs.first().ok_or_else(|| invalid!("If expects a condition input"))?;
        if !one_element(cond.shape) {
            return Err(invalid!("the condition must be a scalar or hold one element, got {}", cond.shape));
        }
        for d in self.then_inputs.iter().chain(&self.else_inputs) {
            if d.input() == 0 || !matches!(d, InputDesc::Invariant { .. }) {
                return Err(invalid!("If inputs must be invariant and not the condition"));
            }
        }
        check_inputs_against(&self.then_body, &self.then_inputs, inputs, "then", None)?;
        check_inputs_against(&self.else_body, &self.else_inputs, inputs, "else", None)?;
        let n = output_count(
            &[&self.then_outputs, &self.else_outputs],
            &[self.then_body.0.results().len(), self.else_body.0.results().len()],
        )?;
        let cond_value = cond.value.map(|v| scalar_bool(v, "the condition")).transpose()?;
        let mut out: Vec<Option<OutputType>> = vec![None; n];
        for (take, body, descs) in [
            (cond_value != Some(false), &self.then_body, &self.then_outputs),
            (cond_value != Some(true), &self.else_body, &self.else_outputs),
        ] {
            if !take {
                continue;
            }
            for d in descs {
                let t = body.result_type(d.result())?;
                out[d.output()] = Some(merge_type(out[d.output()].take(), t));
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(k, t)| t.ok_or_else(|| invalid!("output {k} is not produced by the taken branch")))
            .collect()
    }

    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let cond = scalar_bool(inputs.first().ok_or_else(|| invalid!("If expects a condition"))?, "the condition")?;
        let (body, ins, outs) = if cond {
            (&self.then_body, &self.then_inputs, &self.then_outputs)
        } else {
            (&self.else_body, &self.else_inputs, &self.else_outputs)
        };
        let mut params: Vec<Option<Tensor>> = vec![None; body.0.parameters().len()];
        for d in ins {
            let t = inputs.get(d.input()).ok_or_else(|| invalid!("If has no input {}", d.input()))?;
            *params.get_mut(d.param()).ok_or_else(|| invalid!("no body parameter {}", d.param()))? = Some(t.clone());
        }
        let params = params
            .into_iter()
            .enumerate()
            .map(|(k, t)| t.ok_or_else(|| invalid!("body parameter {k} has no input")))
            .collect::<Result<Vec<_>>>()?;
        let results = run_model(&body.0, &params)?;
        let n = outs.iter().map(|d| d.output() + 1).max().unwrap_or(0);
        let mut out: Vec<Option<Tensor>> = vec![None; n];
        for d in outs {
            out[d.output()] =
                Some(results.get(d.result()).cloned().ok_or_else(|| invalid!("no result {}", d.result()))?);
        }
        out.into_iter()
            .enumerate()
            .map(|(k, t)| t.ok_or_else(|| invalid!("output {k} is not produced by the taken branch")))
            .collect()
    }
}

/// Output types of a Loop / TensorIterator given its iteration count (when known).
fn iterating_outputs(body: &Body, outs: &[OutputDesc], iterations: Option<u64>) -> Result<Vec<OutputType>> {
    let n = output_count(&[outs], &[body.0.results().len()])?;
    let mut out: Vec<Option<OutputType>> = vec![None; n];
    for d in outs {
        let t = body.result_type(d.result())?;
        let t = match d {
            OutputDesc::Last { .. } => t,
            OutputDesc::Concat { slice, .. } => {
                let shape = match t.shape {
                    PartialShape::DynamicRank => PartialShape::DynamicRank,
                    PartialShape::Ranked(mut dims) => {
                        let ax = super::normalize_axis(slice.axis, dims.len())?;
                        dims[ax] = match (dims[ax].get(), iterations) {
                            (Some(part), Some(it)) => Dim::fixed(part.saturating_mul(it)),
                            _ => Dim::DYNAMIC,
                        };
                        PartialShape::Ranked(dims)
                    }
                };
                OutputType::new(t.element_type, shape)
            }
        };
        if out[d.output()].is_some() {
            return Err(invalid!("output {} is mapped twice", d.output()));
        }
        out[d.output()] = Some(t);
    }
    out.into_iter().enumerate().map(|(k, t)| t.ok_or_else(|| invalid!("output {k} has no body result"))).collect()
}

fn sliced_iterations(descs: &[InputDesc], inputs: &[InferInput<'_>]) -> Result<Option<u64>> {
    let mut n: Option<Option<u64>> = None;
    for d in descs {
        if let InputDesc::Sliced { input, slice, .. } = d {
            let len = inputs
                .get(*input)
                .and_then(|i| i.shape.dims())
                .map(|dims| super::normalize_axis(slice.axis, dims.len()).map(|ax| dims[ax].get()));
            let it = match len {
                Some(Ok(Some(l))) => Some(slice.iterations(l)?),
                Some(Err(e)) => return Err(e),
                _ => None,
            };
            n = Some(match (n, it) {
                (None, it) => it,
                (Some(Some(a)), Some(b)) if a != b => {
                    return Err(invalid!("sliced inputs give {a} and {b} iterations"));
                }
                (Some(a), b) => a.or(b),
            });
        }
    }
    Ok(n.flatten())
}

/// Runs an iterating body: Loop (with trip count and conditions) or TensorIterator.
struct Iteration<'a> {
    body: &'a Body,
    inputs: &'a [InputDesc],
    outputs: &'a [OutputDesc],
    current_iteration: Option<usize>,
    condition: Option<usize>,
}

impl Iteration<'_> {
    fn run(&self, outer: &[Tensor], trip: Option<u64>, mut cond: bool) -> Result<Vec<Tensor>> {
        let body = &self.body.0;
        let n_params = body.parameters().len();
        let mut params: Vec<Option<Tensor>> = vec![None; n_params];
        let get = |i: usize| outer.get(i).ok_or_else(|| invalid!("no input {i}"));
        // Iteration count from sliced inputs.
        let mut sliced_n: Option<u64> = None;
        for d in self.inputs {
            match d {
                InputDesc::Invariant { input, param } | InputDesc::Merged { input, param, .. } => {
                    *params.get_mut(*param).ok_or_else(|| invalid!("no body parameter {param}"))? =
                        Some(get(*input)?.clone());
                }
                InputDesc::Sliced { input, slice, .. } => {
                    let t = get(*input)?;
                    let ax = super::normalize_axis(slice.axis, t.shape().len())?;
                    let n = slice.iterations(t.shape()[ax] as u64)?;
                    sliced_n = Some(sliced_n.map_or(n, |m| m.min(n)));
                }
            }
        }
        let limit = match (trip, sliced_n) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => MAX_LOOP_ITERATIONS,
        };
        let n_results = body.results().len();
        let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); n_results];
        let concat: Vec<bool> = (0..n_results)
            .map(|r| self.outputs.iter().any(|d| matches!(d, OutputDesc::Concat { result, .. } if *result == r)))
            .collect();
        let mut last: Option<Vec<Tensor>> = None;
        let mut i = 0u64;
        while cond && i < limit {
            if let Some(p) = self.current_iteration {
                let et = body.port(body.parameters()[p].into())?.element_type;
                let t = match et {
                    ElementType::I32 => Tensor::scalar(i as i32),
                    _ => Tensor::scalar(i as i64),
                };
                params[p] = Some(t);
            }
            for d in self.inputs {
                if let InputDesc::Sliced { input, param, slice } = d {
                    let t = get(*input)?;
                    let ax = super::normalize_axis(slice.axis, t.shape().len())?;
                    let len = t.shape()[ax];
                    let off = slice.offset(i, len as u64)?;
                    let part = crate::eval::slicing::split(t, ax, &[off, slice.part_size as usize])?;
                    params[*param] = part.into_iter().nth(1);
                }
            }
            let ins = params
                .iter()
                .enumerate()
                .map(|(k, t)| t.clone().ok_or_else(|| invalid!("body parameter {k} has no input")))
                .collect::<Result<Vec<_>>>()?;
            let res = run_model(body, &ins)?;
            for d in self.inputs {
                if let InputDesc::Merged { param, result, .. } = d {
                    params[*param] = Some(res.get(*result).cloned().ok_or_else(|| invalid!("no result {result}"))?);
                }
            }
            for (r, c) in concat.iter().enumerate() {
                if *c {
                    parts[r].push(res[r].clone());
                }
            }
            if let Some(c) = self.condition {
                cond =
                    scalar_bool(res.get(c).ok_or_else(|| invalid!("no condition result {c}"))?, "the body condition")?;
            }
            last = Some(res);
            i += 1;
            if trip.is_none() && sliced_n.is_none() && i >= MAX_LOOP_ITERATIONS && cond {
                return Err(invalid!("the loop ran {MAX_LOOP_ITERATIONS} iterations without stopping"));
            }
        }
        let n_out = self.outputs.iter().map(|d| d.output() + 1).max().unwrap_or(0);
        let mut out: Vec<Option<Tensor>> = vec![None; n_out];
        for d in self.outputs {
            let t = match d {
                OutputDesc::Last { result, .. } => match &last {
                    Some(res) => res[*result].clone(),
                    None => {
                        // No iteration ran: a carried value keeps its initial value.
                        let merged = self.inputs.iter().find_map(|i| match i {
                            InputDesc::Merged { param, result: r, .. } if r == result => Some(*param),
                            _ => None,
                        });
                        match merged.and_then(|p| params[p].clone()) {
                            Some(t) => t,
                            None => empty_like(self.body, *result, None)?,
                        }
                    }
                },
                OutputDesc::Concat { result, slice, .. } => {
                    let ps = &parts[*result];
                    if ps.is_empty() {
                        empty_like(self.body, *result, Some(slice.axis))?
                    } else {
                        let ordered: Vec<Tensor> =
                            if slice.stride < 0 { ps.iter().rev().cloned().collect() } else { ps.clone() };
                        let rank = ordered[0].shape().len();
                        let ax = super::normalize_axis(slice.axis, rank)?;
                        let mut shape = ordered[0].shape().to_vec();
                        for p in &ordered[1..] {
                            if p.shape().len() != rank
                                || p.shape().iter().enumerate().any(|(k, &d)| k != ax && d != shape[k])
                            {
                                return Err(invalid!(
                                    "iterations produce parts of shapes {:?} and {:?}, which do not concatenate",
                                    ordered[0].shape(),
                                    p.shape()
                                ));
                            }
                            shape[ax] += p.shape()[ax];
                        }
                        crate::eval::movement::concat(&ordered, ax as i64, shape)?
                            .into_iter()
                            .next()
                            .ok_or_else(|| invalid!("concat produced nothing"))?
                    }
                }
            };
            out[d.output()] = Some(t);
        }
        out.into_iter().enumerate().map(|(k, t)| t.ok_or_else(|| invalid!("output {k} is not produced"))).collect()
    }
}

/// An empty tensor shaped like body result `r` (zero along `axis`, or along dynamic dims).
fn empty_like(body: &Body, r: usize, axis: Option<i64>) -> Result<Tensor> {
    let t = body.result_type(r)?;
    let dims = t.shape.dims().ok_or_else(|| invalid!("zero iterations ran and the output rank is unknown"))?;
    let mut shape: Vec<usize> = dims.iter().map(|d| d.get().unwrap_or(0) as usize).collect();
    if let Some(a) = axis {
        let ax = super::normalize_axis(a, shape.len())?;
        shape[ax] = 0;
    }
    let et = if t.element_type == ElementType::Dynamic { ElementType::F32 } else { t.element_type };
    Tensor::zeros(et, shape)
}

impl OpSpec for Loop {
    const TYPE: &'static str = "Loop";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        if inputs.len() < 2 {
            return Err(invalid!("Loop expects a trip count and a condition input"));
        }
        for (k, what) in [(0, "trip count"), (1, "execution condition")] {
            if !one_element(inputs[k].shape) {
                return Err(invalid!("the {what} must be a scalar or hold one element, got {}", inputs[k].shape));
            }
        }
        for d in &self.inputs {
            if d.input() < 2 {
                return Err(invalid!("Loop port map feeds the body from input {}", d.input()));
            }
        }
        check_inputs_against(&self.body, &self.inputs, inputs, "body", self.current_iteration)?;
        let n_params = self.body.0.parameters().len();
        if let Some(p) = self.current_iteration
            && (p >= n_params || self.inputs.iter().any(|d| d.param() == p))
        {
            return Err(invalid!("current_iteration parameter {p} is not a free body parameter"));
        }
        if self.condition >= self.body.0.results().len() {
            return Err(invalid!("execution_condition result {} does not exist", self.condition));
        }
        let trip = inputs[0].value.map(|v| scalar_i64(v, "the trip count")).transpose()?;
        let cond = inputs[1].value.map(|v| scalar_bool(v, "the condition")).transpose()?;
        let body_cond =
            self.body.result_const(self.condition).map(|v| scalar_bool(v, "the body condition")).transpose()?;
        let iterations = match (trip, cond, body_cond) {
            (_, Some(false), _) => Some(0),
            (Some(t), Some(true), Some(true)) if t >= 0 => Some(t as u64),
            _ => None,
        };
        let iterations = match sliced_iterations(&self.inputs, inputs)? {
            Some(s) if self.inputs.iter().any(|d| matches!(d, InputDesc::Sliced { .. })) => {
                iterations.map(|i| i.min(s))
            }
            _ => iterations,
        };
        iterating_outputs(&self.body, &self.outputs, iterations)
    }

    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let trip = scalar_i64(inputs.first().ok_or_else(|| invalid!("Loop expects a trip count"))?, "the trip count")?;
        let cond = scalar_bool(inputs.get(1).ok_or_else(|| invalid!("Loop expects a condition"))?, "the condition")?;
        let trip = u64::try_from(trip).ok();
        Iteration {
            body: &self.body,
            inputs: &self.inputs,
            outputs: &self.outputs,
            current_iteration: self.current_iteration,
            condition: Some(self.condition),
        }
        .run(inputs, trip, cond)
    }
}

impl OpSpec for TensorIterator {
    const TYPE: &'static str = "TensorIterator";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        check_inputs_against(&self.body, &self.inputs, inputs, "body", None)?;
        let iterations = sliced_iterations(&self.inputs, inputs)?;
        if !self.inputs.iter().any(|d| matches!(d, InputDesc::Sliced { .. })) {
            return iterating_outputs(&self.body, &self.outputs, Some(1));
        }
        iterating_outputs(&self.body, &self.outputs, iterations)
    }

    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let sliced = self.inputs.iter().any(|d| matches!(d, InputDesc::Sliced { .. }));
        Iteration {
            body: &self.body,
            inputs: &self.inputs,
            outputs: &self.outputs,
            current_iteration: None,
            condition: None,
        }
        .run(inputs, if sliced { None } else { Some(1) }, true)
    }
}
