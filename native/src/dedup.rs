//! Twin of streams.dedup's per-candidate verification: the checks DedupIndex.probe runs on each
//! earlier article that shares a key with the new one (same_report, near_similarity,
//! rewrite_similarity, and the headline score of the rewrite tier), on the raw sketch bytes as
//! the index stores them. Sketch decoding (streams.fingerprint.Sketch._decode, versions 2 and 3)
//! and the embedding cosine (streams.embed.cosine) are ported with them.
//!
//! Every table and constant (the opposite words, the places each place lies within, the headline
//! weights, the thresholds, the sketch layout's sizes) comes from the Python modules through
//! SketchJudge's constructor: the Python stays the one source of truth. What is ported here is the
//! control flow and the float arithmetic, in the Python's operation order, so every result is
//! bit-identical to the reference.
use pyo3::exceptions::{PyIndexError, PyValueError, PyZeroDivisionError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};
use std::collections::{HashMap, HashSet};

// ---------------------------------------------------------------------------------------------
// Fact sets: Sketch's frozenset[int] of 16-bit hashes.

/// A frozenset[int] of 16-bit hashes, read in place from the sketch (decoding copies nothing):
/// `raw` holds the values as little-endian u16s. A fingerprint never repeats a value, but a sketch
/// could, and frozenset() would fold the repeats, so len() and shared() count distinct values.
/// A handful of values: linear scans beat sorting or hashing.
#[derive(Clone, Copy)]
struct Facts<'a> {
    raw: &'a [u8],
}

impl<'a> Facts<'a> {
    #[inline]
    fn values(self) -> impl Iterator<Item = u16> + 'a {
        self.raw.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]]))
    }

    #[inline]
    fn at(self, i: usize) -> u16 {
        u16::from_le_bytes([self.raw[2 * i], self.raw[2 * i + 1]])
    }

    /// Whether the i-th value is the first of its kind (the one a set keeps).
    #[inline]
    fn first_at(self, i: usize) -> bool {
        let value = self.at(i);
        !(0..i).any(|j| self.at(j) == value)
    }

    fn is_empty(self) -> bool {
        self.raw.is_empty()
    }

    #[inline]
    fn has(self, value: u16) -> bool {
        self.values().any(|v| v == value)
    }

    /// len(set)
    fn len(self) -> usize {
        (0..self.raw.len() / 2).filter(|&i| self.first_at(i)).count()
    }

    /// len(self & other)
    fn shared(self, other: Facts) -> usize {
        (0..self.raw.len() / 2).filter(|&i| other.has(self.at(i)) && self.first_at(i)).count()
    }

    /// bool(self & other)
    fn meets(self, other: Facts) -> bool {
        self.values().any(|v| other.has(v))
    }
}

/// values.contains(&value), inlined: std's slice contains is an out-of-line call, which costs more
/// than scanning a handful of values.
#[inline(always)]
#[allow(clippy::manual_contains)]
fn has(values: &[u16], value: u16) -> bool {
    values.iter().any(|&v| v == value)
}

/// dedup._disjoint for sets: both name some, and share none.
fn disjoint(a: Facts, b: Facts) -> bool {
    !a.is_empty() && !b.is_empty() && !a.meets(b)
}

/// dedup._both_unshared: a - b and b - a are both non-empty.
fn both_unshared(a: Facts, b: Facts) -> bool {
    let shared = a.shared(b);
    shared < a.len() && shared < b.len()
}

// ---------------------------------------------------------------------------------------------
// Sketch decoding (streams.fingerprint.Sketch._decode).

/// The sketch version before places were added: still read, as naming no places.
const LEGACY_VERSION: u8 = 2;
/// The first version with n_places and the places.
const PLACES_VERSION: u8 = 3;
/// _HEADER = struct.Struct("<BBH"): version, flags, shingle count.
const HEADER_SIZE: usize = 4;
/// n_names, n_numbers, n_terms, n_embedding, weekday byte.
const COUNTS_SIZE: usize = 5;

/// Sketch, borrowing the raw bytes. minhash and lead are empty for a bare headline (the Python
/// holds 0 there; nothing reads them for a bare headline).
struct Sketch<'a> {
    headline_only: bool,
    shingles: u16,
    names: Facts<'a>,
    numbers: Facts<'a>,
    terms: Facts<'a>,
    weekdays: u8,
    embedding: &'a [u8],
    minhash: &'a [u8],
    lead: &'a [u8],
    negated: bool,
    places: Facts<'a>,
}

/// Why a sketch could not be decoded, as the Python exception it raises there: probe() treats
/// ValueError and struct.error as "written by an older format"; an IndexError escapes, as it does
/// from the Python.
enum DecodeError {
    Struct(String),
    Value(String),
    Index(String),
}

/// struct.unpack_from's complaint about a short buffer.
fn short_buffer(size: usize, offset: usize, actual: usize) -> DecodeError {
    DecodeError::Struct(format!(
        "unpack_from requires a buffer of at least {} bytes for unpacking {} bytes at offset {} (actual buffer size is {})",
        size + offset,
        size,
        offset,
        actual
    ))
}

// ---------------------------------------------------------------------------------------------
// Embedding cosine (streams.embed.cosine).

/// embed.dequantise of one byte: its two signed 4-bit components, low nibble first (shifting a
/// nibble to the top of an i8 and back sign-extends it: 0x8..0xF become -8..-1).
#[inline(always)]
fn nibbles(byte: u8) -> (i16, i16) {
    ((((byte << 4) as i8) >> 4) as i16, ((byte as i8) >> 4) as i16)
}

/// Bytes per step of the cosine's vectorised loop.
const LANES: usize = 16;
/// Bytes summed in i16 lanes before the lanes are added up in i32: 240 bytes (480 components)
/// contribute at most 480 * 64 = 30720 to any lane, below i16::MAX. A sketch's embedding has at
/// most 255 bytes: one or two blocks.
const BLOCK: usize = 15 * LANES;

/// (x . y, x . x, y . y) of the dequantised components of one block of at most BLOCK bytes, in
/// i16 lanes, which the compiler vectorises.
fn block_dots(a: &[u8], b: &[u8]) -> (i32, i32, i32) {
    let (mut xy, mut xx, mut yy) = ([0i16; LANES], [0i16; LANES], [0i16; LANES]);
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for i in 0..LANES {
            let ((x0, x1), (y0, y1)) = (nibbles(ca[i]), nibbles(cb[i]));
            xy[i] += x0 * y0 + x1 * y1;
            xx[i] += x0 * x0 + x1 * x1;
            yy[i] += y0 * y0 + y1 * y1;
        }
    }
    let tail = a.len() - a.len() % LANES;
    for (i, (&pa, &pb)) in a[tail..].iter().zip(&b[tail..]).enumerate() {
        let ((x0, x1), (y0, y1)) = (nibbles(pa), nibbles(pb));
        xy[i] += x0 * y0 + x1 * y1;
        xx[i] += x0 * x0 + x1 * x1;
        yy[i] += y0 * y0 + y1 * y1;
    }
    let total = |lanes: [i16; LANES]| lanes.iter().map(|&v| v as i32).sum::<i32>();
    (total(xy), total(xx), total(yy))
}

/// embed.cosine over the shared prefix. The Python works in float32 (dequantised vectors, x @ y,
/// np.linalg.norm = sqrt(x.dot(x)) in float32, nx * ny as a float32 product) and divides in f64.
/// The components are integers in [-8, 7]: for a sketch's embedding (at most 255 bytes, 510
/// components) every dot product is an integer of magnitude at most 510 * 64 = 32640, exact in
/// float32 whatever order numpy sums in, hence computed here in integers and converted (a zero dot
/// is +0.0 in numpy, as the integer 0 converts). Exact so for inputs up to 2**24 / 128 = 131072
/// bytes; beyond, numpy's float32 sums round (in BLAS's order) and this does not follow them.
fn cosine(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (mut xy, mut xx, mut yy) = (0i64, 0i64, 0i64);
    for (ba, bb) in a[..n].chunks(BLOCK).zip(b[..n].chunks(BLOCK)) {
        let (dxy, dxx, dyy) = block_dots(ba, bb);
        (xy, xx, yy) = (xy + dxy as i64, xx + dxx as i64, yy + dyy as i64);
    }
    let nx = (xx as f32).sqrt();
    let ny = (yy as f32).sqrt();
    let denom = (nx * ny) as f64;
    if denom != 0.0 {
        (xy as f32) as f64 / denom
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------------
// Tables from the Python modules.

/// dedup._OPPOSITES as a lookup: for each headline-term hash that is an opposite word, the bits of
/// dedup._opposite_mask it sets (bit 2k: side x of pair k, bit 2k+1: side y).
struct OppositeWords {
    /// One bit per 16-bit hash: whether it is in any pair (most terms are not: one probe).
    any: Vec<u64>,
    /// (hash, mask bits), sorted by hash.
    masks: Vec<(u16, u64)>,
    /// Bits 2k of every pair k.
    side_x_bits: u64,
}

impl OppositeWords {
    fn new(pairs: &[(HashSet<u16>, HashSet<u16>)]) -> PyResult<OppositeWords> {
        if pairs.len() > 32 {
            return Err(PyValueError::new_err("at most 32 pairs of opposite words (two mask bits each in a u64)"));
        }
        let mut by_hash: HashMap<u16, u64> = HashMap::new();
        let mut side_x_bits = 0u64;
        for (k, (x, y)) in pairs.iter().enumerate() {
            side_x_bits |= 1 << (2 * k);
            for &h in x {
                *by_hash.entry(h).or_insert(0) |= 1 << (2 * k);
            }
            for &h in y {
                *by_hash.entry(h).or_insert(0) |= 1 << (2 * k + 1);
            }
        }
        let mut any = vec![0u64; 1 << 10];
        for &h in by_hash.keys() {
            any[(h >> 6) as usize] |= 1 << (h & 63);
        }
        let mut masks: Vec<(u16, u64)> = by_hash.into_iter().collect();
        masks.sort_unstable();
        Ok(OppositeWords { any, masks, side_x_bits })
    }

    /// dedup._opposite_mask(terms)
    fn mask(&self, terms: Facts) -> u64 {
        let mut mask = 0;
        for h in terms.values() {
            if self.any[(h >> 6) as usize] >> (h & 63) & 1 == 1 {
                if let Ok(i) = self.masks.binary_search_by_key(&h, |&(k, _)| k) {
                    mask |= self.masks[i].1;
                }
            }
        }
        mask
    }
}

/// dedup._PLACE_WITHIN: a place's hash -> the hashes of the places it lies within.
struct PlaceWithin {
    /// (place hash, start, end) into `within`, sorted by hash.
    spans: Vec<(u16, u32, u32)>,
    within: Vec<u16>,
}

impl PlaceWithin {
    fn new(table: HashMap<u16, HashSet<u16>>) -> PlaceWithin {
        let mut keys: Vec<u16> = table.keys().copied().collect();
        keys.sort_unstable();
        let mut spans = Vec::with_capacity(keys.len());
        let mut within = Vec::new();
        for key in keys {
            let start = within.len() as u32;
            within.extend(table[&key].iter().copied());
            spans.push((key, start, within.len() as u32));
        }
        PlaceWithin { spans, within }
    }

    /// Whether `place` is in _PLACE_WITHIN.get(around, (around,)).
    fn lies_within(&self, place: u16, around: u16) -> bool {
        match self.spans.binary_search_by_key(&around, |&(k, _, _)| k) {
            Ok(i) => {
                let (_, start, end) = self.spans[i];
                has(&self.within[start as usize..end as usize], place)
            }
            Err(_) => place == around,
        }
    }

    /// `places <= around_other`, where around_other is the union of what each of `other` lies within.
    fn all_within(&self, places: Facts, other: Facts) -> bool {
        places.values().all(|p| other.values().any(|q| self.lies_within(p, q)))
    }
}

/// The terms of dedup.headline_evidence, by their dict keys.
#[derive(Clone, Copy)]
enum Evidence {
    Cosine,
    Words,
    WordsOfShorter,
    Numbers,
    NumbersUnshared,
    Names,
    NamesUnshared,
}

impl Evidence {
    fn named(name: &str) -> PyResult<Evidence> {
        Ok(match name {
            "cosine" => Evidence::Cosine,
            "words" => Evidence::Words,
            "words_of_shorter" => Evidence::WordsOfShorter,
            "numbers" => Evidence::Numbers,
            "numbers_unshared" => Evidence::NumbersUnshared,
            "names" => Evidence::Names,
            "names_unshared" => Evidence::NamesUnshared,
            _ => return Err(PyValueError::new_err(format!("unknown headline evidence {name:?}"))),
        })
    }
}

/// headline_evidence's values, all computed (each is cheap).
struct HeadlineEvidence {
    cosine: f64,
    words: f64,
    words_of_shorter: f64,
    numbers: f64,
    numbers_unshared: f64,
    names: f64,
    names_unshared: f64,
}

impl HeadlineEvidence {
    fn get(&self, kind: Evidence) -> f64 {
        match kind {
            Evidence::Cosine => self.cosine,
            Evidence::Words => self.words,
            Evidence::WordsOfShorter => self.words_of_shorter,
            Evidence::Numbers => self.numbers,
            Evidence::NumbersUnshared => self.numbers_unshared,
            Evidence::Names => self.names,
            Evidence::NamesUnshared => self.names_unshared,
        }
    }
}

/// 2 * len(a.terms & b.terms) / max(1, len(a.terms) + len(b.terms)): int / int in Python, which
/// rounds the exact quotient once, as f64 division of the (exactly converted) small ints does.
fn word_share(shared_terms: usize, terms_a: usize, terms_b: usize) -> f64 {
    (2 * shared_terms) as f64 / (terms_a + terms_b).max(1) as f64
}

/// The constants the judge reads from streams.dedup, by their names there.
const DEDUP_CONSTANTS: [&str; 17] = [
    "NEAR_RESEMBLANCE",
    "NEAR_CONTAINMENT",
    "NEAR_LEAD",
    "NEAR_MIN_SHINGLES",
    "NUMBER_SHARE",
    "SHORT_TEXT_SHINGLES",
    "HEADLINE_BIAS",
    "HEADLINE_BAR",
    "REWRITE_MIN_COSINE",
    "REWRITE_WORD_WEIGHT",
    "MIXED_REWRITE_SCORE",
    "ARTICLE_REWRITE_COSINE",
    "ARTICLE_REWRITE_NAMES",
    "ARTICLE_REWRITE_NAME_SHARE",
    "ARTICLE_REWRITE_JACCARD",
    "NUM_PERM",
    "LEAD_PERM",
];
/// The constants of the sketch layout, from streams.fingerprint.
const SKETCH_CONSTANTS: [&str; 3] = ["VERSION", "_WEEKDAY_BITS", "NEGATED_BIT"];

/// The per-candidate checks of streams.dedup over raw sketch bytes. Build it once from the Python
/// modules (see parity.py: `native_judge()`), then call its methods with the stored sketches.
#[pyclass(frozen, module = "newsflow_native")]
pub struct SketchJudge {
    // Sketch layout (streams.fingerprint).
    version: u8,
    num_perm: usize,
    lead_perm: usize,
    weekday_bits: u8,
    negated_bit: u8,
    // Tables (streams.dedup).
    opposites: OppositeWords,
    place_within: PlaceWithin,
    /// HEADLINE_WEIGHTS[k] for each k of headline_evidence(), in the evidence dict's order (the
    /// order the Python sums in).
    headline_weights: Vec<(Evidence, f64)>,
    // Thresholds (streams.dedup). Shingle and name counts compare with them as f64, exact for
    // these small integers, so an int or a float constant compares as it does in Python.
    headline_bias: f64,
    headline_bar: f64,
    near_resemblance: f64,
    near_containment: f64,
    near_lead: f64,
    near_min_shingles: f64,
    number_share: f64,
    short_text_shingles: f64,
    rewrite_min_cosine: f64,
    rewrite_word_weight: f64,
    mixed_rewrite_score: f64,
    article_rewrite_cosine: f64,
    article_rewrite_names: f64,
    article_rewrite_name_share: f64,
    article_rewrite_jaccard: f64,
    /// Python 3.12 made sum() of floats compensated (Neumaier); 3.11, the project's line, adds
    /// left to right. The headline score follows the interpreter that loaded the module.
    compensated_sum: bool,
    /// struct.error, raised for a sketch shorter than its layout says (as struct does).
    struct_error: Py<PyType>,
}

fn constant(constants: &Bound<'_, PyDict>, name: &str) -> PyResult<f64> {
    match constants.get_item(name)? {
        Some(value) => value.extract::<f64>(),
        None => Err(PyValueError::new_err(format!("SketchJudge needs the constant {name}"))),
    }
}

fn small_constant<T: TryFrom<i64>>(constants: &Bound<'_, PyDict>, name: &str) -> PyResult<T> {
    let value: i64 = match constants.get_item(name)? {
        Some(value) => value.extract()?,
        None => return Err(PyValueError::new_err(format!("SketchJudge needs the constant {name}"))),
    };
    T::try_from(value).map_err(|_| PyValueError::new_err(format!("constant {name}={value} is out of range")))
}

impl SketchJudge {
    /// Sketch._decode: a view of `raw` (nothing is copied).
    fn decode<'a>(&self, raw: &'a [u8]) -> Result<Sketch<'a>, DecodeError> {
        if raw.len() < HEADER_SIZE {
            return Err(short_buffer(HEADER_SIZE, 0, raw.len()));
        }
        let (version, flags) = (raw[0], raw[1]);
        let shingles = u16::from_le_bytes([raw[2], raw[3]]);
        if version != LEGACY_VERSION && version != self.version {
            return Err(DecodeError::Value(format!("sketch version {version}")));
        }
        let headline_only = flags & 1 == 1;
        let mut off = HEADER_SIZE;
        let (mut minhash, mut lead): (&[u8], &[u8]) = (&[], &[]);
        if !headline_only {
            // Python slices (short slices when the sketch is cut): the counts below then fail.
            minhash = slice(raw, off, off + self.num_perm);
            lead = slice(raw, off + self.num_perm, off + self.num_perm + self.lead_perm);
            off += self.num_perm + self.lead_perm;
        }
        // n_names, n_numbers, n_terms, n_emb, day_byte = raw[off:off + 5]
        let counts = slice(raw, off, off + COUNTS_SIZE);
        if counts.len() < COUNTS_SIZE {
            return Err(DecodeError::Value(format!(
                "not enough values to unpack (expected {COUNTS_SIZE}, got {})",
                counts.len()
            )));
        }
        let (n_names, n_numbers, n_terms, n_emb, day_byte) =
            (counts[0] as usize, counts[1] as usize, counts[2] as usize, counts[3] as usize, counts[4]);
        off += COUNTS_SIZE;
        let mut n_places = 0;
        if version >= PLACES_VERSION {
            if off >= raw.len() {
                return Err(DecodeError::Index("index out of range".to_string()));
            }
            n_places = raw[off] as usize;
            off += 1;
        }
        let n_facts = n_names + n_numbers + n_terms + n_places;
        if off + 2 * n_facts > raw.len() {
            return Err(short_buffer(2 * n_facts, off, raw.len()));
        }
        let facts = |from: usize, count: usize| Facts { raw: &raw[off + 2 * from..off + 2 * (from + count)] };
        let sketch = Sketch {
            headline_only,
            shingles,
            names: facts(0, n_names),
            numbers: facts(n_names, n_numbers),
            terms: facts(n_names + n_numbers, n_terms),
            weekdays: day_byte & self.weekday_bits,
            // Sliced as Python slices: a cut sketch keeps what is left of its embedding.
            embedding: slice(raw, off + 2 * n_facts, off + 2 * n_facts + n_emb),
            minhash,
            lead,
            negated: day_byte & self.negated_bit != 0,
            places: facts(n_names + n_numbers + n_terms, n_places),
        };
        Ok(sketch)
    }

    /// decode, failing with the exception the Python raises.
    fn decode_py<'a>(&self, py: Python<'_>, raw: &'a [u8]) -> PyResult<Sketch<'a>> {
        self.decode(raw).map_err(|e| match e {
            DecodeError::Struct(msg) => PyErr::from_type(self.struct_error.bind(py).clone(), msg),
            DecodeError::Value(msg) => PyValueError::new_err(msg),
            DecodeError::Index(msg) => PyIndexError::new_err(msg),
        })
    }

    /// check(Sketch.decode(mine), Sketch.decode(theirs)); mine is decoded first, so a pair of bad
    /// sketches raises mine's error, as the Python does.
    #[inline]
    fn with_pair<R>(
        &self,
        py: Python<'_>,
        mine: &[u8],
        theirs: &[u8],
        check: impl FnOnce(&Sketch, &Sketch) -> R,
    ) -> PyResult<R> {
        let a = self.decode_py(py, mine)?;
        let b = self.decode_py(py, theirs)?;
        Ok(check(&a, &b))
    }

    /// dedup._jaccard_bits: the share of agreeing one-byte minhash values, corrected for chance.
    fn jaccard(&self, x: &[u8], y: &[u8]) -> f64 {
        let n = x.len();
        let differ = x.iter().zip(y).filter(|(a, b)| a != b).count();
        corrected((n - differ) as f64 / n as f64)
    }

    /// dedup.opposed
    fn opposed(&self, a: &Sketch, b: &Sketch) -> bool {
        let (ma, mb) = (self.opposites.mask(a.terms), self.opposites.mask(b.terms));
        if ma == 0 || mb == 0 {
            return false;
        }
        // All pairs at once: bit 2k of each word says side x (ax, bx) or side y (ay, by) of pair k.
        let even = self.opposites.side_x_bits;
        let (ax, ay) = (ma & even, (ma >> 1) & even);
        let (bx, by) = (mb & even, (mb >> 1) & even);
        ((ax & by & !ay & !bx) | (ay & bx & !ax & !by)) != 0
    }

    /// dedup.places_clash
    fn places_clash(&self, a: &Sketch, b: &Sketch) -> bool {
        if a.places.is_empty() || b.places.is_empty() {
            return false;
        }
        !self.place_within.all_within(a.places, b.places) && !self.place_within.all_within(b.places, a.places)
    }

    /// dedup.different_reports
    fn different_reports(&self, a: &Sketch, b: &Sketch) -> bool {
        (a.weekdays != 0 && b.weekdays != 0 && a.weekdays & b.weekdays == 0)
            || a.negated != b.negated
            || self.opposed(a, b)
            || self.places_clash(a, b)
    }

    /// dedup.numbers_agree
    fn numbers_agree(&self, a: &Sketch, b: &Sketch) -> bool {
        if a.numbers.is_empty() || b.numbers.is_empty() {
            return true;
        }
        a.numbers.shared(b.numbers) as f64 >= self.number_share * a.numbers.len().min(b.numbers.len()) as f64
    }

    /// dedup.facts_disagree
    fn facts_disagree(&self, a: &Sketch, b: &Sketch) -> bool {
        disjoint(a.numbers, b.numbers) || disjoint(a.names, b.names)
    }

    /// dedup.same_report
    fn same_report(&self, a: &Sketch, b: &Sketch) -> bool {
        if self.different_reports(a, b) || !self.numbers_agree(a, b) {
            return false;
        }
        if a.shingles.min(b.shingles) as f64 >= self.short_text_shingles {
            return true;
        }
        a.terms.meets(b.terms) || a.names.meets(b.names) || a.places.meets(b.places)
    }

    /// dedup.near_similarity
    fn near_similarity(&self, a: &Sketch, b: &Sketch) -> PyResult<Option<f64>> {
        if a.headline_only || b.headline_only || (a.shingles.min(b.shingles) as f64) < self.near_min_shingles {
            return Ok(None);
        }
        let resemblance = self.jaccard(a.minhash, b.minhash);
        let score;
        if resemblance >= self.near_resemblance {
            score = resemblance;
        } else {
            let (small, large) = (a.shingles.min(b.shingles) as f64, a.shingles.max(b.shingles) as f64);
            let divisor = (1.0 + resemblance) * small;
            if divisor == 0.0 {
                // Only with NEAR_MIN_SHINGLES <= 0: Python's float division raises.
                return Err(PyZeroDivisionError::new_err("float division by zero"));
            }
            // min(1.0, x) keeps 1.0 unless x is smaller.
            let containment = resemblance * (small + large) / divisor;
            score = if containment < 1.0 { containment } else { 1.0 };
            if score < self.near_containment || self.jaccard(a.lead, b.lead) < self.near_lead {
                return Ok(None);
            }
        }
        Ok(if self.same_report(a, b) { Some(score) } else { None })
    }

    /// dedup.headline_evidence
    fn headline_evidence(&self, a: &Sketch, b: &Sketch) -> HeadlineEvidence {
        let (shared_terms, terms_a, terms_b) = (a.terms.shared(b.terms), a.terms.len(), b.terms.len());
        HeadlineEvidence {
            cosine: cosine(a.embedding, b.embedding),
            words: word_share(shared_terms, terms_a, terms_b),
            words_of_shorter: shared_terms as f64 / terms_a.min(terms_b).max(1) as f64,
            numbers: disjoint(a.numbers, b.numbers) as u8 as f64,
            numbers_unshared: both_unshared(a.numbers, b.numbers) as u8 as f64,
            names: disjoint(a.names, b.names) as u8 as f64,
            names_unshared: both_unshared(a.names, b.names) as u8 as f64,
        }
    }

    /// HEADLINE_BIAS + sum(HEADLINE_WEIGHTS[k] * v for k, v in evidence.items())
    fn headline_score_of(&self, evidence: &HeadlineEvidence) -> f64 {
        let terms = self.headline_weights.iter().map(|&(kind, weight)| weight * evidence.get(kind));
        self.headline_bias + python_sum(terms, self.compensated_sum)
    }

    /// dedup.rewrite_similarity
    fn rewrite_similarity(&self, a: &Sketch, b: &Sketch) -> Option<f64> {
        if a.embedding.is_empty() || b.embedding.is_empty() {
            return None;
        }
        if self.different_reports(a, b) {
            return None;
        }
        if a.headline_only && b.headline_only {
            let evidence = self.headline_evidence(a, b);
            if evidence.cosine < self.rewrite_min_cosine {
                return None;
            }
            let score = self.headline_score_of(&evidence);
            return if score >= self.headline_bar { Some(clamp_unit(evidence.cosine)) } else { None };
        }
        if self.facts_disagree(a, b) {
            return None;
        }
        let cos = cosine(a.embedding, b.embedding);
        if cos < self.rewrite_min_cosine {
            return None;
        }
        if a.headline_only || b.headline_only {
            let words = word_share(a.terms.shared(b.terms), a.terms.len(), b.terms.len());
            return if cos + self.rewrite_word_weight * words >= self.mixed_rewrite_score {
                Some(clamp_unit(cos))
            } else {
                None
            };
        }
        let shared = a.names.shared(b.names) as f64;
        if cos < self.article_rewrite_cosine
            || shared < self.article_rewrite_names
            || shared < self.article_rewrite_name_share * a.names.len().min(b.names.len()) as f64
            || !self.numbers_agree(a, b)
            || self.jaccard(a.minhash, b.minhash) < self.article_rewrite_jaccard
        {
            return None;
        }
        Some(clamp_unit(cos))
    }
}

/// raw[start:end] with Python's clipping.
fn slice(raw: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(raw.len());
    if start >= end {
        &[]
    } else {
        &raw[start..end]
    }
}

/// dedup._corrected with bits=8: one-byte minhash values agree by chance 1/256 of the time.
fn corrected(agree: f64) -> f64 {
    let chance = 1.0 / (1u32 << 8) as f64;
    let value = (agree - chance) / (1.0 - chance);
    // max(0.0, value) keeps 0.0 unless value is larger.
    if value > 0.0 {
        value
    } else {
        0.0
    }
}

/// max(0.0, min(1.0, x)) with Python's tie rules (the first argument wins a tie).
fn clamp_unit(x: f64) -> f64 {
    let upper = if x < 1.0 { x } else { 1.0 };
    if upper > 0.0 {
        upper
    } else {
        0.0
    }
}

/// Python's sum() of floats from int 0. CPython 3.11 adds left to right (0 + x0 is exact, so this
/// is x0 + x1 + ...); 3.12+ keeps a Neumaier compensation term and adds it at the end when it is
/// non-zero and finite.
fn python_sum(values: impl Iterator<Item = f64>, compensated: bool) -> f64 {
    let mut total = 0.0f64;
    if !compensated {
        for x in values {
            total += x;
        }
        return total;
    }
    let mut values = values;
    // The first item goes through int 0 + float (exact), the rest through the float loop.
    match values.next() {
        None => return 0.0,
        Some(first) => total = 0.0 + first,
    }
    let mut compensation = 0.0f64;
    for x in values {
        let t = total + x;
        if total.abs() >= x.abs() {
            compensation += (total - t) + x;
        } else {
            compensation += (x - t) + total;
        }
        total = t;
    }
    if compensation != 0.0 && compensation.is_finite() {
        total += compensation;
    }
    total
}

/// A stored article record (streams.dedup._Record), borrowing the raw bytes: seen_at f64, flags u8
/// (bit 0: it matched a group); if matched, root_seen_at f64, kind u8, similarity * 255 u8, the
/// root id (u16 length + UTF-8); then the article id (u16 length + UTF-8), then the sketch.
struct StoredRecord<'a> {
    seen_at: f64,
    article_id: &'a str,
    root: Option<(f64, u8, u8, &'a str)>,
    sketch: &'a [u8],
}

impl<'a> StoredRecord<'a> {
    fn parse(raw: &'a [u8]) -> Result<StoredRecord<'a>, String> {
        let short = || format!("a stored record of {} bytes is cut short", raw.len());
        let f64_at = |at: usize| raw.get(at..at + 8).map(|b| f64::from_le_bytes(b.try_into().unwrap()));
        let text_at = |at: usize| -> Result<(&'a str, usize), String> {
            let n = raw.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or_else(short)?;
            let bytes = raw.get(at + 2..at + 2 + n).ok_or_else(short)?;
            Ok((std::str::from_utf8(bytes).map_err(|e| e.to_string())?, at + 2 + n))
        };
        let seen_at = f64_at(0).ok_or_else(short)?;
        let flags = *raw.get(8).ok_or_else(short)?;
        let mut at = 9;
        let mut root = None;
        if flags & 1 != 0 {
            let root_seen_at = f64_at(at).ok_or_else(short)?;
            let (kind, sim255) = (*raw.get(at + 8).ok_or_else(short)?, *raw.get(at + 9).ok_or_else(short)?);
            let (root_id, next) = text_at(at + 10)?;
            root = Some((root_seen_at, kind, sim255, root_id));
            at = next;
        }
        let (article_id, next) = text_at(at)?;
        Ok(StoredRecord { seen_at, article_id, root, sketch: &raw[next..] })
    }

    /// As _Record._decode fills its fields (the sketch aside): a record that matched nothing is
    /// its own root, with kind -1.
    fn fields(&self) -> (String, f64, String, f64, i8, f64) {
        match self.root {
            Some((root_seen_at, kind, sim255, root_id)) => {
                let root_id = if root_id.is_empty() { self.article_id } else { root_id };
                (self.article_id.to_owned(), self.seen_at, root_id.to_owned(), root_seen_at, kind as i8,
                 sim255 as f64 / 255.0)
            }
            None => (self.article_id.to_owned(), self.seen_at, self.article_id.to_owned(), self.seen_at, -1, 0.0),
        }
    }
}

#[pymethods]
impl SketchJudge {
    /// constants: {name: value} for every name in DEDUP_CONSTANTS (from streams.dedup) and
    /// SKETCH_CONSTANTS (from streams.fingerprint); opposites: dedup._OPPOSITES; place_within:
    /// dedup._PLACE_WITHIN; headline_weights: [(k, HEADLINE_WEIGHTS[k]) for k in the keys of
    /// headline_evidence(), in that order].
    #[new]
    fn new(
        py: Python<'_>,
        constants: &Bound<'_, PyDict>,
        opposites: Vec<(HashSet<u16>, HashSet<u16>)>,
        place_within: HashMap<u16, HashSet<u16>>,
        headline_weights: Vec<(String, f64)>,
    ) -> PyResult<SketchJudge> {
        let headline_weights = headline_weights
            .iter()
            .map(|(name, weight)| Ok((Evidence::named(name)?, *weight)))
            .collect::<PyResult<Vec<_>>>()?;
        let num_perm: usize = small_constant(constants, "NUM_PERM")?;
        let lead_perm: usize = small_constant(constants, "LEAD_PERM")?;
        if num_perm == 0 || lead_perm == 0 {
            return Err(PyValueError::new_err("NUM_PERM and LEAD_PERM must be positive"));
        }
        let struct_error = py.import("struct")?.getattr("error")?.downcast_into::<PyType>()?.unbind();
        Ok(SketchJudge {
            version: small_constant(constants, "VERSION")?,
            num_perm,
            lead_perm,
            weekday_bits: small_constant(constants, "_WEEKDAY_BITS")?,
            negated_bit: small_constant(constants, "NEGATED_BIT")?,
            opposites: OppositeWords::new(&opposites)?,
            place_within: PlaceWithin::new(place_within),
            headline_weights,
            headline_bias: constant(constants, "HEADLINE_BIAS")?,
            headline_bar: constant(constants, "HEADLINE_BAR")?,
            near_resemblance: constant(constants, "NEAR_RESEMBLANCE")?,
            near_containment: constant(constants, "NEAR_CONTAINMENT")?,
            near_lead: constant(constants, "NEAR_LEAD")?,
            near_min_shingles: constant(constants, "NEAR_MIN_SHINGLES")?,
            number_share: constant(constants, "NUMBER_SHARE")?,
            short_text_shingles: constant(constants, "SHORT_TEXT_SHINGLES")?,
            rewrite_min_cosine: constant(constants, "REWRITE_MIN_COSINE")?,
            rewrite_word_weight: constant(constants, "REWRITE_WORD_WEIGHT")?,
            mixed_rewrite_score: constant(constants, "MIXED_REWRITE_SCORE")?,
            article_rewrite_cosine: constant(constants, "ARTICLE_REWRITE_COSINE")?,
            article_rewrite_names: constant(constants, "ARTICLE_REWRITE_NAMES")?,
            article_rewrite_name_share: constant(constants, "ARTICLE_REWRITE_NAME_SHARE")?,
            article_rewrite_jaccard: constant(constants, "ARTICLE_REWRITE_JACCARD")?,
            compensated_sum: py.version_info() >= (3, 12),
            struct_error,
        })
    }

    /// The names `constants` must hold from streams.dedup.
    #[classattr]
    #[allow(non_snake_case)]
    fn DEDUP_CONSTANTS(py: Python<'_>) -> PyResult<Py<PyTuple>> {
        Ok(PyTuple::new(py, DEDUP_CONSTANTS)?.unbind())
    }

    /// The names `constants` must hold from streams.fingerprint.
    #[classattr]
    #[allow(non_snake_case)]
    fn SKETCH_CONSTANTS(py: Python<'_>) -> PyResult<Py<PyTuple>> {
        Ok(PyTuple::new(py, SKETCH_CONSTANTS)?.unbind())
    }

    /// The probe's verdict on one candidate: with exact (it came through the exact key),
    /// (0, 1.0) if same_report else None; otherwise (1, near_similarity) when that is not None,
    /// else (2, rewrite_similarity) when that is not None, else None. Similarities unquantised.
    fn verify(&self, py: Python<'_>, mine: &[u8], theirs: &[u8], exact: bool) -> PyResult<Option<(u8, f64)>> {
        self.with_pair(py, mine, theirs, |a, b| {
            if exact {
                return Ok(if self.same_report(a, b) { Some((0, 1.0)) } else { None });
            }
            if let Some(sim) = self.near_similarity(a, b)? {
                return Ok(Some((1, sim)));
            }
            Ok(self.rewrite_similarity(a, b).map(|sim| (2, sim)))
        })?
    }

    /// dedup.SketchChecks.screen: the candidates (stored record or None, named by the exact key)
    /// that `mine` copies or rewrites, as (tier, similarity, record fields), and those it does not
    /// match at all, as (-1, 0.0, record fields); missing or expired records and the article's own
    /// are passed over. Record fields: (article_id, seen_at, root_id, root_seen_at, kind, similarity).
    #[allow(clippy::type_complexity)]
    fn screen<'py>(
        &self,
        py: Python<'py>,
        mine: &[u8],
        article_id: &str,
        horizon: f64,
        candidates: Vec<(Option<Bound<'py, PyBytes>>, bool)>,
    ) -> PyResult<Vec<(i8, f64, (String, f64, String, f64, i8, f64))>> {
        let mine = self.decode(mine);
        let mut out = Vec::new();
        for (raw, via_exact) in &candidates {
            let Some(raw) = raw else { continue };
            let rec = StoredRecord::parse(raw.as_bytes())
                .map_err(|msg| PyErr::from_type(self.struct_error.bind(py).clone(), msg))?;
            if rec.seen_at < horizon || rec.article_id == article_id {
                continue; // expired, or the article itself (a redelivery indexed under another ref)
            }
            // A sketch that cannot be decoded (ValueError or struct.error in Python) was written by
            // an older format: a candidate named by the exact key is still a copy; others are skipped.
            let theirs = self.decode(rec.sketch);
            let tier = match (&mine, &theirs) {
                (Err(DecodeError::Index(msg)), _) | (_, Err(DecodeError::Index(msg))) => {
                    return Err(PyIndexError::new_err(msg.clone()))
                }
                (Ok(a), Ok(b)) => {
                    if *via_exact {
                        self.same_report(a, b).then_some((0, 1.0))
                    } else if let Some(sim) = self.near_similarity(a, b)? {
                        Some((1, sim))
                    } else {
                        self.rewrite_similarity(a, b).map(|sim| (2, sim))
                    }
                }
                _ => {
                    if *via_exact {
                        out.push((0, 1.0, rec.fields()));
                    }
                    continue;
                }
            };
            match tier {
                Some((kind, sim)) => out.push((kind, sim, rec.fields())),
                None if !*via_exact => out.push((-1, 0.0, rec.fields())),
                None => {}
            }
        }
        Ok(out)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SketchJudge>()?;
    Ok(())
}
