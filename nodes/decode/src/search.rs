//! The decoding objective of paper step 3 and two searches for its maximum,
//! shared by `decode.viterbi` (no language model) and `decode.emotion_lm`:
//!
//! ```text
//! l* = argmax_l  sum_f ln y_f(l_f) + sum_f ln P(l_{f+1} | l_f) + alpha * ln P_LM(B(l))
//! ```
//!
//! `y_f` are the log prior-scaled posteriors, `P(l_{f+1} | l_f)` the HMM
//! transitions, `B(l)` the region labels (runs collapsed) scored as the
//! sentence `<s> B(l) </s>`. ARPA models are log10; the LM term here is the
//! natural log (`ln p = ln 10 * log10 p`), so `alpha` weighs natural-log LM
//! scores against natural-log acoustic and transition scores.
//!
//! A search state is the current class `c` plus the `n - 2` tokens before
//! the current region (its history; `<s>` while fewer regions exist): with
//! `c` they form the `n - 1`-token LM context that scores the next region and
//! `</s>`. Staying in `c` keeps the state and adds only the transition score;
//! moving to `c' != c` starts a region and adds `alpha * ln p(c' | context)`.
//! Consecutive regions differ, so there are `K (K-1)^(n-2)` states with a full
//! history, plus the few whose history still starts with `<s>`.

use std::collections::{BTreeMap, HashMap, btree_map};
use std::f64::consts::LN_10;

use emoflow_sdk::conventions::{PosteriorsRow, SeriesRow};
use rustc_hash::FxHashMap;

use crate::arpa::{NgramLm, Token};
use crate::common::{Codebooks, OnRow, TaskKey, decode_and_average};
use crate::error::{Error, Result};
use crate::ngram::regions;
use crate::transitions::Transitions;

/// The per-transition scores of the objective for one dimension/task.
#[derive(Debug)]
pub struct Scorer<'a> {
    transitions: &'a Transitions,
    /// The model and `alpha`; `None` without a model or when `alpha` is 0.
    lm: Option<(&'a NgramLm, f64)>,
}

impl<'a> Scorer<'a> {
    /// `what` names the dimension/task in errors.
    pub fn new(
        transitions: &'a Transitions,
        lm: Option<&'a NgramLm>,
        alpha: f64,
        what: &str,
    ) -> Result<Self> {
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(Error::invalid(format!(
                "{what}: alpha {alpha} must be finite and >= 0"
            )));
        }
        if let Some(lm) = lm
            && lm.vocab().num_classes() != transitions.num_classes()
        {
            return Err(Error::data(format!(
                "{what}: the language model has {} classes but the transitions have {}",
                lm.vocab().num_classes(),
                transitions.num_classes()
            )));
        }
        // alpha = 0 drops the model (and avoids 0 * -inf for zero LM probabilities).
        let lm = lm.filter(|_| alpha > 0.0).map(|lm| (lm, alpha));
        Ok(Self { transitions, lm })
    }

    pub fn num_classes(&self) -> usize {
        self.transitions.num_classes()
    }

    /// Tokens of history a state keeps: `order - 2` (none without a model).
    fn history_len(&self) -> usize {
        self.lm.map_or(0, |(lm, _)| lm.order().saturating_sub(2))
    }

    fn bos(&self) -> Token {
        self.num_classes() as Token + 1
    }

    fn lm_score(&self, context: &[Token], word: Token) -> f64 {
        self.lm.map_or(0.0, |(lm, alpha)| {
            alpha * LN_10 * lm.log10_prob(context, word)
        })
    }

    /// Score of an utterance without frames: the sentence `<s> </s>`.
    fn empty(&self) -> f64 {
        self.lm_score(&[self.bos()], self.num_classes() as Token)
    }

    /// Score of the first region being `class`.
    fn start(&self, class: usize) -> f64 {
        self.lm_score(&[self.bos()], class as Token)
    }

    fn stay(&self, class: usize) -> f64 {
        self.transitions.log_prob(class, class)
    }

    /// For the state (`history`, `class`): `row[c']` = score of moving to
    /// `c'` (`-inf` for `c' == class`, which is a stay). Returns the score of
    /// ending the utterance there (`</s>`).
    fn row(&self, history: &[Token], class: usize, row: &mut [f64]) -> f64 {
        let mut context = history.to_vec();
        context.push(class as Token);
        for (next, out) in row.iter_mut().enumerate() {
            *out = if next == class {
                f64::NEG_INFINITY
            } else {
                self.transitions.log_prob(class, next) + self.lm_score(&context, next as Token)
            };
        }
        self.lm_score(&context, self.num_classes() as Token)
    }

    /// The objective of `classes` computed from its definition in f64: the
    /// score both searches report. `emissions` is frames x classes.
    pub fn objective(&self, classes: &[u32], emissions: &[f64]) -> f64 {
        let k = self.num_classes();
        let acoustic: f64 = classes
            .iter()
            .enumerate()
            .map(|(f, &c)| emissions[f * k + c as usize])
            .sum();
        let transitions: f64 = classes
            .windows(2)
            .map(|w| self.transitions.log_prob(w[0] as usize, w[1] as usize))
            .sum();
        let lm = self.lm.map_or(0.0, |(lm, alpha)| {
            alpha * LN_10 * lm.sentence_log10(&regions(classes))
        });
        acoustic + transitions + lm
    }
}

/// A decoded class sequence and its objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub classes: Vec<u32>,
    pub score: f64,
}

/// Refuse exact lattices whose transition table would pass this many cells
/// (4 bytes each).
const MAX_LATTICE_CELLS: usize = 1 << 27;

/// Refuse exact searches whose score table (frames x states, 4 bytes each)
/// would pass this many cells.
const MAX_DELTA_CELLS: usize = 1 << 28;

/// The inner loop works on whole 4-lane f32 vectors (SSE2, the x86-64
/// baseline).
const LANES: usize = 4;

/// Exact search: Viterbi over every state, with the scores of all moves
/// precomputed in flat tables. Keeps its buffers between utterances.
///
/// The tables and the recursion are f32, for twice the vector width of f64;
/// each frame's scores are shifted so that the best is 0, which keeps the
/// values small and f32 precise (about 1e-5 relative to the frame's spread)
/// over thousands of frames. The returned score is the objective of the
/// path recomputed in f64.
pub struct Lattice<'a> {
    scorer: &'a Scorer<'a>,
    k: usize,
    /// `k` padded (see [`padded_classes`]); padding classes are dead.
    kp: usize,
    /// History of the first region's state.
    initial: usize,
    /// States are `history * kp + class`; `preds[pred_start[h]..pred_start[h
    /// + 1]]` are the states whose region change leads to history `h`.
    pred_start: Vec<u32>,
    preds: Vec<u32>,
    stay: Vec<f32>,
    start: Vec<f32>,
    /// Move scores, one row of `kp` per entry of `preds` (so the forward
    /// pass reads them in order); `-inf` for stays and padding.
    moves: Vec<f32>,
    end: Vec<f32>,
    /// Frames x kp emissions and frames x states best scores of the last
    /// decode.
    emissions: Vec<f32>,
    delta: Vec<f32>,
}

/// Every history of `len` tokens: those that still start with `<s>` (shorter
/// than `len`), then the `K (K-1)^(len-1)` full ones.
fn histories(len: usize, k: usize, bos: Token) -> Vec<Vec<Token>> {
    if len == 0 {
        return vec![Vec::new()];
    }
    let grow = |seqs: &[Vec<Token>]| -> Vec<Vec<Token>> {
        seqs.iter()
            .flat_map(|seq| {
                (0..k as Token)
                    .filter(move |&c| seq.last() != Some(&c))
                    .map(move |c| {
                        let mut next = seq.clone();
                        next.push(c);
                        next
                    })
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut started = vec![vec![bos]];
    for _ in 1..len {
        out.extend(started.iter().cloned());
        started = grow(&started);
    }
    out.extend(started);
    let mut full: Vec<Vec<Token>> = (0..k as Token).map(|c| vec![c]).collect();
    for _ in 1..len {
        full = grow(&full);
    }
    out.extend(full);
    out
}

/// The history after a region of `class` follows `history`.
fn next_history(history: &[Token], class: Token, len: usize) -> Vec<Token> {
    let mut next = history.to_vec();
    next.push(class);
    next.drain(..next.len().saturating_sub(len));
    next
}

/// Vectors per column block: the block's scores stay in registers while all
/// predecessors are folded in.
const MAX_BLOCK: usize = 8;

/// Classes padded: to whole vectors, and beyond one block to whole blocks.
fn padded_classes(k: usize) -> usize {
    if k <= MAX_BLOCK * LANES {
        k.div_ceil(LANES) * LANES
    } else {
        k.div_ceil(MAX_BLOCK * LANES) * MAX_BLOCK * LANES
    }
}

/// One frame of the recursion, `cur` from `prev`, with `kp` padded classes
/// per history handled in blocks of `V` vectors; returns the frame's best
/// score.
#[inline(always)]
fn step<const V: usize>(
    kp: usize,
    (pred_start, preds, stay, moves): (&[u32], &[u32], &[f32], &[f32]),
    prev: &[f32],
    cur: &mut [f32],
    emission: &[f32],
) -> f32 {
    // Lane-wise maxima: a scalar running max would be one long dependency chain.
    let mut best = [f32::NEG_INFINITY; LANES];
    for (h, row) in cur.chunks_exact_mut(kp).enumerate() {
        let range = pred_start[h] as usize..pred_start[h + 1] as usize;
        let rows = &moves[range.start * kp..range.end * kp];
        let preds = &preds[range];
        for (col, out) in (0..kp)
            .step_by(V * LANES)
            .zip(row.chunks_exact_mut(V * LANES))
        {
            let own = &prev[h * kp + col..][..V * LANES];
            let stay = &stay[col..][..V * LANES];
            let mut acc: [[f32; LANES]; V] = std::array::from_fn(|v| {
                std::array::from_fn(|i| own[v * LANES + i] + stay[v * LANES + i])
            });
            for (&pred, m) in preds.iter().zip(rows.chunks_exact(kp)) {
                let score = prev[pred as usize];
                let m = &m[col..][..V * LANES];
                for (v, a) in acc.iter_mut().enumerate() {
                    for (i, a) in a.iter_mut().enumerate() {
                        // A compare-select, so that it compiles to a vector max.
                        let x = score + m[v * LANES + i];
                        *a = if x > *a { x } else { *a };
                    }
                }
            }
            let emission = &emission[col..][..V * LANES];
            for (v, a) in acc.iter().enumerate() {
                for (i, &a) in a.iter().enumerate() {
                    let total = a + emission[v * LANES + i];
                    out[v * LANES + i] = total;
                    best[i] = if total > best[i] { total } else { best[i] };
                }
            }
        }
    }
    best.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

impl<'a> Lattice<'a> {
    pub fn new(scorer: &'a Scorer<'a>, what: &str) -> Result<Self> {
        let k = scorer.num_classes();
        let kp = padded_classes(k);
        let len = scorer.history_len();
        let hists = histories(len, k, scorer.bos());
        let states = hists.len() * kp;
        if states.saturating_mul(kp) > MAX_LATTICE_CELLS {
            return Err(Error::data(format!(
                "{what}: exact search over {states} states of {k} classes is too large; use search = \"beam\""
            )));
        }
        let index: HashMap<&[Token], usize> = hists
            .iter()
            .enumerate()
            .map(|(i, h)| (h.as_slice(), i))
            .collect();
        let mut moves = vec![f32::NEG_INFINITY; states * kp];
        let mut end = vec![f32::NEG_INFINITY; states];
        let mut row = vec![0.0; k];
        let mut leads_to: Vec<Vec<u32>> = vec![Vec::new(); hists.len()];
        for (h, history) in hists.iter().enumerate() {
            for class in 0..k {
                if history.last() == Some(&(class as Token)) {
                    continue; // a region never follows one of the same class
                }
                let state = h * kp + class;
                end[state] = scorer.row(history, class, &mut row) as f32;
                for (out, &score) in moves[state * kp..].iter_mut().zip(&row) {
                    *out = score as f32;
                }
                let next = next_history(history, class as Token, len);
                leads_to[index[next.as_slice()]].push(state as u32);
            }
        }
        let mut pred_start = vec![0u32];
        let mut preds = Vec::new();
        for list in leads_to {
            preds.extend(list);
            pred_start.push(preds.len() as u32);
        }
        let moves: Vec<f32> = preds
            .iter()
            .flat_map(|&s| &moves[s as usize * kp..(s as usize + 1) * kp])
            .copied()
            .collect();
        let padded = |score: &dyn Fn(usize) -> f64| -> Vec<f32> {
            (0..kp)
                .map(|c| {
                    if c < k {
                        score(c) as f32
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect()
        };
        Ok(Self {
            scorer,
            k,
            kp,
            initial: index[next_history(&[], scorer.bos(), len).as_slice()],
            pred_start,
            preds,
            stay: padded(&|c| scorer.stay(c)),
            start: padded(&|c| scorer.start(c)),
            moves,
            end,
            emissions: Vec::new(),
            delta: Vec::new(),
        })
    }

    /// The number of search states (without padding).
    pub fn num_states(&self) -> usize {
        self.preds.len()
    }

    /// The best path for `emissions` (frames x classes).
    pub fn decode(&mut self, emissions: &[f64]) -> Result<Path> {
        let frames = emissions.len() / self.k;
        if frames.saturating_mul(self.end.len()) > MAX_DELTA_CELLS {
            return Err(Error::data(format!(
                "exact search over {} states x {frames} frames needs more than {} MiB; use search = \"beam\"",
                self.num_states(),
                (MAX_DELTA_CELLS * 4) >> 20
            )));
        }
        let classes = self.best_classes(emissions);
        let score = self.scorer.objective(&classes, emissions);
        Ok(Path { classes, score })
    }

    fn best_classes(&mut self, emissions: &[f64]) -> Vec<u32> {
        let (k, kp, states) = (self.k, self.kp, self.end.len());
        let frames = emissions.len() / k;
        if frames == 0 {
            return Vec::new();
        }
        self.emissions.clear();
        for frame in emissions.chunks_exact(k) {
            self.emissions.extend(frame.iter().map(|&e| e as f32));
            self.emissions
                .extend(std::iter::repeat_n(f32::NEG_INFINITY, kp - k));
        }
        // Every cell is written below before it is read.
        if self.delta.len() < frames * states {
            self.delta.resize(frames * states, f32::NEG_INFINITY);
        }
        let delta = &mut self.delta[..frames * states];
        let first = &mut delta[..states];
        first.fill(f32::NEG_INFINITY);
        for c in 0..k {
            first[self.initial * kp + c] = self.start[c] + self.emissions[c];
        }
        for f in 1..frames {
            let (done, rest) = delta.split_at_mut(f * states);
            let prev = &done[(f - 1) * states..];
            let cur = &mut rest[..states];
            let emission = &self.emissions[f * kp..(f + 1) * kp];
            let tables = (
                &self.pred_start[..],
                &self.preds[..],
                &self.stay[..],
                &self.moves[..],
            );
            // Constant widths let the compiler unroll the usual class counts.
            // Constant block widths let the compiler keep a block in registers.
            let best = match kp / LANES {
                1 => step::<1>(kp, tables, prev, cur, emission),
                2 => step::<2>(kp, tables, prev, cur, emission),
                3 => step::<3>(kp, tables, prev, cur, emission),
                4 => step::<4>(kp, tables, prev, cur, emission),
                5 => step::<5>(kp, tables, prev, cur, emission),
                6 => step::<6>(kp, tables, prev, cur, emission),
                7 => step::<7>(kp, tables, prev, cur, emission),
                _ => step::<MAX_BLOCK>(kp, tables, prev, cur, emission),
            };
            // Shift so the best is 0 (unless every state is dead).
            if best.is_finite() {
                for a in cur.iter_mut() {
                    *a -= best;
                }
            }
        }
        let last = &delta[(frames - 1) * states..];
        let mut state = 0;
        let mut score = f32::NEG_INFINITY;
        for (s, (&d, &e)) in last.iter().zip(&self.end).enumerate() {
            if d + e > score || s == 0 {
                score = d + e;
                state = s;
            }
        }
        // Trace back by recomputing each chosen maximum in the forward order.
        let mut classes = vec![0u32; frames];
        for f in (1..frames).rev() {
            classes[f] = (state % kp) as u32;
            let prev = &delta[(f - 1) * states..f * states];
            let (h, c) = (state / kp, state % kp);
            let mut best = prev[state] + self.stay[c];
            let mut from = state;
            let first = self.pred_start[h] as usize;
            for (j, &pred) in self.preds[first..self.pred_start[h + 1] as usize]
                .iter()
                .enumerate()
            {
                let v = prev[pred as usize] + self.moves[(first + j) * kp + c];
                if v > best {
                    best = v;
                    from = pred as usize;
                }
            }
            state = from;
        }
        classes[0] = (state % kp) as u32;
        classes
    }
}

/// Beam search over the same states: after each frame only the `width` best
/// states survive (recombined: one hypothesis per state). Move scores are
/// computed when a state is first reached, so the table never grows beyond
/// the states visited. With `width` at least the number of states it is the
/// exact search.
pub fn beam_search(scorer: &Scorer, emissions: &[f64], width: usize) -> Path {
    let k = scorer.num_classes();
    let len = scorer.history_len();
    let frames = emissions.len() / k;
    let width = width.max(1);
    let packer = Packer { len };
    if frames == 0 {
        return Path {
            classes: Vec::new(),
            score: scorer.empty(),
        };
    }
    let mut rows = RowCache {
        index: FxHashMap::default(),
        scores: Vec::new(),
        k,
    };
    let mut hyps: Vec<Hyp> = (0..k)
        .map(|c| Hyp {
            key: packer.pack(&next_history(&[], scorer.bos(), len), c as Token),
            score: scorer.start(c) + emissions[c],
            back: 0,
        })
        .collect();
    prune(&mut hyps, width);
    // Per frame: the survivors' classes and back pointers.
    let mut trace: Vec<Vec<(u32, u32)>> = Vec::with_capacity(frames);
    trace.push(hyps.iter().map(|h| (packer.class(h.key), h.back)).collect());
    let mut next: Vec<Hyp> = Vec::new();
    let mut slot: FxHashMap<u64, usize> = FxHashMap::default();
    for f in 1..frames {
        let emission = &emissions[f * k..(f + 1) * k];
        next.clear();
        slot.clear();
        for (i, hyp) in hyps.iter().enumerate() {
            let class = packer.class(hyp.key) as usize;
            let row = rows.get(scorer, &packer, hyp.key);
            let mut offer = |key: u64, score: f64| match slot.get(&key) {
                Some(&j) if next[j].score >= score => {}
                Some(&j) => {
                    next[j] = Hyp {
                        key,
                        score,
                        back: i as u32,
                    }
                }
                None => {
                    slot.insert(key, next.len());
                    next.push(Hyp {
                        key,
                        score,
                        back: i as u32,
                    });
                }
            };
            offer(hyp.key, hyp.score + scorer.stay(class) + emission[class]);
            let history = packer.shift(hyp.key);
            for c in (0..k).filter(|&c| c != class) {
                offer(
                    history | c as u64,
                    hyp.score + rows.scores[row + c] + emission[c],
                );
            }
        }
        prune(&mut next, width);
        std::mem::swap(&mut hyps, &mut next);
        trace.push(hyps.iter().map(|h| (packer.class(h.key), h.back)).collect());
    }
    let mut best = 0;
    let mut score = f64::NEG_INFINITY;
    for (i, hyp) in hyps.iter().enumerate() {
        let total = hyp.score + rows.end_of(scorer, &packer, hyp.key);
        if total > score || i == 0 {
            score = total;
            best = i;
        }
    }
    let mut classes = vec![0u32; frames];
    for f in (0..frames).rev() {
        let (class, back) = trace[f][best];
        classes[f] = class;
        best = back as usize;
    }
    Path { classes, score }
}

/// Which search `decode.viterbi` and `decode.emotion_lm` run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    Exact,
    Beam { width: usize },
}

/// Decodes every task row of `posteriors` with the objective of its
/// dimension/task in `scorers`, then reconstructs and averages over tasks.
pub fn decode_series(
    posteriors: &[PosteriorsRow],
    codebooks: &Codebooks,
    scorers: &BTreeMap<TaskKey, Scorer>,
    search: Search,
    on_row: OnRow,
) -> Result<Vec<SeriesRow>> {
    // Exact-search tables, built once per dimension/task on first use.
    let mut lattices: BTreeMap<TaskKey, Lattice> = BTreeMap::new();
    decode_and_average(posteriors, codebooks, on_row, |row, emissions| {
        let key = (row.dim.clone(), row.task.clone());
        let what = format!("{}/{}", row.dim, row.task);
        let Some(scorer) = scorers.get(&key) else {
            return Err(Error::data(format!(
                "utterance {}: nothing to decode {what} with (no class sequences of it in the \
                 fitting splits, or no language model)",
                row.utt_id
            )));
        };
        if scorer.num_classes() != row.num_classes as usize {
            return Err(Error::data(format!(
                "utterance {} ({what}): {} classes but the transitions have {}",
                row.utt_id,
                row.num_classes,
                scorer.num_classes()
            )));
        }
        Ok(match search {
            Search::Exact => {
                let lattice = match lattices.entry(key) {
                    btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    btree_map::Entry::Vacant(entry) => entry.insert(Lattice::new(scorer, &what)?),
                };
                lattice
                    .decode(emissions)
                    .map_err(|e| e.context(&what))?
                    .classes
            }
            Search::Beam { width } => beam_search(scorer, emissions, width).classes,
        })
    })
}

#[derive(Clone, Copy)]
struct Hyp {
    key: u64,
    score: f64,
    back: u32,
}

/// Keeps the `width` best hypotheses (ties broken by state, so the result
/// does not depend on hashing).
fn prune(hyps: &mut Vec<Hyp>, width: usize) {
    if hyps.len() > width {
        hyps.select_nth_unstable_by(width - 1, |a, b| {
            b.score.total_cmp(&a.score).then(a.key.cmp(&b.key))
        });
        hyps.truncate(width);
    }
}

/// A state as one integer: 16 bits per history token (oldest first, padded
/// with `PAD` while the history is short), then 16 bits of class.
struct Packer {
    len: usize,
}

const PAD: u64 = 0xFFFF;

impl Packer {
    fn pack(&self, history: &[Token], class: Token) -> u64 {
        let mut key = 0;
        for i in 0..self.len {
            let token = (i + history.len())
                .checked_sub(self.len)
                .map_or(PAD, |j| u64::from(history[j]));
            key = (key << 16) | token;
        }
        (key << 16) | u64::from(class)
    }

    fn class(&self, key: u64) -> u32 {
        (key & 0xFFFF) as u32
    }

    fn history(&self, key: u64) -> Vec<Token> {
        (0..self.len)
            .rev()
            .map(|i| (key >> (16 * (i + 1))) & 0xFFFF)
            .filter(|&t| t != PAD)
            .map(|t| t as Token)
            .collect()
    }

    /// The key of the history after leaving `key`'s region, class bits zero.
    fn shift(&self, key: u64) -> u64 {
        let mask = (1u64 << (16 * self.len)) - 1;
        (key & mask) << 16
    }
}

/// Move scores of visited states: `K` moves then the end score, per state.
struct RowCache {
    index: FxHashMap<u64, usize>,
    scores: Vec<f64>,
    k: usize,
}

impl RowCache {
    fn get(&mut self, scorer: &Scorer, packer: &Packer, key: u64) -> usize {
        if let Some(&row) = self.index.get(&key) {
            return row;
        }
        let row = self.scores.len();
        self.scores.resize(row + self.k + 1, 0.0);
        let end = scorer.row(
            &packer.history(key),
            packer.class(key) as usize,
            &mut self.scores[row..row + self.k],
        );
        self.scores[row + self.k] = end;
        self.index.insert(key, row);
        row
    }

    fn end_of(&mut self, scorer: &Scorer, packer: &Packer, key: u64) -> f64 {
        let row = self.get(scorer, packer, key);
        self.scores[row + self.k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arpa::Vocab;
    use crate::ngram::train_witten_bell;
    use proptest::prelude::*;

    /// A random problem: emissions (log of normalised random posteriors),
    /// transitions and a language model trained on random sentences.
    #[derive(Debug)]
    struct Problem {
        k: usize,
        emissions: Vec<f64>,
        transitions: Transitions,
        lm: NgramLm,
        alpha: f64,
    }

    fn problem(
        max_k: usize,
        max_frames: usize,
        max_order: usize,
    ) -> impl Strategy<Value = Problem> {
        (2..=max_k, 1..=max_frames, 1..=max_order).prop_flat_map(|(k, frames, order)| {
            let posteriors = prop::collection::vec(prop::collection::vec(0.01f64..1.0, k), frames);
            let label_seqs = prop::collection::vec(prop::collection::vec(0..k as u32, 1..12), 1..5);
            let sentences = prop::collection::vec(prop::collection::vec(0..k as u32, 0..6), 1..8);
            let alpha = prop_oneof![Just(0.0), 0.0f64..6.0];
            (posteriors, label_seqs, 0.1f64..2.0, sentences, alpha).prop_map(
                move |(posteriors, label_seqs, smoothing, sentences, alpha)| {
                    let emissions = posteriors
                        .iter()
                        .flat_map(|frame| {
                            let total: f64 = frame.iter().sum();
                            frame.iter().map(move |p| (p / total).ln())
                        })
                        .collect();
                    let transitions = Transitions::estimate(
                        label_seqs.iter().map(Vec::as_slice),
                        k,
                        smoothing,
                        "t",
                    )
                    .unwrap();
                    let sentences: Vec<Vec<u32>> = sentences.iter().map(|s| regions(s)).collect();
                    let vocab = Vocab::new(k).unwrap();
                    let lm = train_witten_bell(sentences.iter().map(Vec::as_slice), vocab, order)
                        .unwrap();
                    Problem {
                        k,
                        emissions,
                        transitions,
                        lm,
                        alpha,
                    }
                },
            )
        })
    }

    /// The best objective over all K^T label sequences, and whether a second
    /// sequence comes within `tie` of it.
    fn brute_force(
        scorer: &Scorer,
        k: usize,
        frames: usize,
        emissions: &[f64],
        tie: f64,
    ) -> (Vec<u32>, f64, bool) {
        let mut best = (Vec::new(), f64::NEG_INFINITY);
        let mut runner_up = f64::NEG_INFINITY;
        let mut seq = vec![0u32; frames];
        for code in 0..k.pow(frames as u32) {
            let mut rest = code;
            for slot in seq.iter_mut() {
                *slot = (rest % k) as u32;
                rest /= k;
            }
            let score = scorer.objective(&seq, emissions);
            if score > best.1 {
                runner_up = best.1;
                best = (seq.clone(), score);
            } else if score > runner_up {
                runner_up = score;
            }
        }
        (best.0, best.1, best.1 - runner_up < tie)
    }

    /// For f64 sums of the same terms in different orders.
    const TOL: f64 = 1e-9;
    /// For the f32 recursion of the exact search.
    const SEARCH_TOL: f64 = 1e-4;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Exact search finds the argmax of the objective over every label
        /// sequence, for LM orders 1..3.
        #[test]
        fn exact_search_equals_brute_force(p in problem(4, 6, 3)) {
            let scorer = Scorer::new(&p.transitions, Some(&p.lm), p.alpha, "t").unwrap();
            let frames = p.emissions.len() / p.k;
            let (best, best_score, tied) = brute_force(&scorer, p.k, frames, &p.emissions, SEARCH_TOL);
            let path = Lattice::new(&scorer, "t").unwrap().decode(&p.emissions).unwrap();
            prop_assert!((path.score - best_score).abs() < SEARCH_TOL, "search {} brute force {}", path.score, best_score);
            if !tied {
                prop_assert_eq!(path.classes, best);
            }
        }

        /// A beam wide enough to keep every state is the exact search.
        #[test]
        fn wide_beam_equals_exact_search(p in problem(5, 30, 4)) {
            let scorer = Scorer::new(&p.transitions, Some(&p.lm), p.alpha, "t").unwrap();
            let mut lattice = Lattice::new(&scorer, "t").unwrap();
            let exact = lattice.decode(&p.emissions).unwrap();
            let beam = beam_search(&scorer, &p.emissions, lattice.num_states());
            prop_assert!((beam.score - exact.score).abs() < SEARCH_TOL, "beam {} exact {}", beam.score, exact.score);
            prop_assert!((scorer.objective(&beam.classes, &p.emissions) - beam.score).abs() < TOL);
        }

        /// A narrow beam still returns a path scored by the objective, never
        /// better than the optimum.
        #[test]
        fn narrow_beam_reports_its_own_path_score(p in problem(5, 30, 4), width in 1usize..4) {
            let scorer = Scorer::new(&p.transitions, Some(&p.lm), p.alpha, "t").unwrap();
            let exact = Lattice::new(&scorer, "t").unwrap().decode(&p.emissions).unwrap();
            let beam = beam_search(&scorer, &p.emissions, width);
            prop_assert_eq!(beam.classes.len(), p.emissions.len() / p.k);
            prop_assert!((scorer.objective(&beam.classes, &p.emissions) - beam.score).abs() < TOL);
            prop_assert!(beam.score <= exact.score + SEARCH_TOL);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// For alpha1 < alpha2 the optima satisfy (alpha2 - alpha1) (LM(l2) -
        /// LM(l1)) >= 0: a heavier LM never lowers the decoded sequence's LM
        /// score (and so smooths).
        #[test]
        fn a_larger_alpha_never_lowers_the_lm_score_of_the_decoded_path(
            p in problem(4, 40, 3),
            alphas in (0.0f64..5.0, 0.5f64..5.0),
        ) {
            let lm_score = |classes: &[u32]| p.lm.sentence_log10(&regions(classes));
            let decode = |alpha: f64| {
                let scorer = Scorer::new(&p.transitions, Some(&p.lm), alpha, "t").unwrap();
                Lattice::new(&scorer, "t").unwrap().decode(&p.emissions).unwrap().classes
            };
            let (low, high) = (alphas.0, alphas.0 + alphas.1);
            // Near-ties of the f32 search may pick either optimum.
            let slack = 2.0 * SEARCH_TOL / (high - low) / LN_10;
            prop_assert!(lm_score(&decode(high)) >= lm_score(&decode(low)) - slack);
        }
    }

    #[test]
    fn state_count_is_k_times_k_minus_one_to_the_n_minus_two_plus_start_states() {
        let bos = 9;
        // Order 4, K = 4: histories of 2 tokens.
        let hists = histories(2, 4, bos);
        let full = hists.iter().filter(|h| h[0] != bos).count();
        assert_eq!(full, 4 * 3, "full histories");
        // <s>, and <s> followed by one class.
        assert_eq!(hists.len() - full, 1 + 4);
        assert!(hists.iter().all(|h| h.windows(2).all(|w| w[0] != w[1])));
        assert_eq!(histories(0, 4, bos), vec![Vec::<Token>::new()]);
        assert_eq!(histories(1, 3, bos).len(), 1 + 3);
    }

    #[test]
    fn without_a_model_the_search_is_plain_hmm_viterbi() {
        // Sticky transitions override a single-frame blip in the posteriors.
        let seqs: [&[u32]; 1] = [&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]];
        let transitions = Transitions::estimate(seqs, 2, 0.5, "t").unwrap();
        let scorer = Scorer::new(&transitions, None, 0.0, "t").unwrap();
        let emissions: Vec<f64> = [0.9, 0.9, 0.4, 0.9, 0.9]
            .iter()
            .flat_map(|&p: &f64| [p.ln(), (1.0 - p).ln()])
            .collect();
        let path = Lattice::new(&scorer, "t")
            .unwrap()
            .decode(&emissions)
            .unwrap();
        assert_eq!(path.classes, vec![0, 0, 0, 0, 0]);
        assert_eq!(Lattice::new(&scorer, "t").unwrap().num_states(), 2);
    }

    #[test]
    fn a_strong_language_model_removes_short_regions() {
        // Regions alternate 0, 1, 0 in training: after "0 1" comes 0, never 2.
        let vocab = Vocab::new(3).unwrap();
        let sentences: Vec<Vec<u32>> = (0..20).map(|_| vec![0, 1, 0]).collect();
        let lm = train_witten_bell(sentences.iter().map(Vec::as_slice), vocab, 3).unwrap();
        let seqs: [&[u32]; 1] = [&[0, 0, 1, 1, 2, 2, 0, 0]];
        let transitions = Transitions::estimate(seqs, 3, 1.0, "t").unwrap();
        // Frames favour 0 1 1 2 2 mildly.
        let favoured = [0usize, 1, 1, 2, 2];
        let emissions: Vec<f64> = favoured
            .iter()
            .flat_map(|&c| (0..3).map(move |j| if j == c { 0.5f64.ln() } else { 0.25f64.ln() }))
            .collect();
        let weak = Lattice::new(
            &Scorer::new(&transitions, Some(&lm), 0.0, "t").unwrap(),
            "t",
        )
        .unwrap()
        .decode(&emissions)
        .unwrap();
        let strong = Lattice::new(
            &Scorer::new(&transitions, Some(&lm), 10.0, "t").unwrap(),
            "t",
        )
        .unwrap()
        .decode(&emissions)
        .unwrap();
        assert!(weak.classes.contains(&2), "{:?}", weak.classes);
        assert!(!strong.classes.contains(&2), "{:?}", strong.classes);
    }

    #[test]
    fn empty_utterances_score_the_empty_sentence() {
        let vocab = Vocab::new(2).unwrap();
        let sentences: [&[u32]; 1] = [&[0, 1]];
        let lm = train_witten_bell(sentences, vocab, 2).unwrap();
        let seqs: [&[u32]; 1] = [&[0, 1]];
        let transitions = Transitions::estimate(seqs, 2, 1.0, "t").unwrap();
        let scorer = Scorer::new(&transitions, Some(&lm), 2.0, "t").unwrap();
        let exact = Lattice::new(&scorer, "t").unwrap().decode(&[]).unwrap();
        assert!(exact.classes.is_empty());
        assert!((exact.score - scorer.objective(&[], &[])).abs() < TOL);
        assert_eq!(beam_search(&scorer, &[], 4), exact);
    }

    #[test]
    fn bad_alpha_and_mismatched_models_are_errors() {
        let seqs: [&[u32]; 1] = [&[0, 1]];
        let transitions = Transitions::estimate(seqs, 2, 1.0, "t").unwrap();
        let lm = train_witten_bell(seqs, Vocab::new(3).unwrap(), 2).unwrap();
        assert!(
            Scorer::new(&transitions, None, -1.0, "a/k2")
                .unwrap_err()
                .message
                .contains("alpha")
        );
        assert!(
            Scorer::new(&transitions, Some(&lm), 1.0, "a/k2")
                .unwrap_err()
                .message
                .contains("3 classes")
        );
    }
}
