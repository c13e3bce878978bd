//! The `sagebox` command line: `serve` runs the emulator, `env` prints the shell settings that
//! point AWS clients at it.

use clap::{Parser, Subcommand};
use sagebox::Server;
use sagebox::config::Config;

#[derive(Parser)]
#[command(
    name = "sagebox",
    version,
    about = "SageMaker-in-a-box: the SageMaker and S3 APIs on one local port"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator in the foreground.
    Serve(Config),
    /// Print `export` lines that point the AWS CLI, boto3 and the SageMaker SDK at sagebox.
    Env(Config),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(config),
        Command::Env(config) => {
            print!("{}", env_exports(&config));
            std::process::ExitCode::SUCCESS
        }
    }
}

fn env_exports(config: &Config) -> String {
    format!(
        "export AWS_ENDPOINT_URL={}\nexport AWS_DEFAULT_REGION={}\nexport AWS_REGION={}\nexport AWS_ACCESS_KEY_ID=sagebox\nexport AWS_SECRET_ACCESS_KEY=sagebox\n",
        config.endpoint_url(),
        config.region,
        config.region,
    )
}

fn serve(config: Config) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SAGEBOX_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sagebox: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        tracing::info!(
            "sagebox {} listening on http://{} (data dir {})",
            env!("CARGO_PKG_VERSION"),
            server.local_addr(),
            data_dir.display()
        );
        match server.run(shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("sagebox stopped");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("server error: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
