//! The packed recurrent step (RNN/GRU/LSTM sequences) against the ir-graph reference evaluator.

mod common;

use common::*;
use cpu_plugin::{Config, PerformanceHint, compile_model, reference_infer};
use ir_graph::ops::*;
use ir_graph::{Model, OutputRef, Tensor};
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

#[derive(Debug, Clone)]
struct Case {
    /// 0 RNN, 1 GRU, 2 LSTM.
    cell: u8,
    batch: usize,
    seq: usize,
    hidden: usize,
    input: usize,
    direction: RnnDirection,
    /// Per-row lengths (may exceed `seq` or be negative: clamped like the reference).
    lens: Vec<i64>,
    clip: f32,
    linear_before_reset: bool,
    /// Index into `ACTS` for each of f, g, h.
    acts: [usize; 3],
    /// Constant (not parameter) initial states.
    const_state: bool,
}

const ACTS: [&str; 3] = ["sigmoid", "tanh", "relu"];

fn case() -> impl Strategy<Value = Case> {
    (
        (0u8..3, 1usize..4, 1usize..8, 1usize..20, 1usize..14),
        prop_oneof![Just(RnnDirection::Forward), Just(RnnDirection::Reverse), Just(RnnDirection::Bidirectional)],
        proptest::collection::vec(-1i64..10, 3),
        (prop_oneof![Just(0.0f32), Just(0.7f32), Just(3.0f32)], any::<bool>(), any::<bool>()),
        (any::<bool>(), 0usize..3, 0usize..3),
    )
        .prop_map(|((cell, batch, seq, hidden, input), direction, lens, (clip, lbr, cs), (std, a1, a2))| {
            // Half the cases use the default activations, the rest a mix of the three. GRU and
            // LSTM gates stay bounded (sigmoid or tanh): ReLU gates make the state grow doubly
            // exponentially, where f32 and the reference's f64 legitimately drift apart.
            let acts = match (std, cell) {
                (true, 0) => [1, 1, 1],
                (true, _) => [0, 1, 1],
                (false, 0) => [a1, a2, a2],
                (false, _) => [a1 % 2, a2, (a1 + a2) % 3],
            };
            Case {
                cell,
                batch,
                seq,
                hidden,
                input,
                direction,
                lens: lens[..batch].to_vec(),
                clip,
                linear_before_reset: lbr && cell == 1,
                acts,
                const_state: cs,
            }
        })
}

/// Random `[-scale, scale)` f32 constant.
fn scaled_const(m: &mut Model, name: &str, shape: &[usize], seed: u64, scale: f32) -> OutputRef {
    let v: Vec<f32> = rand_vec(shape.iter().product(), seed).iter().map(|x| x * scale).collect();
    m.add_const(name, Tensor::from_vec(shape.to_vec(), v).expect("tensor")).expect("const").into()
}

/// Builds the model with weights in `[-scale, scale)`; returns it and its runtime inputs.
fn build(c: &Case, scale: f32) -> (Model, Vec<Tensor>) {
    let mut m = Model::new("rnn");
    let nd = c.direction.count();
    let gates = [1, 3, 4][c.cell as usize];
    let b_gates = if c.linear_before_reset { 4 } else { gates };
    let x = param(&mut m, "x", &[c.batch, c.seq, c.input]);
    let mut inputs = vec![rand_tensor(&[c.batch, c.seq, c.input], 1)];
    let state = [c.batch, nd, c.hidden];
    let mut states = Vec::new();
    for (k, name) in ["h0", "c0"].iter().enumerate().take(if c.cell == 2 { 2 } else { 1 }) {
        if c.const_state {
            states.push(rand_const(&mut m, name, &state, 10 + k as u64));
        } else {
            states.push(param(&mut m, name, &state));
            inputs.push(rand_tensor(&state, 10 + k as u64));
        }
    }
    let lens = i64_const(&mut m, "lens", &c.lens);
    let w = scaled_const(&mut m, "w", &[nd, gates * c.hidden, c.input], 2, scale);
    let r = scaled_const(&mut m, "r", &[nd, gates * c.hidden, c.hidden], 3, scale);
    let b = rand_const(&mut m, "b", &[nd, b_gates * c.hidden], 4);
    let mut ins: Vec<OutputRef> = vec![x];
    ins.extend(&states);
    ins.extend([lens, w, r, b]);
    let acts: Vec<String> = c.acts.iter().map(|&a| ACTS[a].to_string()).collect();
    let hidden_size = c.hidden as u64;
    let (id, outs) = match c.cell {
        0 => {
            let op = RnnSequence {
                direction: c.direction,
                hidden_size,
                activations: acts[..1].to_vec(),
                activations_alpha: vec![],
                activations_beta: vec![],
                clip: c.clip,
            };
            (m.add_node(op, "rnn", &ins).expect("rnn"), 2)
        }
        1 => {
            let op = GruSequence {
                direction: c.direction,
                linear_before_reset: c.linear_before_reset,
                hidden_size,
                activations: acts[..2].to_vec(),
                activations_alpha: vec![],
                activations_beta: vec![],
                clip: c.clip,
            };
            (m.add_node(op, "gru", &ins).expect("gru"), 2)
        }
        _ => {
            let op = LstmSequence {
                direction: c.direction,
                hidden_size,
                activations: acts,
                activations_alpha: vec![],
                activations_beta: vec![],
                clip: c.clip,
            };
            (m.add_node(op, "lstm", &ins).expect("lstm"), 3)
        }
    };
    for k in 0..outs {
        result(&mut m, OutputRef::new(id, k));
    }
    (m, inputs)
}

/// Compiles and runs `model` twice and compares every output with the f64 reference evaluator.
///
/// The absolute tolerance scales with the output's largest magnitude: each step feeds the
/// previous state back through a matrix product, so f32 rounding in one step reaches every
/// element of the next, and a small element that came out of cancellation carries the rounding
/// of the large terms it cancelled (a ReLU candidate state grows those terms step by step).
fn check_recurrent(model: &Model, inputs: &[Tensor], config: &Config) -> Vec<(String, usize)> {
    check_with_tol(model, inputs, config, |w| {
        let peak = w.values::<f32>().expect("f32").iter().fold(1.0f32, |a, &v| a.max(v.abs()));
        (1e-4, 2e-4 * peak)
    })
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn recurrent_matches_reference(c in case()) {
        let (m, inputs) = build(&c, 1.0);
        let s = check_recurrent(&m, &inputs, &Config { inference_num_threads: Some(1), performance_hint: PerformanceHint::Latency });
        prop_assert!(!has_fallback(&s), "unexpected fallback: {s:?}");
        let want = ["RNNSequence", "GRUSequence", "LSTMSequence"][c.cell as usize];
        prop_assert_eq!(s, vec![(want.to_string(), 1)]);
    }
}

#[test]
fn recurrent_matches_reference_on_two_threads() {
    let c = Case {
        cell: 2,
        batch: 3,
        seq: 5,
        hidden: 40,
        input: 24,
        direction: RnnDirection::Bidirectional,
        lens: vec![5, 2, 0],
        clip: 0.0,
        linear_before_reset: false,
        acts: [0, 1, 1],
        const_state: false,
    };
    let (m, inputs) = build(&c, 1.0);
    let config = Config { inference_num_threads: Some(2), performance_hint: PerformanceHint::Throughput };
    let s = check_recurrent(&m, &inputs, &config);
    assert_eq!(s, vec![("LSTMSequence".to_string(), 1)]);
}

#[test]
fn runtime_weights_keep_the_reference_fallback() {
    let mut m = Model::new("rnn");
    let x = param(&mut m, "x", &[1, 2, 3]);
    let h0 = rand_const(&mut m, "h0", &[1, 1, 4], 1);
    let lens = i64_const(&mut m, "lens", &[2]);
    let w = param(&mut m, "w", &[1, 4, 3]);
    let r = rand_const(&mut m, "r", &[1, 4, 4], 2);
    let b = rand_const(&mut m, "b", &[1, 4], 3);
    let op = RnnSequence {
        direction: RnnDirection::Forward,
        hidden_size: 4,
        activations: vec!["tanh".into()],
        activations_alpha: vec![],
        activations_beta: vec![],
        clip: 0.0,
    };
    let id = m.add_node(op, "rnn", &[x, h0, lens, w, r, b]).expect("rnn");
    result(&mut m, OutputRef::new(id, 0));
    let s = check_against_reference(&m, &[rand_tensor(&[1, 2, 3], 4), rand_tensor(&[1, 4, 3], 5)]);
    assert_eq!(s, vec![("fallback:RNNSequence".to_string(), 1)]);
}

/// Interleaved A/B of the packed LSTM step against the reference evaluator (hidden 256,
/// seq 64, batch 1, one thread); prints the median time ratio.
/// Run with `cargo test --release -p cpu-plugin --test recurrent_vs_reference -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn lstm_speedup_over_reference() {
    let c = Case {
        cell: 2,
        batch: 1,
        seq: 64,
        hidden: 256,
        input: 256,
        direction: RnnDirection::Forward,
        lens: vec![64],
        clip: 0.0,
        linear_before_reset: false,
        acts: [0, 1, 1],
        const_state: false,
    };
    // Weights scaled like a trained layer's (1/sqrt(fan-in)): with [-1, 1) weights a
    // 256-wide LSTM is chaotic and f32 rounding differences grow to O(1) over 64 steps.
    let (m, inputs) = build(&c, 1.0 / 16.0);
    let config = Config { inference_num_threads: Some(1), performance_hint: PerformanceHint::Latency };
    let compiled = compile_model(&m, &config).expect("compile");
    assert_eq!(compiled.execution_summary(), vec![("LSTMSequence".to_string(), 1)]);
    let mut req = compiled.create_infer_request();
    let mut ratios = Vec::new();
    let (mut fast_total, mut ref_total) = (0.0f64, 0.0f64);
    for _ in 0..7 {
        let t = std::time::Instant::now();
        let got = req.infer(&inputs).expect("infer");
        let fast = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let want = reference_infer(&m, &inputs).expect("reference");
        let slow = t.elapsed().as_secs_f64();
        assert_close(&got[0], &want[0], 1e-4, 1e-5, "Y");
        ratios.push(slow / fast);
        fast_total += fast;
        ref_total += slow;
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "LSTM h256 s64 b1: reference/fast time ratio median {:.1} (min {:.1}, max {:.1}; sums {:.1})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ref_total / fast_total
    );
}
