//! Shape and data-movement ops.

use serde::{Deserialize, Serialize};

use super::binary::{AutoBroadcast, broadcast_shapes};
use super::nn::normalize_axis;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

fn int_input(inp: &InferInput<'_>, what: &str) -> Result<Option<Vec<i64>>> {
    if !inp.element_type.is_integer() && inp.element_type != ElementType::Dynamic {
        return Err(invalid!("{what} must be integers, got {}", inp.element_type));
    }
    inp.value.map(|v| v.to_i64_vec()).transpose()
}

/// Length of a 1-D shape-like input when static.
fn vector_len(inp: &InferInput<'_>) -> Option<usize> {
    match inp.shape.to_static().as_deref() {
        Some([n]) => Some(*n),
        Some([]) => Some(1),
        _ => None,
    }
}

/// Reshape to the shape given by input 1; `0` copies the input dim when `special_zero`, `-1` is inferred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// `0` in the target means "same as input".
    pub special_zero: bool,
}

/// Resolves a Reshape target against the input shape.
pub fn reshape_target(input: &PartialShape, target: &[i64], special_zero: bool) -> Result<PartialShape> {
    let in_dims = input.dims();
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err(invalid!("more than one -1 in target shape {target:?}"));
                }
                out.push(Dim::DYNAMIC);
            }
            0 if special_zero => match in_dims {
                Some(d) => {
                    out.push(*d.get(i).ok_or_else(|| invalid!("target {target:?} copies dim {i} the input lacks"))?)
                }
                None => out.push(Dim::DYNAMIC),
            },
            t if t < 0 => return Err(invalid!("negative dimension {t} in target shape")),
            t => out.push(Dim::fixed(t as u64)),
        }
    }
    let in_static = input.to_static();
    if let Some(i) = infer_at {
        let known: Option<u64> = out.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, d)| d.get()).product();
        if let (Some(total), Some(known)) =
            (in_static.as_ref().map(|s| s.iter().map(|&d| d as u64).product::<u64>()), known)
        {
            if known == 0 {
                if total != 0 {
                    return Err(invalid!("cannot infer -1 in {target:?}: other dims multiply to zero"));
                }
                out[i] = Dim::fixed(0);
            } else if total % known != 0 {
                return Err(invalid!("cannot reshape {input} to {target:?}"));
            } else {
                out[i] = Dim::fixed(total / known);
            }
        }
    } else if let (Some(s), Some(o)) = (in_static, PartialShape::Ranked(out.clone()).to_static())
        && s.iter().product::<usize>() != o.iter().product::<usize>()
    {
        return Err(invalid!("cannot reshape {input} to {target:?}: element counts differ"));
    }
    Ok(PartialShape::Ranked(out))
}

impl OpSpec for Reshape {
    const TYPE: &'static str = "Reshape";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let shape = match int_input(&inputs[1], "target shape")? {
            Some(t) => reshape_target(inputs[0].shape, &t, self.special_zero)?,
            None => vector_len(&inputs[1]).map_or(PartialShape::DynamicRank, PartialShape::dynamic_of_rank),
        };
        Ok(vec![OutputType::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        crate::eval::movement::reshape(&inputs[0], shape)
    }
}

/// Joins inputs along `axis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    /// Join axis; negative counts from the end.
    pub axis: i64,
}

impl OpSpec for Concat {
    const TYPE: &'static str = "Concat";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        if inputs.is_empty() {
            return Err(invalid!("expects at least one input"));
        }
        let mut et = ElementType::Dynamic;
        let mut acc: Option<Vec<Dim>> = None;
        let mut axis_sum = Dim::fixed(0);
        for inp in inputs {
            et = et.merge(inp.element_type).ok_or_else(|| invalid!("input element types differ"))?;
            let Some(d) = inp.shape.dims() else {
                axis_sum = Dim::DYNAMIC;
                continue;
            };
            let ax = normalize_axis(self.axis, d.len())?;
            let along = d.get(ax).copied().ok_or_else(|| invalid!("cannot concatenate scalars"))?;
            axis_sum = axis_sum.add(along);
            match &mut acc {
                None => acc = Some(d.to_vec()),
                Some(a) => {
                    if a.len() != d.len() {
                        return Err(invalid!("inputs have ranks {} and {}", a.len(), d.len()));
                    }
                    for (i, (x, y)) in a.iter_mut().zip(d).enumerate() {
                        if i != ax {
                            *x = x.merge(*y).ok_or_else(|| invalid!("dimension {i} differs: {x} vs {y}"))?;
                        }
                    }
                }
            }
        }
        let shape = match acc {
            Some(mut a) => {
                let ax = normalize_axis(self.axis, a.len())?;
                *a.get_mut(ax).ok_or_else(|| invalid!("cannot concatenate scalars"))? = axis_sum;
                PartialShape::Ranked(a)
            }
            None => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        crate::eval::movement::concat(inputs, self.axis, shape)
    }
}

/// Permutes axes by input 1 (empty = reverse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Transpose {}

/// Normalized permutation for a Transpose order input.
pub fn transpose_order(order: &[i64], rank: usize) -> Result<Vec<usize>> {
    if order.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    if order.len() != rank {
        return Err(invalid!("order {order:?} does not match rank {rank}"));
    }
    let perm = order.iter().map(|&a| normalize_axis(a, rank)).collect::<Result<Vec<_>>>()?;
    let mut seen = vec![false; rank];
    for &p in &perm {
        if std::mem::replace(&mut seen[p], true) {
            return Err(invalid!("order {order:?} repeats an axis"));
        }
    }
    Ok(perm)
}

impl OpSpec for Transpose {
    const TYPE: &'static str = "Transpose";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let shape = match (inputs[0].shape.dims(), int_input(&inputs[1], "order")?) {
            (Some(d), Some(order)) => {
                let perm = transpose_order(&order, d.len())?;
                PartialShape::Ranked(perm.iter().map(|&p| d[p]).collect())
            }
            (Some(d), None) => PartialShape::dynamic_of_rank(d.len()),
            (None, _) => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let [x, order] = inputs else {
            return Err(invalid!("expects 2 inputs"));
        };
        crate::eval::movement::transpose(x, &order.to_i64_vec()?)
    }
}

/// Inserts size-1 axes at the positions of input 1 (positions in the output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Unsqueeze {}

impl OpSpec for Unsqueeze {
    const TYPE: &'static str = "Unsqueeze";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let shape = match (inputs[0].shape.dims(), int_input(&inputs[1], "axes")?) {
            (Some(d), Some(axes)) => {
                let rank = d.len() + axes.len();
                let mut norm = axes.iter().map(|&a| normalize_axis(a, rank)).collect::<Result<Vec<_>>>()?;
                norm.sort_unstable();
                if norm.windows(2).any(|w| w[0] == w[1]) {
                    return Err(invalid!("axes {axes:?} repeat"));
                }
                let mut src = d.iter();
                PartialShape::Ranked(
                    (0..rank)
                        .map(|i| {
                            if norm.binary_search(&i).is_ok() {
                                Dim::fixed(1)
                            } else {
                                src.next().copied().unwrap_or(Dim::DYNAMIC)
                            }
                        })
                        .collect(),
                )
            }
            (Some(d), None) => match vector_len(&inputs[1]) {
                Some(n) => PartialShape::dynamic_of_rank(d.len() + n),
                None => PartialShape::DynamicRank,
            },
            (None, _) => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        crate::eval::movement::reshape(&inputs[0], shape)
    }
}

/// Removes size-1 axes: those of input 1, or all of them without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Squeeze {}

impl OpSpec for Squeeze {
    const TYPE: &'static str = "Squeeze";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 2)?;
        let Some(d) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(inputs[0].element_type, PartialShape::DynamicRank)]);
        };
        let axes = match inputs.get(1) {
            Some(a) => match int_input(a, "axes")? {
                Some(v) => Some(v.iter().map(|&x| normalize_axis(x, d.len())).collect::<Result<Vec<_>>>()?),
                None => {
                    return Ok(vec![OutputType::new(inputs[0].element_type, PartialShape::DynamicRank)]);
                }
            },
            None => None,
        };
        let mut out = Vec::new();
        for (i, dim) in d.iter().enumerate() {
            let squeeze = match &axes {
                Some(a) if a.contains(&i) => {
                    if dim.get().is_some_and(|v| v != 1) {
                        return Err(invalid!("cannot squeeze axis {i} of size {dim}"));
                    }
                    true
                }
                Some(_) => false,
                None if dim.get() == Some(1) => true,
                None if !dim.is_static() => {
                    return Ok(vec![OutputType::new(inputs[0].element_type, PartialShape::DynamicRank)]);
                }
                None => false,
            };
            if !squeeze {
                out.push(*dim);
            }
        }
        Ok(vec![OutputType::new(inputs[0].element_type, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        crate::eval::movement::reshape(&inputs[0], shape)
    }
}

/// How Broadcast maps input axes to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastMode {
    /// Numpy rules; the target shape wins.
    #[default]
    Numpy,
    /// Numpy rules in both directions (ONNX Expand).
    Bidirectional,
    /// Axes given by input 2.
    Explicit,
    /// PaddlePaddle rules.
    Pdpd,
}

/// Broadcasts input 0 to the shape of input 1 (`Broadcast`, opset3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Broadcast {
    /// Mapping rule.
    #[serde(default)]
    pub mode: BroadcastMode,
}

impl OpSpec for Broadcast {
    const TYPE: &'static str = "Broadcast";
    const OPSET: u32 = 3;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 3)?;
        let et = inputs[0].element_type;
        let target = match int_input(&inputs[1], "target shape")? {
            Some(t) => PartialShape::Ranked(
                t.iter()
                    .map(|&v| u64::try_from(v).map(Dim::fixed).map_err(|_| invalid!("negative target dim {v}")))
                    .collect::<Result<_>>()?,
            ),
            None => match vector_len(&inputs[1]) {
                Some(n) => PartialShape::dynamic_of_rank(n),
                None => return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]),
            },
        };
        let shape = match self.mode {
            BroadcastMode::Bidirectional => broadcast_shapes(inputs[0].shape, &target, AutoBroadcast::Numpy)?,
            BroadcastMode::Numpy | BroadcastMode::Pdpd => {
                if let (Some(i), Some(t)) = (inputs[0].shape.rank(), target.rank())
                    && i > t
                {
                    return Err(invalid!("input rank {i} exceeds target rank {t}"));
                }
                broadcast_shapes(inputs[0].shape, &target, AutoBroadcast::Numpy)?;
                target
            }
            BroadcastMode::Explicit => target,
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::movement::broadcast(self.mode, inputs)
    }
}

/// The shape of input 0 as a 1-D tensor (`ShapeOf`, opset3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeOf {
    /// i64 or i32.
    pub output_type: ElementType,
}

fn infer_shape_of(inputs: &[InferInput<'_>], et: ElementType) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 1, 1)?;
    let shape = match inputs[0].shape.rank() {
        Some(r) => PartialShape::fixed(&[r]),
        None => PartialShape::Ranked(vec![Dim::DYNAMIC]),
    };
    Ok(vec![OutputType::new(et, shape)])
}

impl OpSpec for ShapeOf {
    const TYPE: &'static str = "ShapeOf";
    const OPSET: u32 = 3;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        if !matches!(self.output_type, ElementType::I64 | ElementType::I32) {
            return Err(invalid!("output_type must be i64 or i32, got {}", self.output_type));
        }
        infer_shape_of(inputs, self.output_type)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = inputs.first().ok_or_else(|| invalid!("expects 1 input"))?;
        crate::eval::movement::shape_of(x, self.output_type)
    }
}

/// The shape of input 0 as i64 (`ShapeOf`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ShapeOf1 {}

impl OpSpec for ShapeOf1 {
    const TYPE: &'static str = "ShapeOf";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_shape_of(inputs, ElementType::I64)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = inputs.first().ok_or_else(|| invalid!("expects 1 input"))?;
        crate::eval::movement::shape_of(x, ElementType::I64)
    }
}

/// Takes slices of input 0 at the indices of input 1 along the axis of input 2 (`Gather`, opset8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Gather {
    /// Leading dims shared by data and indices.
    #[serde(default)]
    pub batch_dims: i64,
}

impl OpSpec for Gather {
    const TYPE: &'static str = "Gather";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let et = inputs[0].element_type;
        let axis = int_input(&inputs[2], "axis")?;
        let shape = match (inputs[0].shape.dims(), inputs[1].shape.dims(), axis.as_deref()) {
            (Some([]), _, _) => return Err(invalid!("the data input must have rank >= 1, got a scalar")),
            (Some(d), Some(ix), Some([axis])) => {
                let axis = normalize_axis(*axis, d.len())?;
                let bd = if self.batch_dims < 0 { self.batch_dims + ix.len() as i64 } else { self.batch_dims };
                let bd = usize::try_from(bd).map_err(|_| invalid!("bad batch_dims {}", self.batch_dims))?;
                if bd > axis || bd > ix.len() {
                    return Err(invalid!("batch_dims {bd} exceeds axis {axis} or indices rank {}", ix.len()));
                }
                let mut out = d[..axis].to_vec();
                out.extend_from_slice(&ix[bd..]);
                out.extend_from_slice(&d[axis + 1..]);
                PartialShape::Ranked(out)
            }
            (Some(_), Some(_), Some(a)) if a.len() != 1 => {
                return Err(invalid!("axis must be a scalar"));
            }
            (Some(d), Some(ix), _) => {
                PartialShape::dynamic_of_rank((d.len() + ix.len()).saturating_sub(1 + self.batch_dims.max(0) as usize))
            }
            _ => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::movement::gather(inputs, self.batch_dims)
    }
}

/// Reshape [N, G, C/G, ...] -> transpose -> reshape back along `axis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShuffleChannels {
    /// Channel axis.
    #[serde(default = "one")]
    pub axis: i64,
    /// Number of groups.
    #[serde(default = "one_u")]
    pub group: u64,
}

fn one() -> i64 {
    1
}
fn one_u() -> u64 {
    1
}

impl OpSpec for ShuffleChannels {
    const TYPE: &'static str = "ShuffleChannels";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 1)?;
        if let Some(d) = inputs[0].shape.dims() {
            if d.is_empty() {
                return Err(invalid!("the input must have rank >= 1, got a scalar"));
            }
            let ax = normalize_axis(self.axis, d.len())?;
            if let Some(c) = d[ax].get()
                && (self.group == 0 || c % self.group != 0)
            {
                return Err(invalid!("{c} channels do not split into {} groups", self.group));
            }
        }
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = inputs.first().ok_or_else(|| invalid!("expects 1 input"))?;
        crate::eval::movement::shuffle_channels(x, self.axis, self.group)
    }
}

/// cond ? then : else with numpy broadcasting (`Select`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Select {
    /// Broadcast rule.
    #[serde(default)]
    pub auto_broadcast: AutoBroadcast,
}

impl OpSpec for Select {
    const TYPE: &'static str = "Select";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let et = inputs[1].element_type.merge(inputs[2].element_type).ok_or_else(|| {
            invalid!("then/else types {} and {} differ", inputs[1].element_type, inputs[2].element_type)
        })?;
        let s = broadcast_shapes(inputs[1].shape, inputs[2].shape, self.auto_broadcast)?;
        let s = broadcast_shapes(inputs[0].shape, &s, self.auto_broadcast)?;
        Ok(vec![OutputType::new(et, s)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::elementwise::select(self.auto_broadcast, inputs)
    }
}
