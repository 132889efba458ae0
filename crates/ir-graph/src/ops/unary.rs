//! Unary element-wise ops without attributes.

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::error::Result;

/// Output of a shape- and type-preserving unary op.
pub fn infer_unary(inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 1, 1)?;
    Ok(vec![OutputType::new(inputs[0].element_type, inputs[0].shape.clone())])
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident = $ty:literal, $opset:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {}

        impl OpSpec for $name {
            const TYPE: &'static str = $ty;
            const OPSET: u32 = $opset;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                infer_unary(inputs)
            }
            fn evaluate(&self, inputs: &[crate::Tensor]) -> Result<Vec<crate::Tensor>> {
                crate::eval::unary(Self::TYPE, inputs)
            }
        }
    )*};
}

unary_ops! {
    /// max(x, 0).
    Relu = "ReLU", 1;
    /// 1 / (1 + e^-x).
    Sigmoid = "Sigmoid", 1;
    /// tanh(x).
    Tanh = "Tanh", 1;
    /// e^x.
    Exp = "Exp", 1;
    /// ln(x).
    Log = "Log", 1;
    /// sqrt(x).
    Sqrt = "Sqrt", 1;
    /// |x|.
    Abs = "Abs", 1;
    /// -x.
    Negative = "Negative", 1;
    /// floor(x).
    Floor = "Floor", 1;
    /// ceil(x).
    Ceiling = "Ceiling", 1;
    /// erf(x).
    Erf = "Erf", 1;
    /// sign(x).
    Sign = "Sign", 1;
    /// sin(x).
    Sin = "Sin", 1;
    /// cos(x).
    Cos = "Cos", 1;
    /// tan(x).
    Tan = "Tan", 1;
    /// asin(x).
    Asin = "Asin", 1;
    /// acos(x).
    Acos = "Acos", 1;
    /// atan(x).
    Atan = "Atan", 1;
    /// sinh(x).
    Sinh = "Sinh", 1;
    /// cosh(x).
    Cosh = "Cosh", 1;
    /// asinh(x).
    Asinh = "Asinh", 4;
    /// acosh(x).
    Acosh = "Acosh", 4;
    /// atanh(x).
    Atanh = "Atanh", 4;
    /// !x.
    LogicalNot = "LogicalNot", 1;
    /// x / (1 + |x|).
    SoftSign = "SoftSign", 9;
    /// x * relu6(x + 3) / 6.
    HSwish = "HSwish", 4;
    /// relu6(x + 3) / 6.
    HSigmoid = "HSigmoid", 5;
    /// x * tanh(softplus(x)).
    Mish = "Mish", 4;
    /// ln(1 + e^x).
    SoftPlus = "SoftPlus", 4;
}
