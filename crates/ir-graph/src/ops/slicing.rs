//! Slicing, splitting, padding and rearranging ops: StridedSlice, Slice, Split, VariadicSplit,
//! Tile, Pad, DepthToSpace, SpaceToDepth, ReverseSequence.

use serde::{Deserialize, Serialize};

use super::nn::normalize_axis;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::eval::slicing as k;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// The constant value of an integer input, if known.
pub(crate) fn const_ints(inp: &InferInput<'_>, what: &str) -> Result<Option<Vec<i64>>> {
    if !inp.element_type.is_integer() && inp.element_type != ElementType::Dynamic {
        return Err(invalid!("{what} must be integers, got {}", inp.element_type));
    }
    inp.value.map(|v| v.to_i64_vec()).transpose()
}

/// The single constant axis of a scalar (or 1-element) axis input, if known.
pub(crate) fn const_axis(inp: &InferInput<'_>, rank: usize) -> Result<Option<usize>> {
    match const_ints(inp, "axis")?.as_deref() {
        Some([a]) => Ok(Some(normalize_axis(*a, rank)?)),
        Some(v) => Err(invalid!("axis must be a scalar, got {v:?}")),
        None => Ok(None),
    }
}

/// Concrete dims as optional numbers (`None` = not static).
pub(crate) fn opt_dims(d: &[Dim]) -> Vec<Option<u64>> {
    d.iter().map(|d| d.get()).collect()
}

/// Back to a partial shape.
pub(crate) fn from_opt(d: &[Option<u64>]) -> PartialShape {
    PartialShape::Ranked(d.iter().map(|d| d.map_or(Dim::DYNAMIC, Dim::fixed)).collect())
}

/// Strided slice with numpy-style masks (`StridedSlice`, opset1); inputs data, begin, end, strides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StridedSlice {
    /// 1 = ignore `begin` on this axis.
    #[serde(default)]
    pub begin_mask: Vec<i64>,
    /// 1 = ignore `end` on this axis.
    #[serde(default)]
    pub end_mask: Vec<i64>,
    /// 1 = insert a new axis of size 1 here.
    #[serde(default)]
    pub new_axis_mask: Vec<i64>,
    /// 1 = take the single element `begin` and drop the axis.
    #[serde(default)]
    pub shrink_axis_mask: Vec<i64>,
    /// 1 = this entry stands for all axes not mentioned.
    #[serde(default)]
    pub ellipsis_mask: Vec<i64>,
}

impl StridedSlice {
    fn masks(&self) -> k::SliceMasks<'_> {
        k::SliceMasks {
            begin: &self.begin_mask,
            end: &self.end_mask,
            new_axis: &self.new_axis_mask,
            shrink: &self.shrink_axis_mask,
            ellipsis: &self.ellipsis_mask,
        }
    }
}

impl OpSpec for StridedSlice {
    const TYPE: &'static str = "StridedSlice";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 4)?;
        let et = inputs[0].element_type;
        let (Some(d), Some(b), Some(e)) =
            (inputs[0].shape.dims(), const_ints(&inputs[1], "begin")?, const_ints(&inputs[2], "end")?)
        else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        let s = match inputs.get(3) {
            Some(i) => match const_ints(i, "strides")? {
                Some(s) => s,
                None => return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]),
            },
            None => vec![1; b.len()],
        };
        let plan = k::strided_slice_plan(&opt_dims(d), &b, &e, &s, &self.masks())?;
        Ok(vec![OutputType::new(et, from_opt(&plan.out_shape))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::strided_slice(inputs, &self.masks())
    }
}

/// ONNX-style slice with start/stop/step/axes inputs (`Slice`, opset8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Slice {}

impl OpSpec for Slice {
    const TYPE: &'static str = "Slice";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 4, 5)?;
        let et = inputs[0].element_type;
        let Some(d) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        let start = const_ints(&inputs[1], "start")?;
        let stop = const_ints(&inputs[2], "stop")?;
        let step = const_ints(&inputs[3], "step")?;
        let axes = match inputs.get(4) {
            Some(a) => const_ints(a, "axes")?,
            None => start.as_ref().map(|s| (0..s.len() as i64).collect()),
        };
        let (Some(start), Some(stop), Some(step), Some(axes)) = (start, stop, step, axes) else {
            return Ok(vec![OutputType::new(et, PartialShape::dynamic_of_rank(d.len()))]);
        };
        let plan = k::slice_plan(&opt_dims(d), &start, &stop, &step, &axes)?;
        Ok(vec![OutputType::new(et, from_opt(&plan.out_shape))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::slice(inputs)
    }
}

/// Repeats the input along each axis (`Tile`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Tile {}

impl OpSpec for Tile {
    const TYPE: &'static str = "Tile";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let shape = match (inputs[0].shape.dims(), const_ints(&inputs[1], "repeats")?) {
            (Some(d), Some(r)) => {
                let rank = d.len().max(r.len());
                let mut dd = vec![Dim::fixed(1); rank - d.len()];
                dd.extend_from_slice(d);
                let mut rr = vec![1i64; rank - r.len()];
                rr.extend_from_slice(&r);
                PartialShape::Ranked(
                    dd.iter()
                        .zip(&rr)
                        .map(|(d, &r)| {
                            u64::try_from(r).map(|r| d.mul(Dim::fixed(r))).map_err(|_| invalid!("negative repeat {r}"))
                        })
                        .collect::<Result<_>>()?,
                )
            }
            (Some(d), None) => match inputs[1].shape.to_static().as_deref() {
                Some([n]) => PartialShape::dynamic_of_rank(d.len().max(*n)),
                _ => PartialShape::DynamicRank,
            },
            _ => PartialShape::DynamicRank,
        };
        Ok(vec![OutputType::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::tile(inputs)
    }
}

/// Splits along an axis into `num_splits` equal parts (`Split`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Number of outputs.
    pub num_splits: u64,
}

impl OpSpec for Split {
    const TYPE: &'static str = "Split";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let n = usize::try_from(self.num_splits).map_err(|_| invalid!("num_splits too large"))?;
        if n == 0 {
            return Err(invalid!("num_splits must be positive"));
        }
        let shape = match inputs[0].shape.dims() {
            None => PartialShape::DynamicRank,
            Some(d) => match const_axis(&inputs[1], d.len())? {
                Some(ax) => {
                    let mut out = d.to_vec();
                    out[ax] = match d[ax].get() {
                        Some(v) if v % self.num_splits != 0 => {
                            return Err(invalid!("dimension {v} does not split into {n} parts"));
                        }
                        Some(v) => Dim::fixed(v / self.num_splits),
                        None => Dim::DYNAMIC,
                    };
                    PartialShape::Ranked(out)
                }
                None => PartialShape::dynamic_of_rank(d.len()),
            },
        };
        Ok(vec![OutputType::new(et, shape); n])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let [x, axis] = inputs else {
            return Err(invalid!("Split expects 2 inputs"));
        };
        let ax = k::scalar_axis(axis, x.shape().len())?;
        let d = x.shape()[ax] as u64;
        if self.num_splits == 0 || !d.is_multiple_of(self.num_splits) {
            return Err(invalid!("dimension {d} does not split into {} parts", self.num_splits));
        }
        let part = (d / self.num_splits) as usize;
        k::split(x, ax, &vec![part; self.num_splits as usize])
    }
}

/// Splits along an axis into parts of the given lengths; one length may be -1 (`VariadicSplit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VariadicSplit {}

impl OpSpec for VariadicSplit {
    const TYPE: &'static str = "VariadicSplit";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let et = inputs[0].element_type;
        let lens = const_ints(&inputs[2], "split_lengths")?;
        let n_out = match (&lens, inputs[2].shape.to_static().as_deref()) {
            (Some(l), _) => l.len(),
            (None, Some([n])) => *n,
            _ => return Err(invalid!("split_lengths must have a static length")),
        };
        let Some(d) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank); n_out]);
        };
        let (Some(ax), Some(lens)) = (const_axis(&inputs[1], d.len())?, lens) else {
            return Ok(vec![OutputType::new(et, PartialShape::dynamic_of_rank(d.len())); n_out]);
        };
        let resolved = k::split_lengths(&lens, d[ax].get())?;
        Ok(resolved
            .iter()
            .map(|l| {
                let mut out = d.to_vec();
                out[ax] = l.map_or(Dim::DYNAMIC, Dim::fixed);
                OutputType::new(et, PartialShape::Ranked(out))
            })
            .collect())
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let [x, axis, lens] = inputs else {
            return Err(invalid!("VariadicSplit expects 3 inputs"));
        };
        let ax = k::scalar_axis(axis, x.shape().len())?;
        let lens = k::split_lengths(&lens.to_i64_vec()?, Some(x.shape()[ax] as u64))?;
        let lens: Vec<usize> = lens.iter().map(|l| l.unwrap_or(0) as usize).collect();
        k::split(x, ax, &lens)
    }
}

/// How Pad fills the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// The pad value (input 3, default 0).
    #[default]
    Constant,
    /// Repeat the edge element.
    Edge,
    /// Mirror without repeating the edge.
    Reflect,
    /// Mirror including the edge.
    Symmetric,
}

/// Pads (or crops, with negative pads) each axis (`Pad`, opset12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Pad {
    /// Border fill rule.
    #[serde(default)]
    pub pad_mode: PadMode,
}

impl OpSpec for Pad {
    const TYPE: &'static str = "Pad";
    const OPSET: u32 = 12;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 4)?;
        let et = inputs[0].element_type;
        let Some(d) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        let (Some(pb), Some(pe)) = (const_ints(&inputs[1], "pads_begin")?, const_ints(&inputs[2], "pads_end")?) else {
            return Ok(vec![OutputType::new(et, PartialShape::dynamic_of_rank(d.len()))]);
        };
        if pb.len() != d.len() || pe.len() != d.len() {
            return Err(invalid!("pads {pb:?}/{pe:?} do not match rank {}", d.len()));
        }
        let out = d
            .iter()
            .zip(pb.iter().zip(&pe))
            .map(|(dim, (&b, &e))| match dim.get() {
                Some(v) => {
                    let n = v as i64 + b + e;
                    u64::try_from(n).map(Dim::fixed).map_err(|_| invalid!("padding makes dimension {v} negative"))
                }
                None if b >= 0 && e >= 0 => Ok(dim.add(Dim::fixed((b + e) as u64))),
                None => Ok(Dim::DYNAMIC),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::pad(inputs, self.pad_mode)
    }
}

/// Order of the block and depth parts of the channel axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BlockMode {
    /// Channels are `[block..., depth]`.
    #[default]
    BlocksFirst,
    /// Channels are `[depth, block...]`.
    DepthFirst,
}

fn infer_block(inputs: &[InferInput<'_>], block: u64, to_space: bool) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 1, 1)?;
    let et = inputs[0].element_type;
    let Some(d) = inputs[0].shape.dims() else {
        return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
    };
    if d.len() < 3 || block == 0 {
        return Err(invalid!("needs rank >= 3 and block_size > 0"));
    }
    let k = (d.len() - 2) as u32;
    let bk = block.checked_pow(k).ok_or_else(|| invalid!("block_size too large"))?;
    let mut out = d.to_vec();
    if to_space {
        out[1] = match d[1].get() {
            Some(c) if c % bk != 0 => return Err(invalid!("{c} channels are not divisible by {bk}")),
            Some(c) => Dim::fixed(c / bk),
            None => Dim::DYNAMIC,
        };
        for o in &mut out[2..] {
            *o = o.mul(Dim::fixed(block));
        }
    } else {
        out[1] = d[1].mul(Dim::fixed(bk));
        for o in &mut out[2..] {
            *o = match o.get() {
                Some(v) if v % block != 0 => return Err(invalid!("dimension {v} is not divisible by {block}")),
                Some(v) => Dim::fixed(v / block),
                None => Dim::DYNAMIC,
            };
        }
    }
    Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
}

/// Moves channel blocks into spatial blocks (`DepthToSpace`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthToSpace {
    /// Block edge length.
    pub block_size: u64,
    /// Channel layout.
    pub mode: BlockMode,
}

impl OpSpec for DepthToSpace {
    const TYPE: &'static str = "DepthToSpace";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_block(inputs, self.block_size, true)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        k::depth_space(&inputs[0], shape, self.block_size as usize, self.mode, true)
    }
}

/// Moves spatial blocks into channels (`SpaceToDepth`, opset1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceToDepth {
    /// Block edge length.
    pub block_size: u64,
    /// Channel layout.
    pub mode: BlockMode,
}

impl OpSpec for SpaceToDepth {
    const TYPE: &'static str = "SpaceToDepth";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_block(inputs, self.block_size, false)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = crate::eval::static_output_shape(self, inputs)?;
        k::depth_space(&inputs[0], shape, self.block_size as usize, self.mode, false)
    }
}

/// Reverses the first `seq_lengths[b]` elements along `seq_axis` of every batch entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReverseSequence {
    /// Batch axis.
    #[serde(default)]
    pub batch_axis: i64,
    /// Sequence axis.
    #[serde(default = "one")]
    pub seq_axis: i64,
}

fn one() -> i64 {
    1
}

impl OpSpec for ReverseSequence {
    const TYPE: &'static str = "ReverseSequence";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        if let Some(r) = inputs[0].shape.rank() {
            normalize_axis(self.batch_axis, r)?;
            normalize_axis(self.seq_axis, r)?;
        }
        Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::reverse_sequence(inputs, self.batch_axis, self.seq_axis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, OutputRef};

    fn i64c(m: &mut Model, v: &[i64]) -> OutputRef {
        m.add_const("c", Tensor::from_vec(vec![v.len()], v.to_vec()).expect("c")).expect("const").into()
    }
    fn shape_of(m: &Model, o: OutputRef) -> PartialShape {
        m.port(o).expect("port").shape.clone()
    }
    fn param(m: &mut Model, s: &[usize]) -> OutputRef {
        m.add_parameter("x", ElementType::F32, PartialShape::fixed(s)).expect("p").into()
    }

    #[test]
    fn strided_slice_shapes() {
        let mut m = Model::new("t");
        let x = param(&mut m, &[4, 5, 6]);
        let (b, e, s) = (i64c(&mut m, &[1, 0, -1]), i64c(&mut m, &[3, 0, 0]), i64c(&mut m, &[1, 1, -2]));
        let op = StridedSlice { begin_mask: vec![0, 1, 0], end_mask: vec![0, 1, 1], ..Default::default() };
        let n = m.add_node(op, "ss", &[x, b, e, s]).expect("ss");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[2, 5, 3]));
        // new axis, shrink and ellipsis together
        let (b, e) = (i64c(&mut m, &[0, 0, 2]), i64c(&mut m, &[0, 0, 3]));
        let op = StridedSlice {
            new_axis_mask: vec![1, 0, 0],
            ellipsis_mask: vec![0, 1, 0],
            shrink_axis_mask: vec![0, 0, 1],
            ..Default::default()
        };
        let n = m.add_node(op, "ss2", &[x, b, e]).expect("ss");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[1, 4, 5]));
    }

    #[test]
    fn slice_split_pad_tile_shapes() {
        let mut m = Model::new("t");
        let x = param(&mut m, &[4, 10]);
        let (st, sp, stp, ax) =
            (i64c(&mut m, &[-1]), i64c(&mut m, &[i64::MIN]), i64c(&mut m, &[-3]), i64c(&mut m, &[1]));
        let n = m.add_node(Slice {}, "s", &[x, st, sp, stp, ax]).expect("slice");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[4, 4]));
        let a = m.add_const("a", Tensor::scalar(1i64)).expect("a");
        let n = m.add_node(Split { num_splits: 5 }, "sp", &[x, a.into()]).expect("split");
        assert_eq!(m.node(n).expect("n").outputs.len(), 5);
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[4, 2]));
        assert!(m.add_node(Split { num_splits: 3 }, "bad", &[x, a.into()]).is_err());
        let l = i64c(&mut m, &[3, -1]);
        let n = m.add_node(VariadicSplit {}, "vs", &[x, a.into(), l]).expect("vs");
        assert_eq!(shape_of(&m, OutputRef::new(n, 1)), PartialShape::fixed(&[4, 7]));
        let (pb, pe) = (i64c(&mut m, &[1, -2]), i64c(&mut m, &[0, 3]));
        let n = m.add_node(Pad { pad_mode: PadMode::Reflect }, "pad", &[x, pb, pe]).expect("pad");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[5, 11]));
        let r = i64c(&mut m, &[2, 1, 3]);
        let n = m.add_node(Tile {}, "tile", &[x, r]).expect("tile");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[2, 4, 30]));
    }

    #[test]
    fn depth_space_shapes() {
        let mut m = Model::new("t");
        let x = param(&mut m, &[1, 8, 2, 3]);
        let n = m.add_node(DepthToSpace { block_size: 2, mode: BlockMode::BlocksFirst }, "d", &[x]).expect("d2s");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[1, 2, 4, 6]));
        let y = param(&mut m, &[1, 2, 4, 6]);
        let n = m.add_node(SpaceToDepth { block_size: 2, mode: BlockMode::DepthFirst }, "s", &[y]).expect("s2d");
        assert_eq!(shape_of(&m, n.into()), PartialShape::fixed(&[1, 8, 2, 3]));
    }

    #[test]
    fn attributes_use_ir_spellings() {
        let a = crate::attrs::to_attrs(&StridedSlice { begin_mask: vec![1, 0], ..Default::default() }).expect("attrs");
        assert_eq!(a[0], ("begin_mask".to_string(), "1, 0".to_string()));
        assert_eq!(
            a.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask", "ellipsis_mask"]
        );
        let a = crate::attrs::to_attrs(&DepthToSpace { block_size: 2, mode: BlockMode::DepthFirst }).expect("a");
        assert_eq!(a, vec![("block_size".into(), "2".into()), ("mode".into(), "depth_first".into())]);
        let a = crate::attrs::to_attrs(&Pad { pad_mode: PadMode::Symmetric }).expect("a");
        assert_eq!(a, vec![("pad_mode".into(), "symmetric".into())]);
    }
}
