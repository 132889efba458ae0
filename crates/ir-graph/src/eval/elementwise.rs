//! Element-wise kernels: binary ops with broadcasting, unary ops, activations, Convert, Select.

use super::values::{Vals, broadcast_map, broadcast_pair, decode, encode, not_evaluable, take_multi};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::AutoBroadcast;
use crate::tensor::Tensor;

/// Output shape and per-input element maps of an element-wise op over `shapes`.
pub fn broadcast_all(shapes: &[&[usize]], mode: AutoBroadcast) -> Result<(Vec<usize>, Vec<Vec<usize>>)> {
    let mut out: Vec<usize> = shapes.first().map(|s| s.to_vec()).unwrap_or_default();
    for s in &shapes[1..] {
        out = match mode {
            AutoBroadcast::None => {
                if out != *s {
                    return Err(invalid!("shapes {out:?} and {s:?} differ"));
                }
                out
            }
            _ => broadcast_pair(&out, s).ok_or_else(|| invalid!("shapes {out:?} and {s:?} do not broadcast"))?,
        };
    }
    let maps = shapes.iter().map(|s| broadcast_map(s, &out)).collect::<Result<Vec<_>>>()?;
    Ok((out, maps))
}

fn float_binary(op: &str, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        "Add" => a + b,
        "Subtract" => a - b,
        "Multiply" => a * b,
        "Divide" | "DivideTrunc" => a / b,
        "Maximum" => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        "Minimum" => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        "Power" => a.powf(b),
        "SquaredDifference" => (a - b) * (a - b),
        "Mod" => a % b,
        "FloorMod" => {
            let r = a % b;
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
        }
        _ => return None,
    })
}

/// Integer power with wrapping; negative exponents follow integer division (1/x truncated).
fn ipow(base: i128, exp: i128) -> i128 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 => {
                if exp % 2 == 0 {
                    1
                } else {
                    -1
                }
            }
            _ => 0,
        };
    }
    let (mut acc, mut b, mut e) = (1i128, base, exp);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    acc
}

/// `None` = op unknown for integers; `Some(None)` = division by zero.
fn int_binary(op: &str, a: i128, b: i128) -> Option<Option<i128>> {
    Some(Some(match op {
        "Add" => a.wrapping_add(b),
        "Subtract" => a.wrapping_sub(b),
        "Multiply" => a.wrapping_mul(b),
        "Divide" => {
            if b == 0 {
                return Some(None);
            }
            a.div_euclid(b) - i128::from(b < 0 && a.rem_euclid(b) != 0)
        }
        "DivideTrunc" => {
            if b == 0 {
                return Some(None);
            }
            a / b
        }
        "Maximum" => a.max(b),
        "Minimum" => a.min(b),
        "Power" => ipow(a, b),
        "SquaredDifference" => a.wrapping_sub(b).wrapping_mul(a.wrapping_sub(b)),
        "Mod" => {
            if b == 0 {
                return Some(None);
            }
            a % b
        }
        "FloorMod" => {
            if b == 0 {
                return Some(None);
            }
            let r = a % b;
            if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
        }
        _ => return None,
    }))
}

fn compare<T: PartialOrd>(op: &str, a: T, b: T) -> Option<bool> {
    Some(match op {
        "Equal" => a == b,
        "NotEqual" => a != b,
        "Less" => a < b,
        "LessEqual" => a <= b,
        "Greater" => a > b,
        "GreaterEqual" => a >= b,
        _ => return None,
    })
}

fn logical(op: &str, a: bool, b: bool) -> Option<bool> {
    Some(match op {
        "LogicalAnd" => a && b,
        "LogicalOr" => a || b,
        "LogicalXor" => a != b,
        "BitwiseAnd" => a & b,
        "BitwiseOr" => a | b,
        "BitwiseXor" => a ^ b,
        _ => return compare(op, a, b),
    })
}

fn bitwise(op: &str, a: i128, b: i128) -> Option<i128> {
    Some(match op {
        "BitwiseAnd" => a & b,
        "BitwiseOr" => a | b,
        "BitwiseXor" => a ^ b,
        _ => return None,
    })
}

/// Element-wise binary op `op` (IR type name; `DivideTrunc` = Divide without Python rounding).
pub fn binary(op: &str, mode: AutoBroadcast, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [a, b] = inputs else {
        return Err(invalid!("{op} expects 2 inputs, got {}", inputs.len()));
    };
    let et = a.element_type();
    if b.element_type() != et {
        return Err(invalid!("{op} inputs have types {et} and {}", b.element_type()));
    }
    if mode == AutoBroadcast::Pdpd {
        return Err(not_evaluable(op, et));
    }
    let (shape, maps) = broadcast_all(&[a.shape(), b.shape()], mode)?;
    let (ia, ib) = (&maps[0], &maps[1]);
    let fail = || not_evaluable(op, et);
    if et == E::String {
        // Strings only compare for (in)equality, byte for byte.
        let want_equal = match op {
            "Equal" => true,
            "NotEqual" => false,
            _ => return Err(fail()),
        };
        let (x, y) = (a.strings()?, b.strings()?);
        let v: Vec<bool> = ia.iter().zip(ib).map(|(&i, &j)| (x[i] == y[j]) == want_equal).collect();
        return Ok(vec![encode(op, E::Boolean, shape, &Vals::B(v))?]);
    }
    let out = match (decode(op, a)?, decode(op, b)?) {
        (Vals::F(x), Vals::F(y)) => {
            if compare(op, 0.0, 0.0).is_some() {
                Vals::B(ia.iter().zip(ib).map(|(&i, &j)| compare(op, x[i], y[j]).unwrap_or(false)).collect())
            } else {
                float_binary(op, 0.0, 1.0).ok_or_else(fail)?;
                Vals::F(ia.iter().zip(ib).map(|(&i, &j)| float_binary(op, x[i], y[j]).unwrap_or(f64::NAN)).collect())
            }
        }
        (Vals::I(x), Vals::I(y)) => {
            if compare(op, 0, 0).is_some() {
                Vals::B(ia.iter().zip(ib).map(|(&i, &j)| compare(op, x[i], y[j]).unwrap_or(false)).collect())
            } else if bitwise(op, 0, 0).is_some() {
                Vals::I(ia.iter().zip(ib).map(|(&i, &j)| bitwise(op, x[i], y[j]).unwrap_or(0)).collect())
            } else {
                int_binary(op, 0, 1).ok_or_else(fail)?;
                let v = ia
                    .iter()
                    .zip(ib)
                    .map(|(&i, &j)| int_binary(op, x[i], y[j]).flatten())
                    .collect::<Option<Vec<_>>>()
                    // Integer division by zero has no value; leave the op to run time.
                    .ok_or_else(fail)?;
                Vals::I(v)
            }
        }
        (Vals::B(x), Vals::B(y)) => {
            logical(op, false, false).ok_or_else(fail)?;
            Vals::B(ia.iter().zip(ib).map(|(&i, &j)| logical(op, x[i], y[j]).unwrap_or(false)).collect())
        }
        _ => return Err(fail()),
    };
    let out_et = if matches!(out, Vals::B(_)) { E::Boolean } else { et };
    Ok(vec![encode(op, out_et, shape, &out)?])
}

/// erf(x) to about 1e-15: Taylor series near zero, continued fraction for erfc in the tails.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax < 2.5 {
        // Alternating series; terms peak near x^2 so at most ~3 digits cancel for |x| < 2.5.
        let x2 = x * x;
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    if ax > 6.0 {
        return x.signum();
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated
    // backwards from a fixed depth that converges for x >= 2.5.
    let mut f = ax;
    for k in (1..=60).rev() {
        f = ax + (k as f64 / 2.0) / f;
    }
    let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / f;
    (1.0 - erfc).copysign(x)
}

fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

fn float_unary(op: &str, x: f64, p: &[f64]) -> Option<f64> {
    let p0 = p.first().copied().unwrap_or(0.0);
    Some(match op {
        "ReLU" => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        "Sigmoid" => 1.0 / (1.0 + (-x).exp()),
        "Tanh" => x.tanh(),
        "Exp" => x.exp(),
        "Log" => x.ln(),
        "Sqrt" => x.sqrt(),
        "Abs" => x.abs(),
        "Negative" => -x,
        "Floor" => x.floor(),
        "Ceiling" => x.ceil(),
        "Erf" => erf(x),
        "Sign" => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        "Sin" => x.sin(),
        "Cos" => x.cos(),
        "Tan" => x.tan(),
        "Asin" => x.asin(),
        "Acos" => x.acos(),
        "Atan" => x.atan(),
        "Sinh" => x.sinh(),
        "Cosh" => x.cosh(),
        "Asinh" => x.asinh(),
        "Acosh" => x.acosh(),
        "Atanh" => x.atanh(),
        "SoftSign" => x / (1.0 + x.abs()),
        "HSwish" => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        "HSigmoid" => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        "Mish" => x * softplus(x).tanh(),
        "SoftPlus" => softplus(x),
        "Clamp" => {
            if x.is_nan() {
                x
            } else {
                x.max(p0).min(p.get(1).copied().unwrap_or(f64::INFINITY))
            }
        }
        "Elu" => {
            if x > 0.0 {
                x
            } else {
                p0 * (x.exp() - 1.0)
            }
        }
        "Gelu" => {
            if p0 == 0.0 {
                0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
            } else {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
        }
        "Swish" => x / (1.0 + (-p0 * x).exp()),
        "Round" => {
            if p0 == 0.0 {
                x.round_ties_even()
            } else {
                x.round()
            }
        }
        _ => return None,
    })
}

fn int_unary(op: &str, x: i128, p: &[f64]) -> Option<i128> {
    Some(match op {
        "ReLU" => x.max(0),
        "Abs" => x.abs(),
        "Negative" => x.wrapping_neg(),
        "Floor" | "Ceiling" | "Round" => x,
        "Sign" => x.signum(),
        "Clamp" => {
            // Integer Clamp rounds the bounds inward, as OpenVINO does.
            let lo = p.first().copied().unwrap_or(f64::NEG_INFINITY).ceil();
            let hi = p.get(1).copied().unwrap_or(f64::INFINITY).floor();
            if (x as f64) < lo {
                lo as i128
            } else if (x as f64) > hi {
                hi as i128
            } else {
                x
            }
        }
        "BitwiseNot" => !x,
        _ => return None,
    })
}

/// Element-wise unary op `op` (IR type name).
pub fn unary(op: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    unary_with(op, inputs, &[])
}

/// Element-wise unary op with scalar parameters (Clamp min/max, Elu alpha, Gelu mode, Swish beta,
/// Round mode 0 = half_to_even).
pub fn unary_with(op: &str, inputs: &[Tensor], params: &[f64]) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("{op} expects an input"))?;
    let et = x.element_type();
    let fail = || not_evaluable(op, et);
    let out = match decode(op, x)? {
        Vals::F(v) => {
            float_unary(op, 0.0, params).ok_or_else(fail)?;
            Vals::F(v.into_iter().map(|a| float_unary(op, a, params).unwrap_or(f64::NAN)).collect())
        }
        Vals::I(v) => {
            int_unary(op, 0, params).ok_or_else(fail)?;
            Vals::I(v.into_iter().map(|a| int_unary(op, a, params).unwrap_or(0)).collect())
        }
        Vals::B(v) => match op {
            "LogicalNot" | "BitwiseNot" => Vals::B(v.into_iter().map(|a| !a).collect()),
            _ => return Err(fail()),
        },
    };
    Ok(vec![encode(op, et, x.shape().to_vec(), &out)?])
}

/// Convert to `to`: see [`encode`] for the rounding rules.
pub fn convert(inputs: &[Tensor], to: E) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("Convert expects an input"))?;
    if x.element_type() == to {
        return Ok(vec![x.clone()]);
    }
    let v = decode("Convert", x)?;
    Ok(vec![encode("Convert", to, x.shape().to_vec(), &v)?])
}

/// Swish with the optional scalar beta input.
pub fn swish(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let beta = match inputs.get(1) {
        Some(b) => *b.to_f64_vec()?.first().ok_or_else(|| invalid!("Swish beta is empty"))?,
        None => 1.0,
    };
    unary_with("Swish", &inputs[..1.min(inputs.len())], &[beta])
}

/// PReLU: a 1-D slope whose length matches the channel dim (dim 1, or 0 for 1-D data) applies
/// per channel; otherwise the slope broadcasts numpy-style.
pub fn prelu(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, slope] = inputs else {
        return Err(invalid!("PReLU expects 2 inputs"));
    };
    let xs = x.shape();
    let ss = slope.shape();
    let ch = usize::from(xs.len() > 1);
    let slope_shape: Vec<usize> = if ss.len() == 1 && !xs.is_empty() && xs[ch] == ss[0] && ss[0] != 1 {
        let mut s = vec![1usize; xs.len() - ch];
        s[0] = ss[0];
        s
    } else {
        ss.to_vec()
    };
    let (shape, maps) = broadcast_all(&[xs, &slope_shape], AutoBroadcast::Numpy)?;
    if shape != xs {
        return Err(invalid!("PReLU slope {ss:?} does not broadcast to data {xs:?}"));
    }
    let et = x.element_type();
    let out = match (decode("PReLU", x)?, decode("PReLU", slope)?) {
        (Vals::F(a), Vals::F(s)) => {
            Vals::F(maps[0].iter().zip(&maps[1]).map(|(&i, &j)| if a[i] < 0.0 { a[i] * s[j] } else { a[i] }).collect())
        }
        (Vals::I(a), Vals::I(s)) => Vals::I(
            maps[0]
                .iter()
                .zip(&maps[1])
                .map(|(&i, &j)| if a[i] < 0 { a[i].wrapping_mul(s[j]) } else { a[i] })
                .collect(),
        ),
        _ => return Err(not_evaluable("PReLU", et)),
    };
    Ok(vec![encode("PReLU", et, shape, &out)?])
}

/// Selu with alpha and lambda inputs (broadcast numpy-style; usually scalars).
pub fn selu(inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, alpha, lambda] = inputs else {
        return Err(invalid!("Selu expects 3 inputs"));
    };
    let et = x.element_type();
    let (shape, maps) = broadcast_all(&[x.shape(), alpha.shape(), lambda.shape()], AutoBroadcast::Numpy)?;
    let f = |t: &Tensor| match decode("Selu", t)? {
        Vals::F(v) => Ok(v),
        _ => Err(not_evaluable("Selu", et)),
    };
    let (xv, av, lv) = (f(x)?, f(alpha)?, f(lambda)?);
    let out = (0..shape.iter().product())
        .map(|k| {
            let (v, a, l) = (xv[maps[0][k]], av[maps[1][k]], lv[maps[2][k]]);
            if v > 0.0 { l * v } else { l * a * (v.exp() - 1.0) }
        })
        .collect();
    Ok(vec![encode("Selu", et, shape, &Vals::F(out))?])
}

/// Select: `cond ? then : else` with broadcasting over all three inputs; any byte-sized type.
pub fn select(mode: AutoBroadcast, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [c, a, b] = inputs else {
        return Err(invalid!("Select expects 3 inputs"));
    };
    if c.element_type() != E::Boolean {
        return Err(not_evaluable("Select", c.element_type()));
    }
    let (shape, maps) = broadcast_all(&[c.shape(), a.shape(), b.shape()], mode)?;
    let cond = c.bools()?;
    let picks: Vec<(usize, usize)> =
        (0..maps[0].len()).map(|k| if cond[maps[0][k]] { (0, maps[1][k]) } else { (1, maps[2][k]) }).collect();
    Ok(vec![take_multi("Select", &[a, b], shape, &picks)?])
}

/// IsNaN / IsInf / IsFinite on floats; `params` = [detect_negative, detect_positive] for IsInf.
pub fn classify(op: &str, inputs: &[Tensor], params: &[bool]) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("{op} expects an input"))?;
    let Vals::F(v) = decode(op, x)? else {
        return Err(not_evaluable(op, x.element_type()));
    };
    let (neg, pos) = (params.first().copied().unwrap_or(true), params.get(1).copied().unwrap_or(true));
    let out: Vec<bool> = v
        .iter()
        .map(|&a| match op {
            "IsNaN" => a.is_nan(),
            "IsFinite" => a.is_finite(),
            _ => (a == f64::INFINITY && pos) || (a == f64::NEG_INFINITY && neg),
        })
        .collect();
    Ok(vec![Tensor::from_bools(x.shape().to_vec(), &out)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_compare_for_equality_with_broadcasting() {
        let s = |v: &[&str]| Tensor::from_strings(vec![v.len()], &v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let a = s(&["a", "bc", ""]).expect("a");
        let b = s(&["bc"]).expect("b");
        let eq = binary("Equal", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("equal");
        assert_eq!(eq[0].bools().expect("bools"), vec![false, true, false]);
        let ne = binary("NotEqual", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("not equal");
        assert_eq!(ne[0].bools().expect("bools"), vec![true, false, true]);
        assert!(binary("Add", AutoBroadcast::Numpy, &[a, b]).is_err());
    }

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("tensor")
    }

    fn vals_f32(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }

    #[test]
    fn add_broadcasts() {
        let a = f32s(&[2, 1], &[1.0, 2.0]);
        let b = f32s(&[3], &[10.0, 20.0, 30.0]);
        let r = binary("Add", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("add");
        assert_eq!(r[0].shape(), &[2, 3]);
        assert_eq!(vals_f32(&r[0]), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        assert!(binary("Add", AutoBroadcast::None, &[a, b]).is_err());
    }

    #[test]
    fn integer_division_and_mod() {
        let a = Tensor::from_vec(vec![4], vec![7i32, -7, 7, -7]).expect("a");
        let b = Tensor::from_vec(vec![4], vec![2i32, 2, -2, -2]).expect("b");
        let d = binary("Divide", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("div");
        assert_eq!(&*d[0].values::<i32>().expect("i32"), &[3, -4, -4, 3]);
        let d = binary("DivideTrunc", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("div");
        assert_eq!(&*d[0].values::<i32>().expect("i32"), &[3, -3, -3, 3]);
        let m = binary("FloorMod", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("mod");
        assert_eq!(&*m[0].values::<i32>().expect("i32"), &[1, 1, -1, -1]);
        let m = binary("Mod", AutoBroadcast::Numpy, &[a.clone(), b]).expect("mod");
        assert_eq!(&*m[0].values::<i32>().expect("i32"), &[1, -1, 1, -1]);
        let z = Tensor::from_vec(vec![4], vec![0i32; 4]).expect("z");
        assert!(matches!(binary("Divide", AutoBroadcast::Numpy, &[a, z]), Err(crate::GraphError::NotEvaluable { .. })));
    }

    #[test]
    fn integer_overflow_wraps_and_u64_is_exact() {
        let a = Tensor::from_vec(vec![1], vec![u64::MAX]).expect("a");
        let b = Tensor::from_vec(vec![1], vec![2u64]).expect("b");
        let r = binary("Add", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("add");
        assert_eq!(&*r[0].values::<u64>().expect("u64"), &[1]);
        let r = binary("Greater", AutoBroadcast::Numpy, &[a, b]).expect("gt");
        assert_eq!(r[0].bools().expect("b"), vec![true]);
        let p = binary(
            "Power",
            AutoBroadcast::Numpy,
            &[Tensor::scalar(3i64), Tensor::from_vec(vec![3], vec![0i64, 4, -1]).expect("e")],
        )
        .expect("pow");
        assert_eq!(&*p[0].values::<i64>().expect("i64"), &[1, 81, 0]);
    }

    #[test]
    fn float_mods_follow_sign_rules() {
        let a = f32s(&[2], &[-7.5, 7.5]);
        let b = f32s(&[2], &[2.0, -2.0]);
        let m = binary("FloorMod", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("m");
        assert_eq!(vals_f32(&m[0]), vec![0.5, -0.5]);
        let m = binary("Mod", AutoBroadcast::Numpy, &[a, b]).expect("m");
        assert_eq!(vals_f32(&m[0]), vec![-1.5, 1.5]);
    }

    #[test]
    fn logic_and_compare() {
        let a = Tensor::from_bools(vec![4], &[true, true, false, false]).expect("a");
        let b = Tensor::from_bools(vec![4], &[true, false, true, false]).expect("b");
        let r = binary("LogicalXor", AutoBroadcast::Numpy, &[a.clone(), b.clone()]).expect("x");
        assert_eq!(r[0].bools().expect("b"), vec![false, true, true, false]);
        let r = binary("LogicalAnd", AutoBroadcast::Numpy, &[a, b]).expect("x");
        assert_eq!(r[0].bools().expect("b"), vec![true, false, false, false]);
        let x = f32s(&[3], &[1.0, f32::NAN, 3.0]);
        let y = f32s(&[1], &[1.0]);
        let r = binary("GreaterEqual", AutoBroadcast::Numpy, &[x.clone(), y]).expect("ge");
        assert_eq!(r[0].bools().expect("b"), vec![true, false, true]);
        assert!(binary("LogicalAnd", AutoBroadcast::Numpy, &[x.clone(), x]).is_err());
    }

    #[test]
    fn f16_and_bf16_round_trip_through_wide_math() {
        let a = Tensor::from_vec(vec![2], vec![half::f16::from_f32(1.5), half::f16::from_f32(-2.0)]).expect("a");
        let r = binary("Multiply", AutoBroadcast::Numpy, &[a.clone(), a]).expect("mul");
        let v: Vec<f32> = r[0].values::<half::f16>().expect("f16").iter().map(|v| v.to_f32()).collect();
        assert_eq!(v, vec![2.25, 4.0]);
        let b = Tensor::from_vec(vec![1], vec![half::bf16::from_f32(-3.0)]).expect("b");
        let r = unary("Abs", &[b]).expect("abs");
        assert_eq!(r[0].values::<half::bf16>().expect("bf16")[0].to_f32(), 3.0);
    }

    #[test]
    fn unary_values() {
        let x = f32s(&[5], &[-2.0, -0.5, 0.0, 0.5, 2.0]);
        let r = unary("ReLU", std::slice::from_ref(&x)).expect("relu");
        assert_eq!(vals_f32(&r[0]), vec![0.0, 0.0, 0.0, 0.5, 2.0]);
        let r = unary("HSigmoid", std::slice::from_ref(&x)).expect("hs");
        assert_eq!(vals_f32(&r[0]), vec![1.0 / 6.0, 2.5 / 6.0, 0.5, 3.5 / 6.0, 5.0 / 6.0]);
        let r = unary_with("Clamp", std::slice::from_ref(&x), &[-1.0, 1.0]).expect("clamp");
        assert_eq!(vals_f32(&r[0]), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let r = unary("Sign", std::slice::from_ref(&x)).expect("sign");
        assert_eq!(vals_f32(&r[0]), vec![-1.0, -1.0, 0.0, 1.0, 1.0]);
        let r = unary_with("Elu", std::slice::from_ref(&x), &[1.0]).expect("elu");
        assert!((vals_f32(&r[0])[0] - ((-2.0f32).exp() - 1.0)).abs() < 1e-7);
        let i = Tensor::from_vec(vec![3], vec![-5i32, 0, 5]).expect("i");
        let r = unary_with("Clamp", std::slice::from_ref(&i), &[-2.5, 2.5]).expect("clamp");
        assert_eq!(&*r[0].values::<i32>().expect("i32"), &[-2, 0, 2]);
        assert!(unary("Exp", &[i]).is_err());
    }

    #[test]
    fn erf_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1.
        for (x, e) in [(0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265_0), (3.0, 0.999_977_909_5)] {
            assert!((erf(x) - e).abs() < 1e-9, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + e).abs() < 1e-9);
        }
        assert!((erf(2.5) - 0.999_593_047_982_555).abs() < 1e-13);
        assert!((erf(2.4999999) - 0.999_593_047_982_555).abs() < 1e-7);
    }

    #[test]
    fn gelu_modes() {
        let x = f32s(&[1], &[1.0]);
        let e = unary_with("Gelu", std::slice::from_ref(&x), &[0.0]).expect("gelu");
        assert!((vals_f32(&e[0])[0] - 0.841_344_7).abs() < 1e-6);
        let t = unary_with("Gelu", &[x], &[1.0]).expect("gelu");
        assert!((vals_f32(&t[0])[0] - 0.841_192).abs() < 1e-5);
    }

    #[test]
    fn round_modes() {
        let x = f32s(&[6], &[0.5, 1.5, 2.5, -0.5, -2.5, 2.4]);
        let r = unary_with("Round", std::slice::from_ref(&x), &[0.0]).expect("r");
        assert_eq!(vals_f32(&r[0]), vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0]);
        let r = unary_with("Round", &[x], &[1.0]).expect("r");
        assert_eq!(vals_f32(&r[0]), vec![1.0, 2.0, 3.0, -1.0, -3.0, 2.0]);
    }

    #[test]
    fn convert_between_types() {
        let x = f32s(&[3], &[1.9, -1.9, 1e10]);
        let r = convert(std::slice::from_ref(&x), E::I32).expect("c");
        assert_eq!(&*r[0].values::<i32>().expect("i32"), &[1, -1, i32::MAX]);
        let r = convert(std::slice::from_ref(&x), E::Boolean).expect("c");
        assert_eq!(r[0].bools().expect("b"), vec![true, true, true]);
        let r = convert(&[x], E::F16).expect("c");
        assert_eq!(r[0].values::<half::f16>().expect("f16")[2], half::f16::INFINITY);
        let b = Tensor::from_bools(vec![2], &[true, false]).expect("b");
        let r = convert(&[b], E::F32).expect("c");
        assert_eq!(vals_f32(&r[0]), vec![1.0, 0.0]);
        let i = Tensor::from_vec(vec![2], vec![-1i8, 5]).expect("i");
        let r = convert(&[i], E::U16).expect("c");
        assert_eq!(&*r[0].values::<u16>().expect("u16"), &[65535, 5]);
    }

    #[test]
    fn prelu_per_channel_and_broadcast() {
        let x = f32s(&[1, 2, 2], &[-1.0, 1.0, -2.0, 2.0]);
        let s = f32s(&[2], &[0.1, 0.5]);
        let r = prelu(&[x.clone(), s]).expect("prelu");
        assert_eq!(vals_f32(&r[0]), vec![-0.1, 1.0, -1.0, 2.0]);
        // A trailing-dim slope of another length broadcasts numpy-style.
        let x3 = f32s(&[1, 3, 2], &[-1.0, -1.0, -1.0, -1.0, -1.0, -1.0]);
        let s2 = f32s(&[2], &[0.1, 0.5]);
        let r = prelu(&[x3, s2]).expect("prelu");
        assert_eq!(vals_f32(&r[0]), vec![-0.1, -0.5, -0.1, -0.5, -0.1, -0.5]);
        let r = prelu(&[x, f32s(&[1], &[0.25])]).expect("prelu");
        assert_eq!(vals_f32(&r[0]), vec![-0.25, 1.0, -0.5, 2.0]);
    }

    #[test]
    fn swish_selu_select() {
        let x = f32s(&[2], &[0.0, 1.0]);
        let r = swish(&[x.clone(), Tensor::scalar(2.0f32)]).expect("swish");
        assert!((vals_f32(&r[0])[1] - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-7);
        let r = selu(&[f32s(&[2], &[-1.0, 2.0]), Tensor::scalar(2.0f32), Tensor::scalar(3.0f32)]).expect("selu");
        assert!((vals_f32(&r[0])[0] - 6.0 * ((-1.0f32).exp() - 1.0)).abs() < 1e-6);
        assert_eq!(vals_f32(&r[0])[1], 6.0);
        let c = Tensor::from_bools(vec![2, 1], &[true, false]).expect("c");
        let s = select(AutoBroadcast::Numpy, &[c, x, f32s(&[1], &[9.0])]).expect("select");
        assert_eq!(s[0].shape(), &[2, 2]);
        assert_eq!(vals_f32(&s[0]), vec![0.0, 1.0, 9.0, 9.0]);
    }

    fn shape_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        prop::collection::vec((1usize..4, 0u8..3), 0..4).prop_flat_map(|dims| {
            let a: Vec<usize> = dims.iter().map(|&(d, m)| if m == 1 { 1 } else { d }).collect();
            let b: Vec<usize> = dims.iter().map(|&(d, m)| if m == 2 { 1 } else { d }).collect();
            (Just(a), 0..=b.len()).prop_map(move |(a, drop)| (a, b[drop..].to_vec()))
        })
    }

    proptest! {
        #[test]
        fn broadcasting_matches_explicit_expansion((sa, sb) in shape_strategy(), seed in 0u32..1000) {
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let av: Vec<f32> = (0..na).map(|i| ((i as u32 * 7 + seed) % 13) as f32 - 6.0).collect();
            let bv: Vec<f32> = (0..nb).map(|i| ((i as u32 * 5 + seed) % 11) as f32 - 5.0).collect();
            let a = Tensor::from_vec(sa.clone(), av.clone()).expect("a");
            let b = Tensor::from_vec(sb.clone(), bv.clone()).expect("b");
            let r = binary("Subtract", AutoBroadcast::Numpy, &[a, b]).expect("sub");
            // Second formulation: walk the output multi-index and clamp each input index by its dim.
            let rank = sa.len().max(sb.len());
            let pad = |s: &[usize]| { let mut p = vec![1; rank - s.len()]; p.extend_from_slice(s); p };
            let (pa, pb) = (pad(&sa), pad(&sb));
            let out: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
            prop_assert_eq!(r[0].shape(), &out[..]);
            let n: usize = out.iter().product();
            let got = vals_f32(&r[0]);
            for (flat, &g) in got.iter().enumerate().take(n) {
                let mut rem = flat;
                let mut idx = vec![0; rank];
                for k in (0..rank).rev() { idx[k] = rem % out[k]; rem /= out[k]; }
                let lin = |p: &[usize]| idx.iter().zip(p).fold(0, |acc, (&i, &d)| acc * d + if d == 1 { 0 } else { i });
                prop_assert_eq!(g, av[lin(&pa)] - bv[lin(&pb)]);
            }
        }
    }
}
