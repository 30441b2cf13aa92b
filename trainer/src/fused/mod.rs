//! The CPU training engine: the whole network's forward and backward pass written out over a
//! fast matrix-product kernel, instead of burn's per-step tensor graph (about 12 graph nodes
//! per GRU step, each allocated and dispatched on its own).
//!
//! A batch is split by rows across threads; each thread runs its sequences end to end and
//! returns its gradients, which are summed in a fixed order. Dropout masks are a hash of
//! (seed, step, layer, position), so they do not depend on the thread count, and a run is
//! deterministic for a given thread count.
//!
//! [`ContinuoNet`](crate::model::ContinuoNet) is the reference: `tests/fused_reference.rs`
//! checks that this engine's loss, gradients and Adam step equal burn's autodiff.

pub mod adam;
mod gemm;
mod gru;
pub mod math;
pub mod params;

use std::sync::Mutex;

use params::Layout;

/// Which dropout masks a training pass draws.
#[derive(Debug, Clone, Copy)]
pub struct DropoutKey {
    pub probability: f64,
    pub seed: u64,
    pub step: u64,
}

/// The inputs of one pass: `[batch, time]` token ids and the grid position after each,
/// row-major, as [`crate::data::Batch`].
pub struct Window<'a> {
    pub inputs: &'a [i64],
    pub targets: &'a [i64],
    pub phase: &'a [i64],
    pub bar_beat: &'a [i64],
    pub batch: usize,
    pub time: usize,
    /// Initial state `[layers, batch, hidden]`; zeros when `None`.
    pub state: Option<&'a [f32]>,
}

/// What a pass computed.
#[derive(Debug, Clone)]
pub struct Pass {
    /// Mean NLL per token (nats).
    pub loss: f64,
    /// Gradient of the mean loss, in the [`Layout`]; with `grads` only.
    pub grads: Vec<f32>,
    /// Final state `[layers, batch, hidden]`.
    pub state: Vec<f32>,
    /// Gradient of the mean loss at the initial state; with `grads` only.
    pub state_grad: Vec<f32>,
}

pub struct FusedNet {
    pub layout: Layout,
    pub params: Vec<f32>,
    pub threads: usize,
    /// One buffer pool per thread, kept across passes: fresh multi-megabyte buffers each
    /// step cost a page fault per 4 KiB (a tenth of the step time when measured).
    pools: Vec<Mutex<Pool>>,
}

/// Buffers returned after use and handed out again.
#[derive(Default)]
pub struct Pool(Vec<Vec<f32>>);

impl Pool {
    /// `len` zeros, in the smallest returned buffer that holds them.
    pub fn zeros(&mut self, len: usize) -> Vec<f32> {
        let best = (0..self.0.len())
            .filter(|&i| self.0[i].capacity() >= len)
            .min_by_key(|&i| self.0[i].capacity());
        let mut v = best.map_or_else(|| Vec::with_capacity(len), |i| self.0.swap_remove(i));
        v.clear();
        v.resize(len, 0.0);
        v
    }

    pub fn put(&mut self, buffer: Vec<f32>) {
        self.0.push(buffer);
    }
}

/// One thread's share of a pass.
struct Part {
    loss_sum: f64,
    grads: Vec<f32>,
    state: Vec<f32>,
    state_grad: Vec<f32>,
}

impl FusedNet {
    pub fn new(layout: Layout, params: Vec<f32>, threads: usize) -> Self {
        assert_eq!(params.len(), layout.len);
        let threads = threads.max(1);
        Self {
            layout,
            params,
            threads,
            pools: (0..threads).map(|_| Mutex::default()).collect(),
        }
    }

    /// Loss (and with `grads`, its gradients) of the network over `window`.
    pub fn pass(&self, window: &Window, dropout: Option<DropoutKey>, grads: bool) -> Pass {
        let b = window.batch;
        let threads = self.threads.min(b).max(1);
        let bounds: Vec<(usize, usize)> = (0..threads)
            .map(|k| (k * b / threads, (k + 1) * b / threads))
            .collect();
        let parts: Vec<Part> = if threads == 1 {
            vec![self.part(window, 0, b, dropout, grads, &mut self.pool(0))]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = bounds
                    .iter()
                    .enumerate()
                    .map(|(k, &(lo, hi))| {
                        s.spawn(move || {
                            self.part(window, lo, hi, dropout, grads, &mut self.pool(k))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("training thread panicked"))
                    .collect()
            })
        };

        let (layers, h) = (self.layout.arch.num_layers, self.layout.arch.hidden_dim);
        let tokens = (b * window.time).max(1);
        let mut pass = Pass {
            loss: parts.iter().map(|p| p.loss_sum).sum::<f64>() / tokens as f64,
            grads: Vec::new(),
            state: vec![0.0; layers * b * h],
            state_grad: Vec::new(),
        };
        if grads {
            pass.grads = self.pool(0).zeros(self.layout.len);
            pass.state_grad = vec![0.0; layers * b * h];
        }
        for (part, &(lo, hi)) in parts.iter().zip(&bounds) {
            let rows = hi - lo;
            for l in 0..layers {
                let dst = (l * b + lo) * h..(l * b + hi) * h;
                let src = l * rows * h..(l + 1) * rows * h;
                pass.state[dst.clone()].copy_from_slice(&part.state[src.clone()]);
                if grads {
                    pass.state_grad[dst].copy_from_slice(&part.state_grad[src]);
                }
            }
            for (g, p) in pass.grads.iter_mut().zip(&part.grads) {
                *g += p;
            }
        }
        for (k, part) in parts.into_iter().enumerate() {
            let mut pool = self.pool(k);
            pool.put(part.grads);
            pool.put(part.state_grad);
        }
        pass
    }

    fn layer_weights(&self, l: usize) -> gru::Weights<'_> {
        let s = self.layout.layer(l);
        let p = &self.params;
        gru::Weights {
            w: &p[s.w],
            wb: &p[s.wb],
            r: &p[s.r],
            rb: &p[s.rb],
            hidden: self.layout.arch.hidden_dim,
        }
    }

    /// Hands a pass's gradient buffer back for the next pass.
    pub fn recycle(&self, grads: Vec<f32>) {
        self.pool(0).put(grads);
    }

    fn pool(&self, k: usize) -> std::sync::MutexGuard<'_, Pool> {
        self.pools[k].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sequences `lo..hi` of the window, forward and (with `grads`) backward.
    fn part(
        &self,
        window: &Window,
        lo: usize,
        hi: usize,
        dropout: Option<DropoutKey>,
        grads: bool,
        pool: &mut Pool,
    ) -> Part {
        let lay = &self.layout;
        let p = &self.params;
        let (e, h, v) = (lay.arch.embed_dim, lay.arch.hidden_dim, lay.vocab);
        let (b, time) = (hi - lo, window.time);
        let rows = b * time;
        // Time-major: row t·b + i is sequence lo + i at step t.
        let at = |ids: &[i64], t: usize, i: usize| ids[(lo + i) * time + t] as usize;
        let column =
            |ids: &[i64]| -> Vec<usize> { (0..rows).map(|r| at(ids, r / b, r % b)).collect() };
        let targets = column(window.targets);
        // Each input row is the sum of one row of each table.
        let tables = [
            (lay.embedding(), column(window.inputs)),
            (lay.phase(), column(window.phase)),
            (lay.bar_beat(), column(window.bar_beat)),
        ];
        let mut x = pool.zeros(rows * e);
        for (table, ids) in &tables {
            let table = &p[table.clone()];
            for (row, &id) in x.chunks_exact_mut(e).zip(ids) {
                row.iter_mut()
                    .zip(&table[id * e..(id + 1) * e])
                    .for_each(|(x, w)| *x += w);
            }
        }

        // Forward, keeping each layer's input, tape and dropout mask.
        let mut inputs = Vec::new();
        let mut tapes = Vec::new();
        let mut masks = Vec::new();
        let mut state = vec![0.0; lay.arch.num_layers * b * h];
        for l in 0..lay.arch.num_layers {
            let weights = self.layer_weights(l);
            let h0 = match window.state {
                Some(st) => st[(l * window.batch + lo) * h..(l * window.batch + hi) * h].to_vec(),
                None => vec![0.0; b * h],
            };
            let tape = gru::forward(&weights, &x, b, &h0, pool);
            state[l * b * h..(l + 1) * b * h].copy_from_slice(tape.last_state());
            let mut y = pool.zeros(rows * h);
            y.copy_from_slice(tape.outputs());
            let mask =
                dropout.map(|key| dropout_mask(key, l, lo, b, time, h, pool.zeros(rows * h)));
            if let Some(mask) = &mask {
                y.iter_mut().zip(mask).for_each(|(y, m)| *y *= m);
            }
            inputs.push(std::mem::replace(&mut x, y));
            tapes.push(tape);
            masks.push(mask);
        }

        let (ow, ob) = lay.output();
        let mut logits = pool.zeros(rows * v);
        for row in logits.chunks_exact_mut(v) {
            row.copy_from_slice(&p[ob.clone()]);
        }
        gemm::matmul(
            &mut logits,
            &x,
            gemm::Op::N,
            &p[ow.clone()],
            gemm::Op::N,
            (rows, v, h),
            true,
        );
        let total_tokens = (window.batch * time) as f32;
        let loss_sum = math::cross_entropy(
            &mut logits,
            v,
            &targets,
            grads.then_some(1.0 / total_tokens),
        );
        if !grads {
            for buffer in [x, logits]
                .into_iter()
                .chain(inputs)
                .chain(masks.into_iter().flatten())
            {
                pool.put(buffer);
            }
            tapes.into_iter().for_each(|t| t.recycle(pool));
            return Part {
                loss_sum,
                grads: Vec::new(),
                state,
                state_grad: Vec::new(),
            };
        }

        // Backward: `logits` now holds the loss gradient at the logits.
        let mut g = pool.zeros(lay.len);
        let mut state_grad = pool.zeros(lay.arch.num_layers * b * h);
        gemm::matmul(
            &mut g[ow.clone()],
            &x,
            gemm::Op::T,
            &logits,
            gemm::Op::N,
            (h, v, rows),
            true,
        );
        math::add_column_sums(&mut g[ob], &logits);
        let mut dy = pool.zeros(rows * h);
        gemm::matmul(
            &mut dy,
            &logits,
            gemm::Op::N,
            &p[ow],
            gemm::Op::T,
            (rows, h, v),
            false,
        );
        for l in (0..lay.arch.num_layers).rev() {
            if let Some(mask) = &masks[l] {
                dy.iter_mut().zip(mask).for_each(|(d, m)| *d *= m);
            }
            let s = lay.layer(l);
            let weights = self.layer_weights(l);
            let (gw, gwb, gr, grb) = split4(&mut g, [s.w, s.wb, s.r, s.rb]);
            let mut dx = pool.zeros(rows * s.d_input);
            let dh0 = gru::backward(
                &weights,
                tapes.pop().expect("one tape per layer"),
                &inputs[l],
                &dy,
                gru::Grads {
                    w: gw,
                    wb: gwb,
                    r: gr,
                    rb: grb,
                },
                Some(&mut dx),
                pool,
            );
            state_grad[l * b * h..(l + 1) * b * h].copy_from_slice(&dh0);
            pool.put(dh0);
            pool.put(std::mem::replace(&mut dy, dx));
        }
        // The sum passes the input gradient unchanged to each table's row.
        for (table, ids) in &tables {
            let gt = &mut g[table.clone()];
            for (&id, dx) in ids.iter().zip(dy.chunks_exact(e)) {
                gt[id * e..(id + 1) * e]
                    .iter_mut()
                    .zip(dx)
                    .for_each(|(d, s)| *d += s);
            }
        }
        for buffer in [x, logits, dy]
            .into_iter()
            .chain(inputs)
            .chain(masks.into_iter().flatten())
        {
            pool.put(buffer);
        }
        Part {
            loss_sum,
            grads: g,
            state,
            state_grad,
        }
    }
}

/// Four disjoint, ascending ranges of `g` as mutable slices.
fn split4(
    g: &mut [f32],
    ranges: [std::ops::Range<usize>; 4],
) -> (&mut [f32], &mut [f32], &mut [f32], &mut [f32]) {
    let [a, b, c, d] = ranges;
    let (_, rest) = g.split_at_mut(a.start);
    let (ga, rest) = rest.split_at_mut(a.len());
    let (_, rest) = rest.split_at_mut(b.start - a.end);
    let (gb, rest) = rest.split_at_mut(b.len());
    let (_, rest) = rest.split_at_mut(c.start - b.end);
    let (gc, rest) = rest.split_at_mut(c.len());
    let (_, rest) = rest.split_at_mut(d.start - c.end);
    (ga, gb, gc, &mut rest[..d.len()])
}

/// Inverted-dropout scales (0 or 1/(1−p)) for a `[time · b, hidden]` block of layer `l`'s
/// outputs, sequences `lo..lo + b`. Each element's draw depends only on its position in the
/// whole batch, never on how the batch was split.
fn dropout_mask(
    key: DropoutKey,
    layer: usize,
    lo: usize,
    b: usize,
    time: usize,
    h: usize,
    mut mask: Vec<f32>,
) -> Vec<f32> {
    let keep = (1.0 / (1.0 - key.probability)) as f32;
    let threshold = (key.probability * (1u64 << 24) as f64) as u64;
    let base = splitmix64(key.seed ^ splitmix64(key.step.wrapping_mul(1_000_003) + layer as u64));
    mask.clear();
    for t in 0..time {
        for i in 0..b {
            let position = (((lo + i) * time + t) * h) as u64;
            for j in 0..h as u64 {
                let draw = splitmix64(base ^ (position + j)) >> 40;
                mask.push(if draw < threshold { 0.0 } else { keep });
            }
        }
    }
    mask
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
