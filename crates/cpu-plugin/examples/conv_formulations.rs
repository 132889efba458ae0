//! Interleaved timing of the direct, transposed and implicit (in-place, stride-1) convolution
//! GEMM formulations on resnet50's layer shapes, batch 1, single thread.
//!
//! `cargo run --release -p cpu-plugin --example conv_formulations [rounds] [only] [shape] [threads]`:
//! each round runs every shape once per formulation back to back, so machine load drifts hit
//! all alike; the report gives per-shape medians and their ratios to the direct form. With
//! `only` = `direct`, `transposed` or `implicit` just that formulation runs, and with `shape`
//! only the shapes whose name contains it (for instruction counting under callgrind; `all`
//! runs every formulation or shape); `threads` > 1 runs every convolution on a pool that size.

use cpu_plugin::kernels::Activation;
use cpu_plugin::kernels::conv::{ConvFormulation, ConvParams, PackedConvWeights, conv2d};
use std::time::Instant;

fn shape(c_in: usize, c_out: usize, hw: usize, k: usize) -> ConvParams {
    ConvParams {
        n: 1,
        c_in,
        h: hw,
        w: hw,
        c_out,
        kh: k,
        kw: k,
        stride: [1, 1],
        dilation: [1, 1],
        pads_begin: [k / 2; 2],
        pads_end: [k / 2; 2],
        groups: 1,
    }
}

fn strided(p: ConvParams) -> ConvParams {
    ConvParams { stride: [2, 2], ..p }
}

fn fill(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let only = args.next().filter(|o| o != "all");
    let pick = args.next().filter(|o| o != "all");
    let threads: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let pool = (threads > 1).then_some(&pool);
    let shapes = [
        ("1x1 512->2048 7x7", shape(512, 2048, 7, 1)),
        ("1x1 2048->512 7x7", shape(2048, 512, 7, 1)),
        ("3x3 512->512 7x7 pad1", shape(512, 512, 7, 3)),
        ("1x1 1024->256 14x14", shape(1024, 256, 14, 1)),
        ("3x3 256->256 14x14 pad1", shape(256, 256, 14, 3)),
        ("1x1 512->128 28x28", shape(512, 128, 28, 1)),
        ("3x3 128->128 28x28 pad1", shape(128, 128, 28, 3)),
        ("1x1 256->64 56x56", shape(256, 64, 56, 1)),
        ("3x3 64->64 56x56 pad1", shape(64, 64, 56, 3)),
        ("7x7/2 3->64 224x224 pad3", strided(shape(3, 64, 224, 7))),
        ("3x3/2 3->24 224x224 pad1", strided(shape(3, 24, 224, 3))),
        ("3x3/2 128->128 56x56", strided(shape(128, 128, 56, 3))),
        ("3x3/2 256->256 28x28", strided(shape(256, 256, 28, 3))),
        ("3x3/2 512->512 14x14", strided(shape(512, 512, 14, 3))),
        ("1x1/2 256->512 56x56", strided(shape(256, 512, 56, 1))),
        ("1x1/2 512->1024 28x28", strided(shape(512, 1024, 28, 1))),
        ("1x1/2 1024->2048 14x14", strided(shape(1024, 2048, 14, 1))),
    ];
    let forms = [
        ("direct", ConvFormulation::Direct),
        ("transposed", ConvFormulation::Transposed),
        ("implicit", ConvFormulation::Implicit),
    ];
    let mut cases = Vec::new();
    for (i, (name, p)) in shapes.iter().enumerate() {
        if pick.as_deref().is_some_and(|s| !name.contains(s)) {
            continue;
        }
        let x = fill(p.input_len(), 3 * i as u32 + 1);
        let w = fill(p.weight_len(), 3 * i as u32 + 2);
        let b = fill(p.c_out, 3 * i as u32 + 3);
        let packed = forms
            .iter()
            .filter(|(f, _)| only.as_deref().is_none_or(|o| o == *f))
            .map(|&(_, f)| PackedConvWeights::with_formulation(p, &w, f))
            .collect::<Result<Vec<_>, _>>()?;
        cases.push((*name, *p, x, b, packed));
    }
    let mut times = vec![vec![Vec::new(); forms.len()]; cases.len()];
    let mut checks = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for (ci, (_, p, x, b, packed)) in cases.iter().enumerate() {
            for (fi, pw) in packed.iter().enumerate() {
                let mut out = vec![0.0f32; p.output_len()];
                let t0 = Instant::now();
                conv2d(p, pw, x, Some(b), Activation::Relu, &mut out, pool)?;
                let dt = t0.elapsed().as_secs_f64() * 1e3;
                if round > 0 {
                    times[ci][fi].push(dt);
                }
                if round == 0 {
                    checks[ci].push(out);
                }
            }
        }
    }
    for (ci, (name, p, ..)) in cases.iter().enumerate() {
        let auto = PackedConvWeights::new(p, &fill(p.weight_len(), 1))?;
        let auto = if auto.is_transposed() {
            "T"
        } else if auto.is_implicit() {
            "I"
        } else {
            "D"
        };
        let diff = checks[ci]
            .iter()
            .skip(1)
            .flat_map(|o| o.iter().zip(&checks[ci][0]).map(|(u, v)| (u - v).abs()))
            .fold(0.0f32, f32::max);
        let med: Vec<f64> = times[ci].iter_mut().filter(|t| !t.is_empty()).map(|t| median(t)).collect();
        let mut line = format!("{name:26} auto={auto}");
        for (fi, m) in med.iter().enumerate() {
            let tag = if med.len() == forms.len() { forms[fi].0 } else { "" };
            line += &format!("  {tag} {m:7.3} ms");
            if fi > 0 {
                line += &format!(" ({:.3})", m / med[0]);
            }
        }
        println!("{line}  max|diff| {diff:.2e}");
    }
    Ok(())
}
