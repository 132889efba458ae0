//! The pure reference interpreter: `op.evaluate` node by node, the oracle for the fast path.

use ir_graph::{Model, Tensor};

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
/// Slow but simple: every node is evaluated with [`ir_graph::Op::evaluate`] in topological
/// order and each intermediate tensor is dropped after its last use. Used as the oracle in tests
/// and by the conformance harness.
pub fn reference_infer(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    check_inputs(model, inputs)?;
    Ok(ir_graph::eval::graph::run_model(model, inputs)?)
}
