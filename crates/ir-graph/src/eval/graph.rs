//! Whole-model reference evaluation: every node's [`crate::Op::evaluate`] in topological order.
//! Sub-graph ops run their bodies through it.

use std::collections::HashMap;

use crate::error::{GraphError, Result};
use crate::invalid;
use crate::model::{Model, NodeId, OutputRef};
use crate::ops::Op;
use crate::tensor::Tensor;

/// Runs `model` on `inputs` (in Parameter order) and returns its Results' values in order.
///
/// Input shapes are not checked against the Parameters' declared shapes: bodies of loops see
/// values whose shapes may change from one iteration to the next.
pub fn run_model(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let params = model.parameters();
    if params.len() != inputs.len() {
        return Err(invalid!("the graph has {} inputs, got {} tensors", params.len(), inputs.len()));
    }
    let order = model.topological_order()?;
    let mut remaining: HashMap<OutputRef, usize> = HashMap::new();
    for (_, n) in model.nodes() {
        for &i in &n.inputs {
            *remaining.entry(i).or_default() += 1;
        }
    }
    let param_index: HashMap<NodeId, usize> = params.iter().enumerate().map(|(k, &p)| (p, k)).collect();
    let mut values: HashMap<OutputRef, Tensor> = HashMap::new();
    let mut results: HashMap<NodeId, Tensor> = HashMap::new();
    for id in order {
        let node = model.node(id)?;
        let outs = match &node.op {
            Op::Parameter(_) => {
                let k = param_index.get(&id).ok_or_else(|| invalid!("Parameter '{}' is not an input", node.name))?;
                vec![inputs[*k].clone()]
            }
            op => {
                let ins = node
                    .inputs
                    .iter()
                    .map(|i| {
                        values
                            .get(i)
                            .cloned()
                            .ok_or_else(|| invalid!("input {i:?} of '{}' was not computed", node.name))
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
                op.evaluate(&ins).map_err(|e| match e {
                    GraphError::Invalid(message) => {
                        GraphError::Validation { op: op.type_name().to_string(), node: node.name.clone(), message }
                    }
                    other => other,
                })?
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
    model.results().iter().map(|r| results.remove(r).ok_or_else(|| invalid!("Result {r} was not computed"))).collect()
}
