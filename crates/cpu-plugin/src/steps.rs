//! Executable steps of a plan: one enum variant per fast kernel, plus the reference fallback.

use std::borrow::Cow;

use ir_graph::{ElementType, Op, Tensor};

use crate::error::{PluginError, Result};
use crate::kernels::conv::{self, ConvParams, PackedConvWeights};
use crate::kernels::elementwise::{self, BinaryOp, UnaryOp};
use crate::kernels::gemm::{self, Bias, Epilogue, PackedB};
use crate::kernels::pool::{self, PoolParams};
use crate::kernels::rnn::{RnnIo, RnnKernel};
use crate::kernels::{Activation, ThreadPool};
use crate::plan::{Plan, Storage, ValueId};

/// Element-wise unary op with a fast path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unary {
    /// A vectorised kernel op.
    Kernel(UnaryOp),
    /// `min(max(x, lo), hi)`.
    Clamp(f32, f32),
    /// `x ^ p` for a constant scalar exponent without a cheaper form.
    Pow(f32),
}

/// Applies a unary op in place (kernel ops split across `pool` when large).
fn unary_other(u: Unary, x: &mut [f32], pool: Option<&ThreadPool>) {
    match u {
        Unary::Kernel(op) => elementwise::unary_inplace_par(op, x, pool),
        Unary::Clamp(lo, hi) => clamp_slice(x, lo, hi),
        Unary::Pow(p) => x.iter_mut().for_each(|v| *v = v.powf(p)),
    }
}

/// What one step computes.
#[derive(Debug)]
pub(crate) enum Kind {
    /// Convolution (incl. grouped/depthwise) with fused per-channel bias and activation.
    Conv { params: ConvParams, packed: PackedConvWeights, bias: Option<Vec<f32>>, act: Activation },
    /// `[m, k] x packed [k, n]` with fused per-column bias and activation.
    FullyConnected { m: usize, packed: PackedB, bias: Option<Vec<f32>>, act: Activation },
    /// Batched matmul of two runtime operands: per batch (a offset, b offset).
    MatMul { m: usize, k: usize, n: usize, trans_b: bool, batches: Vec<(usize, usize)> },
    /// Max pooling.
    MaxPool(PoolParams),
    /// Average pooling.
    AvgPool { params: PoolParams, include_pad: bool },
    /// Mean over each `hw` plane.
    GlobalAvgPool { nc: usize, hw: usize },
    /// `act(x * scale[c] + shift[c])` over axis 1 of `[outer, c, inner]`.
    ChannelAffine { c: usize, inner: usize, scale: Option<Vec<f32>>, shift: Option<Vec<f32>>, act: Activation },
    /// Numpy-broadcast binary op, optionally followed by an activation.
    Binary { op: BinaryOp, a_shape: Vec<usize>, b_shape: Vec<usize>, act: Activation },
    /// Element-wise unary op.
    Unary(Unary),
    /// Layer normalisation over the last axis (`cols` wide) with per-column gamma and beta.
    LayerNorm { cols: usize, eps: f32, gamma: Vec<f32>, beta: Vec<f32> },
    /// Softmax over `axis` of `shape`.
    Softmax { shape: Vec<usize>, axis: usize },
    /// Local response normalization across channels of `[outer, c, inner]`.
    Lrn { c: usize, inner: usize, half: usize, scale: f32, bias: f32, beta: f32 },
    /// Concatenation: `outer` blocks, each input contributing `chunk[i]` contiguous values.
    Concat { outer: usize, chunks: Vec<usize> },
    /// Axis permutation of a tensor of `shape`.
    Transpose { shape: Vec<usize>, perm: Vec<usize> },
    /// Same data, new shape (only materialised when the input is not in an arena buffer).
    View { shape: Vec<usize> },
    /// Recurrent sequence op (RNN/GRU/LSTM) with packed constant weights; inputs X, H0,
    /// [C0,] sequence lengths; outputs Y, Y_h[, Y_c].
    Recurrent { kernel: Box<RnnKernel>, batch: usize, seq: usize },
    /// Reference evaluator fallback.
    Fallback(Op),
}

/// One step: a kernel with its input and output values.
#[derive(Debug)]
pub(crate) struct Step {
    /// What to compute.
    pub kind: Kind,
    /// Input values.
    pub inputs: Vec<ValueId>,
    /// Output values.
    pub outputs: Vec<ValueId>,
    /// IR type name of the (first) original op, for errors.
    pub op: &'static str,
    /// Friendly name(s) of the original node(s), for errors.
    pub name: String,
    /// Input whose arena buffer the output reuses (set by the buffer planner).
    pub inplace: Option<usize>,
}

/// Per-request memory: arena buffers and dynamically produced tensors.
pub(crate) struct State {
    /// Arena buffers, by buffer id.
    pub bufs: Vec<Vec<f32>>,
    /// Tensors of `Dynamic` values, by value id.
    pub dyns: Vec<Option<Tensor>>,
}

impl State {
    /// Allocates the arena of `plan`; a failed allocation is an error, not an abort.
    pub(crate) fn new(plan: &Plan) -> Result<State> {
        let mut bufs = Vec::with_capacity(plan.buffer_sizes.len());
        for &n in &plan.buffer_sizes {
            let mut b = Vec::new();
            b.try_reserve_exact(n).map_err(|_| {
                PluginError::Input(format!("cannot allocate an arena buffer of {n} f32 values for this request"))
            })?;
            b.resize(n, 0.0f32);
            bufs.push(b);
        }
        Ok(State { bufs, dyns: vec![None; plan.values.len()] })
    }
}

fn clamp_slice(x: &mut [f32], lo: f32, hi: f32) {
    for v in x {
        *v = v.max(lo).min(hi);
    }
}

/// Applies a fused activation in place.
pub(crate) fn apply_act(act: Activation, x: &mut [f32]) {
    match act {
        Activation::None => {}
        Activation::Relu => elementwise::unary_inplace(UnaryOp::Relu, x),
        Activation::Clamp(lo, hi) => clamp_slice(x, lo, hi),
    }
}

/// Reads an f32 value as a slice (borrowed from the arena, a constant or an aligned tensor).
fn read<'a>(plan: &'a Plan, bufs: &'a [Vec<f32>], dyns: &'a [Option<Tensor>], v: ValueId) -> Result<Cow<'a, [f32]>> {
    let info = &plan.values[v];
    let numel = info.numel();
    let data: Cow<'a, [f32]> = match &info.storage {
        Storage::Const { f32: Some(x), .. } => Cow::Borrowed(x.as_slice()),
        Storage::Const { tensor, .. } => tensor.values::<f32>()?,
        Storage::Buffer(b) => Cow::Borrowed(bufs.get(*b).map(|x| x.as_slice()).unwrap_or(&[])),
        Storage::Dynamic => match dyns.get(v).and_then(Option::as_ref) {
            Some(t) => t.values::<f32>()?,
            None => return Err(PluginError::Input(format!("value {v} was not computed"))),
        },
    };
    if let Some(n) = numel
        && data.len() < n
    {
        return Err(PluginError::Input(format!("value {v} holds {} elements, expected {n}", data.len())));
    }
    Ok(data)
}

/// Reads any value as a tensor (copies arena buffers).
pub(crate) fn read_tensor(plan: &Plan, state: &State, v: ValueId) -> Result<Tensor> {
    let info = &plan.values[v];
    match &info.storage {
        Storage::Const { tensor, .. } => Ok(tensor.clone()),
        Storage::Dynamic => state
            .dyns
            .get(v)
            .and_then(Option::clone)
            .ok_or_else(|| PluginError::Input(format!("value {v} was not computed"))),
        Storage::Buffer(b) => {
            let shape = info.shape.clone().unwrap_or_default();
            let n: usize = shape.iter().product();
            let data = state.bufs.get(*b).and_then(|x| x.get(..n)).ok_or_else(|| {
                PluginError::Input(format!("arena buffer {b} is smaller than value {v} ({n} elements)"))
            })?;
            Ok(Tensor::from_vec(shape, data.to_vec())?)
        }
    }
}

impl Step {
    /// Index of the input this step could overwrite with its output, if it supports that.
    pub(crate) fn inplace_candidate(&self) -> Option<usize> {
        match &self.kind {
            Kind::Unary(_) | Kind::ChannelAffine { .. } => Some(0),
            Kind::Binary { a_shape, b_shape, .. } if a_shape == b_shape => Some(0),
            _ => None,
        }
    }

    /// Multiply-accumulates of one run for GEMM-shaped steps (0 for the rest).
    pub(crate) fn macs(&self) -> u64 {
        match &self.kind {
            Kind::Conv { params: p, .. } => {
                (p.n * p.c_out * p.out_h() * p.out_w() * (p.c_in / p.groups.max(1)) * p.kh * p.kw) as u64
            }
            Kind::FullyConnected { m, packed, .. } => (m * packed.k() * packed.n()) as u64,
            Kind::MatMul { m, k, n, batches, .. } => (m * k * n * batches.len()) as u64,
            Kind::Recurrent { kernel, batch, seq } => kernel.macs(*batch, *seq),
            _ => 0,
        }
    }

    /// Short name of the kernel this step runs (`fallback:<Op>` for the reference evaluator).
    pub(crate) fn exec_type(&self) -> String {
        match &self.kind {
            Kind::Fallback(_) => format!("fallback:{}", self.op),
            Kind::Conv { .. } => "Convolution".into(),
            Kind::FullyConnected { .. } => "FullyConnected".into(),
            Kind::MatMul { .. } => "MatMul".into(),
            Kind::MaxPool(_) => "MaxPool".into(),
            Kind::AvgPool { .. } | Kind::GlobalAvgPool { .. } => "AvgPool".into(),
            Kind::ChannelAffine { .. } => "ScaleShift".into(),
            Kind::Binary { .. } => "Eltwise".into(),
            Kind::Unary(_) => "Activation".into(),
            Kind::LayerNorm { .. } => "LayerNorm".into(),
            Kind::Softmax { .. } => "SoftMax".into(),
            Kind::Concat { .. } => "Concat".into(),
            Kind::Lrn { .. } => "LRN".into(),
            Kind::Transpose { .. } => "Transpose".into(),
            Kind::View { .. } => "View".into(),
            Kind::Recurrent { .. } => self.op.into(),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> PluginError {
        PluginError::node(self.op, &self.name, e)
    }

    /// Runs the step, reading inputs from and writing outputs into `state`.
    pub(crate) fn run(&self, plan: &Plan, state: &mut State, pool: Option<&ThreadPool>) -> Result<()> {
        match &self.kind {
            Kind::Fallback(op) => return self.run_fallback(op, plan, state),
            Kind::Recurrent { kernel, batch, seq } => {
                return self.run_recurrent(kernel, (*batch, *seq), plan, state, pool);
            }
            Kind::View { shape } => {
                let (Some(&i), Some(&o)) = (self.inputs.first(), self.outputs.first()) else {
                    return Err(self.err("view without input or output"));
                };
                if matches!(plan.values[o].storage, Storage::Dynamic) {
                    let t = read_tensor(plan, state, i)?.reshaped(shape.clone()).map_err(|e| self.err(e))?;
                    state.dyns[o] = Some(t);
                }
                return Ok(());
            }
            _ => {}
        }
        let &o = self.outputs.first().ok_or_else(|| self.err("step without output"))?;
        let Storage::Buffer(b) = plan.values[o].storage else {
            return Err(self.err("fast step output is not in the arena"));
        };
        let n = plan.values[o].numel().unwrap_or(0);
        let mut out = std::mem::take(&mut state.bufs[b]);
        let r = if out.len() < n {
            Err(self.err(format!("arena buffer holds {} elements, need {n}", out.len())))
        } else if let Some(k) = self.inplace {
            self.run_inplace(k, plan, &state.bufs, &state.dyns, &mut out[..n], pool)
        } else {
            self.run_fast(plan, &state.bufs, &state.dyns, &mut out[..n], pool)
        };
        state.bufs[b] = out;
        r
    }

    fn run_fast(
        &self,
        plan: &Plan,
        bufs: &[Vec<f32>],
        dyns: &[Option<Tensor>],
        out: &mut [f32],
        pool: Option<&ThreadPool>,
    ) -> Result<()> {
        let ins = self.inputs.iter().map(|&v| read(plan, bufs, dyns, v)).collect::<Result<Vec<_>>>()?;
        let in0 = ins.first().ok_or_else(|| self.err("missing input"))?;
        let k = |r: crate::kernels::KernelResult| r.map_err(|e| self.err(e));
        match &self.kind {
            Kind::Conv { params, packed, bias, act } => {
                k(conv::conv2d(params, packed, in0, bias.as_deref(), *act, out, pool))?;
            }
            Kind::FullyConnected { m, packed, bias, act } => {
                let epi =
                    Epilogue { bias: bias.as_deref().map_or(Bias::None, Bias::PerCol), act: *act, accumulate: false };
                k(gemm::gemm_prepacked(*m, in0, packed.k(), packed, out, packed.n(), &epi, pool))?;
            }
            Kind::MatMul { m, k: kk, n, trans_b, batches } => {
                let b = ins.get(1).ok_or_else(|| self.err("missing input 1"))?;
                let ldb = if *trans_b { *kk } else { *n };
                for (bi, &(ao, bo)) in batches.iter().enumerate() {
                    let (a_s, b_s) = (&in0[ao..], &b[bo..]);
                    let c = &mut out[bi * m * n..(bi + 1) * m * n];
                    k(gemm::gemm(*m, *n, *kk, a_s, *kk, b_s, ldb, *trans_b, c, *n, &Epilogue::none(), pool))?;
                }
            }
            Kind::MaxPool(p) => k(pool::max_pool2d(p, in0, out, pool))?,
            Kind::AvgPool { params, include_pad } => k(pool::avg_pool2d(params, *include_pad, in0, out, pool))?,
            Kind::GlobalAvgPool { nc, hw } => k(pool::global_avg_pool(*nc, *hw, in0, out, pool))?,
            Kind::ChannelAffine { c, inner, scale, shift, act } => {
                let block = c * inner;
                for (xo, yo) in in0.chunks_exact(block.max(1)).zip(out.chunks_exact_mut(block.max(1))) {
                    for ch in 0..*c {
                        let s = scale.as_ref().map_or(1.0, |v| v[ch]);
                        let t = shift.as_ref().map_or(0.0, |v| v[ch]);
                        let (x, y) = (&xo[ch * inner..(ch + 1) * inner], &mut yo[ch * inner..(ch + 1) * inner]);
                        for (yv, &xv) in y.iter_mut().zip(x) {
                            *yv = xv * s + t;
                        }
                    }
                }
                apply_act(*act, out);
            }
            Kind::Binary { op, a_shape, b_shape, act } => {
                let b = ins.get(1).ok_or_else(|| self.err("missing input 1"))?;
                k(elementwise::binary(*op, in0, a_shape, b, b_shape, out))?;
                apply_act(*act, out);
            }
            Kind::Unary(u) => {
                out.copy_from_slice(&in0[..out.len()]);
                unary_other(*u, out, pool);
            }
            Kind::Softmax { shape, axis } => k(elementwise::softmax(in0, shape, *axis, out))?,
            Kind::LayerNorm { cols, eps, gamma, beta } => {
                k(elementwise::layer_norm(&in0[..out.len()], *cols, *eps, gamma, beta, out))?;
            }
            Kind::Concat { outer, chunks } => {
                let row: usize = chunks.iter().sum();
                for (i, x) in ins.iter().enumerate() {
                    let ch = chunks[i];
                    let off: usize = chunks[..i].iter().sum();
                    for o in 0..*outer {
                        out[o * row + off..o * row + off + ch].copy_from_slice(&x[o * ch..(o + 1) * ch]);
                    }
                }
            }
            Kind::Transpose { shape, perm } => transpose(in0, shape, perm, out),
            Kind::Lrn { c, inner, half, scale, bias, beta } => lrn(in0, *c, *inner, *half, (*scale, *bias, *beta), out),
            Kind::Fallback(_) | Kind::View { .. } | Kind::Recurrent { .. } => return Err(self.err("not a fast step")),
        }
        Ok(())
    }

    /// Runs a step whose input `k` already sits in `out` (same buffer).
    fn run_inplace(
        &self,
        k: usize,
        plan: &Plan,
        bufs: &[Vec<f32>],
        dyns: &[Option<Tensor>],
        out: &mut [f32],
        pool: Option<&ThreadPool>,
    ) -> Result<()> {
        match &self.kind {
            Kind::Unary(u) => unary_other(*u, out, pool),
            Kind::ChannelAffine { c, inner, scale, shift, act } => {
                let block = (c * inner).max(1);
                for yo in out.chunks_exact_mut(block) {
                    for ch in 0..*c {
                        let s = scale.as_ref().map_or(1.0, |v| v[ch]);
                        let t = shift.as_ref().map_or(0.0, |v| v[ch]);
                        for y in &mut yo[ch * inner..(ch + 1) * inner] {
                            *y = *y * s + t;
                        }
                    }
                }
                apply_act(*act, out);
            }
            Kind::Binary { op, act, .. } => {
                let &other = self.inputs.get(1 - k.min(1)).ok_or_else(|| self.err("missing input"))?;
                let b = read(plan, bufs, dyns, other)?;
                let b = b.get(..out.len()).ok_or_else(|| self.err("operand shorter than output"))?;
                match (op, k) {
                    (BinaryOp::Add, _) => elementwise::add_into(out, b),
                    (BinaryOp::Mul, _) => out.iter_mut().zip(b).for_each(|(y, &x)| *y *= x),
                    (BinaryOp::Sub, 0) => out.iter_mut().zip(b).for_each(|(y, &x)| *y -= x),
                    (BinaryOp::Sub, _) => out.iter_mut().zip(b).for_each(|(y, &x)| *y = x - *y),
                    (BinaryOp::Div, 0) => out.iter_mut().zip(b).for_each(|(y, &x)| *y /= x),
                    (BinaryOp::Div, _) => out.iter_mut().zip(b).for_each(|(y, &x)| *y = x / *y),
                }
                apply_act(*act, out);
            }
            _ => return Err(self.err("step cannot run in place")),
        }
        Ok(())
    }

    /// Runs a recurrent step: several outputs, all in the arena, and integer sequence lengths.
    fn run_recurrent(
        &self,
        r: &RnnKernel,
        (batch, seq): (usize, usize),
        plan: &Plan,
        state: &mut State,
        pool: Option<&ThreadPool>,
    ) -> Result<()> {
        let lstm = self.outputs.len() == 3;
        let (&xv, &h0v) = match (self.inputs.first(), self.inputs.get(1)) {
            (Some(x), Some(h)) => (x, h),
            _ => return Err(self.err("missing inputs")),
        };
        let lens_v = *self.inputs.get(if lstm { 3 } else { 2 }).ok_or_else(|| self.err("missing sequence lengths"))?;
        let lens: Vec<usize> = read_tensor(plan, state, lens_v)?
            .to_i64_vec()
            .map_err(|e| self.err(e))?
            .iter()
            .map(|&l| usize::try_from(l).unwrap_or(0).min(seq))
            .collect();
        if lens.len() != batch {
            return Err(self.err(format!("sequence_lengths has {} entries for batch {batch}", lens.len())));
        }
        let mut outs = Vec::with_capacity(self.outputs.len());
        for &o in &self.outputs {
            let Storage::Buffer(b) = plan.values[o].storage else {
                return Err(self.err("fast step output is not in the arena"));
            };
            let n = plan.values[o].numel().unwrap_or(0);
            outs.push((b, n, std::mem::take(&mut state.bufs[b])));
        }
        let res = (|| {
            let x = read(plan, &state.bufs, &state.dyns, xv)?;
            let h0 = read(plan, &state.bufs, &state.dyns, h0v)?;
            let c0 = match self.inputs.get(2).filter(|_| lstm) {
                Some(&c) => Some(read(plan, &state.bufs, &state.dyns, c)?),
                None => None,
            };
            let [y, yh, rest @ ..] = outs.as_mut_slice() else {
                return Err(self.err("recurrent step needs Y and Y_h"));
            };
            let y = y.2.get_mut(..y.1).ok_or_else(|| self.err("arena buffer for Y is too small"))?;
            let yh = yh.2.get_mut(..yh.1).ok_or_else(|| self.err("arena buffer for Y_h is too small"))?;
            let yc = match rest.first_mut() {
                Some(o) => Some(o.2.get_mut(..o.1).ok_or_else(|| self.err("arena buffer for Y_c is too small"))?),
                None => None,
            };
            let io = RnnIo { batch, seq, x: &x, h0: &h0, c0: c0.as_deref(), lens: &lens, y, yh, yc };
            r.run(io, pool).map_err(|e| self.err(e))
        })();
        for (b, _, buf) in outs {
            state.bufs[b] = buf;
        }
        res
    }

    fn run_fallback(&self, op: &Op, plan: &Plan, state: &mut State) -> Result<()> {
        let ins = self.inputs.iter().map(|&v| read_tensor(plan, state, v)).collect::<Result<Vec<_>>>()?;
        let outs = op.evaluate(&ins).map_err(|e| self.err(e))?;
        if outs.len() < self.outputs.len() {
            return Err(self.err(format!("produced {} outputs, expected {}", outs.len(), self.outputs.len())));
        }
        for (&v, t) in self.outputs.iter().zip(outs) {
            let info = &plan.values[v];
            if !info.strict {
                state.dyns[v] = Some(t);
                continue;
            }
            if info.et != ElementType::Dynamic && t.element_type() != info.et {
                return Err(self.err(format!("produced {} but {} was inferred", t.element_type(), info.et)));
            }
            if let Some(s) = &info.shape
                && s.as_slice() != t.shape()
            {
                return Err(self.err(format!("produced shape {:?} but {:?} was inferred", t.shape(), s)));
            }
            state.dyns[v] = Some(t);
        }
        Ok(())
    }
}

/// Cross-channel LRN: `y = x / (bias + scale * sum(x[j]^2, |j - c| <= half))^beta`.
fn lrn(x: &[f32], c: usize, inner: usize, half: usize, (scale, bias, beta): (f32, f32, f32), out: &mut [f32]) {
    let block = c * inner;
    if block == 0 {
        return;
    }
    for (xb, yb) in x.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        // Sum of squares of the window into y, then scale in place.
        for ch in 0..c {
            let (lo, hi) = (ch.saturating_sub(half), (ch + half).min(c - 1));
            let y = &mut yb[ch * inner..(ch + 1) * inner];
            y.fill(0.0);
            for j in lo..=hi {
                for (acc, &v) in y.iter_mut().zip(&xb[j * inner..(j + 1) * inner]) {
                    *acc += v * v;
                }
            }
            for (acc, &v) in y.iter_mut().zip(&xb[ch * inner..(ch + 1) * inner]) {
                *acc = v * (bias + scale * *acc).powf(-beta);
            }
        }
    }
}

/// Generic strided permutation copy; the innermost output axis is iterated in a tight loop.
///
/// Axes that stay adjacent and in order (`perm[i+1] == perm[i] + 1`) are merged first, so a
/// channel shuffle `[n, g, c/g, h, w] -> [n, c/g, g, h, w]` moves whole `h*w` planes as
/// block copies instead of one float at a time.
pub(crate) fn transpose(x: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    let (shape, perm) = merge_adjacent_axes(shape, perm);
    let (shape, perm) = (&shape[..], &perm[..]);
    let r = shape.len();
    if r == 0 {
        if let (Some(o), Some(&v)) = (out.first_mut(), x.first()) {
            *o = v;
        }
        return;
    }
    let in_strides = ir_graph::shape::strides_of(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let src_strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let inner = out_shape[r - 1];
    let inner_stride = src_strides[r - 1];
    if inner == 0 || out.is_empty() {
        return;
    }
    let mut idx = vec![0usize; r - 1];
    let mut base = 0usize;
    for chunk in out.chunks_exact_mut(inner) {
        if inner_stride == 1 {
            chunk.copy_from_slice(&x[base..base + inner]);
        } else {
            for (j, o) in chunk.iter_mut().enumerate() {
                *o = x[base + j * inner_stride];
            }
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            base += src_strides[d];
            if idx[d] < out_shape[d] {
                break;
            }
            base -= src_strides[d] * out_shape[d];
            idx[d] = 0;
        }
    }
}

/// `(shape, perm)` with every run of output axes that are consecutive input axes merged into
/// one axis (same element order, fewer and longer contiguous runs).
fn merge_adjacent_axes(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    // Output-order groups of input axes: [first input axis, last input axis].
    let mut groups: Vec<(usize, usize)> = Vec::with_capacity(perm.len());
    for &p in perm {
        match groups.last_mut() {
            Some(g) if g.1 + 1 == p => g.1 = p,
            _ => groups.push((p, p)),
        }
    }
    // Renumber the groups by their position in input order.
    let mut by_input: Vec<usize> = (0..groups.len()).collect();
    by_input.sort_by_key(|&g| groups[g].0);
    let mut rank = vec![0; groups.len()];
    for (r, &g) in by_input.iter().enumerate() {
        rank[g] = r;
    }
    let new_shape: Vec<usize> = by_input.iter().map(|&g| shape[groups[g].0..=groups[g].1].iter().product()).collect();
    (new_shape, rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Element-by-element permutation, the definition `transpose` must match.
    fn naive(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
        let strides = ir_graph::shape::strides_of(shape);
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let n: usize = out_shape.iter().product();
        (0..n)
            .map(|mut i| {
                let mut src = 0;
                for d in (0..perm.len()).rev() {
                    src += (i % out_shape[d]) * strides[perm[d]];
                    i /= out_shape[d];
                }
                x[src]
            })
            .collect()
    }

    #[test]
    fn transpose_with_merged_axes_matches_naive() {
        let cases: [(&[usize], &[usize]); 7] = [
            (&[1, 3, 4, 5, 6], &[0, 2, 1, 3, 4]),
            (&[2, 3, 4], &[2, 0, 1]),
            (&[2, 3, 4, 5], &[0, 1, 2, 3]),
            (&[2, 3, 4, 5], &[3, 2, 1, 0]),
            (&[2, 3, 4, 5], &[2, 3, 0, 1]),
            (&[5, 1, 7], &[1, 2, 0]),
            (&[6], &[0]),
        ];
        for (shape, perm) in cases {
            let n: usize = shape.iter().product();
            let x: Vec<f32> = (0..n).map(|v| v as f32).collect();
            let mut got = vec![-1.0; n];
            transpose(&x, shape, perm, &mut got);
            assert_eq!(got, naive(&x, shape, perm), "{shape:?} {perm:?}");
        }
    }
}
