//! Binary element-wise ops with numpy broadcasting (arithmetic, comparison, logic).

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::element::ElementType;
use crate::error::Result;
use crate::invalid;
use crate::shape::PartialShape;

/// How the two inputs' shapes combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AutoBroadcast {
    /// Shapes must be equal.
    None,
    /// Numpy rules.
    #[default]
    Numpy,
    /// PaddlePaddle rules (treated as numpy with the second input aligned at `axis`; unused by ONNX).
    Pdpd,
    /// Explicit axes mapping (Broadcast only).
    Explicit,
}

/// Output shape of two inputs under `mode`.
pub fn broadcast_shapes(a: &PartialShape, b: &PartialShape, mode: AutoBroadcast) -> Result<PartialShape> {
    match mode {
        AutoBroadcast::None => a.merge(b).ok_or_else(|| invalid!("shapes {a} and {b} differ")),
        _ => a.broadcast(b).ok_or_else(|| invalid!("shapes {a} and {b} do not broadcast")),
    }
}

fn infer_binary(inputs: &[InferInput<'_>], mode: AutoBroadcast, out: Option<ElementType>) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 2)?;
    let et = inputs[0]
        .element_type
        .merge(inputs[1].element_type)
        .ok_or_else(|| invalid!("input types {} and {} differ", inputs[0].element_type, inputs[1].element_type))?;
    let shape = broadcast_shapes(inputs[0].shape, inputs[1].shape, mode)?;
    Ok(vec![OutputType::new(out.unwrap_or(et), shape)])
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident = $ty:literal, $opset:literal, $out:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {
            /// Broadcast rule.
            #[serde(default)]
            pub auto_broadcast: AutoBroadcast,
        }

        impl OpSpec for $name {
            const TYPE: &'static str = $ty;
            const OPSET: u32 = $opset;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                infer_binary(inputs, self.auto_broadcast, $out)
            }
            fn evaluate(&self, inputs: &[crate::Tensor]) -> Result<Vec<crate::Tensor>> {
                crate::eval::binary(Self::TYPE, self.auto_broadcast, inputs)
            }
        }
    )*};
}

binary_ops! {
    /// a + b.
    Add = "Add", 1, None;
    /// a - b.
    Subtract = "Subtract", 1, None;
    /// a * b.
    Multiply = "Multiply", 1, None;
    /// max(a, b).
    Maximum = "Maximum", 1, None;
    /// min(a, b).
    Minimum = "Minimum", 1, None;
    /// a ^ b.
    Power = "Power", 1, None;
    /// (a - b)^2.
    SquaredDifference = "SquaredDifference", 1, None;
    /// Remainder with the sign of the divisor (Python `%`).
    FloorMod = "FloorMod", 1, None;
    /// Remainder with the sign of the dividend (C `fmod`).
    Mod = "Mod", 1, None;
    /// a == b.
    Equal = "Equal", 1, Some(ElementType::Boolean);
    /// a != b.
    NotEqual = "NotEqual", 1, Some(ElementType::Boolean);
    /// a < b.
    Less = "Less", 1, Some(ElementType::Boolean);
    /// a <= b.
    LessEqual = "LessEqual", 1, Some(ElementType::Boolean);
    /// a > b.
    Greater = "Greater", 1, Some(ElementType::Boolean);
    /// a >= b.
    GreaterEqual = "GreaterEqual", 1, Some(ElementType::Boolean);
    /// a && b.
    LogicalAnd = "LogicalAnd", 1, Some(ElementType::Boolean);
    /// a || b.
    LogicalOr = "LogicalOr", 1, Some(ElementType::Boolean);
    /// a ^ b.
    LogicalXor = "LogicalXor", 1, Some(ElementType::Boolean);
}

/// a / b; integer division floors when `m_pythondiv` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divide {
    /// Broadcast rule.
    #[serde(default)]
    pub auto_broadcast: AutoBroadcast,
    /// Integer division rounds toward negative infinity (Python) instead of toward zero.
    #[serde(default = "yes")]
    pub m_pythondiv: bool,
}

fn yes() -> bool {
    true
}

impl Default for Divide {
    fn default() -> Divide {
        Divide { auto_broadcast: AutoBroadcast::Numpy, m_pythondiv: true }
    }
}

impl OpSpec for Divide {
    const TYPE: &'static str = "Divide";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_binary(inputs, self.auto_broadcast, None)
    }
    fn evaluate(&self, inputs: &[crate::Tensor]) -> Result<Vec<crate::Tensor>> {
        let name = if self.m_pythondiv { "Divide" } else { "DivideTrunc" };
        crate::eval::binary(name, self.auto_broadcast, inputs)
    }
}
