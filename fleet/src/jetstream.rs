//! What a failed JetStream request says about the server: a request to `$JS.API` that has no
//! responders means the server runs without JetStream (a server with it always answers, if only
//! with an error), which no retry will fix and which the user must be told how to fix.

use crate::error::FleetError;

/// Whether `error`, or one of its causes, is a request that nobody answered.
pub fn no_responders(error: &(dyn std::error::Error + 'static)) -> bool {
    use async_nats::jetstream::context::{RequestError, RequestErrorKind};
    let mut cause = Some(error);
    while let Some(next) = cause {
        if next.downcast_ref::<RequestError>().is_some_and(|e| e.kind() == RequestErrorKind::NoResponders) {
            return true;
        }
        if next
            .downcast_ref::<async_nats::RequestError>()
            .is_some_and(|e| e.kind() == async_nats::RequestErrorKind::NoResponders)
        {
            return true;
        }
        cause = next.source();
    }
    false
}

/// A JetStream request's error as ours: [`FleetError::NoJetStream`] when nobody answered.
pub fn error<E: std::error::Error + 'static>(error: E) -> FleetError {
    if no_responders(&error) {
        FleetError::NoJetStream
    } else {
        FleetError::nats(error)
    }
}
