//! Harness for SMTPy's end-to-end and milter-protocol tests.
//!
//! Everything here runs the real thing: Postgres databases on the shared cluster (or a private
//! cluster that a test may stop), the `smtpy-admin` and `smtpy-milter` binaries, a private
//! Postfix instance (`postfix-config/instance.sh`), and a capture sink that records what
//! Postfix delivers. Every resource is released by a `Drop` guard; when a test panics, its
//! temporary directory (Postfix's `maillog`, the milter's log) is kept and its path printed.

pub mod admin;
pub mod bins;
pub mod db;
pub mod dkim_key;
pub mod dns;
pub mod fixture;
pub mod milter;
pub mod milter_driver;
pub mod net;
pub mod pg_cluster;
pub mod postfix;
pub mod secrets;
pub mod sink;
pub mod smtp_client;
pub mod stack;
pub mod temp;
pub mod verify;
pub mod wait;

pub use admin::Admin;
pub use db::{MessageRow, TestDb};
pub use milter::MilterProcess;
pub use pg_cluster::PgCluster;
pub use postfix::{PostfixInstance, RelayDomains};
pub use secrets::Secrets;
pub use sink::{CaptureSink, Delivered};
pub use smtp_client::{Reply, SmtpClient, Transaction};
pub use stack::{MilterMode, Stack, StackOptions};
pub use temp::TempDir;
