//! FlexAttention-1 (`ai.onnx.preview`) decomposed into IR ops, following the ONNX reference
//! (`onnx/reference/ops/aionnx_preview/op_flex_attention.py`): `Q` and `K` each scaled by
//! `sqrt(scale)` in the input type, KV heads repeated for GQA, `Q @ K^T`, the scores converted to
//! the softmax type (f32 for f16/bf16 inputs unless `softmax_precision` says otherwise), the
//! `score_mod` graph applied to the whole score tensor, softmax, the `prob_mod` graph, and
//! `probs @ V` in the softmax type, converted back to the type of `V`.
//!
//! The modifier graphs are inlined: each is translated as a sub-graph with its one input typed
//! as the scores, and its nodes are copied into the enclosing model.

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef};

use super::attention::{convert, float_type, static_dim};
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Out = Result<OutputRef, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("ai.onnx.preview", "FlexAttention", &[1], flex_attention);
}

/// Copies the nodes of graph attribute `attr` into the model with its single input bound to
/// `arg`, and returns the value standing for its single output.
fn inline_modifier(c: &mut NodeContext<'_>, attr: &str, arg: OutputRef) -> Out {
    let formal = [Some((c.element_type(arg), c.shape(arg)))];
    let (body, outer) = c.body(attr, &formal)?;
    let params = body.parameters();
    if params.len() != 1 + outer.len() {
        return Err(
            c.error(format!("graph '{attr}' must have exactly one input, it has {}", params.len() - outer.len()))
        );
    }
    if body.results().len() != 1 {
        return Err(c.error(format!("graph '{attr}' must have exactly one output, it has {}", body.results().len())));
    }
    let mut args = vec![arg];
    args.extend(&outer);
    let outs = super::control::inline_body(c, &body, &args)?;
    outs.first().copied().ok_or_else(|| c.error(format!("graph '{attr}' has no output")))
}

/// FlexAttention-1.
fn flex_attention(c: &mut NodeContext<'_>) -> R {
    let (q, k, v) = (c.input(0)?, c.input(1)?, c.input(2)?);
    for x in [q, k, v] {
        if c.static_rank(x, "FlexAttention")? != 4 {
            return Err(c.error("Q, K and V must be rank 4 (batch, heads, sequence, head size)"));
        }
    }
    let et = c.element_type(q);
    let head = static_dim(c, q, 3).ok_or_else(|| c.error("needs a static head size (dim 3 of Q)"))?;
    let scale = if c.has_attr("scale") { c.attr_float("scale", 1.0)? } else { (1.0 / (head as f64).sqrt()) as f32 };
    // The square root is taken in f32 and rounded to the input type, as the reference does.
    let sqrt_scale = c.const_scalar(et, scale.sqrt() as f64)?;
    let sm_type = match c.attr_int_opt("softmax_precision")? {
        Some(code) => {
            float_type(code).ok_or_else(|| c.error(format!("softmax_precision {code} is not a float type")))?
        }
        None if et == ElementType::F64 => ElementType::F64,
        None => ElementType::F32,
    };

    // Group-query attention: query head h reads KV head h / (hq / hkv).
    let (hq, hkv) = match (static_dim(c, q, 1), static_dim(c, k, 1)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(c.error("needs static head counts (dim 1 of Q and K)")),
    };
    let (k, v) = if hq == hkv {
        (k, v)
    } else if hkv > 0 && hq % hkv == 0 {
        let rep = hq / hkv;
        let idx: Vec<i64> = (0..hq).map(|h| h / rep).collect();
        let idx = c.const_vec(&idx)?;
        let axis = c.const_i64(&[], vec![1])?;
        let k = c.add(ops::Gather { batch_dims: 0 }, &[k, idx, axis])?;
        let v = c.add(ops::Gather { batch_dims: 0 }, &[v, idx, axis])?;
        (k, v)
    } else {
        return Err(c.error(format!("q heads {hq} are not a multiple of kv heads {hkv}")));
    };

    let qs = c.add(ops::Multiply::default(), &[q, sqrt_scale])?;
    let ks = c.add(ops::Multiply::default(), &[k, sqrt_scale])?;
    let scores = c.add(ops::MatMul { transpose_a: false, transpose_b: true }, &[qs, ks])?;
    let mut scores = convert(c, scores, sm_type)?;
    if c.has_attr("score_mod") {
        let s = inline_modifier(c, "score_mod", scores)?;
        scores = convert(c, s, sm_type)?;
    }
    let mut probs = c.add(ops::SoftMax8 { axis: -1 }, &[scores])?;
    if c.has_attr("prob_mod") {
        let p = inline_modifier(c, "prob_mod", probs)?;
        probs = convert(c, p, sm_type)?;
    }
    let out_type = c.element_type(v);
    let v = convert(c, v, sm_type)?;
    let y = c.add(ops::MatMul::default(), &[probs, v])?;
    Ok(vec![convert(c, y, out_type)?])
}
