//! Loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, decomposed into
//! GatherElements / Gather / Select and reductions (OpenVINO has no op for either).

use ir_graph::OutputRef;
use ir_graph::ops;

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "NegativeLogLikelihoodLoss", &[12, 13, 22], nll_loss);
    r.register(d, "SoftmaxCrossEntropyLoss", &[12, 13], sce_loss);
}

/// The loss of log-probabilities `input` `[N, C, d...]` against class indices `target`
/// `[N, d...]`, with the node's `weight` input (index `weight_input`), `ignore_index` and
/// `reduction` attributes.
fn nll(
    c: &mut NodeContext<'_>,
    input: OutputRef,
    target: OutputRef,
    weight_input: usize,
) -> Result<OutputRef, FrontendError> {
    let reduction = c.attr_string("reduction", "mean")?;
    if !matches!(reduction.as_str(), "none" | "sum" | "mean") {
        return Err(c.error(format!("unknown reduction '{reduction}'")));
    }
    let ignore = c.attr_int_opt("ignore_index")?;
    let et = c.element_type(input);
    let tt = c.element_type(target);
    let rank = c.static_rank(target, "the loss reduction")?;
    // Ignored positions pick class 0 (any valid class) and get weight 0.
    let (target, keep) = match ignore {
        Some(ii) => {
            let iiv = c.const_scalar(tt, ii as f64)?;
            let ignored = c.add(ops::Equal::default(), &[target, iiv])?;
            let zero = c.const_scalar(tt, 0.0)?;
            let safe = c.add(ops::Select::default(), &[ignored, zero, target])?;
            let kept = c.add(ops::LogicalNot {}, &[ignored])?;
            (safe, Some(c.add(ops::Convert { destination_type: et }, &[kept])?))
        }
        None => (target, None),
    };
    let one = c.const_vec(&[1])?;
    let idx = c.add(ops::Unsqueeze {}, &[target, one])?;
    let picked = c.add(ops::GatherElements { axis: 1 }, &[input, idx])?;
    let picked = c.add(ops::Squeeze {}, &[picked, one])?;
    let mut loss = c.add(ops::Negative {}, &[picked])?;
    let weight = match c.opt_input(weight_input) {
        Some(w) => {
            let axis = c.const_i64(&[], vec![0])?;
            Some(c.add(ops::Gather { batch_dims: 0 }, &[w, target, axis])?)
        }
        None => None,
    };
    let weight = match (weight, keep) {
        (Some(w), Some(k)) => Some(c.add(ops::Multiply::default(), &[w, k])?),
        (w, k) => w.or(k),
    };
    if let Some(w) = weight {
        loss = c.add(ops::Multiply::default(), &[loss, w])?;
    }
    if reduction == "none" {
        return Ok(loss);
    }
    let axes: Vec<i64> = (0..rank as i64).collect();
    let axes = c.const_vec(&axes)?;
    let sum = c.add(ops::ReduceSum { keep_dims: false }, &[loss, axes])?;
    if reduction == "sum" {
        return Ok(sum);
    }
    match weight {
        Some(w) => {
            let total = c.add(ops::ReduceSum { keep_dims: false }, &[w, axes])?;
            c.add(ops::Divide::default(), &[sum, total])
        }
        None => c.add(ops::ReduceMean { keep_dims: false }, &[loss, axes]),
    }
}

fn nll_loss(c: &mut NodeContext<'_>) -> R {
    let (input, target) = (c.input(0)?, c.input(1)?);
    Ok(vec![nll(c, input, target, 2)?])
}

fn sce_loss(c: &mut NodeContext<'_>) -> R {
    let (scores, labels) = (c.input(0)?, c.input(1)?);
    let log_prob = c.add(ops::LogSoftmax { axis: 1 }, &[scores])?;
    let loss = nll(c, log_prob, labels, 2)?;
    Ok(vec![loss, log_prob])
}
