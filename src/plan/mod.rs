//! The pure planner: `(spec, observed AWS snapshot, now) -> ordered actions + status`.
//! No I/O, no clock, no SDK or kube types. Filled in by the reconciliation-engine work.
