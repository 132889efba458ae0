//! `ai.onnx.preview.training` optimizers (Adagrad, Adam, Momentum) as element-wise IR ops:
//! each updates any number of tensors with the same learning rate `R` and step count `T`,
//! following the formulas of the ONNX reference implementation. Also BatchNormalization in
//! training mode (batch statistics and running-statistics outputs).

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::nn::channel_vector;
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Res<T> = Result<T, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "ai.onnx.preview.training";
    r.register(d, "Adagrad", &[1], adagrad);
    r.register(d, "Adam", &[1], adam);
    r.register(d, "Momentum", &[1], momentum);
}

/// Number of optimized tensors: inputs are `R, T` then `groups` lists of that many tensors.
fn tensor_count(c: &NodeContext<'_>, groups: usize) -> Res<usize> {
    let n = c.input_count().saturating_sub(2);
    if n == 0 || !n.is_multiple_of(groups) {
        return Err(c.error(format!(
            "expects R, T and {groups} lists of equally many tensors, got {} inputs",
            c.input_count()
        )));
    }
    Ok(n / groups)
}

/// Small builder for element-wise formulas in one float type.
struct Ew<'c, 'a> {
    c: &'c mut NodeContext<'a>,
    et: ElementType,
}

impl Ew<'_, '_> {
    fn k(&mut self, v: f32) -> Res<OutputRef> {
        self.c.const_scalar(self.et, f64::from(v))
    }
    fn cast(&mut self, x: OutputRef) -> Res<OutputRef> {
        if self.c.element_type(x) == self.et {
            return Ok(x);
        }
        self.c.add(ops::Convert { destination_type: self.et }, &[x])
    }
    fn add(&mut self, a: OutputRef, b: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Add::default(), &[a, b])
    }
    fn sub(&mut self, a: OutputRef, b: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Subtract::default(), &[a, b])
    }
    fn mul(&mut self, a: OutputRef, b: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Multiply::default(), &[a, b])
    }
    fn div(&mut self, a: OutputRef, b: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Divide::default(), &[a, b])
    }
    fn sqrt(&mut self, a: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Sqrt {}, &[a])
    }
    /// `coefficient * x + g`: the gradient plus that of the L2 regularization term.
    fn regularized(&mut self, coefficient: f32, x: OutputRef, g: OutputRef) -> Res<OutputRef> {
        let k = self.k(coefficient)?;
        let kx = self.mul(k, x)?;
        self.add(kx, g)
    }
    /// `T > 0` as a boolean scalar.
    fn positive(&mut self, t: OutputRef) -> Res<OutputRef> {
        let zero = self.c.const_scalar(self.c.element_type(t), 0.0)?;
        self.c.add(ops::Greater::default(), &[t, zero])
    }
    fn select(&mut self, cond: OutputRef, a: OutputRef, b: OutputRef) -> Res<OutputRef> {
        self.c.add(ops::Select::default(), &[cond, a, b])
    }
}

/// The float type of the optimized tensors (that of the first one).
fn float_type(c: &NodeContext<'_>) -> Res<ElementType> {
    let x = c.input(2)?;
    let et = c.element_type(x);
    if !et.is_float() {
        return Err(c.error(format!("optimized tensors of type {et} are not supported (float expected)")));
    }
    Ok(et)
}

/// Adagrad: `H' = H + g^2`, `X' = X - R / (1 + T * decay_factor) * g / (sqrt(H') + epsilon)`
/// with `g = norm_coefficient * X + G`; outputs all `X'` then all `H'`.
fn adagrad(c: &mut NodeContext<'_>) -> R {
    let n = tensor_count(c, 3)?;
    let decay = c.attr_float("decay_factor", 0.0)?;
    let epsilon = c.attr_float("epsilon", 0.0)?;
    let norm = c.attr_float("norm_coefficient", 0.0)?;
    let (r, t) = (c.input(0)?, c.input(1)?);
    let ins: Vec<OutputRef> = (2..2 + 3 * n).map(|i| c.input(i)).collect::<Res<_>>()?;
    let et = float_type(c)?;
    let mut e = Ew { c, et };
    let r = e.cast(r)?;
    let tf = e.cast(t)?;
    let d = e.k(decay)?;
    let td = e.mul(tf, d)?;
    let one = e.k(1.0)?;
    let denom = e.add(one, td)?;
    let rate = e.div(r, denom)?;
    let eps = e.k(epsilon)?;
    let (mut xs, mut hs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (x, g, h) = (ins[i], ins[n + i], ins[2 * n + i]);
        let g = e.regularized(norm, x, g)?;
        let g2 = e.mul(g, g)?;
        let h_new = e.add(h, g2)?;
        let root = e.sqrt(h_new)?;
        let root = e.add(root, eps)?;
        let step = e.mul(rate, g)?;
        let step = e.div(step, root)?;
        xs.push(e.sub(x, step)?);
        hs.push(h_new);
    }
    xs.extend(hs);
    Ok(xs)
}

/// Adam: `V' = alpha V + (1 - alpha) g`, `H' = beta H + (1 - beta) g^2`,
/// `X' = (1 - norm_coefficient_post) (X - R' V' / (sqrt(H') + epsilon))` with
/// `R' = R sqrt(1 - beta^T) / (1 - alpha^T)` when `T > 0`, else `R`; outputs X', V', H' lists.
fn adam(c: &mut NodeContext<'_>) -> R {
    let n = tensor_count(c, 4)?;
    let alpha = c.attr_float("alpha", 0.9)?;
    let beta = c.attr_float("beta", 0.999)?;
    let epsilon = c.attr_float("epsilon", 0.0)?;
    let norm = c.attr_float("norm_coefficient", 0.0)?;
    let norm_post = c.attr_float("norm_coefficient_post", 0.0)?;
    let (r, t) = (c.input(0)?, c.input(1)?);
    let ins: Vec<OutputRef> = (2..2 + 4 * n).map(|i| c.input(i)).collect::<Res<_>>()?;
    let et = float_type(c)?;
    let mut e = Ew { c, et };
    let r = e.cast(r)?;
    let tf = e.cast(t)?;
    let one = e.k(1.0)?;
    let (a, b) = (e.k(alpha)?, e.k(beta)?);
    let (a1, b1) = (e.k(1.0 - alpha)?, e.k(1.0 - beta)?);
    let at = e.c.add(ops::Power::default(), &[a, tf])?;
    let bt = e.c.add(ops::Power::default(), &[b, tf])?;
    let bias_v = e.sub(one, at)?;
    let bias_h = e.sub(one, bt)?;
    let bias_h = e.sqrt(bias_h)?;
    let corrected = e.mul(r, bias_h)?;
    let corrected = e.div(corrected, bias_v)?;
    let started = e.positive(t)?;
    let rate = e.select(started, corrected, r)?;
    let eps = e.k(epsilon)?;
    let keep = e.k(1.0 - norm_post)?;
    let (mut xs, mut vs, mut hs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (x, g, v, h) = (ins[i], ins[n + i], ins[2 * n + i], ins[3 * n + i]);
        let g = e.regularized(norm, x, g)?;
        let av = e.mul(a, v)?;
        let ag = e.mul(a1, g)?;
        let v_new = e.add(av, ag)?;
        let bh = e.mul(b, h)?;
        let g2 = e.mul(g, g)?;
        let bg = e.mul(b1, g2)?;
        let h_new = e.add(bh, bg)?;
        let root = e.sqrt(h_new)?;
        let root = e.add(root, eps)?;
        let ratio = e.div(v_new, root)?;
        let step = e.mul(rate, ratio)?;
        let x_new = e.sub(x, step)?;
        xs.push(e.mul(keep, x_new)?);
        vs.push(v_new);
        hs.push(h_new);
    }
    xs.extend(vs);
    xs.extend(hs);
    Ok(xs)
}

/// Momentum: `V' = alpha V + beta' g` (`beta' = 1` at `T = 0`, else `beta`), then
/// `X' = X - R V'` (standard) or `X' = X - R (g + alpha V')` (nesterov); outputs X' then V'.
fn momentum(c: &mut NodeContext<'_>) -> R {
    let n = tensor_count(c, 3)?;
    let alpha = c.attr_float("alpha", 0.0)?;
    let beta = c.attr_float("beta", 0.0)?;
    let norm = c.attr_float("norm_coefficient", 0.0)?;
    for required in ["alpha", "beta", "mode", "norm_coefficient"] {
        if !c.has_attr(required) {
            return Err(c.error(format!("attribute '{required}' is required")));
        }
    }
    let nesterov = match c.attr_string("mode", "standard")?.as_str() {
        "standard" => false,
        "nesterov" => true,
        other => return Err(c.error(format!("unknown mode '{other}' (standard or nesterov)"))),
    };
    let (r, t) = (c.input(0)?, c.input(1)?);
    let ins: Vec<OutputRef> = (2..2 + 3 * n).map(|i| c.input(i)).collect::<Res<_>>()?;
    let et = float_type(c)?;
    let mut e = Ew { c, et };
    let r = e.cast(r)?;
    let a = e.k(alpha)?;
    let (b, one) = (e.k(beta)?, e.k(1.0)?);
    let started = e.positive(t)?;
    let b = e.select(started, b, one)?;
    let (mut xs, mut vs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (x, g, v) = (ins[i], ins[n + i], ins[2 * n + i]);
        let g = e.regularized(norm, x, g)?;
        let av = e.mul(a, v)?;
        let bg = e.mul(b, g)?;
        let v_new = e.add(av, bg)?;
        let dir = if nesterov {
            let av_new = e.mul(a, v_new)?;
            e.add(g, av_new)?
        } else {
            v_new
        };
        let step = e.mul(r, dir)?;
        xs.push(e.sub(x, step)?);
        vs.push(v_new);
    }
    xs.extend(vs);
    Ok(xs)
}

/// BatchNormalization-14/15 with `training_mode = 1`: normalizes by the batch statistics (mean
/// and population variance over every axis but 1) and returns the running mean and variance
/// `input * momentum + batch * (1 - momentum)` as outputs 1 and 2.
pub(super) fn batch_norm_training(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (scale, bias, mean, var) = (c.input(1)?, c.input(2)?, c.input(3)?, c.input(4)?);
    let epsilon = c.attr_float("epsilon", 1e-5)?;
    let momentum = c.attr_float("momentum", 0.9)?;
    let et = c.element_type(x);
    if !et.is_float() {
        return Err(c.error(format!("input of type {et} is not supported (float expected)")));
    }
    let rank = c.static_rank(x, "BatchNormalization in training mode")?;
    if rank < 2 {
        return Err(c.error(format!("input of rank {rank} has no channel axis")));
    }
    let axes: Vec<i64> = (0..rank as i64).filter(|&a| a != 1).collect();
    let axes = c.const_vec(&axes)?;
    let batch_mean = c.add(ops::ReduceMean { keep_dims: true }, &[x, axes])?;
    let centered = c.add(ops::Subtract::default(), &[x, batch_mean])?;
    let squares = c.add(ops::Multiply::default(), &[centered, centered])?;
    let batch_var = c.add(ops::ReduceMean { keep_dims: true }, &[squares, axes])?;
    let mut e = Ew { c, et };
    let eps = e.k(epsilon)?;
    let denom = e.add(batch_var, eps)?;
    let denom = e.sqrt(denom)?;
    let y = e.div(centered, denom)?;
    let s = channel_vector(e.c, scale, rank)?;
    let b = channel_vector(e.c, bias, rank)?;
    let y = e.mul(y, s)?;
    let y = e.add(y, b)?;
    let flat = e.c.const_vec(&[-1])?;
    let (keep, take) = (e.k(momentum)?, e.k(1.0 - momentum)?);
    let mut outs = vec![y];
    for (running, batch) in [(mean, batch_mean), (var, batch_var)] {
        let batch = e.c.add(ops::Reshape { special_zero: false }, &[batch, flat])?;
        let old = e.mul(running, keep)?;
        let new = e.mul(batch, take)?;
        outs.push(e.add(old, new)?);
    }
    Ok(outs)
}
