//! Turns a prepared model into an executable plan: fusions, kernel choice, pre-packed weights
//! and a buffer assignment by lifetime.

use std::collections::{HashMap, HashSet};

use ir_graph::ops::{AutoBroadcast, PadType, resolve_pads, transpose_order};
use ir_graph::{ElementType, Model, NodeId, Op, OutputRef, Tensor};

use crate::error::{PluginError, Result};
use crate::kernels::Activation;
use crate::kernels::conv::{ConvParams, PackedConvWeights};
use crate::kernels::elementwise::{BinaryOp, UnaryOp};
use crate::kernels::gemm::PackedB;
use crate::kernels::pool::PoolParams;
use crate::steps::{Kind, Step, Unary};

mod recurrent;

/// Index of a value (one node output) in a plan.
pub(crate) type ValueId = usize;

/// Where a value lives at run time.
#[derive(Debug)]
pub(crate) enum Storage {
    /// A constant; `f32` caches aligned f32 data for fast kernels.
    Const { tensor: Tensor, f32: Option<Vec<f32>> },
    /// A planned f32 arena buffer (by buffer id once planned).
    Buffer(usize),
    /// A tensor produced at run time (model inputs and fallback outputs).
    Dynamic,
}

/// Type, static shape and storage of one value.
#[derive(Debug)]
pub(crate) struct Value {
    /// Element type.
    pub et: ElementType,
    /// Shape when static.
    pub shape: Option<Vec<usize>>,
    /// Storage.
    pub storage: Storage,
    /// Read by a fast kernel: a fallback producing it must match the inferred type and shape.
    pub strict: bool,
}

impl Value {
    /// Element count when the shape is static.
    pub(crate) fn numel(&self) -> Option<usize> {
        self.shape.as_ref().map(|s| s.iter().product())
    }
}

/// An executable plan for one set of input shapes.
#[derive(Debug)]
pub(crate) struct Plan {
    /// All values.
    pub values: Vec<Value>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Value of each model input.
    pub inputs: Vec<ValueId>,
    /// Value of each model output.
    pub outputs: Vec<ValueId>,
    /// Size (f32 elements) of each arena buffer.
    pub buffer_sizes: Vec<usize>,
    /// Dynamic values whose last use is step `i` (dropped after it runs).
    pub free_after: Vec<Vec<ValueId>>,
}

impl Plan {
    /// Counts of fast and fallback steps, by op type, for diagnostics.
    pub(crate) fn summary(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<String, usize> = HashMap::new();
        for s in &self.steps {
            *m.entry(s.exec_type()).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    /// Builds the plan of a prepared (folded, topologically compacted) model.
    pub(crate) fn build(model: &Model, threads: usize) -> Result<Plan> {
        let mut b = Builder {
            m: model,
            threads,
            consumers: model.consumers(),
            vmap: HashMap::new(),
            values: Vec::new(),
            steps: Vec::new(),
            absorbed: HashSet::new(),
        };
        let mut inputs = vec![usize::MAX; model.parameters().len()];
        let pindex: HashMap<NodeId, usize> = model.parameters().iter().enumerate().map(|(k, &p)| (p, k)).collect();
        for id in model.topological_order()? {
            if b.absorbed.contains(&id) {
                continue;
            }
            let node = model.node(id)?;
            match &node.op {
                Op::Parameter(_) => {
                    let v = b.new_value(id.into(), Storage::Dynamic)?;
                    if let Some(&k) = pindex.get(&id) {
                        inputs[k] = v;
                    }
                }
                Op::Constant(c) => {
                    let f = (c.value.element_type() == ElementType::F32)
                        .then(|| c.value.values::<f32>().ok().map(|v| v.into_owned()))
                        .flatten();
                    b.new_value(id.into(), Storage::Const { tensor: c.value.clone(), f32: f })?;
                }
                Op::ResultOp(_) => {}
                _ => b.lower(id)?,
            }
        }
        if inputs.contains(&usize::MAX) {
            return Err(PluginError::Input("a model input is not a Parameter node".into()));
        }
        let outputs = model
            .results()
            .iter()
            .map(|&r| {
                let n = model.node(r)?;
                let src = n.inputs.first().ok_or_else(|| PluginError::node("Result", &n.name, "has no input"))?;
                b.value(*src)
            })
            .collect::<Result<Vec<_>>>()?;
        let Builder { values, steps, .. } = b;
        let mut plan = Plan { values, steps, inputs, outputs, buffer_sizes: Vec::new(), free_after: Vec::new() };
        for s in &plan.steps {
            if !matches!(s.kind, Kind::Fallback(_)) {
                for &v in &s.inputs {
                    plan.values[v].strict = true;
                }
            }
        }
        plan.assign_buffers();
        Ok(plan)
    }

    /// Assigns arena buffers by lifetime: a buffer freed by its last reader is reused by the
    /// next output that fits (best fit), or grown when none does.
    fn assign_buffers(&mut self) {
        let nsteps = self.steps.len();
        let end = nsteps; // outputs live past the last step
        let mut last_use = vec![None::<usize>; self.values.len()];
        for (i, s) in self.steps.iter().enumerate() {
            for &v in &s.inputs {
                last_use[v] = Some(i);
            }
        }
        for &v in &self.outputs {
            last_use[v] = Some(end);
        }
        // Root (owner) of each buffer-backed value: views alias their input's root.
        let root = |v: ValueId, values: &[Value]| match values[v].storage {
            Storage::Buffer(r) => Some(r),
            _ => None,
        };
        let mut root_last = vec![None::<usize>; self.values.len()];
        let mut def_step = vec![None::<usize>; self.values.len()];
        for (i, s) in self.steps.iter().enumerate() {
            for &o in &s.outputs {
                if def_step[o].is_none() {
                    def_step[o] = Some(i);
                }
            }
        }
        for v in 0..self.values.len() {
            if let Some(r) = root(v, &self.values) {
                let lu = last_use[v].or(def_step[v]);
                root_last[r] = root_last[r].max(lu);
            }
        }
        let mut free: Vec<usize> = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        let mut buf_of: HashMap<ValueId, usize> = HashMap::new();
        for i in 0..nsteps {
            // In place: the output takes over a same-sized input buffer that dies here.
            if let Some(k) = self.steps[i].inplace_candidate() {
                let inputs = &self.steps[i].inputs;
                let o = self.steps[i].outputs[0];
                let cand = root(inputs[k], &self.values);
                let shared = inputs.iter().enumerate().any(|(j, &v)| j != k && root(v, &self.values) == cand);
                let same_size = self.values[inputs[k]].numel() == self.values[o].numel();
                if let Some(r) = cand
                    && root_last[r] == Some(i)
                    && !shared
                    && same_size
                    && root(o, &self.values) == Some(o)
                {
                    for v in &mut self.values {
                        if matches!(v.storage, Storage::Buffer(x) if x == o) {
                            v.storage = Storage::Buffer(r);
                        }
                    }
                    root_last[r] = root_last[o];
                    root_last[o] = None;
                    self.steps[i].inplace = Some(k);
                }
            }
            for &o in &self.steps[i].outputs {
                if root(o, &self.values) != Some(o) {
                    continue;
                }
                let need = self.values[o].numel().unwrap_or(0);
                // Best fit among free buffers; else grow the largest free one; else a new one.
                let pick = free
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| sizes[b] >= need)
                    .min_by_key(|&(_, &b)| sizes[b])
                    .or_else(|| free.iter().enumerate().max_by_key(|&(_, &b)| sizes[b]))
                    .map(|(k, _)| k);
                let b = match pick {
                    Some(k) => free.swap_remove(k),
                    None => {
                        sizes.push(0);
                        sizes.len() - 1
                    }
                };
                sizes[b] = sizes[b].max(need);
                buf_of.insert(o, b);
            }
            // Free the buffers whose last reader (or, if unread, producer) is this step.
            let touched: HashSet<ValueId> = self.steps[i]
                .inputs
                .iter()
                .chain(&self.steps[i].outputs)
                .filter_map(|&v| root(v, &self.values))
                .collect();
            for r in touched {
                if root_last[r] == Some(i)
                    && let Some(&b) = buf_of.get(&r)
                {
                    free.push(b);
                }
            }
        }
        for v in &mut self.values {
            if let Storage::Buffer(r) = v.storage {
                v.storage = Storage::Buffer(buf_of.get(&r).copied().unwrap_or(usize::MAX));
            }
        }
        self.buffer_sizes = sizes;
        let mut free_after = vec![Vec::new(); nsteps];
        for (v, lu) in last_use.iter().enumerate() {
            if let (Some(lu), Storage::Dynamic) = (lu, &self.values[v].storage)
                && *lu < nsteps
                && !self.inputs.contains(&v)
            {
                free_after[*lu].push(v);
            }
        }
        self.free_after = free_after;
    }
}

struct Builder<'m> {
    m: &'m Model,
    /// Threads the plan will run on; kernels whose best formulation depends on it ask.
    threads: usize,
    consumers: HashMap<OutputRef, Vec<(NodeId, usize)>>,
    vmap: HashMap<OutputRef, ValueId>,
    values: Vec<Value>,
    steps: Vec<Step>,
    absorbed: HashSet<NodeId>,
}

/// Affine epilogue collected from a chain of per-channel ops.
struct Chain {
    end: OutputRef,
    scale: Option<Vec<f32>>,
    shift: Option<Vec<f32>>,
    act: Activation,
    names: Vec<String>,
}

/// A per-channel (along `axis`) vector from a constant broadcast against `shape`.
fn per_axis(t: &Tensor, shape: &[usize], axis: usize) -> Option<Vec<f32>> {
    if t.element_type() != ElementType::F32 || t.shape().len() > shape.len() {
        return None;
    }
    let off = shape.len() - t.shape().len();
    for (i, &d) in t.shape().iter().enumerate() {
        if d != 1 && (i + off != axis || d != shape[axis]) {
            return None;
        }
    }
    let v = t.values::<f32>().ok()?;
    let c = *shape.get(axis)?;
    match v.len() {
        1 => Some(vec![v[0]; c]),
        n if n == c => Some(v.into_owned()),
        _ => None,
    }
}

fn mul_vec(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x *= y;
    }
}

fn add_vec(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn usize_vec(v: &[i64]) -> Option<Vec<usize>> {
    v.iter().map(|&x| usize::try_from(x).ok()).collect()
}

impl<'m> Builder<'m> {
    fn value(&self, out: OutputRef) -> Result<ValueId> {
        self.vmap.get(&out).copied().ok_or_else(|| {
            let name = self.m.node(out.node).map(|n| n.name.clone()).unwrap_or_default();
            PluginError::node("?", &name, format!("output {} is used before it is computed", out.index))
        })
    }

    fn new_value(&mut self, out: OutputRef, storage: Storage) -> Result<ValueId> {
        let port = self.m.port(out)?;
        let shape = port.shape.to_static();
        // String tensors have no fixed element size; their data is bounded by the input itself.
        if let (Some(dims), Storage::Buffer(_) | Storage::Dynamic, false) =
            (&shape, &storage, port.element_type == ElementType::String)
        {
            let bytes = ir_graph::shape::checked_numel(dims).and_then(|n| port.element_type.storage_size(n));
            let limit = memory_limit_bytes();
            if bytes.is_none_or(|b| b as u64 > limit) {
                let node = self.m.node(out.node)?;
                return Err(PluginError::node(
                    node.op.type_name(),
                    &node.name,
                    format!(
                        "output {} is a {} tensor of shape {dims:?} ({}), more than this machine's memory ({limit} bytes)",
                        out.index,
                        port.element_type,
                        bytes.map_or("too many bytes to count".to_string(), |b| format!("{b} bytes"))
                    ),
                ));
            }
        }
        let id = self.values.len();
        self.values.push(Value { et: port.element_type, shape, storage, strict: false });
        self.vmap.insert(out, id);
        Ok(id)
    }

    /// A value that fast kernels write: planned into the arena.
    fn new_buffer_value(&mut self, out: OutputRef) -> Result<ValueId> {
        let id = self.values.len();
        self.new_value(out, Storage::Buffer(id))
    }

    /// Static f32 shape of an output.
    fn f32_shape(&self, out: OutputRef) -> Option<Vec<usize>> {
        let p = self.m.port(out).ok()?;
        if p.element_type != ElementType::F32 {
            return None;
        }
        p.shape.to_static()
    }

    fn const_of(&self, out: OutputRef) -> Option<&'m Tensor> {
        self.m.const_value(out)
    }

    /// The single consumer of `out`, unless it is a Result or there are several.
    fn sole_consumer(&self, out: OutputRef) -> Option<NodeId> {
        match self.consumers.get(&out).map(Vec::as_slice) {
            Some([(n, _)]) => {
                let node = self.m.node(*n).ok()?;
                if matches!(node.op, Op::ResultOp(_)) || self.absorbed.contains(n) { None } else { Some(*n) }
            }
            _ => None,
        }
    }

    fn push(&mut self, kind: Kind, id: NodeId, extra_names: &[String], inputs: Vec<ValueId>, outputs: Vec<ValueId>) {
        let node = self.m.node(id).ok();
        let op = node.map_or("?", |n| n.op.type_name());
        let mut name = node.map(|n| n.name.clone()).unwrap_or_default();
        for n in extra_names {
            name.push(',');
            name.push_str(n);
        }
        self.steps.push(Step { kind, inputs, outputs, op, name, inplace: None });
    }

    /// Follows per-channel Add/Subtract/Multiply/Divide/BatchNorm and a final ReLU/Clamp
    /// after `start` (shape `shape`), absorbing them, along channel `axis`.
    fn chain(&mut self, start: OutputRef, shape: &[usize], axis: usize, allow_bn: bool) -> Chain {
        let c = shape.get(axis).copied().unwrap_or(0);
        let mut ch = Chain { end: start, scale: None, shift: None, act: Activation::None, names: Vec::new() };
        while let Some(nid) = self.sole_consumer(ch.end) {
            let Ok(n) = self.m.node(nid) else { break };
            if self.f32_shape(OutputRef::new(nid, 0)).as_deref() != Some(shape) || n.outputs.len() != 1 {
                break;
            }
            let other = |k: usize| n.inputs.get(k).and_then(|&i| self.const_of(i));
            let first = n.inputs.first() == Some(&ch.end);
            let other_idx = if first { 1 } else { 0 };
            let pc = |k: usize| other(k).and_then(|t| per_axis(t, shape, axis));
            let (s, b): (Option<Vec<f32>>, Option<Vec<f32>>) = match &n.op {
                Op::Add(a) if a.auto_broadcast == AutoBroadcast::Numpy => match pc(other_idx) {
                    Some(v) => (None, Some(v)),
                    None => break,
                },
                Op::Multiply(a) if a.auto_broadcast == AutoBroadcast::Numpy => match pc(other_idx) {
                    Some(v) => (Some(v), None),
                    None => break,
                },
                Op::Subtract(a) if a.auto_broadcast == AutoBroadcast::Numpy && first => match pc(1) {
                    Some(v) => (None, Some(v.iter().map(|x| -x).collect())),
                    None => break,
                },
                Op::Divide(a) if a.auto_broadcast == AutoBroadcast::Numpy && first => match pc(1) {
                    Some(v) => (Some(v.iter().map(|x| 1.0 / x).collect()), None),
                    None => break,
                },
                Op::BatchNormInference(bn) if allow_bn && first && axis == 1 => {
                    let get = |k: usize| {
                        other(k)
                            .filter(|t| t.element_type() == ElementType::F32)
                            .and_then(|t| t.values::<f32>().ok())
                            .filter(|v| v.len() == c)
                            .map(|v| v.into_owned())
                    };
                    let (Some(g), Some(be), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4)) else { break };
                    let s: Vec<f32> = g.iter().zip(&var).map(|(g, v)| g / (v + bn.epsilon as f32).sqrt()).collect();
                    let sh: Vec<f32> = be.iter().zip(mean.iter().zip(&s)).map(|(b, (m, s))| b - m * s).collect();
                    (Some(s), Some(sh))
                }
                _ => break,
            };
            if let Some(s) = s {
                if let Some(sh) = &mut ch.shift {
                    mul_vec(sh, &s);
                }
                match &mut ch.scale {
                    Some(cur) => mul_vec(cur, &s),
                    None => ch.scale = Some(s),
                }
            }
            if let Some(b) = b {
                match &mut ch.shift {
                    Some(cur) => add_vec(cur, &b),
                    None => ch.shift = Some(b),
                }
            }
            self.absorbed.insert(nid);
            ch.names.push(n.name.clone());
            ch.end = OutputRef::new(nid, 0);
        }
        if let Some((act, nid)) = self.activation_after(ch.end, shape) {
            ch.act = act;
            self.absorbed.insert(nid);
            if let Ok(n) = self.m.node(nid) {
                ch.names.push(n.name.clone());
            }
            ch.end = OutputRef::new(nid, 0);
        }
        ch
    }

    /// A ReLU/Clamp that is the sole consumer of `out` (not yet absorbed).
    fn activation_after(&self, out: OutputRef, shape: &[usize]) -> Option<(Activation, NodeId)> {
        let nid = self.sole_consumer(out)?;
        if self.f32_shape(OutputRef::new(nid, 0)).as_deref() != Some(shape) {
            return None;
        }
        match &self.m.node(nid).ok()?.op {
            Op::Relu(_) => Some((Activation::Relu, nid)),
            Op::Clamp(c) => Some((Activation::Clamp(c.min as f32, c.max as f32), nid)),
            _ => None,
        }
    }

    fn lower(&mut self, id: NodeId) -> Result<()> {
        if self.try_fast(id)? {
            return Ok(());
        }
        let node = self.m.node(id)?;
        let inputs = node.inputs.iter().map(|&i| self.value(i)).collect::<Result<Vec<_>>>()?;
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for k in 0..node.outputs.len() {
            outputs.push(self.new_value(OutputRef::new(id, k as u32), Storage::Dynamic)?);
        }
        self.push(Kind::Fallback(node.op.clone()), id, &[], inputs, outputs);
        Ok(())
    }

    fn try_fast(&mut self, id: NodeId) -> Result<bool> {
        let node = self.m.node(id)?;
        let out0 = OutputRef::new(id, 0);
        if node.inputs.is_empty() || node.outputs.is_empty() {
            return Ok(false);
        }
        let Some(out_shape) = self.f32_shape(out0) else {
            return self.try_view(id);
        };
        if matches!(node.op, Op::RnnSequence(_) | Op::GruSequence(_) | Op::LstmSequence(_)) {
            return self.try_recurrent(id);
        }
        // Extra outputs (MaxPool indices) must be unused for the fast path.
        for k in 1..node.outputs.len() {
            if self.consumers.get(&OutputRef::new(id, k as u32)).is_some_and(|c| !c.is_empty()) {
                return Ok(false);
            }
        }
        if matches!(node.op, Op::ReduceMean(_)) && self.try_layer_norm(id)? {
            return Ok(true);
        }
        let in_shape = |k: usize| node.inputs.get(k).and_then(|&i| self.f32_shape(i));
        match &node.op {
            Op::Convolution(c) => {
                self.try_conv(id, (&c.strides, &c.dilations, &c.pads_begin, &c.pads_end, c.auto_pad), false, &out_shape)
            }
            Op::GroupConvolution(c) => {
                self.try_conv(id, (&c.strides, &c.dilations, &c.pads_begin, &c.pads_end, c.auto_pad), true, &out_shape)
            }
            Op::MatMul(mm) => self.try_matmul(id, mm.transpose_a, mm.transpose_b, &out_shape),
            Op::MaxPool1(p) => {
                let w = PoolWin {
                    kernel: &p.kernel,
                    strides: &p.strides,
                    dilations: None,
                    pads: (&p.pads_begin, &p.pads_end),
                };
                self.try_pool(id, w, p.auto_pad, None, &out_shape)
            }
            Op::MaxPool8(p) => self.try_max_pool(id, p, &out_shape),
            // Rounding only decides the output shape, which `out_shape` already is.
            Op::MaxPool14(p) => self.try_max_pool(id, &p.as_v8(), &out_shape),
            Op::AvgPool(p) => {
                let w = PoolWin {
                    kernel: &p.kernel,
                    strides: &p.strides,
                    dilations: None,
                    pads: (&p.pads_begin, &p.pads_end),
                };
                self.try_pool(id, w, p.auto_pad, Some(!p.exclude_pad), &out_shape)
            }
            // The window sweep reads the output size from inference, so only dilation matters.
            Op::AvgPool16(p) if p.dilations.iter().all(|&d| d == 1) => {
                let w = PoolWin {
                    kernel: &p.kernel,
                    strides: &p.strides,
                    dilations: None,
                    pads: (&p.pads_begin, &p.pads_end),
                };
                self.try_pool(id, w, p.auto_pad, Some(!p.exclude_pad), &out_shape)
            }
            Op::BatchNormInference(_) => self.try_affine(id, &out_shape),
            Op::Add(b) => self.try_binary(id, BinaryOp::Add, b.auto_broadcast, &out_shape),
            Op::Subtract(b) => self.try_binary(id, BinaryOp::Sub, b.auto_broadcast, &out_shape),
            Op::Multiply(b) => {
                Ok(self.try_gelu(id, &out_shape)?
                    || self.try_binary(id, BinaryOp::Mul, b.auto_broadcast, &out_shape)?)
            }
            Op::Divide(d) => {
                Ok(self.try_gelu(id, &out_shape)?
                    || self.try_binary(id, BinaryOp::Div, d.auto_broadcast, &out_shape)?)
            }
            Op::Mvn(_) => self.try_mvn(id, &out_shape),
            Op::Relu(_)
            | Op::Sigmoid(_)
            | Op::Tanh(_)
            | Op::Exp(_)
            | Op::Clamp(_)
            | Op::Erf(_)
            | Op::Sqrt(_)
            | Op::Abs(_)
            | Op::Negative(_)
            | Op::Gelu(_)
            | Op::HSwish(_)
            | Op::Swish(_)
            | Op::Power(_) => {
                let u = match &node.op {
                    Op::Relu(_) => Unary::Kernel(UnaryOp::Relu),
                    Op::Sigmoid(_) => Unary::Kernel(UnaryOp::Sigmoid),
                    Op::Tanh(_) => Unary::Kernel(UnaryOp::Tanh),
                    Op::Exp(_) => Unary::Kernel(UnaryOp::Exp),
                    Op::Clamp(c) => Unary::Clamp(c.min as f32, c.max as f32),
                    Op::Erf(_) => Unary::Kernel(UnaryOp::Erf),
                    Op::Sqrt(_) => Unary::Kernel(UnaryOp::Sqrt),
                    Op::Abs(_) => Unary::Kernel(UnaryOp::Abs),
                    Op::Negative(_) => Unary::Kernel(UnaryOp::Neg),
                    Op::HSwish(_) => Unary::Kernel(UnaryOp::HSwish),
                    Op::Swish(_) if node.inputs.len() == 1 => Unary::Kernel(UnaryOp::Swish),
                    Op::Gelu(g) => match g.approximation_mode {
                        ir_graph::ops::GeluApproximation::Erf => Unary::Kernel(UnaryOp::GeluErf),
                        ir_graph::ops::GeluApproximation::Tanh => Unary::Kernel(UnaryOp::GeluTanh),
                    },
                    // Only a constant scalar exponent; the common ones get exact cheap forms.
                    Op::Power(_) => match node.inputs.get(1).and_then(|&i| self.scalar_const(i)) {
                        Some(2.0) => Unary::Kernel(UnaryOp::Square),
                        Some(0.5) => Unary::Kernel(UnaryOp::Sqrt),
                        Some(p) => Unary::Pow(p),
                        None => return Ok(false),
                    },
                    _ => return Ok(false),
                };
                if in_shape(0).as_deref() != Some(&out_shape[..]) {
                    return Ok(false);
                }
                let x = self.value(node.inputs[0])?;
                let o = self.new_buffer_value(out0)?;
                self.push(Kind::Unary(u), id, &[], vec![x], vec![o]);
                Ok(true)
            }
            Op::SoftMax8(_) | Op::SoftMax1(_) => {
                let axis = match &node.op {
                    Op::SoftMax8(s) => s.axis,
                    Op::SoftMax1(s) => s.axis as i64,
                    _ => return Ok(false),
                };
                let Ok(axis) = ir_graph::ops::normalize_axis(axis, out_shape.len()) else { return Ok(false) };
                if in_shape(0).as_deref() != Some(&out_shape[..]) || out_shape.is_empty() {
                    return Ok(false);
                }
                let x = self.value(node.inputs[0])?;
                let o = self.new_buffer_value(out0)?;
                self.push(Kind::Softmax { shape: out_shape, axis }, id, &[], vec![x], vec![o]);
                Ok(true)
            }
            Op::Concat(c) => {
                let Ok(axis) = ir_graph::ops::normalize_axis(c.axis, out_shape.len()) else { return Ok(false) };
                let mut chunks = Vec::new();
                let mut ins = Vec::new();
                for &i in &node.inputs {
                    let Some(s) = self.f32_shape(i) else { return Ok(false) };
                    if s.len() != out_shape.len() {
                        return Ok(false);
                    }
                    chunks.push(s[axis..].iter().product());
                    ins.push(self.value(i)?);
                }
                let outer = out_shape[..axis].iter().product();
                let o = self.new_buffer_value(out0)?;
                self.push(Kind::Concat { outer, chunks }, id, &[], ins, vec![o]);
                Ok(true)
            }
            Op::Transpose(_) => {
                let (Some(s), Some(order)) = (in_shape(0), node.inputs.get(1).and_then(|&i| self.const_of(i))) else {
                    return Ok(false);
                };
                let Ok(order) = order.to_i64_vec() else { return Ok(false) };
                let Ok(perm) = transpose_order(&order, s.len()) else { return Ok(false) };
                let x = self.value(node.inputs[0])?;
                let o = self.new_buffer_value(out0)?;
                self.push(Kind::Transpose { shape: s, perm }, id, &[], vec![x], vec![o]);
                Ok(true)
            }
            Op::Reshape(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => self.try_view(id),
            Op::ReduceMean(_) => {
                // Mean over a trailing block of axes (global average pooling).
                let (Some(x), Some(axes)) = (in_shape(0), node.inputs.get(1).and_then(|&i| self.const_of(i))) else {
                    return Ok(false);
                };
                let Ok(axes) = axes.to_i64_vec() else { return Ok(false) };
                let Ok(mut axes) = axes
                    .iter()
                    .map(|&a| ir_graph::ops::normalize_axis(a, x.len()))
                    .collect::<ir_graph::Result<Vec<_>>>()
                else {
                    return Ok(false);
                };
                axes.sort_unstable();
                axes.dedup();
                let first = x.len().saturating_sub(axes.len());
                if axes.is_empty() || axes != (first..x.len()).collect::<Vec<_>>() {
                    return Ok(false);
                }
                let (nc, hw) = (x[..first].iter().product(), x[first..].iter().product());
                let xv = self.value(node.inputs[0])?;
                let o = self.new_buffer_value(out0)?;
                self.push(Kind::GlobalAvgPool { nc, hw }, id, &[], vec![xv], vec![o]);
                Ok(true)
            }
            Op::Lrn(l) => {
                let (Some(x), Some(axes)) = (in_shape(0), node.inputs.get(1).and_then(|&i| self.const_of(i))) else {
                    return Ok(false);
                };
                let Ok(axes) = axes.to_i64_vec() else { return Ok(false) };
                if x.len() < 2 || !(axes == [1] || axes == [1 - x.len() as i64]) || x != out_shape {
                    return Ok(false);
                }
                let xv = self.value(node.inputs[0])?;
                let o = self.new_buffer_value(out0)?;
                let kind = Kind::Lrn {
                    c: x[1],
                    inner: x[2..].iter().product(),
                    half: (l.size.saturating_sub(1) / 2) as usize,
                    scale: (l.alpha / l.size.max(1) as f64) as f32,
                    bias: l.bias as f32,
                    beta: l.beta as f32,
                };
                self.push(kind, id, &[], vec![xv], vec![o]);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Reshape-like ops with a static output shape become views of their input.
    fn try_view(&mut self, id: NodeId) -> Result<bool> {
        let node = self.m.node(id)?;
        if !matches!(node.op, Op::Reshape(_) | Op::Squeeze(_) | Op::Unsqueeze(_)) {
            return Ok(false);
        }
        let out0 = OutputRef::new(id, 0);
        let Some(shape) = self.m.port(out0)?.shape.to_static() else { return Ok(false) };
        let Some(&src) = node.inputs.first() else { return Ok(false) };
        let x = self.value(src)?;
        if self.values[x].numel() != Some(shape.iter().product()) {
            return Ok(false);
        }
        let storage = match self.values[x].storage {
            Storage::Buffer(root) => Storage::Buffer(root),
            _ => Storage::Dynamic,
        };
        let o = self.new_value(out0, storage)?;
        self.push(Kind::View { shape }, id, &[], vec![x], vec![o]);
        Ok(true)
    }

    #[allow(clippy::type_complexity)]
    fn try_conv(
        &mut self,
        id: NodeId,
        attrs: (&[i64], &[i64], &[i64], &[i64], PadType),
        grouped: bool,
        out_shape: &[usize],
    ) -> Result<bool> {
        let node = self.m.node(id)?;
        let (strides, dilations, pb, pe, auto_pad) = attrs;
        let (Some(x), Some(w)) = (self.f32_shape(node.inputs[0]), node.inputs.get(1).and_then(|&i| self.const_of(i)))
        else {
            return Ok(false);
        };
        if w.element_type() != ElementType::F32 || !(x.len() == 4 || x.len() == 3) {
            return Ok(false);
        }
        let ws = w.shape();
        if ws.len() != x.len() + usize::from(grouped) {
            return Ok(false);
        }
        let (groups, c_out) = if grouped { (ws[0], ws[0] * ws[1]) } else { (1, ws[0]) };
        let spatial = x.len() - 2;
        let (Some(strides), Some(dil), Some(pb), Some(pe)) =
            (usize_vec(strides), usize_vec(dilations), usize_vec(pb), usize_vec(pe))
        else {
            return Ok(false);
        };
        if strides.len() != spatial || dil.len() != spatial {
            return Ok(false);
        }
        let kdims = &ws[ws.len() - spatial..];
        // Map 1-D convolution to 2-D with a unit height.
        let get2 = |v: &[usize], d: usize| -> [usize; 2] { if spatial == 2 { [v[0], v[1]] } else { [d, v[0]] } };
        let (ih, iw) = if spatial == 2 { (x[2], x[3]) } else { (1, x[2]) };
        let (kh, kw) = if spatial == 2 { (kdims[0], kdims[1]) } else { (1, kdims[0]) };
        let stride = get2(&strides, 1);
        let dilation = get2(&dil, 1);
        let explicit = matches!(auto_pad, PadType::Explicit | PadType::Notset);
        if explicit && (pb.len() != spatial || pe.len() != spatial) {
            return Ok(false);
        }
        let mut pads_begin = [0usize; 2];
        let mut pads_end = [0usize; 2];
        for a in 0..2 {
            let (inp, k) = if a == 0 { (ih, kh) } else { (iw, kw) };
            let given = if spatial == 2 {
                (pb.get(a).copied().unwrap_or(0), pe.get(a).copied().unwrap_or(0))
            } else if a == 1 {
                (pb.first().copied().unwrap_or(0), pe.first().copied().unwrap_or(0))
            } else {
                (0, 0)
            };
            let (b, e) = if spatial == 1 && a == 0 {
                (0, 0)
            } else {
                let r = resolve_pads(
                    auto_pad,
                    inp as u64,
                    k as u64,
                    stride[a] as u64,
                    dilation[a] as u64,
                    (given.0 as u64, given.1 as u64),
                );
                (r.0 as usize, r.1 as usize)
            };
            pads_begin[a] = b;
            pads_end[a] = e;
        }
        let params = ConvParams {
            n: x[0],
            c_in: x[1],
            h: ih,
            w: iw,
            c_out,
            kh,
            kw,
            stride,
            dilation,
            pads_begin,
            pads_end,
            groups,
        };
        if params.validate().is_err() || params.output_len() != out_shape.iter().product::<usize>() {
            return Ok(false);
        }
        let (oh, ow) = (params.out_h(), params.out_w());
        let expect: Vec<usize> = if spatial == 2 { vec![x[0], c_out, oh, ow] } else { vec![x[0], c_out, ow] };
        if expect != out_shape || w.numel() != params.weight_len() {
            return Ok(false);
        }
        let mut weights = w.values::<f32>()?.into_owned();
        let xv = self.value(node.inputs[0])?;
        let ch = self.chain(OutputRef::new(id, 0), out_shape, 1, true);
        if let Some(s) = &ch.scale {
            let per = weights.len() / c_out.max(1);
            for (co, chunk) in weights.chunks_exact_mut(per.max(1)).enumerate() {
                let f = s[co];
                chunk.iter_mut().for_each(|v| *v *= f);
            }
        }
        let packed = PackedConvWeights::for_threads(&params, &weights, self.threads)
            .map_err(|e| PluginError::node("Convolution", &node.name, e))?;
        let o = self.new_buffer_value(ch.end)?;
        self.push(Kind::Conv { params, packed, bias: ch.shift, act: ch.act }, id, &ch.names, vec![xv], vec![o]);
        Ok(true)
    }

    fn try_matmul(&mut self, id: NodeId, ta: bool, tb: bool, out_shape: &[usize]) -> Result<bool> {
        let node = self.m.node(id)?;
        if ta || node.inputs.len() != 2 {
            return Ok(false);
        }
        let Some(a) = self.f32_shape(node.inputs[0]) else { return Ok(false) };
        if a.is_empty() {
            return Ok(false);
        }
        if let Some(b) =
            self.const_of(node.inputs[1]).filter(|b| b.element_type() == ElementType::F32 && b.shape().len() == 2)
        {
            let bs = b.shape();
            let (k, n) = if tb { (bs[1], bs[0]) } else { (bs[0], bs[1]) };
            if a.last() != Some(&k) || (out_shape.last() != Some(&n) && a.len() > 1) {
                return Ok(false);
            }
            let m = a.iter().product::<usize>() / k.max(1);
            if m * n != out_shape.iter().product::<usize>() || k == 0 {
                return Ok(false);
            }
            let mut bv = b.values::<f32>()?.into_owned();
            let xv = self.value(node.inputs[0])?;
            let axis = out_shape.len() - 1;
            let ch = self.chain(OutputRef::new(id, 0), out_shape, axis, false);
            if let Some(s) = &ch.scale {
                // Scale the columns of op(B).
                if tb {
                    for (j, row) in bv.chunks_exact_mut(k).enumerate() {
                        row.iter_mut().for_each(|v| *v *= s[j]);
                    }
                } else {
                    for row in bv.chunks_exact_mut(n) {
                        mul_vec(row, s);
                    }
                }
            }
            let ldb = if tb { k } else { n };
            let packed = PackedB::new(k, n, &bv, ldb, tb).map_err(|e| PluginError::node("MatMul", &node.name, e))?;
            let o = self.new_buffer_value(ch.end)?;
            self.push(
                Kind::FullyConnected { m, packed, bias: ch.shift, act: ch.act },
                id,
                &ch.names,
                vec![xv],
                vec![o],
            );
            return Ok(true);
        }
        // Two runtime operands: batched GEMM with broadcast batch dims.
        let Some(b) = self.f32_shape(node.inputs[1]) else { return Ok(false) };
        if a.len() < 2 || b.len() < 2 {
            return Ok(false);
        }
        let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
        let (k2, n) = if tb { (b[b.len() - 1], b[b.len() - 2]) } else { (b[b.len() - 2], b[b.len() - 1]) };
        if k != k2 {
            return Ok(false);
        }
        let r = out_shape.len();
        if r < 2 {
            return Ok(false);
        }
        let batch = &out_shape[..r - 2];
        let bstrides = |s: &[usize], mat: usize| -> Vec<usize> {
            let sb = &s[..s.len() - 2];
            let off = batch.len() - sb.len();
            let mut st = vec![0usize; batch.len()];
            let mut acc = mat;
            for i in (0..sb.len()).rev() {
                st[i + off] = if sb[i] == 1 { 0 } else { acc };
                acc *= sb[i];
            }
            st
        };
        if a.len() - 2 > batch.len() || b.len() - 2 > batch.len() {
            return Ok(false);
        }
        let (sa, sb) = (bstrides(&a, m * k), bstrides(&b, k * n));
        let total: usize = batch.iter().product();
        let mut batches = Vec::with_capacity(total);
        for bi in 0..total {
            let (mut rem, mut ao, mut bo) = (bi, 0, 0);
            for d in (0..batch.len()).rev() {
                let ix = rem % batch[d];
                rem /= batch[d];
                ao += ix * sa[d];
                bo += ix * sb[d];
            }
            batches.push((ao, bo));
        }
        let (av, bv) = (self.value(node.inputs[0])?, self.value(node.inputs[1])?);
        let o = self.new_buffer_value(OutputRef::new(id, 0))?;
        self.push(Kind::MatMul { m, k, n, trans_b: tb, batches }, id, &[], vec![av, bv], vec![o]);
        Ok(true)
    }

    fn try_max_pool(&mut self, id: NodeId, p: &ir_graph::ops::MaxPool8, out_shape: &[usize]) -> Result<bool> {
        let w = PoolWin {
            kernel: &p.kernel,
            strides: &p.strides,
            dilations: Some(&p.dilations),
            pads: (&p.pads_begin, &p.pads_end),
        };
        self.try_pool(id, w, p.auto_pad, None, out_shape)
    }

    fn try_pool(
        &mut self,
        id: NodeId,
        w: PoolWin<'_>,
        auto_pad: PadType,
        avg_include_pad: Option<bool>,
        out_shape: &[usize],
    ) -> Result<bool> {
        let node = self.m.node(id)?;
        let Some(x) = self.f32_shape(node.inputs[0]) else { return Ok(false) };
        if x.len() != 4 || out_shape.len() != 4 {
            return Ok(false);
        }
        let (Some(k), Some(s)) = (usize_vec(w.kernel), usize_vec(w.strides)) else { return Ok(false) };
        let d = match w.dilations {
            Some(d) => match usize_vec(d) {
                Some(d) => d,
                None => return Ok(false),
            },
            None => vec![1, 1],
        };
        let (Some(pb), Some(pe)) = (usize_vec(w.pads.0), usize_vec(w.pads.1)) else { return Ok(false) };
        if k.len() != 2 || s.len() != 2 || d.len() != 2 {
            return Ok(false);
        }
        let explicit = matches!(auto_pad, PadType::Explicit | PadType::Notset);
        if explicit && (pb.len() != 2 || pe.len() != 2) {
            return Ok(false);
        }
        let mut pads_begin = [0; 2];
        let mut pads_end = [0; 2];
        for a in 0..2 {
            let given = (pb.get(a).copied().unwrap_or(0) as u64, pe.get(a).copied().unwrap_or(0) as u64);
            let r = resolve_pads(auto_pad, x[2 + a] as u64, k[a] as u64, s[a] as u64, d[a] as u64, given);
            pads_begin[a] = r.0 as usize;
            pads_end[a] = r.1 as usize;
        }
        let params = PoolParams {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            kh: k[0],
            kw: k[1],
            stride: [s[0], s[1]],
            dilation: [d[0], d[1]],
            pads_begin,
            pads_end,
            out_h: out_shape[2],
            out_w: out_shape[3],
        };
        if params.validate().is_err() || out_shape[..2] != x[..2] {
            return Ok(false);
        }
        let xv = self.value(node.inputs[0])?;
        let o = self.new_buffer_value(OutputRef::new(id, 0))?;
        let global = params.kh == params.h
            && params.kw == params.w
            && params.out_h == 1
            && params.out_w == 1
            && pads_begin == [0, 0]
            && pads_end == [0, 0];
        let kind = match avg_include_pad {
            None => Kind::MaxPool(params),
            Some(_) if global => Kind::GlobalAvgPool { nc: x[0] * x[1], hw: x[2] * x[3] },
            Some(include_pad) => Kind::AvgPool { params, include_pad },
        };
        self.push(kind, id, &[], vec![xv], vec![o]);
        Ok(true)
    }

    /// Standalone BatchNormInference (and following per-channel ops) as a scale/shift step.
    fn try_affine(&mut self, id: NodeId, out_shape: &[usize]) -> Result<bool> {
        let node = self.m.node(id)?;
        if out_shape.len() < 2 || self.f32_shape(node.inputs[0]).as_deref() != Some(out_shape) {
            return Ok(false);
        }
        // Treat the BN itself as the first link of a chain that starts at its data input.
        let c = out_shape[1];
        let get = |k: usize| {
            node.inputs
                .get(k)
                .and_then(|&i| self.const_of(i))
                .filter(|t| t.element_type() == ElementType::F32)
                .and_then(|t| t.values::<f32>().ok())
                .filter(|v| v.len() == c)
                .map(|v| v.into_owned())
        };
        let Op::BatchNormInference(bn) = &node.op else { return Ok(false) };
        let (Some(g), Some(be), Some(mean), Some(var)) = (get(1), get(2), get(3), get(4)) else { return Ok(false) };
        let mut s: Vec<f32> = g.iter().zip(&var).map(|(g, v)| g / (v + bn.epsilon as f32).sqrt()).collect();
        let mut sh: Vec<f32> = be.iter().zip(mean.iter().zip(&s)).map(|(b, (m, s))| b - m * s).collect();
        let xv = self.value(node.inputs[0])?;
        let ch = self.chain(OutputRef::new(id, 0), out_shape, 1, true);
        if let Some(s2) = &ch.scale {
            mul_vec(&mut s, s2);
            mul_vec(&mut sh, s2);
        }
        if let Some(b2) = &ch.shift {
            add_vec(&mut sh, b2);
        }
        let inner = out_shape[2..].iter().product();
        let o = self.new_buffer_value(ch.end)?;
        let kind = Kind::ChannelAffine { c, inner, scale: Some(s), shift: Some(sh), act: ch.act };
        self.push(kind, id, &ch.names, vec![xv], vec![o]);
        Ok(true)
    }

    fn try_binary(&mut self, id: NodeId, op: BinaryOp, mode: AutoBroadcast, out_shape: &[usize]) -> Result<bool> {
        let node = self.m.node(id)?;
        if node.inputs.len() != 2 {
            return Ok(false);
        }
        let (Some(a), Some(b)) = (self.f32_shape(node.inputs[0]), self.f32_shape(node.inputs[1])) else {
            return Ok(false);
        };
        if mode == AutoBroadcast::None && a != b || matches!(mode, AutoBroadcast::Pdpd | AutoBroadcast::Explicit) {
            return Ok(false);
        }
        if crate::kernels::elementwise::broadcast_shape(&a, &b).as_deref() != Some(out_shape) {
            return Ok(false);
        }
        // x (op) per-channel constant on a rank >= 2 tensor: a scale/shift step with a chain.
        let a_const = self.const_of(node.inputs[0]);
        let b_const = self.const_of(node.inputs[1]);
        if out_shape.len() >= 2 && a == out_shape {
            let pc = b_const.and_then(|t| per_axis(t, out_shape, 1));
            if let Some(v) = pc {
                let (scale, shift) = match op {
                    BinaryOp::Add => (None, Some(v)),
                    BinaryOp::Sub => (None, Some(v.iter().map(|x| -x).collect())),
                    BinaryOp::Mul => (Some(v), None),
                    BinaryOp::Div => (Some(v.iter().map(|x| 1.0 / x).collect()), None),
                };
                return self.emit_affine(id, 0, out_shape, scale, shift);
            }
        }
        if out_shape.len() >= 2 && b == out_shape && matches!(op, BinaryOp::Add | BinaryOp::Mul) {
            let pc = a_const.and_then(|t| per_axis(t, out_shape, 1));
            if let Some(v) = pc {
                let (scale, shift) = if op == BinaryOp::Add { (None, Some(v)) } else { (Some(v), None) };
                return self.emit_affine(id, 1, out_shape, scale, shift);
            }
        }
        let (av, bv) = (self.value(node.inputs[0])?, self.value(node.inputs[1])?);
        let mut act = Activation::None;
        let mut names = Vec::new();
        let mut end = OutputRef::new(id, 0);
        if let Some((ac, nid)) = self.activation_after(end, out_shape) {
            act = ac;
            self.absorbed.insert(nid);
            names.push(self.m.node(nid)?.name.clone());
            end = OutputRef::new(nid, 0);
        }
        let o = self.new_buffer_value(end)?;
        self.push(Kind::Binary { op, a_shape: a, b_shape: b, act }, id, &names, vec![av, bv], vec![o]);
        Ok(true)
    }

    /// The value of a constant f32 scalar (any rank, one element).
    fn scalar_const(&self, out: OutputRef) -> Option<f32> {
        let t = self.const_of(out)?;
        if t.element_type() != ElementType::F32 || t.numel() != 1 {
            return None;
        }
        t.values::<f32>().ok()?.first().copied()
    }

    /// Node `nid` if it is a not-yet-lowered f32 node of the given output shape.
    fn same_shape_node(&self, nid: NodeId, shape: &[usize]) -> Option<&'m ir_graph::Node> {
        let n = self.m.node(nid).ok()?;
        (self.f32_shape(OutputRef::new(nid, 0)).as_deref() == Some(shape) && !self.absorbed.contains(&nid)).then_some(n)
    }

    /// The other input of binary node `n` when one input is `x`.
    fn other_input(n: &ir_graph::Node, x: OutputRef) -> Option<OutputRef> {
        match n.inputs.as_slice() {
            [a, b] if *a == x => Some(*b),
            [a, b] if *b == x => Some(*a),
            _ => None,
        }
    }

    /// Whether `out` is a single-axis reduction of the last axis of a rank-`r` tensor.
    fn is_last_axis(&self, axes: OutputRef, r: usize) -> bool {
        let Some(a) = self.const_of(axes).and_then(|t| t.to_i64_vec().ok()) else { return false };
        a.len() == 1 && ir_graph::ops::normalize_axis(a[0], r).ok() == Some(r - 1)
    }

    /// Optional `Multiply(gamma)` then `Add(beta)` with per-last-axis constants after `end`.
    fn ln_affine(
        &mut self,
        mut end: OutputRef,
        shape: &[usize],
        names: &mut Vec<String>,
    ) -> (OutputRef, Vec<f32>, Vec<f32>) {
        let cols = shape[shape.len() - 1];
        let axis = shape.len() - 1;
        let (mut gamma, mut beta) = (vec![1.0f32; cols], vec![0.0f32; cols]);
        for want_mul in [true, false] {
            let Some(nid) = self.sole_consumer(end) else { break };
            let Some(n) = self.same_shape_node(nid, shape) else { break };
            let ok = match &n.op {
                Op::Multiply(b) => want_mul && b.auto_broadcast == AutoBroadcast::Numpy,
                Op::Add(b) => b.auto_broadcast == AutoBroadcast::Numpy,
                _ => false,
            };
            let Some(v) = Self::other_input(n, end)
                .filter(|_| ok)
                .and_then(|o| self.const_of(o))
                .and_then(|t| per_axis(t, shape, axis))
            else {
                continue;
            };
            if matches!(n.op, Op::Multiply(_)) {
                gamma = v;
            } else {
                beta = v;
                self.absorbed.insert(nid);
                names.push(n.name.clone());
                end = OutputRef::new(nid, 0);
                break;
            }
            self.absorbed.insert(nid);
            names.push(n.name.clone());
            end = OutputRef::new(nid, 0);
        }
        (end, gamma, beta)
    }

    /// Decomposed layer norm starting at its first `ReduceMean` (`id`): `d = x - mean(x)`,
    /// `d / sqrt(mean(d^2) + eps)`, then optional gamma/beta, all over the last axis.
    fn try_layer_norm(&mut self, id: NodeId) -> Result<bool> {
        let node = self.m.node(id)?;
        let (Some(&x), Some(&axes)) = (node.inputs.first(), node.inputs.get(1)) else { return Ok(false) };
        let Some(shape) = self.f32_shape(x) else { return Ok(false) };
        let r = shape.len();
        let keep = matches!(&node.op, Op::ReduceMean(rm) if rm.keep_dims);
        if r == 0 || !keep || !self.is_last_axis(axes, r) || shape[r - 1] == 0 {
            return Ok(false);
        }
        let mean = OutputRef::new(id, 0);
        let f = || -> Option<(Vec<NodeId>, NodeId, f32)> {
            let sub = self.sole_consumer(mean)?;
            let sn = self.same_shape_node(sub, &shape)?;
            if !matches!(sn.op, Op::Subtract(_)) || sn.inputs.as_slice() != [x, mean] {
                return None;
            }
            let d = OutputRef::new(sub, 0);
            let cons = self.consumers.get(&d)?;
            if cons.len() != 2 {
                return None;
            }
            let mut pow = None;
            let mut div = None;
            for &(c, _) in cons {
                let n = self.same_shape_node(c, &shape)?;
                match &n.op {
                    Op::Power(_) if n.inputs[0] == d && self.scalar_const(n.inputs[1]) == Some(2.0) => pow = Some(c),
                    Op::Divide(_) if n.inputs[0] == d => div = Some(c),
                    _ => return None,
                }
            }
            let (pow, div) = (pow?, div?);
            let var = self.sole_consumer(OutputRef::new(pow, 0))?;
            let vn = self.m.node(var).ok()?;
            let var_ok = matches!(&vn.op, Op::ReduceMean(rm) if rm.keep_dims) && self.is_last_axis(vn.inputs[1], r);
            let add = self.sole_consumer(OutputRef::new(var, 0)).filter(|_| var_ok)?;
            let an = self.m.node(add).ok()?;
            if !matches!(an.op, Op::Add(_)) {
                return None;
            }
            let eps = self.scalar_const(Self::other_input(an, OutputRef::new(var, 0))?)?;
            let sqrt = self.sole_consumer(OutputRef::new(add, 0))?;
            if !matches!(self.m.node(sqrt).ok()?.op, Op::Sqrt(_))
                || self.sole_consumer(OutputRef::new(sqrt, 0)) != Some(div)
            {
                return None;
            }
            if self.m.node(div).ok()?.inputs[1] != OutputRef::new(sqrt, 0) {
                return None;
            }
            Some((vec![sub, pow, var, add, sqrt, div], div, eps))
        };
        let Some((nodes, div, eps)) = f() else { return Ok(false) };
        let mut names = Vec::new();
        for &n in &nodes {
            self.absorbed.insert(n);
            names.push(self.m.node(n)?.name.clone());
        }
        let (end, gamma, beta) = self.ln_affine(OutputRef::new(div, 0), &shape, &mut names);
        let xv = self.value(x)?;
        let o = self.new_buffer_value(end)?;
        self.push(Kind::LayerNorm { cols: shape[r - 1], eps, gamma, beta }, id, &names, vec![xv], vec![o]);
        Ok(true)
    }

    /// `MVN` over the last axis with variance normalisation (the frontend's form of ONNX
    /// LayerNormalization), absorbing a following gamma/beta.
    fn try_mvn(&mut self, id: NodeId, out_shape: &[usize]) -> Result<bool> {
        let node = self.m.node(id)?;
        let Op::Mvn(mvn) = &node.op else { return Ok(false) };
        let (Some(&x), Some(&axes)) = (node.inputs.first(), node.inputs.get(1)) else { return Ok(false) };
        let r = out_shape.len();
        let inside = matches!(mvn.eps_mode, ir_graph::ops::EpsMode::InsideSqrt);
        if r == 0
            || !mvn.normalize_variance
            || !inside
            || self.f32_shape(x).as_deref() != Some(out_shape)
            || !self.is_last_axis(axes, r)
            || out_shape[r - 1] == 0
        {
            return Ok(false);
        }
        let mut names = Vec::new();
        let (end, gamma, beta) = self.ln_affine(OutputRef::new(id, 0), out_shape, &mut names);
        let xv = self.value(x)?;
        let o = self.new_buffer_value(end)?;
        let kind = Kind::LayerNorm { cols: out_shape[r - 1], eps: mvn.eps, gamma, beta };
        self.push(kind, id, &names, vec![xv], vec![o]);
        Ok(true)
    }

    /// GELU spelled out with erf, starting at `x / sqrt2` (or `x * (1/sqrt2)`): `Erf`, `+ 1`,
    /// then either `(x * .) * 0.5` or `(x * 0.5) * .`; becomes one GELU step.
    fn try_gelu(&mut self, id: NodeId, shape: &[usize]) -> Result<bool> {
        let node = self.m.node(id)?;
        let close = |v: Option<f32>, want: f32| v.is_some_and(|v| (v - want).abs() <= 1e-5 * want);
        let x = match (&node.op, node.inputs.as_slice()) {
            (Op::Divide(_), [a, b]) if close(self.scalar_const(*b), std::f32::consts::SQRT_2) => *a,
            (Op::Multiply(_), [a, b]) if close(self.scalar_const(*b), std::f32::consts::FRAC_1_SQRT_2) => *a,
            (Op::Multiply(_), [a, b]) if close(self.scalar_const(*a), std::f32::consts::FRAC_1_SQRT_2) => *b,
            _ => return Ok(false),
        };
        if self.f32_shape(x).as_deref() != Some(shape) {
            return Ok(false);
        }
        let f = || -> Option<(Vec<NodeId>, OutputRef)> {
            let erf = self.sole_consumer(OutputRef::new(id, 0))?;
            if !matches!(self.same_shape_node(erf, shape)?.op, Op::Erf(_)) {
                return None;
            }
            let add = self.sole_consumer(OutputRef::new(erf, 0))?;
            let an = self.same_shape_node(add, shape)?;
            if !matches!(an.op, Op::Add(_))
                || self.scalar_const(Self::other_input(an, OutputRef::new(erf, 0))?) != Some(1.0)
            {
                return None;
            }
            let m1 = self.sole_consumer(OutputRef::new(add, 0))?;
            let mn = self.same_shape_node(m1, shape)?;
            if !matches!(mn.op, Op::Multiply(_)) {
                return None;
            }
            let other = Self::other_input(mn, OutputRef::new(add, 0))?;
            if other == x {
                let m2 = self.sole_consumer(OutputRef::new(m1, 0))?;
                let n2 = self.same_shape_node(m2, shape)?;
                if !matches!(n2.op, Op::Multiply(_))
                    || self.scalar_const(Self::other_input(n2, OutputRef::new(m1, 0))?) != Some(0.5)
                {
                    return None;
                }
                return Some((vec![erf, add, m1, m2], OutputRef::new(m2, 0)));
            }
            // (x * 0.5) * (1 + erf): the half node may already be lowered; it then stays as
            // a dead step, which is still correct.
            let hn = self.m.node(other.node).ok()?;
            if !matches!(hn.op, Op::Multiply(_)) || self.scalar_const(Self::other_input(hn, x)?) != Some(0.5) {
                return None;
            }
            let mut nodes = vec![erf, add, m1];
            if !self.vmap.contains_key(&other) && self.sole_consumer(other) == Some(m1) {
                nodes.push(other.node);
            }
            Some((nodes, OutputRef::new(m1, 0)))
        };
        let Some((nodes, end)) = f() else { return Ok(false) };
        let mut names = Vec::new();
        for &n in &nodes {
            self.absorbed.insert(n);
            names.push(self.m.node(n)?.name.clone());
        }
        let xv = self.value(x)?;
        let o = self.new_buffer_value(end)?;
        self.push(Kind::Unary(Unary::Kernel(UnaryOp::GeluErf)), id, &names, vec![xv], vec![o]);
        Ok(true)
    }

    fn emit_affine(
        &mut self,
        id: NodeId,
        data_input: usize,
        out_shape: &[usize],
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Result<bool> {
        let node = self.m.node(id)?;
        let (mut s, mut sh) = (scale, shift);
        let xv = self.value(node.inputs[data_input])?;
        let ch = self.chain(OutputRef::new(id, 0), out_shape, 1, true);
        if let Some(s2) = &ch.scale {
            if let Some(sh) = &mut sh {
                mul_vec(sh, s2);
            }
            match &mut s {
                Some(cur) => mul_vec(cur, s2),
                None => s = Some(s2.clone()),
            }
        }
        if let Some(b2) = &ch.shift {
            match &mut sh {
                Some(cur) => add_vec(cur, b2),
                None => sh = Some(b2.clone()),
            }
        }
        let c = out_shape[1];
        let inner = out_shape[2..].iter().product();
        let o = self.new_buffer_value(ch.end)?;
        self.push(Kind::ChannelAffine { c, inner, scale: s, shift: sh, act: ch.act }, id, &ch.names, vec![xv], vec![o]);
        Ok(true)
    }
}

/// Window attributes shared by the pooling ops.
struct PoolWin<'a> {
    kernel: &'a [i64],
    strides: &'a [i64],
    dilations: Option<&'a [i64]>,
    pads: (&'a [i64], &'a [i64]),
}

/// Physical memory of this machine (`MemTotal`), the bound a single tensor must fit in; a
/// model whose shapes need more fails to plan with a clear error instead of aborting in the
/// allocator.
pub(crate) fn memory_limit_bytes() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                kib.checked_mul(1024)
            })
            .unwrap_or(isize::MAX as u64)
    })
}
