//! Element-wise math and logic added in later opsets (Round, IsNaN/IsInf/IsFinite, Bitwise*),
//! plus CumSum, Einsum and Range.

use serde::{Deserialize, Serialize};

use super::binary::{AutoBroadcast, broadcast_shapes};
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
    }
}
