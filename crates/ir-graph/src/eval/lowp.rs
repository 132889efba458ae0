//! Bit-exact codecs for the low-precision element types: the packed integers (`i4`, `u4`, `u2`,
//! `u1`), the 8-bit floats (`f8e4m3`, `f8e5m2`, `f8e8m0`), `f4e2m1` and `nf4`.
//!
//! Packing is OpenVINO's (the same as ONNX's): 4-bit values two per byte, low nibble first;
//! `u2` four per byte, lowest bits first; `u1` eight per byte, most significant bit first.
//!
//! Encoding follows OpenVINO's `Convert` (checked against the `openvino` runtime, both its
//! reference evaluator and the CPU plugin):
//! - `f8e4m3` (no infinities): round to nearest even; a rounded magnitude above 448, and any
//!   infinity, becomes NaN (`0x7f`, sign kept). No saturation: ONNX `Cast` with `saturate=1`
//!   clamps before converting.
//! - `f8e5m2`: round to nearest even; above 57344 becomes infinity; NaN is `0x7e` (sign kept).
//! - `f4e2m1` (no NaN, no infinities): round to nearest even, saturating to ±6; NaN becomes ±6.
//! - `f8e8m0` (powers of two 2^-127..2^127, unsigned): round to nearest with ties to the even
//!   code; zero, negatives and values at or below 2^-127 give code 0 (2^-127); larger values and
//!   +inf saturate to 2^127 (code 254); NaN is code 255.
//! - integers: floats truncate toward zero (NaN, infinities and values beyond `i64` give 0),
//!   then every value wraps modulo 2^bits (two's complement for `i4`).

use crate::element::ElementType as E;

/// A small float format with sign bit, `ebits` exponent bits and `mbits` mantissa bits.
#[derive(Clone, Copy)]
struct Mini {
    ebits: u32,
    mbits: u32,
    bias: i32,
    /// Largest finite magnitude.
    max: f64,
}

const E4M3: Mini = Mini { ebits: 4, mbits: 3, bias: 7, max: 448.0 };
const E5M2: Mini = Mini { ebits: 5, mbits: 2, bias: 15, max: 57344.0 };
const E2M1: Mini = Mini { ebits: 2, mbits: 1, bias: 1, max: 6.0 };

/// NF4 code points (OpenVINO's `nf4` table).
pub const NF4_VALUES: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// `floor(log2(a))` of a positive finite `f64`, exactly.
fn exponent_of(a: f64) -> i32 {
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // f64 subnormal: far below any format here; the caller only compares it.
        -1075
    } else {
        e - 1023
    }
}

impl Mini {
    fn emin(self) -> i32 {
        1 - self.bias
    }

    /// Rounds a finite, non-negative `a` to the nearest representable magnitude (ties to even),
    /// without range limiting at the top.
    fn round(self, a: f64) -> f64 {
        if a == 0.0 {
            return 0.0;
        }
        let e = exponent_of(a).max(self.emin());
        let q = 2f64.powi(e - self.mbits as i32);
        (a / q).round_ties_even() * q
    }

    /// Bits of a finite magnitude `v` that is exactly representable and at most `max`.
    fn bits_of(self, v: f64) -> u8 {
        if v == 0.0 {
            return 0;
        }
        let e = exponent_of(v);
        if e < self.emin() {
            let m = v / 2f64.powi(self.emin() - self.mbits as i32);
            return m as u8;
        }
        let m = v / 2f64.powi(e - self.mbits as i32) - 2f64.powi(self.mbits as i32);
        ((((e + self.bias) as u32) << self.mbits) | m as u32) as u8
    }

    fn decode(self, b: u8) -> f64 {
        let sign = if b >> (self.ebits + self.mbits) & 1 != 0 { -1.0 } else { 1.0 };
        let e = i32::from((b >> self.mbits) & ((1 << self.ebits) - 1));
        let m = f64::from(b & ((1 << self.mbits) - 1));
        let scale = 2f64.powi(self.mbits as i32);
        sign * if e == 0 { m / scale * 2f64.powi(self.emin()) } else { (1.0 + m / scale) * 2f64.powi(e - self.bias) }
    }
}

/// `f8e4m3` (ONNX FLOAT8E4M3FN) bits to a value.
pub fn f8e4m3_to_f64(b: u8) -> f64 {
    if b & 0x7f == 0x7f { f64::NAN } else { E4M3.decode(b) }
}

/// A value to `f8e4m3` bits (OpenVINO `Convert`: no saturation, overflow and infinities -> NaN).
pub fn f64_to_f8e4m3(x: f64) -> u8 {
    let sign = if x.is_sign_negative() { 0x80 } else { 0 };
    if !x.is_finite() {
        return sign | 0x7f;
    }
    let v = E4M3.round(x.abs());
    if v > E4M3.max { sign | 0x7f } else { sign | E4M3.bits_of(v) }
}

/// `f8e5m2` bits to a value.
pub fn f8e5m2_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    match b & 0x7f {
        0x7c => sign * f64::INFINITY,
        0x7d..=0x7f => f64::NAN,
        _ => E5M2.decode(b),
    }
}

/// A value to `f8e5m2` bits (round to nearest even, overflow -> infinity).
pub fn f64_to_f8e5m2(x: f64) -> u8 {
    let sign = if x.is_sign_negative() { 0x80 } else { 0 };
    if x.is_nan() {
        return sign | 0x7e;
    }
    if x.is_infinite() {
        return sign | 0x7c;
    }
    let v = E5M2.round(x.abs());
    if v > E5M2.max { sign | 0x7c } else { sign | E5M2.bits_of(v) }
}

/// `f8e8m0` bits to a value (2^(b - 127); 255 is NaN).
pub fn f8e8m0_to_f64(b: u8) -> f64 {
    if b == 0xff { f64::NAN } else { 2f64.powi(i32::from(b) - 127) }
}

/// A value to `f8e8m0` bits (nearest, ties to the even code; saturating; see the module doc).
pub fn f64_to_f8e8m0(x: f64) -> u8 {
    if x.is_nan() {
        return 0xff;
    }
    if x <= 0.0 {
        return 0;
    }
    if x.is_infinite() {
        return 0xfe;
    }
    let e = exponent_of(x);
    if e < -127 {
        return 0;
    }
    let m = x / 2f64.powi(e); // in [1, 2)
    let up = m > 1.5 || (m == 1.5 && (e + 127) % 2 != 0);
    let code = e + 127 + i32::from(up);
    code.clamp(0, 0xfe) as u8
}

/// `f4e2m1` 4-bit code to a value.
pub fn f4e2m1_to_f64(n: u8) -> f64 {
    E2M1.decode(n & 0x0f)
}

/// A value to a 4-bit `f4e2m1` code (round to nearest even, saturating; NaN -> ±6).
pub fn f64_to_f4e2m1(x: f64) -> u8 {
    let sign = if x.is_sign_negative() { 0x8 } else { 0 };
    if !x.is_finite() {
        return sign | 0x7;
    }
    let v = E2M1.round(x.abs()).min(E2M1.max);
    sign | E2M1.bits_of(v)
}

/// A float truncated toward zero as an integer for packed-integer stores (NaN, infinities and
/// values beyond `i64` give 0, as x86 conversion's "integer indefinite" does in its low bits).
pub fn trunc_to_i128(x: f64) -> i128 {
    if x.is_finite() && x.abs() < -(i64::MIN as f64) { x.trunc() as i128 } else { 0 }
}

/// Bits one value occupies for the packed types this module codes; `None` otherwise.
pub fn packed_bits(et: E) -> Option<u32> {
    match et {
        E::I4 | E::U4 | E::F4E2M1 | E::Nf4 => Some(4),
        E::U2 => Some(2),
        E::U1 => Some(1),
        _ => None,
    }
}

/// The `i`-th `bits`-wide code of packed storage.
pub fn get_code(raw: &[u8], bits: u32, i: usize) -> u8 {
    let per = 8 / bits as usize;
    let b = raw.get(i / per).copied().unwrap_or(0);
    let mask = ((1u16 << bits) - 1) as u8;
    let slot = i % per;
    // u1 is most significant bit first; the others least significant first.
    let shift = if bits == 1 { 7 - slot } else { slot * bits as usize };
    (b >> shift) & mask
}

/// Packs `bits`-wide codes into bytes (the layout [`get_code`] reads).
pub fn pack_codes(codes: &[u8], bits: u32) -> Vec<u8> {
    let per = 8 / bits as usize;
    let mask = ((1u16 << bits) - 1) as u8;
    let mut out = vec![0u8; codes.len().div_ceil(per)];
    for (i, &c) in codes.iter().enumerate() {
        let slot = i % per;
        let shift = if bits == 1 { 7 - slot } else { slot * bits as usize };
        out[i / per] |= (c & mask) << shift;
    }
    out
}

/// The integer a packed-integer code stands for.
pub fn int_of_code(et: E, code: u8) -> i128 {
    match et {
        E::I4 => i128::from(((code << 4) as i8) >> 4),
        _ => i128::from(code),
    }
}

/// The code a (wide) integer wraps to in a packed integer type.
pub fn code_of_int(bits: u32, v: i128) -> u8 {
    (v & ((1i128 << bits) - 1)) as u8
}

/// The nearest NF4 code point (ties toward the higher code, as OpenVINO's table search does).
pub fn f64_to_nf4(x: f64) -> u8 {
    if x.is_nan() {
        return 0;
    }
    let mut best = 0usize;
    for (i, &v) in NF4_VALUES.iter().enumerate() {
        if (x - f64::from(v)).abs() <= (x - f64::from(NF4_VALUES[best])).abs() {
            best = i;
        }
    }
    best as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8e4m3_known_bits() {
        // From ONNX's test_cast_FLOAT_to_FLOAT8E4M3FN reference (before saturation) and OpenVINO.
        assert_eq!(f64_to_f8e4m3(0.478_925_47), 0x2f);
        assert_eq!(f64_to_f8e4m3(0.499_684_87), 0x30);
        assert_eq!(f64_to_f8e4m3(0.819_105_45), 0x35);
        assert_eq!(f64_to_f8e4m3(448.0), 0x7e);
        assert_eq!(f64_to_f8e4m3(464.0), 0x7e); // tie -> even mantissa
        assert_eq!(f64_to_f8e4m3(480.0), 0x7f); // overflow -> NaN
        assert_eq!(f64_to_f8e4m3(-1e6), 0xff);
        assert_eq!(f64_to_f8e4m3(f64::INFINITY), 0x7f);
        assert_eq!(f64_to_f8e4m3(-1e-7), 0x80);
        assert_eq!(f64_to_f8e4m3(2f64.powi(-9)), 0x01); // smallest subnormal
        assert_eq!(f64_to_f8e4m3(2f64.powi(-10)), 0x00); // tie -> 0
        assert_eq!(f64_to_f8e4m3(0.75 * 2f64.powi(-9)), 0x01);
        assert_eq!(f64_to_f8e4m3(1.1), 0x38 | 1); // 1.125
        assert_eq!(f8e4m3_to_f64(0x7e), 448.0);
        assert_eq!(f8e4m3_to_f64(0x01), 2f64.powi(-9));
        assert_eq!(f8e4m3_to_f64(0xb8), -1.0);
        assert!(f8e4m3_to_f64(0xff).is_nan());
        for b in 0..=255u8 {
            if b & 0x7f != 0x7f {
                assert_eq!(f64_to_f8e4m3(f8e4m3_to_f64(b)), b, "{b:#x}");
            }
        }
    }

    #[test]
    fn f8e5m2_known_bits() {
        assert_eq!(f64_to_f8e5m2(1.0), 0x3c);
        assert_eq!(f64_to_f8e5m2(57344.0), 0x7b);
        assert_eq!(f64_to_f8e5m2(61440.0), 0x7c); // tie -> even -> inf
        assert_eq!(f64_to_f8e5m2(-1e6), 0xfc);
        assert_eq!(f64_to_f8e5m2(f64::NAN), 0x7e);
        assert_eq!(f64_to_f8e5m2(-9.0), 0xc8); // tie -> -8
        assert_eq!(f64_to_f8e5m2(2f64.powi(-16)), 0x01);
        assert_eq!(f8e5m2_to_f64(0xfc), f64::NEG_INFINITY);
        assert!(f8e5m2_to_f64(0x7d).is_nan());
        for b in 0..=255u8 {
            if b & 0x7f <= 0x7c {
                assert_eq!(f64_to_f8e5m2(f8e5m2_to_f64(b)), b, "{b:#x}");
            }
        }
    }

    #[test]
    fn f8e8m0_known_bits() {
        // OpenVINO: ties go to the even code.
        assert_eq!(f64_to_f8e8m0(1.5), 128);
        assert_eq!(f64_to_f8e8m0(3.0), 128);
        assert_eq!(f64_to_f8e8m0(6.0), 130);
        assert_eq!(f64_to_f8e8m0(12.0), 130);
        assert_eq!(f64_to_f8e8m0(1.1), 127);
        assert_eq!(f64_to_f8e8m0(1e6), 147);
        assert_eq!(f64_to_f8e8m0(0.0), 0);
        assert_eq!(f64_to_f8e8m0(-4.0), 0);
        assert_eq!(f64_to_f8e8m0(f64::INFINITY), 254);
        assert_eq!(f64_to_f8e8m0(3e38), 254);
        assert_eq!(f64_to_f8e8m0(f64::NAN), 255);
        assert_eq!(f64_to_f8e8m0(2f64.powi(-126)), 1);
        assert_eq!(f64_to_f8e8m0(1.5 * 2f64.powi(-126)), 2);
        assert_eq!(f8e8m0_to_f64(127), 1.0);
        assert_eq!(f8e8m0_to_f64(0), 2f64.powi(-127));
        assert!(f8e8m0_to_f64(255).is_nan());
    }

    #[test]
    fn f4e2m1_known_bits() {
        let codes: Vec<u8> = [0.5, 0.0, 1.05, -3.5, -8.0, 9.0, 2.5, 5.0, 0.25, 0.75, f64::NAN, -0.0]
            .iter()
            .map(|&x| f64_to_f4e2m1(x))
            .collect();
        assert_eq!(codes, vec![0x1, 0x0, 0x2, 0xe, 0xf, 0x7, 0x4, 0x6, 0x0, 0x2, 0x7, 0x8]);
        let vals: Vec<f64> = (0..16).map(f4e2m1_to_f64).collect();
        assert_eq!(vals[..8], [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
        assert_eq!(vals[15], -6.0);
    }

    #[test]
    fn packing_orders() {
        // i4 [1, -2, 3] -> e1 03; u4 [1..5] -> 21 43 05 (OpenVINO IR docs).
        let i4: Vec<u8> = [1i128, -2, 3].iter().map(|&v| code_of_int(4, v)).collect();
        assert_eq!(pack_codes(&i4, 4), vec![0xe1, 0x03]);
        assert_eq!(pack_codes(&[1, 2, 3, 4, 5], 4), vec![0x21, 0x43, 0x05]);
        // u2: OpenVINO reads 0x1b as [3, 2, 1, 0].
        assert_eq!(pack_codes(&[3, 2, 1, 0], 2), vec![0x1b]);
        assert_eq!((0..4).map(|i| get_code(&[0x1b], 2, i)).collect::<Vec<_>>(), vec![3, 2, 1, 0]);
        // u1 is most significant bit first.
        assert_eq!(pack_codes(&[1, 0, 0, 0, 0, 0, 0, 1, 1], 1), vec![0x81, 0x80]);
        assert_eq!(get_code(&[0xe1], 4, 1), 0xe);
        assert_eq!(int_of_code(E::I4, 0xe), -2);
        assert_eq!(code_of_int(4, -9), 7);
        assert_eq!(code_of_int(2, -3), 1);
        assert_eq!(trunc_to_i128(-2.5), -2);
        assert_eq!(trunc_to_i128(f64::NAN), 0);
        assert_eq!(trunc_to_i128(f64::INFINITY), 0);
    }

    #[test]
    fn nf4_nearest() {
        assert_eq!(f64_to_nf4(-1.0), 0);
        assert_eq!(f64_to_nf4(0.0), 7);
        assert_eq!(f64_to_nf4(0.9), 15);
        assert_eq!(f64_to_nf4(0.08), 8);
    }
}
