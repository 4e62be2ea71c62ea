//! Rule evolution (`hetsim evolve`, DESIGN §1.6): evolution strategies behind an ask/tell
//! interface with a state that can be saved and restored exactly (`strategy`), evolution files
//! (`spec`), and the loop that runs one generation as one ensemble (`run`), with the members'
//! circuits and fitness (`members`), what proposes them (`search`) and the files (`files`).

mod files;
mod members;
pub mod run;
mod search;
pub mod spec;
pub mod strategy;

pub use run::{EvolveError, EvolveOutcome, EvolveRequest, GenerationReport, evolve};
