//! Twin of the per-article embedding path of streams/embed.py and streams/fingerprint.py:
//!
//!     Fingerprinter.embedding(prepared)  = Embedder.unit(_embed_text(prepared))     -> EmbeddingModel.unit
//!     quantise(vector[:dims])            (streams.embed.quantise)                    -> EmbeddingModel.quantise
//!
//! Bit for bit, including numpy's arithmetic on this machine:
//!   * _embed_text: title + ". " + the first EMBED_LEAD_WORDS words of text (str.split(): Python's
//!     whitespace, which also counts U+001C..U+001F, unlike Rust's char::is_whitespace).
//!   * Embedder._ids: the text's whitespace chunks, each one's WordPiece ids (cached per chunk; on a
//!     miss the Python callable `pieces` runs the tokenizer), concatenated, cut at max_tokens.
//!   * Embedder.direction: np.add.reduce(table[ids], axis=0). numpy reduces a C-contiguous (n, dims)
//!     float32 array along axis 0 row by row: out = row0, then out[j] += row_i[j] in order, float32
//!     (checked on all 6,610 articles and random tables, 1..600 rows).
//!   * Embedder.unit: v / sqrt(v @ v). numpy's float32 1-D @ 1-D is cblas_sdot (OpenBLAS, DYNAMIC_ARCH;
//!     this machine's core is SkylakeX), whose order `sdot` below reproduces; np.sqrt of the float32
//!     dot is float32; float(norm) is exact, and `v / norm` with a Python float is float32 under
//!     numpy 2's weak scalars (v[j] / (float32)norm).
//!   * quantise: see `quantise_values`.
//!
//! The Python code stays the reference; the table, the unknown id, the limits and the tokenizer come
//! from it at construction (see make_embedding_model in /work/agents/emb/parity.py).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Python's str.split() whitespace (str.isspace): Unicode White_Space plus the information
/// separators U+001C..U+001F (bidirectional class B/S), which Rust's is_whitespace leaves out.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// str.split() with no argument: the runs of non-whitespace. Scans bytes, decoding only non-ASCII
/// characters (the common case is ASCII, and UTF-8 continuation bytes are never ASCII).
struct PythonWords<'a> {
    text: &'a str,
    pos: usize,
}

fn python_split(text: &str) -> PythonWords<'_> {
    PythonWords { text, pos: 0 }
}

impl PythonWords<'_> {
    /// Whether a space starts at byte `pos`, and the length of the character there.
    #[inline(always)]
    fn space_at(&self, pos: usize) -> (bool, usize) {
        let byte = self.text.as_bytes()[pos];
        if byte < 0x80 {
            (matches!(byte, b'\t'..=b'\r' | 0x1c..=0x20), 1)
        } else {
            let c = self.text[pos..].chars().next().expect("a character starts here");
            (is_python_space(c), c.len_utf8())
        }
    }
}

impl<'a> Iterator for PythonWords<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = self.text.len();
        while self.pos < end {
            let (space, len) = self.space_at(self.pos);
            if !space {
                break;
            }
            self.pos += len;
        }
        if self.pos >= end {
            return None;
        }
        let start = self.pos;
        while self.pos < end {
            let (space, len) = self.space_at(self.pos);
            if space {
                break;
            }
            self.pos += len;
        }
        Some(&self.text[start..self.pos])
    }
}

/// Hashing of cache keys (chunk bytes) with xxh3: std's SipHash costs more than the lookups it serves.
#[derive(Default)]
struct ChunkHasher(u64);

impl Hasher for ChunkHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }
    // The slice's length prefix: a cheap mix (the bytes that follow are hashed in full anyway).
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type ChunkCache = HashMap<Box<[u8]>, Box<[u32]>, BuildHasherDefault<ChunkHasher>>;

/// A chunk of the embed text: its key in the cache (its UTF-8 bytes; a chunk holding lone
/// surrogates, which only a Python str can, is keyed by its "surrogatepass" bytes, never valid
/// UTF-8, so never equal to a valid chunk's) and how to hand it to `pieces`.
enum Chunk<'a, 'py> {
    Text(&'a str),
    Python(Bound<'py, PyString>, Vec<u8>),
}

impl Chunk<'_, '_> {
    fn key(&self) -> &[u8] {
        match self {
            Chunk::Text(s) => s.as_bytes(),
            Chunk::Python(_, bytes) => bytes,
        }
    }
}

/// The float32 table in memory of its own, on 2 MB pages where the kernel allows (Linux THP,
/// madvise): a unit reads ~30 rows scattered over the ~15 MB table, and with 4 kB pages nearly
/// every row costs a TLB miss besides its cache misses.
struct RowTable {
    ptr: std::ptr::NonNull<f32>,
    len: usize,
    layout: std::alloc::Layout,
}

// SAFETY: RowTable owns its allocation and is only read after construction.
unsafe impl Send for RowTable {}
unsafe impl Sync for RowTable {}

const HUGE_PAGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
extern "C" {
    fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
}

impl RowTable {
    fn new(values: &[f32]) -> Self {
        let bytes = (values.len() * 4).max(4);
        let layout = std::alloc::Layout::from_size_align(bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE, HUGE_PAGE)
            .expect("table layout");
        // SAFETY: layout has a non-zero size; the pointer is checked for null.
        let raw = unsafe { std::alloc::alloc(layout) } as *mut f32;
        let ptr = std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        #[cfg(target_os = "linux")]
        // SAFETY: advice on our own mapping; failure only means small pages. MADV_HUGEPAGE = 14.
        unsafe {
            madvise(raw as *mut std::ffi::c_void, layout.size(), 14);
        }
        // SAFETY: the allocation holds at least values.len() floats.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), raw, values.len()) };
        RowTable { ptr, len: values.len(), layout }
    }

    fn as_slice(&self) -> &[f32] {
        // SAFETY: len floats were written in new().
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for RowTable {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr() as *mut u8, self.layout) };
    }
}

#[pyclass(module = "newsflow_native")]
pub struct EmbeddingModel {
    table: RowTable, // (vocab, dims) row-major float32, as Embedder._table
    vocab: usize,
    dims: usize,
    unk: i64,
    max_tokens: usize,
    lead_words: usize,
    cache_chunks: usize,
    pieces: PyObject,
    chunk_ids: ChunkCache,
    numpy_empty: PyObject,
    float32: PyObject,
}

impl EmbeddingModel {
    /// Embedder._ids over the chunks of the embed text: cached ids per chunk, cut at max_tokens.
    fn ids<'a, 'py>(&mut self, py: Python<'py>, chunks: impl Iterator<Item = Chunk<'a, 'py>>) -> PyResult<Vec<u32>> {
        let mut ids: Vec<u32> = Vec::with_capacity(64);
        for chunk in chunks {
            match self.chunk_ids.get(chunk.key()) {
                Some(found) => ids.extend_from_slice(found),
                None => {
                    if self.chunk_ids.len() >= self.cache_chunks {
                        self.chunk_ids.clear(); // as CACHE_CHUNKS: wholesale, output never depends on it
                    }
                    let found = self.call_pieces(py, &chunk)?;
                    ids.extend_from_slice(&found);
                    self.chunk_ids.insert(chunk.key().into(), found);
                }
            }
            if ids.len() >= self.max_tokens {
                ids.truncate(self.max_tokens);
                break;
            }
        }
        Ok(ids)
    }

    /// `[i for i in tokenizer.encode(chunk, add_special_tokens=False).ids if i != unk]`, by the
    /// Python callable (which already drops the unknown id; dropping it again changes nothing).
    fn call_pieces(&self, py: Python<'_>, chunk: &Chunk<'_, '_>) -> PyResult<Box<[u32]>> {
        let result = match chunk {
            Chunk::Text(s) => self.pieces.call1(py, (*s,))?,
            Chunk::Python(s, _) => self.pieces.call1(py, (s,))?,
        };
        let raw: Vec<i64> = result.extract(py)?;
        let mut found = Vec::with_capacity(raw.len());
        for id in raw {
            if id == self.unk {
                continue;
            }
            if id < 0 || id as usize >= self.vocab {
                return Err(PyValueError::new_err(format!("token id {id} outside the table ({} rows)", self.vocab)));
            }
            found.push(id as u32);
        }
        Ok(found.into_boxed_slice())
    }

    /// direction + normalise, compiled for AVX2/FMA when the CPU has them (the adds are elementwise
    /// across columns, so vector width never changes their order; sdot needs the FMA).
    fn unit_vector(&self, ids: &[u32]) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { self.unit_vector_avx2(ids) };
            }
        }
        let mut v = self.direction(ids);
        Self::normalise(&mut v);
        v
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn unit_vector_avx2(&self, ids: &[u32]) -> Vec<f32> {
        let mut v = self.direction(ids);
        Self::normalise(&mut v);
        v
    }

    /// Embedder.direction(text, dims) for dims = the table's width: np.add.reduce(table[ids], axis=0),
    /// row after row in float32 (zeros without ids).
    #[inline(always)]
    fn direction(&self, ids: &[u32]) -> Vec<f32> {
        let dims = self.dims;
        let table = self.table.as_slice();
        let mut v = vec![0.0f32; dims];
        if let Some((&first, rest)) = ids.split_first() {
            let first = first as usize * dims;
            v.copy_from_slice(&table[first..first + dims]);
            for &id in rest {
                let row = &table[id as usize * dims..(id as usize + 1) * dims];
                for (acc, &x) in v.iter_mut().zip(row) {
                    *acc += x;
                }
            }
        }
        v
    }

    /// Embedder.unit's tail: `norm = float(np.sqrt(v @ v)); return v / norm if norm else v`.
    #[inline(always)]
    fn normalise(v: &mut [f32]) {
        let norm = sdot(v, v).sqrt(); // np.sqrt of a float32 scalar: float32, correctly rounded
        if norm as f64 != 0.0 {
            // float32 array / Python float: the float is taken as float32 (exact here), float32 quotient.
            for x in v.iter_mut() {
                *x /= norm;
            }
        }
    }

    /// The chunks of _embed_text(prepared).split(), without building the text:
    ///     _embed_text = title + ". " + " ".join(text.split(maxsplit=EMBED_LEAD_WORDS)[:EMBED_LEAD_WORDS])
    /// The title's words; the "." ends the title's last word when the title ends in a non-space
    /// (`dotted`, owned by the caller), or stands alone; then the first lead words, one chunk each.
    fn embed_chunks<'a>(&self, title: &'a str, text: &'a str, dotted: &'a mut String) -> impl Iterator<Item = &'a str> {
        let ends_in_word = title.chars().next_back().is_some_and(|c| !is_python_space(c));
        let mut title_words: Vec<&'a str> = python_split(title).collect();
        if ends_in_word {
            let last = title_words.pop().expect("a title ending in a non-space has a word");
            dotted.push_str(last);
            dotted.push('.');
        } else {
            dotted.push('.');
        }
        title_words.into_iter().chain(std::iter::once(&**dotted)).chain(python_split(text).take(self.lead_words))
    }

    fn to_numpy<'py>(&self, py: Python<'py>, v: &[f32]) -> PyResult<Bound<'py, PyAny>> {
        let array = self.numpy_empty.bind(py).call1((v.len(), self.float32.bind(py)))?;
        let buffer = PyBuffer::<f32>::get(&array)?;
        buffer.copy_from_slice(py, v)?;
        Ok(array)
    }
}

#[pymethods]
impl EmbeddingModel {
    /// Built once (make_embedding_model in parity.py) from a streams.embed.Embedder with `_plain`:
    /// table = Embedder._table (float32, (vocab, dims)), unk = Embedder._unk, max_tokens =
    /// Embedder._max_tokens, pieces(chunk) -> list[int] = Embedder._ids for one chunk on a cache miss,
    /// lead_words = fingerprint.EMBED_LEAD_WORDS, cache_chunks = embed.CACHE_CHUNKS.
    #[new]
    #[pyo3(signature = (table, unk, max_tokens, pieces, *, lead_words, cache_chunks))]
    fn new(
        py: Python<'_>,
        table: &Bound<'_, PyAny>,
        unk: i64,
        max_tokens: usize,
        pieces: PyObject,
        lead_words: usize,
        cache_chunks: usize,
    ) -> PyResult<Self> {
        let buffer = PyBuffer::<f32>::get(table)
            .map_err(|_| PyTypeError::new_err("table: a float32 array (vocab, dims) is needed"))?;
        let shape = buffer.shape();
        if shape.len() != 2 {
            return Err(PyValueError::new_err("table: a 2-D array (vocab, dims) is needed"));
        }
        let (vocab, dims) = (shape[0], shape[1]);
        // Beyond 10,000 components OpenBLAS splits sdot over threads (another order): not reproduced.
        if dims == 0 || dims > 10_000 {
            return Err(PyValueError::new_err("table: 1 to 10,000 columns"));
        }
        if !pieces.bind(py).is_callable() {
            return Err(PyTypeError::new_err("pieces must be callable"));
        }
        let numpy = py.import("numpy")?;
        Ok(EmbeddingModel {
            table: RowTable::new(&buffer.to_vec(py)?), // C order whatever the array's strides
            vocab,
            dims,
            unk,
            max_tokens,
            lead_words,
            cache_chunks,
            pieces,
            chunk_ids: ChunkCache::default(),
            numpy_empty: numpy.getattr("empty")?.unbind(),
            float32: numpy.getattr("float32")?.unbind(),
        })
    }

    #[getter]
    fn dims(&self) -> usize {
        self.dims
    }

    /// Exactly Embedder.unit(fingerprint._embed_text(prepared)) for prepared.title, prepared.text:
    /// a new float32 array of the table's width.
    fn unit<'py>(&mut self, py: Python<'py>, title: &Bound<'py, PyString>, text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        let ids = match (title.to_str(), text.to_str()) {
            (Ok(title), Ok(text)) => {
                let mut dotted = String::new();
                let chunks = self.embed_chunks(title, text, &mut dotted).map(Chunk::Text);
                self.ids(py, chunks)?
            }
            // Lone surrogates (a Python str can hold them, UTF-8 cannot): build and split the embed
            // text with Python's own str methods and hand the chunks over as they are, so `pieces`
            // sees (and fails on, like the tokenizer) exactly what the reference would.
            _ => {
                let lead = text.call_method1("split", (py.None(), self.lead_words))?;
                let lead = lead.get_item(pyo3::types::PySlice::new(py, 0, self.lead_words as isize, 1))?;
                let joined = PyString::new(py, " ").call_method1("join", (lead,))?;
                let embed = title.add(". ")?.add(joined)?;
                let chunks = embed.call_method0("split")?.downcast_into::<PyList>()?;
                let mut owned = Vec::with_capacity(chunks.len());
                for chunk in chunks.iter() {
                    let chunk = chunk.downcast_into::<PyString>()?;
                    let bytes = chunk
                        .call_method1("encode", ("utf-8", "surrogatepass"))?
                        .downcast_into::<PyBytes>()?
                        .as_bytes()
                        .to_vec();
                    owned.push((chunk, bytes));
                }
                // A valid chunk keeps its UTF-8 bytes as key: the same entry as on the fast path.
                let chunks = owned.into_iter().map(|(chunk, bytes)| Chunk::Python(chunk, bytes));
                self.ids(py, chunks)?
            }
        };
        let v = self.unit_vector(&ids);
        self.to_numpy(py, &v)
    }

    /// Exactly streams.embed.quantise(vector[:dims]) for a 1-D float32 (or float64) array.
    fn quantise<'py>(&self, py: Python<'py>, vector: &Bound<'py, PyAny>, dims: isize) -> PyResult<Bound<'py, PyBytes>> {
        let packed = if let Ok(buffer) = PyBuffer::<f32>::get(vector) {
            let values = one_dimensional(py, &buffer)?;
            quantise_values(python_prefix(&values, dims))
        } else if let Ok(buffer) = PyBuffer::<f64>::get(vector) {
            let values = one_dimensional(py, &buffer)?;
            quantise_values(python_prefix(&values, dims))
        } else {
            return Err(PyTypeError::new_err("vector: a 1-D float32 or float64 array is needed"));
        };
        Ok(PyBytes::new(py, &packed))
    }

    /// Test hook: numpy's float32 `x @ x` (OpenBLAS sdot order) for a 1-D float32 array.
    #[staticmethod]
    fn sdot_self(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<f32> {
        let buffer = PyBuffer::<f32>::get(x)?;
        let values = one_dimensional(py, &buffer)?;
        Ok(sdot(&values, &values))
    }
}

fn one_dimensional<T: pyo3::buffer::Element + Copy>(py: Python<'_>, buffer: &PyBuffer<T>) -> PyResult<Vec<T>> {
    if buffer.dimensions() != 1 {
        return Err(PyValueError::new_err("vector: a 1-D array is needed"));
    }
    buffer.to_vec(py)
}

/// vector[:dims] with Python's slice rules (a negative dims counts from the end).
fn python_prefix<T>(values: &[T], dims: isize) -> &[T] {
    let n = values.len() as isize;
    let end = if dims < 0 { (n + dims).max(0) } else { dims.min(n) };
    &values[..end as usize]
}

/// The element types quantise meets: float32 (the embedding), float64 (what np.append(vector, 0.0)
/// makes of an odd-sized float32 vector, or a float64 input).
trait Component: Copy {
    fn to_f64(self) -> f64;
    /// rint(v * (7.0 / peak)) in this type: numpy 2 casts the Python float 7.0 / peak to the array's
    /// dtype first (weak scalar), then multiplies in it.
    fn scaled_rint(self, scale: f64) -> f64;
}

impl Component for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn scaled_rint(self, scale: f64) -> f64 {
        (self * scale as f32).round_ties_even() as f64
    }
}

impl Component for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn scaled_rint(self, scale: f64) -> f64 {
        (self * scale).round_ties_even()
    }
}

/// numpy's float -> int8 cast on x86-64: through a 32-bit integer (cvtt), out of range or NaN giving
/// 0x80000000, then its low byte. Only NaN or infinite vectors reach beyond [-8, 8].
fn to_int8(x: f64) -> i8 {
    if !(-2147483648.0..2147483648.0).contains(&x) {
        // NaN is in no range
        0
    } else {
        (x as i32) as i8
    }
}

/// streams.embed.quantise: signed 4-bit components, two per byte (low nibble first).
///     if size is odd: vector = np.append(vector, 0.0)          (float64 from then on)
///     peak = float(np.abs(vector).max()) if size else 0.0;  peak == 0 -> bytes(size // 2)
///     nibbles = np.rint(vector * (7.0 / peak)).astype(np.int8).view(np.uint8) & 0x0F
fn quantise_values<T: Component>(values: &[T]) -> Vec<u8> {
    if values.len() % 2 == 1 {
        let widened: Vec<f64> = values.iter().map(|v| v.to_f64()).chain(std::iter::once(0.0)).collect();
        return quantise_even(&widened);
    }
    quantise_even(values)
}

fn quantise_even<T: Component>(values: &[T]) -> Vec<u8> {
    // np.abs(...).max(): NaN propagates.
    let mut peak = 0.0f64;
    for v in values {
        let a = v.to_f64().abs();
        if a.is_nan() || peak.is_nan() {
            peak = f64::NAN;
        } else if a > peak {
            peak = a;
        }
    }
    if peak == 0.0 {
        return vec![0u8; values.len() / 2];
    }
    let scale = 7.0 / peak;
    let nibble = |v: T| (to_int8(v.scaled_rint(scale)) as u8) & 0x0F;
    values.chunks_exact(2).map(|pair| nibble(pair[0]) | (nibble(pair[1]) << 4)).collect()
}

/// numpy's float32 `x @ y` for 1-D arrays: FLOAT_dot -> cblas_sdot -> OpenBLAS sdot_k (kernel/x86_64/
/// sdot.c with sdot_microk_skylakex-2.c, the core DYNAMIC_ARCH picks on this machine), then
/// (float)(0.0 + (double)result). For n <= 10,000 (single-threaded).
fn sdot(x: &[f32], y: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { sdot_fma(x, y) };
        }
    }
    sdot_body(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn sdot_fma(x: &[f32], y: &[f32]) -> f32 {
    sdot_body(x, y)
}

#[inline(always)]
fn sdot_body(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let n1 = n & !31;
    let mydot = if n1 > 0 { sdot_kernel_16(&x[..n1], &y[..n1]) } else { 0.0 };
    // The tail: a double sum of float products, then the kernel's float result added.
    let mut dot = 0.0f64;
    for i in n1..n {
        dot += (y[i] * x[i]) as f64;
    }
    dot += mydot as f64;
    dot as f32
}

/// sdot_kernel_16 (SkylakeX, AVX-512): four 16-lane FMA accumulators over blocks of 64, each folded
/// to 8 lanes (low half + high half); four 8-lane FMA accumulators over the remaining blocks of 32;
/// then ((a0 + a1) + a2) + a3, its two 128-bit halves added, and two horizontal adds.
#[inline(always)]
fn sdot_kernel_16(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len();
    let n64 = n & !63;
    let mut wide = [[0.0f32; 16]; 4];
    let mut i = 0;
    while i < n64 {
        for (k, acc) in wide.iter_mut().enumerate() {
            let base = i + 16 * k;
            for (lane, a) in acc.iter_mut().enumerate() {
                *a = x[base + lane].mul_add(y[base + lane], *a);
            }
        }
        i += 64;
    }
    let mut acc = [[0.0f32; 8]; 4];
    for (narrow, w) in acc.iter_mut().zip(&wide) {
        for lane in 0..8 {
            narrow[lane] = w[lane] + w[lane + 8];
        }
    }
    while i < n {
        for (k, a8) in acc.iter_mut().enumerate() {
            let base = i + 8 * k;
            for (lane, a) in a8.iter_mut().enumerate() {
                *a = x[base + lane].mul_add(y[base + lane], *a);
            }
        }
        i += 32;
    }
    let mut sum = [0.0f32; 8];
    for lane in 0..8 {
        sum[lane] = ((acc[0][lane] + acc[1][lane]) + acc[2][lane]) + acc[3][lane];
    }
    let half = [sum[0] + sum[4], sum[1] + sum[5], sum[2] + sum[6], sum[3] + sum[7]];
    // _mm_hadd_ps twice: lane 0 ends as (h0 + h1) + (h2 + h3).
    (half[0] + half[1]) + (half[2] + half[3])
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EmbeddingModel>()?;
    Ok(())
}
