//! The one integration-test crate: spawns the built binary against in-process tiny_http servers.

mod bridge;
mod cancel;
mod cli;
mod client;
mod cookies;
mod core;
mod doctor;
mod era;
mod legacy;
mod net;
mod oauth;
mod readme;
mod support;
mod tls;
