//! Twin of streams.dedup.DedupIndex._candidates' counting and the ranking in probe(): which earlier
//! articles the posting lists of an article's keys name, how often, and which of them come through
//! the exact key. A posting list is 8-byte article refs back to back; a busy key holds hundreds, so
//! this loop is the probe's largest cost in Python.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::collections::HashMap;

/// `postings`: one entry per key, in key order: (whether the key is the exact-tier key, the posting
/// list or None). Returns up to `limit` (ref, via_exact) pairs, refs found through the exact key
/// first, then by how many keys name them, ties in order of first appearance (as Python's stable
/// sort over an insertion-ordered dict).
#[pyfunction]
fn rank_candidates<'py>(
    py: Python<'py>,
    postings: Vec<(bool, Option<Bound<'py, PyBytes>>)>,
    own: &[u8],
    limit: usize,
) -> PyResult<Bound<'py, PyList>> {
    let mut order: Vec<([u8; 8], u32, bool)> = Vec::new();
    let mut seen: HashMap<[u8; 8], usize> = HashMap::new();
    for (is_exact, posted) in &postings {
        let Some(posted) = posted else { continue };
        let posted = posted.as_bytes();   // borrowed: a Vec<u8> would be extracted byte by byte
        // A trailing partial ref (never written by DedupIndex) is skipped, as Python's slice would
        // yield a short ref that matches nothing stored under an 8-byte key.
        for chunk in posted.chunks(8) {
            // A trailing partial ref (DedupIndex never writes one) names no record: skipped.
            if chunk.len() < 8 || chunk == own {
                continue;
            }
            let key: [u8; 8] = chunk.try_into().expect("8 bytes");
            match seen.get(&key) {
                Some(&i) => {
                    order[i].1 += 1;
                    order[i].2 |= *is_exact;
                }
                None => {
                    seen.insert(key, order.len());
                    order.push((key, 1, *is_exact));
                }
            }
        }
    }
    // Stable: equal keys keep their first-appearance order.
    order.sort_by_key(|&(_, hits, exact)| (!exact, std::cmp::Reverse(hits)));
    order.truncate(limit);
    let out = PyList::empty(py);
    for (key, _, exact) in order {
        out.append((PyBytes::new(py, &key), exact))?;
    }
    Ok(out)
}

/// Twin of streams.dedup.SketchChecks.index_entries: what indexing an article writes. Its record
/// (dedup._Record.encode of the fields given) under b"\x00" + own, then, for each key once in
/// order, the key's posting list with `own` appended (unless already there at an 8-byte boundary),
/// keeping the newest `term_cap` refs for term-pair keys (kind byte b"T") and `cap` for others.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn index_entries<'py>(
    py: Python<'py>,
    own: &[u8],
    article_id: &str,
    seen_at: f64,
    root_id: &str,
    root_seen_at: f64,
    kind: i64,
    similarity: f64,
    sketch: &[u8],
    keys: Vec<Bound<'py, PyBytes>>,
    postings: Vec<Option<Bound<'py, PyBytes>>>,
    cap: usize,
    term_cap: usize,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    out.append((PyBytes::new(py, &[&[0u8][..], own].concat()), PyBytes::new(py, &encode_record(
        article_id, seen_at, root_id, root_seen_at, kind, similarity, sketch)?)))?;
    let mut done: Vec<&[u8]> = Vec::with_capacity(keys.len());
    for (key, posted) in keys.iter().zip(&postings) {
        let key_bytes = key.as_bytes();
        if done.contains(&key_bytes) {
            continue; // each key once: a repeated key would see its own append
        }
        done.push(key_bytes);
        let posted: &[u8] = posted.as_ref().map_or(&[], |p| p.as_bytes());
        if posted.chunks_exact(8).any(|r| r == own) {
            continue;
        }
        let keep = 8 * if key_bytes.first() == Some(&b'T') { term_cap } else { cap };
        let mut appended = [posted, own].concat();
        if appended.len() > keep {
            appended.drain(..appended.len() - keep);
        }
        out.append((key, PyBytes::new(py, &appended)))?;
    }
    Ok(out)
}

/// dedup._Record.encode: seen_at f64, flags u8 (1: matched a group); if matched, root_seen_at f64,
/// kind u8, round(similarity * 255) u8 (ties to even, as Python's round), the root id (u16 length
/// + UTF-8); the article id (u16 length + UTF-8); the sketch. Little endian.
fn encode_record(article_id: &str, seen_at: f64, root_id: &str, root_seen_at: f64, kind: i64, similarity: f64,
                 sketch: &[u8]) -> PyResult<Vec<u8>> {
    fn text(out: &mut Vec<u8>, s: &str) -> PyResult<()> {
        let n = u16::try_from(s.len()).map_err(|_| PyValueError::new_err("an id longer than 65,535 bytes"))?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    let mut out = Vec::with_capacity(32 + article_id.len() + root_id.len() + sketch.len());
    out.extend_from_slice(&seen_at.to_le_bytes());
    out.push(u8::from(kind >= 0));
    if kind >= 0 {
        let sim255 = (similarity * 255.0).round_ties_even();
        if !(0.0..=255.0).contains(&sim255) || kind > 255 {
            return Err(PyValueError::new_err("similarity or kind out of range"));
        }
        out.extend_from_slice(&root_seen_at.to_le_bytes());
        out.push(kind as u8);
        out.push(sim255 as u8);
        text(&mut out, root_id)?;
    }
    text(&mut out, article_id)?;
    out.extend_from_slice(sketch);
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rank_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(index_entries, m)?)?;
    Ok(())
}
