//! ConvTranspose -> ConvolutionBackpropData / GroupConvolutionBackpropData (+ bias Add), with
//! `auto_pad` resolved to explicit pads and `output_shape` passed as input 2, as OpenVINO does.

use ir_graph::OutputRef;
use ir_graph::ops::{self, PadType};

use super::nn::channel_vector;
use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "ConvTranspose", &[1, 11, 22], conv_transpose);
}

fn conv_transpose(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let w = c.input(1)?;
    let n = match c.attr_ints("kernel_shape")? {
        Some(k) => k.len(),
        None => c.static_rank(w, "ConvTranspose")?.saturating_sub(2),
    };
    let list = |c: &NodeContext<'_>, name: &str, default: i64| -> Result<Vec<i64>, FrontendError> {
        match c.attr_ints(name)? {
            Some(v) if v.len() == n => Ok(v),
            Some(v) if v.is_empty() => Ok(vec![default; n]),
            None => Ok(vec![default; n]),
            Some(v) => Err(c.error(format!("attribute '{name}' has {} values for {n} spatial dims", v.len()))),
        }
    };
    let strides = list(c, "strides", 1)?;
    let dilations = list(c, "dilations", 1)?;
    let output_padding = list(c, "output_padding", 0)?;
    let group = c.attr_int("group", 1)?;
    if group < 1 {
        return Err(c.error(format!("group must be positive, got {group}")));
    }
    let pads = c.attr_ints("pads")?.filter(|p| !p.is_empty()).unwrap_or_else(|| vec![0; 2 * n]);
    if pads.len() != 2 * n {
        return Err(c.error(format!("attribute 'pads' has {} values for {n} spatial dims", pads.len())));
    }
    let (mut pads_begin, mut pads_end) = (pads[..n].to_vec(), pads[n..].to_vec());
    let mut auto_pad = match c.attr_string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => PadType::Explicit,
        "SAME_UPPER" => PadType::SameUpper,
        "SAME_LOWER" => PadType::SameLower,
        "VALID" => PadType::Valid,
        other => return Err(c.error(format!("unknown auto_pad '{other}'"))),
    };
    let output_shape = c.attr_ints("output_shape")?.filter(|s| !s.is_empty());
    let output_shape = match output_shape {
        // output_shape may list N and C too; only the spatial dims matter.
        Some(s) if s.len() >= n => Some(c.const_vec(&s[s.len() - n..])?),
        Some(s) => return Err(c.error(format!("output_shape {s:?} has fewer than {n} dims"))),
        None => None,
    };
    if output_shape.is_some() {
        pads_begin = vec![0; n];
        pads_end = vec![0; n];
        if auto_pad != PadType::SameLower {
            auto_pad = PadType::Explicit;
        }
    } else if matches!(auto_pad, PadType::SameUpper | PadType::SameLower) {
        // Resolve to explicit pads when the shapes are known: output = input * stride.
        let xs = c.shape(x);
        let ws = c.shape(w);
        if let (Some(xd), Some(wd)) = (xs.dims(), ws.dims()) {
            let lens: Option<Vec<u64>> = xd.get(2..).map(|d| d.iter().filter_map(|v| v.get()).collect());
            let ks: Option<Vec<u64>> = wd.get(2..).map(|d| d.iter().filter_map(|v| v.get()).collect());
            if let (Some(lens), Some(ks)) = (lens, ks)
                && lens.len() == n
                && ks.len() == n
            {
                for i in 0..n {
                    let (len, k) = (lens[i] as i64, ks[i] as i64);
                    let total =
                        strides[i] * (len - 1) + output_padding[i] + (k - 1) * dilations[i] + 1 - len * strides[i];
                    let total = total.max(0);
                    let small = total / 2;
                    (pads_begin[i], pads_end[i]) =
                        if auto_pad == PadType::SameUpper { (small, total - small) } else { (total - small, small) };
                }
                auto_pad = PadType::Explicit;
            }
        }
    } else if auto_pad == PadType::Valid {
        pads_begin = vec![0; n];
        pads_end = vec![0; n];
    }
    let mut inputs = vec![x];
    let y = if group == 1 {
        inputs.push(w);
        inputs.extend(output_shape);
        c.add(
            ops::ConvolutionBackpropData { strides, dilations, pads_begin, pads_end, auto_pad, output_padding },
            &inputs,
        )?
    } else {
        // Weights [C_in, C_out/G, k...] -> [G, C_in/G, C_out/G, k...].
        let ws =
            c.shape(w).to_static().ok_or_else(|| c.error("grouped ConvTranspose needs weights of static shape"))?;
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
        inputs.push(wg);
        inputs.extend(output_shape);
        c.add(
            ops::GroupConvolutionBackpropData { strides, pads_begin, pads_end, dilations, auto_pad, output_padding },
            &inputs,
        )?
    };
    match c.opt_input(2) {
        None => Ok(vec![y]),
        Some(b) => {
            let rank = c.static_rank(y, "the ConvTranspose bias")?;
            let b = channel_vector(c, b, rank)?;
            Ok(vec![c.add(ops::Add::default(), &[y, b])?])
        }
    }
}
