//! The `sagebox` command line: `serve` runs the emulator, `env` prints the shell settings that
//! point AWS clients at it, `doctor` checks the host, `images` builds and lists the emulator images.

use std::sync::Arc;

/// mimalloc instead of glibc's malloc: a request allocates and frees a few dozen small blocks
/// (header maps, strings, the JSON answer), and glibc's malloc and free were a quarter of a
/// DescribeModel's instructions. Built without transparent huge pages (`no_thp`), which would
/// add 13 MB to an idle server's resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use sagebox::Server;
use sagebox::config::Config;
use sagebox::runtime::images::Progress;
use sagebox::runtime::{Runtime, doctor, recipes};

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
    /// Check Docker, GPUs, images, the data directory and the port; non-zero exit if work is blocked.
    Doctor {
        #[command(flatten)]
        config: Config,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
        /// Check one engine as a node of the swarm instead (unix:///path or tcp://host:port):
        /// in a swarm, pulling from --swarm-registry, its GPUs.
        #[arg(long, value_name = "HOST")]
        node: Option<String>,
    },
    /// Build and list the emulator images (built-in algorithms, frameworks, Jupyter).
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// The wheelhouse script-mode jobs install requirements.txt from (jobs run offline).
    Wheels {
        #[command(subcommand)]
        command: WheelsCommand,
    },
    /// Run one command against a temporary sagebox: start it on a free port with its own data
    /// directory, run CMD with the AWS environment pointing at it, then stop it and remove what
    /// it started. The exit status is CMD's (125: sagebox failed; 127: CMD could not start).
    Run(RunArgs),
    /// Remove every container, network and volume a data directory's server started (run it
    /// once that server has stopped: its endpoints and notebook volumes outlive it by design).
    Purge {
        /// The server's data directory.
        #[arg(long, env = "SAGEBOX_DATA_DIR", default_value = ".sagebox")]
        data_dir: std::path::PathBuf,
        /// Where that server ran containers (--engine swarm and its settings, as it was given).
        #[command(flatten)]
        runtime: sagebox::runtime::RuntimeOptions,
    },
    /// List every SageMaker operation and how sagebox answers it: run for real, stored
    /// (validated, kept and echoed back, statuses settling as SageMaker's do), or refused.
    Ops {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The in-task agent: runs inside containers on a cluster, where binds cannot be mounted.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Print a shell completion script, e.g. `source <(sagebox completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Fetch the binds SAGEBOX_AGENT_PLAN names, run PROGRAM, return the writable binds and exit
    /// as PROGRAM did (without a plan: just run PROGRAM).
    Exec {
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PROGRAM"
        )]
        argv: Vec<String>,
    },
    /// Print the plan (JSON) for binds, signed with a data directory's key (tests, debugging).
    #[command(hide = true)]
    Plan {
        #[arg(long, env = "SAGEBOX_DATA_DIR", default_value = ".sagebox")]
        data_dir: std::path::PathBuf,
        /// How the container reaches sagebox, e.g. http://host.docker.internal:4599
        #[arg(long)]
        url: String,
        /// host:container, or host:container:ro for a read-only bind (repeatable).
        #[arg(long = "bind", value_name = "HOST:CONTAINER[:ro]")]
        binds: Vec<String>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Address to listen on (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// Data directory (default: a temporary one, removed afterwards).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Keep the data directory and the containers after CMD ends.
    #[arg(long)]
    keep: bool,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<String>,
}

/// The serve settings from SAGEBOX_* variables and defaults alone (for `sagebox run`).
#[derive(Parser)]
struct EnvConfig {
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum WheelsCommand {
    /// Download packages (and their dependencies) as wheels for the images' Pythons (3.11 and
    /// 3.13) into the wheelhouse, with the host's pip and its index settings.
    Add {
        /// Requirement specifiers, e.g. tabulate==0.9.0
        packages: Vec<String>,
        /// Requirements files, as pip's -r.
        #[arg(short = 'r', long = "requirement", value_name = "FILE")]
        requirements: Vec<std::path::PathBuf>,
        /// Only the named packages, not their dependencies (when a dependency, such as torch,
        /// is in the images already).
        #[arg(long)]
        no_deps: bool,
        /// The wheelhouse folder (default ~/.cache/sagebox/wheelhouse).
        #[arg(long, env = "SAGEBOX_WHEELHOUSE", value_name = "DIR")]
        wheelhouse: Option<std::path::PathBuf>,
    },
    /// List the wheels in the wheelhouse.
    List {
        #[arg(long, env = "SAGEBOX_WHEELHOUSE", value_name = "DIR")]
        wheelhouse: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build images whose recipe changed (all of them when no name is given).
    Build(ImagesBuild),
    /// Show each image and whether the engine has it for the current recipe.
    List {
        #[command(flatten)]
        config: Config,
        #[arg(long)]
        json: bool,
    },
    /// Push images to a registry a cluster's nodes pull from (plain HTTP, host:port): the
    /// named emulator images (all of them when none is named and no --image is given), built
    /// first if needed, as <registry>/sagebox/<name>:<hash> and :latest; and any --image of
    /// your own as <registry>/<its path>:<its tag>.
    Push(ImagesPush),
    /// Print a key that changes when any image `images build` builds would change (for CI
    /// caches of `docker save` archives).
    Key,
    /// Print the references of the images `images build` builds, for `docker save`.
    Refs,
    /// Show which local image an image URI runs as (AWS algorithm URIs map to emulator images).
    Resolve {
        /// Image URIs, e.g. 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
        #[arg(required = true)]
        uris: Vec<String>,
    },
}

#[derive(Args)]
struct ImagesPush {
    /// Recipe names (see `sagebox images list`).
    names: Vec<String>,
    /// The registry, host:port (e.g. 127.0.0.1:5000).
    #[arg(long, env = "SAGEBOX_REGISTRY")]
    registry: String,
    /// An image of your own to push as well (repeatable).
    #[arg(long = "image", value_name = "REF")]
    images: Vec<String>,
    #[command(flatten)]
    config: Config,
}

#[derive(Args)]
struct ImagesBuild {
    /// Recipe names (see `sagebox images list`); `base` builds only the shared base.
    names: Vec<String>,
    #[command(flatten)]
    config: Config,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(config),
        Command::Env(config) => match sagebox::hostenv::exports(&config) {
            Ok((exports, warnings)) => {
                for w in warnings {
                    eprintln!("{w}");
                }
                print!("{exports}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Doctor { config, json, node } => block_on(doctor(config, json, node)),
        Command::Images { command } => match command {
            ImagesCommand::Build(b) => block_on(images_build(b)),
            ImagesCommand::Push(p) => block_on(images_push(p)),
            ImagesCommand::List { config, json } => block_on(images_list(config, json)),
            ImagesCommand::Resolve { uris } => images_resolve(&uris),
            ImagesCommand::Key => {
                println!("{}", recipes::defaults_key());
                std::process::ExitCode::SUCCESS
            }
            ImagesCommand::Refs => {
                use std::io::Write;
                let refs: String = recipes::defaults()
                    .iter()
                    .map(|r| format!("{}\n{}\n", r.reference(), r.latest()))
                    .collect();
                // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
                std::io::stdout().write_all(refs.as_bytes()).ok();
                std::process::ExitCode::SUCCESS
            }
        },
        Command::Run(args) => run(args),
        Command::Agent { command } => match command {
            AgentCommand::Exec { argv } => sagebox::agent::exec::main(&argv),
            AgentCommand::Plan {
                data_dir,
                url,
                binds,
            } => agent_plan(&data_dir, &url, &binds),
        },
        Command::Purge { data_dir, runtime } => block_on(purge(data_dir, runtime)),
        Command::Ops { json } => {
            use std::io::Write;
            let text = sagebox::service::stored::catalog::operations_report(json);
            std::io::stdout().write_all(text.as_bytes()).ok();
            std::process::ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sagebox", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
            std::io::stdout().write_all(&script).ok();
            std::process::ExitCode::SUCCESS
        }
        Command::Wheels { command } => match command {
            WheelsCommand::Add {
                packages,
                requirements,
                no_deps,
                wheelhouse,
            } => {
                let dir = wheelhouse.unwrap_or_else(sagebox::runtime::wheelhouse::user_default);
                let progress: Progress = Arc::new(|line: &str| eprintln!("{line}"));
                block_on(async {
                    let added = sagebox::runtime::wheelhouse::add(
                        &dir,
                        &packages,
                        &requirements,
                        no_deps,
                        &progress,
                    );
                    match added.await {
                        Ok(()) => {
                            println!("wheelhouse: {}", dir.display());
                            std::process::ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("sagebox: {e}");
                            std::process::ExitCode::FAILURE
                        }
                    }
                })
            }
            WheelsCommand::List { wheelhouse } => {
                let dir = wheelhouse.unwrap_or_else(sagebox::runtime::wheelhouse::user_default);
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .filter(|n| n.ends_with(".whl"))
                            .collect()
                    })
                    .unwrap_or_default();
                names.sort();
                println!("# {}", dir.display());
                for n in names {
                    println!("{n}");
                }
                std::process::ExitCode::SUCCESS
            }
        },
    }
}

fn agent_plan(data_dir: &std::path::Path, url: &str, specs: &[String]) -> std::process::ExitCode {
    use sagebox::agent::plan;
    let mut binds = Vec::new();
    for spec in specs {
        match plan::parse_bind(spec) {
            Some(b) => binds.push(b),
            None => {
                eprintln!("sagebox: --bind {spec:?} is not HOST:CONTAINER[:ro]");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    match plan::key_of_data_dir(data_dir) {
        Ok(key) => {
            let plan = plan::plan_for_binds(&binds, url, &key);
            println!("{}", serde_json::to_string(&plan).unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "sagebox: cannot read the key in {}: {e}",
                data_dir.display()
            );
            std::process::ExitCode::FAILURE
        }
    }
}

fn block_on<F: std::future::Future<Output = std::process::ExitCode>>(
    f: F,
) -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("sagebox: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn open_runtime(config: &Config) -> Result<Runtime, std::process::ExitCode> {
    Ok(Runtime::new(config.runtime.clone(), "cli".into()))
}

async fn doctor(config: Config, json: bool, node: Option<String>) -> std::process::ExitCode {
    let checks = if let Some(node) = node {
        let registry = config
            .runtime
            .swarm_registry
            .as_deref()
            .and_then(|r| sagebox::runtime::registry::registry_address(r).ok());
        sagebox::runtime::swarm::node::checks(&node, registry.as_deref()).await
    } else {
        let runtime = match open_runtime(&config) {
            Ok(r) => r,
            Err(code) => return code,
        };
        doctor::run(&runtime, &config.data_dir, config.bind).await
    };
    if json {
        let out = serde_json::json!({ "ok": !doctor::blocking(&checks), "checks": checks });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", doctor::render(&checks));
    }
    if doctor::blocking(&checks) {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

async fn images_push(args: ImagesPush) -> std::process::ExitCode {
    use sagebox::runtime::registry::{self, Target};
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("sagebox: {e}");
        std::process::ExitCode::FAILURE
    };
    let address = match registry::registry_address(&args.registry) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let runtime = match open_runtime(&args.config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let builder = match runtime.images().await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let docker = match runtime.docker().await {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let names: Vec<String> = if args.names.is_empty() && args.images.is_empty() {
        recipes::defaults()
            .iter()
            .map(|r| r.name.to_string())
            .collect()
    } else {
        args.names
    };
    let progress: Progress = Arc::new(|line: &str| eprintln!("{line}"));
    let mut work: Vec<(String, Target)> = Vec::new();
    for name in names {
        let reference = match builder.ensure(&name, &progress).await {
            Ok(r) => r,
            Err(e) => return fail(&format!("{name}: {e}")),
        };
        let tag = reference.rsplit(':').next().unwrap_or("latest").to_string();
        let target = Target {
            registry: address.clone(),
            repository: format!("sagebox/{name}"),
            tags: vec![tag, "latest".into()],
        };
        work.push((reference, target));
    }
    for image in args.images {
        let (repository, tag) = registry::repository_of(&image);
        let target = Target {
            registry: address.clone(),
            repository,
            tags: vec![tag],
        };
        work.push((image, target));
    }
    for (image, target) in work {
        if let Err(e) = registry::push(&docker, &image, &target, &progress).await {
            return fail(&e);
        }
        for r in target.references() {
            println!("{r}");
        }
    }
    std::process::ExitCode::SUCCESS
}

async fn images_build(args: ImagesBuild) -> std::process::ExitCode {
    let runtime = match open_runtime(&args.config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let builder = match runtime.images().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sagebox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let names: Vec<String> = if args.names.is_empty() {
        recipes::defaults()
            .iter()
            .map(|r| r.name.to_string())
            .collect()
    } else {
        args.names
    };
    // Images on different bases share nothing, so each base's family builds beside the others
    // (the framework family is mostly downloads); within a family, one after another.
    let mut families: Vec<(&str, Vec<String>)> = Vec::new();
    for name in names {
        let root = recipes::Recipe::get(&name).map_or("", |r| r.root().name);
        match families.iter_mut().find(|(r, _)| *r == root) {
            Some((_, list)) => list.push(name),
            None => families.push((root, vec![name])),
        }
    }
    let progress: Progress = Arc::new(|line: &str| eprintln!("{line}"));
    let builds = families.into_iter().map(|(_, list)| {
        let (builder, progress) = (builder.clone(), progress.clone());
        async move {
            for name in list {
                let started = std::time::Instant::now();
                match builder.ensure(&name, &progress).await {
                    Ok(reference) => println!(
                        "{name}: {reference} ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => {
                        eprintln!("sagebox: {e}");
                        return false;
                    }
                }
            }
            true
        }
    });
    if futures_util::future::join_all(builds)
        .await
        .into_iter()
        .all(|ok| ok)
    {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn images_list(config: Config, json: bool) -> std::process::ExitCode {
    let runtime = match open_runtime(&config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let list = match runtime.images().await {
        Ok(b) => b.list().await,
        Err(e) => Err(e.into()),
    };
    match list {
        Ok(list) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&list).unwrap_or_default()
            );
            std::process::ExitCode::SUCCESS
        }
        Ok(list) => {
            for s in list {
                let state = if s.present {
                    "present"
                } else if s.outdated_present {
                    "outdated (rebuilt on next use)"
                } else if recipes::Recipe::get(&s.name).is_some_and(|r| r.on_demand()) {
                    "missing (built for the first job on a GPU instance)"
                } else {
                    "missing (built on first use)"
                };
                println!("{:<16} {:<32} {state}", s.name, s.reference);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sagebox: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn purge(
    data_dir: std::path::PathBuf,
    runtime: sagebox::runtime::RuntimeOptions,
) -> std::process::ExitCode {
    match sagebox::runtime::purge_data_dir(&data_dir, runtime).await {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(n) => {
            println!(
                "sagebox purge: removed {n} containers, networks and volumes of {}",
                data_dir.display()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sagebox purge: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> std::process::ExitCode {
    let mut config = match EnvConfig::try_parse_from(["sagebox"]) {
        Ok(c) => c.config,
        Err(e) => {
            eprintln!("sagebox run: {e}");
            return std::process::ExitCode::from(sagebox::ephemeral::FAILED);
        }
    };
    config.bind = args.bind;
    let temporary_data_dir = args.data_dir.is_none();
    config.data_dir = args
        .data_dir
        .unwrap_or_else(sagebox::ephemeral::temporary_data_dir);
    init_logging("warn");
    let request = sagebox::ephemeral::RunRequest {
        config,
        temporary_data_dir,
        keep: args.keep,
        command: args.command,
    };
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(sagebox::ephemeral::run(request)),
        Err(e) => {
            eprintln!("sagebox run: cannot start the async runtime: {e}");
            sagebox::ephemeral::FAILED
        }
    };
    std::process::ExitCode::from(code)
}

fn images_resolve(uris: &[String]) -> std::process::ExitCode {
    let mut code = std::process::ExitCode::SUCCESS;
    for uri in uris {
        match sagebox::runtime::uris::resolve(uri) {
            Ok(sagebox::runtime::uris::ImageChoice::Emulated { recipe }) => {
                println!("{uri}\tsagebox/{recipe}:latest");
                if let Some(note) = sagebox::runtime::uris::served_note(uri) {
                    println!("#\t{note}");
                }
            }
            Ok(sagebox::runtime::uris::ImageChoice::AsGiven(r)) => println!("{uri}\t{r}"),
            Err(e) => {
                eprintln!("sagebox: {e}");
                code = std::process::ExitCode::FAILURE;
            }
        }
    }
    code
}

/// Logs to stderr at SAGEBOX_LOG's level, else `default`.
fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SAGEBOX_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn serve(config: Config) -> std::process::ExitCode {
    init_logging("info");
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
        if let Err(e) = tokio::signal::ctrl_c().await {
            // Without a handler the wait ends at once, so this shuts down: say why.
            tracing::warn!("cannot listen for Ctrl-C: {e}");
        }
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
