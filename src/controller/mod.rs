//! The Kubernetes glue: watch, finalizer, status patch, events. Filled in by the controller work.
