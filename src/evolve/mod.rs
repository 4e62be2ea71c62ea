//! Rule evolution (`hetsim evolve`, DESIGN §1.6). So far: the evolution strategies behind an
//! ask/tell interface with a state that can be saved and restored exactly.

pub mod strategy;
