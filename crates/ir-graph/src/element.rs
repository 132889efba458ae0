//! IR element types and the Rust scalar types that carry them.

use std::fmt;

/// An OpenVINO element type, as written in IR `element_type` attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementType {
    /// Not known yet (`dynamic`).
    Dynamic,
    /// One byte per value, 0 or 1.
    Boolean,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
    /// IEEE single.
    F32,
    /// IEEE double.
    F64,
    /// float8 e4m3.
    F8E4M3,
    /// float8 e5m2.
    F8E5M2,
    /// float8 e8m0 (scale type).
    F8E8M0,
    /// float4 e2m1, two per byte.
    F4E2M1,
    /// NormalFloat4, two per byte.
    Nf4,
    /// Signed 4-bit, two per byte, low nibble first.
    I4,
    /// Signed 8-bit.
    I8,
    /// Signed 16-bit.
    I16,
    /// Signed 32-bit.
    I32,
    /// Signed 64-bit.
    I64,
    /// One bit per value, most significant bit first.
    U1,
    /// Unsigned 2-bit, four per byte.
    U2,
    /// Unsigned 3-bit, 8 values in 3 bytes.
    U3,
    /// Unsigned 4-bit, two per byte, low nibble first.
    U4,
    /// Unsigned 6-bit, 4 values in 3 bytes.
    U6,
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Unsigned 32-bit.
    U32,
    /// Unsigned 64-bit.
    U64,
    /// Variable-length UTF-8 strings.
    String,
}

use ElementType::*;

const ALL: [ElementType; 26] = [
    Dynamic, Boolean, Bf16, F16, F32, F64, F8E4M3, F8E5M2, F8E8M0, F4E2M1, Nf4, I4, I8, I16, I32, I64, U1, U2, U3, U4,
    U6, U8, U16, U32, U64, String,
];

impl ElementType {
    /// Every element type, in declaration order.
    pub fn all() -> &'static [ElementType] {
        &ALL
    }

    /// The lowercase name used in `element_type=` attributes (`f32`, `boolean`, ...).
    pub fn ir_name(self) -> &'static str {
        match self {
            Dynamic => "dynamic",
            Boolean => "boolean",
            Bf16 => "bf16",
            F16 => "f16",
            F32 => "f32",
            F64 => "f64",
            F8E4M3 => "f8e4m3",
            F8E5M2 => "f8e5m2",
            F8E8M0 => "f8e8m0",
            F4E2M1 => "f4e2m1",
            Nf4 => "nf4",
            I4 => "i4",
            I8 => "i8",
            I16 => "i16",
            I32 => "i32",
            I64 => "i64",
            U1 => "u1",
            U2 => "u2",
            U3 => "u3",
            U4 => "u4",
            U6 => "u6",
            U8 => "u8",
            U16 => "u16",
            U32 => "u32",
            U64 => "u64",
            String => "string",
        }
    }

    /// The uppercase name used in port `precision=` attributes (`FP32`, `BOOL`, `BIN`, ...).
    pub fn precision_name(self) -> &'static str {
        match self {
            Dynamic => "UNSPECIFIED",
            Boolean => "BOOL",
            Bf16 => "BF16",
            F16 => "FP16",
            F32 => "FP32",
            F64 => "FP64",
            F8E4M3 => "F8E4M3",
            F8E5M2 => "F8E5M2",
            F8E8M0 => "F8E8M0",
            F4E2M1 => "F4E2M1",
            Nf4 => "NF4",
            I4 => "I4",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            U1 => "BIN",
            U2 => "U2",
            U3 => "U3",
            U4 => "U4",
            U6 => "U6",
            U8 => "U8",
            U16 => "U16",
            U32 => "U32",
            U64 => "U64",
            String => "STRING",
        }
    }

    /// Parses an `element_type=` name; also accepts `precision=` spellings and `undefined`.
    pub fn from_ir_name(name: &str) -> Option<ElementType> {
        let lower = name.to_ascii_lowercase();
        ALL.iter().copied().find(|t| t.ir_name() == lower).or(match lower.as_str() {
            "undefined" | "unspecified" => Some(Dynamic),
            "bool" => Some(Boolean),
            "bin" => Some(U1),
            "fp16" => Some(F16),
            "fp32" => Some(F32),
            "fp64" => Some(F64),
            _ => None,
        })
    }

    /// Bits one value occupies in packed storage (0 for `dynamic` and `string`).
    pub fn bit_width(self) -> usize {
        match self {
            Dynamic | String => 0,
            U1 => 1,
            U2 => 2,
            U3 => 3,
            I4 | U4 | F4E2M1 | Nf4 => 4,
            U6 => 6,
            Boolean | I8 | U8 | F8E4M3 | F8E5M2 | F8E8M0 => 8,
            I16 | U16 | F16 | Bf16 => 16,
            I32 | U32 | F32 => 32,
            I64 | U64 | F64 => 64,
        }
    }

    /// Bytes needed to store `count` packed values, or `None` for types without a fixed size
    /// or on overflow.
    pub fn storage_size(self, count: usize) -> Option<usize> {
        match self {
            Dynamic | String => None,
            // u3 and u6 pack into 3-byte groups of 8 and 4 values.
            U3 => count.div_ceil(8).checked_mul(3),
            U6 => count.div_ceil(4).checked_mul(3),
            _ => count.checked_mul(self.bit_width()).map(|b| b.div_ceil(8)),
        }
    }

    /// True for the IEEE and machine-learning float types.
    pub fn is_float(self) -> bool {
        matches!(self, Bf16 | F16 | F32 | F64 | F8E4M3 | F8E5M2 | F8E8M0 | F4E2M1 | Nf4)
    }

    /// True for signed and unsigned integer types (not boolean).
    pub fn is_integer(self) -> bool {
        matches!(self, I4 | I8 | I16 | I32 | I64 | U1 | U2 | U3 | U4 | U6 | U8 | U16 | U32 | U64)
    }

    /// True for signed integer types.
    pub fn is_signed_integer(self) -> bool {
        matches!(self, I4 | I8 | I16 | I32 | I64)
    }

    /// True when values of this type occupy whole bytes (so a slice of them can be addressed).
    pub fn is_byte_aligned(self) -> bool {
        self.bit_width().is_multiple_of(8) && self.bit_width() > 0
    }

    /// Whether two element types are compatible (equal, or one of them is dynamic).
    pub fn compatible(self, other: ElementType) -> bool {
        self == other || self == Dynamic || other == Dynamic
    }

    /// Merges two compatible element types, preferring the known one.
    pub fn merge(self, other: ElementType) -> Option<ElementType> {
        match (self, other) {
            (Dynamic, t) | (t, Dynamic) => Some(t),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ir_name())
    }
}

/// A Rust scalar type that stores one IR element type in native byte order.
pub trait Element: Copy + Default + PartialEq + fmt::Debug + Send + Sync + 'static + bytemuck::Pod {
    /// The IR element type this scalar represents.
    const TYPE: ElementType;
}

macro_rules! impl_element {
    ($($t:ty => $e:expr),* $(,)?) => { $( impl Element for $t { const TYPE: ElementType = $e; } )* };
}

impl_element! {
    f32 => F32, f64 => F64, half::f16 => F16, half::bf16 => Bf16,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64,
}

impl serde::Serialize for ElementType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.ir_name())
    }
}

impl<'de> serde::Deserialize<'de> for ElementType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        ElementType::from_ir_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown element type '{s}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &t in ElementType::all() {
            assert_eq!(ElementType::from_ir_name(t.ir_name()), Some(t));
            assert_eq!(ElementType::from_ir_name(t.precision_name()), Some(t), "{t}");
        }
    }

    #[test]
    fn packed_sizes() {
        assert_eq!(U1.storage_size(9), Some(2));
        assert_eq!(I4.storage_size(3), Some(2));
        assert_eq!(U3.storage_size(1), Some(3));
        assert_eq!(U6.storage_size(5), Some(6));
        assert_eq!(F32.storage_size(3), Some(12));
        assert_eq!(F32.storage_size(usize::MAX), None);
    }
}
