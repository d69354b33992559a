//! Log set-up shared by both binaries.

use crate::config::LogConfig;

/// Installs the `tracing` subscriber from the `[log]` section: to stderr (journald picks it up),
/// colours only on a terminal.
pub fn init(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second call (tests running several commands in one process) keeps the first subscriber.
    let _ = if log.format == "json" { builder.json().try_init() } else { builder.try_init() };
}
