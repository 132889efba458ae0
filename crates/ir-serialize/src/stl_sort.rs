//! libstdc++'s `std::sort` (introsort + final insertion sort), step for step.
//!
//! OpenVINO sorts `<edges>` by source layer only with this unstable sort, so the order of edges
//! that share a source layer is whatever this algorithm leaves. Reproducing it makes our XML
//! byte-identical to OpenVINO's for the same graph, which lets tests compare files directly.

const THRESHOLD: usize = 16;

/// Sorts `v` exactly like libstdc++'s `std::sort(v.begin(), v.end(), less)`.
pub(crate) fn std_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    introsort_loop(v, 0, n, depth, less);
    final_insertion_sort(v, 0, n, less);
}

fn introsort_loop<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_sort(v, first, last, less);
            return;
        }
        depth -= 1;
        let cut = unguarded_partition_pivot(v, first, last, less);
        introsort_loop(v, cut, last, depth, less);
        last = cut;
    }
}

fn unguarded_partition_pivot<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, less);
    unguarded_partition(v, first + 1, last, first, less)
}

fn move_median_to_first<T: Copy>(
    v: &mut [T],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    let pick = if less(&v[a], &v[b]) {
        if less(&v[b], &v[c]) {
            b
        } else if less(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if less(&v[a], &v[c]) {
        a
    } else if less(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(result, pick);
}

fn unguarded_partition<T: Copy>(
    v: &mut [T],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    less: &impl Fn(&T, &T) -> bool,
) -> usize {
    loop {
        while less(&v[first], &v[pivot]) {
            first += 1;
        }
        last -= 1;
        while less(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn final_insertion_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
    if last - first > THRESHOLD {
        insertion_sort(v, first, first + THRESHOLD, less);
        for i in first + THRESHOLD..last {
            unguarded_linear_insert(v, i, less);
        }
    } else {
        insertion_sort(v, first, last, less);
    }
}

fn insertion_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if less(&v[i], &v[first]) {
            let val = v[i];
            v.copy_within(first..i, first + 1);
            v[first] = val;
        } else {
            unguarded_linear_insert(v, i, less);
        }
    }
}

fn unguarded_linear_insert<T: Copy>(v: &mut [T], mut last: usize, less: &impl Fn(&T, &T) -> bool) {
    let val = v[last];
    let mut next = last - 1;
    while less(&val, &v[next]) {
        v[last] = v[next];
        last = next;
        next -= 1;
    }
    v[last] = val;
}

/// `std::__partial_sort(first, last, last)`: make_heap then sort_heap.
fn heap_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
    let s = &mut v[first..last];
    let len = s.len();
    if len >= 2 {
        let mut parent = (len - 2) / 2;
        loop {
            let value = s[parent];
            adjust_heap(s, parent, len, value, less);
            if parent == 0 {
                break;
            }
            parent -= 1;
        }
    }
    let mut end = len;
    while end > 1 {
        end -= 1;
        let value = s[end];
        s[end] = s[0];
        adjust_heap(s, 0, end, value, less);
    }
}

fn adjust_heap<T: Copy>(s: &mut [T], mut hole: usize, len: usize, value: T, less: &impl Fn(&T, &T) -> bool) {
    let top = hole;
    let mut second = hole;
    while second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if less(&s[second], &s[second - 1]) {
            second -= 1;
        }
        s[hole] = s[second];
        hole = second;
    }
    if len & 1 == 0 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        s[hole] = s[second - 1];
        hole = second - 1;
    }
    let mut parent = hole.wrapping_sub(1) / 2;
    while hole > top && less(&s[parent], &value) {
        s[hole] = s[parent];
        hole = parent;
        parent = hole.wrapping_sub(1) / 2;
    }
    s[hole] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_key_like_any_sort() {
        // A simple LCG gives varied inputs, with many equal keys as in edge lists.
        let mut x = 12345u64;
        for n in [0usize, 1, 2, 5, 16, 17, 40, 300, 2000] {
            let mut v: Vec<(u32, u32)> = (0..n)
                .map(|i| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (((x >> 33) % 50) as u32, i as u32)
                })
                .collect();
            let mut keys: Vec<u32> = v.iter().map(|p| p.0).collect();
            std_sort(&mut v, &|a, b| a.0 < b.0);
            keys.sort_unstable();
            assert_eq!(v.iter().map(|p| p.0).collect::<Vec<_>>(), keys);
        }
        // Heap fallback: depth 0 forces it.
        let mut v: Vec<u32> = (0..100).rev().collect();
        heap_sort(&mut v, 0, 100, &|a, b| a < b);
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
