//! The exit codes every subcommand returns (a leaf: the subcommands and the dispatcher read it).

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
/// 128 + SIGINT, as shells report a command stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;
