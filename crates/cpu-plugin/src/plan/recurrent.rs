//! Lowering of `RNNSequence`, `GRUSequence` and `LSTMSequence` with constant f32 weights to
//! the packed recurrent kernel; anything else stays on the reference fallback.

use ir_graph::ops::RnnDirection;
use ir_graph::{ElementType, NodeId, Op, OutputRef};

use super::Builder;
use crate::error::Result;
use crate::kernels::rnn::{Cell, GateAct, RnnKernel, RnnSpec};
use crate::steps::Kind;

/// The activation names the reference evaluator accepts; `None` keeps the fallback.
fn gate_act(name: &str) -> Option<GateAct> {
    match name.trim().to_ascii_lowercase().as_str() {
        "sigmoid" => Some(GateAct::Sigmoid),
        "tanh" => Some(GateAct::Tanh),
        "relu" => Some(GateAct::Relu),
        _ => None,
    }
}

/// `f`, `g`, `h` with the reference's defaults for missing trailing names.
fn gate_acts(names: &[String], needed: usize) -> Option<[GateAct; 3]> {
    if names.len() < needed {
        return None;
    }
    let acts = names.iter().map(|n| gate_act(n)).collect::<Option<Vec<_>>>()?;
    let f = *acts.first()?;
    let g = acts.get(1).copied().unwrap_or(f);
    let h = acts.get(2).copied().unwrap_or(g);
    Some([f, g, h])
}

impl Builder<'_> {
    /// Lowers a recurrent sequence op whose W, R and B are f32 constants and whose data
    /// shapes are static.
    pub(super) fn try_recurrent(&mut self, id: NodeId) -> Result<bool> {
        let node = self.m.node(id)?;
        let (cell, direction, hidden, acts, clip) = match &node.op {
            Op::RnnSequence(o) => (Cell::Rnn, o.direction, o.hidden_size, gate_acts(&o.activations, 1), o.clip),
            Op::GruSequence(o) => (
                Cell::Gru { linear_before_reset: o.linear_before_reset },
                o.direction,
                o.hidden_size,
                gate_acts(&o.activations, 2),
                o.clip,
            ),
            Op::LstmSequence(o) => (Cell::Lstm, o.direction, o.hidden_size, gate_acts(&o.activations, 3), o.clip),
            _ => return Ok(false),
        };
        let Some(acts) = acts else { return Ok(false) };
        if clip.is_nan() || clip < 0.0 {
            return Ok(false);
        }
        let lstm = cell == Cell::Lstm;
        let off = usize::from(lstm);
        let n_in = 6 + off;
        let n_out = 2 + off;
        if node.inputs.len() != n_in || node.outputs.len() != n_out {
            return Ok(false);
        }
        let Some(x) = self.f32_shape(node.inputs[0]) else { return Ok(false) };
        let &[batch, seq, input] = x.as_slice() else { return Ok(false) };
        let Ok(hidden) = usize::try_from(hidden) else { return Ok(false) };
        let dirs = direction.count();
        let state_shape = [batch, dirs, hidden];
        for k in 1..=1 + off {
            if self.f32_shape(node.inputs[k]).as_deref() != Some(&state_shape[..]) {
                return Ok(false);
            }
        }
        if self.f32_shape(OutputRef::new(id, 0)).as_deref() != Some(&[batch, dirs, seq, hidden][..]) {
            return Ok(false);
        }
        for k in 1..n_out {
            if self.f32_shape(OutputRef::new(id, k as u32)).as_deref() != Some(&state_shape[..]) {
                return Ok(false);
            }
        }
        let weights = |k: usize| {
            self.const_of(node.inputs[k])
                .filter(|t| t.element_type() == ElementType::F32)
                .and_then(|t| t.values::<f32>().ok())
        };
        let (Some(w), Some(r), Some(b)) = (weights(3 + off), weights(4 + off), weights(5 + off)) else {
            return Ok(false);
        };
        let spec = RnnSpec {
            cell,
            input,
            hidden,
            acts,
            clip,
            first_reverse: direction == RnnDirection::Reverse,
            dirs,
            w: &w,
            r: &r,
            b: &b,
        };
        // Shapes the kernel cannot take (e.g. empty dimensions) stay on the fallback.
        let Ok(kernel) = RnnKernel::new(&spec) else { return Ok(false) };
        let inputs = node.inputs[..3 + off].iter().map(|&i| self.value(i)).collect::<Result<Vec<_>>>()?;
        let mut outputs = Vec::with_capacity(n_out);
        for k in 0..n_out {
            outputs.push(self.new_buffer_value(OutputRef::new(id, k as u32))?);
        }
        self.push(Kind::Recurrent { kernel: Box::new(kernel), batch, seq }, id, &[], inputs, outputs);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use ir_graph::ops::{GruSequence, LstmSequence, RnnSequence};
    use ir_graph::{Op, Tensor};
    use proptest::prelude::*;

    use super::*;
    use crate::kernels::Isa;
    use crate::kernels::rnn::RnnIo;
    use crate::kernels::test_util::{rand_vec, with_isa};

    /// Batch, seq, X, H0, C0 and lengths of one run.
    type RunData<'a> = (usize, usize, &'a [f32], &'a [f32], Option<&'a [f32]>, &'a [usize]);

    /// Runs the packed kernel (packed and run at instruction-set level `isa`).
    fn run_kernel(spec: &RnnSpec<'_>, io: RunData<'_>, isa: Isa) -> Vec<Vec<f32>> {
        let (batch, seq, x, h0, c0, lens) = io;
        let nd = spec.dirs;
        let mut y = vec![f32::NAN; batch * nd * seq * spec.hidden];
        let mut yh = vec![f32::NAN; batch * nd * spec.hidden];
        let mut yc = vec![f32::NAN; batch * nd * spec.hidden];
        with_isa(isa, || {
            let k = RnnKernel::new(spec).expect("pack");
            let lstm = spec.cell == Cell::Lstm;
            let yc = lstm.then_some(yc.as_mut_slice());
            k.run(RnnIo { batch, seq, x, h0, c0, lens, y: &mut y, yh: &mut yh, yc }, None).expect("run");
        });
        if spec.cell == Cell::Lstm { vec![y, yh, yc] } else { vec![y, yh] }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

        /// Every instruction-set path of the packed kernel against the ir-graph evaluator.
        #[test]
        fn every_isa_matches_the_evaluator(
            cell in 0u8..4, batch in 1usize..4, seq in 1usize..8, hidden in 1usize..20, input in 1usize..14,
            dir in 0u8..3, lens in proptest::collection::vec(0usize..9, 3), clip in prop_oneof![Just(0.0f32), Just(0.5f32)],
            seed in 0u64..1000,
        ) {
            let direction = [RnnDirection::Forward, RnnDirection::Reverse, RnnDirection::Bidirectional][dir as usize];
            let cell = [Cell::Rnn, Cell::Gru { linear_before_reset: false }, Cell::Gru { linear_before_reset: true }, Cell::Lstm][cell as usize];
            let (nd, g) = (direction.count(), cell.gates());
            let bg = if cell == (Cell::Gru { linear_before_reset: true }) { 4 } else { g };
            let w = rand_vec(nd * g * hidden * input, seed);
            let r = rand_vec(nd * g * hidden * hidden, seed + 1);
            let b = rand_vec(nd * bg * hidden, seed + 2);
            let x = rand_vec(batch * seq * input, seed + 3);
            let h0 = rand_vec(batch * nd * hidden, seed + 4);
            let c0 = rand_vec(batch * nd * hidden, seed + 5);
            let lens: Vec<usize> = lens[..batch].iter().map(|&l| l.min(seq)).collect();
            let acts_s: Vec<String> = ["sigmoid", "tanh", "tanh"].iter().map(|s| s.to_string()).collect();
            let acts = [GateAct::Sigmoid, GateAct::Tanh, GateAct::Tanh];
            let (a, a_, hs) = (vec![], vec![], hidden as u64);
            let op: Op = match cell {
                Cell::Rnn => RnnSequence { direction, hidden_size: hs, activations: vec!["tanh".into()], activations_alpha: a, activations_beta: a_, clip }.into(),
                Cell::Gru { linear_before_reset } => GruSequence { direction, linear_before_reset, hidden_size: hs, activations: acts_s[..2].to_vec(), activations_alpha: a, activations_beta: a_, clip }.into(),
                Cell::Lstm => LstmSequence { direction, hidden_size: hs, activations: acts_s, activations_alpha: a, activations_beta: a_, clip }.into(),
            };
            let acts = if cell == Cell::Rnn { [GateAct::Tanh; 3] } else { acts };
            let t = |shape: &[usize], v: &[f32]| Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("tensor");
            let mut ins = vec![t(&[batch, seq, input], &x), t(&[batch, nd, hidden], &h0)];
            if cell == Cell::Lstm {
                ins.push(t(&[batch, nd, hidden], &c0));
            }
            let l64: Vec<i64> = lens.iter().map(|&l| l as i64).collect();
            ins.push(Tensor::from_vec(vec![batch], l64).expect("lens"));
            ins.push(t(&[nd, g * hidden, input], &w));
            ins.push(t(&[nd, g * hidden, hidden], &r));
            ins.push(t(&[nd, bg * hidden], &b));
            let want = op.evaluate(&ins).expect("evaluate");
            let spec = RnnSpec {
                cell, input, hidden, acts, clip, first_reverse: direction == RnnDirection::Reverse, dirs: nd,
                w: &w, r: &r, b: &b,
            };
            let c0 = (cell == Cell::Lstm).then_some(c0.as_slice());
            for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
                let got = run_kernel(&spec, (batch, seq, &x, &h0, c0, &lens), isa);
                prop_assert_eq!(got.len(), want.len());
                for (k, (gv, wt)) in got.iter().zip(&want).enumerate() {
                    let wv = wt.to_f64_vec().expect("f64");
                    for (i, (&gv, &wv)) in gv.iter().zip(&wv).enumerate() {
                        let wv = wv as f32;
                        prop_assert!((gv - wv).abs() <= 1e-5 + 1e-4 * wv.abs(), "{isa:?} output {k}[{i}]: {gv} vs {wv}");
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_activations_are_not_lowered() {
        assert_eq!(
            gate_acts(&["Sigmoid".into(), " TANH ".into()], 2),
            Some([GateAct::Sigmoid, GateAct::Tanh, GateAct::Tanh])
        );
        assert_eq!(gate_acts(&["sigmoid".into(), "hardsigmoid".into()], 2), None);
        assert_eq!(gate_acts(&["sigmoid".into()], 2), None);
    }
}
