//! Replaces an `If` whose condition is a constant by the nodes of the branch it takes.

use std::collections::HashMap;

use super::Pass;
use crate::error::{GraphError, Result};
use crate::model::{Model, NodeId, OutputRef};
use crate::ops::{InputDesc, Op, OutputDesc, scalar_bool};

/// Inlines the taken branch of every `If` with a constant condition (OpenVINO's `UnrollIf`).
pub struct UnrollIf;

impl Pass for UnrollIf {
    fn name(&self) -> &'static str {
        "unroll-if"
    }

    fn run(&self, model: &mut Model) -> Result<bool> {
        let mut todo: Vec<(NodeId, bool)> = Vec::new();
        for (id, n) in model.nodes() {
            if let Op::If(_) = &n.op
                && let Some(c) = n.inputs.first().and_then(|&i| model.const_value(i))
                && let Ok(cond) = scalar_bool(c, "the condition")
            {
                todo.push((id, cond));
            }
        }
        let changed = !todo.is_empty();
        for (id, cond) in todo {
            inline(model, id, cond)?;
        }
        if changed {
            model.validate()?;
        }
        Ok(changed)
    }
}

fn inline(model: &mut Model, id: NodeId, cond: bool) -> Result<()> {
    let node = model.node(id)?.clone();
    let Op::If(op) = &node.op else { return Ok(()) };
    let (body, ins, outs) = if cond {
        (&op.then_body.0, &op.then_inputs, &op.then_outputs)
    } else {
        (&op.else_body.0, &op.else_inputs, &op.else_outputs)
    };
    let mut map: HashMap<OutputRef, OutputRef> = HashMap::new();
    for d in ins {
        let (InputDesc::Invariant { input, param }
        | InputDesc::Sliced { input, param, .. }
        | InputDesc::Merged { input, param, .. }) = *d;
        let p =
            *body.parameters().get(param).ok_or_else(|| GraphError::Structure(format!("no body parameter {param}")))?;
        let outer = *node.inputs.get(input).ok_or_else(|| GraphError::Structure(format!("no If input {input}")))?;
        map.insert(OutputRef::new(p, 0), outer);
    }
    for bid in body.topological_order()? {
        let bn = body.node(bid)?;
        if matches!(bn.op, Op::Parameter(_) | Op::ResultOp(_)) {
            continue;
        }
        let inputs = bn
            .inputs
            .iter()
            .map(|i| {
                map.get(i)
                    .copied()
                    .ok_or_else(|| GraphError::Structure(format!("'{}' reads an unmapped value", bn.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        let name = format!("{}/{}", node.name, bn.name);
        let new = model.add_node(bn.op.clone(), &name, &inputs)?;
        model.node_mut(new)?.rt_info = bn.rt_info.clone();
        for k in 0..bn.outputs.len() {
            map.insert(OutputRef::new(bid, k as u32), OutputRef::new(new, k as u32));
        }
    }
    for d in outs {
        let (OutputDesc::Last { result, output } | OutputDesc::Concat { result, output, .. }) = *d;
        let r = *body.results().get(result).ok_or_else(|| GraphError::Structure(format!("no body result {result}")))?;
        let src =
            *body.node(r)?.inputs.first().ok_or_else(|| GraphError::Structure("a Result without input".into()))?;
        let new =
            *map.get(&src).ok_or_else(|| GraphError::Structure("a body result reads an unmapped value".into()))?;
        let old = OutputRef::new(id, output as u32);
        let names = model.port(old)?.names.clone();
        model.port_mut(new)?.names.extend(names);
        model.replace_uses(old, new);
    }
    model.remove_node(id);
    Ok(())
}
