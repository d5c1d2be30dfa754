//! The outcomes [`plan`] decides before or after every concern.

use super::fixtures::*;
use super::{Outcome, Snapshot};

#[test]
fn missing_function_is_reported() {
    let p = run(&spec(), &Snapshot::default());
    assert_eq!(p.outcome, Outcome::FunctionNotFound);
    assert!(p.actions.is_empty());
}

#[test]
fn suspend_observes_and_reports_but_writes_nothing() {
    let mut s = spec();
    s.suspend = true;
    let p = run(&s, &world(1, &[]));
    assert!(p.actions.is_empty());
    assert_eq!(p.outcome, Outcome::Suspended { pending: 3 });
}
