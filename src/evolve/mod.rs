//! Rule evolution (`hetsim evolve`, DESIGN §1.6): evolution strategies behind an ask/tell
//! interface with a state that can be saved and restored exactly (`strategy`), evolution files
//! (`spec`), and the loop that runs one generation as one ensemble (`run`), with the members'
//! circuits and fitness (`members`), what proposes them (`search`) and the files (`files`).
//! An evolution file is read and checked once (`setup`), every size it asks for refused
//! before anything is allocated (`sizes`); the state saved after each generation is checked
//! against the evolution and its tables on `--resume` (`state`); `fuzzing` is the body of the
//! `evolve` fuzz target.

pub mod cost;
mod error;
mod evaluate;
mod files;
pub mod fuzzing;
mod heldout;
mod members;
pub mod run;
mod search;
mod setup;
pub mod shard;
pub use setup::check;
pub mod sizes;
pub mod spec;
mod state;
pub mod strategy;

pub use cost::{Cost, dry_run};
pub use error::EvolveError;
pub use run::{EvolveOutcome, EvolveRequest, GenerationReport, evolve};
pub use shard::run_shard;
