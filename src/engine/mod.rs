//! The observe -> plan -> execute loop shared by the CLI and the controller.
//!
//! Each pass observes AWS from scratch, plans, and executes the actions in order, stopping at
//! the first failure; the next pass picks up from whatever is true then. A failed RevisionId or
//! CodeSha256 precondition means someone else changed AWS in between: re-observe, never
//! overwrite.

mod converge;
pub mod drift;
mod execute;
pub mod hold;
mod observe;
pub mod status;
mod watch;

use converge::plan_watched;
pub use converge::*;
pub use execute::{Done, ExecuteError, execute, execute_predicting};
pub use observe::observe;
pub use watch::read_watch;
