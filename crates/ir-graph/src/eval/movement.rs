//! Data-movement kernels: they copy whole elements, so every byte-sized type and strings work.

use super::values::{
    broadcast_pair, broadcast_strides, ints, numel, strided_offsets, take, take_multi, take_strided, to_usize,
};
use crate::element::ElementType as E;
use crate::error::Result;
use crate::invalid;
use crate::ops::{BroadcastMode, normalize_axis, transpose_order};
use crate::shape::strides_of;
use crate::tensor::Tensor;

/// Same data viewed with `shape` (Reshape, Squeeze, Unsqueeze): no copy.
pub fn reshape(x: &Tensor, shape: Vec<usize>) -> Result<Vec<Tensor>> {
    Ok(vec![x.reshaped(shape)?])
}

/// Concatenation along `axis`.
pub fn concat(inputs: &[Tensor], axis: i64, out_shape: Vec<usize>) -> Result<Vec<Tensor>> {
    let ax = normalize_axis(axis, out_shape.len())?;
    let outer = numel(&out_shape[..ax]);
    let inner = numel(&out_shape[ax + 1..]);
    let mut picks = Vec::with_capacity(numel(&out_shape));
    for o in 0..outer {
        for (s, t) in inputs.iter().enumerate() {
            let chunk = t.shape().get(ax).copied().unwrap_or(0) * inner;
            picks.extend((0..chunk).map(|i| (s, o * chunk + i)));
        }
    }
    let srcs: Vec<&Tensor> = inputs.iter().collect();
    Ok(vec![take_multi("Concat", &srcs, out_shape, &picks)?])
}

/// Axis permutation.
pub fn transpose(x: &Tensor, order: &[i64]) -> Result<Vec<Tensor>> {
    let perm = transpose_order(order, x.shape().len())?;
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let st = strides_of(x.shape());
    let strides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    Ok(vec![take_strided("Transpose", x, shape, &strides)?])
}

/// Broadcast (opset3) in all modes except pdpd.
pub fn broadcast(mode: BroadcastMode, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    let x = inputs.first().ok_or_else(|| invalid!("Broadcast expects inputs"))?;
    let target: Vec<usize> = ints(inputs.get(1).ok_or_else(|| invalid!("Broadcast expects a target shape"))?)?
        .into_iter()
        .map(|v| to_usize(v, "target dim"))
        .collect::<Result<_>>()?;
    let (src_shape, out) = match mode {
        BroadcastMode::Numpy => (x.shape().to_vec(), target),
        BroadcastMode::Bidirectional => {
            let out = broadcast_pair(x.shape(), &target)
                .ok_or_else(|| invalid!("{:?} and {target:?} do not broadcast", x.shape()))?;
            (x.shape().to_vec(), out)
        }
        BroadcastMode::Explicit => {
            let axes = ints(inputs.get(2).ok_or_else(|| invalid!("explicit Broadcast needs axes_mapping"))?)?;
            if axes.len() != x.shape().len() {
                return Err(invalid!("axes_mapping {axes:?} does not match input rank {}", x.shape().len()));
            }
            let mut s = vec![1usize; target.len()];
            let mut prev = None;
            for (&a, &d) in axes.iter().zip(x.shape()) {
                let a = to_usize(a, "axes_mapping")?;
                if a >= target.len() || prev.is_some_and(|p| p >= a) {
                    return Err(invalid!("axes_mapping {axes:?} must increase within rank {}", target.len()));
                }
                prev = Some(a);
                s[a] = d;
            }
            (s, target)
        }
        BroadcastMode::Pdpd => return Err(super::values::not_evaluable("Broadcast", x.element_type())),
    };
    let strides = broadcast_strides(&src_shape, &out)?;
    Ok(vec![take_strided("Broadcast", x, out, &strides)?])
}

/// The shape of `x` as an i64 or i32 vector.
pub fn shape_of(x: &Tensor, et: E) -> Result<Vec<Tensor>> {
    let dims: Vec<i64> = x
        .shape()
        .iter()
        .map(|&d| i64::try_from(d).map_err(|_| invalid!("dim {d} exceeds i64")))
        .collect::<Result<_>>()?;
    let n = dims.len();
    Ok(vec![match et {
        E::I32 => Tensor::from_vec(
            vec![n],
            dims.iter()
                .map(|&d| i32::try_from(d).map_err(|_| invalid!("dim {d} exceeds i32")))
                .collect::<Result<_>>()?,
        )?,
        _ => Tensor::from_vec(vec![n], dims)?,
    }])
}

/// Gather (opset8): negative indices count from the end; out-of-range indices give zeros.
pub fn gather(inputs: &[Tensor], batch_dims: i64) -> Result<Vec<Tensor>> {
    let [data, indices, axis] = inputs else {
        return Err(invalid!("Gather expects 3 inputs"));
    };
    let ds = data.shape();
    let is = indices.shape();
    let axis = match ints(axis)?.as_slice() {
        [a] => normalize_axis(*a, ds.len())?,
        a => return Err(invalid!("Gather axis must be a scalar, got {a:?}")),
    };
    let b = if batch_dims < 0 { batch_dims + is.len() as i64 } else { batch_dims };
    let b = to_usize(b, "batch_dims")?;
    if b > axis || b > is.len() || ds[..b] != is[..b] {
        return Err(invalid!("batch_dims {b} does not fit data {ds:?}, indices {is:?}, axis {axis}"));
    }
    let (nb, no, k, ni) = (numel(&ds[..b]), numel(&ds[b..axis]), ds[axis], numel(&ds[axis + 1..]));
    let nn = numel(&is[b..]);
    let idx = ints(indices)?;
    let mut shape = ds[..axis].to_vec();
    shape.extend_from_slice(&is[b..]);
    shape.extend_from_slice(&ds[axis + 1..]);
    let zero = Tensor::zeros(data.element_type(), vec![1])?;
    let mut picks = Vec::with_capacity(numel(&shape));
    for bi in 0..nb {
        for o in 0..no {
            for n in 0..nn {
                let raw = idx[bi * nn + n];
                let j = if raw < 0 { raw + k as i64 } else { raw };
                for i in 0..ni {
                    picks.push(match usize::try_from(j) {
                        Ok(j) if j < k => (0, ((bi * no + o) * k + j) * ni + i),
                        _ => (1, 0),
                    });
                }
            }
        }
    }
    Ok(vec![take_multi("Gather", &[data, &zero], shape, &picks)?])
}

/// ShuffleChannels: view `axis` as [group, C/group] and swap the two.
pub fn shuffle_channels(x: &Tensor, axis: i64, group: u64) -> Result<Vec<Tensor>> {
    let s = x.shape();
    let ax = normalize_axis(axis, s.len())?;
    let g = usize::try_from(group).map_err(|_| invalid!("group {group} too large"))?;
    let c = s[ax];
    if g == 0 || !c.is_multiple_of(g) {
        return Err(invalid!("{c} channels do not split into {g} groups"));
    }
    let (outer, inner) = (numel(&s[..ax]), numel(&s[ax + 1..]));
    // Output viewed as [outer, C/g, g, inner] reads input viewed as [outer, g, C/g, inner].
    let view = [outer, c / g, g, inner];
    let strides = [c * inner, inner, (c / g) * inner, 1];
    Ok(vec![take("ShuffleChannels", x, s.to_vec(), &strided_offsets(&view, &strides))?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32s(shape: &[usize], v: &[i32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v.to_vec()).expect("tensor")
    }
    fn vals(t: &Tensor) -> Vec<i32> {
        t.values::<i32>().expect("i32").into_owned()
    }
    fn i64v(v: &[i64]) -> Tensor {
        Tensor::from_vec(vec![v.len()], v.to_vec()).expect("tensor")
    }

    #[test]
    fn concat_middle_axis() {
        let a = i32s(&[2, 1], &[1, 2]);
        let b = i32s(&[2, 2], &[3, 4, 5, 6]);
        let r = concat(&[a, b], -1, vec![2, 3]).expect("concat");
        assert_eq!(vals(&r[0]), vec![1, 3, 4, 2, 5, 6]);
    }

    #[test]
    fn transpose_3d() {
        let x = i32s(&[2, 3, 1], &[0, 1, 2, 3, 4, 5]);
        let r = transpose(&x, &[1, 0, 2]).expect("t");
        assert_eq!(r[0].shape(), &[3, 2, 1]);
        assert_eq!(vals(&r[0]), vec![0, 3, 1, 4, 2, 5]);
        let r = transpose(&x, &[]).expect("t");
        assert_eq!(r[0].shape(), &[1, 3, 2]);
    }

    #[test]
    fn broadcast_modes() {
        let x = i32s(&[3, 1], &[1, 2, 3]);
        let r = broadcast(BroadcastMode::Numpy, &[x.clone(), i64v(&[2, 3, 2])]).expect("b");
        assert_eq!(r[0].shape(), &[2, 3, 2]);
        assert_eq!(vals(&r[0])[..6], [1, 1, 2, 2, 3, 3]);
        let r = broadcast(BroadcastMode::Bidirectional, &[x.clone(), i64v(&[1, 2])]).expect("b");
        assert_eq!(r[0].shape(), &[3, 2]);
        let v = i32s(&[3], &[1, 2, 3]);
        let r = broadcast(BroadcastMode::Explicit, &[v, i64v(&[3, 2]), i64v(&[0])]).expect("b");
        assert_eq!(vals(&r[0]), vec![1, 1, 2, 2, 3, 3]);
        assert!(broadcast(BroadcastMode::Numpy, &[x, i64v(&[2, 2])]).is_err());
    }

    #[test]
    fn gather_batch_dims_and_negative() {
        let d = i32s(&[2, 3], &[10, 11, 12, 20, 21, 22]);
        let r = gather(&[d.clone(), i64v(&[-1, 0]), Tensor::scalar(1i64)], 0).expect("g");
        assert_eq!(r[0].shape(), &[2, 2]);
        assert_eq!(vals(&r[0]), vec![12, 10, 22, 20]);
        let idx = Tensor::from_vec(vec![2, 1], vec![2i64, 0]).expect("i");
        let r = gather(&[d.clone(), idx, Tensor::scalar(1i64)], 1).expect("g");
        assert_eq!(r[0].shape(), &[2, 1]);
        assert_eq!(vals(&r[0]), vec![12, 20]);
        let r = gather(&[d, i64v(&[5]), Tensor::scalar(0i64)], 0).expect("g");
        assert_eq!(vals(&r[0]), vec![0, 0, 0]);
        let s = Tensor::from_strings(vec![2], &["x".into(), "y".into()]).expect("s");
        let r = gather(&[s, Tensor::scalar(1i32), Tensor::scalar(0i32)], 0).expect("g");
        assert_eq!(r[0].strings().expect("s"), vec!["y"]);
    }

    #[test]
    fn shuffle_and_shape_of() {
        let x = i32s(&[1, 6], &[0, 1, 2, 3, 4, 5]);
        let r = shuffle_channels(&x, 1, 2).expect("s");
        assert_eq!(vals(&r[0]), vec![0, 3, 1, 4, 2, 5]);
        let r = shape_of(&x, E::I32).expect("s");
        assert_eq!(vals(&r[0]), vec![1, 6]);
    }
}
