//! Table cells into typed columns. Cells are the strings the run directory's CSV files hold
//! (`Row::cells`, `WeightRow::cells`, the instances table), so a DataFrame built from these
//! columns equals the file read back with `pandas.read_csv(..., float_precision="round_trip")`:
//! a column of integers stays integers, a column of numbers with empty cells becomes floats
//! with NaN, anything else stays text (None where empty).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One column, typed as pandas would infer it from the CSV. Integers are Python ints whatever
/// their size (a seed may be up to 2^64 − 1, past i64).
enum Column {
    Int(Vec<i128>),
    Float(Vec<f64>),
    Text(Vec<Option<String>>),
}

fn column<'a>(cells: impl Iterator<Item = &'a str> + Clone) -> Column {
    if let Some(ints) = cells
        .clone()
        .map(|c| c.parse::<i128>().ok())
        .collect::<Option<Vec<_>>>()
    {
        return Column::Int(ints);
    }
    let float = |c: &str| {
        if c.is_empty() {
            Some(f64::NAN)
        } else {
            c.parse::<f64>().ok()
        }
    };
    if let Some(floats) = cells.clone().map(float).collect::<Option<Vec<_>>>() {
        return Column::Float(floats);
    }
    Column::Text(
        cells
            .map(|c| (!c.is_empty()).then(|| c.to_string()))
            .collect(),
    )
}

/// `{"columns": [names], "data": {name: list}}` for a table given as a header and rows of cells.
pub fn table<'py>(
    py: Python<'py>,
    header: &[String],
    rows: &[Vec<String>],
) -> PyResult<Bound<'py, PyDict>> {
    let data = PyDict::new(py);
    for (j, name) in header.iter().enumerate() {
        let cells = rows
            .iter()
            .map(move |r| r.get(j).map(String::as_str).unwrap_or(""));
        match column(cells) {
            Column::Int(v) => data.set_item(name, PyList::new(py, v)?)?,
            Column::Float(v) => data.set_item(name, PyList::new(py, v)?)?,
            Column::Text(v) => data.set_item(name, PyList::new(py, v)?)?,
        }
    }
    let out = PyDict::new(py);
    out.set_item("columns", PyList::new(py, header)?)?;
    out.set_item("data", data)?;
    Ok(out)
}

/// The columns of `metrics.csv`, in order.
#[pyfunction]
pub fn metrics_header() -> Vec<&'static str> {
    hetsim::record::metrics::COLUMNS.to_vec()
}
