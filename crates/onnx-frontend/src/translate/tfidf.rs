//! TfIdfVectorizer-9 over integer tokens, decomposed into shifted comparisons.
//!
//! An n-gram `g` of size `k` read with skip distance `d` matches at start `s` when
//! `X[s + j d] == g[j]` for every `j < k`. All sizes, skips and the pool are attributes, so for
//! each (size, skip) pair the `k` shifted windows of X are compared at once with every pool
//! n-gram of that size (`[B, starts, n-grams]`), AND-ed over `j`, and summed over the starts.
//! As in the ONNX reference, unigrams are counted once (skip 1 only) and n-grams of 2 or more
//! tokens once per skip distance `1 ..= max_skip_count + 1`.

use std::collections::BTreeMap;

use ir_graph::ops::{self, ScatterReduction};
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Res<T> = Result<T, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("", "TfIdfVectorizer", &[9], tfidf_vectorizer);
}

/// A pool n-gram and its output column.
type Gram = (Vec<i64>, i64);

/// How counts become outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

/// The pool n-grams that are counted (sizes within `[min, max]`), grouped by size, each with its
/// output column; a repeated n-gram keeps its last column, as the reference's trie does.
fn pool_ngrams(
    pool: &[i64],
    counts: &[i64],
    indexes: &[i64],
    min: i64,
    max: i64,
) -> Result<BTreeMap<usize, Vec<Gram>>, String> {
    let mut by_size: BTreeMap<usize, BTreeMap<Vec<i64>, i64>> = BTreeMap::new();
    let mut id = 0usize;
    for (level, &start) in counts.iter().enumerate() {
        let size = level + 1;
        let end = counts.get(level + 1).copied().unwrap_or(pool.len() as i64);
        if start < 0 || end < start || end as usize > pool.len() {
            return Err(format!("ngram_counts {counts:?} do not index a pool of {} items", pool.len()));
        }
        let n = (end - start) as usize / size;
        if (size as i64) < min || (size as i64) > max {
            id += n;
            continue;
        }
        for m in 0..n {
            let at = start as usize + m * size;
            let gram = pool[at..at + size].to_vec();
            let col = *indexes
                .get(id)
                .ok_or_else(|| format!("ngram_indexes has {} entries, n-gram {id} has none", indexes.len()))?;
            if col < 0 {
                return Err(format!("ngram_indexes holds the negative index {col}"));
            }
            by_size.entry(size).or_default().insert(gram, col);
            id += 1;
        }
    }
    Ok(by_size.into_iter().map(|(k, grams)| (k, grams.into_iter().collect())).collect())
}

/// TfIdfVectorizer-9 on `[C]` or `[B, C]` int32 / int64 tokens with `pool_int64s`.
fn tfidf_vectorizer(c: &mut NodeContext<'_>) -> R {
    let mode = match c.attr_string("mode", "")?.as_str() {
        "TF" => Mode::Tf,
        "IDF" => Mode::Idf,
        "TFIDF" => Mode::TfIdf,
        other => return Err(c.error(format!("unknown mode '{other}' (TF, IDF or TFIDF)"))),
    };
    if c.attr_strings("pool_strings")?.is_some_and(|p| !p.is_empty()) {
        return Err(c.error("pool_strings is not supported: OpenVINO IR has no string comparison (use pool_int64s)"));
    }
    let pool = c.attr_ints("pool_int64s")?.ok_or_else(|| c.error("attribute 'pool_int64s' is required"))?;
    let min = c.attr_int_req("min_gram_length")?;
    let max = c.attr_int_req("max_gram_length")?;
    let max_skip = c.attr_int_req("max_skip_count")?;
    let counts = c.attr_ints("ngram_counts")?.ok_or_else(|| c.error("attribute 'ngram_counts' is required"))?;
    let indexes = c.attr_ints("ngram_indexes")?.ok_or_else(|| c.error("attribute 'ngram_indexes' is required"))?;
    let weights = c.attr_floats("weights")?.unwrap_or_default();
    if min < 1 || max < min || max_skip < 0 {
        return Err(
            c.error(format!("min_gram_length {min}, max_gram_length {max} and max_skip_count {max_skip} are invalid"))
        );
    }
    let out_size = indexes.iter().copied().max().map_or(0, |m| m.saturating_add(1)).max(0) as usize;
    if !weights.is_empty() && weights.len() < out_size {
        return Err(c.error(format!("{} weights for {out_size} output columns", weights.len())));
    }
    let grams = pool_ngrams(&pool, &counts, &indexes, min, max).map_err(|m| c.error(m))?;

    let x = c.input(0)?;
    let xt = c.element_type(x);
    if !matches!(xt, ElementType::I32 | ElementType::I64) {
        return Err(c.error(format!("input of type {xt} is not supported (int32 or int64 tokens)")));
    }
    let rank = c.static_rank(x, "TfIdfVectorizer")?;
    if !(1..=2).contains(&rank) {
        return Err(c.error(format!("input must be [C] or [B, C], got rank {rank}")));
    }
    let len = c
        .shape(x)
        .dims()
        .and_then(|d| d[rank - 1].get())
        .ok_or_else(|| c.error("the token axis must have a static length"))? as usize;
    let mut x =
        if xt == ElementType::I64 { x } else { c.add(ops::Convert { destination_type: ElementType::I64 }, &[x])? };
    if rank == 1 {
        let zero = c.const_vec(&[0])?;
        x = c.add(ops::Unsqueeze {}, &[x, zero])?;
    }

    // Counts per counted n-gram, as f32 [B, n] blocks, with their output columns.
    let mut blocks = Vec::new();
    let mut columns = Vec::new();
    for (&size, list) in &grams {
        let skips = if size == 1 { 1 } else { max_skip as usize + 1 };
        let mut total: Option<OutputRef> = None;
        for d in 1..=skips {
            let span = (size - 1) * d;
            if span >= len {
                break;
            }
            let starts = len - span;
            let mut all: Option<OutputRef> = None;
            for j in 0..size {
                let window = slice_axis1(c, x, (j * d) as i64, (j * d + starts) as i64)?;
                let two = c.const_vec(&[2])?;
                let window = c.add(ops::Unsqueeze {}, &[window, two])?;
                let tokens: Vec<i64> = list.iter().map(|(g, _)| g[j]).collect();
                let tokens = c.const_vec(&tokens)?;
                let eq = c.add(ops::Equal::default(), &[window, tokens])?;
                all = Some(match all {
                    None => eq,
                    Some(a) => c.add(ops::LogicalAnd::default(), &[a, eq])?,
                });
            }
            let Some(all) = all else { continue };
            let hits = c.add(ops::Convert { destination_type: ElementType::F32 }, &[all])?;
            let one = c.const_vec(&[1])?;
            let n = c.add(ops::ReduceSum { keep_dims: false }, &[hits, one])?;
            total = Some(match total {
                None => n,
                Some(t) => c.add(ops::Add::default(), &[t, n])?,
            });
        }
        if let Some(t) = total {
            blocks.push(t);
            columns.extend(list.iter().map(|(_, col)| *col));
        }
    }

    // Frequencies [B, out_size]: zeros, plus each block's counts scattered to its columns.
    let rows = batch_rows(c, x)?;
    let width = c.const_vec(&[out_size as i64])?;
    let shape = c.add(ops::Concat { axis: 0 }, &[rows, width])?;
    let zero = c.const_scalar(ElementType::F32, 0.0)?;
    let mut freq = c.add(ops::Broadcast::default(), &[zero, shape])?;
    if !blocks.is_empty() {
        let counts = if blocks.len() == 1 { blocks[0] } else { c.add(ops::Concat { axis: 1 }, &blocks)? };
        let cols = c.const_i64(&[1, columns.len()], columns.clone())?;
        let idx_shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[counts])?;
        let cols = c.add(ops::Broadcast::default(), &[cols, idx_shape])?;
        let axis = c.constant(Tensor::scalar(1i64))?;
        freq = c.add(
            ops::ScatterElementsUpdate { reduction: ScatterReduction::Sum, use_init_val: true },
            &[freq, cols, counts, axis],
        )?;
    }

    let y = weigh(c, freq, mode, &weights[..weights.len().min(out_size)])?;
    if rank == 1 {
        let zero = c.const_vec(&[0])?;
        return Ok(vec![c.add(ops::Squeeze {}, &[y, zero])?]);
    }
    Ok(vec![y])
}

/// `x[:, begin..end]`.
fn slice_axis1(c: &mut NodeContext<'_>, x: OutputRef, begin: i64, end: i64) -> Res<OutputRef> {
    let (b, e, s, a) = (c.const_vec(&[begin])?, c.const_vec(&[end])?, c.const_vec(&[1])?, c.const_vec(&[1])?);
    c.add(ops::Slice {}, &[x, b, e, s, a])
}

/// `[B]` of a `[B, C]` tensor, a constant when static.
fn batch_rows(c: &mut NodeContext<'_>, x: OutputRef) -> Res<OutputRef> {
    if let Some(b) = c.shape(x).dims().and_then(|d| d[0].get()) {
        return c.const_vec(&[b as i64]);
    }
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    slice_axis0(c, shape)
}

fn slice_axis0(c: &mut NodeContext<'_>, x: OutputRef) -> Res<OutputRef> {
    let (b, e, s, a) = (c.const_vec(&[0])?, c.const_vec(&[1])?, c.const_vec(&[1])?, c.const_vec(&[0])?);
    c.add(ops::Slice {}, &[x, b, e, s, a])
}

/// TF: the counts; IDF: the column's weight (1 without weights) where the count is positive;
/// TFIDF: count times weight (the count without weights).
fn weigh(c: &mut NodeContext<'_>, freq: OutputRef, mode: Mode, weights: &[f32]) -> Res<OutputRef> {
    let w = if weights.is_empty() {
        None
    } else {
        Some(c.constant(Tensor::from_vec(vec![weights.len()], weights.to_vec()).map_err(|e| c.error(e.to_string()))?)?)
    };
    match (mode, w) {
        (Mode::Tf, _) | (Mode::TfIdf, None) => Ok(freq),
        (Mode::TfIdf, Some(w)) => c.add(ops::Multiply::default(), &[freq, w]),
        (Mode::Idf, w) => {
            let zero = c.const_scalar(ElementType::F32, 0.0)?;
            let seen = c.add(ops::Greater::default(), &[freq, zero])?;
            let on = match w {
                Some(w) => w,
                None => c.const_scalar(ElementType::F32, 1.0)?,
            };
            c.add(ops::Select::default(), &[seen, on, zero])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pool_ngrams;

    #[test]
    fn pool_levels_outside_the_gram_lengths_are_skipped_but_numbered() {
        // Unigrams 2, 3; bigrams (5, 4), (5, 6): with min = max = 2 only the bigrams count,
        // and they keep ids 2 and 3.
        let g = pool_ngrams(&[2, 3, 5, 4, 5, 6], &[0, 2], &[7, 8, 9, 10], 2, 2).expect("pool");
        assert_eq!(g.len(), 1);
        assert_eq!(g[&2], vec![(vec![5, 4], 9), (vec![5, 6], 10)]);
    }

    #[test]
    fn repeated_ngram_keeps_the_last_column() {
        let g = pool_ngrams(&[1, 1], &[0], &[0, 1], 1, 1).expect("pool");
        assert_eq!(g[&1], vec![(vec![1], 1)]);
    }

    #[test]
    fn bad_ngram_counts_are_an_error() {
        assert!(pool_ngrams(&[1, 2], &[0, 5], &[0], 1, 2).is_err());
        assert!(pool_ngrams(&[1, 2], &[0], &[0], 1, 2).is_err());
    }
}
