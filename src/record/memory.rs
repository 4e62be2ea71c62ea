//! The in-memory sink: keeps every row a run produces, for evolution's fitness, Python and
//! tests. It receives exactly what the run directory receives.

use super::probes::{ProbeRow, SnapshotRow};
use super::tables::{Table, WeightRow};
use super::{Ending, Failure, RecordError, Sink};
use crate::backend::TracePoint;
use crate::record::metrics::Row;

#[derive(Clone, Debug, Default)]
pub struct Collector {
    pub instances: Table,
    pub rows: Vec<Row>,
    pub traces: Vec<TracePoint>,
    pub weights: Vec<WeightRow>,
    pub probes: Vec<ProbeRow>,
    pub weight_snapshots: Vec<SnapshotRow>,
    pub failures: Vec<Failure>,
    /// The notes found while it ran (`Sink::note`), each kind once.
    pub notes: Vec<String>,
    pub ending: Option<Ending>,
}

impl Sink for Collector {
    fn instances(&mut self, table: &Table) -> Result<(), RecordError> {
        self.instances = table.clone();
        Ok(())
    }
    fn rows(&mut self, rows: &[Row]) -> Result<(), RecordError> {
        self.rows.extend_from_slice(rows);
        Ok(())
    }
    fn traces(&mut self, points: &[TracePoint]) -> Result<(), RecordError> {
        self.traces.extend_from_slice(points);
        Ok(())
    }
    fn weights(&mut self, rows: &[WeightRow]) -> Result<(), RecordError> {
        self.weights.extend_from_slice(rows);
        Ok(())
    }
    fn probes(&mut self, rows: &[ProbeRow]) -> Result<(), RecordError> {
        self.probes.extend_from_slice(rows);
        Ok(())
    }
    fn weight_snapshots(&mut self, rows: &[SnapshotRow]) -> Result<(), RecordError> {
        self.weight_snapshots.extend_from_slice(rows);
        Ok(())
    }
    fn failures(&mut self, failures: &[Failure]) -> Result<(), RecordError> {
        self.failures = failures.to_vec();
        Ok(())
    }
    fn note(&mut self, note: &str) -> Result<(), RecordError> {
        super::push_note(&mut self.notes, note);
        Ok(())
    }
    fn finish(&mut self, ending: &Ending) -> Result<(), RecordError> {
        self.failures = ending.failures.clone();
        self.ending = Some(ending.clone());
        Ok(())
    }
}
