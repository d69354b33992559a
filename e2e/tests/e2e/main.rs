//! SMTPy end-to-end tests (real Postfix, milter and Postgres) and milter-protocol tests, in
//! one test binary. Build the binaries first: `cargo build --bins`, then
//! `cargo nextest run -p smtpy-e2e`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_deletion;
mod api_2fa;
mod api_account;
mod api_activity_logs;
mod api_auth;
mod api_email;
mod api_errors;
mod api_keys;
mod api_ownership_matrix;
mod api_preferences;
mod api_rate_limits;
mod api_security_headers;
mod api_support;
mod bounces;
mod catch_all;
mod disabled_alias;
mod dkim_cli;
mod dns_server;
mod forwarding;
mod independent_verifier;
mod message_log;
mod milter_down;
mod milter_protocol;
mod mixed_recipients;
mod postgres_outage;
mod privacy;
mod relay_domains;
mod signing;
mod srs_postsrsd;
mod support;
mod unknown_address;
