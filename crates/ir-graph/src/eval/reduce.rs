//! Reductions over the axes of input 1.

use super::values::{Vals, decode, encode, not_evaluable, numel, strided_offsets};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::reduction_axes;
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Reduction `op` (IR type name) of input 0 over the axes in input 1.
pub fn reduce(op: &str, keep_dims: bool, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let [x, axes] = inputs else {
        return Err(invalid!("{op} expects 2 inputs"));
    };
    let shape = x.shape();
    let axes = reduction_axes(axes, shape.len())?;
    let kept: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let out_shape: Vec<usize> = if keep_dims {
        kept.clone()
    } else {
        shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
    };
    let ks = strides_of(&kept);
    let eff: Vec<usize> = (0..shape.len()).map(|i| if axes.contains(&i) { 0 } else { ks[i] }).collect();
    let map = strided_offsets(shape, &eff);
    let m = numel(&kept);
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    let et = x.element_type();
    let fail = || not_evaluable(op, et);
    let out = match decode(op, x)? {
        Vals::F(v) => {
            let init = match op {
                "ReduceProd" => 1.0,
                "ReduceMax" => f64::NEG_INFINITY,
                "ReduceMin" => f64::INFINITY,
                "ReduceSum" | "ReduceMean" | "ReduceL1" | "ReduceL2" => 0.0,
                _ => return Err(fail()),
            };
            let mut acc = vec![init; m];
            for (&o, &a) in map.iter().zip(&v) {
                let r = &mut acc[o];
                *r = match op {
                    "ReduceProd" => *r * a,
                    "ReduceMax" if a.is_nan() || a > *r => a,
                    "ReduceMin" if a.is_nan() || a < *r => a,
                    "ReduceMax" | "ReduceMin" => *r,
                    "ReduceL1" => *r + a.abs(),
                    "ReduceL2" => *r + a * a,
                    _ => *r + a,
                };
            }
            match op {
                "ReduceMean" => acc.iter_mut().for_each(|r| *r /= count as f64),
                "ReduceL2" => acc.iter_mut().for_each(|r| *r = r.sqrt()),
                _ => {}
            }
            Vals::F(acc)
        }
        Vals::I(v) => {
            let init = match op {
                "ReduceProd" => 1,
                // Extremes of an empty set have no integer value.
                "ReduceMax" | "ReduceMin" | "ReduceMean" if count == 0 => return Err(fail()),
                "ReduceMax" => i128::MIN,
                "ReduceMin" => i128::MAX,
                "ReduceSum" | "ReduceMean" | "ReduceL1" => 0,
                _ => return Err(fail()),
            };
            let mut acc = vec![init; m];
            for (&o, &a) in map.iter().zip(&v) {
                let r = &mut acc[o];
                *r = match op {
                    "ReduceProd" => r.wrapping_mul(a),
                    "ReduceMax" => (*r).max(a),
                    "ReduceMin" => (*r).min(a),
                    "ReduceL1" => r.wrapping_add(a.abs()),
                    _ => r.wrapping_add(a),
                };
            }
            if op == "ReduceMean" {
                acc.iter_mut().for_each(|r| *r /= count as i128);
            }
            Vals::I(acc)
        }
        Vals::B(v) => {
            let all = match op {
                "ReduceLogicalAnd" => true,
                "ReduceLogicalOr" => false,
                _ => return Err(fail()),
            };
            let mut acc = vec![all; m];
            for (&o, &a) in map.iter().zip(&v) {
                acc[o] = if all { acc[o] && a } else { acc[o] || a };
            }
            Vals::B(acc)
        }
    };
    Ok(vec![encode(op, if matches!(out, Vals::B(_)) { E::Boolean } else { et }, out_shape, &out)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> Tensor {
        Tensor::from_vec(vec![2, 3], vec![1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0]).expect("x")
    }
    fn axes(v: &[i64]) -> Tensor {
        Tensor::from_vec(vec![v.len()], v.to_vec()).expect("axes")
    }
    fn f(t: &Tensor) -> Vec<f32> {
        t.values::<f32>().expect("f32").into_owned()
    }

    #[test]
    fn reductions_over_axes() {
        let r = reduce("ReduceSum", false, &[x(), axes(&[1])]).expect("sum");
        assert_eq!((r[0].shape(), f(&r[0])), (&[2usize][..], vec![2.0, 3.0]));
        let r = reduce("ReduceMean", true, &[x(), axes(&[0])]).expect("mean");
        assert_eq!((r[0].shape(), f(&r[0])), (&[1usize, 3][..], vec![2.5, 1.5, -1.5]));
        let r = reduce("ReduceMax", false, &[x(), axes(&[-1, 0])]).expect("max");
        assert_eq!((r[0].shape(), f(&r[0])), (&[][..], vec![5.0]));
        let r = reduce("ReduceL1", false, &[x(), axes(&[1])]).expect("l1");
        assert_eq!(f(&r[0]), vec![6.0, 15.0]);
        let r = reduce("ReduceL2", false, &[x(), axes(&[0])]).expect("l2");
        assert_eq!(f(&r[0]), vec![17f32.sqrt(), 29f32.sqrt(), 45f32.sqrt()]);
        let r = reduce("ReduceProd", false, &[x(), axes(&[])]).expect("none");
        assert_eq!(f(&r[0]), f(&x()));
    }

    #[test]
    fn empty_and_integer_reductions() {
        let e = Tensor::from_vec(vec![2, 0], Vec::<f32>::new()).expect("e");
        let r = reduce("ReduceMean", false, &[e.clone(), axes(&[1])]).expect("mean");
        assert!(f(&r[0]).iter().all(|v| v.is_nan()));
        let r = reduce("ReduceSum", false, &[e.clone(), axes(&[1])]).expect("sum");
        assert_eq!(f(&r[0]), vec![0.0, 0.0]);
        let r = reduce("ReduceProd", false, &[e, axes(&[1])]).expect("prod");
        assert_eq!(f(&r[0]), vec![1.0, 1.0]);
        let i = Tensor::from_vec(vec![3], vec![7i32, -2, 2]).expect("i");
        let r = reduce("ReduceMean", false, &[i.clone(), axes(&[0])]).expect("mean");
        assert_eq!(&*r[0].values::<i32>().expect("i32"), &[2]);
        let r = reduce("ReduceMin", false, &[i, axes(&[0])]).expect("min");
        assert_eq!(&*r[0].values::<i32>().expect("i32"), &[-2]);
        let b = Tensor::from_bools(vec![2, 2], &[true, false, true, true]).expect("b");
        let r = reduce("ReduceLogicalAnd", false, &[b.clone(), axes(&[1])]).expect("and");
        assert_eq!(r[0].bools().expect("b"), vec![false, true]);
        let r = reduce("ReduceLogicalOr", false, &[b, axes(&[0])]).expect("or");
        assert_eq!(r[0].bools().expect("b"), vec![true, true]);
    }
}
