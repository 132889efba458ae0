//! `ai.onnx.ml` TreeEnsemble-5 decomposed into tensor ops.
//!
//! Every interior node's test is evaluated for every sample at once (`[N, nodes]`). Interior
//! nodes and leaves share one index space (leaves after the nodes, each leaf pointing to
//! itself), so a walk is a fixed number of steps, the deepest tree's depth (known at conversion
//! time): each step picks the current position's test result and moves to its true or false
//! successor with Gathers on constant tables. The reached leaves' weights are then aggregated
//! per target (sum, average, min or max) through a `[N, trees, targets]` one-hot.

use std::collections::HashSet;

use ir_graph::ops;
use ir_graph::{ElementType, OutputRef, Tensor};

use super::{NodeContext, Registry};
use crate::error::FrontendError;

type R = Result<Vec<OutputRef>, FrontendError>;
type Res<T> = Result<T, FrontendError>;

pub(super) fn register(r: &mut Registry) {
    r.register("ai.onnx.ml", "TreeEnsemble", &[5], tree_ensemble);
}

/// Node comparison modes, in the order of the `nodes_modes` codes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Member,
}

impl Mode {
    fn from_code(code: i64) -> Option<Mode> {
        use Mode::*;
        [Leq, Lt, Gte, Gt, Eq, Neq, Member].get(usize::try_from(code).ok()?).copied()
    }
}

/// The ensemble's structure, checked.
#[derive(Debug)]
struct Trees {
    /// Successor of each position (nodes, then leaves pointing to themselves) when the test holds.
    next_true: Vec<i64>,
    /// Successor when the test fails.
    next_false: Vec<i64>,
    /// Starting position of each tree.
    starts: Vec<i64>,
    /// Steps needed to reach a leaf from every start.
    depth: usize,
}

/// Builds the walk tables; `Err` names what is inconsistent.
fn walk_tables(
    true_ids: &[i64],
    false_ids: &[i64],
    true_leafs: &[i64],
    false_leafs: &[i64],
    roots: &[i64],
    leaves: usize,
) -> Result<Trees, String> {
    let m = true_ids.len();
    if [false_ids.len(), true_leafs.len(), false_leafs.len()].iter().any(|&l| l != m) {
        return Err("the nodes_* attributes differ in length".into());
    }
    let target = |id: i64, leaf: bool| -> Result<i64, String> {
        let limit = if leaf { leaves } else { m };
        if id < 0 || id as usize >= limit {
            let what = if leaf { "leaf" } else { "node" };
            return Err(format!("{what} index {id} is out of range ({limit} {what}s)"));
        }
        Ok(if leaf { m as i64 + id } else { id })
    };
    let mut next_true = Vec::with_capacity(m + leaves);
    let mut next_false = Vec::with_capacity(m + leaves);
    for i in 0..m {
        next_true.push(target(true_ids[i], true_leafs[i] != 0)?);
        next_false.push(target(false_ids[i], false_leafs[i] != 0)?);
    }
    for l in 0..leaves {
        next_true.push((m + l) as i64);
        next_false.push((m + l) as i64);
    }
    let mut starts = Vec::with_capacity(roots.len());
    for &r in roots {
        let ri = usize::try_from(r).ok().filter(|&r| r < m).ok_or_else(|| format!("tree root {r} is out of range"))?;
        // A tree that is a single leaf: both branches lead to the same leaf, which the root
        // index also names.
        let single_leaf = true_leafs[ri] != 0 && false_leafs[ri] != 0 && true_ids[ri] == false_ids[ri];
        starts.push(if single_leaf { target(r, true)? } else { r });
    }
    // Depth by levels: a position set that does not shrink to leaves within `m` steps has a cycle.
    let mut depth = 0;
    let mut frontier: HashSet<i64> = starts.iter().copied().filter(|&s| (s as usize) < m).collect();
    while !frontier.is_empty() {
        if depth > m {
            return Err("the nodes form a cycle".into());
        }
        depth += 1;
        frontier = frontier
            .iter()
            .flat_map(|&p| [next_true[p as usize], next_false[p as usize]])
            .filter(|&p| (p as usize) < m)
            .collect();
    }
    Ok(Trees { next_true, next_false, starts, depth })
}

/// Members of each BRANCH_MEMBER node, in the order of `nodes_modes`, from the NaN-delimited
/// `membership_values`.
fn member_sets(modes: &[Mode], values: &[f64]) -> Result<Vec<Vec<f64>>, String> {
    let mut sets: Vec<Vec<f64>> = vec![Vec::new()];
    for &v in values {
        match sets.last_mut() {
            Some(s) if !v.is_nan() => s.push(v),
            _ => sets.push(Vec::new()),
        }
    }
    let wanted = modes.iter().filter(|&&m| m == Mode::Member).count();
    if values.last().is_some_and(|v| v.is_nan()) {
        sets.pop();
    }
    if wanted == 0 {
        return Ok(Vec::new());
    }
    if sets.len() != wanted {
        return Err(format!("membership_values holds {} sets for {wanted} BRANCH_MEMBER nodes", sets.len()));
    }
    Ok(sets)
}

fn ints_attr(c: &NodeContext<'_>, name: &str) -> Res<Vec<i64>> {
    c.attr_ints(name)?.ok_or_else(|| c.error(format!("attribute '{name}' is required")))
}

fn tensor_attr(c: &NodeContext<'_>, name: &str) -> Res<Option<Tensor>> {
    c.attr_tensor(name)
}

fn tensor_values(c: &NodeContext<'_>, name: &str) -> Res<Vec<f64>> {
    let t = tensor_attr(c, name)?.ok_or_else(|| c.error(format!("attribute '{name}' is required")))?;
    t.to_f64_vec().map_err(|e| c.error(format!("attribute '{name}': {e}")))
}

/// A 1-D constant of type `et`.
fn float_vec(c: &mut NodeContext<'_>, et: ElementType, v: &[f64]) -> Res<OutputRef> {
    let f = c.constant(Tensor::from_vec(vec![v.len()], v.to_vec()).map_err(|e| c.error(e.to_string()))?)?;
    if et == ElementType::F64 {
        return Ok(f);
    }
    c.add(ops::Convert { destination_type: et }, &[f])
}

/// TreeEnsemble-5 with post_transform NONE on `[N, F]` float input.
fn tree_ensemble(c: &mut NodeContext<'_>) -> R {
    let x = c.input(0)?;
    let et = c.element_type(x);
    if !matches!(et, ElementType::F32 | ElementType::F64 | ElementType::F16) {
        return Err(c.error(format!("input of type {et} is not supported (float, double or float16)")));
    }
    if c.static_rank(x, "TreeEnsemble")? != 2 {
        return Err(c.error("input must be 2-D [N, features]"));
    }
    let post = c.attr_int("post_transform", 0)?;
    if post != 0 {
        return Err(c.error(format!("post_transform {post} is not supported (only 0, NONE)")));
    }
    let aggregate = c.attr_int("aggregate_function", 1)?;
    let n_targets = c.attr_int_req("n_targets")?;
    if n_targets < 1 {
        return Err(c.error(format!("n_targets must be positive, got {n_targets}")));
    }
    let features = ints_attr(c, "nodes_featureids")?;
    let modes: Vec<Mode> = tensor_attr(c, "nodes_modes")?
        .ok_or_else(|| c.error("attribute 'nodes_modes' is required"))?
        .to_i64_vec()
        .map_err(|e| c.error(e.to_string()))?
        .into_iter()
        .map(|code| Mode::from_code(code).ok_or_else(|| c.error(format!("unknown node mode {code}"))))
        .collect::<Res<_>>()?;
    let splits = tensor_values(c, "nodes_splits")?;
    let missing_true = c.attr_ints("nodes_missing_value_tracks_true")?.unwrap_or_default();
    let leaf_targets = ints_attr(c, "leaf_targetids")?;
    let leaf_weights = tensor_values(c, "leaf_weights")?;
    let members = match tensor_attr(c, "membership_values")? {
        Some(t) => t.to_f64_vec().map_err(|e| c.error(e.to_string()))?,
        None => Vec::new(),
    };
    let sets = member_sets(&modes, &members).map_err(|m| c.error(m))?;
    let trees = walk_tables(
        &ints_attr(c, "nodes_truenodeids")?,
        &ints_attr(c, "nodes_falsenodeids")?,
        &ints_attr(c, "nodes_trueleafs")?,
        &ints_attr(c, "nodes_falseleafs")?,
        &ints_attr(c, "tree_roots")?,
        leaf_weights.len(),
    )
    .map_err(|m| c.error(m))?;
    let m = features.len();
    if modes.len() != m || splits.len() != m || !(missing_true.is_empty() || missing_true.len() == m) {
        return Err(c.error("the nodes_* attributes differ in length"));
    }
    if leaf_targets.len() != leaf_weights.len() {
        return Err(c.error("leaf_targetids and leaf_weights differ in length"));
    }
    if let Some(t) = leaf_targets.iter().find(|&&t| t < 0 || t >= n_targets) {
        return Err(c.error(format!("leaf target {t} is out of range for n_targets {n_targets}")));
    }
    let width = c.shape(x).dims().and_then(|d| d.get(1).and_then(|d| d.get())).map_or(i64::MAX, |w| w as i64);
    if let Some(f) = features.iter().find(|&&f| f < 0 || f >= width) {
        return Err(c.error(format!("feature id {f} is out of range for the input's {width} features")));
    }

    if trees.starts.is_empty() {
        return Err(c.error("tree_roots is empty"));
    }

    let rows = batch_rows(c, x)?;
    let n_trees = trees.starts.len();
    let starts = c.const_i64(&[1, n_trees], trees.starts.clone())?;
    let width = c.const_vec(&[n_trees as i64])?;
    let walk_shape = c.add(ops::Concat { axis: 0 }, &[rows, width])?;
    let mut cur = c.add(ops::Broadcast::default(), &[starts, walk_shape])?;
    if trees.depth > 0 {
        let cond = node_tests(c, x, &features, &modes, &splits, &missing_true, &sets)?;
        let last = c.const_i64(&[], vec![m as i64 - 1])?;
        let next_true = c.const_vec(&trees.next_true)?;
        let next_false = c.const_vec(&trees.next_false)?;
        let axis0 = c.constant(Tensor::scalar(0i64))?;
        for _ in 0..trees.depth {
            // Leaves' tests are never used (both successors are the leaf): read any node's.
            let at = c.add(ops::Minimum::default(), &[cur, last])?;
            let holds = c.add(ops::GatherElements { axis: 1 }, &[cond, at])?;
            let t = c.add(ops::Gather { batch_dims: 0 }, &[next_true, cur, axis0])?;
            let f = c.add(ops::Gather { batch_dims: 0 }, &[next_false, cur, axis0])?;
            cur = c.add(ops::Select::default(), &[holds, t, f])?;
        }
    }
    let offset = c.const_i64(&[], vec![m as i64])?;
    let leaf = c.add(ops::Subtract::default(), &[cur, offset])?;
    let axis0 = c.constant(Tensor::scalar(0i64))?;
    let weights = float_vec(c, et, &leaf_weights)?;
    let mut w = c.add(ops::Gather { batch_dims: 0 }, &[weights, leaf, axis0])?;
    let targets = c.const_vec(&leaf_targets)?;
    let tgt = c.add(ops::Gather { batch_dims: 0 }, &[targets, leaf, axis0])?;
    // One-hot of each tree's target: [N, trees, n_targets].
    let two = c.const_vec(&[2])?;
    let tgt = c.add(ops::Unsqueeze {}, &[tgt, two])?;
    let ids: Vec<i64> = (0..n_targets).collect();
    let ids = c.const_vec(&ids)?;
    let hit = c.add(ops::Equal::default(), &[tgt, ids])?;
    if aggregate == 0 {
        let k = c.const_scalar(et, n_trees as f64)?;
        w = c.add(ops::Divide::default(), &[w, k])?;
    }
    let w = c.add(ops::Unsqueeze {}, &[w, two])?;
    let (fill, op): (f64, ir_graph::Op) = match aggregate {
        0 | 1 => (0.0, ops::ReduceSum { keep_dims: false }.into()),
        2 => (max_finite(et), ops::ReduceMin { keep_dims: false }.into()),
        3 => (-max_finite(et), ops::ReduceMax { keep_dims: false }.into()),
        other => return Err(c.error(format!("unknown aggregate_function {other}"))),
    };
    let fill = c.const_scalar(et, fill)?;
    let v = c.add(ops::Select::default(), &[hit, w, fill])?;
    let one = c.const_vec(&[1])?;
    Ok(vec![c.add(op, &[v, one])?])
}

/// The largest finite value of a float type (the reference's starting value for min / max).
fn max_finite(et: ElementType) -> f64 {
    match et {
        ElementType::F16 => 65504.0,
        ElementType::F32 => f64::from(f32::MAX),
        _ => f64::MAX,
    }
}

/// `[N]` of an `[N, ...]` tensor, a constant when static.
fn batch_rows(c: &mut NodeContext<'_>, x: OutputRef) -> Res<OutputRef> {
    if let Some(b) = c.shape(x).dims().and_then(|d| d.first().and_then(|d| d.get())) {
        return c.const_vec(&[b as i64]);
    }
    let shape = c.add(ops::ShapeOf { output_type: ElementType::I64 }, &[x])?;
    let (b, e, s, a) = (c.const_vec(&[0])?, c.const_vec(&[1])?, c.const_vec(&[1])?, c.const_vec(&[0])?);
    c.add(ops::Slice {}, &[shape, b, e, s, a])
}

/// Whether each node's test holds for each sample: `[N, nodes]` booleans. A NaN feature fails
/// every comparison except NEQ (as IEEE and the reference have it) and follows the true branch
/// where `nodes_missing_value_tracks_true` is set.
fn node_tests(
    c: &mut NodeContext<'_>,
    x: OutputRef,
    features: &[i64],
    modes: &[Mode],
    splits: &[f64],
    missing_true: &[i64],
    sets: &[Vec<f64>],
) -> Res<OutputRef> {
    let et = c.element_type(x);
    let m = features.len();
    let feats = c.const_vec(features)?;
    let axis1 = c.constant(Tensor::scalar(1i64))?;
    let xf = c.add(ops::Gather { batch_dims: 0 }, &[x, feats, axis1])?;
    let split = float_vec(c, et, splits)?;
    let mut cond: Option<OutputRef> = None;
    for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq, Mode::Member] {
        let mask: Vec<bool> = modes.iter().map(|&md| md == mode).collect();
        if !mask.contains(&true) {
            continue;
        }
        let test = match mode {
            Mode::Leq => c.add(ops::LessEqual::default(), &[xf, split])?,
            Mode::Lt => c.add(ops::Less::default(), &[xf, split])?,
            Mode::Gte => c.add(ops::GreaterEqual::default(), &[xf, split])?,
            Mode::Gt => c.add(ops::Greater::default(), &[xf, split])?,
            Mode::Eq => c.add(ops::Equal::default(), &[xf, split])?,
            Mode::Neq => c.add(ops::NotEqual::default(), &[xf, split])?,
            Mode::Member => membership(c, xf, modes, sets)?,
        };
        cond = Some(match cond {
            None => test,
            Some(prev) => {
                let mask = bool_vec(c, &mask)?;
                c.add(ops::Select::default(), &[mask, test, prev])?
            }
        });
    }
    let mut cond = cond.ok_or_else(|| c.error("the ensemble has no nodes"))?;
    if missing_true.iter().any(|&v| v != 0) {
        let mask: Vec<bool> = (0..m).map(|i| missing_true.get(i).is_some_and(|&v| v != 0)).collect();
        let mask = bool_vec(c, &mask)?;
        let nan = c.add(ops::IsNaN {}, &[xf])?;
        let nan = c.add(ops::LogicalAnd::default(), &[nan, mask])?;
        cond = c.add(ops::LogicalOr::default(), &[cond, nan])?;
    }
    Ok(cond)
}

fn bool_vec(c: &mut NodeContext<'_>, v: &[bool]) -> Res<OutputRef> {
    let t = Tensor::from_bools(vec![v.len()], v).map_err(|e| c.error(e.to_string()))?;
    c.constant(t)
}

/// Largest set-membership table (nodes x values) built at conversion time.
const MAX_MEMBERSHIP_CELLS: usize = 1 << 26;

/// BRANCH_MEMBER tests: `[N, nodes]`, whether the feature equals one of the node's members
/// (rows of other nodes and padding hold NaN, which equals nothing).
fn membership(c: &mut NodeContext<'_>, xf: OutputRef, modes: &[Mode], sets: &[Vec<f64>]) -> Res<OutputRef> {
    let et = c.element_type(xf);
    let width = sets.iter().map(Vec::len).max().unwrap_or(0).max(1);
    // The table is nodes x largest set; a few long sets over many nodes must not be able to
    // ask for more memory than any model needs.
    let cells = modes.len().checked_mul(width).filter(|&n| n <= MAX_MEMBERSHIP_CELLS).ok_or_else(|| {
        c.error(format!(
            "the set-membership table of {} nodes x {width} values exceeds {MAX_MEMBERSHIP_CELLS} entries",
            modes.len()
        ))
    })?;
    let mut table = vec![f64::NAN; cells];
    let mut next = sets.iter();
    for (i, _) in modes.iter().enumerate().filter(|&(_, &md)| md == Mode::Member) {
        let set = next.next().ok_or_else(|| c.error("membership_values holds too few sets"))?;
        table[i * width..i * width + set.len()].copy_from_slice(set);
    }
    let t = Tensor::from_vec(vec![modes.len(), width], table).map_err(|e| c.error(e.to_string()))?;
    let mut t = c.constant(t)?;
    if et != ElementType::F64 {
        t = c.add(ops::Convert { destination_type: et }, &[t])?;
    }
    let two = c.const_vec(&[2])?;
    let x3 = c.add(ops::Unsqueeze {}, &[xf, two])?;
    let eq = c.add(ops::Equal::default(), &[x3, t])?;
    c.add(ops::ReduceLogicalOr { keep_dims: false }, &[eq, two])
}

#[cfg(test)]
mod tests {
    use super::{Mode, member_sets, walk_tables};

    #[test]
    fn walk_tables_number_leaves_after_nodes() {
        // Node 0: true -> node 1, false -> leaf 2; node 1: true -> leaf 0, false -> leaf 1.
        let t = walk_tables(&[1, 0], &[2, 1], &[0, 1], &[1, 1], &[0], 3).expect("tables");
        assert_eq!(t.next_true, vec![1, 2, 2, 3, 4]);
        assert_eq!(t.next_false, vec![4, 3, 2, 3, 4]);
        assert_eq!((t.starts.clone(), t.depth), (vec![0], 2));
    }

    #[test]
    fn single_leaf_tree_starts_at_its_leaf() {
        let t = walk_tables(&[0], &[0], &[1], &[1], &[0], 1).expect("tables");
        assert_eq!((t.starts.clone(), t.depth), (vec![1], 0));
    }

    #[test]
    fn cycles_and_bad_indices_are_errors() {
        assert!(walk_tables(&[1, 0], &[1, 0], &[0, 0], &[0, 0], &[0], 0).is_err());
        assert!(walk_tables(&[5], &[0], &[0], &[1], &[0], 1).is_err());
        assert!(walk_tables(&[0], &[0], &[1], &[1], &[3], 1).is_err());
    }

    #[test]
    fn member_sets_split_on_nan() {
        let modes = [Mode::Leq, Mode::Member, Mode::Member];
        let sets = member_sets(&modes, &[1.0, 2.0, f64::NAN, 3.0, f64::NAN]).expect("sets");
        assert_eq!(sets, vec![vec![1.0, 2.0], vec![3.0]]);
        assert!(member_sets(&modes, &[1.0, f64::NAN]).is_err());
    }
}
