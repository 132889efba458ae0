//! The attention family decomposed into IR ops: Attention-23/24/25, RotaryEmbedding-23,
//! TensorScatter-24, CausalConvWithState-27, LinearAttention-27 (a TensorIterator over time) and
//! the gated MLP activation SwiGLU-28.
//!
//! Attention follows the ONNX reference implementation (`onnx/reference/ops/op_attention.py`)
//! step by step, in the element type of `Q` like the reference: split heads of 3-D inputs, append
//! the past cache, scale Q and K by `sqrt(scale)` each, repeat KV heads for GQA, `Q @ K^T`,
//! softcap, add the additive bias (mask padded with `-inf` to the total length, bottom-right
//! causal and sliding-window masks offset by the past length or per batch by
//! `nonpad_kv_seqlen - q_len`, padding mask), softmax (optionally in `softmax_precision`),
//! zero the rows whose bias is entirely `-inf`, and multiply by V.

use ir_graph::ops::{self, PadMode};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Out = Result<OutputRef, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Attention", &[23, 24], attention);
    r.register(d, "Attention", &[25], attention);
    r.register(d, "RotaryEmbedding", &[23], rotary_embedding);
    r.register(d, "TensorScatter", &[24], tensor_scatter);
    r.register(d, "CausalConvWithState", &[27], causal_conv_with_state);
    r.register(d, "LinearAttention", &[27], linear_attention);
    r.register(d, "SwiGLU", &[28], swiglu);
}

/// Dimension `axis` of `x` when it is static.
pub(super) fn static_dim(c: &NodeContext<'_>, x: OutputRef, axis: usize) -> Option<i64> {
    c.shape(x).dims().and_then(|d| d.get(axis).and_then(|d| d.get())).map(|d| d as i64)
}

/// Dimension `axis` of `x` as an i64 scalar (a constant when static).
pub(super) fn dim(c: &mut NodeContext<'_>, x: OutputRef, axis: usize) -> Out {
    if let Some(d) = static_dim(c, x, axis) {
        return c.const_i64(&[], vec![d]);
    }
    let s = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let i = c.const_i64(&[], vec![axis as i64])?;
    let zero = c.const_i64(&[], vec![0])?;
    c.add(ops::Gather { batch_dims: 0 }, &[s, i, zero])
}

/// `[0, 1, ..., n - 1]` as i64 for an i64 scalar `n`.
fn range(c: &mut NodeContext<'_>, n: OutputRef) -> Out {
    let (zero, one) = (c.const_i64(&[], vec![0])?, c.const_i64(&[], vec![1])?);
    c.add(ops::Range { output_type: ElementType::I64 }, &[zero, n, one])
}

pub(super) fn unsqueeze(c: &mut NodeContext<'_>, x: OutputRef, axes: &[i64]) -> Out {
    let a = c.const_vec(axes)?;
    c.add(ops::Unsqueeze {}, &[x, a])
}

fn transpose(c: &mut NodeContext<'_>, x: OutputRef, order: &[i64]) -> Out {
    let o = c.const_vec(order)?;
    c.add(ops::Transpose {}, &[x, o])
}

pub(super) fn convert(c: &mut NodeContext<'_>, x: OutputRef, to: ElementType) -> Out {
    if c.element_type(x) == to { Ok(x) } else { c.add(ops::Convert { destination_type: to }, &[x]) }
}

/// `[B, S, H * D]` -> `[B, H, S, D]`.
fn split_heads(c: &mut NodeContext<'_>, x: OutputRef, heads: i64) -> Out {
    let shape = c.const_vec(&[0, 0, heads, -1])?;
    let x = c.add(ops::Reshape { special_zero: true }, &[x, shape])?;
    transpose(c, x, &[0, 2, 1, 3])
}

/// Additive mask: `0` where `allowed`, `-inf` elsewhere, in `et`.
fn bias_from_bool(c: &mut NodeContext<'_>, allowed: OutputRef, et: ElementType) -> Out {
    let zero = c.const_scalar(et, 0.0)?;
    let neg_inf = c.const_scalar(et, f64::NEG_INFINITY)?;
    c.add(ops::Select::default(), &[allowed, zero, neg_inf])
}

fn add_bias(c: &mut NodeContext<'_>, bias: Option<OutputRef>, term: OutputRef) -> Out {
    match bias {
        Some(b) => c.add(ops::Add::default(), &[b, term]),
        None => Ok(term),
    }
}

/// Element type of an ONNX `TensorProto.DataType` code, for the float types softmax accepts.
pub(super) fn float_type(code: i64) -> Option<ElementType> {
    Some(match code {
        1 => ElementType::F32,
        10 => ElementType::F16,
        11 => ElementType::F64,
        16 => ElementType::Bf16,
        _ => return None,
    })
}

/// Softmax over the last axis as the reference computes it: a row whose maximum is `-inf`
/// subtracts 0 instead, and a zero sum divides by 1, so fully masked rows give zeros, not NaN.
/// Each step rounds to the element type, as the reference does in f16 and bf16.
fn safe_softmax(c: &mut NodeContext<'_>, x: OutputRef) -> Out {
    let et = c.element_type(x);
    if matches!(et, ElementType::F32 | ElementType::F64) {
        // The fused kernel; rows it would turn to NaN are the fully masked ones the caller zeroes.
        return c.add(ops::SoftMax8 { axis: -1 }, &[x]);
    }
    let axes = c.const_vec(&[-1])?;
    let (zero, one) = (c.const_scalar(et, 0.0)?, c.const_scalar(et, 1.0)?);
    let neg_inf = c.const_scalar(et, f64::NEG_INFINITY)?;
    let max = c.add(ops::ReduceMax { keep_dims: true }, &[x, axes])?;
    let all_masked = c.add(ops::Equal::default(), &[max, neg_inf])?;
    let max = c.add(ops::Select::default(), &[all_masked, zero, max])?;
    let shifted = c.add(ops::Subtract::default(), &[x, max])?;
    let e = c.add(ops::Exp {}, &[shifted])?;
    let sum = c.add(ops::ReduceSum { keep_dims: true }, &[e, axes])?;
    let empty = c.add(ops::Equal::default(), &[sum, zero])?;
    let sum = c.add(ops::Select::default(), &[empty, one, sum])?;
    c.add(ops::Divide::default(), &[e, sum])
}

/// Where the causal and window masks place query 0 among the keys.
enum Offset {
    /// No cache: query `i` is at key position `i`.
    None,
    /// Internal cache: every batch is offset by the past length (an i64 scalar).
    Scalar(OutputRef),
    /// External cache: batch `b` is offset by `nonpad_kv_seqlen[b] - q_len`, shaped `[B, 1, 1]`.
    PerBatch(OutputRef),
}

/// Attention-23/24/25.
fn attention(c: &mut NodeContext<'_>) -> R {
    let (q0, k0, v0) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let mask = c.opt_input(3);
    let (past_key, past_value) = (c.opt_input(4), c.opt_input(5));
    let nonpad = c.opt_input(6);
    let is_causal = c.attr_int("is_causal", 0)? != 0;
    let q_heads_attr = c.attr_int_opt("q_num_heads")?;
    let kv_heads_attr = c.attr_int_opt("kv_num_heads")?;
    let scale = if c.has_attr("scale") { Some(c.attr_float("scale", 1.0)?) } else { None };
    let softcap = c.attr_float("softcap", 0.0)?;
    let softmax_precision = c.attr_int_opt("softmax_precision")?;
    let mode = c.attr_int("qk_matmul_output_mode", 0)?;
    let left = c.attr_int("left_window_size", -1)?;
    let right = c.attr_int("right_window_size", -1)?;
    if past_key.is_some() != past_value.is_some() {
        return Err(c.error("past_key and past_value must be given together"));
    }
    if !(0..=3).contains(&mode) {
        return Err(c.error(format!("qk_matmul_output_mode {mode} is not 0..3")));
    }
    let et = c.element_type(q0);
    let rank = c.static_rank(q0, "Attention")?;
    let (q, k, v, q_heads, kv_heads) = match rank {
        4 => {
            let hq = static_dim(c, q0, 1);
            let hkv = static_dim(c, k0, 1);
            (q0, k0, v0, hq, hkv)
        }
        3 => {
            let (Some(hq), Some(hkv)) = (q_heads_attr, kv_heads_attr) else {
                return Err(c.error("3-D inputs need the q_num_heads and kv_num_heads attributes"));
            };
            if hq <= 0 || hkv <= 0 {
                return Err(c.error(format!("head counts must be positive, got q {hq}, kv {hkv}")));
            }
            let q = split_heads(c, q0, hq)?;
            let k = split_heads(c, k0, hkv)?;
            let v = split_heads(c, v0, hkv)?;
            (q, k, v, Some(hq), Some(hkv))
        }
        r => return Err(c.error(format!("Q must be 3-D or 4-D, got rank {r}"))),
    };

    // The cache: present = concat(past, new) along the sequence axis.
    let present_key = match past_key {
        Some(p) => c.add(ops::Concat { axis: 2 }, &[p, k])?,
        None => k,
    };
    let present_value = match past_value {
        Some(p) => c.add(ops::Concat { axis: 2 }, &[p, v])?,
        None => v,
    };

    // sqrt(scale) applied to both Q and K, rounded to the input type as the reference does.
    let scale_t = match (scale, static_dim(c, q, 3)) {
        (Some(s), _) => c.const_scalar(et, (s as f64).sqrt())?,
        (None, Some(d)) if d > 0 => c.const_scalar(et, (1.0 / (d as f64).sqrt()).sqrt())?,
        (None, _) => {
            let d = dim(c, q, 3)?;
            let d = convert(c, d, ElementType::F32)?;
            let s = c.add(ops::Sqrt {}, &[d])?;
            let one = c.const_scalar(ElementType::F32, 1.0)?;
            let s = c.add(ops::Divide::default(), &[one, s])?;
            let s = c.add(ops::Sqrt {}, &[s])?;
            convert(c, s, et)?
        }
    };

    // Group-query attention: repeat each KV head q_heads / kv_heads times, interleaved.
    let (k_att, v_att) = match (q_heads, kv_heads) {
        (Some(hq), Some(hkv)) if hq != hkv && hkv > 0 && hq % hkv == 0 => {
            let rep = hq / hkv;
            let idx: Vec<i64> = (0..hq).map(|h| h / rep).collect();
            let idx = c.const_vec(&idx)?;
            let axis = c.const_i64(&[], vec![1])?;
            let k = c.add(ops::Gather { batch_dims: 0 }, &[present_key, idx, axis])?;
            let v = c.add(ops::Gather { batch_dims: 0 }, &[present_value, idx, axis])?;
            (k, v)
        }
        (Some(hq), Some(hkv)) if hq != hkv => {
            return Err(c.error(format!("q heads {hq} are not a multiple of kv heads {hkv}")));
        }
        (Some(_), Some(_)) => (present_key, present_value),
        _ => return Err(c.error("needs static head counts (dim 1 of 4-D Q and K)")),
    };

    let qs = c.add(ops::Multiply::default(), &[q, scale_t])?;
    let ks = c.add(ops::Multiply::default(), &[k_att, scale_t])?;
    let mut qk = c.add(ops::MatMul { transpose_a: false, transpose_b: true }, &[qs, ks])?;
    if softcap > 0.0 {
        let cap = c.const_scalar(et, softcap as f64)?;
        let y = c.add(ops::Divide::default(), &[qk, cap])?;
        let y = c.add(ops::Tanh {}, &[y])?;
        qk = c.add(ops::Multiply::default(), &[y, cap])?;
    }

    // The additive bias, in the input type.
    let q_len = dim(c, q, 2)?;
    let kv_len = dim(c, present_key, 2)?;
    let mut bias: Option<OutputRef> = None;
    if let Some(m) = mask {
        let m = if c.element_type(m) == ElementType::Boolean { bias_from_bool(c, m, et)? } else { convert(c, m, et)? };
        let mrank = c.static_rank(m, "Attention's attn_mask")?;
        if mrank == 0 {
            return Err(c.error("attn_mask must have rank 1 or more"));
        }
        // A mask shorter than the total sequence is padded with -inf (masked) at the end.
        let short = match (static_dim(c, m, mrank - 1), static_dim(c, present_key, 2)) {
            (Some(a), Some(b)) => a != b,
            _ => true,
        };
        let m = if short {
            let last = dim(c, m, mrank - 1)?;
            let missing = c.add(ops::Subtract::default(), &[kv_len, last])?;
            let missing = unsqueeze(c, missing, &[0])?;
            let zeros = c.const_vec(&vec![0; mrank])?;
            let end = if mrank > 1 {
                let lead = c.const_vec(&vec![0; mrank - 1])?;
                c.add(ops::Concat { axis: 0 }, &[lead, missing])?
            } else {
                missing
            };
            let neg_inf = c.const_scalar(et, f64::NEG_INFINITY)?;
            c.add(ops::Pad { pad_mode: PadMode::Constant }, &[m, zeros, end, neg_inf])?
        } else {
            m
        };
        bias = Some(m);
    }

    let windowed = left >= 0 || right >= 0;
    if is_causal || windowed {
        let offset = match (past_key, nonpad) {
            (Some(p), _) => Offset::Scalar(dim(c, p, 2)?),
            (None, Some(n)) => {
                let n = convert(c, n, ElementType::I64)?;
                let o = c.add(ops::Subtract::default(), &[n, q_len])?;
                let shape = c.const_vec(&[-1, 1, 1])?;
                Offset::PerBatch(c.add(ops::Reshape { special_zero: false }, &[o, shape])?)
            }
            (None, None) => Offset::None,
        };
        let rows = range(c, q_len)?;
        let rows = unsqueeze(c, rows, &[1])?;
        let cols = range(c, kv_len)?;
        let cols = unsqueeze(c, cols, &[0])?;
        let (pos, per_batch) = match offset {
            Offset::None => (rows, false),
            Offset::Scalar(o) => (c.add(ops::Add::default(), &[rows, o])?, false),
            Offset::PerBatch(o) => (c.add(ops::Add::default(), &[rows, o])?, true),
        };
        // diff = absolute query position - key position: [q, kv] or [B, q, kv].
        let diff = c.add(ops::Subtract::default(), &[pos, cols])?;
        let mut allowed: Option<OutputRef> = None;
        let mut both = |c: &mut NodeContext<'_>, cond: OutputRef| -> Result<(), FrontendError> {
            allowed = Some(match allowed {
                Some(a) => c.add(ops::LogicalAnd::default(), &[a, cond])?,
                None => cond,
            });
            Ok(())
        };
        if is_causal {
            let zero = c.const_i64(&[], vec![0])?;
            let cond = c.add(ops::GreaterEqual::default(), &[diff, zero])?;
            both(c, cond)?;
        }
        if left >= 0 {
            let l = c.const_i64(&[], vec![left])?;
            let cond = c.add(ops::LessEqual::default(), &[diff, l])?;
            both(c, cond)?;
        }
        if right >= 0 {
            let r = c.const_i64(&[], vec![-right])?;
            let cond = c.add(ops::GreaterEqual::default(), &[diff, r])?;
            both(c, cond)?;
        }
        if let Some(a) = allowed {
            let a = if per_batch { unsqueeze(c, a, &[1])? } else { a };
            let term = bias_from_bool(c, a, et)?;
            bias = Some(add_bias(c, bias, term)?);
        }
    }

    if let Some(n) = nonpad {
        // Keys at or past nonpad_kv_seqlen[b] are padding: [B, 1, 1, kv].
        let n = convert(c, n, ElementType::I64)?;
        let shape = c.const_vec(&[-1, 1])?;
        let n = c.add(ops::Reshape { special_zero: false }, &[n, shape])?;
        let cols = range(c, kv_len)?;
        let valid = c.add(ops::Less::default(), &[cols, n])?;
        let valid = unsqueeze(c, valid, &[1, 2])?;
        let term = bias_from_bool(c, valid, et)?;
        bias = Some(add_bias(c, bias, term)?);
    }

    let qk_biased = match bias {
        Some(b) => c.add(ops::Add::default(), &[qk, b])?,
        None => qk,
    };
    let sm_type = match softmax_precision {
        None => et,
        Some(code) => {
            float_type(code).ok_or_else(|| c.error(format!("softmax_precision {code} is not a float type")))?
        }
    };
    let x = convert(c, qk_biased, sm_type)?;
    let mut probs = safe_softmax(c, x)?;
    if let Some(b) = bias {
        // Rows whose bias is entirely -inf attend nothing: their probabilities are 0, not NaN.
        // (Decided per element and reduced with OR: OpenVINO's CPU ReduceMax gives -FLT_MAX,
        // not -inf, for a row of -inf.)
        let axes = c.const_vec(&[-1])?;
        let neg_inf = c.const_scalar(et, f64::NEG_INFINITY)?;
        let open = c.add(ops::NotEqual::default(), &[b, neg_inf])?;
        let any_open = c.add(ops::ReduceLogicalOr { keep_dims: true }, &[open, axes])?;
        let zero = c.const_scalar(sm_type, 0.0)?;
        probs = c.add(ops::Select::default(), &[any_open, probs, zero])?;
    }
    let probs = convert(c, probs, et)?;
    let y = c.add(ops::MatMul::default(), &[probs, v_att])?;
    let y = if rank == 3 {
        let y = transpose(c, y, &[0, 2, 1, 3])?;
        let shape = c.const_vec(&[0, 0, -1])?;
        c.add(ops::Reshape { special_zero: true }, &[y, shape])?
    } else {
        y
    };
    let qk_out = match mode {
        2 => qk_biased,
        3 => probs,
        _ => qk,
    };
    Ok(vec![y, present_key, present_value, qk_out])
}

/// RotaryEmbedding-23: rotate the first `rotary_embedding_dim` features of each head by the
/// cached angles, halves (`x1 = x[..d/2]`, `x2 = x[d/2..]`) or interleaved pairs.
fn rotary_embedding(c: &mut NodeContext<'_>) -> R {
    let (x0, cos0, sin0) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let positions = c.opt_input(3);
    let interleaved = c.attr_int("interleaved", 0)? != 0;
    let rot_dim_attr = c.attr_int("rotary_embedding_dim", 0)?;
    let num_heads = c.attr_int("num_heads", 0)?;
    let rank = c.static_rank(x0, "RotaryEmbedding")?;
    // To [B, S, H, D].
    let x = match rank {
        4 => transpose(c, x0, &[0, 2, 1, 3])?,
        3 => {
            if num_heads <= 0 {
                return Err(c.error("3-D input needs a positive num_heads attribute"));
            }
            let shape = c.const_vec(&[0, 0, num_heads, -1])?;
            c.add(ops::Reshape { special_zero: true }, &[x0, shape])?
        }
        r => return Err(c.error(format!("input must be 3-D or 4-D, got rank {r}"))),
    };
    let head = static_dim(c, x, 3).ok_or_else(|| c.error("needs a static head size"))?;
    let rot = if rot_dim_attr == 0 { head } else { rot_dim_attr };
    if rot <= 0 || rot > head || rot % 2 != 0 {
        return Err(c.error(format!("rotary_embedding_dim {rot} is invalid for head size {head}")));
    }
    // Caches indexed by the positions: [B, S, rot/2], then a head axis: [B, S, 1, rot/2].
    let (cos, sin) = match positions {
        Some(p) => {
            let zero = c.const_i64(&[], vec![0])?;
            let cos = c.add(ops::Gather { batch_dims: 0 }, &[cos0, p, zero])?;
            let sin = c.add(ops::Gather { batch_dims: 0 }, &[sin0, p, zero])?;
            (cos, sin)
        }
        None => (cos0, sin0),
    };
    let cos = unsqueeze(c, cos, &[2])?;
    let sin = unsqueeze(c, sin, &[2])?;
    let slice = |c: &mut NodeContext<'_>, x: OutputRef, start: i64, stop: i64, step: i64| -> Out {
        let (s, e, st, ax) = (c.const_vec(&[start])?, c.const_vec(&[stop])?, c.const_vec(&[step])?, c.const_vec(&[3])?);
        c.add(ops::Slice {}, &[x, s, e, st, ax])
    };
    let x_rot = if rot == head { x } else { slice(c, x, 0, rot, 1)? };
    let half = rot / 2;
    let (x1, x2) = if interleaved {
        (slice(c, x_rot, 0, rot, 2)?, slice(c, x_rot, 1, rot, 2)?)
    } else {
        (slice(c, x_rot, 0, half, 1)?, slice(c, x_rot, half, rot, 1)?)
    };
    let mul = |c: &mut NodeContext<'_>, a: OutputRef, b: OutputRef| c.add(ops::Multiply::default(), &[a, b]);
    let (cx1, sx2) = (mul(c, cos, x1)?, mul(c, sin, x2)?);
    let real = c.add(ops::Subtract::default(), &[cx1, sx2])?;
    let (sx1, cx2) = (mul(c, sin, x1)?, mul(c, cos, x2)?);
    let imag = c.add(ops::Add::default(), &[sx1, cx2])?;
    let rotated = if interleaved {
        let real = unsqueeze(c, real, &[-1])?;
        let imag = unsqueeze(c, imag, &[-1])?;
        let pairs = c.add(ops::Concat { axis: -1 }, &[real, imag])?;
        let shape = c.const_vec(&[0, 0, 0, rot])?;
        c.add(ops::Reshape { special_zero: true }, &[pairs, shape])?
    } else {
        c.add(ops::Concat { axis: -1 }, &[real, imag])?
    };
    let y = if rot == head {
        rotated
    } else {
        let rest = slice(c, x, rot, head, 1)?;
        c.add(ops::Concat { axis: -1 }, &[rotated, rest])?
    };
    let y = if rank == 4 {
        transpose(c, y, &[0, 2, 1, 3])?
    } else {
        let shape = c.const_vec(&[0, 0, -1])?;
        c.add(ops::Reshape { special_zero: true }, &[y, shape])?
    };
    Ok(vec![y])
}

/// TensorScatter-24: writes `update` into a copy of `past_cache` along `axis`, batch `b` from
/// position `write_indices[b]` (modulo the cache length in circular mode).
fn tensor_scatter(c: &mut NodeContext<'_>) -> R {
    let (cache, update) = (c.input(0)?, c.input(1)?);
    let write = c.opt_input(2);
    let circular = match c.attr_string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        other => return Err(c.error(format!("mode '{other}' is not linear or circular"))),
    };
    let axis = c.attr_int("axis", -2)?;
    let rank = c.static_rank(cache, "TensorScatter")?;
    let ax = if axis < 0 { axis + rank as i64 } else { axis };
    let ax = usize::try_from(ax)
        .ok()
        .filter(|&a| a >= 1 && a < rank)
        .ok_or_else(|| c.error(format!("axis {axis} must name a non-batch axis of the rank-{rank} cache")))?;
    // idx[b, .., s, ..] = write_indices[b] + s along `axis`, broadcast to the update's shape.
    let seq = dim(c, update, ax)?;
    let steps = range(c, seq)?;
    let mut step_shape = vec![1i64; rank];
    step_shape[ax] = -1;
    let step_shape = c.const_vec(&step_shape)?;
    let steps = c.add(ops::Reshape { special_zero: false }, &[steps, step_shape])?;
    let idx = match write {
        Some(w) => {
            let w = convert(c, w, ElementType::I64)?;
            let mut w_shape = vec![1i64; rank];
            w_shape[0] = -1;
            let w_shape = c.const_vec(&w_shape)?;
            let w = c.add(ops::Reshape { special_zero: false }, &[w, w_shape])?;
            c.add(ops::Add::default(), &[w, steps])?
        }
        None => steps,
    };
    let idx = if circular {
        let len = dim(c, cache, ax)?;
        c.add(ops::FloorMod::default(), &[idx, len])?
    } else {
        idx
    };
    let target = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[update])?;
    let idx = c.add(ops::Broadcast::default(), &[idx, target])?;
    let axis_c = c.const_i64(&[], vec![ax as i64])?;
    Ok(vec![c.add(ops::ScatterElementsUpdate::default(), &[cache, idx, update, axis_c])?])
}

/// CausalConvWithState-27: a depthwise 1-D convolution over `past_state ++ input` (zeros when
/// no state is given), optional SiLU (in f32, as the reference), and the last `k - 1` steps of
/// the padded input as the new state.
fn causal_conv_with_state(c: &mut NodeContext<'_>) -> R {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let (bias, past) = (c.opt_input(2), c.opt_input(3));
    let silu = match c.attr_string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        other => return Err(c.error(format!("activation '{other}' is not none, silu or swish"))),
    };
    if c.static_rank(x, "CausalConvWithState")? != 3 {
        return Err(c.error("input must be rank 3 (batch, channels, length)"));
    }
    let k = static_dim(c, w, 2).filter(|&k| k >= 1).ok_or_else(|| c.error("needs a static kernel size"))?;
    let et = c.element_type(x);
    let padded = match past {
        Some(p) => c.add(ops::Concat { axis: 2 }, &[p, x])?,
        None if k > 1 => {
            let (begin, end) = (c.const_vec(&[0, 0, k - 1])?, c.const_vec(&[0, 0, 0])?);
            let zero = c.const_scalar(et, 0.0)?;
            c.add(ops::Pad { pad_mode: PadMode::Constant }, &[x, begin, end, zero])?
        }
        None => x,
    };
    // Weights [C, 1, k] -> groups [C, 1, 1, k].
    let w = unsqueeze(c, w, &[1])?;
    let conv = ops::GroupConvolution {
        strides: vec![1],
        pads_begin: vec![0],
        pads_end: vec![0],
        dilations: vec![1],
        auto_pad: ops::PadType::Explicit,
    };
    let mut y = c.add(conv, &[padded, w])?;
    if let Some(b) = bias {
        let b = unsqueeze(c, b, &[0, 2])?;
        y = c.add(ops::Add::default(), &[y, b])?;
    }
    if silu {
        let yf = convert(c, y, ElementType::F32)?;
        let s = c.add(ops::Sigmoid {}, &[yf])?;
        let yf = c.add(ops::Multiply::default(), &[yf, s])?;
        y = convert(c, yf, et)?;
    }
    // The last k - 1 steps (none for k = 1).
    let start = if k > 1 { -(k - 1) } else { i64::MAX };
    let (s, e, st, ax) = (c.const_vec(&[start])?, c.const_vec(&[i64::MAX])?, c.const_vec(&[1])?, c.const_vec(&[2])?);
    let state = c.add(ops::Slice {}, &[padded, s, e, st, ax])?;
    Ok(vec![y, state])
}

/// A body model under construction for a TensorIterator.
pub(super) struct BodyBuilder {
    pub(super) m: ir_graph::Model,
}

impl BodyBuilder {
    pub(super) fn param(&mut self, c: &NodeContext<'_>, et: ElementType, shape: ir_graph::PartialShape) -> Out {
        let name = self.m.fresh_name("Parameter");
        self.m.add_parameter(&name, et, shape).map(OutputRef::from).map_err(|e| c.error(e.to_string()))
    }

    pub(super) fn add(&mut self, c: &NodeContext<'_>, op: impl Into<ops::Op>, inputs: &[OutputRef]) -> Out {
        let op = op.into();
        let name = self.m.fresh_name(op.type_name());
        self.m.add_node(op, &name, inputs).map(OutputRef::from).map_err(|e| c.error(e.to_string()))
    }

    pub(super) fn constant(&mut self, c: &NodeContext<'_>, value: ir_graph::Tensor) -> Out {
        self.add(c, ops::Constant { value }, &[])
    }

    pub(super) fn result(&mut self, c: &NodeContext<'_>, o: OutputRef) -> Result<(), FrontendError> {
        let name = self.m.fresh_name("Result");
        self.m.add_result(&name, o).map(|_| ()).map_err(|e| c.error(e.to_string()))
    }
}

/// The shape of `x` with dim `axis` set to 1: one TensorIterator slice.
pub(super) fn one_step(c: &NodeContext<'_>, x: OutputRef, axis: usize) -> ir_graph::PartialShape {
    match c.shape(x) {
        ir_graph::PartialShape::Ranked(mut d) if axis < d.len() => {
            d[axis] = ir_graph::Dim::fixed(1);
            ir_graph::PartialShape::Ranked(d)
        }
        s => s,
    }
}

/// LinearAttention-27: the recurrent state `S[b, h]` (`d_k x d_v`, f32) is decayed by
/// `exp(decay_t)` (gated rules), corrected by `beta_t * (v_t - k_t S)` (delta rules), updated by
/// `k_t^T v_t`, and read as `scale * q_t S`, one step per TensorIterator iteration along T.
fn linear_attention(c: &mut NodeContext<'_>) -> R {
    let (query, key, value) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let (past, decay, beta) = (c.opt_input(3), c.opt_input(4), c.opt_input(5));
    let rule = c.attr_string("update_rule", "gated_delta")?;
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        other => return Err(c.error(format!("update_rule '{other}' is not linear, gated, delta or gated_delta"))),
    };
    let hq = c.attr_int_req("q_num_heads")?;
    let hkv = c.attr_int_req("kv_num_heads")?;
    if hq <= 0 || hkv <= 0 || hq % hkv != 0 {
        return Err(c.error(format!("q_num_heads {hq} must be a positive multiple of kv_num_heads {hkv}")));
    }
    if gating != decay.is_some() || delta != beta.is_some() {
        return Err(c.error(format!("update_rule '{rule}' does not fit the given decay and beta inputs")));
    }
    for x in [query, key, value] {
        if c.static_rank(x, "LinearAttention")? != 3 {
            return Err(c.error("query, key and value must be rank 3 (B, T, H*D)"));
        }
    }
    let out_type = c.element_type(query);
    let f32t = ElementType::F32;
    let q_hidden = static_dim(c, query, 2).ok_or_else(|| c.error("needs a static query hidden size"))?;
    let v_hidden = static_dim(c, value, 2).ok_or_else(|| c.error("needs a static value hidden size"))?;
    let (dk, dv) = (q_hidden / hq, v_hidden / hkv);
    let scale = c.attr_float("scale", 0.0)?;
    let scale = if scale == 0.0 { (1.0 / (dk as f64).sqrt()) as f32 } else { scale };

    let heads = |c: &mut NodeContext<'_>, x: OutputRef, h: i64| -> Out {
        let x = split_heads(c, x, h)?;
        convert(c, x, f32t)
    };
    let q4 = heads(c, query, hq)?;
    let k4 = heads(c, key, hkv)?;
    let v4 = heads(c, value, hkv)?;
    let mut seq_inputs = vec![q4, k4, v4];
    if let Some(g) = decay {
        let last = static_dim(c, g, 2).ok_or_else(|| c.error("needs a static decay size"))?;
        let g4 = if last == hkv {
            let shape = c.const_vec(&[0, 0, hkv, 1])?;
            let g = c.add(ops::Reshape { special_zero: true }, &[g, shape])?;
            transpose(c, g, &[0, 2, 1, 3])?
        } else if last == hkv * dk {
            split_heads(c, g, hkv)?
        } else {
            return Err(c.error(format!("decay size {last} is neither {hkv} nor {}", hkv * dk)));
        };
        seq_inputs.push(convert(c, g4, f32t)?);
    }
    if let Some(b) = beta {
        let last = static_dim(c, b, 2).ok_or_else(|| c.error("needs a static beta size"))?;
        let shape = c.const_vec(&[0, 0, last, 1])?;
        let b = c.add(ops::Reshape { special_zero: true }, &[b, shape])?;
        let b = transpose(c, b, &[0, 2, 1, 3])?;
        seq_inputs.push(convert(c, b, f32t)?);
    }
    let state_type = past.map(|p| c.element_type(p)).unwrap_or(out_type);
    let state0 = match past {
        Some(p) => convert(c, p, f32t)?,
        None => {
            let b = dim(c, q4, 0)?;
            let b = unsqueeze(c, b, &[0])?;
            let rest = c.const_vec(&[hkv, dk, dv])?;
            let shape = c.add(ops::Concat { axis: 0 }, &[b, rest])?;
            let zero = c.const_scalar(f32t, 0.0)?;
            c.add(ops::Broadcast::default(), &[zero, shape])?
        }
    };

    // The body: parameters are the sliced inputs (one step along axis 2), then the state.
    let mut body = BodyBuilder { m: ir_graph::Model::new("linear_attention_step") };
    let mut params = Vec::new();
    for &x in &seq_inputs {
        let shape = one_step(c, x, 2);
        params.push(body.param(c, f32t, shape)?);
    }
    let state_in = body.param(c, f32t, c.shape(state0))?;
    let (q_t, k_t, v_t) = (params[0], params[1], params[2]);
    let mut next = 3;
    let mut state = state_in;
    if gating {
        let g_t = params[next];
        next += 1;
        let order = body.constant(
            c,
            ir_graph::Tensor::from_vec(vec![4], vec![0i64, 1, 3, 2]).map_err(|e| c.error(e.to_string()))?,
        )?;
        let g = body.add(c, ops::Transpose {}, &[g_t, order])?;
        let g = body.add(c, ops::Exp {}, &[g])?;
        state = body.add(c, ops::Multiply::default(), &[state, g])?;
    }
    let v_new = if delta {
        let b_t = params[next];
        let retrieved = body.add(c, ops::MatMul::default(), &[k_t, state])?;
        let diff = body.add(c, ops::Subtract::default(), &[v_t, retrieved])?;
        body.add(c, ops::Multiply::default(), &[b_t, diff])?
    } else {
        v_t
    };
    let outer = body.add(c, ops::MatMul { transpose_a: true, transpose_b: false }, &[k_t, v_new])?;
    let state_out = body.add(c, ops::Add::default(), &[state, outer])?;
    let read = if hq != hkv {
        let rep = hq / hkv;
        let idx: Vec<i64> = (0..hq).map(|h| h / rep).collect();
        let idx =
            body.constant(c, ir_graph::Tensor::from_vec(vec![idx.len()], idx).map_err(|e| c.error(e.to_string()))?)?;
        let axis = body.constant(c, ir_graph::Tensor::scalar(1i64))?;
        body.add(c, ops::Gather { batch_dims: 0 }, &[state_out, idx, axis])?
    } else {
        state_out
    };
    let y_t = body.add(c, ops::MatMul::default(), &[q_t, read])?;
    let s = body.constant(c, ir_graph::Tensor::scalar(scale))?;
    let y_t = body.add(c, ops::Multiply::default(), &[s, y_t])?;
    body.result(c, y_t)?;
    body.result(c, state_out)?;

    let n = seq_inputs.len();
    let mut descs: Vec<ops::InputDesc> =
        (0..n).map(|k| ops::InputDesc::Sliced { input: k, param: k, slice: ops::SliceAttrs::forward(2) }).collect();
    descs.push(ops::InputDesc::Merged { input: n, param: n, result: 1 });
    let outputs = vec![
        ops::OutputDesc::Concat { result: 0, output: 0, slice: ops::SliceAttrs::forward(2) },
        ops::OutputDesc::Last { result: 1, output: 1 },
    ];
    let mut inputs = seq_inputs;
    inputs.push(state0);
    let ti = ops::TensorIterator { body: ops::Body::new(body.m), inputs: descs, outputs };
    let id = c.add_node(ti, &inputs)?;
    let y = transpose(c, OutputRef::new(id, 0), &[0, 2, 1, 3])?;
    let shape = c.const_vec(&[0, 0, -1])?;
    let y = c.add(ops::Reshape { special_zero: true }, &[y, shape])?;
    let y = convert(c, y, out_type)?;
    let present = convert(c, OutputRef::new(id, 1), state_type)?;
    Ok(vec![y, present])
}

/// SwiGLU-28: `a * sigmoid(alpha * a) * b`.
fn swiglu(c: &mut NodeContext<'_>) -> R {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let alpha = c.attr_float("alpha", 1.0)?;
    let et = c.element_type(a);
    let scaled = if alpha == 1.0 {
        a
    } else {
        let k = c.const_scalar(et, alpha as f64)?;
        c.add(ops::Multiply::default(), &[a, k])?
    };
    let gate = c.add(ops::Sigmoid {}, &[scaled])?;
    let swish = c.add(ops::Multiply::default(), &[a, gate])?;
    Ok(vec![c.add(ops::Multiply::default(), &[swish, b])?])
}

#[cfg(test)]
mod tests {
    use ir_graph::{Model, Op, Tensor};

    use crate::test_support::*;

    /// Converts with folding; every input is an initializer, so the output is a constant.
    fn folded_output(b: &Builder) -> Tensor {
        let dir = tempfile::tempdir().expect("tempdir");
        let m: Model = crate::convert_model(&b.write(dir.path()), &crate::ConvertOptions::default()).expect("convert");
        let Op::Constant(c) = result_producer(&m) else { panic!("not folded: {:?}", op_counts(&m)) };
        c.value.clone()
    }

    #[test]
    fn attention_zeroes_fully_masked_rows_and_averages_equal_scores() {
        // One head, two queries, two keys; Q = 0 makes every score equal.
        let mask = [0.0f32, 0.0, f32::NEG_INFINITY, f32::NEG_INFINITY];
        let b = Builder::new(23)
            .init(f32_typed("q", &[1, 1, 2, 2], &[0.0; 4]))
            .init(f32_typed("k", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]))
            .init(f32_typed("v", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]))
            .init(f32_typed("m", &[2, 2], &mask))
            .node(node("Attention", &["q", "k", "v", "m"], &["y"], vec![]))
            .output("y");
        let y = folded_output(&b).values::<f32>().expect("f32").into_owned();
        assert_eq!(y, [2.0, 3.0, 0.0, 0.0]);
    }

    #[test]
    fn tensor_scatter_wraps_in_circular_mode() {
        // Cache [1, 3, 1], update of 2 steps written from position 2: positions 2 and 0.
        let b = Builder::new(24)
            .init(f32_typed("cache", &[1, 3, 1], &[0.0, 0.0, 0.0]))
            .init(f32_typed("u", &[1, 2, 1], &[7.0, 8.0]))
            .init(i64_typed("w", &[1], &[2]))
            .node(node("TensorScatter", &["cache", "u", "w"], &["y"], vec![("mode", A::S("circular"))]))
            .output("y");
        let y = folded_output(&b).values::<f32>().expect("f32").into_owned();
        assert_eq!(y, [8.0, 0.0, 7.0]);
    }
}
