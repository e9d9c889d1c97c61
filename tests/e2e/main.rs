//! End-to-end tests: the whole system against real PostgreSQL and Redis, with
//! fake providers. One binary, one file per capability.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod harness;

mod admin_cli;
mod auth;
mod back_office;
mod bad_input;
mod browser;
mod cart;
mod catalog;
mod catalog_cache;
mod catalog_matrix;
mod chaos;
mod checkout;
mod commerce;
mod console;
mod deployment;
mod fuzz;
mod health_alerts;
mod marketplaces_kaspi;
mod marketplaces_ozon;
mod messengers_telegram;
mod messengers_whatsapp;
mod ops;
mod orders;
mod password_reset;
mod payments;
mod pipeline;
mod products;
mod reviews;
mod scale_out;
mod search;
mod tweets;
