//! The pure reference interpreter: `op.evaluate` node by node, the oracle for the fast path.

use std::collections::HashMap;

use ir_graph::{Model, Op, OutputRef, Tensor};

use crate::error::{PluginError, Result};

/// Checks that `inputs` fit the model's Parameters (count, element type, shape).
pub(crate) fn check_inputs(model: &Model, inputs: &[Tensor]) -> Result<()> {
    let params = model.parameters();
    if params.len() != inputs.len() {
        return Err(PluginError::Input(format!("the model has {} inputs, got {} tensors", params.len(), inputs.len())));
    }
    for (&p, t) in params.iter().zip(inputs) {
        let node = model.node(p)?;
        let port = model.port(p.into())?;
        if !port.element_type.compatible(t.element_type()) {
            return Err(PluginError::Input(format!(
                "input '{}' expects {}, got {}",
                node.name,
                port.element_type,
                t.element_type()
            )));
        }
        if !port.shape.accepts(t.shape()) {
            return Err(PluginError::Input(format!(
                "input '{}' expects shape {}, got {:?}",
                node.name,
                port.shape,
                t.shape()
            )));
        }
    }
    Ok(())
}

/// Runs `model` on `inputs` (in Parameter order) with the ir-graph reference evaluator only.
///
/// Slow but simple: every node is evaluated with [`Op::evaluate`] in topological order and
/// each intermediate tensor is dropped after its last use. Used as the oracle in tests and by
/// the conformance harness.
pub fn reference_infer(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    check_inputs(model, inputs)?;
    let order = model.topological_order()?;
    let mut remaining: HashMap<OutputRef, usize> = HashMap::new();
    for (_, n) in model.nodes() {
        for &i in &n.inputs {
            *remaining.entry(i).or_default() += 1;
        }
    }
    let param_index: HashMap<_, _> = model.parameters().iter().enumerate().map(|(k, &p)| (p, k)).collect();
    let mut values: HashMap<OutputRef, Tensor> = HashMap::new();
    let mut results: HashMap<ir_graph::NodeId, Tensor> = HashMap::new();
    for id in order {
        let node = model.node(id)?;
        let outs = match &node.op {
            Op::Parameter(_) => {
                let k = param_index
                    .get(&id)
                    .ok_or_else(|| PluginError::node("Parameter", &node.name, "is not a model input"))?;
                vec![inputs[*k].clone()]
            }
            op => {
                let ins = node
                    .inputs
                    .iter()
                    .map(|i| {
                        values.get(i).cloned().ok_or_else(|| {
                            PluginError::node(op.type_name(), &node.name, format!("input {i:?} was not computed"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                for i in &node.inputs {
                    if let Some(r) = remaining.get_mut(i) {
                        *r -= 1;
                        if *r == 0 {
                            values.remove(i);
                        }
                    }
                }
                op.evaluate(&ins).map_err(|e| PluginError::node(op.type_name(), &node.name, e))?
            }
        };
        if matches!(node.op, Op::ResultOp(_)) {
            if let Some(t) = outs.into_iter().next() {
                results.insert(id, t);
            }
            continue;
        }
        for (k, t) in outs.into_iter().enumerate() {
            let r = OutputRef::new(id, k as u32);
            if remaining.get(&r).copied().unwrap_or(0) > 0 {
                values.insert(r, t);
            }
        }
    }
    model
        .results()
        .iter()
        .map(|r| results.remove(r).ok_or_else(|| PluginError::node("Result", &format!("{r}"), "was not computed")))
        .collect()
}
