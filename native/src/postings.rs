//! Twin of streams.dedup.DedupIndex._candidates' counting and the ranking in probe(): which earlier
//! articles the posting lists of an article's keys name, how often, and which of them come through
//! the exact key. A posting list is 8-byte article refs back to back; a busy key holds hundreds, so
//! this loop is the probe's largest cost in Python.
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rank_candidates, m)?)?;
    Ok(())
}
