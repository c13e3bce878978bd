//! Runtime configuration: one struct, filled from defaults, command-line flags and `SAGEBOX_*`
//! environment variables (clap resolves the precedence: flag, then env, then default).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Settings shared by every subcommand that talks about a sagebox server.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the API listens on (SageMaker, S3, STS, IAM, Logs and the console share it).
    #[arg(long, env = "SAGEBOX_BIND", default_value = "127.0.0.1:4599")]
    pub bind: SocketAddr,

    /// Directory holding all state: `sagebox.db` (SQLite) and `objects/`.
    #[arg(long, env = "SAGEBOX_DATA_DIR", default_value = ".sagebox")]
    pub data_dir: PathBuf,

    /// AWS region sagebox reports in ARNs and responses.
    #[arg(long, env = "SAGEBOX_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Twelve-digit account id used in ARNs.
    #[arg(long, env = "SAGEBOX_ACCOUNT_ID", default_value = "000000000000",
          value_parser = parse_account_id)]
    pub account_id: String,

    /// `open`: any credentials are accepted and signatures are not checked. `strict`: every
    /// request must carry a valid AWS Signature Version 4 made with one of --credentials.
    #[arg(long, env = "SAGEBOX_AUTH", value_enum, default_value = "open")]
    pub auth: AuthMode,

    /// Access key pairs `KEY:SECRET` that `--auth strict` accepts (repeat the flag, or separate
    /// with commas in SAGEBOX_CREDENTIALS). Containers sagebox starts get a pair of their own.
    #[arg(long = "credentials", env = "SAGEBOX_CREDENTIALS", value_delimiter = ',',
          value_parser = parse_credentials)]
    pub credentials: Vec<(String, String)>,

    /// Skip creating the sample buckets (`sagemaker-sample-files`,
    /// `sagemaker-example-files-prod-<region>`: the datasets the example notebooks read) at startup.
    #[arg(long, env = "SAGEBOX_NO_SAMPLES")]
    pub no_samples: bool,

    /// How long a URL from CreatePresignedNotebookInstanceUrl may be opened, in seconds (AWS: 5
    /// minutes); the session it opens lasts SessionExpirationDurationInSeconds.
    #[arg(long, env = "SAGEBOX_NOTEBOOK_URL_TTL", default_value_t = 300)]
    pub notebook_url_ttl: u64,

    /// Seconds a Describe of an endpoint or notebook instance in a transitional status
    /// (Creating, Updating, Pending, Stopping…) waits for the transition before it answers, so
    /// SDK deploys and waiters end when the work ends; 0 answers at once.
    #[arg(long, env = "SAGEBOX_DESCRIBE_HOLD", default_value_t = 20)]
    pub describe_hold: u64,

    /// Docker, GPU and image settings.
    #[command(flatten)]
    pub runtime: crate::runtime::RuntimeOptions,

    /// Who is served: Host names, connection limits.
    #[command(flatten)]
    pub access: crate::guard::AccessOptions,

    /// The opt-in HTTPS proxy for clients that pin AWS hosts.
    #[command(flatten)]
    pub aws_proxy: crate::awsproxy::ProxyOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    Open,
    Strict,
}

fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err("credentials are KEY:SECRET".into()),
    }
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err("an AWS account id is exactly 12 digits".into())
    }
}

impl Config {
    /// The URL clients use to reach this server.
    pub fn endpoint_url(&self) -> String {
        let host = match self.bind.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            ip if ip.is_ipv6() => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}", self.bind.port())
    }

    /// A configuration for tests: ephemeral port, the given data directory.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Config {
            bind: "127.0.0.1:0".parse().expect("literal address"),
            data_dir,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            auth: AuthMode::Open,
            credentials: Vec::new(),
            no_samples: true,
            notebook_url_ttl: 300,
            describe_hold: 0,
            runtime: crate::runtime::RuntimeOptions::default(),
            access: crate::guard::AccessOptions {
                allowed_hosts: Vec::new(),
                idle_timeout: 60,
                max_connections: 1024,
            },
            aws_proxy: crate::awsproxy::ProxyOptions::default(),
        }
    }

    /// The secret of an access key `--auth strict` accepts.
    pub fn secret_of(&self, access_key: &str) -> Option<String> {
        self.credentials
            .iter()
            .find(|(k, _)| k == access_key)
            .map(|(_, s)| s.clone())
    }
}
