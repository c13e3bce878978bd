//! What `sagebox env` hands a shell on the host: the AWS settings, the SageMaker SDK's defaults
//! file (the default bucket, so the SDK need not ask STS for the account; no telemetry) and,
//! with `--aws-proxy`, the proxy and the CA bundle that trusts its answers.

use std::path::{Path, PathBuf};

use crate::awsproxy;
use crate::config::Config;

/// The SDK defaults file, in the data directory (it names that server's region and account).
pub const SDK_CONFIG: &str = "sdk-config.yaml";

/// Hosts that must never go through the proxy: sagebox's own endpoint is plain HTTP on loopback.
const NO_PROXY: &str = "127.0.0.1,localhost,::1";

/// The bucket the SDK's `Session.default_bucket()` would name, `sagemaker-<region>-<account>`.
pub fn default_bucket(config: &Config) -> String {
    format!("sagemaker-{}-{}", config.region, config.account_id)
}

/// The SageMaker SDK's defaults file (its `SageMaker.PythonSDK.Modules` schema): the default
/// bucket, so no STS call decides it, and no telemetry (it would try to reach AWS on every fit
/// and deploy). Notebook instances get the same file as /etc/xdg/sagemaker/config.yaml.
pub fn sdk_config(bucket: &str) -> String {
    format!(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n      Session:\n        DefaultS3Bucket: {bucket}\n"
    )
}

/// Writes `<data-dir>/sdk-config.yaml` for this configuration and returns its absolute path.
pub fn write_sdk_config(config: &Config) -> std::io::Result<PathBuf> {
    let dir = std::path::absolute(&config.data_dir)?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(SDK_CONFIG);
    let body = sdk_config(&default_bucket(config));
    // Unchanged files are left alone: a running SDK may be reading it.
    if std::fs::read_to_string(&path).ok().as_deref() != Some(body.as_str()) {
        awsproxy::ca::write_atomically(&path, body.as_bytes(), 0o644)?;
    }
    Ok(path)
}

/// The proxy's CA (made on first use) and the bundle to export, for a data directory.
pub fn proxy_ca(data_dir: &Path) -> Result<awsproxy::ca::LocalCa, awsproxy::ca::CaError> {
    let dir = std::path::absolute(data_dir)
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .join(awsproxy::CA_DIR);
    awsproxy::ca::LocalCa::load_or_create(&dir)
}

/// Environment variables, in the order they are exported.
pub type Variables = Vec<(String, String)>;

/// The `export` block for `eval "$(sagebox env)"`, and warnings for stderr.
pub fn exports(config: &Config) -> Result<(String, Vec<String>), String> {
    let (vars, warnings) = variables(config)?;
    let out = vars
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect();
    Ok((out, warnings))
}

/// The environment that points AWS clients at this server (what `sagebox env` exports and
/// `sagebox run` gives its command), and warnings for stderr. The files it names are written
/// first; a proxy CA that cannot be made is an error (the proxy was asked for).
pub fn variables(config: &Config) -> Result<(Variables, Vec<String>), String> {
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), config.endpoint_url()),
        ("AWS_DEFAULT_REGION".into(), config.region.clone()),
        ("AWS_REGION".into(), config.region.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "sagebox".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "sagebox".into()),
    ];
    let mut warnings = Vec::new();
    match write_sdk_config(config) {
        Ok(path) => vars.push((
            "SAGEMAKER_USER_CONFIG_OVERRIDE".into(),
            path.display().to_string(),
        )),
        Err(e) => warnings.push(format!(
            "sagebox: cannot write the SageMaker SDK defaults file under {} ({e}); Session().default_bucket() will ask STS for the account",
            config.data_dir.display()
        )),
    }
    if let Some(addr) = config.aws_proxy.addr() {
        let ca = proxy_ca(&config.data_dir).map_err(|e| format!("sagebox: {e}"))?;
        let bundle = ca.write_bundle().map_err(|e| format!("sagebox: {e}"))?;
        let proxy = format!("http://{addr}");
        let mut no_proxy = NO_PROXY.to_string();
        let endpoint_host = match config.bind.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            ip => ip.to_string(),
        };
        if !no_proxy.split(',').any(|h| h == endpoint_host) {
            no_proxy = format!("{no_proxy},{endpoint_host}");
        }
        // Both spellings: Python prefers the lower-case one when both are set, so a user's own
        // https_proxy would otherwise win.
        for (k, v) in [
            ("HTTPS_PROXY", &proxy),
            ("https_proxy", &proxy),
            ("NO_PROXY", &no_proxy),
            ("no_proxy", &no_proxy),
        ] {
            vars.push((k.into(), v.clone()));
        }
        vars.push(("AWS_CA_BUNDLE".into(), bundle.display().to_string()));
    }
    Ok((vars, warnings))
}

/// `s` as one shell word.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_config_names_the_bucket_and_opts_out_of_telemetry() {
        let c = sdk_config("sagemaker-us-east-1-000000000000");
        assert!(c.contains("TelemetryOptOut: true"));
        assert!(c.contains("DefaultS3Bucket: sagemaker-us-east-1-000000000000"));
    }

    #[test]
    fn paths_are_single_shell_words() {
        assert_eq!(
            shell_quote("/data/sdk-config.yaml"),
            "/data/sdk-config.yaml"
        );
        assert_eq!(shell_quote("/my data/x"), "'/my data/x'");
        assert_eq!(shell_quote("/it's"), r"'/it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn env_names_the_sdk_file_and_the_proxy_only_when_on() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(tmp.path().join("data"));
        config.bind = "127.0.0.1:4599".parse().unwrap();
        config.region = "eu-west-1".into();
        config.account_id = "123456789012".into();
        let (out, warnings) = exports(&config).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let sdk = tmp.path().join("data").join(SDK_CONFIG);
        assert!(out.contains(&format!(
            "export SAGEMAKER_USER_CONFIG_OVERRIDE={}\n",
            sdk.display()
        )));
        assert!(!out.contains("HTTPS_PROXY"), "{out}");
        let yaml = std::fs::read_to_string(&sdk).unwrap();
        assert!(
            yaml.contains("DefaultS3Bucket: sagemaker-eu-west-1-123456789012\n"),
            "{yaml}"
        );

        config.aws_proxy = awsproxy::ProxyOptions::at("127.0.0.1:4598".parse().unwrap());
        let (out, _) = exports(&config).unwrap();
        let bundle = tmp
            .path()
            .join("data")
            .join("aws-proxy")
            .join("ca-bundle.pem");
        for line in [
            "export HTTPS_PROXY=http://127.0.0.1:4598\n",
            "export https_proxy=http://127.0.0.1:4598\n",
            "export NO_PROXY=127.0.0.1,localhost,::1\n",
            "export no_proxy=127.0.0.1,localhost,::1\n",
        ] {
            assert!(out.contains(line), "{out}");
        }
        assert!(
            out.contains(&format!("export AWS_CA_BUNDLE={}\n", bundle.display())),
            "{out}"
        );
        assert!(bundle.exists());
    }
}
