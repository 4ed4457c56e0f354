//! Twin of streams/classify.py run time: `TopicClassifier.classify(title, text, embedding)`.
//!
//! Ported: _parts/_tokens (lowercase, "’" -> "'", drop "'s\b", digits -> "0", \w+ tokens),
//! _apply_senses (word-sense markers), _pairs, _cue_vector, _gate, the scoring of _evaluate, and the
//! rounding/thresholds of scores/classify. Every table (vocabulary, weights, sense phrases, word sets,
//! cue lexicons, gate cue sets, and even Python's own Unicode tables for str.lower(), `\w` and `\d`)
//! is handed in by the Python side at construction, so the Python module stays the one source of truth.
//!
//! Floating point follows the Python step by step:
//!   z = bias_z + weights_z[rows].sum(axis=0) * value      float64, rows summed one after another
//!     + cues @ cue_z                                      float64, OpenBLAS dgemv_n order
//!     + (embedding[:dims] @ embed_z)  as float32          float32, OpenBLAS sgemv_n order (4x8 kernel)
//! The two gemv orders reproduce the OpenBLAS kernels numpy uses on x86-64 (Haswell/SkylakeX), so those
//! terms are bit-identical; only the order of the bag rows differs (Python sums them in set/hash order,
//! which changes from process to process), a difference of an ulp or so.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

// --- A small fast hasher (FxHash) for the word and pair tables -------------------------------------
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak, and hashbrown picks buckets by them (as rustc-hash 2).
        self.hash.rotate_left(26)
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

// --- Word ids and the facts known about each word ---------------------------------------------------
/// Id of a token that is in none of the tables (only its distinct count matters), and of "no token"
/// (the "" the Python uses past either end of the token list).
const UNKNOWN: u32 = u32::MAX;

// Membership bits of a word in the Python sets (_WAR, _RECALL, ...).
const TRIGGER: u32 = 1 << 0;
const WAR: u32 = 1 << 1;
const WAR_IDIOM_PREV: u32 = 1 << 2;
const WAR_ON_FIGURATIVE: u32 = 1 << 3;
const RECALL: u32 = 1 << 4;
const RECALL_ELECTION_NEXT: u32 = 1 << 5;
const RECALL_ELECTION_PREV: u32 = 1 << 6;
const RECALL_DIPLOMAT_NEXT: u32 = 1 << 7;
const RECALL_MEMORY_NEXT: u32 = 1 << 8;
const RECALL_MEMORY_TWO: u32 = 1 << 9;
const RECALL_SUBJECT: u32 = 1 << 10;
const ADVERB: u32 = 1 << 11;
const SHOOT: u32 = 1 << 12;
const FILM_OBJ: u32 = 1 << 13;
const DETERMINER: u32 = 1 << 14;
const KILLER: u32 = 1 << 15;
const KILLER_PRAISE: u32 = 1 << 16;
const CRIME: u32 = 1 << 17;
const CRIME_GENRE_NEXT: u32 = 1 << 18;
const RECALL_WORD_UNI: u32 = 1 << 19;
const PRODUCT_CUE_UNI: u32 = 1 << 20;
const PAIR_FIRST: u32 = 1 << 21;

/// The Python word sets, by the names make_topic_model() passes them under.
const WORD_SETS: [(&str, u32); 18] = [
    ("WAR", WAR),
    ("WAR_IDIOM_PREV", WAR_IDIOM_PREV),
    ("WAR_ON_FIGURATIVE", WAR_ON_FIGURATIVE),
    ("RECALL", RECALL),
    ("RECALL_ELECTION_NEXT", RECALL_ELECTION_NEXT),
    ("RECALL_ELECTION_PREV", RECALL_ELECTION_PREV),
    ("RECALL_DIPLOMAT_NEXT", RECALL_DIPLOMAT_NEXT),
    ("RECALL_MEMORY_NEXT", RECALL_MEMORY_NEXT),
    ("RECALL_MEMORY_TWO", RECALL_MEMORY_TWO),
    ("RECALL_SUBJECT", RECALL_SUBJECT),
    ("ADVERB", ADVERB),
    ("SHOOT", SHOOT),
    ("FILM_OBJ", FILM_OBJ),
    ("DETERMINER", DETERMINER),
    ("KILLER", KILLER),
    ("KILLER_PRAISE", KILLER_PRAISE),
    ("CRIME", CRIME),
    ("CRIME_GENRE_NEXT", CRIME_GENRE_NEXT),
];

#[derive(Clone, Copy)]
struct WordInfo {
    flags: u32,
    row: i32,      // row in weights_z, or -1
    cue_slot: i8,  // topic slot of a one-word cue (_CUE_UNI), or -1
    phrases: i32,  // index into phrase lists keyed by this word as first word, or -1
    the_phrases: i32, // same for _THE_PHRASES_BY_SECOND
}

#[derive(Clone, Copy)]
struct PairInfo {
    cue_slot: i8, // _CUE_PAIRS slot, or -1
    recall_word: bool,
    product_cue: bool,
}

/// One token: its word id (UNKNOWN when in no table) and where its text is in the token buffer.
#[derive(Clone, Copy)]
struct Tok {
    id: u32,
    start: u32,
    end: u32,
}

/// Words the Python control flow names literally, plus the markers it writes.
struct Literals {
    the: u32,
    a: u32,
    on: u32,
    as_: u32,
    xidiomwar: u32,
    xrecallelection: u32,
    xrecalldiplomat: u32,
    xrecallmemory: u32,
    xshootfilm: u32,
    xkillerpraise: u32,
    xcrimegenre: u32,
}

#[pyclass(module = "newsflow_native", frozen)]
pub struct TopicModel {
    /// Word ids: words of up to 16 bytes keyed by their bytes packed in a u128 (no pointer chase, no
    /// memcmp: the lookup is the hot spot), longer ones by text.
    short_words: FxMap<u128, u32>,
    words: FxMap<Box<str>, u32>,
    info: Vec<WordInfo>,
    lit: Literals,
    phrase_lists: Vec<Vec<(Vec<u32>, u32)>>,
    pairs: FxMap<u64, PairInfo>,
    n_cues: usize,
    n_topics: usize,
    weights_z: Vec<f64>, // rows x n_topics
    cue_z: Vec<f64>,     // 2*n_cues x n_topics
    embed_z: Vec<f32>,   // dims x n_topics
    embed_dims: usize,
    bias_z: Vec<f64>,
    body_chars: usize,
    recall_gate_penalty: f64,
    recall_col: usize,
    log31: f64,
    // Python's Unicode tables (the interpreter's version, not Rust's).
    word_ranges: Vec<(u32, u32)>,
    digit_ranges: Vec<(u32, u32)>,
    lower_map: FxMap<u32, Box<str>>,
    topic_names: Vec<Py<PyString>>,
    embed: Option<PyObject>,
}

/// A word of at most 16 bytes as one integer (tokens never contain NUL, so zero padding is unambiguous).
#[inline]
fn pack_short(w: &str) -> Option<u128> {
    let b = w.as_bytes();
    if b.len() > 16 {
        return None;
    }
    let mut a = [0u8; 16];
    a[..b.len()].copy_from_slice(b);
    Some(u128::from_le_bytes(a))
}

fn in_ranges(ranges: &[(u32, u32)], c: u32) -> bool {
    // ranges: sorted, disjoint, inclusive
    match ranges.binary_search_by(|&(lo, hi)| {
        if hi < c {
            std::cmp::Ordering::Less
        } else if lo > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(_) => true,
        Err(_) => false,
    }
}

fn matrix(obj: &Bound<'_, PyAny>, cols: usize, what: &str) -> PyResult<(Vec<f64>, usize)> {
    let rows: Vec<Vec<f64>> = obj.extract()?;
    let mut flat = Vec::with_capacity(rows.len() * cols);
    for r in &rows {
        if r.len() != cols {
            return Err(PyValueError::new_err(format!("{what}: rows must have {cols} columns")));
        }
        flat.extend_from_slice(r);
    }
    Ok((flat, rows.len()))
}

impl TopicModel {
    #[inline]
    fn flags(&self, id: u32) -> u32 {
        if id == UNKNOWN {
            0
        } else {
            self.info[id as usize].flags
        }
    }

    #[inline]
    fn has(&self, id: u32, bit: u32) -> bool {
        self.flags(id) & bit != 0
    }

    fn is_word_char(&self, c: char) -> bool {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_'
        } else {
            in_ranges(&self.word_ranges, c as u32)
        }
    }

    fn is_digit_char(&self, c: char) -> bool {
        if c.is_ascii() {
            c.is_ascii_digit()
        } else {
            in_ranges(&self.digit_ranges, c as u32)
        }
    }

    /// str.lower() with Python's case tables; Rust decides only the context of a capital sigma (the
    /// Final_Sigma rule, which is the same in both).
    fn lower(&self, part: &str) -> String {
        if part.is_ascii() {
            return part.to_ascii_lowercase();
        }
        let mut out = String::with_capacity(part.len() + 8);
        // Rust's own lowering, walked in step, only for the sigma decisions.
        let rust_lower: Option<Vec<char>> =
            if part.contains('Σ') { Some(part.to_lowercase().chars().collect()) } else { None };
        let mut k = 0usize;
        for c in part.chars() {
            if let Some(rl) = &rust_lower {
                let n = c.to_lowercase().count();
                if c == 'Σ' {
                    out.push(rl[k]);
                    k += n;
                    continue;
                }
                k += n;
            }
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if let Some(l) = self.lower_map.get(&(c as u32)) {
                out.push_str(l);
            } else {
                out.push(c);
            }
        }
        out
    }

    /// _tokens without the sense rewriting: lower, "’" -> "'", drop "'s" before a non-word character
    /// (the `'s\b` of _APOS_RE), then \w+ runs with every \d turned into "0". Token texts go to `buf`.
    fn raw_tokens(&self, part: &str, buf: &mut String, toks: &mut Vec<Tok>) {
        if part.is_ascii() {
            return self.raw_tokens_ascii(part.as_bytes(), buf, toks);
        }
        let text = self.lower(part);
        let mut chars = text.chars().peekable();
        let mut start: Option<usize> = None;
        while let Some(c) = chars.next() {
            let mut c = c;
            if c == '’' {
                c = '\'';
            }
            if c == '\'' {
                // "'s" followed by the end or a non-word character is removed ("’" counts as "'" here,
                // and as a non-word character after the "s").
                let mut ahead = chars.clone();
                if ahead.next() == Some('s') {
                    let after = ahead.next();
                    if after.map_or(true, |a| !self.is_word_char(a)) {
                        chars.next(); // the "s"
                        // the apostrophe ends any running token either way
                        if let Some(s) = start.take() {
                            self.push_token(buf, s, toks);
                        }
                        continue;
                    }
                }
            }
            if self.is_word_char(c) {
                if start.is_none() {
                    start = Some(buf.len());
                }
                if self.is_digit_char(c) {
                    buf.push('0');
                } else {
                    buf.push(c);
                }
            } else if let Some(s) = start.take() {
                self.push_token(buf, s, toks);
            }
        }
        if let Some(s) = start.take() {
            self.push_token(buf, s, toks);
        }
    }

    #[inline]
    fn word_id(&self, w: &str) -> u32 {
        match pack_short(w) {
            Some(key) => self.short_words.get(&key).copied().unwrap_or(UNKNOWN),
            None => self.words.get(w).copied().unwrap_or(UNKNOWN),
        }
    }

    #[inline]
    fn push_token(&self, buf: &str, start: usize, toks: &mut Vec<Tok>) {
        let end = buf.len();
        let id = self.word_id(&buf[start..end]);
        toks.push(Tok { id, start: start as u32, end: end as u32 });
    }

    /// raw_tokens for ASCII text (the common case), byte by byte: the same tokens as the general path
    /// (as the Python's own ASCII fast path gives the same as its regex path).
    fn raw_tokens_ascii(&self, part: &[u8], buf: &mut String, toks: &mut Vec<Tok>) {
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let n = part.len();
        let mut start: Option<usize> = None;
        let mut i = 0usize;
        while i < n {
            let b = part[i];
            if is_word(b) {
                if start.is_none() {
                    start = Some(buf.len());
                }
                buf.push(if b.is_ascii_digit() { '0' } else { b.to_ascii_lowercase() as char });
                i += 1;
                continue;
            }
            if let Some(s) = start.take() {
                self.push_token(buf, s, toks);
            }
            // "'s" before the end or a non-word character is dropped (after lowering: "'S" too).
            if b == b'\'' && i + 1 < n && (part[i + 1] | 0x20) == b's' && (i + 2 == n || !is_word(part[i + 2])) {
                i += 2;
            } else {
                i += 1;
            }
        }
        if let Some(s) = start.take() {
            self.push_token(buf, s, toks);
        }
    }

    fn marker(&self, id: u32) -> Tok {
        Tok { id, start: 0, end: 0 }
    }

    /// _apply_senses: replace other-sense uses of topic words by marker tokens.
    fn apply_senses(&self, toks: Vec<Tok>) -> Vec<Tok> {
        let n = toks.len();
        if !toks.iter().any(|t| self.has(t.id, TRIGGER)) {
            return toks;
        }
        let lit = &self.lit;
        let id_at = |j: usize| toks[j].id;
        let mut out: Vec<Tok> = Vec::with_capacity(n);
        let mut i = 0usize;
        for h in 0..n {
            if !self.has(toks[h].id, TRIGGER) {
                continue;
            }
            if h < i {
                continue; // inside a phrase already replaced
            }
            out.extend_from_slice(&toks[i..h]);
            i = h;
            let t = toks[i].id;
            let info = self.info[t as usize];
            let mut matched = false;
            if info.phrases >= 0 {
                for (phrase, marker) in &self.phrase_lists[info.phrases as usize] {
                    let k = phrase.len();
                    if i + k <= n && toks[i..i + k].iter().zip(phrase).all(|(a, b)| a.id == *b) {
                        out.push(self.marker(*marker));
                        i += k;
                        matched = true;
                        break;
                    }
                }
            }
            if !matched && info.the_phrases >= 0 && out.last().is_some_and(|o| o.id == lit.the) {
                for (tail, marker) in &self.phrase_lists[info.the_phrases as usize] {
                    let k = tail.len();
                    if i + k <= n && toks[i..i + k].iter().zip(tail).all(|(a, b)| a.id == *b) {
                        *out.last_mut().unwrap() = self.marker(*marker);
                        i += k;
                        matched = true;
                        break;
                    }
                }
            }
            if matched {
                continue;
            }
            let nxt = if i + 1 < n { id_at(i + 1) } else { UNKNOWN };
            let prev = if i > 0 { id_at(i - 1) } else { UNKNOWN };
            let mut marker: Option<u32> = None;
            if self.has(t, WAR_IDIOM_PREV) && self.has(nxt, WAR) {
                out.push(toks[i]);
                out.push(self.marker(lit.xidiomwar));
                i += 2;
                continue;
            }
            if self.has(t, WAR) {
                let nxt2 = if i + 2 < n { id_at(i + 2) } else { UNKNOWN };
                if nxt == lit.on && self.has(nxt2, WAR_ON_FIGURATIVE) {
                    marker = Some(lit.xidiomwar);
                }
            } else if self.has(t, RECALL) {
                let after = if self.has(nxt, DETERMINER) && i + 2 < n { id_at(i + 2) } else { nxt };
                let before = if (prev == lit.a || prev == lit.the) && i >= 2 { id_at(i - 2) } else { prev };
                if self.has(nxt, RECALL_ELECTION_NEXT) || self.has(before, RECALL_ELECTION_PREV) {
                    marker = Some(lit.xrecallelection);
                } else if self.has(after, RECALL_DIPLOMAT_NEXT) {
                    marker = Some(lit.xrecalldiplomat);
                } else if self.has(nxt, RECALL_MEMORY_NEXT)
                    || ((nxt == lit.the || nxt == lit.a) && self.has(after, RECALL_MEMORY_TWO))
                    || self.has(prev, RECALL_SUBJECT)
                    || (self.has(prev, ADVERB) && i >= 2 && self.has(id_at(i - 2), RECALL_SUBJECT))
                    || prev == lit.as_
                {
                    marker = Some(lit.xrecallmemory);
                }
            } else if self.has(t, SHOOT) {
                let after = if self.has(nxt, DETERMINER) && i + 2 < n { id_at(i + 2) } else { nxt };
                if self.has(after, FILM_OBJ) {
                    marker = Some(lit.xshootfilm);
                }
            } else if self.has(t, KILLER) {
                if self.has(nxt, KILLER_PRAISE) {
                    marker = Some(lit.xkillerpraise);
                }
            } else if self.has(t, CRIME) && self.has(nxt, CRIME_GENRE_NEXT) {
                marker = Some(lit.xcrimegenre);
            }
            out.push(match marker {
                Some(m) => self.marker(m),
                None => toks[i],
            });
            i += 1;
        }
        out.extend_from_slice(&toks[i..]);
        out
    }

    /// _parts: the headline tokens and the lead (first body_chars characters) tokens.
    fn parts(&self, title: &str, text: &str, buf: &mut String) -> (Vec<Tok>, Vec<Tok>) {
        let lead = match text.char_indices().nth(self.body_chars) {
            Some((b, _)) => &text[..b],
            None => text,
        };
        let mut t = Vec::with_capacity(24);
        self.raw_tokens(title, buf, &mut t);
        let mut l = Vec::with_capacity(96);
        self.raw_tokens(lead, buf, &mut l);
        (self.apply_senses(t), self.apply_senses(l))
    }

    #[inline]
    fn pair_key(a: u32, b: u32) -> u64 {
        ((a as u64) << 32) | b as u64
    }

    /// The calibrated logits and everything else _evaluate computes, given the tokens.
    fn evaluate(&self, ttoks: &[Tok], ltoks: &[Tok], buf: &str, embedding: Option<&[f32]>) -> Vec<f64> {
        let nt = self.n_topics;
        // unigrams = set(toks): known words by id, the others by text.
        let mut known: Vec<u32> = Vec::with_capacity(ttoks.len() + ltoks.len());
        let mut unknown: Vec<&str> = Vec::new();
        for t in ttoks.iter().chain(ltoks) {
            if t.id == UNKNOWN {
                unknown.push(&buf[t.start as usize..t.end as usize]);
            } else {
                known.push(t.id);
            }
        }
        known.sort_unstable();
        known.dedup();
        unknown.sort_unstable();
        unknown.dedup();
        let n_unigrams = known.len() + unknown.len();

        // _pairs restricted to the pairs any table knows (the others never count): distinct pairs over
        // the joined token list, and whether each also occurs inside the headline (title_pairs).
        let mut pair_hits: Vec<(u64, PairInfo, bool)> = Vec::new();
        let all_len = ttoks.len() + ltoks.len();
        let at = |j: usize| if j < ttoks.len() { ttoks[j].id } else { ltoks[j - ttoks.len()].id };
        for j in 0..all_len.saturating_sub(1) {
            let a = at(j);
            if !self.has(a, PAIR_FIRST) {
                continue;
            }
            let b = at(j + 1);
            if b == UNKNOWN {
                continue;
            }
            let key = Self::pair_key(a, b);
            if let Some(p) = self.pairs.get(&key) {
                let in_title = j + 1 < ttoks.len();
                match pair_hits.iter_mut().find(|h| h.0 == key) {
                    Some(h) => h.2 |= in_title,
                    None => pair_hits.push((key, *p, in_title)),
                }
            }
        }

        // _gate
        let mut recall_word = false;
        let mut product_cue = false;
        for &id in &known {
            let f = self.info[id as usize].flags;
            recall_word |= f & RECALL_WORD_UNI != 0;
            product_cue |= f & PRODUCT_CUE_UNI != 0;
        }
        for h in &pair_hits {
            recall_word |= h.1.recall_word;
            product_cue |= h.1.product_cue;
        }
        let gate_open = recall_word && product_cue;

        // _cue_vector
        let n = self.n_cues;
        let mut counts = vec![0.0f64; 2 * n];
        for t in ttoks {
            if t.id != UNKNOWN {
                let k = self.info[t.id as usize].cue_slot;
                if k >= 0 {
                    counts[k as usize] += 1.0;
                }
            }
        }
        for t in ltoks {
            if t.id != UNKNOWN {
                let k = self.info[t.id as usize].cue_slot;
                if k >= 0 {
                    counts[n + k as usize] += 1.0;
                }
            }
        }
        for h in &pair_hits {
            if h.1.cue_slot >= 0 {
                counts[if h.2 { 0 } else { n } + h.1.cue_slot as usize] += 1.0;
            }
        }
        let mut cues = vec![0.0f64; 2 * n];
        for k in 0..n {
            cues[k] = counts[k].min(3.0) / 3.0;
            cues[n + k] = counts[n + k].min(30.0).ln_1p() / self.log31;
        }

        // z = bias_z + weights_z[rows].sum(axis=0) * value
        let mut z: Vec<f64> = self.bias_z.clone();
        let mut rows_sum: Option<Vec<f64>> = None;
        for &id in &known {
            let r = self.info[id as usize].row;
            if r >= 0 {
                let row = &self.weights_z[r as usize * nt..(r as usize + 1) * nt];
                match rows_sum.as_mut() {
                    None => rows_sum = Some(row.to_vec()),
                    Some(s) => s.iter_mut().zip(row).for_each(|(a, b)| *a += b),
                }
            }
        }
        if let Some(s) = rows_sum {
            let value = if n_unigrams > 0 { 1.0 / (n_unigrams as f64).sqrt() } else { 0.0 };
            for k in 0..nt {
                z[k] += s[k] * value;
            }
        }
        // z = z + cues @ cue_z
        let c = dgemv_n(&cues, &self.cue_z, nt);
        for k in 0..nt {
            z[k] += c[k];
        }
        // z = z + embedding[:dims] @ embed_z   (float32 product, then float64 sum)
        if let Some(e) = embedding {
            let v = sgemv_n(&e[..self.embed_dims], &self.embed_z, nt);
            for k in 0..nt {
                z[k] += v[k] as f64;
            }
        }
        if !gate_open {
            z[self.recall_col] -= self.recall_gate_penalty;
        }
        z
    }
}

/// x @ A for a row-major (len(x), nt) float64 matrix, in the order of OpenBLAS's dgemv_n Haswell/
/// SkylakeX kernel (what numpy calls for vector @ matrix): blocks of 4 rows of A, each block summed as
/// fma(a3,x3, fma(a2,x2, fma(a0,x0, a1*x1))) and added to y. len(x) is a multiple of 4 (checked in
/// TopicModel::new: OpenBLAS's tail kernels for other shapes are not reproduced).
fn dgemv_n(x: &[f64], a: &[f64], nt: usize) -> Vec<f64> {
    let mut y = vec![0.0f64; nt];
    for j in (0..x.len()).step_by(4) {
        for k in 0..nt {
            let p = |q: usize| a[(j + q) * nt + k];
            let mut s = p(0).mul_add(x[j], p(1) * x[j + 1]);
            s = p(2).mul_add(x[j + 2], s);
            s = p(3).mul_add(x[j + 3], s);
            y[k] += s;
        }
    }
    y
}

/// x @ A for a row-major (len(x), nt) float32 matrix, in the order of OpenBLAS's sgemv_n 4x8 kernel
/// (Haswell/SkylakeX): per block of 8 rows two FMA chains (even and odd rows), their sum added to y.
/// len(x) is a multiple of 8 (checked in TopicModel::new).
#[inline(always)]
fn sgemv_n_body(x: &[f32], a: &[f32], nt: usize, y: &mut [f32]) {
    for j in (0..x.len()).step_by(8) {
        for k in 0..nt {
            let p = |q: usize| a[(j + q) * nt + k];
            let mut even = p(0) * x[j];
            let mut odd = p(1) * x[j + 1];
            even = p(2).mul_add(x[j + 2], even);
            odd = p(3).mul_add(x[j + 3], odd);
            even = p(4).mul_add(x[j + 4], even);
            odd = p(5).mul_add(x[j + 5], odd);
            even = p(6).mul_add(x[j + 6], even);
            odd = p(7).mul_add(x[j + 7], odd);
            y[k] += even + odd;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn sgemv_n_fma(x: &[f32], a: &[f32], nt: usize, y: &mut [f32]) {
    sgemv_n_body(x, a, nt, y)
}

fn sgemv_n(x: &[f32], a: &[f32], nt: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; nt];
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            unsafe { sgemv_n_fma(x, a, nt, &mut y) };
            return y;
        }
    }
    // mul_add is an exact fused multiply-add everywhere (software when the CPU has none): same result.
    sgemv_n_body(x, a, nt, &mut y);
    y
}

/// round(p, 4) as Python does it: the decimal nearest to the exact binary value, ties to even, then
/// the double nearest to that decimal (= r / 10000 with r an integer, a correctly rounded division).
fn round4(p: f64) -> f64 {
    if !p.is_finite() {
        return p;
    }
    let y = p * 10000.0;
    let f = y.floor();
    let frac = y - f;
    if (frac - 0.5).abs() > 1e-6 || y.abs() >= 1e15 {
        let r = if frac > 0.5 { f + 1.0 } else { f };
        return r / 10000.0;
    }
    // Near a tie: compare p with (f + 0.5) / 10000 = (2f + 1) / 20000 exactly.
    let (mant, exp) = decompose(p);
    let target = 2.0 * f + 1.0; // an odd integer, |target| < 2^51
    let neg = p < 0.0;
    let t = target.abs() as u128;
    // |p| * 20000 vs |target|:  mant * 20000 * 2^exp  vs  t
    let lhs = mant as u128 * 20000;
    let ord = if exp >= 0 {
        // |p| >= 2^52 cannot reach here (y would be >= 1e15)
        (lhs << exp).cmp(&t)
    } else if -exp >= 100 {
        // |p| tiny: p * 20000 < 1 <= t
        std::cmp::Ordering::Less
    } else {
        lhs.cmp(&(t << (-exp)))
    };
    // ord compares |p| with |f + 0.5|/10000
    let r = if !neg {
        match ord {
            std::cmp::Ordering::Greater => f + 1.0,
            std::cmp::Ordering::Less => f,
            std::cmp::Ordering::Equal => {
                if f % 2.0 == 0.0 { f } else { f + 1.0 }
            }
        }
    } else {
        // p < 0: f + 0.5 is negative too, |p| > |f + 0.5| means p < f + 0.5
        match ord {
            std::cmp::Ordering::Greater => f,
            std::cmp::Ordering::Less => f + 1.0,
            std::cmp::Ordering::Equal => {
                if f % 2.0 == 0.0 { f } else { f + 1.0 }
            }
        }
    };
    r / 10000.0
}

/// |x| = mant * 2^exp exactly.
fn decompose(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    let m = bits & ((1u64 << 52) - 1);
    if e == 0 {
        (m, -1074)
    } else {
        (m | (1u64 << 52), e - 1075)
    }
}

/// 1 / (1 + exp(-min(30, max(-30, x)))) with Python's min/max semantics (a NaN logit gives -30).
fn logistic(x: f64) -> f64 {
    let lo = if x > -30.0 { x } else { -30.0 }; // max(-30.0, x)
    let c = if lo < 30.0 { lo } else { 30.0 }; // min(30.0, lo)
    1.0 / (1.0 + (-c).exp())
}

fn embedding_vec(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    if let Ok(buf) = PyBuffer::<f32>::get(obj) {
        if buf.dimensions() == 1 {
            return buf.to_vec(py);
        }
    }
    // Anything else: what np.asarray(embedding, dtype=np.float32) makes of it.
    let np = py.import("numpy")?;
    let arr = np.call_method1("asarray", (obj, np.getattr("float32")?))?;
    let arr = np.call_method1("ravel", (arr,))?;
    let buf = PyBuffer::<f32>::get(&arr)?;
    buf.to_vec(py)
}

#[pymethods]
impl TopicModel {
    /// Built once by the Python side (see make_topic_model() in parity.py) from streams.classify.
    #[new]
    #[pyo3(signature = (*, topics, vocab, weights_z, cue_z, embed_z, bias_z, phrases_by_first,
                        the_phrases_by_second, triggers, word_sets, cue_uni, cue_pairs, n_cue_lexicons,
                        recall_word_uni, recall_word_pairs, product_cue_uni, product_cue_pairs,
                        body_chars, recall_gate_penalty, word_ranges, digit_ranges, lower_map,
                        embed=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        topics: Vec<String>,
        vocab: Vec<String>,
        weights_z: &Bound<'_, PyAny>,
        cue_z: &Bound<'_, PyAny>,
        embed_z: &Bound<'_, PyAny>,
        bias_z: Vec<f64>,
        phrases_by_first: HashMap<String, Vec<(Vec<String>, String)>>,
        the_phrases_by_second: HashMap<String, Vec<(Vec<String>, String)>>,
        triggers: Vec<String>,
        word_sets: HashMap<String, Vec<String>>,
        cue_uni: HashMap<String, i64>,
        cue_pairs: HashMap<(String, String), i64>,
        n_cue_lexicons: usize,
        recall_word_uni: Vec<String>,
        recall_word_pairs: Vec<(String, String)>,
        product_cue_uni: Vec<String>,
        product_cue_pairs: Vec<(String, String)>,
        body_chars: usize,
        recall_gate_penalty: f64,
        word_ranges: Vec<(u32, u32)>,
        digit_ranges: Vec<(u32, u32)>,
        lower_map: HashMap<String, String>,
        embed: Option<PyObject>,
    ) -> PyResult<Self> {
        let nt = topics.len();
        if bias_z.len() != nt {
            return Err(PyValueError::new_err("bias_z must have one value per topic"));
        }
        let recall_col = topics
            .iter()
            .position(|t| t == "recalls")
            .ok_or_else(|| PyValueError::new_err("TOPICS has no 'recalls'"))?;
        let (weights_flat, n_rows) = matrix(weights_z, nt, "weights_z")?;
        if n_rows != vocab.len() {
            return Err(PyValueError::new_err("weights_z needs one row per vocab word"));
        }
        let (cue_flat, n_cue_rows) = matrix(cue_z, nt, "cue_z")?;
        if n_cue_rows != 2 * n_cue_lexicons || n_cue_rows % 4 != 0 {
            return Err(PyValueError::new_err("cue_z needs 2 * n_cue_lexicons rows, a multiple of 4"));
        }
        let (embed_flat, embed_dims) = matrix(embed_z, nt, "embed_z")?;
        if embed_dims % 8 != 0 {
            return Err(PyValueError::new_err("embed_z needs a multiple of 8 rows"));
        }
        let embed_flat: Vec<f32> = embed_flat.iter().map(|&v| v as f32).collect();

        // The word table: every word any table names.
        let mut words: FxMap<Box<str>, u32> = FxMap::default();
        let mut info: Vec<WordInfo> = Vec::new();
        let intern = |w: &str, words: &mut FxMap<Box<str>, u32>, info: &mut Vec<WordInfo>| -> u32 {
            if let Some(&id) = words.get(w) {
                return id;
            }
            let id = info.len() as u32;
            words.insert(w.into(), id);
            info.push(WordInfo { flags: 0, row: -1, cue_slot: -1, phrases: -1, the_phrases: -1 });
            id
        };
        for (r, w) in vocab.iter().enumerate() {
            let id = intern(w, &mut words, &mut info);
            info[id as usize].row = r as i32;
        }
        let mut phrase_lists: Vec<Vec<(Vec<u32>, u32)>> = Vec::new();
        for (table, is_the) in [(&phrases_by_first, false), (&the_phrases_by_second, true)] {
            for (key, list) in table {
                let kid = intern(key, &mut words, &mut info);
                let mut entries = Vec::with_capacity(list.len());
                for (phrase, marker) in list {
                    let ids: Vec<u32> = phrase.iter().map(|w| intern(w, &mut words, &mut info)).collect();
                    let mid = intern(marker, &mut words, &mut info);
                    entries.push((ids, mid));
                }
                let slot = &mut info[kid as usize];
                if is_the {
                    slot.the_phrases = phrase_lists.len() as i32;
                } else {
                    slot.phrases = phrase_lists.len() as i32;
                }
                phrase_lists.push(entries);
            }
        }
        for w in &triggers {
            let id = intern(w, &mut words, &mut info);
            info[id as usize].flags |= TRIGGER;
        }
        for (name, bit) in WORD_SETS {
            let set = word_sets
                .get(name)
                .ok_or_else(|| PyValueError::new_err(format!("word_sets lacks {name}")))?;
            for w in set {
                let id = intern(w, &mut words, &mut info);
                info[id as usize].flags |= bit;
            }
        }
        for (w, slot) in &cue_uni {
            let id = intern(w, &mut words, &mut info);
            info[id as usize].cue_slot = *slot as i8;
        }
        for w in &recall_word_uni {
            let id = intern(w, &mut words, &mut info);
            info[id as usize].flags |= RECALL_WORD_UNI;
        }
        for w in &product_cue_uni {
            let id = intern(w, &mut words, &mut info);
            info[id as usize].flags |= PRODUCT_CUE_UNI;
        }
        let mut pairs: FxMap<u64, PairInfo> = FxMap::default();
        let mut add_pair = |a: &str, b: &str, f: &dyn Fn(&mut PairInfo), words: &mut FxMap<Box<str>, u32>,
                            info: &mut Vec<WordInfo>| {
            let ia = intern(a, words, info);
            let ib = intern(b, words, info);
            info[ia as usize].flags |= PAIR_FIRST;
            let e = pairs.entry(Self::pair_key(ia, ib)).or_insert(PairInfo {
                cue_slot: -1,
                recall_word: false,
                product_cue: false,
            });
            f(e);
        };
        for ((a, b), slot) in &cue_pairs {
            let s = *slot as i8;
            add_pair(a, b, &|p: &mut PairInfo| p.cue_slot = s, &mut words, &mut info);
        }
        for (a, b) in &recall_word_pairs {
            add_pair(a, b, &|p: &mut PairInfo| p.recall_word = true, &mut words, &mut info);
        }
        for (a, b) in &product_cue_pairs {
            add_pair(a, b, &|p: &mut PairInfo| p.product_cue = true, &mut words, &mut info);
        }
        let lit = Literals {
            the: intern("the", &mut words, &mut info),
            a: intern("a", &mut words, &mut info),
            on: intern("on", &mut words, &mut info),
            as_: intern("as", &mut words, &mut info),
            xidiomwar: intern("xidiomwar", &mut words, &mut info),
            xrecallelection: intern("xrecallelection", &mut words, &mut info),
            xrecalldiplomat: intern("xrecalldiplomat", &mut words, &mut info),
            xrecallmemory: intern("xrecallmemory", &mut words, &mut info),
            xshootfilm: intern("xshootfilm", &mut words, &mut info),
            xkillerpraise: intern("xkillerpraise", &mut words, &mut info),
            xcrimegenre: intern("xcrimegenre", &mut words, &mut info),
        };

        let mut lower: FxMap<u32, Box<str>> = FxMap::default();
        for (k, v) in lower_map {
            let mut cs = k.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => {
                    lower.insert(c as u32, v.into());
                }
                _ => return Err(PyValueError::new_err("lower_map keys must be single characters")),
            }
        }
        let mut word_ranges = word_ranges;
        word_ranges.sort_unstable();
        let mut digit_ranges = digit_ranges;
        digit_ranges.sort_unstable();

        let mut short_words: FxMap<u128, u32> = FxMap::default();
        let mut long_words: FxMap<Box<str>, u32> = FxMap::default();
        for (w, &id) in &words {
            match pack_short(w) {
                Some(key) if !w.contains('\0') => {
                    short_words.insert(key, id);
                }
                _ => {
                    long_words.insert(w.clone(), id);
                }
            }
        }

        Ok(TopicModel {
            short_words,
            words: long_words,
            info,
            lit,
            phrase_lists,
            pairs,
            n_cues: n_cue_lexicons,
            n_topics: nt,
            weights_z: weights_flat,
            cue_z: cue_flat,
            embed_z: embed_flat,
            embed_dims,
            bias_z,
            body_chars,
            recall_gate_penalty,
            recall_col,
            log31: 30.0f64.ln_1p(),
            word_ranges,
            digit_ranges,
            lower_map: lower,
            topic_names: topics.iter().map(|t| PyString::intern(py, t).unbind()).collect(),
            embed,
        })
    }

    /// (topics, scores) exactly as TopicClassifier(thresholds).classify(title, text, embedding=embedding);
    /// thresholds in TOPICS order. With embedding None the `embed(title, text)` callable given at
    /// construction computes it (as the classifier's own embedder would); without one the embedding term
    /// is left out, as in the Python without an embedder.
    #[pyo3(signature = (title, text, embedding, thresholds))]
    fn classify<'py>(
        &self,
        py: Python<'py>,
        title: Option<&str>,
        text: Option<&str>,
        embedding: Option<&Bound<'py, PyAny>>,
        thresholds: Vec<f64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let nt = self.n_topics;
        if thresholds.len() != nt {
            return Err(PyValueError::new_err("thresholds must have one value per topic"));
        }
        let title = title.unwrap_or("");
        let text = text.unwrap_or("");
        let mut emb: Option<Vec<f32>> = match embedding {
            Some(e) if !e.is_none() => Some(embedding_vec(py, e)?),
            _ => None,
        };
        if emb.is_none() {
            if let Some(f) = &self.embed {
                let e = f.call1(py, (title, text))?;
                let e = e.bind(py);
                if !e.is_none() {
                    emb = Some(embedding_vec(py, e)?);
                }
            }
        }
        if let Some(e) = &emb {
            if e.len() < self.embed_dims {
                return Err(PyValueError::new_err(format!(
                    "embedding has {} dimensions, the model needs {}",
                    e.len(),
                    self.embed_dims
                )));
            }
        }
        // Short work: releasing the GIL would cost more than it frees.
        let mut buf = String::with_capacity(title.len() + 4 * self.body_chars.min(text.len()) + 16);
        let (ttoks, ltoks) = self.parts(title, text, &mut buf);
        let z = self.evaluate(&ttoks, &ltoks, &buf, emb.as_deref());
        let scores: Vec<f64> = z.iter().map(|&x| round4(logistic(x))).collect();
        let topics = PyList::empty(py);
        let dict = PyDict::new(py);
        for k in 0..nt {
            let name = self.topic_names[k].bind(py);
            dict.set_item(name, scores[k])?;
            if scores[k] >= thresholds[k] {
                topics.append(name)?;
            }
        }
        PyTuple::new(py, [topics.into_any(), dict.into_any()])
    }

    /// The calibrated logits after the recall gate (the `zs` of _evaluate), embedding given: for parity
    /// checks of the arithmetic below the 4-decimal rounding.
    #[pyo3(signature = (title, text, embedding))]
    fn logits(&self, py: Python<'_>, title: Option<&str>, text: Option<&str>,
              embedding: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<f64>> {
        let emb = match embedding {
            Some(e) if !e.is_none() => Some(embedding_vec(py, e)?),
            _ => None,
        };
        let mut buf = String::new();
        let (t, l) = self.parts(title.unwrap_or(""), text.unwrap_or(""), &mut buf);
        Ok(self.evaluate(&t, &l, &buf, emb.as_deref()))
    }

}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TopicModel>()?;
    Ok(())
}
