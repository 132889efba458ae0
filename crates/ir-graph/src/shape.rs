//! Partial shapes: dynamic rank, or a list of dims each static, an interval or unknown.

use std::fmt;

/// One dimension: the closed interval `[min, max]`; static when `min == max`, unbounded above
/// when `max` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dim {
    /// Smallest value the dimension can take.
    pub min: u64,
    /// Largest value, `None` when unbounded.
    pub max: Option<u64>,
}

impl Dim {
    /// A fully unknown dimension (`?`).
    pub const DYNAMIC: Dim = Dim { min: 0, max: None };

    /// A static dimension.
    pub fn fixed(n: u64) -> Dim {
        Dim { min: n, max: Some(n) }
    }

    /// An interval dimension `min..max`.
    pub fn interval(min: u64, max: Option<u64>) -> Dim {
        Dim { min, max }
    }

    /// The value if the dimension is static.
    pub fn get(self) -> Option<u64> {
        match self.max {
            Some(m) if m == self.min => Some(m),
            _ => None,
        }
    }

    /// True when the dimension has one value.
    pub fn is_static(self) -> bool {
        self.get().is_some()
    }

    /// True when nothing is known (`?`).
    pub fn is_dynamic(self) -> bool {
        self.min == 0 && self.max.is_none()
    }

    /// Whether `n` lies in the interval.
    pub fn contains(self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }

    /// The intersection of two dims, or `None` when they cannot be equal.
    pub fn merge(self, other: Dim) -> Option<Dim> {
        let min = self.min.max(other.min);
        let max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if max.is_some_and(|m| m < min) { None } else { Some(Dim { min, max }) }
    }

    /// Sum of two dims (interval arithmetic).
    // Not `std::ops::Add`: the caller should see that this is interval arithmetic on bounds.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Dim) -> Dim {
        Dim {
            min: self.min.saturating_add(other.min),
            max: self.max.zip(other.max).and_then(|(a, b)| a.checked_add(b)),
        }
    }

    /// Product of two dims (interval arithmetic).
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, other: Dim) -> Dim {
        Dim {
            min: self.min.saturating_mul(other.min),
            max: self.max.zip(other.max).and_then(|(a, b)| a.checked_mul(b)),
        }
    }

    /// Numpy broadcast of two dims; `None` when they are known to be incompatible.
    pub fn broadcast(self, other: Dim) -> Option<Dim> {
        match (self.get(), other.get()) {
            (Some(1), _) => Some(other),
            (_, Some(1)) => Some(self),
            (Some(a), Some(b)) => (a == b).then_some(self),
            (Some(_), None) => self.merge(other).map(|_| self),
            (None, Some(_)) => other.merge(self).map(|_| other),
            // Either could be 1 at run time; all we know is the larger lower bound.
            (None, None) => Some(Dim { min: self.min.max(other.min), max: None }),
        }
    }
}

impl From<u64> for Dim {
    fn from(n: u64) -> Dim {
        Dim::fixed(n)
    }
}

impl fmt::Display for Dim {
    /// `3`, `?`, `1..10`, `..5`, `2..` as OpenVINO prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.get(), self.min, self.max) {
            (Some(n), _, _) => write!(f, "{n}"),
            (None, 0, None) => f.write_str("?"),
            (None, 0, Some(max)) => write!(f, "..{max}"),
            (None, min, None) => write!(f, "{min}.."),
            (None, min, Some(max)) => write!(f, "{min}..{max}"),
        }
    }
}

/// A shape that may be partly or wholly unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartialShape {
    /// Not even the rank is known.
    DynamicRank,
    /// Known rank; each dim static, interval or dynamic.
    Ranked(Vec<Dim>),
}

impl PartialShape {
    /// A fully static shape.
    pub fn fixed(dims: &[usize]) -> PartialShape {
        PartialShape::Ranked(dims.iter().map(|&d| Dim::fixed(d as u64)).collect())
    }

    /// A scalar (rank 0).
    pub fn scalar() -> PartialShape {
        PartialShape::Ranked(Vec::new())
    }

    /// A shape of known rank with all dims dynamic.
    pub fn dynamic_of_rank(rank: usize) -> PartialShape {
        PartialShape::Ranked(vec![Dim::DYNAMIC; rank])
    }

    /// The rank when known.
    pub fn rank(&self) -> Option<usize> {
        match self {
            PartialShape::DynamicRank => None,
            PartialShape::Ranked(d) => Some(d.len()),
        }
    }

    /// The dims when the rank is known.
    pub fn dims(&self) -> Option<&[Dim]> {
        match self {
            PartialShape::DynamicRank => None,
            PartialShape::Ranked(d) => Some(d),
        }
    }

    /// The concrete shape when every dim is static and fits `usize`.
    pub fn to_static(&self) -> Option<Vec<usize>> {
        self.dims()?.iter().map(|d| d.get().and_then(|v| usize::try_from(v).ok())).collect()
    }

    /// True when every dim is static.
    pub fn is_static(&self) -> bool {
        self.to_static().is_some()
    }

    /// Whether a concrete shape fits this partial shape.
    pub fn accepts(&self, shape: &[usize]) -> bool {
        match self {
            PartialShape::DynamicRank => true,
            PartialShape::Ranked(d) => {
                d.len() == shape.len() && d.iter().zip(shape).all(|(d, &s)| d.contains(s as u64))
            }
        }
    }

    /// The most specific shape compatible with both, or `None` if they conflict.
    pub fn merge(&self, other: &PartialShape) -> Option<PartialShape> {
        match (self, other) {
            (PartialShape::DynamicRank, s) | (s, PartialShape::DynamicRank) => Some(s.clone()),
            (PartialShape::Ranked(a), PartialShape::Ranked(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                a.iter().zip(b).map(|(x, y)| x.merge(*y)).collect::<Option<Vec<_>>>().map(PartialShape::Ranked)
            }
        }
    }

    /// Numpy-style broadcast of two shapes; `None` when incompatible.
    pub fn broadcast(&self, other: &PartialShape) -> Option<PartialShape> {
        let (a, b) = match (self, other) {
            (PartialShape::Ranked(a), PartialShape::Ranked(b)) => (a, b),
            _ => return Some(PartialShape::DynamicRank),
        };
        let rank = a.len().max(b.len());
        let pad = |v: &[Dim]| {
            let mut out = vec![Dim::fixed(1); rank - v.len()];
            out.extend_from_slice(v);
            out
        };
        let (a, b) = (pad(a), pad(b));
        a.iter().zip(&b).map(|(x, y)| x.broadcast(*y)).collect::<Option<Vec<_>>>().map(PartialShape::Ranked)
    }

    /// The IR `<data shape=...>` spelling of a Parameter: `1,?,1..10`; scalar `""`; `...` for dynamic rank.
    pub fn to_ir_string(&self) -> String {
        match self {
            PartialShape::DynamicRank => "...".to_string(),
            PartialShape::Ranked(d) => d.iter().map(Dim::to_string).collect::<Vec<_>>().join(","),
        }
    }

    /// Parses a Parameter shape string: `1,3,?,-1,1..10,..5,2..`, `""`, `...`, with or without
    /// brackets and spaces.
    pub fn parse(text: &str) -> Result<PartialShape, String> {
        let t = text.trim();
        let t = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(t).trim();
        if t == "..." {
            return Ok(PartialShape::DynamicRank);
        }
        if t.is_empty() {
            return Ok(PartialShape::scalar());
        }
        t.split(',').map(|d| parse_dim(d.trim())).collect::<Result<Vec<_>, _>>().map(PartialShape::Ranked)
    }
}

fn parse_dim(d: &str) -> Result<Dim, String> {
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("bad dimension '{d}'"));
    if d == "?" || d == "-1" {
        return Ok(Dim::DYNAMIC);
    }
    if let Some((lo, hi)) = d.split_once("..") {
        let min = if lo.trim().is_empty() { 0 } else { num(lo)? };
        let max = if hi.trim().is_empty() { None } else { Some(num(hi)?) };
        if max.is_some_and(|m| m < min) {
            return Err(format!("empty dimension interval '{d}'"));
        }
        return Ok(Dim::interval(min, max));
    }
    num(d).map(Dim::fixed)
}

impl fmt::Display for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialShape::DynamicRank => f.write_str("[...]"),
            PartialShape::Ranked(d) => {
                write!(f, "[{}]", d.iter().map(Dim::to_string).collect::<Vec<_>>().join(","))
            }
        }
    }
}

/// Product of dims with overflow check.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides (in elements) of a shape.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Serialized as the IR Parameter spelling (`1,?,1..10`).
impl serde::Serialize for PartialShape {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ir_string())
    }
}

impl<'de> serde::Deserialize<'de> for PartialShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        PartialShape::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for s in ["1,3,224,224", "?,16", "1..10,?,3,..5,2..", "", "..."] {
            assert_eq!(PartialShape::parse(s).map(|p| p.to_ir_string()), Ok(s.to_string()));
        }
        assert_eq!(PartialShape::parse("[-1, 16]").map(|p| p.to_ir_string()), Ok("?,16".into()));
        assert!(PartialShape::parse("1,x").is_err());
        assert!(PartialShape::parse("5..2").is_err());
    }

    #[test]
    fn broadcasting() {
        let a = PartialShape::fixed(&[2, 1, 4]);
        let b = PartialShape::fixed(&[3, 1]);
        assert_eq!(a.broadcast(&b), Some(PartialShape::fixed(&[2, 3, 4])));
        assert_eq!(PartialShape::fixed(&[2]).broadcast(&PartialShape::fixed(&[3])), None);
        let d = PartialShape::Ranked(vec![Dim::DYNAMIC, Dim::fixed(4)]);
        assert_eq!(d.broadcast(&PartialShape::fixed(&[4])), Some(d.clone()));
    }
}
