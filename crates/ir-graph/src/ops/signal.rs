//! Signal processing ops: `DFT` / `IDFT` (opset7), `RDFT` / `IRDFT` (opset9), `STFT` (opset15)
//! and `Col2Im` (opset15).
//!
//! Complex tensors are real tensors with a trailing dimension of 2 (real, imaginary). The
//! forward transforms do not scale; the inverse ones divide by the signal length of each
//! transformed axis.

use serde::{Deserialize, Serialize};

use super::{InferInput, OpSpec, OutputType, expect_inputs};
use crate::error::Result;
use crate::invalid;
use crate::shape::{Dim, PartialShape};
use crate::tensor::Tensor;

/// Which of the four Fourier transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FftKind {
    /// Complex to complex, forward.
    Dft,
    /// Complex to complex, inverse.
    Idft,
    /// Real to one-sided complex, forward.
    Rdft,
    /// One-sided complex to real, inverse.
    Irdft,
}

impl FftKind {
    /// Whether the input carries the trailing complex dimension.
    pub fn complex_input(self) -> bool {
        !matches!(self, FftKind::Rdft)
    }
}

fn const_ints(i: &InferInput<'_>) -> Option<Vec<i64>> {
    i.value.and_then(|v| v.to_i64_vec().ok())
}

/// Normalizes DFT axes against the signal rank (`rank` excludes the complex dimension).
pub fn normalize_fft_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = if a < 0 { a + rank as i64 } else { a };
        if !(0..rank as i64).contains(&n) {
            return Err(invalid!("axis {a} is out of range for a signal of rank {rank}"));
        }
        if out.contains(&(n as usize)) {
            return Err(invalid!("axis {a} is repeated"));
        }
        out.push(n as usize);
    }
    Ok(out)
}

fn infer_fft(kind: FftKind, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
    expect_inputs(inputs, 2, 3)?;
    let et = inputs[0].element_type;
    if et != crate::ElementType::Dynamic && !et.is_float() {
        return Err(invalid!("data must be floating point, got {et}"));
    }
    if let Some(r) = inputs[1].shape.rank()
        && r != 1
    {
        return Err(invalid!("axes must be 1-D, got {}", inputs[1].shape));
    }
    let Some(dims) = inputs[0].shape.dims() else {
        return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
    };
    if kind.complex_input() && (dims.is_empty() || dims.last().and_then(|d| d.get()).is_some_and(|d| d != 2)) {
        return Err(invalid!("complex data needs a last dimension of 2, got {}", inputs[0].shape));
    }
    let signal_rank = if kind.complex_input() { dims.len() - 1 } else { dims.len() };
    let mut out: Vec<Dim> = dims[..signal_rank].to_vec();
    let axes = const_ints(&inputs[1]);
    let sizes: Option<Option<Vec<i64>>> = inputs.get(2).map(const_ints);
    let Some(axes) = axes else {
        // Unknown axes: complex-to-complex keeps the shape when no size is given.
        let keep = matches!(kind, FftKind::Dft | FftKind::Idft) && inputs.len() == 2;
        if !keep {
            out = vec![Dim::DYNAMIC; signal_rank];
        }
        if kind != FftKind::Irdft {
            out.push(Dim::fixed(2));
        }
        return Ok(vec![OutputType::new(et, PartialShape::Ranked(out))]);
    };
    let axes = normalize_fft_axes(&axes, signal_rank)?;
    let sizes: Option<Vec<i64>> = match sizes {
        Some(Some(s)) => {
            if s.len() != axes.len() {
                return Err(invalid!("signal_size has {} values for {} axes", s.len(), axes.len()));
            }
            Some(s)
        }
        Some(None) => {
            // Runtime sizes: the transformed axes are unknown.
            for &a in &axes {
                out[a] = Dim::DYNAMIC;
            }
            if kind != FftKind::Irdft {
                out.push(Dim::fixed(2));
            }
            return Ok(vec![OutputType::new(et, PartialShape::Ranked(out))]);
        }
        None => None,
    };
    let last = *axes.last().ok_or_else(|| invalid!("axes must not be empty"))?;
    for (i, &a) in axes.iter().enumerate() {
        let given = sizes.as_ref().map(|s| s[i]).filter(|&s| s != -1);
        if let Some(s) = given
            && s < 1
        {
            return Err(invalid!("signal_size {s} must be positive or -1"));
        }
        let full = match given {
            Some(s) => Dim::fixed(s as u64),
            None => match kind {
                FftKind::Irdft if a == last => match dims[a].get() {
                    Some(n) if n >= 1 => Dim::fixed(2 * (n - 1)),
                    Some(_) => return Err(invalid!("IRDFT needs at least one input bin")),
                    None => Dim::DYNAMIC,
                },
                _ => dims[a],
            },
        };
        out[a] = match kind {
            FftKind::Rdft if a == last => match full.get() {
                Some(n) => Dim::fixed(n / 2 + 1),
                None => Dim::DYNAMIC,
            },
            _ => full,
        };
    }
    if kind != FftKind::Irdft {
        out.push(Dim::fixed(2));
    }
    Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
}

macro_rules! fft_op {
    ($name:ident, $type:literal, $opset:literal, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        pub struct $name {}

        impl OpSpec for $name {
            const TYPE: &'static str = $type;
            const OPSET: u32 = $opset;
            fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
                infer_fft($kind, inputs)
            }
            fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
                crate::eval::signal::fft($kind, inputs)
            }
        }
    };
}

fft_op!(
    Dft,
    "DFT",
    7,
    FftKind::Dft,
    "Complex forward DFT over `axes` (inputs: data `[..., 2]`, axes, optional signal_size)."
);
fft_op!(Idft, "IDFT", 7, FftKind::Idft, "Complex inverse DFT over `axes`, scaled by 1/N.");
fft_op!(Rdft, "RDFT", 9, FftKind::Rdft, "Real forward DFT over `axes`; the last axis keeps N/2+1 bins.");
fft_op!(Irdft, "IRDFT", 9, FftKind::Irdft, "Inverse of RDFT: one-sided complex input, real output, scaled by 1/N.");

/// Short-time Fourier transform (`STFT`, opset15).
///
/// Inputs: signal `[L]` or `[B, L]`, window `[W]` (W <= frame_size, centred in the frame),
/// frame_size and frame_step scalars. Output `[B?, frames, frame_size/2+1, 2]`, or
/// `[B?, frame_size/2+1, frames, 2]` with `transpose_frames`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Stft {
    /// Put the frequency axis before the frames axis.
    pub transpose_frames: bool,
}

fn scalar_int(i: &InferInput<'_>) -> Option<i64> {
    const_ints(i).and_then(|v| v.first().copied())
}

impl OpSpec for Stft {
    const TYPE: &'static str = "STFT";
    const OPSET: u32 = 15;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 4, 4)?;
        let et = inputs[0].element_type;
        let (frame, step) = (scalar_int(&inputs[2]), scalar_int(&inputs[3]));
        if frame.is_some_and(|f| f < 1) || step.is_some_and(|s| s < 1) {
            return Err(invalid!("frame_size and frame_step must be positive"));
        }
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        if dims.is_empty() || dims.len() > 2 {
            return Err(invalid!("signal must be 1-D or 2-D, got {}", inputs[0].shape));
        }
        let len = dims[dims.len() - 1];
        let frames = match (len.get(), frame, step) {
            (Some(l), Some(f), Some(s)) => {
                if (l as i64) < f {
                    return Err(invalid!("frame_size {f} is longer than the signal ({l})"));
                }
                Dim::fixed(((l as i64 - f) / s + 1) as u64)
            }
            _ => Dim::DYNAMIC,
        };
        let bins = frame.map_or(Dim::DYNAMIC, |f| Dim::fixed((f / 2 + 1) as u64));
        let mut out: Vec<Dim> = dims[..dims.len() - 1].to_vec();
        if self.transpose_frames {
            out.extend([bins, frames]);
        } else {
            out.extend([frames, bins]);
        }
        out.push(Dim::fixed(2));
        Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::signal::stft(self, inputs)
    }
}

/// Rearranges column blocks into an image, summing overlaps (`Col2Im`, opset15).
///
/// Inputs: data `[N?, C * kh * kw, L]`, output_size `[2]`, kernel_size `[2]`; output
/// `[N?, C, H, W]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Col2Im {
    /// Block step per spatial axis.
    pub strides: Vec<i64>,
    /// Block dilation per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding at the start of each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding at the end of each spatial axis.
    pub pads_end: Vec<i64>,
}

impl Default for Col2Im {
    fn default() -> Col2Im {
        Col2Im { strides: vec![1, 1], dilations: vec![1, 1], pads_begin: vec![0, 0], pads_end: vec![0, 0] }
    }
}

impl Col2Im {
    /// Number of blocks along each spatial axis.
    pub fn blocks(&self, size: &[i64], kernel: &[i64]) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(2);
        for i in 0..2 {
            let s = self.strides.get(i).copied().unwrap_or(1);
            let d = self.dilations.get(i).copied().unwrap_or(1);
            if s < 1 || d < 1 {
                return Err(invalid!("strides and dilations must be positive"));
            }
            let pb = self.pads_begin.get(i).copied().unwrap_or(0);
            let pe = self.pads_end.get(i).copied().unwrap_or(0);
            let span = d * (kernel[i] - 1) + 1;
            let n = (size[i] + pb + pe - span) / s + 1;
            if n < 1 || size[i] + pb + pe < span {
                return Err(invalid!("kernel {kernel:?} does not fit the padded image {size:?}"));
            }
            out.push(n);
        }
        Ok(out)
    }
}

impl OpSpec for Col2Im {
    const TYPE: &'static str = "Col2Im";
    const OPSET: u32 = 15;
    fn infer(&self, inputs: &[InferInput<'_>]) -> Result<Vec<OutputType>> {
        expect_inputs(inputs, 3, 3)?;
        let et = inputs[0].element_type;
        for (v, what) in [(&self.strides, "strides"), (&self.dilations, "dilations")] {
            if v.len() != 2 {
                return Err(invalid!("{what} must have 2 values"));
            }
        }
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(vec![OutputType::new(et, PartialShape::DynamicRank)]);
        };
        if dims.len() != 2 && dims.len() != 3 {
            return Err(invalid!("data must be 2-D or 3-D, got {}", inputs[0].shape));
        }
        let batched = dims.len() == 3;
        let (size, kernel) = (const_ints(&inputs[1]), const_ints(&inputs[2]));
        let mut out: Vec<Dim> = if batched { vec![dims[0]] } else { vec![] };
        let cdim = dims[dims.len() - 2];
        match &kernel {
            Some(k) if k.len() == 2 => {
                let kk = k[0] * k[1];
                if kk < 1 {
                    return Err(invalid!("kernel_size {k:?} must be positive"));
                }
                match cdim.get() {
                    Some(c) if c as i64 % kk != 0 => {
                        return Err(invalid!("{c} channels are not a multiple of the kernel size {kk}"));
                    }
                    Some(c) => out.push(Dim::fixed(c / kk as u64)),
                    None => out.push(Dim::DYNAMIC),
                }
            }
            Some(k) => return Err(invalid!("kernel_size must have 2 values, got {k:?}")),
            None => out.push(Dim::DYNAMIC),
        }
        match &size {
            Some(s) if s.len() == 2 => {
                if let Some(k) = &kernel {
                    let b = self.blocks(s, k)?;
                    if let Some(l) = dims[dims.len() - 1].get()
                        && l as i64 != b[0] * b[1]
                    {
                        return Err(invalid!("{l} columns, but the image holds {} blocks", b[0] * b[1]));
                    }
                }
                out.extend(s.iter().map(|&v| Dim::fixed(v.max(0) as u64)));
            }
            Some(s) => return Err(invalid!("output_size must have 2 values, got {s:?}")),
            None => out.extend([Dim::DYNAMIC, Dim::DYNAMIC]),
        }
        Ok(vec![OutputType::new(et, PartialShape::Ranked(out))])
    }
    fn evaluate(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::eval::signal::col2im(self, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, Model};

    #[test]
    fn fft_shapes() {
        let mut m = Model::new("t");
        let x = m.add_parameter("x", ElementType::F32, PartialShape::fixed(&[1, 10, 10, 1])).expect("x");
        let sq = m.add_const("ax", Tensor::from_vec(vec![1], vec![3i64]).expect("t")).expect("c");
        let x3 = m.add_node(crate::ops::Squeeze {}, "s", &[x.into(), sq.into()]).expect("s");
        let ax = m.add_const("a", Tensor::from_vec(vec![1], vec![1i64]).expect("t")).expect("c");
        let r = m.add_node(Rdft {}, "r", &[x3.into(), ax.into()]).expect("r");
        assert_eq!(m.port(r.into()).expect("p").shape, PartialShape::fixed(&[1, 6, 10, 2]));
        let ir = m.add_node(Irdft {}, "ir", &[r.into(), ax.into()]).expect("ir");
        assert_eq!(m.port(ir.into()).expect("p").shape, PartialShape::fixed(&[1, 10, 10]));
        let d = m.add_node(Dft {}, "d", &[r.into(), ax.into()]).expect("d");
        assert_eq!(m.port(d.into()).expect("p").shape, PartialShape::fixed(&[1, 6, 10, 2]));
        assert!(to_attrs_names(&Dft {}).is_empty());
    }

    fn to_attrs_names<T: Serialize>(t: &T) -> Vec<String> {
        crate::attrs::to_attrs(t).expect("a").into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn attribute_spellings() {
        assert_eq!(to_attrs_names(&Stft { transpose_frames: false }), ["transpose_frames=false"]);
        assert_eq!(
            to_attrs_names(&Col2Im::default()),
            ["strides=1, 1", "dilations=1, 1", "pads_begin=0, 0", "pads_end=0, 0"]
        );
    }
}
