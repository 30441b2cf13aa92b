//! Row-major matrix products over the `gemm` crate (the kernel burn's CPU backend also uses),
//! single-threaded: the fused trainer parallelises over batch rows instead, so each thread runs
//! whole sequences and the threads never wait on each other inside a step.

use gemm::Parallelism;

/// Which operand is read transposed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// The matrix as stored.
    N,
    /// Its transpose.
    T,
}

/// `c[m×n] = op(a) · op(b)` (or `+=` with `accumulate`), every matrix row-major and dense;
/// `op(a)` is `m×k`, `op(b)` is `k×n`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    ta: Op,
    b: &[f32],
    tb: Op,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    assert_eq!(c.len(), m * n, "output shape");
    assert_eq!(a.len(), m * k, "left operand shape");
    assert_eq!(b.len(), k * n, "right operand shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    // (row stride, column stride) of op(x) for a row-major x.
    let (a_rs, a_cs) = match ta {
        Op::N => (k as isize, 1),
        Op::T => (1, m as isize),
    };
    let (b_rs, b_cs) = match tb {
        Op::N => (n as isize, 1),
        Op::T => (1, k as isize),
    };
    // SAFETY: the asserts above make every index the strides reach lie inside its slice, and
    // `c` is borrowed mutably so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], ta: Op, b: &[f32], tb: Op, m: usize, n: usize, k: usize) -> Vec<f32> {
        let at = |i: usize, p: usize| {
            if ta == Op::N {
                a[i * k + p]
            } else {
                a[p * m + i]
            }
        };
        let bt = |p: usize, j: usize| {
            if tb == Op::N {
                b[p * n + j]
            } else {
                b[j * k + p]
            }
        };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn every_transpose_combination_matches_the_definition() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        for ta in [Op::N, Op::T] {
            for tb in [Op::N, Op::T] {
                let want = naive(&a, ta, &b, tb, m, n, k);
                let mut c = vec![1.0; m * n];
                matmul(&mut c, &a, ta, &b, tb, (m, n, k), true);
                for (got, want) in c.iter().zip(&want) {
                    assert!((got - (want + 1.0)).abs() < 1e-5, "{ta:?} {tb:?}");
                }
                matmul(&mut c, &a, ta, &b, tb, (m, n, k), false);
                for (got, want) in c.iter().zip(&want) {
                    assert!((got - want).abs() < 1e-5, "{ta:?} {tb:?}");
                }
            }
        }
    }
}
