//! Neural-network ops: convolution, pooling, normalization, softmax, Gemm/MatMul, Flatten, Dropout.

use ir_graph::ops::{self, EpsMode, PadType, RoundingType};
use ir_graph::{ElementType, OutputRef};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    let d = "";
    r.register(d, "Conv", &[1, 11, 22], conv);
    r.register(d, "ConvInteger", &[10], conv_integer);
    r.register(d, "MatMulInteger", &[10], matmul_integer);
    r.register(d, "MaxPool", &[1, 8, 10, 11, 12, 22], max_pool);
    r.register(d, "AveragePool", &[1, 7, 10, 11, 19, 22], avg_pool);
    r.register(d, "GlobalAveragePool", &[1, 22], |c| global_pool(c, true));
    r.register(d, "GlobalMaxPool", &[1, 22], |c| global_pool(c, false));
    r.register(d, "LpPool", &[1, 2, 11, 18, 22], lp_pool);
    r.register(d, "GlobalLpPool", &[1, 2, 22], global_lp_pool);
    r.register(d, "BatchNormalization", &[1, 6, 7, 9, 14, 15], batch_norm);
    r.register(d, "InstanceNormalization", &[1, 6, 22], instance_norm);
    r.register(d, "LayerNormalization", &[17], layer_norm);
    r.register(d, "MeanVarianceNormalization", &[9, 13], mvn);
    r.register(d, "LRN", &[1, 13], lrn);
    r.register(d, "Softmax", &[1, 11], |c| softmax_legacy(c, false));
    r.register(d, "Softmax", &[13], |c| softmax(c, false));
    r.register(d, "LogSoftmax", &[1, 11], |c| softmax_legacy(c, true));
    r.register(d, "LogSoftmax", &[13], |c| softmax(c, true));
    r.register(d, "Gemm", &[1, 6, 7, 9, 11, 13], gemm);
    r.register(d, "MatMul", &[1, 9, 13], matmul);
    r.register(d, "Flatten", &[1, 9, 11, 13, 21, 23], flatten_op);
    r.register(d, "Dropout", &[1, 6, 7, 10, 12, 13, 22], dropout);
}

fn pad_type(c: &NodeContext<'_>) -> Result<PadType, FrontendError> {
    Ok(match c.attr_string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => PadType::Explicit,
        "SAME_UPPER" => PadType::SameUpper,
        "SAME_LOWER" => PadType::SameLower,
        "VALID" => PadType::Valid,
        other => return Err(c.error(format!("unknown auto_pad '{other}'"))),
    })
}

/// Strides, dilations, pads_begin, pads_end for `n` spatial dims (ONNX defaults: 1s and 0s).
struct WindowAttrs {
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads_begin: Vec<i64>,
    pads_end: Vec<i64>,
    auto_pad: PadType,
}

fn window_attrs(c: &NodeContext<'_>, n: usize) -> Result<WindowAttrs, FrontendError> {
    let list = |name: &str, default: i64| -> Result<Vec<i64>, FrontendError> {
        match c.attr_ints(name)? {
            Some(v) if v.len() == n => Ok(v),
            Some(v) if v.is_empty() => Ok(vec![default; n]),
            Some(v) => Err(c.error(format!("attribute '{name}' has {} values for {n} spatial dims", v.len()))),
            None => Ok(vec![default; n]),
        }
    };
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let auto_pad = pad_type(c)?;
    let pads = c.attr_ints("pads")?.filter(|p| !p.is_empty()).unwrap_or_else(|| vec![0; 2 * n]);
    if pads.len() != 2 * n {
        return Err(c.error(format!("attribute 'pads' has {} values for {n} spatial dims", pads.len())));
    }
    let (pads_begin, pads_end) = if matches!(auto_pad, PadType::Explicit) {
        (pads[..n].to_vec(), pads[n..].to_vec())
    } else {
        (vec![0; n], vec![0; n])
    };
    Ok(WindowAttrs { strides, dilations, pads_begin, pads_end, auto_pad })
}

/// Number of spatial dims from `kernel_shape`, else from the rank of `x`.
fn spatial_rank(c: &NodeContext<'_>, x: OutputRef, weights: Option<OutputRef>) -> Result<usize, FrontendError> {
    if let Some(k) = c.attr_ints("kernel_shape")? {
        return Ok(k.len());
    }
    if let Some(r) = weights.and_then(|w| c.shape(w).rank()) {
        return Ok(r.saturating_sub(2));
    }
    Ok(c.static_rank(x, "this op")?.saturating_sub(2))
}

/// Reshapes a per-channel vector `[C]` to `[1, C, 1, ...]` for an input of `rank`.
pub(super) fn channel_vector(c: &mut NodeContext<'_>, v: OutputRef, rank: usize) -> Result<OutputRef, FrontendError> {
    let mut target = vec![1i64; rank.max(2)];
    target[1] = -1;
    if let Some(t) = c.model().const_value(v).cloned() {
        let mut shape = vec![1usize; rank.max(2)];
        shape[1] = t.numel();
        let reshaped = t.reshaped(shape).map_err(|e| c.error(e.to_string()))?;
        return c.constant(reshaped);
    }
    let target = c.const_vec(&target)?;
    c.add(ops::Reshape { special_zero: false }, &[v, target])
}

fn conv(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let w = c.input(1)?;
    let b = c.opt_input(2);
    conv_with(c, x, w, b)
}

/// `x - zero_point` in i32 (the zero point reshaped to `[len, 1, ...]` over `rank` dims when it
/// is per-channel of the first axis).
fn minus_zero_point(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    zp: Option<OutputRef>,
    rank: usize,
) -> Result<OutputRef, FrontendError> {
    let i32t = ElementType::I32;
    let x = c.add(ops::Convert { destination_type: i32t }, &[x])?;
    let Some(zp) = zp else { return Ok(x) };
    let mut zp = c.add(ops::Convert { destination_type: i32t }, &[zp])?;
    if c.shape(zp).rank() == Some(1) && rank > 1 && c.shape(zp).to_static() != Some(vec![1]) {
        let mut target = vec![1i64; rank];
        target[0] = -1;
        let t = c.const_vec(&target)?;
        zp = c.add(ops::Reshape { special_zero: false }, &[zp, t])?;
    }
    c.add(ops::Subtract::default(), &[x, zp])
}

/// ConvInteger: Convert to i32, subtract zero points, Convolution in i32.
fn conv_integer(c: &mut NodeContext<'_>) -> R {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let (xz, wz) = (c.opt_input(2), c.opt_input(3));
    let x = minus_zero_point(c, x, xz, 0)?;
    let wr = c.static_rank(w, "ConvInteger")?;
    let w = minus_zero_point(c, w, wz, wr)?;
    conv_with(c, x, w, None)
}

/// MatMulInteger: Convert to i32, subtract zero points (A's per row), MatMul in i32.
fn matmul_integer(c: &mut NodeContext<'_>) -> R {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let (az, bz) = (c.opt_input(2), c.opt_input(3));
    let a = c.add(ops::Convert { destination_type: ElementType::I32 }, &[a])?;
    let a = match az {
        Some(z) => {
            let mut z = c.add(ops::Convert { destination_type: ElementType::I32 }, &[z])?;
            if c.shape(z).rank() == Some(1) && c.shape(z).to_static() != Some(vec![1]) {
                let t = c.const_vec(&[-1, 1])?;
                z = c.add(ops::Reshape { special_zero: false }, &[z, t])?;
            }
            c.add(ops::Subtract::default(), &[a, z])?
        }
        None => a,
    };
    let b = minus_zero_point(c, b, bz, 0)?;
    Ok(vec![c.add(ops::MatMul::default(), &[a, b])?])
}

/// Convolution of `x` by `w` with the node's window attributes and `group`, plus an optional bias.
pub(super) fn conv_with(c: &mut NodeContext<'_>, x: OutputRef, w: OutputRef, bias: Option<OutputRef>) -> R {
    let n = spatial_rank(c, x, Some(w))?;
    let a = window_attrs(c, n)?;
    let group = c.attr_int("group", 1)?;
    if group < 1 {
        return Err(c.error(format!("group must be positive, got {group}")));
    }
    let y = if group == 1 {
        c.add(
            ops::Convolution {
                strides: a.strides,
                dilations: a.dilations,
                pads_begin: a.pads_begin,
                pads_end: a.pads_end,
                auto_pad: a.auto_pad,
            },
            &[x, w],
        )?
    } else {
        // Weights [O, I/G, k...] -> [G, O/G, I/G, k...].
        let ws = c.shape(w).to_static().ok_or_else(|| c.error("grouped convolution needs weights of static shape"))?;
        let g = group as usize;
        if ws.len() < 3 || ws[0] % g != 0 {
            return Err(c.error(format!("weights of shape {ws:?} do not split into {group} groups")));
        }
        let mut target: Vec<i64> = vec![group, (ws[0] / g) as i64];
        target.extend(ws[1..].iter().map(|&d| d as i64));
        let wg = if let Some(t) = c.model().const_value(w).cloned() {
            let shape: Vec<usize> = target.iter().map(|&d| d as usize).collect();
            let t = t.reshaped(shape).map_err(|e| c.error(e.to_string()))?;
            c.constant(t)?
        } else {
            let t = c.const_vec(&target)?;
            c.add(ops::Reshape { special_zero: false }, &[w, t])?
        };
        c.add(
            ops::GroupConvolution {
                strides: a.strides,
                pads_begin: a.pads_begin,
                pads_end: a.pads_end,
                dilations: a.dilations,
                auto_pad: a.auto_pad,
            },
            &[x, wg],
        )?
    };
    match bias {
        None => Ok(vec![y]),
        Some(b) => {
            let rank = c.static_rank(y, "the Conv bias")?;
            let b = channel_vector(c, b, rank)?;
            Ok(vec![c.add(ops::Add::default(), &[y, b])?])
        }
    }
}

fn kernel(c: &NodeContext<'_>) -> Result<Vec<i64>, FrontendError> {
    c.attr_ints("kernel_shape")?.ok_or_else(|| c.error("attribute 'kernel_shape' is required"))
}

fn rounding(c: &NodeContext<'_>) -> Result<RoundingType, FrontendError> {
    Ok(if c.attr_int("ceil_mode", 0)? != 0 { RoundingType::Ceil } else { RoundingType::Floor })
}

fn max_pool(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let k = kernel(c)?;
    let a = window_attrs(c, k.len())?;
    let column_major = c.attr_int("storage_order", 0)? != 0 && c.output_used(1) && k.len() > 1;
    let v8 = ops::MaxPool8 {
        strides: a.strides,
        dilations: a.dilations,
        pads_begin: a.pads_begin,
        pads_end: a.pads_end,
        kernel: k,
        rounding_type: rounding(c)?,
        auto_pad: a.auto_pad,
        index_element_type: ElementType::I64,
        axis: 0,
    };
    // ONNX's ceil mode drops a last window that would start in the end padding: opset14's
    // `ceil_torch`; MaxPool-8's `ceil` keeps that window in OpenVINO.
    let id = if v8.rounding_type == RoundingType::Ceil {
        let ops::MaxPool8 { strides, dilations, pads_begin, pads_end, kernel, auto_pad, .. } = v8;
        let v14 = ops::MaxPool14 {
            strides,
            dilations,
            pads_begin,
            pads_end,
            kernel,
            rounding_type: RoundingType::CeilTorch,
            auto_pad,
            index_element_type: ElementType::I64,
            axis: 0,
        };
        c.add_node(v14, &[x])?
    } else {
        c.add_node(v8, &[x])?
    };
    if !c.output_used(1) {
        return Ok(vec![id.into()]);
    }
    let mut idx = OutputRef::new(id, 1);
    if column_major {
        idx = column_major_indices(c, x, idx)?;
    }
    Ok(vec![OutputRef::new(id, 0), idx])
}

/// MaxPool's flat row-major indices over `[N, C, H, W]` rewritten column-major within each
/// `H x W` plane (`storage_order = 1`): `off + h * W + w` becomes `off + h + w * H`.
fn column_major_indices(c: &mut NodeContext<'_>, x: OutputRef, idx: OutputRef) -> Result<OutputRef, FrontendError> {
    let dims = c
        .shape(x)
        .to_static()
        .filter(|d| d.len() == 4)
        .ok_or_else(|| c.error("column-major indices (storage_order = 1) need a 4-D input of static shape"))?;
    let (h, w) = (dims[2] as f64, dims[3] as f64);
    let i64t = ElementType::I64;
    let plane = c.const_scalar(i64t, h * w)?;
    let r = c.add(ops::FloorMod::default(), &[idx, plane])?;
    let off = c.add(ops::Subtract::default(), &[idx, r])?;
    let wc = c.const_scalar(i64t, w)?;
    let row = c.add(ops::Divide { auto_broadcast: Default::default(), m_pythondiv: true }, &[r, wc])?;
    let col = c.add(ops::FloorMod::default(), &[r, wc])?;
    let hc = c.const_scalar(i64t, h)?;
    let col = c.add(ops::Multiply::default(), &[col, hc])?;
    let y = c.add(ops::Add::default(), &[off, row])?;
    c.add(ops::Add::default(), &[y, col])
}

fn avg_pool(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let exclude_pad = c.attr_int("count_include_pad", 0)? == 0;
    Ok(vec![avg_pool_of(c, x, exclude_pad)?])
}

/// AvgPool-1 of `x` with the node's window attributes, AvgPool-16 when dilated.
fn avg_pool_of(c: &mut NodeContext<'_>, x: OutputRef, exclude_pad: bool) -> Result<OutputRef, FrontendError> {
    let k = kernel(c)?;
    let a = window_attrs(c, k.len())?;
    let rounding_type = rounding(c)?;
    // ONNX's ceil mode drops a last window that would start in the end padding: that is
    // AvgPool-16's `ceil_torch`; AvgPool-1's `ceil` keeps such a window in OpenVINO.
    if a.dilations.iter().any(|&d| d != 1) || rounding_type == RoundingType::Ceil {
        let rounding_type = if rounding_type == RoundingType::Ceil { RoundingType::CeilTorch } else { rounding_type };
        return c.add(
            ops::AvgPool16 {
                kernel: k,
                strides: a.strides,
                pads_begin: a.pads_begin,
                pads_end: a.pads_end,
                exclude_pad,
                auto_pad: a.auto_pad,
                rounding_type,
                dilations: a.dilations,
            },
            &[x],
        );
    }
    c.add(
        ops::AvgPool {
            kernel: k,
            strides: a.strides,
            pads_begin: a.pads_begin,
            pads_end: a.pads_end,
            exclude_pad,
            auto_pad: a.auto_pad,
            rounding_type,
        },
        &[x],
    )
}

/// The `p` attribute: a float in opset 1, an integer from opset 2 on.
fn lp_exponent(c: &NodeContext<'_>) -> Result<f64, FrontendError> {
    if c.opset() < 2 { Ok(c.attr_float("p", 2.0)? as f64) } else { Ok(c.attr_int("p", 2)? as f64) }
}

/// LpPool: `(AvgPool(|x|^p) * prod(kernel))^(1/p)`, as OpenVINO's frontend builds it.
fn lp_pool(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let p = lp_exponent(c)?;
    let k = kernel(c)?;
    let abs = c.add(ops::Abs {}, &[x])?;
    let pw = c.const_scalar(et, p)?;
    let y = c.add(ops::Power::default(), &[abs, pw])?;
    let y = avg_pool_of(c, y, false)?;
    let n = c.const_scalar(et, k.iter().product::<i64>() as f64)?;
    let y = c.add(ops::Multiply::default(), &[y, n])?;
    let inv = c.const_scalar(et, 1.0 / p)?;
    Ok(vec![c.add(ops::Power::default(), &[y, inv])?])
}

/// GlobalLpPool: `(sum over spatial dims of |x|^p)^(1/p)`.
fn global_lp_pool(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    let p = lp_exponent(c)?;
    let rank = c.static_rank(x, "GlobalLpPool")?;
    let axes: Vec<i64> = (2..rank as i64).collect();
    let axes = c.const_vec(&axes)?;
    let abs = c.add(ops::Abs {}, &[x])?;
    let pw = c.const_scalar(et, p)?;
    let y = c.add(ops::Power::default(), &[abs, pw])?;
    let y = c.add(ops::ReduceSum { keep_dims: true }, &[y, axes])?;
    let inv = c.const_scalar(et, 1.0 / p)?;
    Ok(vec![c.add(ops::Power::default(), &[y, inv])?])
}

fn global_pool(c: &mut NodeContext<'_>, mean: bool) -> R {
    let x = c.input(0)?;
    let rank = c.static_rank(x, "global pooling")?;
    let axes: Vec<i64> = (2..rank as i64).collect();
    let axes = c.const_vec(&axes)?;
    let y = if mean {
        c.add(ops::ReduceMean { keep_dims: true }, &[x, axes])?
    } else {
        c.add(ops::ReduceMax { keep_dims: true }, &[x, axes])?
    };
    Ok(vec![y])
}

fn batch_norm(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (scale, bias, mean, var) = (c.input(1)?, c.input(2)?, c.input(3)?, c.input(4)?);
    if c.opset() < 7 && c.attr_int("spatial", 1)? == 0 {
        return Err(c.error("BatchNormalization with spatial = 0 is not supported"));
    }
    if c.opset() >= 14 && c.attr_int("training_mode", 0)? != 0 {
        return super::training::batch_norm_training(c);
    }
    if (1..c.output_count()).any(|i| c.output_used(i)) {
        return Err(c.error("the training outputs (running mean/var, saved mean/var) are not supported"));
    }
    let epsilon = c.attr_float("epsilon", 1e-5)? as f64;
    Ok(vec![c.add(ops::BatchNormInference { epsilon }, &[x, scale, bias, mean, var])?])
}

fn mvn_axes(c: &mut NodeContext<'_>, axes: &[i64]) -> Result<OutputRef, FrontendError> {
    c.const_vec(axes)
}

fn instance_norm(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let (scale, bias) = (c.input(1)?, c.input(2)?);
    let eps = c.attr_float("epsilon", 1e-5)?;
    let rank = c.static_rank(x, "InstanceNormalization")?;
    let axes: Vec<i64> = (2..rank as i64).collect();
    let axes = mvn_axes(c, &axes)?;
    let y = c.add(ops::Mvn { eps, normalize_variance: true, eps_mode: EpsMode::InsideSqrt }, &[x, axes])?;
    let s = channel_vector(c, scale, rank)?;
    let b = channel_vector(c, bias, rank)?;
    let y = c.add(ops::Multiply::default(), &[y, s])?;
    Ok(vec![c.add(ops::Add::default(), &[y, b])?])
}

/// LayerNormalization: one MVN when only `Y` is used; when `Mean` or `InvStdDev` is used too,
/// the ONNX function body (ReduceMean, Subtract, Sqrt, Divide) computed in `stash_type`.
fn layer_norm(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let scale = c.input(1)?;
    let axis = c.attr_int("axis", -1)?;
    let eps = c.attr_float("epsilon", 1e-5)?;
    let axes: Vec<i64> = if axis < 0 {
        (axis..0).collect()
    } else {
        let rank = c.static_rank(x, "LayerNormalization with a non-negative axis")? as i64;
        (axis..rank).collect()
    };
    let axes = mvn_axes(c, &axes)?;
    let stats_used = c.output_used(1) || c.output_used(2);
    let (normalized, mean, inv_std) = if stats_used {
        let x_et = c.element_type(x);
        let stash = c.attr_int("stash_type", 1)?;
        let stash = crate::load::element_type(stash as i32).map_err(|m| c.error(format!("stash_type: {m}")))?;
        let convert = |c: &mut NodeContext<'_>, v: OutputRef, to: ElementType| {
            if c.element_type(v) == to { Ok(v) } else { c.add(ops::Convert { destination_type: to }, &[v]) }
        };
        let xs = convert(c, x, stash)?;
        let mean = c.add(ops::ReduceMean { keep_dims: true }, &[xs, axes])?;
        let d = c.add(ops::Subtract::default(), &[xs, mean])?;
        let d2 = c.add(ops::Multiply::default(), &[d, d])?;
        let var = c.add(ops::ReduceMean { keep_dims: true }, &[d2, axes])?;
        let e = c.const_scalar(stash, eps as f64)?;
        let var = c.add(ops::Add::default(), &[var, e])?;
        let std = c.add(ops::Sqrt {}, &[var])?;
        let one = c.const_scalar(stash, 1.0)?;
        let inv_std = c.add(ops::Divide::default(), &[one, std])?;
        let n = c.add(ops::Multiply::default(), &[d, inv_std])?;
        (convert(c, n, x_et)?, Some(mean), Some(inv_std))
    } else {
        let n = c.add(ops::Mvn { eps, normalize_variance: true, eps_mode: EpsMode::InsideSqrt }, &[x, axes])?;
        (n, None, None)
    };
    let mut y = c.add(ops::Multiply::default(), &[normalized, scale])?;
    if let Some(b) = c.opt_input(2) {
        y = c.add(ops::Add::default(), &[y, b])?;
    }
    Ok([Some(y), mean, inv_std].into_iter().flatten().collect())
}

fn mvn(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let axes = c.attr_ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]);
    let axes = mvn_axes(c, &axes)?;
    Ok(vec![c.add(ops::Mvn { eps: 1e-9, normalize_variance: true, eps_mode: EpsMode::OutsideSqrt }, &[x, axes])?])
}

fn lrn(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let alpha = c.attr_float("alpha", 1e-4)? as f64;
    let beta = c.attr_float("beta", 0.75)? as f64;
    let bias = c.attr_float("bias", 1.0)? as f64;
    let size = c.attr_int_req("size")?;
    let size = u64::try_from(size).map_err(|_| c.error(format!("size must be positive, got {size}")))?;
    // OpenVINO's LRN-1 uses ONNX's convention (alpha divided by size); the axes input is [1].
    let axes = c.const_vec(&[1])?;
    Ok(vec![c.add(ops::Lrn { alpha, beta, bias, size }, &[x, axes])?])
}

fn softmax_op(c: &mut NodeContext<'_>, x: OutputRef, axis: i64, log: bool) -> Result<OutputRef, FrontendError> {
    if log { c.add(ops::LogSoftmax { axis }, &[x]) } else { c.add(ops::SoftMax8 { axis }, &[x]) }
}

/// Softmax-1/11: coerce to 2-D at `axis`, normalize along dim 1, reshape back.
fn softmax_legacy(c: &mut NodeContext<'_>, log: bool) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", 1)?;
    let shape = c.shape(x);
    if let Some(rank) = shape.rank() {
        let norm = if axis < 0 { axis + rank as i64 } else { axis };
        if rank == 0 || norm == rank as i64 - 1 {
            // Only the last axis is flattened: the same as normalizing along it.
            return Ok(vec![softmax_op(c, x, if rank == 0 { 0 } else { norm }, log)?]);
        }
    }
    let flat = flatten(c, x, axis)?;
    let y = softmax_op(c, flat, 1, log)?;
    let back = match shape.to_static() {
        Some(s) => c.const_vec(&s.iter().map(|&d| d as i64).collect::<Vec<_>>())?,
        None => c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?,
    };
    Ok(vec![c.add(ops::Reshape { special_zero: false }, &[y, back])?])
}

fn softmax(c: &mut NodeContext<'_>, log: bool) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", -1)?;
    Ok(vec![softmax_op(c, x, axis, log)?])
}

fn gemm(c: &mut NodeContext<'_>) -> R {
    let a = c.input(0)?;
    let b = c.input(1)?;
    let alpha = c.attr_float("alpha", 1.0)? as f64;
    let beta = c.attr_float("beta", 1.0)? as f64;
    let transpose_a = c.attr_int("transA", 0)? != 0;
    let transpose_b = c.attr_int("transB", 0)? != 0;
    let et = c.element_type(a);
    let mut y = c.add(ops::MatMul { transpose_a, transpose_b }, &[a, b])?;
    if alpha != 1.0 {
        let k = c.const_scalar(et, alpha)?;
        y = c.add(ops::Multiply::default(), &[y, k])?;
    }
    if let Some(cc) = c.opt_input(2)
        && beta != 0.0
    {
        let mut cc = cc;
        if beta != 1.0 {
            let k = c.const_scalar(et, beta)?;
            cc = c.add(ops::Multiply::default(), &[cc, k])?;
        }
        y = c.add(ops::Add::default(), &[y, cc])?;
    }
    Ok(vec![y])
}

fn matmul(c: &mut NodeContext<'_>) -> R {
    let (a, b) = (c.input(0)?, c.input(1)?);
    Ok(vec![c.add(ops::MatMul::default(), &[a, b])?])
}

/// Reshapes `x` to `[prod(dims before axis), prod(dims from axis)]`: a constant target when the
/// shape is static, else a ShapeOf/Gather/ReduceProd/Concat subgraph.
pub(super) fn flatten(c: &mut NodeContext<'_>, x: OutputRef, axis: i64) -> Result<OutputRef, FrontendError> {
    let shape = c.shape(x);
    let rank = c.static_rank(x, "Flatten")?;
    let axis_n = if axis < 0 { axis + rank as i64 } else { axis };
    if axis_n < 0 || axis_n > rank as i64 {
        return Err(c.error(format!("axis {axis} is out of range for rank {rank}")));
    }
    let axis = axis_n as usize;
    if let Some(s) = shape.to_static() {
        let first: usize = s[..axis].iter().product();
        let second: usize = s[axis..].iter().product();
        let target = c.const_vec(&[first as i64, second as i64])?;
        return c.add(ops::Reshape { special_zero: false }, &[x, target]);
    }
    let dims = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let zero_axis = c.const_i64(&[], vec![0])?;
    let part = |c: &mut NodeContext<'_>, range: std::ops::Range<usize>| -> Result<OutputRef, FrontendError> {
        if range.is_empty() {
            return c.const_vec(&[1]);
        }
        let idx: Vec<i64> = range.map(|i| i as i64).collect();
        let idx = c.const_vec(&idx)?;
        let g = c.add(ops::Gather { batch_dims: 0 }, &[dims, idx, zero_axis])?;
        let ax = c.const_vec(&[0])?;
        c.add(ops::ReduceProd { keep_dims: true }, &[g, ax])
    };
    let first = part(c, 0..axis)?;
    let second = part(c, axis..rank)?;
    let target = c.add(ops::Concat { axis: 0 }, &[first, second])?;
    c.add(ops::Reshape { special_zero: false }, &[x, target])
}

fn flatten_op(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let axis = c.attr_int("axis", 1)?;
    Ok(vec![flatten(c, x, axis)?])
}

/// Dropout: the identity in inference. In training mode (training_mode true, or a runtime
/// training_mode) elements are kept where a RandomUniform draw is `>= ratio` and scaled by
/// `1 / (1 - ratio)`; a runtime training_mode selects between the two.
fn dropout(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let training = if c.opset() >= 12 { c.opt_input(2) } else { None };
    let training = match (training, c.const_input(2)) {
        (None, _) => None,
        (Some(_), Some(t)) => {
            let on = t.to_i64_vec().map_err(|e| c.error(e.to_string()))?.iter().any(|&v| v != 0);
            on.then_some(None)
        }
        (Some(t), None) => Some(Some(t)),
    };
    let Some(runtime_training) = training else {
        if !c.output_used(1) {
            return Ok(vec![x]);
        }
        // Inference: nothing is dropped, so the mask is all ones (true from opset 10 on).
        let et = if c.opset() >= 10 { ElementType::Boolean } else { c.element_type(x) };
        let one = c.const_scalar(et, 1.0)?;
        let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
        let mask = c.add(ops::Broadcast::default(), &[one, shape])?;
        return Ok(vec![x, mask]);
    };
    let et = c.element_type(x);
    if !et.is_float() {
        return Err(c.error(format!("training-mode Dropout needs a floating-point input, got {et}")));
    }
    let ratio = match c.opt_input(1) {
        Some(r) if c.element_type(r) == et => r,
        Some(r) => c.add(ops::Convert { destination_type: et }, &[r])?,
        None => c.const_scalar(et, 0.5)?,
    };
    let seed = c.attr_int_opt("seed")?.map_or(0, |s| s as u64);
    let shape = match c.shape(x).to_static() {
        Some(s) => c.const_vec(&s.iter().map(|&d| d as i64).collect::<Vec<_>>())?,
        None => c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?,
    };
    let (lo, hi) = (c.const_scalar(et, 0.0)?, c.const_scalar(et, 1.0)?);
    let draw = c.add(ops::RandomUniform { output_type: et, global_seed: 0, op_seed: seed }, &[shape, lo, hi])?;
    let mut keep = c.add(ops::GreaterEqual::default(), &[draw, ratio])?;
    let keep_f = c.add(ops::Convert { destination_type: et }, &[keep])?;
    let kept = c.add(ops::Multiply::default(), &[x, keep_f])?;
    let rest = c.add(ops::Subtract::default(), &[hi, ratio])?;
    let mut y = c.add(ops::Divide::default(), &[kept, rest])?;
    if let Some(t) = runtime_training {
        let t = if c.element_type(t) == ElementType::Boolean {
            t
        } else {
            c.add(ops::Convert { destination_type: ElementType::Boolean }, &[t])?
        };
        y = c.add(ops::Select::default(), &[t, y, x])?;
        let not_training = c.add(ops::LogicalNot {}, &[t])?;
        keep = c.add(ops::LogicalOr::default(), &[keep, not_training])?;
    }
    Ok(vec![y, keep])
}
