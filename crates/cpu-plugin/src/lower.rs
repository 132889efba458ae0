//! Graph-level preparation before planning: weight decompression, shape and constant folding.

use ir_graph::ops::{Parameter, ShapeOf, ShapeOf1};
use ir_graph::passes::{ConstantFolding, DeadCode, Pass, run_passes};
use ir_graph::{ElementType, Model, NodeId, Op, OutputRef, PartialShape, Tensor};

use crate::error::{PluginError, Result};

/// Converts a floating constant to f32 without going through the reference evaluator.
pub(crate) fn to_f32_tensor(t: &Tensor) -> Option<Tensor> {
    let v: Vec<f32> = match t.element_type() {
        ElementType::F32 => return Some(t.clone()),
        ElementType::F16 => t.values::<half::f16>().ok()?.iter().map(|v| v.to_f32()).collect(),
        ElementType::Bf16 => t.values::<half::bf16>().ok()?.iter().map(|v| v.to_f32()).collect(),
        ElementType::F64 => t.values::<f64>().ok()?.iter().map(|&v| v as f32).collect(),
        _ => return None,
    };
    Tensor::from_vec(t.shape().to_vec(), v).ok()
}

/// Replaces `Const -> Convert(f32)` pairs (the IR's weight-decompression idiom) by f32 constants.
fn decompress(m: &mut Model) -> Result<bool> {
    let mut todo: Vec<(NodeId, Tensor)> = Vec::new();
    for (id, n) in m.nodes() {
        let Op::Convert(c) = &n.op else { continue };
        if c.destination_type != ElementType::F32 {
            continue;
        }
        let Some(src) = n.inputs.first().and_then(|&i| m.const_value(i)) else { continue };
        if let Some(t) = to_f32_tensor(src) {
            todo.push((id, t));
        }
    }
    let changed = !todo.is_empty();
    for (id, t) in todo {
        replace_with_const(m, id, t)?;
    }
    Ok(changed)
}

/// Replaces output 0 of node `id` by a new constant and removes the node.
fn replace_with_const(m: &mut Model, id: NodeId, t: Tensor) -> Result<()> {
    let name = m.node(id)?.name.clone();
    let names = m.port(id.into())?.names.clone();
    let c = m.add_const(&name, t)?;
    m.port_mut(c.into())?.names = names;
    m.replace_uses(OutputRef::new(id, 0), OutputRef::new(c, 0));
    m.remove_node(id);
    Ok(())
}

/// Folds `ShapeOf` of statically shaped inputs into constants.
struct FoldShapeOf;

impl Pass for FoldShapeOf {
    fn name(&self) -> &'static str {
        "fold-shape-of"
    }
    fn run(&self, m: &mut Model) -> ir_graph::Result<bool> {
        let mut todo = Vec::new();
        for (id, n) in m.nodes() {
            let et = match &n.op {
                Op::ShapeOf(ShapeOf { output_type }) => *output_type,
                Op::ShapeOf1(ShapeOf1 {}) => ElementType::I64,
                _ => continue,
            };
            let Some(&input) = n.inputs.first() else { continue };
            let Some(shape) = m.port(input)?.shape.to_static() else { continue };
            let t = if et == ElementType::I32 {
                Tensor::from_vec(vec![shape.len()], shape.iter().map(|&d| d as i32).collect())?
            } else {
                Tensor::from_vec(vec![shape.len()], shape.iter().map(|&d| d as i64).collect())?
            };
            todo.push((id, t));
        }
        let changed = !todo.is_empty();
        for (id, t) in todo {
            let name = m.node(id)?.name.clone();
            let names = m.port(id.into())?.names.clone();
            let c = m.add_const(&name, t)?;
            m.port_mut(c.into())?.names = names;
            m.replace_uses(OutputRef::new(id, 0), OutputRef::new(c, 0));
            m.remove_node(id);
        }
        Ok(changed)
    }
}

/// Wraps `decompress` as a pass so it runs to a fixed point with the folders.
struct Decompress;

impl Pass for Decompress {
    fn name(&self) -> &'static str {
        "decompress-weights"
    }
    fn run(&self, m: &mut Model) -> ir_graph::Result<bool> {
        decompress(m).map_err(|e| match e {
            PluginError::Graph(g) => g,
            other => ir_graph::GraphError::Invalid(other.to_string()),
        })
    }
}

/// Folds everything foldable: decompression, static `ShapeOf`, constant subgraphs, dead nodes.
fn fold(m: &mut Model) -> Result<()> {
    let cf = ConstantFolding::default();
    run_passes(m, &[&Decompress, &FoldShapeOf, &cf, &DeadCode], 16)?;
    Ok(())
}

/// The copy of the model the plugin plans from: dense, decompressed and constant-folded.
pub(crate) fn prepare(model: &Model) -> Result<Model> {
    let mut m = model.compacted()?;
    fold(&mut m)?;
    Ok(m.compacted()?)
}

/// `base` with every Parameter fixed to the given concrete type and shape, re-inferred and
/// re-folded.
pub(crate) fn specialize(base: &Model, shapes: &[(ElementType, Vec<usize>)]) -> Result<Model> {
    let mut m = base.clone();
    let params = m.parameters().to_vec();
    if params.len() != shapes.len() {
        return Err(PluginError::Input(format!("the model has {} inputs, got {} shapes", params.len(), shapes.len())));
    }
    for (&p, (et, s)) in params.iter().zip(shapes) {
        let node = m.node_mut(p)?;
        if let Op::Parameter(Parameter { element_type, .. }) = &node.op {
            let et = if *element_type == ElementType::Dynamic { *et } else { *element_type };
            node.op = Op::Parameter(Parameter { shape: PartialShape::fixed(s), element_type: et });
        }
    }
    m.validate()?;
    fold(&mut m)?;
    Ok(m.compacted()?)
}
