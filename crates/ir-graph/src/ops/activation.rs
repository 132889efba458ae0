//! Activations with attributes or extra inputs.

use serde::{Deserialize, Serialize};

use super::unary::infer_unary;
use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::error::Result;
use crate::tensor::Tensor;

/// min(max(x, min), max).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clamp {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

impl OpSpec for Clamp {
    const TYPE: &'static str = "Clamp";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::unary_with(Self::TYPE, inputs, &[self.min, self.max])
    }
}

/// x if x > 0 else alpha * (e^x - 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elu {
    /// Scale of the negative part.
    pub alpha: f64,
}

impl OpSpec for Elu {
    const TYPE: &'static str = "Elu";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::unary_with(Self::TYPE, inputs, &[self.alpha])
    }
}

/// x * sigmoid(beta * x), beta an optional scalar input (default 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Swish {}

impl OpSpec for Swish {
    const TYPE: &'static str = "Swish";
    const OPSET: u32 = 4;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 1, 2)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::elementwise::swish(inputs)
    }
}

/// How Gelu is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GeluApproximation {
    /// Exact, with erf.
    #[default]
    #[serde(rename = "ERF")]
    Erf,
    /// The tanh approximation.
    #[serde(rename = "TANH")]
    Tanh,
}

/// Gaussian error linear unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Gelu {
    /// Exact or tanh approximation.
    #[serde(default)]
    pub approximation_mode: GeluApproximation,
}

impl OpSpec for Gelu {
    const TYPE: &'static str = "Gelu";
    const OPSET: u32 = 7;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        infer_unary(inputs)
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let mode = match self.approximation_mode {
            GeluApproximation::Erf => 0.0,
            GeluApproximation::Tanh => 1.0,
        };
        crate::eval::unary_with(Self::TYPE, inputs, &[mode])
    }
}

/// x if x >= 0 else slope * x; slope broadcasts along channels (input 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PRelu {}

impl OpSpec for PRelu {
    const TYPE: &'static str = "PReLU";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 2, 2)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::elementwise::prelu(inputs)
    }
}

/// lambda * (x if x > 0 else alpha * (e^x - 1)); alpha and lambda are inputs 1 and 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Selu {}

impl OpSpec for Selu {
    const TYPE: &'static str = "Selu";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::elementwise::selu(inputs)
    }
}

/// max(0, min(1, alpha * x + beta)); alpha and beta are scalar inputs 1 and 2 (`HardSigmoid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HardSigmoid {}

impl OpSpec for HardSigmoid {
    const TYPE: &'static str = "HardSigmoid";
    const OPSET: u32 = 1;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        infer_unary(&inputs[..1])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let [x, a, b] = inputs else {
            return Err(crate::invalid!("HardSigmoid expects 3 inputs"));
        };
        let op = Self::TYPE;
        let scalar = |t: &Tensor| -> Result<f64> {
            crate::eval::values::decode_float(op, t)?
                .first()
                .copied()
                .ok_or_else(|| crate::invalid!("HardSigmoid alpha and beta must be scalars"))
        };
        let (alpha, beta) = (scalar(a)?, scalar(b)?);
        let v = crate::eval::values::decode_float(op, x)?;
        let out = v.iter().map(|&e| (alpha * e + beta).clamp(0.0, 1.0)).collect();
        Ok(vec![crate::eval::values::encode_f(op, x.element_type(), x.shape().to_vec(), out)?])
    }
}

#[cfg(test)]
mod hard_sigmoid_tests {
    use super::*;

    #[test]
    fn hard_sigmoid_clamps() {
        let x = Tensor::from_vec(vec![3], vec![-10.0f32, 0.0, 10.0]).expect("x");
        let r = HardSigmoid {}.evaluate(&[x, Tensor::scalar(0.2f32), Tensor::scalar(0.5f32)]).expect("hs");
        assert_eq!(&*r[0].values::<f32>().expect("f"), &[0.0, 0.5, 1.0]);
    }
}
