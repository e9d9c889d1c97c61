//! End-to-end tests: the whole system against real PostgreSQL and Redis, with
//! fake providers. One binary, one file per capability.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod harness;

mod admin_cli;
mod auth;
mod bad_input;
mod catalog;
mod catalog_matrix;
mod chaos;
mod health_alerts;
mod ops;
mod password_reset;
mod pipeline;
mod products;
mod reviews;
mod search;
mod tweets;
