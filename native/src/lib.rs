//! newsflow_native: the compiled twin of the hot steps of streams' pure core. Every function here
//! gives the same output as its Python reference (tests/test_native.py checks it); streams.native
//! builds these objects from the Python modules' own tables, and the Python code runs when the
//! extension is not built or NEWSFLOW_CORE=python.
use pyo3::prelude::*;

mod classify;
mod dedup;
mod embed;
mod fingerprint;
mod postings;
mod prepare;

#[pymodule]
fn newsflow_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    classify::register(m)?;
    dedup::register(m)?;
    embed::register(m)?;
    fingerprint::register(m)?;
    postings::register(m)?;
    prepare::register(m)?;
    Ok(())
}
