//! Element-wise math and logic added in later opsets (Round, IsNaN/IsInf/IsFinite, Bitwise*),
//! plus CumSum, Einsum, Range, BitwiseLeftShift/BitwiseRightShift, Eye and Unique.

use serde::{Deserialize, Serialize};

use super::binary::{AutoBroadcast, broadcast_shapes};
use super::nn::normalize_axis;
use super::unary::infer_unary;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::eval::{elementwise, math as k};
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// How Round breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoundMode {
    /// Banker's rounding.
    #[default]
    HalfToEven,
    /// Away from zero.
    HalfAwayFromZero,
}

/// Rounds to the nearest integer (`Round`, opset5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Round {
    /// Tie rule.
    pub mode: RoundMode,
}

impl OpSpec for Round {
    const TYPE: &'static str = "Round";
    const OPSET: u32 = 5;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let mode = if self.mode == RoundMode::HalfToEven { 0.0 } else { 1.0 };
        elementwise::unary_with(Self::TYPE, inputs, &[mode])
    }
}

fn infer_bool(inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 1, 1)?;
    Ok(vec![OutputType::new(ElementType::Boolean, inputs[0].shape.clone())])
}

/// True where the input is NaN (`IsNaN`, opset10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IsNaN {}

impl OpSpec for IsNaN {
    const TYPE: &'static str = "IsNaN";
    const OPSET: u32 = 10;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_bool(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        elementwise::classify(Self::TYPE, inputs, &[])
    }
}

/// True where the input is finite (`IsFinite`, opset10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IsFinite {}

impl OpSpec for IsFinite {
    const TYPE: &'static str = "IsFinite";
    const OPSET: u32 = 10;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_bool(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        elementwise::classify(Self::TYPE, inputs, &[])
    }
}

fn yes() -> bool {
    true
}

/// True where the input is an infinity of a selected sign (`IsInf`, opset10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsInf {
    /// Report -inf.
    #[serde(default = "yes")]
    pub detect_negative: bool,
    /// Report +inf.
    #[serde(default = "yes")]
    pub detect_positive: bool,
}

impl Default for IsInf {
    fn default() -> IsInf {
        IsInf { detect_negative: true, detect_positive: true }
    }
}

impl OpSpec for IsInf {
    const TYPE: &'static str = "IsInf";
    const OPSET: u32 = 10;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_bool(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        elementwise::classify(Self::TYPE, inputs, &[self.detect_negative, self.detect_positive])
    }
}

macro_rules! bitwise_ops {
    ($($(#[$doc:meta])* $name:ident = $ty:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {
            /// Broadcast rule.
            #[serde(default)]
            pub auto_broadcast: AutoBroadcast,
        }

        impl OpSpec for $name {
            const TYPE: &'static str = $ty;
            const OPSET: u32 = 13;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                expect_inputs(inputs, 2, 2)?;
                let et = inputs[0].element_type.merge(inputs[1].element_type).ok_or_else(|| {
                    invalid!("input types {} and {} differ", inputs[0].element_type, inputs[1].element_type)
                })?;
                let shape = broadcast_shapes(inputs[0].shape, inputs[1].shape, self.auto_broadcast)?;
                Ok(vec![OutputType::new(et, shape)])
            }
            fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
                elementwise::binary(Self::TYPE, self.auto_broadcast, inputs)
            }
        }
    )*};
}

bitwise_ops! {
    /// a & b on integers and booleans.
    BitwiseAnd = "BitwiseAnd";
    /// a | b on integers and booleans.
    BitwiseOr = "BitwiseOr";
    /// a ^ b on integers and booleans.
    BitwiseXor = "BitwiseXor";
}

/// !a on integers and booleans (`BitwiseNot`, opset13).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BitwiseNot {}

impl OpSpec for BitwiseNot {
    const TYPE: &'static str = "BitwiseNot";
    const OPSET: u32 = 13;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        elementwise::unary(Self::TYPE, inputs)
    }
}

/// Cumulative sum along the axis of input 1 (`CumSum`, opset3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CumSum {
    /// Each output excludes its own element.
    #[serde(default)]
    pub exclusive: bool,
    /// Sum from the end.
    #[serde(default)]
    pub reverse: bool,
}

impl OpSpec for CumSum {
    const TYPE: &'static str = "CumSum";
    const OPSET: u32 = 3;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 2)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::cumsum(inputs, self.exclusive, self.reverse)
    }
}

/// Einstein summation (`Einsum`, opset7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Einsum {
    /// Subscripts, e.g. `ab,bc->ac`; `...` stands for broadcast dims.
    pub equation: String,
}

impl OpSpec for Einsum {
    const TYPE: &'static str = "Einsum";
    const OPSET: u32 = 7;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        if inputs.is_empty() {
            return Err(invalid!("expects at least one input"));
        }
        let mut et = ElementType::Dynamic;
        for i in inputs {
            et = et.merge(i.element_type).ok_or_else(|| invalid!("input element types differ"))?;
        }
        let dims: Option<Vec<&[Dim]>> = inputs.iter().map(|i| i.shape.dims()).collect();
        let Some(dims) = dims else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        let ranks: Vec<usize> = dims.iter().map(|d| d.len()).collect();
        let spec = k::parse_einsum(&self.equation, &ranks)?;
        let mut sizes: std::collections::HashMap<char, Dim> = std::collections::HashMap::new();
        for (labels, d) in spec.inputs.iter().zip(&dims) {
            for (&l, &dim) in labels.iter().zip(d.iter()) {
                let e = sizes.entry(l).or_insert(dim);
                *e = e.broadcast(dim).ok_or_else(|| invalid!("label '{l}' has sizes {e} and {dim}"))?;
            }
        }
        let out = spec.output.iter().map(|l| sizes.get(l).copied().unwrap_or(Dim::fixed(1))).collect();
        Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::einsum(&self.equation, inputs)
    }
}

/// Evenly spaced values in `[start, stop)` (`Range`, opset4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Output element type.
    pub output_type: ElementType,
}

impl OpSpec for Range {
    const TYPE: &'static str = "Range";
    const OPSET: u32 = 4;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let vals: Option<Vec<f64>> =
            inputs.iter().map(|i| i.value.and_then(|v| v.to_f64_vec().ok()?.first().copied())).collect();
        let dim = match vals.as_deref() {
            Some([start, stop, step]) => Dim::fixed(k::range_len(*start, *stop, *step, self.output_type)?),
            _ => Dim::DYNAMIC,
        };
        Ok(vec![OutputType::new(self.output_type, PartialShape::Ranked(vec![dim]))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::range(inputs, self.output_type)
    }
}

/// Uniformly distributed random values in `[min, max)` of the shape given by input 0
/// (`RandomUniform`, opset8). Never constant-folded: each run draws new values unless a seed
/// is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomUniform {
    /// Output element type.
    pub output_type: ElementType,
    /// Global seed (0 with op_seed 0: a fresh seed every run).
    #[serde(default)]
    pub global_seed: u64,
    /// Per-op seed.
    #[serde(default)]
    pub op_seed: u64,
}

impl OpSpec for RandomUniform {
    const TYPE: &'static str = "RandomUniform";
    const OPSET: u32 = 8;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let shape = match inputs[0].value.map(|v| v.to_i64_vec()).transpose()? {
            Some(dims) => PartialShape::Ranked(
                dims.iter()
                    .map(|&d| u64::try_from(d).map(Dim::fixed).map_err(|_| invalid!("negative output dim {d}")))
                    .collect::<Result<_>>()?,
            ),
            None => match inputs[0].shape.to_static().as_deref() {
                Some([n]) => PartialShape::dynamic_of_rank(*n),
                _ => PartialShape::DynamicRank,
            },
        };
        Ok(vec![OutputType::new(self.output_type, shape)])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::random_uniform(inputs, self.output_type, self.global_seed, self.op_seed)
    }
}

macro_rules! shift_ops {
    ($($(#[$doc:meta])* $name:ident = $ty:literal, $left:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {
            /// Broadcast rule.
            #[serde(default)]
            pub auto_broadcast: AutoBroadcast,
        }

        impl OpSpec for $name {
            const TYPE: &'static str = $ty;
            const OPSET: u32 = 15;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                expect_inputs(inputs, 2, 2)?;
                let et = inputs[0].element_type.merge(inputs[1].element_type).ok_or_else(|| {
                    invalid!("input types {} and {} differ", inputs[0].element_type, inputs[1].element_type)
                })?;
                if !et.is_integer() && et != ElementType::Dynamic {
                    return Err(invalid!("shifts need integer inputs, got {et}"));
                }
                let shape = broadcast_shapes(inputs[0].shape, inputs[1].shape, self.auto_broadcast)?;
                Ok(vec![OutputType::new(et, shape)])
            }
            fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
                k::bit_shift(Self::TYPE, self.auto_broadcast, inputs, $left)
            }
        }
    )*};
}

shift_ops! {
    /// a << b on integers; a shift outside `[0, width)` gives 0.
    BitwiseLeftShift = "BitwiseLeftShift", true;
    /// a >> b on integers (arithmetic for signed types); a shift outside `[0, width)` gives 0,
    /// or -1 for a negative value.
    BitwiseRightShift = "BitwiseRightShift", false;
}

/// The constant single value of a scalar or one-element integer input, if known.
fn const_scalar_int(inp: &InferInput<'_>, what: &str) -> Result<Option<i64>> {
    match super::slicing::const_ints(inp, what)?.as_deref() {
        Some([v]) => Ok(Some(*v)),
        Some(v) => Err(invalid!("{what} must hold one value, got {v:?}")),
        None => Ok(None),
    }
}

/// Identity-like matrices: inputs num_rows, num_columns, diagonal_index and optional batch_shape
/// (`Eye`, opset9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eye {
    /// Output element type.
    pub output_type: ElementType,
}

impl OpSpec for Eye {
    const TYPE: &'static str = "Eye";
    const OPSET: u32 = 9;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 4)?;
        let dim = |i: usize, what: &str| -> Result<Dim> {
            Ok(match const_scalar_int(&inputs[i], what)? {
                Some(v) => Dim::fixed(u64::try_from(v).map_err(|_| invalid!("{what} must be non-negative, got {v}"))?),
                None => Dim::DYNAMIC,
            })
        };
        let (rows, cols) = (dim(0, "num_rows")?, dim(1, "num_columns")?);
        const_scalar_int(&inputs[2], "diagonal_index")?;
        let mut out = match inputs.get(3) {
            None => Vec::new(),
            Some(b) => match super::slicing::const_ints(b, "batch_shape")? {
                Some(v) => v
                    .iter()
                    .map(|&d| u64::try_from(d).map(Dim::fixed).map_err(|_| invalid!("negative batch dim {d}")))
                    .collect::<Result<Vec<_>>>()?,
                None => match b.shape.to_static().as_deref() {
                    Some([n]) => vec![Dim::DYNAMIC; *n],
                    _ => return Ok(vec![OutputType::new(self.output_type, PartialShape::DynamicRank)]),
                },
            },
        };
        out.extend([rows, cols]);
        Ok(vec![OutputType::new(self.output_type, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        k::eye(inputs, self.output_type)
    }
}

fn i64_type() -> ElementType {
    ElementType::I64
}

/// Unique elements, or unique slices along the axis of optional input 1, with first indices,
/// reverse indices and counts (`Unique`, opset10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unique {
    /// Sort the unique values ascending; otherwise keep the order of first occurrence.
    #[serde(default = "yes")]
    pub sorted: bool,
    /// Type of outputs 1 and 2 (i32 or i64).
    #[serde(default = "i64_type")]
    pub index_element_type: ElementType,
    /// Type of output 3 (i32 or i64).
    #[serde(default = "i64_type")]
    pub count_element_type: ElementType,
}

impl OpSpec for Unique {
    const TYPE: &'static str = "Unique";
    const OPSET: u32 = 10;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 2)?;
        let (it, ct, et) = (self.index_element_type, self.count_element_type, inputs[0].element_type);
        let axis = match inputs.get(1) {
            Some(a) => match const_scalar_int(a, "axis")? {
                Some(v) => Some(v),
                None => {
                    let dynamic = PartialShape::Ranked(vec![Dim::DYNAMIC]);
                    return Ok(vec![
                        OutputType::new(et, PartialShape::DynamicRank),
                        OutputType::new(it, dynamic.clone()),
                        OutputType::new(it, dynamic.clone()),
                        OutputType::new(ct, dynamic),
                    ]);
                }
            },
            None => None,
        };
        if let Some(v) = inputs[0].value {
            let r = self.evaluate(&[v.clone()].into_iter().chain(axis.map(Tensor::scalar)).collect::<Vec<_>>())?;
            return Ok(r.iter().map(|t| OutputType::new(t.element_type(), PartialShape::fixed(t.shape()))).collect());
        }
        let at_most = |d: Dim| match d.get() {
            Some(n) => Dim::interval(n.min(1), Some(n)),
            None => Dim::interval(0, d.max),
        };
        let (ushape, n) = match (axis, inputs[0].shape.dims()) {
            (None, Some(d)) => {
                let n = d.iter().fold(Dim::fixed(1), |acc, &x| acc.mul(x));
                (PartialShape::Ranked(vec![at_most(n)]), n)
            }
            (None, None) => (PartialShape::Ranked(vec![Dim::DYNAMIC]), Dim::DYNAMIC),
            (Some(a), Some(d)) => {
                let a = normalize_axis(a, d.len())?;
                let mut out = d.to_vec();
                out[a] = at_most(d[a]);
                (PartialShape::Ranked(out), d[a])
            }
            (Some(_), None) => (PartialShape::DynamicRank, Dim::DYNAMIC),
        };
        let u = match (axis, &ushape) {
            (None, PartialShape::Ranked(d)) => d[0],
            _ => at_most(n),
        };
        Ok(vec![
            OutputType::new(et, ushape),
            OutputType::new(it, PartialShape::Ranked(vec![u])),
            OutputType::new(it, PartialShape::Ranked(vec![n])),
            OutputType::new(ct, PartialShape::Ranked(vec![u])),
        ])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let axis = match inputs.get(1) {
            Some(a) => match a.to_i64_vec()?.as_slice() {
                [v] => Some(*v),
                v => return Err(invalid!("Unique axis must be a scalar, got {v:?}")),
            },
            None => None,
        };
        k::unique(inputs, axis, self.sorted, self.index_element_type, self.count_element_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Model;

    #[test]
    fn einsum_and_range_shapes() {
        let mut m = Model::new("t");
        let a = m.add_parameter("a", ElementType::F32, PartialShape::fixed(&[2, 3, 4])).expect("a");
        let b = m.add_parameter("b", ElementType::F32, PartialShape::fixed(&[4, 5])).expect("b");
        let e = m.add_node(Einsum { equation: "...k,kn->...n".into() }, "e", &[a.into(), b.into()]).expect("e");
        assert_eq!(m.port(e.into()).expect("p").shape, PartialShape::fixed(&[2, 3, 5]));
        let e = m.add_node(Einsum { equation: "ijk".into() }, "e2", &[a.into()]).expect("e");
        assert_eq!(m.port(e.into()).expect("p").shape, PartialShape::fixed(&[2, 3, 4]));
        let c = |m: &mut Model, v: f32| m.add_const("c", Tensor::scalar(v)).expect("c").into();
        let (s, t, st) = (c(&mut m, 1.0), c(&mut m, 2.0), c(&mut m, 0.3));
        let r = m.add_node(Range { output_type: ElementType::F32 }, "r", &[s, t, st]).expect("r");
        assert_eq!(m.port(r.into()).expect("p").shape, PartialShape::fixed(&[4]));
        // Integer outputs truncate the bounds first, so a step of 0.3 becomes 0.
        assert!(m.add_node(Range { output_type: ElementType::I32 }, "r", &[s, t, st]).is_err());
    }

    #[test]
    fn attribute_spellings() {
        use crate::attrs::to_attrs;
        assert_eq!(to_attrs(&Round { mode: RoundMode::HalfAwayFromZero }).expect("a")[0].1, "half_away_from_zero");
        let a = to_attrs(&IsInf { detect_negative: false, detect_positive: true }).expect("a");
        assert_eq!(a, vec![("detect_negative".into(), "false".into()), ("detect_positive".into(), "true".into())]);
        let a = to_attrs(&CumSum { exclusive: true, reverse: false }).expect("a");
        assert_eq!(a, vec![("exclusive".into(), "true".into()), ("reverse".into(), "false".into())]);
        assert_eq!(to_attrs(&Range { output_type: ElementType::I64 }).expect("a")[0].1, "i64");
        let a = to_attrs(&RandomUniform { output_type: ElementType::F32, global_seed: 0, op_seed: 7 }).expect("a");
        let want = [("output_type", "f32"), ("global_seed", "0"), ("op_seed", "7")];
        assert_eq!(a, want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec());
    }

    #[test]
    fn bit_shifts_follow_onnx_at_the_edges() {
        let t = |v: Vec<i8>| Tensor::from_vec(vec![v.len()], v).expect("t");
        let l = BitwiseLeftShift::default();
        let r = BitwiseRightShift::default();
        let y = l.evaluate(&[t(vec![64, 1, -64, 4, 4]), t(vec![1, 7, 1, 8, -1])]).expect("l");
        assert_eq!(&*y[0].values::<i8>().expect("v"), &[-128, -128, -128, 0, 0]);
        let y = r.evaluate(&[t(vec![-8, -1, 4, -8, 4]), t(vec![1, 1, 9, 8, -8])]).expect("r");
        assert_eq!(&*y[0].values::<i8>().expect("v"), &[-4, -1, 0, -1, 0]);
        let u = Tensor::from_vec(vec![2], vec![u64::MAX, 16u64]).expect("u");
        let s = Tensor::from_vec(vec![2], vec![63u64, 64]).expect("s");
        let y = r.evaluate(&[u.clone(), s.clone()]).expect("r");
        assert_eq!(&*y[0].values::<u64>().expect("v"), &[1, 0]);
        let y = l.evaluate(&[u, s]).expect("l");
        assert_eq!(&*y[0].values::<u64>().expect("v"), &[1 << 63, 0]);
        // Float inputs are refused by inference.
        let mut m = Model::new("t");
        let f = m.add_parameter("f", ElementType::F32, PartialShape::fixed(&[2])).expect("f");
        assert!(m.add_node(l, "l", &[f.into(), f.into()]).is_err());
    }

    #[test]
    fn eye_shapes_and_values() {
        let mut m = Model::new("t");
        let c = |m: &mut Model, v: i64| m.add_const("c", Tensor::scalar(v)).expect("c").into();
        let (r, cl, d) = (c(&mut m, 2), c(&mut m, 3), c(&mut m, 1));
        let b = m.add_const("b", Tensor::from_vec(vec![1], vec![2i64]).expect("b")).expect("b").into();
        let e = m.add_node(Eye { output_type: ElementType::F32 }, "e", &[r, cl, d, b]).expect("e");
        assert_eq!(m.port(e.into()).expect("p").shape, PartialShape::fixed(&[2, 2, 3]));
        let p = m.add_parameter("n", ElementType::I64, PartialShape::scalar()).expect("n");
        let e = m.add_node(Eye { output_type: ElementType::I32 }, "e2", &[p.into(), cl, d]).expect("e");
        assert_eq!(m.port(e.into()).expect("p").shape.to_string(), "[?,3]");
        let y = Eye { output_type: ElementType::I32 }
            .evaluate(&[Tensor::scalar(3i64), Tensor::scalar(2i32), Tensor::scalar(-1i64)])
            .expect("eye");
        assert_eq!(y[0].shape(), &[3, 2]);
        assert_eq!(&*y[0].values::<i32>().expect("v"), &[0, 0, 1, 0, 0, 1]);
        assert_eq!(
            crate::attrs::to_attrs(&Eye { output_type: ElementType::F64 }).expect("a")[0],
            ("output_type".into(), "f64".into())
        );
    }

    #[test]
    fn unique_matches_numpy() {
        let x = Tensor::from_vec(vec![6], vec![2.0f32, 1.0, 1.0, 3.0, 4.0, 3.0]).expect("x");
        let op = Unique { sorted: true, index_element_type: ElementType::I64, count_element_type: ElementType::I64 };
        let y = op.evaluate(std::slice::from_ref(&x)).expect("u");
        assert_eq!(&*y[0].values::<f32>().expect("v"), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(&*y[1].values::<i64>().expect("v"), &[1, 0, 3, 4]);
        assert_eq!(&*y[2].values::<i64>().expect("v"), &[1, 0, 0, 2, 3, 2]);
        assert_eq!(&*y[3].values::<i64>().expect("v"), &[2, 1, 2, 1]);
        let unsorted = Unique { sorted: false, ..op.clone() };
        let y = unsorted.evaluate(std::slice::from_ref(&x)).expect("u");
        assert_eq!(&*y[0].values::<f32>().expect("v"), &[2.0, 1.0, 3.0, 4.0]);
        assert_eq!(&*y[1].values::<i64>().expect("v"), &[0, 1, 3, 4]);
        assert_eq!(&*y[2].values::<i64>().expect("v"), &[0, 1, 1, 2, 3, 2]);
        assert_eq!(&*y[3].values::<i64>().expect("v"), &[1, 2, 2, 1]);
        // Rows of [[1, 0, 0], [1, 0, 0], [2, 3, 4]] along axis 0.
        let x = Tensor::from_vec(vec![3, 3], vec![1i32, 0, 0, 1, 0, 0, 2, 3, 4]).expect("x");
        let y = op.evaluate(&[x, Tensor::scalar(0i64)]).expect("u");
        assert_eq!(y[0].shape(), &[2, 3]);
        assert_eq!(&*y[0].values::<i32>().expect("v"), &[1, 0, 0, 2, 3, 4]);
        assert_eq!(&*y[2].values::<i64>().expect("v"), &[0, 0, 1]);
        assert_eq!(&*y[3].values::<i64>().expect("v"), &[2, 1]);
        // Inference: bounded dynamic sizes from a parameter, exact ones from a constant.
        let mut m = Model::new("t");
        let p = m.add_parameter("p", ElementType::F32, PartialShape::fixed(&[2, 5])).expect("p");
        let u = m.add_node(op.clone(), "u", &[p.into()]).expect("u");
        assert_eq!(m.port(u.into()).expect("p").shape.to_string(), "[1..10]");
        assert_eq!(m.port(crate::OutputRef::new(u, 2)).expect("p").shape, PartialShape::fixed(&[10]));
        let a = m.add_const("a", Tensor::scalar(-1i64)).expect("a");
        let u = m.add_node(op.clone(), "u2", &[p.into(), a.into()]).expect("u");
        assert_eq!(m.port(u.into()).expect("p").shape.to_string(), "[2,1..5]");
        let names: Vec<String> =
            crate::attrs::to_attrs(&op).expect("a").into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(names, ["sorted=true", "index_element_type=i64", "count_element_type=i64"]);
    }
}
