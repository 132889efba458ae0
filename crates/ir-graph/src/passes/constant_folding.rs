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
    // Loops may run without bound: they are never evaluated at conversion time.
    matches!(op, Op::Parameter(_) | Op::Constant(_) | Op::ResultOp(_) | Op::Loop(_) | Op::TensorIterator(_))
        // RandomUniform must draw new values on every run, as OpenVINO keeps it.
        || matches!(op, Op::RandomUniform(_))
}

/// A Convert that widens a constant of a sub-byte or 8-bit float type: the compressed-weight
/// idiom OpenVINO keeps unfolded (its KeepConstsPrecision), so the weights stay small in the IR.
fn is_low_precision_decompression(op: &Op, inputs: &[Tensor]) -> bool {
    use crate::element::ElementType as E;
    matches!(op, Op::Convert(_))
        && inputs.first().is_some_and(|t| {
            matches!(
                t.element_type(),
                E::I4 | E::U4 | E::U2 | E::U1 | E::U3 | E::U6 | E::Nf4 | E::F4E2M1 | E::F8E4M3 | E::F8E5M2 | E::F8E8M0
            )
        })
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
            if is_low_precision_decompression(&node.op, &inputs) {
                continue;
            }
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
        if changed {
            // Consumers of folded values may now infer exact shapes (e.g. Reshape targets).
            model.validate()?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Concat, Gather, Multiply, Reshape, ShapeOf, Unsqueeze};
    use crate::{ElementType, PartialShape};

    #[test]
    fn folds_a_shape_subgraph_into_a_constant() {
        // x[2,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(ShapeOf(c), 0)), [-1])): the target shape
        // only depends on a constant, so the whole chain folds to [2, 12].
        let mut m = Model::new("t");
        let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[2, 3, 4])).expect("x");
        let c = m.add_const("c", Tensor::zeros(ElementType::F32, vec![2, 3, 4]).expect("z")).expect("c");
        let s = m.add_node(ShapeOf { output_type: ElementType::I64 }, "s", &[c.into()]).expect("s");
        let i = m.add_const("i", Tensor::scalar(0i64)).expect("i");
        let a = m.add_const("a", Tensor::scalar(0i64)).expect("a");
        let g = m.add_node(Gather { batch_dims: 0 }, "g", &[s.into(), i.into(), a.into()]).expect("g");
        let u = m.add_node(Unsqueeze {}, "u", &[g.into(), a.into()]).expect("u");
        let m1 = m.add_const("m1", Tensor::from_vec(vec![1], vec![-1i64]).expect("m1")).expect("m1");
        let cat = m.add_node(Concat { axis: 0 }, "cat", &[u.into(), m1.into()]).expect("cat");
        let two = m.add_const("two", Tensor::scalar(2i64)).expect("two");
        let mul = m.add_node(Multiply::default(), "mul", &[cat.into(), two.into()]).expect("mul");
        let r = m.add_node(Reshape { special_zero: false }, "r", &[x.into(), cat.into()]).expect("r");
        m.add_result("out", r.into()).expect("res");
        m.add_result("mul", mul.into()).expect("res");
        crate::passes::standard_pipeline(&mut m).expect("fold");
        let target = m.node(r).expect("reshape").inputs[1];
        let value = m.const_value(target).expect("folded");
        assert_eq!(value.to_i64_vec().expect("ints"), vec![2, -1]);
        let mul_in = m.node(m.results()[1]).expect("result").inputs[0];
        assert_eq!(m.const_value(mul_in).expect("folded").to_i64_vec().expect("ints"), vec![4, -2]);
        assert_eq!(m.port(r.into()).expect("p").shape, PartialShape::fixed(&[2, 12]));
    }

    #[test]
    fn keeps_low_precision_weights_compressed() {
        // Const(i4) -> Convert(f32) is the compressed-weight idiom: it stays; the other way folds.
        let mut m = Model::new("t");
        let w = Tensor::from_bytes(ElementType::I4, vec![4], crate::tensor::Bytes::from_pod_vec(vec![0x21u8, 0xf3]))
            .expect("w");
        let w = m.add_const("w", w).expect("w");
        let cv = m.add_node(crate::ops::Convert { destination_type: ElementType::F32 }, "cv", &[w.into()]).expect("cv");
        m.add_result("out", cv.into()).expect("res");
        let f = m.add_const("f", Tensor::from_vec(vec![2], vec![1.0f32, -9.0]).expect("f")).expect("f");
        let to4 = m.add_node(crate::ops::Convert { destination_type: ElementType::I4 }, "to4", &[f.into()]).expect("c");
        m.add_result("out4", to4.into()).expect("res");
        ConstantFolding::default().run(&mut m).expect("fold");
        assert!(matches!(m.node(m.node(m.results()[0]).expect("r").inputs[0].node).expect("n").op, Op::Convert(_)));
        let folded = m.const_value(m.node(m.results()[1]).expect("r").inputs[0]).expect("folded");
        assert_eq!(folded.raw(), &[0x71]);
    }
}
