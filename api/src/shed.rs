//! Load shedding: a bound on the requests in flight per route class. A
//! request that finds its class full waits a short while for a slot, then is
//! answered 503 with `Retry-After` at once. Without it, a slow query lets
//! requests pile up on the database pool until each waits out the pool's
//! timeout: many slow failures instead of a few fast ones, and memory that
//! grows with the queue. Classes are separate so that a storm of catalogue
//! reads cannot starve checkouts or payment webhooks, nor the reverse.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use bazaar_core::config::Concurrency;
use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Public and customer reads (`GET` under `/api/v1`).
    Reads,
    /// Cart, checkout, orders, accounts, vendors' writes.
    Writes,
    /// Payment and messenger webhooks.
    Webhooks,
    /// The back office: `/api/v1/admin` and the `/admin` console.
    BackOffice,
    /// Health, metrics, docs: never shed (they are how operators see the
    /// overload).
    Unlimited,
}

impl Class {
    pub fn of(method: &Method, path: &str) -> Class {
        if path.starts_with("/webhooks/") {
            Class::Webhooks
        } else if path.starts_with("/api/v1/admin")
            || path == "/admin"
            || path.starts_with("/admin/")
        {
            Class::BackOffice
        } else if !path.starts_with("/api/") {
            Class::Unlimited
        } else if method == Method::GET || method == Method::HEAD {
            Class::Reads
        } else {
            Class::Writes
        }
    }
}

#[derive(Clone)]
pub struct Shedder {
    reads: Arc<Semaphore>,
    writes: Arc<Semaphore>,
    webhooks: Arc<Semaphore>,
    back_office: Arc<Semaphore>,
    wait: Duration,
}

impl Shedder {
    pub fn new(limits: &Concurrency) -> Self {
        Self {
            reads: Arc::new(Semaphore::new(limits.reads)),
            writes: Arc::new(Semaphore::new(limits.writes)),
            webhooks: Arc::new(Semaphore::new(limits.webhooks)),
            back_office: Arc::new(Semaphore::new(limits.back_office)),
            wait: limits.wait,
        }
    }

    fn semaphore(&self, class: Class) -> Option<&Arc<Semaphore>> {
        match class {
            Class::Reads => Some(&self.reads),
            Class::Writes => Some(&self.writes),
            Class::Webhooks => Some(&self.webhooks),
            Class::BackOffice => Some(&self.back_office),
            Class::Unlimited => None,
        }
    }
}

pub async fn limit(State(shedder): State<Shedder>, req: Request, next: Next) -> Response {
    let class = Class::of(req.method(), req.uri().path());
    let Some(semaphore) = shedder.semaphore(class) else {
        return next.run(req).await;
    };
    let _permit = match semaphore.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => match tokio::time::timeout(shedder.wait, semaphore.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            // Timed out, or (never) closed.
            _ => {
                metrics::counter!("bazaar_http_shed_total", "class" => format!("{class:?}"))
                    .increment(1);
                return ApiError::from(bazaar_core::Error::Overloaded(
                    "too many requests in progress; try again shortly",
                ))
                .into_response();
            }
        },
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_classes() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(Class::of(&get, "/api/v1/products"), Class::Reads);
        assert_eq!(Class::of(&get, "/api/v1/cart"), Class::Reads);
        assert_eq!(Class::of(&post, "/api/v1/checkout"), Class::Writes);
        assert_eq!(Class::of(&post, "/webhooks/stripe"), Class::Webhooks);
        assert_eq!(Class::of(&get, "/api/v1/admin/orders"), Class::BackOffice);
        assert_eq!(
            Class::of(&post, "/admin/orders/BZ-1/status"),
            Class::BackOffice
        );
        assert_eq!(Class::of(&get, "/admin"), Class::BackOffice);
        assert_eq!(Class::of(&get, "/administrator"), Class::Unlimited);
        assert_eq!(Class::of(&get, "/health/ready"), Class::Unlimited);
        assert_eq!(Class::of(&get, "/metrics"), Class::Unlimited);
        assert_eq!(Class::of(&get, "/docs/"), Class::Unlimited);
    }
}
