//! Recurrent sequence kernels (RNN, GRU, LSTM cells over a whole sequence).
//!
//! Per direction, the input projection `X W^T + B` of every timestep is one GEMM
//! (`M = batch * seq`) against pre-packed `W^T`; each timestep then multiplies the state by
//! pre-packed `R^T` and runs a gate pass over the batch rows whose sequence is still running.
//! Rows past their length keep their state and leave zeros in `Y`, as the reference does.
//! Layouts are batch-major, as in OpenVINO's opset5: `X [batch, seq, input]`, states
//! `[batch, dirs, hidden]`, `Y [batch, dirs, seq, hidden]`.

use super::elementwise::{UnaryOp, add_into, unary_inplace};
use super::gemm::{Bias, Epilogue, PackedB, gemm_prepacked};
use super::{KernelResult, ThreadPool, ensure};

/// Activation of a recurrent gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateAct {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(x, 0)`.
    Relu,
}

impl GateAct {
    fn apply(self, x: &mut [f32]) {
        let op = match self {
            GateAct::Sigmoid => UnaryOp::Sigmoid,
            GateAct::Tanh => UnaryOp::Tanh,
            GateAct::Relu => UnaryOp::Relu,
        };
        unary_inplace(op, x);
    }
}

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// `H = f(X W^T + H R^T + B)`.
    Rnn,
    /// GRU with gates z, r, h; `linear_before_reset` applies r after the recurrent product.
    Gru {
        /// Reset gate scales `H R_h^T + R_bh` instead of `H`.
        linear_before_reset: bool,
    },
    /// LSTM with gates f, i, c, o (OpenVINO's order), no peepholes.
    Lstm,
}

impl Cell {
    /// Gate blocks of `hidden` rows in `W` and `R`.
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm => 4,
        }
    }
}

/// Pre-packed weights of one direction.
#[derive(Debug)]
struct DirWeights {
    /// `W^T`: `[input, gates * hidden]`.
    w: PackedB,
    /// `R^T` of the gates multiplied with the plain state (all, or z and r for GRU
    /// without `linear_before_reset`).
    r: PackedB,
    /// `R_h^T` of GRU without `linear_before_reset`, multiplied with `r * H`.
    r_h: Option<PackedB>,
    /// Per-column bias of the input projection (`gates * hidden`).
    bias: Vec<f32>,
    /// Per-column bias of the recurrent product (GRU `linear_before_reset`: zeros, then `R_bh`).
    r_bias: Option<Vec<f32>>,
}

/// A recurrent sequence op with constant weights, packed for [`run`].
#[derive(Debug)]
pub struct RnnKernel {
    cell: Cell,
    input: usize,
    hidden: usize,
    /// `f`, `g`, `h` activations (unused ones are ignored).
    acts: [GateAct; 3],
    /// Gate pre-activations are clamped to `[-clip, clip]` when positive.
    clip: f32,
    /// Whether direction 0 walks the sequence backwards (direction 1 always does).
    first_reverse: bool,
    dirs: Vec<DirWeights>,
}

/// Arguments of [`RnnKernel::new`].
#[derive(Debug, Clone, Copy)]
pub struct RnnSpec<'a> {
    /// Cell type.
    pub cell: Cell,
    /// Input feature size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// `f`, `g`, `h` activations.
    pub acts: [GateAct; 3],
    /// Clip threshold (0 = none).
    pub clip: f32,
    /// Direction 0 walks backwards (`reverse`).
    pub first_reverse: bool,
    /// Number of directions (1 or 2).
    pub dirs: usize,
    /// `W [dirs, gates * hidden, input]`.
    pub w: &'a [f32],
    /// `R [dirs, gates * hidden, hidden]`.
    pub r: &'a [f32],
    /// `B [dirs, bias_gates * hidden]` (4 blocks for GRU `linear_before_reset`).
    pub b: &'a [f32],
}

/// Run-time operands of [`RnnKernel::run`].
#[derive(Debug)]
pub struct RnnIo<'a> {
    /// Batch size.
    pub batch: usize,
    /// Sequence length.
    pub seq: usize,
    /// `X [batch, seq, input]`.
    pub x: &'a [f32],
    /// `H0 [batch, dirs, hidden]`.
    pub h0: &'a [f32],
    /// `C0 [batch, dirs, hidden]` (LSTM).
    pub c0: Option<&'a [f32]>,
    /// Valid length of each batch row, already clamped to `seq`.
    pub lens: &'a [usize],
    /// `Y [batch, dirs, seq, hidden]`.
    pub y: &'a mut [f32],
    /// `Y_h [batch, dirs, hidden]`.
    pub yh: &'a mut [f32],
    /// `Y_c [batch, dirs, hidden]` (LSTM).
    pub yc: Option<&'a mut [f32]>,
}

impl RnnKernel {
    /// Packs the weights of every direction.
    pub fn new(s: &RnnSpec<'_>) -> KernelResult<Self> {
        let (hs, isz, g) = (s.hidden, s.input, s.cell.gates());
        let lbr = s.cell == Cell::Gru { linear_before_reset: true };
        let b_gates = if lbr { 4 } else { g };
        ensure(s.dirs == 1 || s.dirs == 2, || format!("rnn: {} directions", s.dirs))?;
        ensure(hs > 0 && isz > 0, || format!("rnn: hidden {hs}, input {isz}"))?;
        ensure(s.w.len() == s.dirs * g * hs * isz, || format!("rnn: W has {} values", s.w.len()))?;
        ensure(s.r.len() == s.dirs * g * hs * hs, || format!("rnn: R has {} values", s.r.len()))?;
        ensure(s.b.len() == s.dirs * b_gates * hs, || format!("rnn: B has {} values", s.b.len()))?;
        let mut dirs = Vec::with_capacity(s.dirs);
        for d in 0..s.dirs {
            let w = &s.w[d * g * hs * isz..][..g * hs * isz];
            let r = &s.r[d * g * hs * hs..][..g * hs * hs];
            let b = &s.b[d * b_gates * hs..][..b_gates * hs];
            // GRU without linear_before_reset needs r before the candidate's recurrent product.
            let split = s.cell == Cell::Gru { linear_before_reset: false };
            let r_gates = if split { 2 } else { g };
            let packed_r = PackedB::new(hs, r_gates * hs, r, hs, true)?;
            let r_h = if split { Some(PackedB::new(hs, hs, &r[2 * hs * hs..], hs, true)?) } else { None };
            let r_bias = lbr.then(|| {
                let mut v = vec![0.0f32; 3 * hs];
                v[2 * hs..].copy_from_slice(&b[3 * hs..4 * hs]);
                v
            });
            dirs.push(DirWeights {
                w: PackedB::new(isz, g * hs, w, isz, true)?,
                r: packed_r,
                r_h,
                bias: b[..g * hs].to_vec(),
                r_bias,
            });
        }
        Ok(RnnKernel {
            cell: s.cell,
            input: isz,
            hidden: hs,
            acts: s.acts,
            clip: s.clip,
            first_reverse: s.first_reverse,
            dirs,
        })
    }

    /// Multiply-accumulates of one run.
    pub fn macs(&self, batch: usize, seq: usize) -> u64 {
        let gh = self.cell.gates() * self.hidden;
        (self.dirs.len() * batch * seq * gh * (self.input + self.hidden)) as u64
    }

    fn clip(&self, x: &mut [f32]) {
        let c = self.clip;
        if c > 0.0 {
            x.iter_mut().for_each(|v| *v = v.clamp(-c, c));
        }
    }

    /// Runs the whole sequence in every direction.
    pub fn run(&self, io: RnnIo<'_>, pool: Option<&ThreadPool>) -> KernelResult {
        let RnnIo { batch, seq, x, h0, c0, lens, y, yh, mut yc } = io;
        let (hs, isz, nd) = (self.hidden, self.input, self.dirs.len());
        let gh = self.cell.gates() * hs;
        let lstm = self.cell == Cell::Lstm;
        ensure(x.len() >= batch * seq * isz, || format!("rnn: X has {} values", x.len()))?;
        ensure(h0.len() >= batch * nd * hs, || format!("rnn: H0 has {} values", h0.len()))?;
        ensure(lens.len() == batch && lens.iter().all(|&l| l <= seq), || "rnn: sequence lengths".to_string())?;
        ensure(y.len() >= batch * nd * seq * hs, || format!("rnn: Y has {} values", y.len()))?;
        ensure(yh.len() >= batch * nd * hs, || format!("rnn: Y_h has {} values", yh.len()))?;
        if lstm {
            ensure(c0.is_some_and(|c| c.len() >= batch * nd * hs), || "rnn: C0 missing or short".to_string())?;
            ensure(yc.as_ref().is_some_and(|c| c.len() >= batch * nd * hs), || "rnn: Y_c missing".to_string())?;
        }
        y[..batch * nd * seq * hs].fill(0.0);
        let max_len = lens.iter().copied().max().unwrap_or(0);
        let mut xw = vec![0.0f32; batch * seq * gh];
        let mut hr = vec![0.0f32; batch * gh];
        let mut h = vec![0.0f32; batch * hs];
        let mut c = vec![0.0f32; if lstm { batch * hs } else { 0 }];
        // GRU scratch: r * H and its product with R_h^T.
        let mut rh = vec![0.0f32; batch * hs];
        let mut rhr = vec![0.0f32; batch * hs];
        for (d, wd) in self.dirs.iter().enumerate() {
            let reverse = d == 1 || self.first_reverse;
            let epi = Epilogue { bias: Bias::PerCol(&wd.bias), ..Epilogue::none() };
            gemm_prepacked(batch * seq, x, isz, &wd.w, &mut xw, gh, &epi, pool)?;
            for b in 0..batch {
                let src = (b * nd + d) * hs;
                h[b * hs..][..hs].copy_from_slice(&h0[src..][..hs]);
                if let Some(c0) = c0.filter(|_| lstm) {
                    c[b * hs..][..hs].copy_from_slice(&c0[src..][..hs]);
                }
            }
            let r_epi = Epilogue { bias: wd.r_bias.as_deref().map_or(Bias::None, Bias::PerCol), ..Epilogue::none() };
            for step in 0..max_len {
                gemm_prepacked(batch, &h, hs, &wd.r, &mut hr, wd.r.n(), &r_epi, pool)?;
                let r_ld = wd.r.n();
                let time = |b: usize| if reverse { lens[b] - 1 - step } else { step };
                let active = |b: usize| lens[b] > step;
                match self.cell {
                    Cell::Rnn => {
                        for b in (0..batch).filter(|&b| active(b)) {
                            let g = &mut hr[b * r_ld..][..hs];
                            add_into(g, &xw[(b * seq + time(b)) * gh..][..hs]);
                            self.clip(g);
                            self.acts[0].apply(g);
                            h[b * hs..][..hs].copy_from_slice(g);
                        }
                    }
                    Cell::Lstm => {
                        for b in (0..batch).filter(|&b| active(b)) {
                            let g = &mut hr[b * gh..][..gh];
                            add_into(g, &xw[(b * seq + time(b)) * gh..][..gh]);
                            self.clip(g);
                            let (fi, rest) = g.split_at_mut(2 * hs);
                            let (cg, og) = rest.split_at_mut(hs);
                            self.acts[0].apply(fi);
                            self.acts[1].apply(cg);
                            self.acts[0].apply(og);
                            let (fg, ig) = fi.split_at(hs);
                            let (cb, hb) = (&mut c[b * hs..][..hs], &mut h[b * hs..][..hs]);
                            for (((cv, &f), &i), &gv) in cb.iter_mut().zip(fg).zip(ig).zip(cg.iter()) {
                                *cv = f * *cv + i * gv;
                            }
                            hb.copy_from_slice(cb);
                            self.acts[2].apply(hb);
                            hb.iter_mut().zip(og.iter()).for_each(|(v, o)| *v *= o);
                        }
                    }
                    Cell::Gru { linear_before_reset } => {
                        for b in (0..batch).filter(|&b| active(b)) {
                            let g = &mut hr[b * r_ld..][..2 * hs];
                            add_into(g, &xw[(b * seq + time(b)) * gh..][..2 * hs]);
                            self.clip(g);
                            self.acts[0].apply(g);
                            if !linear_before_reset {
                                let (rg, hb, out) = (&g[hs..], &h[b * hs..][..hs], &mut rh[b * hs..][..hs]);
                                for ((o, &r), &hv) in out.iter_mut().zip(rg).zip(hb) {
                                    *o = r * hv;
                                }
                            }
                        }
                        if let Some(r_h) = &wd.r_h {
                            gemm_prepacked(batch, &rh, hs, r_h, &mut rhr, hs, &Epilogue::none(), pool)?;
                        }
                        for b in (0..batch).filter(|&b| active(b)) {
                            let row = &mut hr[b * r_ld..][..r_ld];
                            let xrow = &xw[(b * seq + time(b)) * gh + 2 * hs..][..hs];
                            let (zr, rest) = row.split_at_mut(2 * hs);
                            // Candidate pre-activation, written over z's neighbour block.
                            let cand = &mut rh[b * hs..][..hs];
                            if linear_before_reset {
                                let (rg, hrh) = (&zr[hs..], &rest[..hs]);
                                for (((cv, &xv), &r), &p) in cand.iter_mut().zip(xrow).zip(rg).zip(hrh) {
                                    *cv = xv + r * p;
                                }
                            } else {
                                let p = &rhr[b * hs..][..hs];
                                for ((cv, &xv), &pv) in cand.iter_mut().zip(xrow).zip(p) {
                                    *cv = xv + pv;
                                }
                            }
                            self.clip(cand);
                            self.acts[1].apply(cand);
                            let (z, hb) = (&zr[..hs], &mut h[b * hs..][..hs]);
                            for ((hv, &zv), &cv) in hb.iter_mut().zip(z).zip(cand.iter()) {
                                *hv = (1.0 - zv) * cv + zv * *hv;
                            }
                        }
                    }
                }
                for b in (0..batch).filter(|&b| active(b)) {
                    y[((b * nd + d) * seq + time(b)) * hs..][..hs].copy_from_slice(&h[b * hs..][..hs]);
                }
            }
            for b in 0..batch {
                let dst = (b * nd + d) * hs;
                yh[dst..][..hs].copy_from_slice(&h[b * hs..][..hs]);
                if let Some(yc) = yc.as_deref_mut().filter(|_| lstm) {
                    yc[dst..][..hs].copy_from_slice(&c[b * hs..][..hs]);
                }
            }
        }
        Ok(())
    }
}
