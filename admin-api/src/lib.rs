//! SMTPy's administration: the command line a sysadmin uses and the HTTP API owners use.

pub mod api;
pub mod cli;
mod commands;
pub mod error;
pub mod server;

pub use error::AdminError;

use cli::{Cli, Command};
use smtpy_shared::{
    Db,
    config::{Config, Needs},
};

/// Runs one command line to completion.
pub fn run(cli: Cli) -> Result<(), AdminError> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    if let Command::Serve { listen: Some(listen) } = &cli.command {
        env.push(("SMTPY_API_LISTEN".to_owned(), listen.clone()));
    }
    let config = Config::load(cli.config.as_deref(), env, Needs { database: true })?;
    init_logging(&config);
    if let Command::Serve { .. } = cli.command {
        // actix-web brings its own (tokio-based) runtime.
        return actix_web::rt::System::new().block_on(server::serve(config));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let db = Db::from_config(&config.database)?;
        commands::dispatch(&db, &config, cli.command).await
    })
}

fn init_logging(config: &Config) {
    smtpy_shared::logging::init(&config.log);
}
