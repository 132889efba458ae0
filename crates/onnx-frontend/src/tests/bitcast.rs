//! BitCast between floats and integers, run on the reference evaluator over many bit patterns
//! (every exponent, subnormals, ±0, ±inf, NaN, extremes; all 2^16 patterns of 16-bit types)
//! and compared with Rust's `to_bits` / `from_bits`.

use half::{bf16, f16};
use ir_graph::eval::graph::run_model;
use ir_graph::{ElementType, Tensor};

use crate::proto::tensor_proto::DataType;
use crate::test_support::*;

const F16: i32 = DataType::Float16 as i32;
const BF16: i32 = DataType::Bfloat16 as i32;
const F64: i32 = DataType::Double as i32;
const I16: i32 = DataType::Int16 as i32;
const U16: i32 = DataType::Uint16 as i32;
const U32: i32 = DataType::Uint32 as i32;
const U64: i32 = DataType::Uint64 as i32;

/// Exponent and fraction widths of a float type.
#[derive(Clone, Copy)]
struct Format {
    exp_bits: u32,
    mant_bits: u32,
}

const HALF: Format = Format { exp_bits: 5, mant_bits: 10 };
const BFLOAT: Format = Format { exp_bits: 8, mant_bits: 7 };
const SINGLE: Format = Format { exp_bits: 8, mant_bits: 23 };
const DOUBLE: Format = Format { exp_bits: 11, mant_bits: 52 };

impl Format {
    fn width(self) -> u32 {
        1 + self.exp_bits + self.mant_bits
    }
    fn is_nan(self, p: u64) -> bool {
        let exp = (p >> self.mant_bits) & ((1 << self.exp_bits) - 1);
        exp == (1 << self.exp_bits) - 1 && p & ((1 << self.mant_bits) - 1) != 0
    }
    /// The positive canonical quiet NaN.
    fn quiet_nan(self) -> u64 {
        (((1u64 << self.exp_bits) - 1) << self.mant_bits) | (1 << (self.mant_bits - 1))
    }
    /// Every pattern for 16-bit types; otherwise every exponent with a spread of fractions
    /// (0, 1, the top bit, all ones, alternating bits, pseudo-random) and both signs, plus
    /// pseudo-random patterns.
    fn patterns(self) -> Vec<u64> {
        let w = self.width();
        if w == 16 {
            return (0..1 << 16).collect();
        }
        let mant_mask = (1u64 << self.mant_bits) - 1;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut out = Vec::new();
        for exp in 0..1u64 << self.exp_bits {
            let fracs =
                [0, 1, 2, 1 << (self.mant_bits - 1), mant_mask, mant_mask - 1, 0x5555_5555_5555_5555 & mant_mask];
            for m in fracs.into_iter().chain((0..3).map(|_| next() & mant_mask)) {
                for sign in [0, 1u64 << (w - 1)] {
                    out.push(sign | exp << self.mant_bits | m);
                }
            }
        }
        let mask = if w == 64 { u64::MAX } else { (1 << w) - 1 };
        out.extend((0..4000).map(|_| next() & mask));
        out
    }
}

fn tensor_of(onnx_type: i32, pats: &[u64]) -> Tensor {
    let n = vec![pats.len()];
    let t = match onnx_type {
        F16 => Tensor::from_vec(n, pats.iter().map(|&p| f16::from_bits(p as u16)).collect()),
        BF16 => Tensor::from_vec(n, pats.iter().map(|&p| bf16::from_bits(p as u16)).collect()),
        F32 => Tensor::from_vec(n, pats.iter().map(|&p| f32::from_bits(p as u32)).collect()),
        F64 => Tensor::from_vec(n, pats.iter().map(|&p| f64::from_bits(p)).collect()),
        I16 => Tensor::from_vec(n, pats.iter().map(|&p| p as u16 as i16).collect()),
        U16 => Tensor::from_vec(n, pats.iter().map(|&p| p as u16).collect()),
        I32 => Tensor::from_vec(n, pats.iter().map(|&p| p as u32 as i32).collect()),
        U32 => Tensor::from_vec(n, pats.iter().map(|&p| p as u32).collect()),
        I64 => Tensor::from_vec(n, pats.iter().map(|&p| p as i64).collect()),
        U64 => Tensor::from_vec(n, pats.to_vec()),
        other => panic!("no test tensor of type {other}"),
    };
    t.expect("tensor")
}

fn patterns_of(t: &Tensor) -> Vec<u64> {
    use ElementType as E;
    fn get<T: ir_graph::Element + Copy>(t: &Tensor, f: impl Fn(T) -> u64) -> Vec<u64> {
        t.values::<T>().expect("typed").iter().map(|&v| f(v)).collect()
    }
    match t.element_type() {
        E::F16 => get(t, |v: f16| v.to_bits() as u64),
        E::Bf16 => get(t, |v: bf16| v.to_bits() as u64),
        E::F32 => get(t, |v: f32| v.to_bits() as u64),
        E::F64 => get(t, |v: f64| v.to_bits()),
        E::I16 => get(t, |v: i16| v as u16 as u64),
        E::U16 => get(t, |v: u16| v as u64),
        E::I32 => get(t, |v: i32| v as u32 as u64),
        E::U32 => get(t, |v: u32| v as u64),
        E::I64 => get(t, |v: i64| v as u64),
        E::U64 => get(t, |v: u64| v),
        other => panic!("no patterns of {other}"),
    }
}

/// Converts `BitCast(x: from) -> to` and evaluates it on `pats`, returning the output patterns.
fn bit_cast(from: i32, to: i32, pats: &[u64]) -> Vec<u64> {
    let m = Builder::new(26)
        .input(vi("x", from, &[pats.len() as i64]))
        .node(node("BitCast", &["x"], &["y"], vec![("to", A::I(to as i64))]))
        .output("y")
        .read_ok();
    let out = run_model(&m, &[tensor_of(from, pats)]).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
    patterns_of(&out[0])
}

/// Float -> integer gives the float's bits; a NaN gives the positive canonical quiet NaN.
fn check_float_to_int(from: i32, to: i32, f: Format) {
    let pats = f.patterns();
    let got = bit_cast(from, to, &pats);
    for (&p, &g) in pats.iter().zip(&got) {
        let want = if f.is_nan(p) { f.quiet_nan() } else { p };
        assert_eq!(g, want, "{from} -> {to}: pattern {p:#x} gave {g:#x}, want {want:#x}");
    }
}

/// Integer -> float gives the float with those bits; NaN patterns give some NaN.
fn check_int_to_float(from: i32, to: i32, f: Format) {
    let pats = f.patterns();
    let got = bit_cast(from, to, &pats);
    for (&p, &g) in pats.iter().zip(&got) {
        if f.is_nan(p) {
            assert!(f.is_nan(g), "{from} -> {to}: NaN pattern {p:#x} gave {g:#x}");
        } else {
            assert_eq!(g, p, "{from} -> {to}: pattern {p:#x} gave {g:#x}");
        }
    }
}

#[test]
fn f32_to_i32_and_u32_bits() {
    check_float_to_int(F32, I32, SINGLE);
    check_float_to_int(F32, U32, SINGLE);
}

#[test]
fn i32_and_u32_to_f32_bits() {
    check_int_to_float(I32, F32, SINGLE);
    check_int_to_float(U32, F32, SINGLE);
}

#[test]
fn f64_to_i64_and_u64_bits() {
    check_float_to_int(F64, I64, DOUBLE);
    check_float_to_int(F64, U64, DOUBLE);
}

#[test]
fn i64_and_u64_to_f64_bits() {
    check_int_to_float(I64, F64, DOUBLE);
    check_int_to_float(U64, F64, DOUBLE);
}

#[test]
fn sixteen_bit_floats_all_patterns() {
    for (float, f) in [(F16, HALF), (BF16, BFLOAT)] {
        for int in [I16, U16] {
            check_float_to_int(float, int, f);
            check_int_to_float(int, float, f);
        }
    }
}

/// Float -> float goes through the integer: NaN inputs give the canonical NaN's bits.
#[test]
fn f16_to_bf16_bits() {
    let pats = HALF.patterns();
    let got = bit_cast(F16, BF16, &pats);
    for (&p, &g) in pats.iter().zip(&got) {
        let want = if HALF.is_nan(p) { HALF.quiet_nan() } else { p };
        if BFLOAT.is_nan(want) {
            assert!(BFLOAT.is_nan(g), "f16 {p:#x} gave {g:#x}");
        } else {
            assert_eq!(g, want, "f16 {p:#x} gave {g:#x}");
        }
    }
}

/// The named extremes, spelled out so a failure reads plainly.
#[test]
fn extremes() {
    let f = [0.0f32, -0.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE, f32::from_bits(1), -f32::from_bits(1), f32::INFINITY];
    let pats: Vec<u64> = f.iter().map(|v| v.to_bits() as u64).collect();
    assert_eq!(bit_cast(F32, I32, &pats), pats);
    let ints = [i32::MIN, i32::MAX, 0, -1, 1];
    let pats: Vec<u64> = ints.iter().map(|&v| v as u32 as u64).collect();
    let got = bit_cast(I32, F32, &pats);
    assert_eq!(f32::from_bits(got[0] as u32).to_bits(), (-0.0f32).to_bits());
    assert!(f32::from_bits(got[1] as u32).is_nan());
    assert!(f32::from_bits(got[3] as u32).is_nan());
    assert_eq!(got[4], 1);
    let pats =
        vec![i64::MIN as u64, i64::MAX as u64, f64::MAX.to_bits(), f64::from_bits(1).to_bits(), (-0.0f64).to_bits()];
    let got = bit_cast(I64, F64, &pats);
    assert_eq!(got[0], (-0.0f64).to_bits());
    assert!(f64::from_bits(got[1]).is_nan());
    assert_eq!(&got[2..], &pats[2..]);
    assert_eq!(bit_cast(F64, I64, &pats[2..]), &pats[2..]);
}
