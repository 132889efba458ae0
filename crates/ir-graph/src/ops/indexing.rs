//! Index-driven ops: TopK, GatherElements, GatherND, ScatterElementsUpdate, ScatterNDUpdate,
//! NonZero, OneHot.

use serde::{Deserialize, Serialize};

use super::nn::normalize_axis;
use super::slicing::const_ints;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::eval::indexing as k;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Which end TopK keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TopKMode {
    /// Largest values.
    #[default]
    Max,
    /// Smallest values.
    Min,
}

/// How TopK orders its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TopKSort {
    /// By value (descending for max, ascending for min).
    Value,
    /// By index, ascending.
    Index,
    /// Unspecified (we keep value order).
    #[default]
    None,
}

fn i32_type() -> ElementType {
    ElementType::I32
}

fn infer_topk(inputs: &[InferInput<'_>], axis: i64, index_type: ElementType) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 2)?;
    let et = inputs[0].element_type;
    let shape = match inputs[0].shape.dims() {
        None => PartialShape::DynamicRank,
        Some([]) => return Err(invalid!("the input must have rank >= 1, got a scalar")),
        Some(d) => {
            let ax = normalize_axis(axis, d.len())?;
            let mut out = d.to_vec();
            out[ax] = match const_ints(&inputs[1], "k")?.as_deref() {
                Some([kv]) => {
                    let kv = u64::try_from(*kv).map_err(|_| invalid!("k must be non-negative, got {kv}"))?;
                    match d[ax].get() {
                        Some(n) => Dim::fixed(kv.min(n)),
                        None => Dim::interval(0, Some(kv)),
                    }
                }
                Some(v) => return Err(invalid!("k must be a scalar, got {v:?}")),
                None => Dim::interval(0, d[ax].max),
            };
            PartialShape::Ranked(out)
        }
    };
    Ok(vec![OutputType::new(et, shape.clone()), OutputType::new(index_type, shape)])
}

/// The k largest or smallest elements along an axis, with their indices (`TopK`, opset11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK11 {
    /// Axis to search.
    pub axis: i64,
    /// Largest or smallest.
    pub mode: TopKMode,
    /// Output order.
    pub sort: TopKSort,
    /// Type of the indices output.
    #[serde(default = "i32_type")]
    pub index_element_type: ElementType,
    /// Equal values keep their input order.
    #[serde(default)]
    pub stable: bool,
}

impl OpSpec for TopK11 {
    const TYPE: &'static str = "TopK";
    const OPSET: u32 = 11;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_topk(inputs, self.axis, self.index_element_type)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::topk(inputs, self.axis, self.mode, self.sort, self.index_element_type)
    }
}

/// TopK without the `stable` attribute (`TopK`, opset3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK3 {
    /// Axis to search.
    pub axis: i64,
    /// Largest or smallest.
    pub mode: TopKMode,
    /// Output order.
    pub sort: TopKSort,
    /// Type of the indices output.
    #[serde(default = "i32_type")]
    pub index_element_type: ElementType,
}

impl OpSpec for TopK3 {
    const TYPE: &'static str = "TopK";
    const OPSET: u32 = 3;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_topk(inputs, self.axis, self.index_element_type)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::topk(inputs, self.axis, self.mode, self.sort, self.index_element_type)
    }
}

/// `out[i][j] = data[i][indices[i][j]]` along `axis` (`GatherElements`, opset6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GatherElements {
    /// Gather axis.
    #[serde(default)]
    pub axis: i64,
}

impl OpSpec for GatherElements {
    const TYPE: &'static str = "GatherElements";
    const OPSET: u32 = 6;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        if let (Some(d), Some(i)) = (inputs[0].shape.rank(), inputs[1].shape.rank()) {
            if d != i {
                return Err(invalid!("data rank {d} and indices rank {i} differ"));
            }
            normalize_axis(self.axis, d)?;
        }
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[1].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::gather_elements(inputs, self.axis)
    }
}

/// Gathers slices addressed by the last dim of `indices` (`GatherND`, opset8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GatherND {
    /// Leading dims shared by data and indices.
    #[serde(default)]
    pub batch_dims: u64,
}

impl OpSpec for GatherND {
    const TYPE: &'static str = "GatherND";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let b = self.batch_dims as usize;
        let shape = match (inputs[0].shape.dims(), inputs[1].shape.dims()) {
            (Some(d), Some(i)) => match i.last().and_then(|l| l.get()) {
                Some(kk) => {
                    let kk = kk as usize;
                    if i.len() < b + 1 || d.len() < b + kk {
                        return Err(invalid!("indices rank {} / depth {kk} do not fit data rank {}", i.len(), d.len()));
                    }
                    let mut out = i[..i.len() - 1].to_vec();
                    out.extend_from_slice(&d[b + kk..]);
                    PartialShape::Ranked(out)
                }
                None => PartialShape::DynamicRank,
            },
            _ => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::gather_nd(inputs, self.batch_dims as usize)
    }
}

/// How ScatterElementsUpdate combines updates with existing values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScatterReduction {
    /// Overwrite.
    #[default]
    None,
    /// Add.
    Sum,
    /// Multiply.
    Prod,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Average.
    Mean,
}

/// Writes `updates` at positions given per element along `axis` (`ScatterElementsUpdate`, opset12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScatterElementsUpdate {
    /// Combination rule.
    #[serde(default)]
    pub reduction: ScatterReduction,
    /// Include the existing value in the reduction.
    #[serde(default = "yes")]
    pub use_init_val: bool,
}

fn yes() -> bool {
    true
}

impl Default for ScatterElementsUpdate {
    fn default() -> ScatterElementsUpdate {
        ScatterElementsUpdate { reduction: ScatterReduction::None, use_init_val: true }
    }
}

impl OpSpec for ScatterElementsUpdate {
    const TYPE: &'static str = "ScatterElementsUpdate";
    const OPSET: u32 = 12;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 4, 4)?;
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::scatter_elements(inputs, self.reduction, self.use_init_val)
    }
}

/// Writes `updates` slices at the positions of `indices` (`ScatterNDUpdate`; IR opset4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScatterNDUpdate {}

impl OpSpec for ScatterNDUpdate {
    const TYPE: &'static str = "ScatterNDUpdate";
    const OPSET: u32 = 4;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::scatter_nd(inputs)
    }
}

/// How ScatterNDUpdate-15 combines updates with existing values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScatterNDReduction {
    /// Overwrite.
    #[default]
    None,
    /// Add.
    Sum,
    /// Subtract the update.
    Sub,
    /// Multiply.
    Prod,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

/// ScatterNDUpdate with a `reduction` (`ScatterNDUpdate`, opset15): updates at the same
/// position are combined in order with the existing value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScatterNDUpdate15 {
    /// Combination rule.
    #[serde(default)]
    pub reduction: ScatterNDReduction,
}

impl OpSpec for ScatterNDUpdate15 {
    const TYPE: &'static str = "ScatterNDUpdate";
    const OPSET: u32 = 15;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::scatter_nd_reduce(inputs, self.reduction)
    }
}

/// Indices of non-zero elements, shape `[rank, count]` (`NonZero`, opset3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonZero {
    /// i64 or i32.
    #[serde(default = "i64_type")]
    pub output_type: ElementType,
}

fn i64_type() -> ElementType {
    ElementType::I64
}

impl OpSpec for NonZero {
    const TYPE: &'static str = "NonZero";
    const OPSET: u32 = 3;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        let rank = inputs[0].shape.rank().map_or(Dim::DYNAMIC, |r| Dim::fixed(r as u64));
        let count = match inputs[0].value {
            Some(v) => Dim::fixed(k::nonzero_positions(v)?.len() as u64),
            None => match inputs[0].shape.to_static() {
                Some(s) => Dim::interval(0, Some(s.iter().product::<usize>() as u64)),
                None => Dim::DYNAMIC,
            },
        };
        Ok(vec![OutputType::new(self.output_type, PartialShape::Ranked(vec![rank, count]))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::nonzero(inputs, self.output_type)
    }
}

/// One-hot encoding: inputs indices, depth, on_value, off_value (`OneHot`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneHot {
    /// Where the new axis goes.
    pub axis: i64,
}

impl OpSpec for OneHot {
    const TYPE: &'static str = "OneHot";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 4, 4)?;
        let et = inputs[2].element_type;
        let shape = match inputs[0].shape.dims() {
            None => PartialShape::DynamicRank,
            Some(d) => {
                let ax = normalize_axis(self.axis, d.len() + 1)?;
                let depth = match const_ints(&inputs[1], "depth")?.as_deref() {
                    Some([v]) => Dim::fixed(u64::try_from(*v).map_err(|_| invalid!("negative depth {v}"))?),
                    Some(v) => return Err(invalid!("depth must be a scalar, got {v:?}")),
                    None => Dim::DYNAMIC,
                };
                let mut out = d.to_vec();
                out.insert(ax, depth);
                PartialShape::Ranked(out)
            }
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::one_hot(inputs, self.axis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, OutputRef};

    #[test]
    fn shapes() {
        let mut m = Model::new("t");
        let x: OutputRef = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[3, 5])).expect("x").into();
        let kk = m.add_const("k", Tensor::scalar(7i64)).expect("k");
        let op = TopK11 {
            axis: -1,
            mode: TopKMode::Max,
            sort: TopKSort::Value,
            index_element_type: ElementType::I64,
            stable: false,
        };
        let t = m.add_node(op, "topk", &[x, kk.into()]).expect("topk");
        assert_eq!(m.port(OutputRef::new(t, 1)).expect("p").shape, PartialShape::fixed(&[3, 5]));
        assert_eq!(m.port(OutputRef::new(t, 1)).expect("p").element_type, ElementType::I64);
        let i = m.add_parameter("i", ElementType::I64, PartialShape::fixed(&[3, 2, 1])).expect("i");
        let g = m.add_node(GatherND { batch_dims: 1 }, "gnd", &[x, i.into()]).expect("gnd");
        assert_eq!(m.port(g.into()).expect("p").shape, PartialShape::fixed(&[3, 2]));
        let depth = m.add_const("d", Tensor::scalar(4i32)).expect("d");
        let on = m.add_const("on", Tensor::scalar(1.0f32)).expect("on");
        let idx = m.add_parameter("ix", ElementType::I64, PartialShape::fixed(&[2, 3])).expect("ix");
        let o = m.add_node(OneHot { axis: 1 }, "oh", &[idx.into(), depth.into(), on.into(), on.into()]).expect("oh");
        assert_eq!(m.port(o.into()).expect("p").shape, PartialShape::fixed(&[2, 4, 3]));
        let c = m.add_const("c", Tensor::from_vec(vec![2, 2], vec![0i32, 3, 0, 1]).expect("c")).expect("c");
        let nz = m.add_node(NonZero { output_type: ElementType::I64 }, "nz", &[c.into()]).expect("nz");
        assert_eq!(m.port(nz.into()).expect("p").shape, PartialShape::fixed(&[2, 2]));
        let nz = m.add_node(NonZero { output_type: ElementType::I32 }, "nz2", &[x]).expect("nz");
        assert_eq!(m.port(nz.into()).expect("p").shape.to_string(), "[2,..15]");
    }

    #[test]
    fn attribute_spellings() {
        use crate::attrs::to_attrs;
        let op = TopK11 {
            axis: 1,
            mode: TopKMode::Max,
            sort: TopKSort::Value,
            index_element_type: ElementType::I32,
            stable: true,
        };
        let names: Vec<String> = to_attrs(&op).expect("a").into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(names, ["axis=1", "mode=max", "sort=value", "index_element_type=i32", "stable=true"]);
        let a = to_attrs(&ScatterElementsUpdate { reduction: ScatterReduction::Sum, use_init_val: false }).expect("a");
        assert_eq!(a, vec![("reduction".into(), "sum".into()), ("use_init_val".into(), "false".into())]);
        let a = to_attrs(&ScatterNDUpdate15 { reduction: ScatterNDReduction::Prod }).expect("a");
        assert_eq!(a, vec![("reduction".into(), "prod".into())]);
        let attrs = [("reduction".to_string(), "max".to_string())].into_iter().collect();
        let op = crate::Op::from_ir("ScatterNDUpdate", "opset15", &attrs).expect("known").expect("parses");
        assert_eq!(op, crate::Op::from(ScatterNDUpdate15 { reduction: ScatterNDReduction::Max }));
        let op = crate::Op::from_ir("ScatterNDUpdate", "opset14", &Default::default()).expect("known").expect("parses");
        assert_eq!(op, crate::Op::from(ScatterNDUpdate {}));
    }
}
