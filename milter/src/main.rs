//! `smtpy-milter`: arguments, configuration, logging, signals; the work is in the library.

use anyhow::Context as _;
use clap::Parser;
use smtpy_milter::{App, MilterListener};
use smtpy_shared::config::{Config, MilterSocket, Needs};
use std::path::PathBuf;

/// SMTPy's milter: decides every recipient of hosted domains and forwards alias mail.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (default /etc/smtpy/smtpy.toml; used only if it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Milter socket, `inet:HOST:PORT` or `unix:PATH` (overrides [milter] listen).
    #[arg(long, value_name = "SOCKET")]
    listen: Option<String>,
    /// HTTP address for /metrics and /healthz (overrides [milter] metrics_listen; "" disables).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// Socketmap for Postfix's relay_domains, `inet:HOST:PORT` or `unix:PATH` (overrides
    /// [milter] map_listen; "" disables).
    #[arg(long, value_name = "SOCKET")]
    map_listen: Option<String>,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    // Command-line flags beat the environment, which beats the file.
    if let Some(listen) = &args.listen {
        env.push(("SMTPY_MILTER_LISTEN".to_owned(), listen.clone()));
    }
    if let Some(metrics) = &args.metrics_listen {
        env.push(("SMTPY_MILTER_METRICS_LISTEN".to_owned(), metrics.clone()));
    }
    if let Some(map) = &args.map_listen {
        env.push(("SMTPY_MILTER_MAP_LISTEN".to_owned(), map.clone()));
    }
    let config = Config::load(args.config.as_deref(), env, Needs { database: true })?;
    smtpy_milter::init_logging(&config.log);

    // One thread: the milter's work is short and I/O-bound, and a current-thread runtime
    // costs a third less CPU per message than the multi-threaded one (DESIGN §7). The DKIM
    // signatures are made on blocking threads beside it, as many as there are CPUs.
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(cpus)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let socket: MilterSocket =
            config.milter.listen.parse().map_err(|e: String| anyhow::anyhow!("milter.listen: {e}"))?;
        let app = App::new(&config).context("cannot set up the milter")?;
        let listener = MilterListener::bind(&socket).await.with_context(|| format!("cannot listen on {socket}"))?;
        if !config.milter.metrics_listen.is_empty() {
            let addr: std::net::SocketAddr = config.milter.metrics_listen.parse().context("milter.metrics_listen")?;
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            tokio::spawn(smtpy_milter::metrics::serve(metrics, app.clone()));
        }
        if !config.milter.map_listen.is_empty() {
            let map: MilterSocket =
                config.milter.map_listen.parse().map_err(|e: String| anyhow::anyhow!("milter.map_listen: {e}"))?;
            let listener = smtpy_milter::socketmap::bind(&map)
                .await
                .with_context(|| format!("cannot listen on {map} for Postfix's lookups"))?;
            tokio::spawn(smtpy_milter::socketmap::serve(listener, app.clone()));
            tracing::info!(%map, "socketmap (relay_domains) listening");
        }
        tracing::info!(%socket, "smtpy-milter listening");
        smtpy_milter::run(listener, app.clone(), shutdown_signal()).await?;
        if let Err(e) = app.log.flush().await {
            tracing::error!("{} message-log rows could not be written at shutdown: {e}", app.log.pending());
        }
        tracing::info!("smtpy-milter stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
