//! AWS adapter: everything that talks to AWS goes through here, so that
//! configuration (region, endpoint, retries, timeouts) is decided in one place.

pub mod client;
