//! ONNX LSTM with peephole weights, which LSTMSequence-5 cannot express, as one
//! TensorIterator-1 per direction whose body is the ONNX cell:
//! `i = f(Xi + Hi + Pi . C)`, `f = f(Xf + Hf + Pf . C)`, `g = g(Xc + Hc)`, `C' = f . C + i . g`,
//! `o = f(Xo + Ho + Po . C')`, `H' = o . h(C')`.
//! Steps at or past `sequence_lens[b]` keep batch `b`'s state and output zeros; the reverse
//! direction runs forward over each sequence reversed within its length (ReverseSequence), as
//! LSTMSequence does.

use ir_graph::ops::{self, InputDesc, OutputDesc, RnnDirection, SliceAttrs};
use ir_graph::{Dim, ElementType, OutputRef, PartialShape, Tensor};

use super::NodeContext;
use super::attention::{BodyBuilder, convert, one_step, unsqueeze};
use crate::error::FrontendError;

type Out = Result<OutputRef, FrontendError>;

/// The inputs of a peephole LSTM, batch-major, with gates in OpenVINO order (f, i, c, o).
pub(super) struct PeepholeLstm<'a> {
    /// `[batch, seq, input]`.
    pub(super) x: OutputRef,
    /// Initial hidden state `[batch, num_directions, hidden]`.
    pub(super) h0: OutputRef,
    /// Initial cell state `[batch, num_directions, hidden]`.
    pub(super) c0: OutputRef,
    /// Valid steps per batch `[batch]`.
    pub(super) lens: OutputRef,
    /// `[num_directions, 4 * hidden, input]`.
    pub(super) w: OutputRef,
    /// `[num_directions, 4 * hidden, hidden]`.
    pub(super) r: OutputRef,
    /// Summed biases `[num_directions, 4 * hidden]`.
    pub(super) bias: OutputRef,
    /// Peepholes `[num_directions, 3 * hidden]` in ONNX order (i, o, f).
    pub(super) p: OutputRef,
    /// Forward, reverse or both.
    pub(super) direction: RnnDirection,
    /// Hidden size.
    pub(super) hidden: usize,
    /// Activations f, g, h (lowercase sigmoid / tanh / relu).
    pub(super) activations: &'a [String],
}

fn body_const(b: &mut BodyBuilder, c: &NodeContext<'_>, shape: Vec<usize>, v: Vec<i64>) -> Out {
    let t = Tensor::from_vec(shape, v).map_err(|e| c.error(e.to_string()))?;
    b.constant(c, t)
}

fn activation(b: &mut BodyBuilder, c: &NodeContext<'_>, name: &str, x: OutputRef) -> Out {
    match name {
        "sigmoid" => b.add(c, ops::Sigmoid {}, &[x]),
        "tanh" => b.add(c, ops::Tanh {}, &[x]),
        "relu" => b.add(c, ops::Relu {}, &[x]),
        other => Err(c.error(format!("activation '{other}' is not supported (only Sigmoid, Tanh and Relu)"))),
    }
}

/// `x[index]` along `axis`, dropping the axis.
fn pick(c: &mut NodeContext<'_>, x: OutputRef, index: i64, axis: i64) -> Out {
    let i = c.const_i64(&[], vec![index])?;
    let a = c.const_i64(&[], vec![axis])?;
    c.add(ops::Gather { batch_dims: 0 }, &[x, i, a])
}

/// The TensorIterator running one direction forward over `x`; returns Y `[batch, seq, hidden]`
/// and the last H and C `[batch, hidden]`.
fn run_direction(
    c: &mut NodeContext<'_>,
    l: &PeepholeLstm<'_>,
    x: OutputRef,
    mask: OutputRef,
    d: i64,
) -> Result<[OutputRef; 3], FrontendError> {
    let et = c.element_type(l.x);
    let h0 = pick(c, l.h0, d, 1)?;
    let c0 = pick(c, l.c0, d, 1)?;
    let w = pick(c, l.w, d, 0)?;
    let r = pick(c, l.r, d, 0)?;
    let bias = pick(c, l.bias, d, 0)?;
    let p = pick(c, l.p, d, 0)?;
    let batch = c.shape(l.x).dims().and_then(|s| s.first().copied()).unwrap_or(Dim::DYNAMIC);
    let state_shape = PartialShape::Ranked(vec![batch, Dim::fixed(l.hidden as u64)]);

    let mut b = BodyBuilder { m: ir_graph::Model::new("lstm_peephole_step") };
    let x_t = b.param(c, et, one_step(c, x, 1))?;
    let m_t = b.param(c, ElementType::Boolean, one_step(c, mask, 1))?;
    let h = b.param(c, et, state_shape.clone())?;
    let cs = b.param(c, et, state_shape)?;
    let w_p = b.param(c, et, c.shape(w))?;
    let r_p = b.param(c, et, c.shape(r))?;
    let b_p = b.param(c, et, c.shape(bias))?;
    let p_p = b.param(c, et, c.shape(p))?;

    let axis1 = body_const(&mut b, c, vec![1], vec![1])?;
    let x_t = b.add(c, ops::Squeeze {}, &[x_t, axis1])?;
    let m_t = b.add(c, ops::Squeeze {}, &[m_t, axis1])?;
    let xw = b.add(c, ops::MatMul { transpose_a: false, transpose_b: true }, &[x_t, w_p])?;
    let hr = b.add(c, ops::MatMul { transpose_a: false, transpose_b: true }, &[h, r_p])?;
    let gates = b.add(c, ops::Add::default(), &[xw, hr])?;
    let gates = b.add(c, ops::Add::default(), &[gates, b_p])?;
    let last = body_const(&mut b, c, vec![], vec![1])?;
    let split = b.add(c, ops::Split { num_splits: 4 }, &[gates, last])?;
    let gate = |k: u32| OutputRef::new(split.node, k);
    let (gf, gi, gc, go) = (gate(0), gate(1), gate(2), gate(3));
    let zero_axis = body_const(&mut b, c, vec![], vec![0])?;
    let psplit = b.add(c, ops::Split { num_splits: 3 }, &[p_p, zero_axis])?;
    let (p_i, p_o, p_f) =
        (OutputRef::new(psplit.node, 0), OutputRef::new(psplit.node, 1), OutputRef::new(psplit.node, 2));
    let [act_f, act_g, act_h] = [&l.activations[0], &l.activations[1], &l.activations[2]];

    let pic = b.add(c, ops::Multiply::default(), &[p_i, cs])?;
    let i = b.add(c, ops::Add::default(), &[gi, pic])?;
    let i = activation(&mut b, c, act_f, i)?;
    let pfc = b.add(c, ops::Multiply::default(), &[p_f, cs])?;
    let f = b.add(c, ops::Add::default(), &[gf, pfc])?;
    let f = activation(&mut b, c, act_f, f)?;
    let g = activation(&mut b, c, act_g, gc)?;
    let fc = b.add(c, ops::Multiply::default(), &[f, cs])?;
    let ig = b.add(c, ops::Multiply::default(), &[i, g])?;
    let c_new = b.add(c, ops::Add::default(), &[fc, ig])?;
    let poc = b.add(c, ops::Multiply::default(), &[p_o, c_new])?;
    let o = b.add(c, ops::Add::default(), &[go, poc])?;
    let o = activation(&mut b, c, act_f, o)?;
    let hc = activation(&mut b, c, act_h, c_new)?;
    let h_new = b.add(c, ops::Multiply::default(), &[o, hc])?;

    // Past the sequence's end: the state is kept and the output is zero.
    let h_out = b.add(c, ops::Select::default(), &[m_t, h_new, h])?;
    let c_out = b.add(c, ops::Select::default(), &[m_t, c_new, cs])?;
    let zero = b.constant(c, ir_graph::Tensor::zeros(et, vec![]).map_err(|e| c.error(e.to_string()))?)?;
    let y = b.add(c, ops::Select::default(), &[m_t, h_new, zero])?;
    let y = b.add(c, ops::Unsqueeze {}, &[y, axis1])?;
    b.result(c, y)?;
    b.result(c, h_out)?;
    b.result(c, c_out)?;

    let inputs = vec![x, mask, h0, c0, w, r, bias, p];
    let mut descs = vec![
        InputDesc::Sliced { input: 0, param: 0, slice: SliceAttrs::forward(1) },
        InputDesc::Sliced { input: 1, param: 1, slice: SliceAttrs::forward(1) },
        InputDesc::Merged { input: 2, param: 2, result: 1 },
        InputDesc::Merged { input: 3, param: 3, result: 2 },
    ];
    descs.extend((4..8).map(|k| InputDesc::Invariant { input: k, param: k }));
    let outputs = vec![
        OutputDesc::Concat { result: 0, output: 0, slice: SliceAttrs::forward(1) },
        OutputDesc::Last { result: 1, output: 1 },
        OutputDesc::Last { result: 2, output: 2 },
    ];
    let ti = ops::TensorIterator { body: ops::Body::new(b.m), inputs: descs, outputs };
    let id = c.add_node(ti, &inputs)?;
    Ok([OutputRef::new(id, 0), OutputRef::new(id, 1), OutputRef::new(id, 2)])
}

/// Y `[batch, num_directions, seq, hidden]`, Y_h and Y_c `[batch, num_directions, hidden]`, as
/// LSTMSequence-5's outputs.
pub(super) fn peephole_lstm(c: &mut NodeContext<'_>, l: &PeepholeLstm<'_>) -> Result<[OutputRef; 3], FrontendError> {
    if l.activations.len() != 3 {
        return Err(c.error(format!("expected 3 activations, got {}", l.activations.len())));
    }
    // mask[b, t, 0] = t < lens[b].
    let lens = convert(c, l.lens, ElementType::I64)?;
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[l.x])?;
    let seq = pick(c, shape, 1, 0)?;
    let (zero, one) = (c.const_i64(&[], vec![0])?, c.const_i64(&[], vec![1])?);
    let steps = c.add(ops::Range { output_type: ElementType::I64 }, &[zero, seq, one])?;
    let col = unsqueeze(c, lens, &[1])?;
    let mask = c.add(ops::Less::default(), &[steps, col])?;
    let mask = unsqueeze(c, mask, &[2])?;
    let dirs: &[bool] = match l.direction {
        RnnDirection::Forward => &[false],
        RnnDirection::Reverse => &[true],
        RnnDirection::Bidirectional => &[false, true],
    };
    let reverse = ops::ReverseSequence { batch_axis: 0, seq_axis: 1 };
    let (mut ys, mut hs, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for (d, &rev) in dirs.iter().enumerate() {
        let x = if rev { c.add(reverse.clone(), &[l.x, lens])? } else { l.x };
        let [y, h, cell] = run_direction(c, l, x, mask, d as i64)?;
        let y = if rev { c.add(reverse.clone(), &[y, lens])? } else { y };
        ys.push(unsqueeze(c, y, &[1])?);
        hs.push(unsqueeze(c, h, &[1])?);
        cs.push(unsqueeze(c, cell, &[1])?);
    }
    let cat = |c: &mut NodeContext<'_>, v: Vec<OutputRef>| -> Out {
        if v.len() == 1 { Ok(v[0]) } else { c.add(ops::Concat { axis: 1 }, &v) }
    };
    Ok([cat(c, ys)?, cat(c, hs)?, cat(c, cs)?])
}
