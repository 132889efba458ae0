//! Control flow: If -> `If`-8, Loop -> `Loop`-5, Scan -> `TensorIterator`-1.
//!
//! Bodies become sub-models; values of enclosing graphs a body reads become extra body
//! Parameters fed from the outer value (invariant inputs). Loop-carried values and Scan states
//! are merged inputs with back edges; per-iteration outputs are unsqueezed inside the body and
//! concatenated by the op; Scan's sliced inputs are squeezed inside the body, as OpenVINO does.

use std::collections::HashMap;

use ir_graph::ops::{self, Body, InputDesc, OutputDesc, SliceAttrs};
use ir_graph::{Dim, ElementType, Model, NodeId, Op, OutputRef, PartialShape, Tensor};

use super::sequence::Sequence;
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Formal = Option<(ElementType, PartialShape)>;

const VERSIONS: &[i64] = &[1, 11, 13, 16, 19, 21, 23, 24, 25];

pub(super) fn register(r: &mut Registry) {
    r.register("", "If", VERSIONS, if_op);
    r.register("", "Loop", VERSIONS, loop_op);
    r.register("", "Scan", &[8], |c| scan(c, true));
    r.register("", "Scan", &[9, 11, 16, 19, 21, 23, 24, 25], |c| scan(c, false));
}

fn graph_err(c: &NodeContext<'_>, e: ir_graph::GraphError) -> FrontendError {
    c.error(e.to_string())
}

fn outputs_of(id: NodeId, n: usize) -> Vec<OutputRef> {
    (0..n).map(|k| OutputRef::new(id, k as u32)).collect()
}

fn if_op(c: &mut NodeContext<'_>) -> R {
    let cond = c.input(0)?;
    let (then_m, then_outer, then_layout) = c.body_with_sequences("then_branch", &[])?;
    let (else_m, else_outer, else_layout) = c.body_with_sequences("else_branch", &[])?;
    if then_layout.len() != else_layout.len() {
        return Err(c.error(format!(
            "the then branch has {} outputs and the else branch {}",
            then_layout.len(),
            else_layout.len()
        )));
    }
    // A sequence output is one If output per element, so both branches must agree on its length.
    for (k, (t, e)) in then_layout.iter().zip(&else_layout).enumerate() {
        match (t, e) {
            (None, None) => {}
            (Some((a, _)), Some((b, _))) if a == b => {}
            (Some((a, _)), Some((b, _))) => {
                return Err(c.error(format!(
                    "output {k} is a sequence of {a} elements in the then branch and {b} in the else branch: \
                     its length is known only at run time, and IR has no sequence type"
                )));
            }
            _ => return Err(c.error(format!("output {k} is a sequence in one branch and a tensor in the other"))),
        }
    }
    let (nt, ne) = (then_m.results().len(), else_m.results().len());
    if nt != ne {
        return Err(c.error(format!("the then branch has {nt} outputs and the else branch {ne}")));
    }
    let mut inputs = vec![cond];
    inputs.extend(&then_outer);
    inputs.extend(&else_outer);
    let op = ops::If {
        then_inputs: (0..then_outer.len()).map(|k| InputDesc::Invariant { input: 1 + k, param: k }).collect(),
        else_inputs: (0..else_outer.len())
            .map(|k| InputDesc::Invariant { input: 1 + then_outer.len() + k, param: k })
            .collect(),
        then_outputs: (0..nt).map(|k| OutputDesc::Last { result: k, output: k }).collect(),
        else_outputs: (0..ne).map(|k| OutputDesc::Last { result: k, output: k }).collect(),
        then_body: Body::new(then_m),
        else_body: Body::new(else_m),
    };
    let id = c.add_node(op, &inputs)?;
    let ports = outputs_of(id, nt);
    let mut outs = Vec::with_capacity(then_layout.len());
    let mut next = 0;
    for (k, l) in then_layout.iter().enumerate() {
        match l {
            None => {
                outs.push(ports[next]);
                next += 1;
            }
            Some((len, et)) => {
                let elements = ports[next..next + len].to_vec();
                next += len;
                c.set_sequence_output(k, Sequence { elements, elem_type: *et });
                // Stands in for the sequence, which has no port of its own.
                outs.push(cond);
            }
        }
    }
    Ok(outs)
}

/// The shape both `a` and `b` fit: dims that differ become dynamic.
fn generalize(a: &PartialShape, b: &PartialShape) -> PartialShape {
    match (a, b) {
        (PartialShape::Ranked(x), PartialShape::Ranked(y)) if x.len() == y.len() => {
            PartialShape::Ranked(x.iter().zip(y).map(|(p, q)| if p == q { *p } else { Dim::DYNAMIC }).collect())
        }
        _ => PartialShape::DynamicRank,
    }
}

/// Whether every value of shape `inner` is also a value of shape `outer` (so a body result of
/// shape `inner` can feed back into a parameter of shape `outer`).
fn fits(inner: &PartialShape, outer: &PartialShape) -> bool {
    match (inner, outer) {
        (_, PartialShape::DynamicRank) => true,
        (PartialShape::Ranked(x), PartialShape::Ranked(y)) if x.len() == y.len() => {
            x.iter().zip(y).all(|(i, o)| i.min >= o.min && o.max.is_none_or(|om| i.max.is_some_and(|im| im <= om)))
        }
        _ => false,
    }
}

/// Builds a body whose carried values (`carried[k]` = (param index, result index)) keep one
/// type across iterations: parameters are widened until the body's results fit them.
fn carried_body(
    c: &NodeContext<'_>,
    formal: &mut [Formal],
    carried: &[(usize, usize)],
    n_formal: usize,
) -> Result<(Model, Vec<OutputRef>), FrontendError> {
    for _ in 0..4 {
        let (m, outer) = c.body("body", formal)?;
        if m.parameters().len() < n_formal {
            return Err(c.error(format!(
                "the body has {} inputs, expected {n_formal}",
                m.parameters().len() - outer.len().min(m.parameters().len())
            )));
        }
        let mut changed = false;
        for &(p, r) in carried {
            let Some(&rid) = m.results().get(r) else {
                return Err(c.error(format!("the body has {} outputs, expected more than {r}", m.results().len())));
            };
            let rp = m.port(rid.into()).map_err(|e| graph_err(c, e))?;
            let pp = m.port(m.parameters()[p].into()).map_err(|e| graph_err(c, e))?;
            if !fits(&rp.shape, &pp.shape)
                || (rp.element_type != pp.element_type && pp.element_type == ElementType::Dynamic)
            {
                let et = if pp.element_type == ElementType::Dynamic { rp.element_type } else { pp.element_type };
                formal[p] = Some((et, generalize(&pp.shape, &rp.shape)));
                changed = true;
            }
        }
        if !changed {
            return Ok((m, outer));
        }
    }
    Err(c.error("the shapes of loop-carried values do not settle"))
}

/// Makes body result `r` one part of a concatenation along `axis`: Unsqueeze(value, axis).
fn unsqueeze_result(c: &NodeContext<'_>, m: &mut Model, r: usize, axis: i64) -> Result<(), FrontendError> {
    let rid = m.results()[r];
    let src = m.node(rid).map_err(|e| graph_err(c, e))?.inputs[0];
    let rank = m.port(src).map_err(|e| graph_err(c, e))?.shape.rank();
    let axis = match (axis < 0, rank) {
        (false, _) => axis,
        (true, Some(rank)) => axis + rank as i64 + 1,
        (true, None) => return Err(c.error("a negative scan output axis needs a body output of known rank")),
    };
    let name = m.fresh_name("Const");
    let axes = m.add_const(&name, Tensor::from_vec(vec![1], vec![axis]).map_err(|e| graph_err(c, e))?);
    let axes = axes.map_err(|e| graph_err(c, e))?;
    let name = m.fresh_name("Unsqueeze");
    let u = m.add_node(ops::Unsqueeze {}, &name, &[src, axes.into()]).map_err(|e| graph_err(c, e))?;
    m.node_mut(rid).map_err(|e| graph_err(c, e))?.inputs[0] = u.into();
    m.validate().map_err(|e| graph_err(c, e))
}

/// Gives body parameter `p` a unit dim at `axis` and squeezes it back inside the body.
fn squeeze_param(c: &NodeContext<'_>, m: &mut Model, p: usize, axis: usize) -> Result<(), FrontendError> {
    let pid = m.parameters()[p];
    let node = m.node_mut(pid).map_err(|e| graph_err(c, e))?;
    let Op::Parameter(param) = &mut node.op else { return Err(c.error("body input is not a Parameter")) };
    if let PartialShape::Ranked(d) = &mut param.shape {
        if axis > d.len() {
            return Err(c.error(format!("scan axis {axis} is out of range")));
        }
        d.insert(axis, Dim::fixed(1));
    }
    let name = m.fresh_name("Const");
    let axes = m
        .add_const(&name, Tensor::from_vec(vec![1], vec![axis as i64]).map_err(|e| graph_err(c, e))?)
        .map_err(|e| graph_err(c, e))?;
    m.validate().map_err(|e| graph_err(c, e))?;
    let name = m.fresh_name("Squeeze");
    let s = m.add_node(ops::Squeeze {}, &name, &[pid.into(), axes.into()]).map_err(|e| graph_err(c, e))?;
    m.replace_uses(pid.into(), s.into());
    m.node_mut(s).map_err(|e| graph_err(c, e))?.inputs[0] = pid.into();
    m.validate().map_err(|e| graph_err(c, e))
}

fn loop_op(c: &mut NodeContext<'_>) -> R {
    let n = c.input_count().saturating_sub(2);
    if let Some(k) = (0..n).find(|&k| c.opt_sequence_input(2 + k).is_some()) {
        return Err(c.error(format!(
            "loop-carried value {k} is a sequence: its length may change with every iteration, so it is known \
             only at run time, and IR has no sequence type to carry it"
        )));
    }
    let carried: Vec<OutputRef> = (0..n).map(|k| c.input(2 + k)).collect::<Result<_, _>>()?;
    let trip = match c.opt_input(0) {
        Some(m) => m,
        None => c.const_i64(&[], vec![-1])?,
    };
    let cond = match c.opt_input(1) {
        Some(x) => x,
        None => c.constant(Tensor::from_bools(vec![], &[true]).map_err(|e| graph_err(c, e))?)?,
    };
    let mut formal: Vec<Formal> = vec![
        Some((c.element_type(trip), PartialShape::scalar())),
        Some((ElementType::Boolean, PartialShape::scalar())),
    ];
    for &v in &carried {
        formal.push(Some((c.element_type(v), c.shape(v))));
    }
    let pairs: Vec<(usize, usize)> = (0..n).map(|k| (2 + k, 1 + k)).collect();
    let (mut body, outer) = carried_body(c, &mut formal, &pairs, 2 + n)?;
    let n_res = body.results().len();
    if n_res < 1 + n {
        return Err(c.error(format!("the body has {n_res} outputs, expected at least {}", 1 + n)));
    }
    if body.parameters().len() != 2 + n + outer.len() {
        return Err(c.error(format!(
            "the body has {} inputs, expected {}",
            body.parameters().len() - outer.len(),
            2 + n
        )));
    }
    let k_scan = n_res - 1 - n;
    for j in 0..k_scan {
        unsqueeze_result(c, &mut body, 1 + n + j, 0)?;
    }
    let mut inputs = vec![trip, cond];
    inputs.extend(&carried);
    inputs.push(cond);
    inputs.extend(&outer);
    let mut descs: Vec<InputDesc> =
        (0..n).map(|k| InputDesc::Merged { input: 2 + k, param: 2 + k, result: 1 + k }).collect();
    descs.push(InputDesc::Merged { input: 2 + n, param: 1, result: 0 });
    descs.extend((0..outer.len()).map(|e| InputDesc::Invariant { input: 3 + n + e, param: 2 + n + e }));
    let mut outputs: Vec<OutputDesc> = (0..n).map(|k| OutputDesc::Last { result: 1 + k, output: k }).collect();
    outputs.extend((0..k_scan).map(|j| OutputDesc::Concat {
        result: 1 + n + j,
        output: n + j,
        slice: SliceAttrs::forward(0),
    }));
    let op = ops::Loop { body: Body::new(body), inputs: descs, outputs, current_iteration: Some(0), condition: 0 };
    let id = c.add_node(op, &inputs)?;
    Ok(outputs_of(id, n + k_scan))
}

/// Scan. Version 8 has a batch axis 0 on every input and output and scans axis 1; like
/// OpenVINO, the body then runs on whole batches (its ops must broadcast over the batch), and
/// `sequence_lens` is not supported.
fn scan(c: &mut NodeContext<'_>, v8: bool) -> R {
    let m_scan = usize::try_from(c.attr_int_req("num_scan_inputs")?)
        .map_err(|_| c.error("num_scan_inputs must not be negative"))?;
    let first = usize::from(v8);
    if v8 && c.opt_input(0).is_some() {
        return Err(c.error("Scan-8 with sequence_lens is not supported"));
    }
    let all: Vec<OutputRef> = (first..c.input_count()).map(|k| c.input(k)).collect::<Result<_, _>>()?;
    if m_scan == 0 || m_scan > all.len() {
        return Err(c.error(format!("num_scan_inputs = {m_scan} does not fit {} inputs", all.len())));
    }
    let n = all.len() - m_scan;
    let default_axis = i64::from(v8);
    let list = |name: &str, len: usize| -> Result<Vec<i64>, FrontendError> {
        if v8 && name.ends_with("axes") {
            return Ok(vec![default_axis; len]);
        }
        let name = if v8 && name == "scan_input_directions" { "directions" } else { name };
        match c.attr_ints(name)? {
            None => Ok(vec![0; len]),
            Some(v) if v.len() == len => Ok(v),
            Some(v) => Err(c.error(format!("{name} has {} entries, expected {len}", v.len()))),
        }
    };
    let in_axes = list("scan_input_axes", m_scan)?;
    let in_dirs = list("scan_input_directions", m_scan)?;
    let mut formal: Vec<Formal> = Vec::new();
    for &v in &all[..n] {
        formal.push(Some((c.element_type(v), c.shape(v))));
    }
    let mut axes = Vec::with_capacity(m_scan);
    for (j, &v) in all[n..].iter().enumerate() {
        let rank = c.static_rank(v, "Scan")?;
        let ax = ops::normalize_axis(in_axes[j], rank).map_err(|e| graph_err(c, e))?;
        axes.push(ax);
        let shape = match c.shape(v) {
            PartialShape::Ranked(mut d) => {
                d.remove(ax);
                PartialShape::Ranked(d)
            }
            s => s,
        };
        formal.push(Some((c.element_type(v), shape)));
    }
    let pairs: Vec<(usize, usize)> = (0..n).map(|k| (k, k)).collect();
    let (mut body, outer) = carried_body(c, &mut formal, &pairs, n + m_scan)?;
    let n_res = body.results().len();
    if n_res < n {
        return Err(c.error(format!("the body has {n_res} outputs, expected at least {n}")));
    }
    if body.parameters().len() != n + m_scan + outer.len() {
        return Err(c.error(format!(
            "the body has {} inputs, expected {}",
            body.parameters().len() - outer.len(),
            n + m_scan
        )));
    }
    let k_scan = n_res - n;
    let out_axes = list("scan_output_axes", k_scan)?;
    let out_dirs = list("scan_output_directions", k_scan)?;
    for (j, &ax) in axes.iter().enumerate() {
        squeeze_param(c, &mut body, n + j, ax)?;
    }
    let mut out_slices = Vec::with_capacity(k_scan);
    for j in 0..k_scan {
        let rid = body.results()[n + j];
        let rank = body.port(rid.into()).map_err(|e| graph_err(c, e))?.shape.rank();
        let ax = match (out_axes[j] < 0, rank) {
            (false, _) => out_axes[j],
            (true, Some(r)) => out_axes[j] + r as i64 + 1,
            (true, None) => return Err(c.error("a negative scan output axis needs a body output of known rank")),
        };
        unsqueeze_result(c, &mut body, n + j, ax)?;
        out_slices.push(if out_dirs[j] != 0 { SliceAttrs::backward(ax) } else { SliceAttrs::forward(ax) });
    }
    let mut inputs = all.clone();
    inputs.extend(&outer);
    let mut descs: Vec<InputDesc> = (0..n).map(|k| InputDesc::Merged { input: k, param: k, result: k }).collect();
    for (j, &ax) in axes.iter().enumerate() {
        let slice = if in_dirs[j] != 0 { SliceAttrs::backward(ax as i64) } else { SliceAttrs::forward(ax as i64) };
        descs.push(InputDesc::Sliced { input: n + j, param: n + j, slice });
    }
    descs.extend((0..outer.len()).map(|e| InputDesc::Invariant { input: n + m_scan + e, param: n + m_scan + e }));
    let mut outputs: Vec<OutputDesc> = (0..n).map(|k| OutputDesc::Last { result: k, output: k }).collect();
    outputs.extend(out_slices.into_iter().enumerate().map(|(j, slice)| OutputDesc::Concat {
        result: n + j,
        output: n + j,
        slice,
    }));
    let op = ops::TensorIterator { body: Body::new(body), inputs: descs, outputs };
    let id = c.add_node(op, &inputs)?;
    Ok(outputs_of(id, n + k_scan))
}

fn body_error(c: &NodeContext<'_>, e: ir_graph::GraphError) -> FrontendError {
    c.error(format!("body: {e}"))
}

/// Copies the nodes of `body` into the graph with its Parameters fed by `args`; returns the
/// values its Results read.
pub(super) fn inline_body(
    c: &mut NodeContext<'_>,
    body: &Model,
    args: &[OutputRef],
) -> Result<Vec<OutputRef>, FrontendError> {
    if body.parameters().len() != args.len() {
        return Err(c.error(format!("the body has {} inputs, expected {}", body.parameters().len(), args.len())));
    }
    let mut map: HashMap<OutputRef, OutputRef> =
        body.parameters().iter().zip(args).map(|(&p, &a)| (OutputRef::new(p, 0), a)).collect();
    for id in body.topological_order().map_err(|e| body_error(c, e))? {
        let n = body.node(id).map_err(|e| body_error(c, e))?;
        if matches!(n.op, Op::Parameter(_) | Op::ResultOp(_)) {
            continue;
        }
        let inputs = n
            .inputs
            .iter()
            .map(|i| {
                map.get(i).copied().ok_or_else(|| c.error(format!("body node '{}' reads an unknown value", n.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let new = c.add_node(n.op.clone(), &inputs)?;
        for k in 0..n.outputs.len() {
            map.insert(OutputRef::new(id, k as u32), OutputRef::new(new, k as u32));
        }
    }
    body.results()
        .iter()
        .map(|&r| {
            let src = body.node(r).map_err(|e| body_error(c, e))?.inputs.first().copied();
            src.and_then(|s| map.get(&s).copied()).ok_or_else(|| c.error("a body result reads an unknown value"))
        })
        .collect()
}
