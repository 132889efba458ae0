//! Recurrent ops: ONNX RNN, GRU and LSTM as `RNNSequence`/`GRUSequence`/`LSTMSequence`-5.
//!
//! ONNX is sequence-major by default (`layout = 0`: `X [seq, batch, input]`,
//! `Y [seq, num_directions, batch, hidden]`, states `[num_directions, batch, hidden]`) while the
//! IR ops are batch-major, so Transposes wrap the op. ONNX LSTM gates are ordered i, o, f, c and
//! OpenVINO's f, i, c, o, so weights and biases are re-ordered with a Gather (folded for constant
//! weights). ONNX keeps separate input and recurrent biases; the IR op takes their sum (and, for
//! GRU with `linear_before_reset`, the candidate's two biases apart). LSTM with peephole weights
//! is a TensorIterator over the ONNX cell (`lstm_peephole`).

use ir_graph::ops::{self, RnnDirection};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "RNN", &[1, 7, 14, 22], |c| recurrent(c, Cell::Rnn));
    r.register("", "GRU", &[1, 3, 7, 14, 22], |c| recurrent(c, Cell::Gru));
    r.register("", "LSTM", &[1, 7, 14, 22], |c| recurrent(c, Cell::Lstm));
}

#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Rnn,
    Gru,
    Lstm,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Cell::Rnn => &["Tanh"],
            Cell::Gru => &["Sigmoid", "Tanh"],
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

/// Row indices selecting gate blocks `order` (each `hs` rows) of a `[.., gates*hs, ..]` tensor.
fn block_rows(order: &[usize], hs: usize) -> Vec<i64> {
    order.iter().flat_map(|&g| (g * hs..(g + 1) * hs).map(|v| v as i64)).collect()
}

fn gather_rows(c: &mut NodeContext<'_>, x: OutputRef, rows: Vec<i64>, axis: i64) -> Result<OutputRef, FrontendError> {
    let n = rows.len();
    let idx = c.const_i64(&[n], rows)?;
    let ax = c.const_i64(&[], vec![axis])?;
    c.add(ops::Gather { batch_dims: 0 }, &[x, idx, ax])
}

fn transpose(c: &mut NodeContext<'_>, x: OutputRef, order: &[i64]) -> Result<OutputRef, FrontendError> {
    let o = c.const_vec(order)?;
    c.add(ops::Transpose {}, &[x, o])
}

/// `Broadcast(value, [batch, rest...])` with `batch` read from the batch-major `x`.
fn filled_by_batch(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    value: OutputRef,
    rest: &[i64],
) -> Result<OutputRef, FrontendError> {
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let batch = gather_rows(c, shape, vec![0], 0)?;
    let mut parts = vec![batch];
    if !rest.is_empty() {
        parts.push(c.const_vec(rest)?);
    }
    let target = if parts.len() == 1 { parts[0] } else { c.add(ops::Concat { axis: 0 }, &parts)? };
    c.add(ops::Broadcast::default(), &[value, target])
}

fn recurrent(c: &mut NodeContext<'_>, cell: Cell) -> R {
    let x = c.input(0)?;
    let w = c.input(1)?;
    let r = c.input(2)?;
    let b = c.opt_input(3);
    let seq_lens = c.opt_input(4);
    let h0 = c.opt_input(5);
    let c0 = if cell == Cell::Lstm { c.opt_input(6) } else { None };
    let et = c.element_type(x);

    let hs = usize::try_from(c.attr_int_req("hidden_size")?)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| c.error("hidden_size must be positive"))?;
    let direction = match c.attr_string("direction", "forward")?.as_str() {
        "forward" => RnnDirection::Forward,
        "reverse" => RnnDirection::Reverse,
        "bidirectional" => RnnDirection::Bidirectional,
        other => return Err(c.error(format!("direction '{other}' is not forward, reverse or bidirectional"))),
    };
    let nd = direction.count();
    let layout = c.attr_int("layout", 0)?;
    if layout != 0 && layout != 1 {
        return Err(c.error(format!("layout {layout} is not 0 or 1")));
    }
    let clip = c.attr_float("clip", 0.0)?;
    if cell == Cell::Lstm && c.attr_int("input_forget", 0)? != 0 {
        return Err(c.error("input_forget = 1 (coupled input and forget gates) has no LSTMSequence-5 equivalent"));
    }
    // LSTMSequence-5 has no peephole input; all-zero peepholes are the same as none, others
    // take the TensorIterator path.
    let peepholes = match c.opt_input(7) {
        Some(p) if cell == Cell::Lstm => {
            let zero = c.const_input(7).and_then(|t| t.to_f64_vec().ok()).is_some_and(|v| v.iter().all(|&x| x == 0.0));
            if zero { None } else { Some(p) }
        }
        _ => None,
    };
    if peepholes.is_some() && clip != 0.0 {
        return Err(c.error("clip together with peephole weights (input P) is not supported"));
    }
    // Activations: one set per direction; the IR op has one set for both.
    let per_dir = cell.default_activations().len();
    let names: Vec<String> = match c.attr_strings("activations")? {
        Some(a) => a,
        None => cell.default_activations().iter().map(|s| s.to_string()).collect(),
    };
    if names.len() != per_dir && names.len() != per_dir * nd {
        return Err(c.error(format!("expected {} activations, got {}", per_dir * nd, names.len())));
    }
    if names.len() == per_dir * 2 && names[..per_dir] != names[per_dir..] {
        return Err(c.error("different activations per direction are not supported (one set for both in the IR)"));
    }
    let mut activations = Vec::new();
    for n in &names[..per_dir] {
        let lower = n.to_ascii_lowercase();
        if !matches!(lower.as_str(), "sigmoid" | "tanh" | "relu") {
            return Err(c.error(format!("activation '{n}' is not supported (only Sigmoid, Tanh and Relu)")));
        }
        activations.push(lower);
    }
    if c.has_attr("activation_alpha") || c.has_attr("activation_beta") {
        // Only parametric activations read them, and those are refused above.
        let _ = (c.attr_floats("activation_alpha")?, c.attr_floats("activation_beta")?);
    }
    let linear_before_reset = cell == Cell::Gru && c.attr_int("linear_before_reset", 0)? != 0;

    // Batch-major data and states.
    let xb = if layout == 0 { transpose(c, x, &[1, 0, 2])? } else { x };
    let state = |c: &mut NodeContext<'_>, s: Option<OutputRef>| -> Result<OutputRef, FrontendError> {
        match s {
            Some(s) if layout == 0 => transpose(c, s, &[1, 0, 2]),
            Some(s) => Ok(s),
            None => {
                let zero = c.const_scalar(et, 0.0)?;
                filled_by_batch(c, xb, zero, &[nd as i64, hs as i64])
            }
        }
    };
    let h0 = state(c, h0)?;
    let c0 = if cell == Cell::Lstm { Some(state(c, c0)?) } else { None };
    let lens = match seq_lens {
        Some(l) => l,
        None => {
            let shape = c.add(ops::ShapeOf { output_type: ElementType::I32 }, &[xb])?;
            let seq = gather_rows(c, shape, vec![1], 0)?;
            let seq = c.add(ops::Squeeze {}, &[seq])?;
            filled_by_batch(c, xb, seq, &[])?
        }
    };

    // Gate order and biases.
    let g = cell.gates();
    let order: Vec<usize> = if cell == Cell::Lstm { vec![2, 0, 3, 1] } else { (0..g).collect() };
    let (w, r) = if cell == Cell::Lstm {
        (gather_rows(c, w, block_rows(&order, hs), 1)?, gather_rows(c, r, block_rows(&order, hs), 1)?)
    } else {
        (w, r)
    };
    let b_blocks = if linear_before_reset { 4 } else { g };
    let bias = match b {
        None => {
            let zeros = Tensor::zeros(et, vec![nd, b_blocks * hs]).map_err(|e| c.error(e.to_string()))?;
            c.constant(zeros)?
        }
        Some(b) => {
            // ONNX B is [Wb blocks..., Rb blocks...] along axis 1.
            let wb: Vec<usize> = order.clone();
            let rb: Vec<usize> = order.iter().map(|&o| o + g).collect();
            if linear_before_reset {
                let zr_w = gather_rows(c, b, block_rows(&[0, 1], hs), 1)?;
                let zr_r = gather_rows(c, b, block_rows(&[g, g + 1], hs), 1)?;
                let zr = c.add(ops::Add::default(), &[zr_w, zr_r])?;
                let h = gather_rows(c, b, block_rows(&[2, g + 2], hs), 1)?;
                c.add(ops::Concat { axis: 1 }, &[zr, h])?
            } else {
                let bw = gather_rows(c, b, block_rows(&wb, hs), 1)?;
                let br = gather_rows(c, b, block_rows(&rb, hs), 1)?;
                c.add(ops::Add::default(), &[bw, br])?
            }
        }
    };

    if let Some(p) = peepholes {
        let c0 = c0.ok_or_else(|| c.error("missing initial cell state"))?;
        let l = super::lstm_peephole::PeepholeLstm {
            x: xb,
            h0,
            c0,
            lens,
            w,
            r,
            bias,
            p,
            direction,
            hidden: hs,
            activations: &activations,
        };
        let [y, h, cell_state] = super::lstm_peephole::peephole_lstm(c, &l)?;
        return finish(c, layout, y, &[h, cell_state]);
    }
    let activations_alpha = Vec::new();
    let activations_beta = Vec::new();
    let node = match cell {
        Cell::Rnn => c.add_node(
            ops::RnnSequence {
                direction,
                hidden_size: hs as u64,
                activations,
                activations_alpha,
                activations_beta,
                clip,
            },
            &[xb, h0, lens, w, r, bias],
        )?,
        Cell::Gru => c.add_node(
            ops::GruSequence {
                direction,
                linear_before_reset,
                hidden_size: hs as u64,
                activations,
                activations_alpha,
                activations_beta,
                clip,
            },
            &[xb, h0, lens, w, r, bias],
        )?,
        Cell::Lstm => {
            let c0 = c0.ok_or_else(|| c.error("missing initial cell state"))?;
            c.add_node(
                ops::LstmSequence {
                    direction,
                    hidden_size: hs as u64,
                    activations,
                    activations_alpha,
                    activations_beta,
                    clip,
                },
                &[xb, h0, c0, lens, w, r, bias],
            )?
        }
    };
    let port = |i: u32| OutputRef { node, index: i };
    let states: Vec<OutputRef> = (0..if cell == Cell::Lstm { 2 } else { 1 }).map(|k| port(1 + k)).collect();
    finish(c, layout, port(0), &states)
}

/// The ONNX outputs from the batch-major Y `[batch, nd, seq, hidden]` and states
/// `[batch, nd, hidden]`.
fn finish(c: &mut NodeContext<'_>, layout: i64, y: OutputRef, states: &[OutputRef]) -> R {
    // Y -> [seq, nd, batch, hidden] (layout 0) or [batch, seq, nd, hidden].
    let y = transpose(c, y, if layout == 0 { &[2, 1, 0, 3] } else { &[0, 2, 1, 3] })?;
    let mut outs = vec![y];
    for &s in states {
        outs.push(if layout == 0 { transpose(c, s, &[1, 0, 2])? } else { s });
    }
    Ok(outs)
}
