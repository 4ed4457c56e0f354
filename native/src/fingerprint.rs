//! Twin of `streams.fingerprint.Fingerprinter._lexical`: everything in a fingerprint but the
//! embedding. `Lexicon(...).lexical(title, text)` returns exactly what
//! `Fingerprinter(embedder=None)._lexical(PreparedText(title, text))` returns:
//! `(content_hash, keys, body, counts, day_byte, facts)`.
//!
//! The word lists and tables (stop words, number words, the negated-verdict table, weekdays, the
//! place aliases) and the Unicode character classes that Python's `re` uses for `\w`, `\s`, `\d` and
//! for case-insensitive letters all come from Python at construction (parity.py `make_lexicon()`),
//! so the data has one source of truth and the classes are the interpreter's own. What is ported
//! here is the control flow and the regular expressions, as hand-written scanners (each says which
//! pattern it replaces and why it matches the same strings).
//!
//! Non-ASCII text is lower-cased by Python's own `str.lower()` (Rust's `to_lowercase` follows a
//! newer Unicode version than the interpreter's); ASCII text, the common case, is lowered here.
//!
//! Function names follow the Python ones (`_words` -> `push_words`, `extract_facts` -> `facts`,
//! `_salient` -> `salient`, `places_in` -> `places`, `negated` -> `is_negated`, ...).
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64, xxh3_64_with_seed};

// ---------------------------------------------------------------------------------------------
// rensa 0.5.0: the token hash of `RMinHash.hash_token_sets` and the sketch of
// `RMinHash.digest_matrix_from_flat_token_hashes`, written from their definitions.
// ---------------------------------------------------------------------------------------------

/// Seeds and salt of rensa's byte hash (rustc-hash 2's `hash_bytes`), then FxHash's multiplier and
/// rotation for `finish()`.
const BYTES_SEED_LO: u64 = 0x243f_6a88_85a3_08d3;
const BYTES_SEED_HI: u64 = 0x1319_8a2e_0370_7344;
const BYTES_SALT: u64 = 0xa409_3822_299f_31d0;
const FX_MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;
const FX_ROTATE: u32 = 26;

/// The 128-bit product of x and y folded to 64 bits (low half xor high half).
#[inline]
fn folded_product(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    (product as u64) ^ ((product >> 64) as u64)
}

#[inline]
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[inline]
fn u32_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()))
}

/// What rensa hashes one bytes token to (a word, for `hash_token_sets`): two 64-bit lanes take the
/// input 16 bytes at a time through a folded multiply; short inputs are read as overlapping words.
#[inline]
fn rensa_token_hash(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let (mut lane0, mut lane1) = (BYTES_SEED_LO, BYTES_SEED_HI);
    if len > 16 {
        let mut at = 0;
        while at + 16 < len {
            let mixed = folded_product(lane0 ^ u64_at(bytes, at), BYTES_SALT ^ u64_at(bytes, at + 8));
            lane0 = lane1;
            lane1 = mixed;
            at += 16;
        }
        // The last 16 bytes (overlapping the previous block when len is not a multiple of 16).
        lane0 ^= u64_at(bytes, len - 16);
        lane1 ^= u64_at(bytes, len - 8);
    } else if len >= 8 {
        lane0 ^= u64_at(bytes, 0);
        lane1 ^= u64_at(bytes, len - 8);
    } else if len >= 4 {
        lane0 ^= u32_at(bytes, 0);
        lane1 ^= u32_at(bytes, len - 4);
    } else if len > 0 {
        lane0 ^= u64::from(bytes[0]);
        lane1 ^= (u64::from(bytes[len - 1]) << 8) | u64::from(bytes[len / 2]);
    }
    let compressed = folded_product(lane0, lane1) ^ (len as u64);
    compressed.wrapping_mul(FX_MULTIPLIER).rotate_left(FX_ROTATE)
}

/// rensa's permutations for a seed: pairs (a odd, b) drawn from xoshiro256++ (seeded through
/// SplitMix64 by rand_xoshiro's seed_from_u64).
fn rensa_permutations(count: usize, seed: u64) -> (Vec<u64>, Vec<u64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut mul, mut add) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        mul.push(rng.next_u64() | 1);
        add.push(rng.next_u64());
    }
    (mul, add)
}

// rensa 0.5's RMinHash sketch, as its reference definition states it (a coordinate-wise minimum,
// so token order and repeats do not matter). For a row of `count` = NUM_PERM coordinates and each
// token hash h:
//   - three bucket rounds r = 0, 1, 2: m = splitmix64(h ^ b0 ^ BUCKET_DOMAIN ^ r * ROUND_DOMAIN)
//     picks one coordinate (Lemire's multiply-shift on the low 32 bits of m, with rejection and
//     re-mixing for an unbiased pick) and offers it the rank (r << 30) | (m >> 34);
//   - a fallback: f = splitmix64(h ^ a0 ^ FALLBACK_DOMAIN) offers every coordinate k the rank
//     (3 << 30) | ((a_k * f + b_k) >> 34).
// A rank's top two bits are its round, so a coordinate takes the fallback only when no round
// reached it, and a round only matters where the earlier ones left a coordinate empty: the
// sketch below stops early and computes fallbacks only where they can show, with the same result.
const FRACTION_BITS: u32 = 30;
const BUCKET_ROUNDS: u32 = 3;
const FALLBACK_TAG: u32 = BUCKET_ROUNDS << FRACTION_BITS;
const BUCKET_DOMAIN: u64 = 0x6a09_e667_f3bc_c909;
const ROUND_DOMAIN: u64 = 0x3c6e_f372_fe94_f82b;
const FALLBACK_DOMAIN: u64 = 0xbb67_ae85_84ca_a73b;

#[inline]
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The coordinate (< count) a mixed hash falls in: the high half of low32 * count, unless the
/// low half is below 2^32 mod count (the incomplete interval), then again from splitmix64(mixed).
#[inline]
fn bucket_of(mut mixed: u64, count: u32, reject_below: u32) -> usize {
    loop {
        let product = u64::from(mixed as u32) * u64::from(count);
        if product as u32 >= reject_below {
            return (product >> 32) as usize;
        }
        mixed = splitmix64(mixed);
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers: a fast hasher for the tables, character classes handed over from Python.
// ---------------------------------------------------------------------------------------------

/// Hashes table keys (short words) with rensa's byte hash: SipHash, std's default, was a visible
/// share of the time, and these tables are fixed at start-up (no untrusted keys to resist).
#[derive(Default, Clone, Copy)]
struct WordHasherBuilder;

struct WordHasher(u64);

impl BuildHasher for WordHasherBuilder {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(0)
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = (self.0 ^ rensa_token_hash(bytes)).wrapping_mul(FX_MULTIPLIER);
    }
    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(FX_MULTIPLIER);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(FX_MULTIPLIER);
    }
    fn finish(&self) -> u64 {
        self.0.rotate_left(FX_ROTATE)
    }
}

type WordSet = HashSet<String, WordHasherBuilder>;
type WordMap<V> = HashMap<String, V, WordHasherBuilder>;
/// Tables looked up with a token lower-cased on the stack, as bytes.
type ByteWordSet = HashSet<Vec<u8>, WordHasherBuilder>;
type ByteWordMap<V> = HashMap<Vec<u8>, V, WordHasherBuilder>;

/// A set of characters: a table for ASCII, sorted ranges for the rest.
struct CharClass {
    ascii: [bool; 128],
    ranges: Vec<(u32, u32)>,
}

impl CharClass {
    fn from_members(members: &str) -> Self {
        let mut ascii = [false; 128];
        let mut codes: Vec<u32> = Vec::new();
        for c in members.chars() {
            if c.is_ascii() {
                ascii[c as usize] = true;
            } else {
                codes.push(c as u32);
            }
        }
        codes.sort_unstable();
        codes.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for code in codes {
            match ranges.last_mut() {
                Some(last) if last.1 + 1 == code => last.1 = code,
                _ => ranges.push((code, code)),
            }
        }
        CharClass { ascii, ranges }
    }

    #[inline]
    fn contains(&self, c: char) -> bool {
        let code = c as u32;
        if code < 128 {
            return self.ascii[code as usize];
        }
        let i = self.ranges.partition_point(|&(_, hi)| hi < code);
        i < self.ranges.len() && self.ranges[i].0 <= code
    }
}

/// `_words` maps each UTF-8 byte of the lowered text through `_PUNCT_TO_SPACE` (ASCII letters and
/// digits stay, every other ASCII byte becomes a space, bytes >= 0x80 stay) and splits on spaces.
/// This table gives a byte's value inside a word (ASCII letters lower-cased: the same as lowering
/// first for ASCII text, a no-op on text Python already lowered) or 0 for a separator.
const WORD_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b >= 0x80 || b.is_ascii_digit() || b.is_ascii_lowercase() {
            b
        } else if b.is_ascii_uppercase() {
            b.to_ascii_lowercase()
        } else {
            0
        };
        i += 1;
    }
    table
};

/// `_words`: appends the words of `text` (ASCII, or already lowered by Python) to `joined`,
/// separated by one space (as b" ".join(words) has them, and after the words already there), and
/// their byte spans to `bounds` as flat pairs (start, end, start, end, ...).
///
/// One pass without a branch per byte (a branch at each word's end, mispredicted as often as
/// word lengths vary, was most of this function's time): each byte is written lowered, or as a
/// space; the write position only advances over word bytes and the first separator after a word;
/// every change between word and separator records a bound.
fn push_words(text: &[u8], joined: &mut Vec<u8>, bounds: &mut Vec<usize>) {
    let base = joined.len();
    let first_bound = bounds.len();
    // At most one byte more than the input (the space after earlier words), and at most one bound
    // per input byte plus the closing one.
    joined.resize(base + text.len() + 1, 0);
    bounds.resize(first_bound + text.len() + 1, 0);
    let out = &mut joined[base..];
    let marks = &mut bounds[first_bound..];
    let mut w = 0;
    if first_bound > 0 {
        // After earlier words: a separator first (taken back below if no word follows).
        out[0] = b' ';
        w = 1;
    }
    let mut t = 0;
    let mut in_word = false;
    for &byte in text {
        let lowered = WORD_BYTES[byte as usize];
        let is_word = lowered != 0;
        out[w] = if is_word { lowered } else { b' ' };
        marks[t] = base + w;
        t += usize::from(is_word != in_word);
        w += usize::from(is_word | in_word);
        in_word = is_word;
    }
    if in_word {
        marks[t] = base + w;
        t += 1;
    } else if w > 0 && out[w - 1] == b' ' {
        w -= 1; // the separator after the last word
    }
    joined.truncate(base + w);
    bounds.truncate(first_bound + t);
}

/// The words of `joined` as (start, end) byte spans, from push_words' bounds.
fn spans(bounds: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    bounds.chunks_exact(2).map(|pair| (pair[0], pair[1]))
}

/// `_h16`: the low 16 bits of the text's xxh3-64.
#[inline]
fn h16(text: &[u8]) -> u16 {
    (xxh3_64(text) & 0xFFFF) as u16
}

/// The characters of _FACT_TOKEN's and _LEAD_FACT's name class [A-Za-z.'&].
#[inline]
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'.' || b == b'\'' || b == b'&'
}

/// End of `[A-Za-z][A-Za-z.'&]*[A-Za-z]|[A-Za-z]` matched at `start` (a letter): the greedy run of
/// name characters backs off to its last letter; with no letter after the first, one letter.
#[inline]
fn name_token_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start + 1;
    let mut i = start + 1;
    while i < bytes.len() && is_name_byte(bytes[i]) {
        if bytes[i].is_ascii_alphabetic() {
            end = i + 1;
        }
        i += 1;
    }
    end
}

/// The ordinal/plural suffix alternation (?:st|nd|rd|th|s)?, tried in the pattern's order.
const NUMBER_SUFFIXES: [&str; 5] = ["st", "nd", "rd", "th", "s"];

/// The punctuation tokens of _FACT_TOKEN, [.!?:;"].
const FACT_PUNCTUATION: &[u8] = b".!?:;\"";

/// Room for a lower-cased token looked up in a word table (longer tokens are in none of them).
const TABLE_WORD_MAX: usize = 32;

/// `tok.lower()` in `buf` when it fits (None when it is longer than any table word). Tokens are
/// ASCII or numeric (decimal digits, which have no case, with . , and a lower-case suffix), so
/// ASCII lower-casing is Python's lower() for them.
#[inline]
fn lower_in<'b>(tok: &str, buf: &'b mut [u8; TABLE_WORD_MAX]) -> Option<&'b [u8]> {
    let bytes = tok.as_bytes();
    if bytes.len() > TABLE_WORD_MAX {
        return None;
    }
    for (slot, b) in buf.iter_mut().zip(bytes) {
        *slot = b.to_ascii_lowercase();
    }
    Some(&buf[..bytes.len()])
}

/// `_stem` of an ASCII word: lower-case, no dots, no "'s", no apostrophes, no edge hyphens, one
/// suffix off, 5 characters. (Its callers pass _FACT_TOKEN name tokens, which are ASCII, and the
/// negated-verdict words, checked ASCII at construction.)
fn stem(word: &str) -> String {
    let mut low: Vec<u8> = word.bytes().filter(|&b| b != b'.').map(|b| b.to_ascii_lowercase()).collect();
    // .replace("'s", "").replace("'", ""): each apostrophe goes, and an "s" right after it with it
    // (the first replace finds exactly those pairs, which cannot overlap).
    let mut w = 0;
    let mut i = 0;
    while i < low.len() {
        if low[i] == b'\'' {
            i += if low.get(i + 1) == Some(&b's') { 2 } else { 1 };
            continue;
        }
        low[w] = low[i];
        w += 1;
        i += 1;
    }
    low.truncate(w);
    let mut s: &[u8] = &low;
    while let [b'-', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'-'] = s {
        s = rest;
    }
    for suffix in ["ing", "ed", "es", "s"] {
        if s.len() > suffix.len() + 3 && s.ends_with(suffix.as_bytes()) {
            s = &s[..s.len() - suffix.len()];
            break;
        }
    }
    String::from_utf8_lossy(&s[..s.len().min(5)]).into_owned()
}

/// `_is_acronym`: at least two characters besides dots, all of their cased characters upper case
/// (tokens are ASCII letters and . ' &, so: at least one letter, none lower case).
fn is_acronym(tok: &str) -> bool {
    let (mut count, mut letters, mut lower) = (0, 0, 0);
    for b in tok.bytes().filter(|&b| b != b'.') {
        count += 1;
        if b.is_ascii_alphabetic() {
            letters += 1;
            lower += usize::from(b.is_ascii_lowercase());
        }
    }
    count >= 2 && letters > 0 && lower == 0
}

/// `_title_cased`: of the tokens longer than 3 characters that start with a letter, at least 3,
/// and at least 80 % of them capitalised (the same float comparison as Python's).
fn title_cased(tokens: &[&str]) -> bool {
    let (mut long, mut upper) = (0usize, 0usize);
    for tok in tokens {
        // Tokens start with an ASCII letter, a decimal digit (not alphabetic) or punctuation;
        // letter tokens are ASCII, so bytes count characters.
        let first = tok.as_bytes()[0];
        if first.is_ascii_alphabetic() && tok.len() > 3 {
            long += 1;
            upper += usize::from(first.is_ascii_uppercase());
        }
    }
    long >= 3 && (upper as f64) >= 0.8 * (long as f64)
}

/// A routing key: a kind byte and at most 15 more (unused bytes zero, so equal keys have equal
/// arrays).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    len: u8,
    bytes: [u8; 16],
}

impl Key {
    fn new(kind: u8, rest: &[u8]) -> Key {
        let mut bytes = [0u8; 16];
        bytes[0] = kind;
        bytes[1..1 + rest.len()].copy_from_slice(rest);
        Key { len: 1 + rest.len() as u8, bytes }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Buffers reused from call to call (the text-sized ones: allocating them was a visible cost).
#[derive(Default)]
struct Scratch {
    joined: Vec<u8>,
    bounds: Vec<usize>,
    hashes: Vec<u64>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// What `_lexical` returns, before it becomes Python objects.
struct LexicalPart {
    content_hash: [u8; 32],
    keys: Vec<Key>,
    body: Vec<u8>,
    counts: [usize; 4],
    day_byte: u8,
    facts: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// The lexicon: tables and constants of streams.fingerprint and streams.places.
// ---------------------------------------------------------------------------------------------

/// The constants of streams.fingerprint that `_lexical` reads.
struct Constants {
    num_perm: usize,
    lsh_bands: usize,
    lsh_rows: usize,
    lead_words: usize,
    lead_fact_chars: usize,
    lead_perm: usize,
    lead_bands: usize,
    lead_rows: usize,
    term_limit: usize,
    headline_term_limit: usize,
    fact_limit: usize,
    place_limit: usize,
    number_limit: usize,
    headline_terms: usize,
    version: u8,
    negated_bit: u8,
    mul1: u64,
    mul2: u64,
}

/// The shingle width the shingle hash below is written for ((a * MUL1) ^ (b * MUL2) ^ c).
const SHINGLE: usize = 3;

#[pyclass(frozen, module = "newsflow_native")]
pub struct Lexicon {
    c: Constants,
    stop_words: ByteWordSet,
    /// _NUMBER_WORDS: word -> digits.
    number_words: ByteWordMap<String>,
    /// The number words by length (_LEAD_FACT's number-word alternative compares a run of
    /// letters with the few of its length: cheaper than hashing every lower-case word).
    number_words_by_len: Vec<Vec<Vec<u8>>>,
    /// _NEGATED: verdict word -> the word it means when negated ("guilty" -> "acquitted").
    negated: ByteWordMap<String>,
    /// The same verdict words in the table's order (the alternation of _NEGATED_VERDICT).
    verdicts: Vec<String>,
    /// _NEGATIONS in sorted order (as _NEGATED_VERDICT lists them).
    negations: Vec<String>,
    negation_cues: Vec<String>,
    /// _WEEKDAYS: lower-case day name -> bit.
    weekdays: HashMap<Vec<u8>, u8, WordHasherBuilder>,
    /// streams.places: ALIASES, _FIRST_WORDS, _LONGEST.
    aliases: WordMap<String>,
    first_words: WordSet,
    longest_alias: usize,
    /// Python re's \w, \s and \d (str patterns: Unicode).
    word_chars: CharClass,
    space_chars: CharClass,
    decimal_chars: CharClass,
    /// Non-ASCII characters that match an ASCII letter under re.IGNORECASE ("ſ" -> 's').
    ignorecase_letters: HashMap<char, u8>,
    /// rensa's permutations for SEED: the first NUM_PERM (a, b) pairs.
    perm_mul: Vec<u64>,
    perm_add: Vec<u64>,
}

fn constant<T: for<'a> FromPyObject<'a>>(constants: &Bound<'_, PyDict>, name: &str) -> PyResult<T> {
    constants
        .get_item(name)?
        .ok_or_else(|| PyValueError::new_err(format!("constants lacks {name}")))?
        .extract()
}

#[pymethods]
impl Lexicon {
    /// Build from the Python tables (parity.py make_lexicon() shows the call):
    /// stop_words (_STOP), number_words (_NUMBER_WORDS), negated (_NEGATED), negations
    /// (_NEGATIONS), negation_cues (_NEGATION_CUES), weekdays (_WEEKDAYS), aliases
    /// (places.ALIASES), first_words (places._FIRST_WORDS), longest_alias (places._LONGEST),
    /// word_chars / space_chars / decimal_chars (every character re's \w, \s, \d match),
    /// ignorecase_letters ({non-ASCII char: the ASCII letter it matches under re.I}), constants
    /// ({"NUM_PERM": 48, ...}: the module's constants by name, _MUL1/_MUL2 as MUL1/MUL2).
    #[new]
    #[pyo3(signature = (stop_words, number_words, negated, negations, negation_cues, weekdays, aliases,
                        first_words, longest_alias, word_chars, space_chars, decimal_chars,
                        ignorecase_letters, constants))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        stop_words: Vec<String>,
        number_words: Vec<(String, String)>,
        negated: Vec<(String, String)>,
        negations: Vec<String>,
        negation_cues: Vec<String>,
        weekdays: HashMap<String, u8>,
        aliases: HashMap<String, String>,
        first_words: Vec<String>,
        longest_alias: usize,
        word_chars: &str,
        space_chars: &str,
        decimal_chars: &str,
        ignorecase_letters: HashMap<char, char>,
        constants: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let shingle: usize = constant(constants, "SHINGLE")?;
        if shingle != SHINGLE {
            return Err(PyValueError::new_err("the shingle hash is written for SHINGLE = 3"));
        }
        let c = Constants {
            num_perm: constant(constants, "NUM_PERM")?,
            lsh_bands: constant(constants, "LSH_BANDS")?,
            lsh_rows: constant(constants, "LSH_ROWS")?,
            lead_words: constant(constants, "LEAD_WORDS")?,
            lead_fact_chars: constant(constants, "LEAD_FACT_CHARS")?,
            lead_perm: constant(constants, "LEAD_PERM")?,
            lead_bands: constant(constants, "LEAD_BANDS")?,
            lead_rows: constant(constants, "LEAD_ROWS")?,
            term_limit: constant(constants, "TERM_LIMIT")?,
            headline_term_limit: constant(constants, "HEADLINE_TERM_LIMIT")?,
            fact_limit: constant(constants, "FACT_LIMIT")?,
            place_limit: constant(constants, "PLACE_LIMIT")?,
            number_limit: constant(constants, "NUMBER_LIMIT")?,
            headline_terms: constant(constants, "HEADLINE_TERMS")?,
            version: constant(constants, "VERSION")?,
            negated_bit: constant(constants, "NEGATED_BIT")?,
            mul1: constant(constants, "MUL1")?,
            mul2: constant(constants, "MUL2")?,
        };
        if c.num_perm == 0
            || c.num_perm > u32::MAX as usize
            || c.lead_perm > c.num_perm
            || c.lsh_bands * c.lsh_rows > c.num_perm
            || c.lead_bands * c.lead_rows > c.lead_perm
            || c.lead_words < SHINGLE
        {
            return Err(PyValueError::new_err("inconsistent LSH constants"));
        }
        let seed: u64 = constant(constants, "SEED")?;
        let (perm_mul, perm_add) = rensa_permutations(c.num_perm, seed);
        // The verdict pattern's \s+ is followed by a verdict word: its greedy run is the only one
        // that can match when the word starts with a letter (a space never matches a letter).
        // stem() is written for ASCII words.
        if negated.iter().any(|(v, _)| !v.starts_with(|ch: char| ch.is_ascii_alphabetic()))
            || negations.iter().chain(negated.iter().flat_map(|(v, o)| [v, o])).any(|w| !w.is_ascii())
        {
            return Err(PyValueError::new_err("negation and verdict words must be ASCII words"));
        }
        // Table words are looked up lower-cased in a TABLE_WORD_MAX-byte buffer.
        if stop_words.iter().chain(number_words.iter().map(|(w, _)| w)).chain(negated.iter().map(|(v, _)| v))
            .any(|w| w.len() > TABLE_WORD_MAX || w.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(PyValueError::new_err("table words must be lower case, at most 32 bytes"));
        }
        if number_words.iter().any(|(w, _)| !w.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(PyValueError::new_err("number words must be lower-case ASCII letters"));
        }
        let mut number_words_by_len: Vec<Vec<Vec<u8>>> = Vec::new();
        for (word, _) in &number_words {
            if number_words_by_len.len() <= word.len() {
                number_words_by_len.resize(word.len() + 1, Vec::new());
            }
            number_words_by_len[word.len()].push(word.as_bytes().to_vec());
        }
        let mut letters = HashMap::new();
        for (ch, letter) in ignorecase_letters {
            if ch.is_ascii() || !letter.is_ascii_lowercase() {
                return Err(PyValueError::new_err("ignorecase_letters maps non-ASCII chars to a-z"));
            }
            letters.insert(ch, letter as u8);
        }
        Ok(Lexicon {
            c,
            stop_words: stop_words.into_iter().map(String::into_bytes).collect(),
            number_words: number_words.into_iter().map(|(w, d)| (w.into_bytes(), d)).collect(),
            number_words_by_len,
            verdicts: negated.iter().map(|(v, _)| v.clone()).collect(),
            negated: negated.into_iter().map(|(v, o)| (v.into_bytes(), o)).collect(),
            negations,
            negation_cues,
            weekdays: weekdays.into_iter().map(|(k, v)| (k.into_bytes(), v)).collect(),
            aliases: aliases.into_iter().collect(),
            first_words: first_words.into_iter().collect(),
            longest_alias,
            word_chars: CharClass::from_members(word_chars),
            space_chars: CharClass::from_members(space_chars),
            decimal_chars: CharClass::from_members(decimal_chars),
            ignorecase_letters: letters,
            perm_mul,
            perm_add,
        })
    }

    /// `Fingerprinter(embedder=None)._lexical(PreparedText(title, text))`:
    /// (content_hash, keys, body, (n_names, n_numbers, n_terms, n_places), day_byte, facts).
    fn lexical<'py>(
        &self,
        py: Python<'py>,
        title: &Bound<'py, PyString>,
        text: &Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let title_str = title.to_str()?;
        let text_str = text.to_str()?;
        // text.lower() only matters to the words, whose scan lowers ASCII itself.
        let text_lowered;
        let text_lower = if text_str.is_ascii() {
            text_str
        } else {
            text_lowered = python_lower(text)?;
            text_lowered.to_str()?
        };
        let title_lowered;
        let title_ascii_lower;
        let title_lower = if title_str.is_ascii() {
            title_ascii_lower = title_str.to_ascii_lowercase();
            title_ascii_lower.as_str()
        } else {
            title_lowered = python_lower(title)?;
            title_lowered.to_str()?
        };
        let part = self.lexical_core(title_str, text_str, title_lower, text_lower);

        let keys = PyTuple::new(py, part.keys.iter().map(|k| PyBytes::new(py, k.as_bytes())))?;
        let content_hash = std::str::from_utf8(&part.content_hash).expect("hex digits");
        PyTuple::new(
            py,
            [
                PyString::new(py, content_hash).into_any(),
                keys.into_any(),
                PyBytes::new(py, &part.body).into_any(),
                PyTuple::new(py, part.counts)?.into_any(),
                part.day_byte.into_pyobject(py)?.into_any(),
                PyBytes::new(py, &part.facts).into_any(),
            ],
        )
    }

    /// rensa's `RMinHash.hash_token_sets([tokens])[0]` (exposed for tests).
    fn token_hashes(&self, tokens: Vec<Vec<u8>>) -> Vec<u64> {
        tokens.iter().map(|t| rensa_token_hash(t)).collect()
    }

    /// rensa's `digest_matrix_from_flat_token_hashes(hashes, [0, len], NUM_PERM, SEED)` row
    /// (exposed for tests).
    fn minhash(&self, hashes: Vec<u64>) -> Vec<u32> {
        self.rensa_sketch(&hashes, self.c.num_perm)
    }

}

/// Python's `s.lower()` (its Unicode tables are the interpreter's, final sigma included).
fn python_lower<'py>(s: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyString>> {
    Ok(s.call_method0(intern!(s.py(), "lower"))?.downcast_into::<PyString>()?)
}

impl Lexicon {
    // -- rensa ----------------------------------------------------------------------------------

    /// The first `keep` values of rensa's NUM_PERM-coordinate sketch of `hashes` (all u32::MAX
    /// for no hashes). Each coordinate's value depends on no other coordinate, so a prefix can be
    /// computed alone.
    fn rensa_sketch(&self, hashes: &[u64], keep: usize) -> Vec<u32> {
        let count = self.c.num_perm as u32;
        let mut values = vec![u32::MAX; keep];
        if hashes.is_empty() {
            return values;
        }
        let reject_below = count.wrapping_neg() % count; // 2^32 mod count
        let (a0, b0) = (self.perm_mul[0], self.perm_add[0]);
        for round in 0..BUCKET_ROUNDS {
            let seed = b0 ^ BUCKET_DOMAIN ^ u64::from(round).wrapping_mul(ROUND_DOMAIN);
            let tag = round << FRACTION_BITS;
            for &h in hashes {
                let mixed = splitmix64(h ^ seed);
                let bucket = bucket_of(mixed, count, reject_below);
                if bucket < keep {
                    let rank = tag | (mixed >> (64 - FRACTION_BITS)) as u32;
                    values[bucket] = values[bucket].min(rank);
                }
            }
            // Later rounds rank above every value this one set: done once all are set.
            if values.iter().all(|&v| v < (round + 1) << FRACTION_BITS) {
                return values;
            }
        }
        let fallback: Vec<u64> = hashes.iter().map(|&h| splitmix64(h ^ a0 ^ FALLBACK_DOMAIN)).collect();
        for (k, value) in values.iter_mut().enumerate() {
            if *value != u32::MAX {
                continue;
            }
            let (a, b) = (self.perm_mul[k], self.perm_add[k]);
            for &f in &fallback {
                let rank = FALLBACK_TAG | (a.wrapping_mul(f).wrapping_add(b) >> (64 - FRACTION_BITS)) as u32;
                *value = (*value).min(rank);
            }
        }
        values
    }

    /// `_band_keys`: per band, kind + band index + 7 bytes of the xxh3-64 (seeded by the band
    /// index) of its `rows` values as little-endian u32.
    fn band_keys(kind: u8, values: &[u32], bands: usize, rows: usize, keys: &mut Vec<Key>) {
        let mut raw: Vec<u8> = Vec::with_capacity(4 * rows);
        for band in 0..bands {
            raw.clear();
            for v in &values[band * rows..(band + 1) * rows] {
                raw.extend_from_slice(&v.to_le_bytes());
            }
            let digest = xxh3_64_with_seed(&raw, band as u64).to_be_bytes();
            let mut rest = [0u8; 8];
            rest[0] = band as u8;
            rest[1..].copy_from_slice(&digest[..7]);
            keys.push(Key::new(kind, &rest));
        }
    }

    // -- extract_facts --------------------------------------------------------------------------

    #[inline]
    fn is_decimal(&self, c: char) -> bool {
        self.decimal_chars.contains(c)
    }

    #[inline]
    fn char_at(s: &str, at: usize) -> char {
        s[at..].chars().next().unwrap()
    }

    /// End of `\d[\d,.]*\d(?:st|nd|rd|th|s)?|\d(?:st|nd|rd|th|s)?` matched at `start` (a decimal
    /// digit of `first_len` bytes): the run of digits, commas and dots backs off to its last digit.
    fn number_token_end(&self, s: &str, start: usize, first_len: usize) -> usize {
        let bytes = s.as_bytes();
        let mut end = start + first_len;
        let mut i = end;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b',' || b == b'.' {
                i += 1;
            } else if b.is_ascii_digit() {
                i += 1;
                end = i;
            } else if b >= 0x80 {
                let ch = Self::char_at(s, i);
                if !self.is_decimal(ch) {
                    break;
                }
                i += ch.len_utf8();
                end = i;
            } else {
                break;
            }
        }
        let rest = &s[end..];
        for suffix in NUMBER_SUFFIXES {
            if rest.starts_with(suffix) {
                return end + suffix.len();
            }
        }
        end
    }

    /// `_FACT_TOKEN.findall(title)`: name tokens, number tokens and the punctuation [.!?:;"].
    fn fact_tokens<'a>(&self, title: &'a str) -> Vec<&'a str> {
        let bytes = title.as_bytes();
        let mut tokens = Vec::with_capacity(24);
        let mut p = 0;
        while p < bytes.len() {
            let b = bytes[p];
            if b.is_ascii_alphabetic() {
                let end = name_token_end(bytes, p);
                tokens.push(&title[p..end]);
                p = end;
            } else if b.is_ascii_digit() {
                let end = self.number_token_end(title, p, 1);
                tokens.push(&title[p..end]);
                p = end;
            } else if FACT_PUNCTUATION.contains(&b) {
                tokens.push(&title[p..p + 1]);
                p += 1;
            } else if b >= 0x80 {
                let ch = Self::char_at(title, p);
                if self.is_decimal(ch) {
                    let end = self.number_token_end(title, p, ch.len_utf8());
                    tokens.push(&title[p..end]);
                    p = end;
                } else {
                    p += ch.len_utf8();
                }
            } else {
                p += 1;
            }
        }
        tokens
    }

    /// `_LEAD_FACT.findall(lead)`, token by token, until `visit` returns false: capitalised name
    /// tokens not inside a word (the lookbehind (?<![A-Za-z.'&]) reads the previous character; a
    /// non-ASCII one ends in a byte >= 0x80, which is not in the class, so the previous byte
    /// decides), number tokens anywhere, and number words standing alone.
    fn for_each_lead_fact<'a>(&self, lead: &'a str, mut visit: impl FnMut(&'a str) -> bool) {
        let bytes = lead.as_bytes();
        let mut p = 0;
        while p < bytes.len() {
            let b = bytes[p];
            let after_name_char = p > 0 && is_name_byte(bytes[p - 1]);
            if b.is_ascii_alphabetic() {
                if after_name_char {
                    // Inside a run of letters every position has a letter before it: neither the
                    // name nor the number-word alternative can start there, nor a number.
                    while p < bytes.len() && bytes[p].is_ascii_alphabetic() {
                        p += 1;
                    }
                    continue;
                }
                if b.is_ascii_uppercase() {
                    let end = name_token_end(bytes, p);
                    if !visit(&lead[p..end]) {
                        return;
                    }
                    p = end;
                    continue;
                }
                // A lower-case letter: a number word if the whole run of letters is one
                // ((?:zero|one|...)(?![A-Za-z])); otherwise nothing matches in the run.
                let mut end = p + 1;
                while end < bytes.len() && bytes[end].is_ascii_alphabetic() {
                    end += 1;
                }
                let run = &lead[p..end];
                let is_number_word = self
                    .number_words_by_len
                    .get(run.len())
                    .is_some_and(|words| words.iter().any(|w| w.as_slice() == run.as_bytes()));
                if is_number_word && !visit(run) {
                    return;
                }
                p = end;
            } else if b.is_ascii_digit() {
                let end = self.number_token_end(lead, p, 1);
                if !visit(&lead[p..end]) {
                    return;
                }
                p = end;
            } else if b >= 0x80 {
                let ch = Self::char_at(lead, p);
                if self.is_decimal(ch) {
                    let end = self.number_token_end(lead, p, ch.len_utf8());
                    if !visit(&lead[p..end]) {
                        return;
                    }
                    p = end;
                } else {
                    p += ch.len_utf8();
                }
            } else {
                p += 1;
            }
        }
    }

    /// `_number`: the digits a token stands for (a number word or a numeric token), else None.
    fn number(&self, tok: &str) -> Option<String> {
        let mut buf = [0u8; TABLE_WORD_MAX];
        if let Some(digits) = lower_in(tok, &mut buf).and_then(|low| self.number_words.get(low)) {
            return Some(digits.clone());
        }
        // token[0].isdigit(): tokens start with an ASCII letter or a decimal digit here.
        if !self.is_decimal(tok.chars().next()?) {
            return None;
        }
        // re.sub(r"(st|nd|rd|th|s)$", "", low): only the token's own suffix can match there (the
        // characters before it are digits, commas and dots); a numeric token is its own lower().
        let mut digits: &str = tok;
        for suffix in NUMBER_SUFFIXES {
            if let Some(stripped) = digits.strip_suffix(suffix) {
                digits = stripped;
                break;
            }
        }
        let mut digits = digits.replace(',', "");
        if digits.ends_with(".0") {
            digits.truncate(digits.len() - 2);
        }
        let kept = digits.trim_end_matches('.').len();
        digits.truncate(kept);
        Some(digits)
    }

    /// `low in table` for a token, lower-cased on the stack.
    #[inline]
    fn is_stop_word(&self, tok: &str) -> bool {
        let mut buf = [0u8; TABLE_WORD_MAX];
        lower_in(tok, &mut buf).is_some_and(|low| self.stop_words.contains(low))
    }

    /// `extract_facts(title, lead)`: (names, numbers, headline terms).
    fn facts(&self, title: &str, lead: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut names: Vec<String> = Vec::new();
        let mut numbers: Vec<String> = Vec::new();
        let mut terms: Vec<String> = Vec::new();
        let title_tokens = self.fact_tokens(title);
        let title_case = title_cased(&title_tokens);
        // The token before this one (None after punctuation); Python keeps its lower-case, and
        // the negation words are lower-case ASCII, so comparing without ASCII case is the same.
        let mut previous: Option<&str> = None;
        for &tok in &title_tokens {
            if tok.len() == 1 && FACT_PUNCTUATION.contains(&tok.as_bytes()[0]) {
                previous = None;
                continue;
            }
            let after_negation =
                previous.is_some_and(|p| self.negations.iter().any(|n| n.eq_ignore_ascii_case(p)));
            previous = Some(tok);
            if after_negation {
                let mut buf = [0u8; TABLE_WORD_MAX];
                if let Some(opposite) = lower_in(tok, &mut buf).and_then(|low| self.negated.get(low)) {
                    let s = stem(opposite);
                    if !terms.contains(&s) {
                        terms.push(s);
                    }
                    continue;
                }
            }
            if let Some(num) = self.number(tok) {
                if !numbers.contains(&num) {
                    numbers.push(num.clone());
                }
                if !terms.contains(&num) {
                    terms.push(num);
                }
                continue;
            }
            // Name tokens (the only ones left) are ASCII: bytes count characters.
            if tok.len() < 2 || self.is_stop_word(tok) {
                continue;
            }
            let s = stem(tok);
            if ((tok.as_bytes()[0].is_ascii_uppercase() && !title_case) || is_acronym(tok)) && !names.contains(&s) {
                names.push(s.clone());
            }
            if s.len() >= 3 && !terms.contains(&s) {
                terms.push(s);
            }
        }
        // The lead: only names and numbers, until both lists are full.
        let (fact_limit, number_limit) = (self.c.fact_limit, self.c.number_limit);
        self.for_each_lead_fact(lead, |tok| {
            // _lead_fact(tok): (True, number) or (False, name stem) or (False, None).
            if let Some(num) = self.number(tok) {
                if numbers.len() < number_limit && !numbers.contains(&num) {
                    numbers.push(num);
                }
                return true;
            }
            let name = if tok.chars().count() < 2 || self.is_stop_word(tok) { None } else { Some(stem(tok)) };
            match name {
                Some(s) if !s.is_empty() && names.len() < fact_limit && !names.contains(&s) => names.push(s),
                _ if names.len() >= fact_limit && numbers.len() >= number_limit => return false,
                _ => {}
            }
            true
        });
        (names, numbers, terms)
    }

    /// `_salient`: names and numbers first, then the longest terms; the top `limit`, sorted.
    fn salient<'a>(terms: &'a [String], names: &[String], numbers: &[String], limit: usize) -> Vec<&'a str> {
        let mut ranked: Vec<(bool, Reverse<usize>, usize)> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (!names.contains(t) && !numbers.contains(t), Reverse(t.chars().count()), i))
            .collect();
        ranked.sort_unstable();
        let mut top: Vec<&str> = ranked.iter().take(limit).map(|&(_, _, i)| terms[i].as_str()).collect();
        top.sort_unstable();
        top
    }

    // -- streams.places.places_in ---------------------------------------------------------------

    /// `_bare`: "Japan's" -> "Japan", "Chile." -> "Chile"; an alias such as "U.S." stays as written.
    fn bare<'w>(&self, word: &'w str) -> &'w str {
        if self.aliases.contains_key(word) {
            return word;
        }
        word.strip_suffix("'s").unwrap_or(word).trim_end_matches(['.', '\'', '-'])
    }

    /// `places_in`: canonical places named in the text, in order, each once.
    fn places<'a>(&'a self, text: &str) -> Vec<&'a str> {
        // _WORD = [A-Za-z][A-Za-z.'-]*
        let bytes = text.as_bytes();
        let mut words: Vec<&str> = Vec::with_capacity(24);
        let mut p = 0;
        while p < bytes.len() {
            if bytes[p].is_ascii_alphabetic() {
                let start = p;
                p += 1;
                while p < bytes.len() && (bytes[p].is_ascii_alphabetic() || b".'-".contains(&bytes[p])) {
                    p += 1;
                }
                words.push(&text[start..p]);
            } else {
                p += 1;
            }
        }
        let mut found: Vec<&'a str> = Vec::new();
        let mut add = |place: &'a String| {
            if !found.contains(&place.as_str()) {
                found.push(place);
            }
        };
        let mut phrase = String::new();
        let n_words = words.len();
        let mut i = 0;
        while i < n_words {
            let word = words[i];
            if !word.as_bytes()[0].is_ascii_uppercase() {
                i += 1;
                continue;
            }
            let first = self.bare(word);
            if !self.first_words.contains(first) {
                if word.contains('-') {
                    // "Turkish-Syrian border"
                    for part in word.split('-').filter(|part| !part.is_empty()) {
                        if let Some(place) = self.aliases.get(self.bare(part)) {
                            add(place);
                        }
                    }
                }
                i += 1;
                continue;
            }
            // The longest alias first: the word, the words after it, the last one bare.
            let mut step = 1;
            for n in (1..=self.longest_alias.min(n_words - i)).rev() {
                let place = if n == 1 {
                    self.aliases.get(first)
                } else {
                    phrase.clear();
                    phrase.push_str(word);
                    for w in &words[i + 1..i + n - 1] {
                        phrase.push(' ');
                        phrase.push_str(w);
                    }
                    phrase.push(' ');
                    phrase.push_str(self.bare(words[i + n - 1]));
                    self.aliases.get(phrase.as_str())
                };
                if let Some(place) = place {
                    add(place);
                    step = n;
                    break;
                }
            }
            i += step;
        }
        found
    }

    // -- negated(): _NEGATED_VERDICT and _NEGATION as scanners over the title's characters ------

    #[inline]
    fn is_word_char(&self, chars: &[char], at: isize) -> bool {
        at >= 0 && (at as usize) < chars.len() && self.word_chars.contains(chars[at as usize])
    }

    /// Python's \b at `at`: a word character on one side only.
    #[inline]
    fn boundary(&self, chars: &[char], at: usize) -> bool {
        self.is_word_char(chars, at as isize - 1) != self.is_word_char(chars, at as isize)
    }

    /// Whether `c` matches the pattern character `pattern` (ASCII) under re.IGNORECASE.
    #[inline]
    fn same_letter(&self, c: char, pattern: u8) -> bool {
        if c.is_ascii() {
            (c as u8).eq_ignore_ascii_case(&pattern)
        } else {
            self.ignorecase_letters.get(&c) == Some(&pattern.to_ascii_lowercase())
        }
    }

    /// Whether `word` (ASCII) matches case-insensitively at `at`.
    fn word_at(&self, chars: &[char], at: usize, word: &str) -> bool {
        at + word.len() <= chars.len() && word.bytes().enumerate().all(|(k, b)| self.same_letter(chars[at + k], b))
    }

    /// End of a `\b(?:never|not)\s+(?:guilty)\b` match at `at` (re.IGNORECASE), if any.
    fn negated_verdict_at(&self, chars: &[char], at: usize) -> Option<usize> {
        if !self.boundary(chars, at) {
            return None;
        }
        for negation in &self.negations {
            if !self.word_at(chars, at, negation) {
                continue;
            }
            let gap = at + negation.len();
            let mut word = gap;
            while word < chars.len() && self.space_chars.contains(chars[word]) {
                word += 1;
            }
            if word == gap {
                continue;
            }
            for verdict in &self.verdicts {
                let end = word + verdict.len();
                if self.word_at(chars, word, verdict) && self.boundary(chars, end) {
                    return Some(end);
                }
            }
        }
        None
    }

    /// Whether _NEGATION matches at `at` (any of its alternatives: search() only asks whether
    /// one matches somewhere):
    /// \b(?:not|never|cannot)\b | n't\b | \bno\b(?![-.]|\s*\d) | \b(?:fail(?:s|ed)?|refuse[sd]?) to\b
    fn negation_at(&self, chars: &[char], at: usize) -> bool {
        let word_end = |word: &str| self.word_at(chars, at, word) && self.boundary(chars, at + word.len());
        if word_end("n't") {
            return true;
        }
        if !self.boundary(chars, at) {
            return false;
        }
        if ["not", "never", "cannot"].into_iter().any(word_end) {
            return true;
        }
        if word_end("no") {
            let next = at + 2;
            let hyphen_or_dot = next < chars.len() && (chars[next] == '-' || chars[next] == '.');
            // \s*\d: a digit after the whole run of spaces (a digit is no space, so backing off
            // the run cannot find another).
            let mut k = next;
            while k < chars.len() && self.space_chars.contains(chars[k]) {
                k += 1;
            }
            let figure = k < chars.len() && self.is_decimal(chars[k]);
            if !hyphen_or_dot && !figure {
                return true;
            }
        }
        ["fail to", "fails to", "failed to", "refuse to", "refuses to", "refused to"].into_iter().any(word_end)
    }

    /// `negated(title)`; `title_lower` is title.lower().
    fn is_negated(&self, title: &str, title_lower: &str) -> bool {
        if !self.negation_cues.iter().any(|cue| title_lower.contains(cue.as_str())) {
            return false;
        }
        let chars: Vec<char> = title.chars().collect();
        // _NEGATED_VERDICT.sub(" ", title): matches replaced left to right, without overlap.
        let mut replaced: Vec<char> = Vec::with_capacity(chars.len());
        let mut p = 0;
        while p < chars.len() {
            if let Some(end) = self.negated_verdict_at(&chars, p) {
                replaced.push(' ');
                p = end;
            } else {
                replaced.push(chars[p]);
                p += 1;
            }
        }
        (0..=replaced.len()).any(|at| self.negation_at(&replaced, at))
    }

    /// `weekday_mask(title)` from the title's words (lower-case UTF-8).
    fn weekday_mask(&self, title_words: &[u8], bounds: &[usize]) -> u8 {
        let mut mask = 0;
        for (start, end) in spans(bounds) {
            if end - start >= 6 {
                mask |= self.weekdays.get(&title_words[start..end]).copied().unwrap_or(0);
            }
        }
        mask
    }

    // -- _lexical -------------------------------------------------------------------------------

    /// `Fingerprinter._lexical`; `title_lower` and `text_lower` are the lowered strings (for
    /// ASCII text, the text itself: the word scan lowers ASCII).
    fn lexical_core(&self, title: &str, text: &str, title_lower: &str, text_lower: &str) -> LexicalPart {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let Scratch { joined, bounds, hashes } = &mut *scratch;
            joined.clear();
            bounds.clear();
            hashes.clear();
            self.lexical_with(title, text, title_lower, text_lower, joined, bounds, hashes)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn lexical_with(
        &self,
        title: &str,
        text: &str,
        title_lower: &str,
        text_lower: &str,
        joined: &mut Vec<u8>,
        bounds: &mut Vec<usize>,
        hashes: &mut Vec<u64>,
    ) -> LexicalPart {
        let c = &self.c;
        push_words(text_lower.as_bytes(), joined, bounds);
        let mut title_joined: Vec<u8> = Vec::new();
        let mut title_bounds: Vec<usize> = Vec::new();
        push_words(title_lower.as_bytes(), &mut title_joined, &mut title_bounds);

        let headline_only = bounds.len() / 2 < 8;
        if headline_only {
            // The headline's words, then the text's.
            let text_words = joined.clone();
            joined.clear();
            bounds.clear();
            joined.extend_from_slice(&title_joined);
            bounds.extend_from_slice(&title_bounds);
            push_words(&text_words, joined, bounds);
        }
        let n_words = bounds.len() / 2;

        // The exact tier: xxh3-128 of the joined words, its canonical (big-endian) digest.
        let digest = xxh3_128(joined).to_be_bytes();
        let mut content_hash = [0u8; 32];
        for (i, b) in digest.iter().enumerate() {
            content_hash[2 * i] = b"0123456789abcdef"[(b >> 4) as usize];
            content_hash[2 * i + 1] = b"0123456789abcdef"[(b & 15) as usize];
        }
        let mut keys: Vec<Key> = Vec::with_capacity(24);
        keys.push(Key::new(b'E', &digest[..15]));

        let n_shingles = if n_words >= SHINGLE { n_words - SHINGLE + 1 } else { n_words };
        let mut body = Vec::with_capacity(4 + c.num_perm + c.lead_perm);
        body.push(c.version);
        body.push(u8::from(headline_only));
        body.extend_from_slice(&(n_shingles.min(0xFFFF) as u16).to_le_bytes());
        if !headline_only {
            // rensa's word hashes, then _shingle_hashes: (a * MUL1) ^ (b * MUL2) ^ c over each
            // three consecutive ones (wrapping, as numpy's uint64).
            hashes.extend(spans(bounds).map(|(s, e)| rensa_token_hash(&joined[s..e])));
            if n_words >= SHINGLE {
                // In place: shingle i reads hashes i..i+3 before it overwrites hash i.
                for i in 0..n_words - SHINGLE + 1 {
                    hashes[i] = hashes[i].wrapping_mul(c.mul1) ^ hashes[i + 1].wrapping_mul(c.mul2) ^ hashes[i + 2];
                }
                hashes.truncate(n_words - SHINGLE + 1);
            }
            let shingles: &[u64] = hashes;
            // _minhashes: the text's NUM_PERM values and the lead's LEAD_PERM; the lead's shingles
            // are the first ones of the text's.
            let lead_shingles = (c.lead_words - SHINGLE + 1).max(1).min(shingles.len());
            let full = self.rensa_sketch(shingles, c.num_perm);
            let lead = self.rensa_sketch(&shingles[..lead_shingles], c.lead_perm);
            Self::band_keys(b'N', &full, c.lsh_bands, c.lsh_rows, &mut keys);
            if n_words > c.lead_words {
                // Otherwise the lead is the text and its bands add nothing.
                Self::band_keys(b'L', &lead, c.lead_bands, c.lead_rows, &mut keys);
            }
            body.extend(full.iter().map(|&v| v as u8)); // low bytes
            body.extend(lead.iter().map(|&v| v as u8));
        }

        // Names and numbers come from the first LEAD_FACT_CHARS characters, cut after the last
        // space when the text is longer.
        let cut = if text.is_ascii() {
            (text.len() > c.lead_fact_chars).then_some(c.lead_fact_chars)
        } else {
            text.char_indices().nth(c.lead_fact_chars).map(|(at, _)| at)
        };
        let lead_text = match cut {
            None => text,
            Some(cut) => text[..cut].rfind(' ').map_or("", |space| &text[..space + 1]),
        };
        let (names, numbers, terms) = self.facts(title, lead_text);
        let limit = if headline_only { c.headline_term_limit } else { c.term_limit };
        let salient = Self::salient(&terms, &names, &numbers, limit);
        let mut pair = String::new();
        for (i, a) in salient.iter().enumerate() {
            for b in &salient[i + 1..] {
                pair.clear();
                pair.push_str(a);
                pair.push('|');
                pair.push_str(b);
                keys.push(Key::new(b'T', &xxh3_64(pair.as_bytes()).to_be_bytes()));
            }
        }
        // dict.fromkeys(...): each hash once, in order of first appearance.
        fn distinct(values: impl Iterator<Item = u16>) -> Vec<u16> {
            let mut out: Vec<u16> = Vec::new();
            for v in values {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            out
        }
        let name_hashes = distinct(names.iter().take(c.fact_limit).map(|n| h16(n.as_bytes())));
        let number_hashes = distinct(numbers.iter().take(c.number_limit).map(|n| h16(n.as_bytes())));
        let term_hashes = distinct(terms.iter().take(c.headline_terms).map(|t| h16(t.as_bytes())));
        // place_hash(p) = _h16("place:" + p); places_in gives each place once.
        let place_hashes: Vec<u16> = self
            .places(title)
            .into_iter()
            .take(c.place_limit)
            .map(|p| {
                pair.clear();
                pair.push_str("place:");
                pair.push_str(p);
                h16(pair.as_bytes())
            })
            .collect();
        let mut facts =
            Vec::with_capacity(2 * (name_hashes.len() + number_hashes.len() + term_hashes.len() + place_hashes.len()));
        for h in name_hashes.iter().chain(&number_hashes).chain(&term_hashes).chain(&place_hashes) {
            facts.extend_from_slice(&h.to_le_bytes());
        }
        let counts = [name_hashes.len(), number_hashes.len(), term_hashes.len(), place_hashes.len()];
        let mut day_byte = self.weekday_mask(&title_joined, &title_bounds);
        if self.is_negated(title, title_lower) {
            day_byte |= c.negated_bit;
        }
        // tuple(dict.fromkeys(keys)): the keys once each, in order.
        let mut unique_keys: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique_keys.contains(&key) {
                unique_keys.push(key);
            }
        }
        LexicalPart { content_hash, keys: unique_keys, body, counts, day_byte, facts }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Lexicon>()?;
    Ok(())
}
