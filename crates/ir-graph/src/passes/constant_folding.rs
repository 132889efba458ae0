//! Replaces nodes whose inputs are all constants by the constants they compute.

use super::Pass;
use crate::error::{GraphError, Result};
use crate::model::{Model, OutputRef};
use crate::ops::Op;
use crate::tensor::Tensor;

/// Constant folding, bounded by the size of the tensors it may create.
pub struct ConstantFolding {
    /// Largest result (bytes) a fold may materialise; bigger results keep the op.
    pub max_bytes: usize,
}

impl Default for ConstantFolding {
    fn default() -> ConstantFolding {
        // Large enough for the biggest dense weights built from ConstantOfShape in real models,
        // small enough that a hostile shape cannot make us allocate without bound.
        ConstantFolding { max_bytes: 1 << 31 }
    }
}

/// Whether folding this op would only duplicate data that is already a constant.
fn keep_unfolded(op: &Op) -> bool {
    // Convert after a compressed f16 weight is the IR's decompression idiom; keep it.
    matches!(op, Op::Parameter(_) | Op::Constant(_) | Op::ResultOp(_))
}

fn estimated_bytes(model: &Model, id: crate::model::NodeId) -> Option<usize> {
    let node = model.node(id).ok()?;
    node.outputs.iter().try_fold(0usize, |acc, p| {
        let shape = p.shape.to_static()?;
        let n = crate::shape::checked_numel(&shape)?;
        acc.checked_add(p.element_type.storage_size(n).unwrap_or(n.checked_mul(8)?))
    })
}

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        "constant-folding"
    }

    fn run(&self, model: &mut Model) -> Result<bool> {
        let mut changed = false;
        for id in model.topological_order()? {
            let node = model.node(id)?;
            if keep_unfolded(&node.op) || node.rt_info.iter().any(|r| r.name == "decompression") {
                continue;
            }
            let Some(inputs) =
                node.inputs.iter().map(|&i| model.const_value(i).cloned()).collect::<Option<Vec<Tensor>>>()
            else {
                continue;
            };
            if estimated_bytes(model, id).is_none_or(|b| b > self.max_bytes) {
                continue;
            }
            let outputs = match node.op.evaluate(&inputs) {
                Ok(o) => o,
                Err(GraphError::NotEvaluable { .. }) => continue,
                Err(e) => {
                    return Err(GraphError::Validation {
                        op: node.op.type_name().to_string(),
                        node: node.name.clone(),
                        message: format!("constant folding failed: {e}"),
                    });
                }
            };
            let name = node.name.clone();
            let n_out = node.outputs.len();
            if outputs.len() != n_out {
                return Err(GraphError::Structure(format!(
                    "'{name}' evaluated to {} outputs, expected {n_out}",
                    outputs.len()
                )));
            }
            for (k, value) in outputs.into_iter().enumerate() {
                let old = OutputRef::new(id, k as u32);
                let port = model.port(old)?.clone();
                let cname = if n_out == 1 { name.clone() } else { format!("{name}.{k}") };
                let c = model.add_const(&cname, value)?;
                let new = OutputRef::new(c, 0);
                let new_port = model.port_mut(new)?;
                new_port.names = port.names;
                model.replace_uses(old, new);
            }
            model.remove_node(id);
            changed = true;
        }
        Ok(changed)
    }
}
