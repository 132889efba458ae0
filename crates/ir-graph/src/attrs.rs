//! Op attributes <-> the IR's `<data>` attribute strings, through serde.
//!
//! Each op's attribute struct derives `Serialize`/`Deserialize` with the IR's spellings; this
//! module supplies the one serializer (struct -> ordered `name="value"` pairs) and the one
//! deserializer (pairs -> struct) so no op needs hand-written XML code. Formatting follows
//! OpenVINO's writer: vectors joined with `", "`, booleans `true`/`false`, floats as C's `%.17g`.

use std::collections::HashMap;
use std::fmt::Display;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Impossible, Serialize};

/// Ordered attribute list as it appears in `<data ...>`.
pub type AttrList = Vec<(String, String)>;

/// An attribute (de)serialization failure.
#[derive(Debug)]
pub struct AttrError(pub String);

impl Display for AttrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for AttrError {}
impl ser::Error for AttrError {
    fn custom<T: Display>(msg: T) -> Self {
        AttrError(msg.to_string())
    }
}
impl de::Error for AttrError {
    fn custom<T: Display>(msg: T) -> Self {
        AttrError(msg.to_string())
    }
}

/// Formats a double like C's `printf("%.17g")`, which is how OpenVINO writes float attributes.
pub fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let prec = usize::try_from(16 - exp).unwrap_or(0);
        strip_zeros(&format!("{v:.prec$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

/// Serializes an attribute struct to its ordered `<data>` pairs.
pub fn to_attrs<T: Serialize>(value: &T) -> Result<AttrList, AttrError> {
    let mut s = StructSer { out: Vec::new() };
    value.serialize(&mut s)?;
    Ok(s.out)
}

/// Deserializes an attribute struct from `<data>` pairs; unknown names are ignored.
pub fn from_attrs<'a, T: serde::Deserialize<'a>>(attrs: &'a HashMap<String, String>) -> Result<T, AttrError> {
    T::deserialize(StructDe { attrs })
}

struct StructSer {
    out: AttrList,
}

impl ser::SerializeStruct for &mut StructSer {
    type Ok = ();
    type Error = AttrError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), AttrError> {
        if let Some(v) = value.serialize(ValueSer)? {
            self.out.push((key.to_string(), v));
        }
        Ok(())
    }
    fn end(self) -> Result<(), AttrError> {
        Ok(())
    }
}

macro_rules! unsupported_ser {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self $(, _: $t)*) -> Result<Self::Ok, AttrError> {
            Err(AttrError(concat!("attributes of ", stringify!($f), " are not supported").into()))
        })*
    };
}

impl ser::Serializer for &mut StructSer {
    type Ok = ();
    type Error = AttrError;
    type SerializeSeq = Impossible<(), AttrError>;
    type SerializeTuple = Impossible<(), AttrError>;
    type SerializeTupleStruct = Impossible<(), AttrError>;
    type SerializeTupleVariant = Impossible<(), AttrError>;
    type SerializeMap = Impossible<(), AttrError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), AttrError>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, AttrError> {
        Ok(self)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), AttrError> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), AttrError> {
        Ok(())
    }
    unsupported_ser!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
    );
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), AttrError> {
        v.serialize(self)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), AttrError> {
        Err(AttrError("an enum is not an attribute struct".into()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<(), AttrError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), AttrError> {
        Err(AttrError("an enum is not an attribute struct".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, AttrError> {
        Err(AttrError("a sequence is not an attribute struct".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, AttrError> {
        Err(AttrError("a tuple is not an attribute struct".into()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, AttrError> {
        Err(AttrError("a tuple struct is not an attribute struct".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, AttrError> {
        Err(AttrError("an enum is not an attribute struct".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, AttrError> {
        Err(AttrError("a map is not an attribute struct".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, AttrError> {
        Err(AttrError("an enum is not an attribute struct".into()))
    }
}

/// Serializes one attribute value; `None` means "omit the attribute".
struct ValueSer;

struct SeqSer {
    items: Vec<String>,
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Option<String>;
    type Error = AttrError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), AttrError> {
        self.items.push(v.serialize(ValueSer)?.unwrap_or_default());
        Ok(())
    }
    fn end(self) -> Result<Option<String>, AttrError> {
        Ok(Some(self.items.join(", ")))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Option<String>;
    type Error = AttrError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), AttrError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Option<String>, AttrError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::Serializer for ValueSer {
    type Ok = Option<String>;
    type Error = AttrError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = Impossible<Option<String>, AttrError>;
    type SerializeTupleVariant = Impossible<Option<String>, AttrError>;
    type SerializeMap = Impossible<Option<String>, AttrError>;
    type SerializeStruct = Impossible<Option<String>, AttrError>;
    type SerializeStructVariant = Impossible<Option<String>, AttrError>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, AttrError> {
        Ok(Some(if v { "true" } else { "false" }.into()))
    }
    fn serialize_i8(self, v: i8) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_i16(self, v: i16) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_i32(self, v: i32) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_i64(self, v: i64) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_u8(self, v: u8) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_u16(self, v: u16) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_u32(self, v: u32) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_u64(self, v: u64) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_f32(self, v: f32) -> Result<Self::Ok, AttrError> {
        Ok(Some(format_g17(v as f64)))
    }
    fn serialize_f64(self, v: f64) -> Result<Self::Ok, AttrError> {
        Ok(Some(format_g17(v)))
    }
    fn serialize_char(self, v: char) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Self::Ok, AttrError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Self::Ok, AttrError> {
        Err(AttrError("byte attributes are not supported".into()))
    }
    fn serialize_none(self) -> Result<Self::Ok, AttrError> {
        Ok(None)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Self::Ok, AttrError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Self::Ok, AttrError> {
        Ok(None)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok, AttrError> {
        Ok(None)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Self::Ok, AttrError> {
        Ok(Some(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<Self::Ok, AttrError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, AttrError> {
        Err(AttrError("data-carrying enum attributes are not supported".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqSer, AttrError> {
        Ok(SeqSer { items: Vec::new() })
    }
    fn serialize_tuple(self, _: usize) -> Result<SeqSer, AttrError> {
        Ok(SeqSer { items: Vec::new() })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, AttrError> {
        Err(AttrError("tuple struct attributes are not supported".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, AttrError> {
        Err(AttrError("tuple variant attributes are not supported".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, AttrError> {
        Err(AttrError("map attributes are not supported".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, AttrError> {
        Err(AttrError("nested struct attributes are not supported".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, AttrError> {
        Err(AttrError("struct variant attributes are not supported".into()))
    }
}

struct StructDe<'a> {
    attrs: &'a HashMap<String, String>,
}

impl<'de> de::Deserializer<'de> for StructDe<'de> {
    type Error = AttrError;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
        visitor.visit_map(FieldsAccess { iter: self.attrs.iter(), value: None })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, AttrError> {
        let _ = fields;
        visitor.visit_map(FieldsAccess { iter: self.attrs.iter(), value: None })
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, AttrError> {
        visitor.visit_unit()
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

struct FieldsAccess<'a> {
    iter: std::collections::hash_map::Iter<'a, String, String>,
    value: Option<&'a str>,
}

impl<'de> MapAccess<'de> for FieldsAccess<'de> {
    type Error = AttrError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, AttrError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, AttrError> {
        let v = self.value.take().unwrap_or("");
        seed.deserialize(ValueDe(v)).map_err(|e| AttrError(format!("{e} (value \"{v}\")")))
    }
}

/// Deserializes one attribute value from its string.
struct ValueDe<'a>(&'a str);

impl<'a> ValueDe<'a> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, AttrError> {
        self.0.trim().parse().map_err(|_| AttrError(format!("expected {what}")))
    }
}

macro_rules! de_num {
    ($($f:ident => $visit:ident : $t:ty),* $(,)?) => {
        $(fn $f<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
            visitor.$visit(self.parse::<$t>(stringify!($t))?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = AttrError;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
        visitor.visit_borrowed_str(self.0)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => visitor.visit_bool(true),
            "false" | "0" => visitor.visit_bool(false),
            _ => Err(AttrError("expected true or false".into())),
        }
    }
    de_num! {
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16, deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64, deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64, deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, AttrError> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, AttrError> {
        let t = self.0.trim();
        let items: Vec<&str> = if t.is_empty() { Vec::new() } else { t.split(',').map(str::trim).collect() };
        visitor.visit_seq(Items { items: items.into_iter() })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, AttrError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, AttrError> {
        visitor.visit_enum(self.0.trim().into_deserializer())
    }
    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple_struct map struct identifier ignored_any
    }
}

struct Items<'a> {
    items: std::vec::IntoIter<&'a str>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = AttrError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, AttrError> {
        match self.items.next() {
            Some(s) => seed.deserialize(ValueDe(s)).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize, Default)]
    #[serde(rename_all = "snake_case")]
    enum Pad {
        #[default]
        Explicit,
        SameUpper,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Conv {
        strides: Vec<i64>,
        #[serde(default)]
        empty: Vec<i64>,
        eps: f32,
        flag: bool,
        auto_pad: Pad,
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(1e-5f32 as f64), "9.9999997473787516e-06");
        assert_eq!(format_g17(1e-4), "0.0001");
        assert_eq!(format_g17(6.0), "6");
        assert_eq!(format_g17(-0.75), "-0.75");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(0.1f32 as f64), "0.10000000149011612");
    }

    #[test]
    fn struct_round_trip() {
        let c = Conv { strides: vec![1, 2], empty: vec![], eps: 1e-5, flag: true, auto_pad: Pad::SameUpper };
        let attrs = to_attrs(&c).expect("serialize");
        assert_eq!(
            attrs,
            vec![
                ("strides".to_string(), "1, 2".to_string()),
                ("empty".to_string(), "".to_string()),
                ("eps".to_string(), "9.9999997473787516e-06".to_string()),
                ("flag".to_string(), "true".to_string()),
                ("auto_pad".to_string(), "same_upper".to_string()),
            ]
        );
        let map: HashMap<String, String> = attrs.into_iter().collect();
        let back: Conv = from_attrs(&map).expect("deserialize");
        assert_eq!(back, c);
    }

    #[test]
    fn bad_values_are_errors() {
        let map: HashMap<String, String> =
            [("strides", "1,x"), ("eps", "1"), ("flag", "true"), ("auto_pad", "explicit")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert!(from_attrs::<Conv>(&map).is_err());
    }
}
