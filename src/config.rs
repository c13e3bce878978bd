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

    /// Docker, GPU and image settings.
    #[command(flatten)]
    pub runtime: crate::runtime::RuntimeOptions,
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
            runtime: crate::runtime::RuntimeOptions::default(),
        }
    }
}
