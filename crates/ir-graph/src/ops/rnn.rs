//! Recurrent sequence ops: `RNNSequence`, `GRUSequence` and `LSTMSequence` (opset5).
//!
//! All three take batch-major data: `X [batch, seq, input]`, initial states
//! `[batch, num_directions, hidden]`, `sequence_lengths [batch]`, weights
//! `W [num_directions, gates*hidden, input]`, `R [num_directions, gates*hidden, hidden]` and one
//! bias `B [num_directions, gates*hidden]` (GRU with `linear_before_reset` has a fourth bias
//! block). Outputs are `Y [batch, num_directions, seq, hidden]` and the last states.

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Which way a recurrent op walks the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RnnDirection {
    /// First to last step.
    #[default]
    Forward,
    /// Last to first step.
    Reverse,
    /// Both, as two directions of the output.
    Bidirectional,
}

impl RnnDirection {
    /// Number of directions in the outputs.
    pub fn count(self) -> usize {
        if self == RnnDirection::Bidirectional { 2 } else { 1 }
    }
}

/// The three recurrent cells, for the shared inference and evaluation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Plain RNN: one gate.
    Rnn,
    /// GRU: gates z, r, h.
    Gru,
    /// LSTM: gates f, i, c, o (OpenVINO's order).
    Lstm,
}

impl CellKind {
    fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Gru => 3,
            CellKind::Lstm => 4,
        }
    }
    fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "RNNSequence",
            CellKind::Gru => "GRUSequence",
            CellKind::Lstm => "LSTMSequence",
        }
    }
}

/// Attributes shared by the three sequence ops.
#[derive(Debug, Clone, Copy)]
struct Common<'a> {
    kind: CellKind,
    direction: RnnDirection,
    hidden_size: u64,
    activations: &'a [String],
    clip: f32,
    linear_before_reset: bool,
}

/// `RNNSequence`-5: `H_t = f(X_t W^T + H_{t-1} R^T + B)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnSequence {
    /// Walking direction.
    pub direction: RnnDirection,
    /// Hidden state size.
    pub hidden_size: u64,
    /// Activation function names (`tanh`, `sigmoid`, `relu`).
    pub activations: Vec<String>,
    /// Alpha of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_alpha: Vec<f32>,
    /// Beta of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_beta: Vec<f32>,
    /// Clips gate pre-activations to `[-clip, clip]` when positive.
    #[serde(default)]
    pub clip: f32,
}

/// `GRUSequence`-5: gates z, r and the candidate h.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GruSequence {
    /// Walking direction.
    pub direction: RnnDirection,
    /// Apply the reset gate after the recurrent product (`B` then has 4 blocks).
    #[serde(default)]
    pub linear_before_reset: bool,
    /// Hidden state size.
    pub hidden_size: u64,
    /// Activation function names (`f` for gates, `g` for the candidate).
    pub activations: Vec<String>,
    /// Alpha of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_alpha: Vec<f32>,
    /// Beta of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_beta: Vec<f32>,
    /// Clips gate pre-activations to `[-clip, clip]` when positive.
    #[serde(default)]
    pub clip: f32,
}

/// `LSTMSequence`-5: gates f, i, c, o, without peepholes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmSequence {
    /// Walking direction.
    pub direction: RnnDirection,
    /// Hidden state size.
    pub hidden_size: u64,
    /// Activation function names (`f` for gates, `g` for the cell input, `h` for the output).
    pub activations: Vec<String>,
    /// Alpha of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_alpha: Vec<f32>,
    /// Beta of parametric activations (unused by the supported ones).
    #[serde(default)]
    pub activations_beta: Vec<f32>,
    /// Clips gate pre-activations to `[-clip, clip]` when positive.
    #[serde(default)]
    pub clip: f32,
}

fn dim_of(shape: &PartialShape, axis: usize) -> Dim {
    shape.dims().and_then(|d| d.get(axis).copied()).unwrap_or(Dim::interval(0, None))
}

fn check_rank(what: &str, shape: &PartialShape, rank: usize) -> Result<()> {
    match shape.rank() {
        Some(r) if r != rank => Err(invalid!("{what} must have rank {rank}, got {shape}")),
        _ => Ok(()),
    }
}

fn infer_sequence(c: Common<'_>, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
    let with_cell = c.kind == CellKind::Lstm;
    let n = if with_cell { 7 } else { 6 };
    expect_inputs(inputs, n, n)?;
    let et = inputs[0].element_type;
    if !et.is_float() && et != ElementType::Dynamic {
        return Err(invalid!("{} needs floating-point data, got {et}", c.kind.name()));
    }
    let (x, h0) = (inputs[0].shape, inputs[1].shape);
    check_rank("X", x, 3)?;
    check_rank("initial_hidden_state", h0, 3)?;
    let off = usize::from(with_cell);
    check_rank("sequence_lengths", inputs[2 + off].shape, 1)?;
    let (w, r, b) = (inputs[3 + off].shape, inputs[4 + off].shape, inputs[5 + off].shape);
    check_rank("W", w, 3)?;
    check_rank("R", r, 3)?;
    check_rank("B", b, 2)?;
    let nd = c.direction.count() as u64;
    let hs = c.hidden_size;
    let gates = c.kind.gates() as u64;
    let b_gates = if c.linear_before_reset { 4 } else { gates };
    for (what, shape, axis, want) in [
        ("W", w, 0, nd),
        ("W", w, 1, gates * hs),
        ("R", r, 0, nd),
        ("R", r, 1, gates * hs),
        ("R", r, 2, hs),
        ("B", b, 0, nd),
        ("B", b, 1, b_gates * hs),
        ("initial_hidden_state", h0, 1, nd),
        ("initial_hidden_state", h0, 2, hs),
    ] {
        if let Some(got) = dim_of(shape, axis).get()
            && got != want
        {
            return Err(invalid!("{what} dimension {axis} is {got}, expected {want}"));
        }
    }
    let needed = match c.kind {
        CellKind::Rnn => 1,
        CellKind::Gru => 2,
        CellKind::Lstm => 3,
    };
    if c.activations.len() < needed {
        return Err(invalid!("{} needs {needed} activations, got {}", c.kind.name(), c.activations.len()));
    }
    for a in c.activations {
        activation(a)?;
    }
    if c.clip.is_nan() || c.clip < 0.0 {
        return Err(invalid!("clip must be non-negative, got {}", c.clip));
    }
    let batch = dim_of(x, 0).merge(dim_of(h0, 0)).ok_or_else(|| invalid!("X and initial_hidden_state batch differ"))?;
    if dim_of(x, 2).merge(dim_of(w, 2)).is_none() {
        return Err(invalid!("X input size {} does not match W {}", dim_of(x, 2), dim_of(w, 2)));
    }
    if batch.merge(dim_of(inputs[2 + off].shape, 0)).is_none() {
        return Err(invalid!("sequence_lengths does not have one entry per batch row"));
    }
    if with_cell {
        let cs = inputs[2].shape;
        check_rank("initial_cell_state", cs, 3)?;
        for axis in 0..3 {
            if dim_of(cs, axis).merge(dim_of(h0, axis)).is_none() {
                return Err(invalid!("initial_cell_state {cs} does not match initial_hidden_state {h0}"));
            }
        }
    }
    let seq = dim_of(x, 1);
    let y = PartialShape::Ranked(vec![batch, Dim::fixed(nd), seq, Dim::fixed(hs)]);
    let state = OutputType::new(et, PartialShape::Ranked(vec![batch, Dim::fixed(nd), Dim::fixed(hs)]));
    let mut out = vec![OutputType::new(et, y), state.clone()];
    if with_cell {
        out.push(state);
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum Act {
    Sigmoid,
    Tanh,
    Relu,
}

fn activation(name: &str) -> Result<Act> {
    match name.trim().to_ascii_lowercase().as_str() {
        "sigmoid" => Ok(Act::Sigmoid),
        "tanh" => Ok(Act::Tanh),
        "relu" => Ok(Act::Relu),
        other => Err(invalid!("activation '{other}' is not one of sigmoid, tanh, relu")),
    }
}

fn apply(a: Act, v: f64) -> f64 {
    match a {
        Act::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        Act::Tanh => v.tanh(),
        Act::Relu => v.max(0.0),
    }
}

/// Reference run of a sequence op; `shapes` are the op's inferred output shapes on `inputs`,
/// whose inference also validated every input shape against the attributes.
fn evaluate_sequence(c: Common<'_>, inputs: &[Tensor], shapes: Vec<Vec<usize>>) -> Result<Vec<Tensor>> {
    use crate::eval::values::{decode_float, encode_f, ints};
    let with_cell = c.kind == CellKind::Lstm;
    let off = usize::from(with_cell);
    let op = c.kind.name();
    let [x, h0] = [&inputs[0], &inputs[1]];
    let xs = x.shape();
    let (batch, seq, isz) = (xs[0], xs[1], xs[2]);
    let hs = c.hidden_size as usize;
    let nd = c.direction.count();
    let g = c.kind.gates();
    let xv = decode_float(op, x)?;
    let h0v = decode_float(op, h0)?;
    let c0v = if with_cell { decode_float(op, &inputs[2])? } else { Vec::new() };
    let lens = ints(&inputs[2 + off])?;
    let wv = decode_float(op, &inputs[3 + off])?;
    let rv = decode_float(op, &inputs[4 + off])?;
    let bv = decode_float(op, &inputs[5 + off])?;
    if lens.len() != batch {
        return Err(invalid!("{op}: sequence_lengths has {} entries for batch {batch}", lens.len()));
    }
    let acts: Vec<Act> = c.activations.iter().map(|a| activation(a)).collect::<Result<_>>()?;
    let f = acts[0];
    let gg = acts.get(1).copied().unwrap_or(f);
    let hh = acts.get(2).copied().unwrap_or(gg);
    let clip = |v: f64| if c.clip > 0.0 { v.clamp(-(c.clip as f64), c.clip as f64) } else { v };
    let mut y = vec![0.0f64; batch * nd * seq * hs];
    let mut ho = vec![0.0f64; batch * nd * hs];
    let mut co = vec![0.0f64; batch * nd * hs];
    let b_gates = if c.linear_before_reset { 4 } else { g };
    for d in 0..nd {
        let reverse = c.direction == RnnDirection::Reverse || d == 1;
        let w = &wv[d * g * hs * isz..][..g * hs * isz];
        let r = &rv[d * g * hs * hs..][..g * hs * hs];
        let bias = &bv[d * b_gates * hs..][..b_gates * hs];
        for b in 0..batch {
            let len = usize::try_from(lens[b]).unwrap_or(0).min(seq);
            let mut h: Vec<f64> = h0v[(b * nd + d) * hs..][..hs].to_vec();
            let mut cell: Vec<f64> = if with_cell { c0v[(b * nd + d) * hs..][..hs].to_vec() } else { Vec::new() };
            for step in 0..len {
                let t = if reverse { len - 1 - step } else { step };
                let xt = &xv[(b * seq + t) * isz..][..isz];
                // Per-gate input and recurrent products (kept apart for GRU's reset gate).
                let mut xw = vec![0.0f64; g * hs];
                let mut hr = vec![0.0f64; g * hs];
                for j in 0..g * hs {
                    xw[j] = w[j * isz..][..isz].iter().zip(xt).map(|(a, b)| a * b).sum();
                    hr[j] = r[j * hs..][..hs].iter().zip(&h).map(|(a, b)| a * b).sum();
                }
                let mut next = vec![0.0f64; hs];
                match c.kind {
                    CellKind::Rnn => {
                        for k in 0..hs {
                            next[k] = apply(f, clip(xw[k] + hr[k] + bias[k]));
                        }
                    }
                    CellKind::Gru => {
                        let gate = |k: usize| clip(xw[k] + hr[k] + bias[k]);
                        let z: Vec<f64> = (0..hs).map(|k| apply(f, gate(k))).collect();
                        let rg: Vec<f64> = (0..hs).map(|k| apply(f, gate(hs + k))).collect();
                        // Without linear_before_reset the reset gate scales H before the
                        // recurrent product of the candidate.
                        let rh: Vec<f64> = h.iter().zip(&rg).map(|(a, b)| a * b).collect();
                        for k in 0..hs {
                            let pre = if c.linear_before_reset {
                                xw[2 * hs + k] + bias[2 * hs + k] + rg[k] * (hr[2 * hs + k] + bias[3 * hs + k])
                            } else {
                                let p: f64 = r[(2 * hs + k) * hs..][..hs].iter().zip(&rh).map(|(a, b)| a * b).sum();
                                xw[2 * hs + k] + p + bias[2 * hs + k]
                            };
                            let cand = apply(gg, clip(pre));
                            next[k] = (1.0 - z[k]) * cand + z[k] * h[k];
                        }
                    }
                    CellKind::Lstm => {
                        for k in 0..hs {
                            let pre = |gate: usize| clip(xw[gate * hs + k] + hr[gate * hs + k] + bias[gate * hs + k]);
                            let fg = apply(f, pre(0));
                            let ig = apply(f, pre(1));
                            let cg = apply(gg, pre(2));
                            let og = apply(f, pre(3));
                            cell[k] = fg * cell[k] + ig * cg;
                            next[k] = og * apply(hh, cell[k]);
                        }
                    }
                }
                h = next;
                y[((b * nd + d) * seq + t) * hs..][..hs].copy_from_slice(&h);
            }
            ho[(b * nd + d) * hs..][..hs].copy_from_slice(&h);
            if with_cell {
                co[(b * nd + d) * hs..][..hs].copy_from_slice(&cell);
            }
        }
    }
    let et = x.element_type();
    let mut out = vec![encode_f(op, et, shapes[0].clone(), y)?, encode_f(op, et, shapes[1].clone(), ho)?];
    if with_cell {
        out.push(encode_f(op, et, shapes[2].clone(), co)?);
    }
    Ok(out)
}

impl OpSpec for RnnSequence {
    const TYPE: &'static str = "RNNSequence";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_sequence(self.common(), inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        evaluate_sequence(self.common(), inputs, crate::eval::static_output_shapes(self, inputs)?)
    }
}

impl RnnSequence {
    fn common(&self) -> Common<'_> {
        Common {
            kind: CellKind::Rnn,
            direction: self.direction,
            hidden_size: self.hidden_size,
            activations: &self.activations,
            clip: self.clip,
            linear_before_reset: false,
        }
    }
}

impl OpSpec for GruSequence {
    const TYPE: &'static str = "GRUSequence";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_sequence(self.common(), inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        evaluate_sequence(self.common(), inputs, crate::eval::static_output_shapes(self, inputs)?)
    }
}

impl GruSequence {
    fn common(&self) -> Common<'_> {
        Common {
            kind: CellKind::Gru,
            direction: self.direction,
            hidden_size: self.hidden_size,
            activations: &self.activations,
            clip: self.clip,
            linear_before_reset: self.linear_before_reset,
        }
    }
}

impl OpSpec for LstmSequence {
    const TYPE: &'static str = "LSTMSequence";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_sequence(self.common(), inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        evaluate_sequence(self.common(), inputs, crate::eval::static_output_shapes(self, inputs)?)
    }
}

impl LstmSequence {
    fn common(&self) -> Common<'_> {
        Common {
            kind: CellKind::Lstm,
            direction: self.direction,
            hidden_size: self.hidden_size,
            activations: &self.activations,
            clip: self.clip,
            linear_before_reset: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::attrs::{from_attrs, to_attrs};

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("tensor")
    }

    fn rnn(direction: RnnDirection) -> RnnSequence {
        RnnSequence {
            direction,
            hidden_size: 1,
            activations: vec!["relu".into()],
            activations_alpha: vec![],
            activations_beta: vec![],
            clip: 0.0,
        }
    }

    fn run_rnn(direction: RnnDirection, len: i32) -> (Vec<f64>, Vec<f64>) {
        let lens = Tensor::from_vec(vec![1], vec![len]).expect("lens");
        let inputs = [
            t(&[1, 2, 1], &[1.0, 2.0]),
            t(&[1, 1, 1], &[0.0]),
            lens,
            t(&[1, 1, 1], &[1.0]),
            t(&[1, 1, 1], &[0.5]),
            t(&[1, 1], &[0.0]),
        ];
        let out = rnn(direction).evaluate(&inputs).expect("evaluate");
        (out[0].to_f64_vec().expect("y"), out[1].to_f64_vec().expect("h"))
    }

    #[test]
    fn rnn_walks_forward_reverse_and_stops_at_the_sequence_length() {
        // h1 = relu(1) = 1, h2 = relu(2 + 0.5 * 1) = 2.5
        assert_eq!(run_rnn(RnnDirection::Forward, 2), (vec![1.0, 2.5], vec![2.5]));
        // reverse: t=1 first: relu(2) = 2, then t=0: relu(1 + 0.5 * 2) = 2
        assert_eq!(run_rnn(RnnDirection::Reverse, 2), (vec![2.0, 2.0], vec![2.0]));
        // padded steps give zeros and the state of the last valid step
        assert_eq!(run_rnn(RnnDirection::Forward, 1), (vec![1.0, 0.0], vec![1.0]));
    }

    #[test]
    fn lstm_gate_blocks_are_f_i_c_o() {
        // Zero weights; biases drive each gate: f closed, i open, c = tanh(1), o open.
        let op = LstmSequence {
            direction: RnnDirection::Forward,
            hidden_size: 1,
            activations: vec!["sigmoid".into(), "tanh".into(), "tanh".into()],
            activations_alpha: vec![],
            activations_beta: vec![],
            clip: 0.0,
        };
        let lens = Tensor::from_vec(vec![1], vec![1i32]).expect("lens");
        let inputs = [
            t(&[1, 1, 1], &[0.0]),
            t(&[1, 1, 1], &[0.0]),
            t(&[1, 1, 1], &[5.0]),
            lens,
            t(&[1, 4, 1], &[0.0; 4]),
            t(&[1, 4, 1], &[0.0; 4]),
            t(&[1, 4], &[-40.0, 40.0, 1.0, 40.0]),
        ];
        let out = op.evaluate(&inputs).expect("evaluate");
        let c = out[2].to_f64_vec().expect("c")[0];
        let h = out[1].to_f64_vec().expect("h")[0];
        assert!((c - 1f64.tanh()).abs() < 1e-6, "{c}");
        assert!((h - c.tanh()).abs() < 1e-6, "{h}");
    }

    #[test]
    fn attributes_use_openvino_spellings() {
        let op = GruSequence {
            direction: RnnDirection::Bidirectional,
            linear_before_reset: true,
            hidden_size: 5,
            activations: vec!["sigmoid".into(), "tanh".into()],
            activations_alpha: vec![],
            activations_beta: vec![],
            clip: 0.0,
        };
        let attrs = to_attrs(&op).expect("attrs");
        let text: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "direction=bidirectional",
                "linear_before_reset=true",
                "hidden_size=5",
                "activations=sigmoid, tanh",
                "activations_alpha=",
                "activations_beta=",
                "clip=0"
            ]
        );
        let map: HashMap<String, String> = attrs.into_iter().collect();
        assert_eq!(from_attrs::<GruSequence>(&map).expect("parse"), op);
    }

    #[test]
    fn mismatched_weights_are_refused() {
        let op = rnn(RnnDirection::Bidirectional);
        let shapes = [[1usize, 2, 1].as_slice(), &[1, 2, 1], &[1], &[1, 1, 1], &[2, 1, 1], &[2, 1]];
        let ps: Vec<PartialShape> = shapes.iter().map(|s| PartialShape::fixed(s)).collect();
        let ets = [
            ElementType::F32,
            ElementType::F32,
            ElementType::I32,
            ElementType::F32,
            ElementType::F32,
            ElementType::F32,
        ];
        let ii: Vec<InferInput<'_>> =
            ps.iter().zip(ets).map(|(s, et)| InferInput { element_type: et, shape: s, value: None }).collect();
        let err = op.infer(&ii).expect_err("W has one direction for a bidirectional op").to_string();
        assert!(err.contains("W dimension 0 is 1, expected 2"), "{err}");
    }
}
