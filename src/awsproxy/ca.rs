//! The proxy's local certificate authority: a key and a self-signed CA certificate made once and
//! kept in the data directory (so a bundle a shell exported stays valid across restarts), and
//! the per-host leaf certificates it signs for the AWS names the proxy answers.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SerialNumber,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The CA certificate, PEM; what `AWS_CA_BUNDLE` ultimately trusts.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key, PEM (PKCS#8), readable by its owner only.
pub const CA_KEY: &str = "ca-key.pem";
/// The CA certificate followed by the host's own roots: what `sagebox env` exports as
/// `AWS_CA_BUNDLE`, so AWS hosts the proxy tunnels (ECR, ...) still verify.
pub const CA_BUNDLE: &str = "ca-bundle.pem";

/// Leaf configurations kept per host; past this many the cache starts over (names are
/// client-chosen, e.g. one per bucket, so it must not grow without bound).
const MAX_CACHED_HOSTS: usize = 512;

/// Where the host's trusted roots usually are (Debian/Ubuntu, Fedora/RHEL, openSUSE, macOS and
/// the BSDs); `SSL_CERT_FILE` is tried first.
const SYSTEM_ROOTS: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot use the AWS proxy's CA under {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the AWS proxy's CA under {path} is unusable ({reason}); delete that directory to make a new one"
    )]
    Invalid { path: String, reason: String },
    #[error("cannot make a certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The CA, loaded or made, and the leaf configurations made so far.
pub struct LocalCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    /// One key for every leaf of this run: leaves are made on demand, keys need not differ.
    leaf_key: KeyPair,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl LocalCa {
    /// Loads the CA kept in `dir`, or makes one there. Two processes starting at once (a
    /// `sagebox env` and a `sagebox serve`) agree on one CA: it is written into a fresh
    /// directory that is renamed into place, and the loser of the rename loads the winner's.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, CaError> {
        if !dir.join(CA_KEY).exists() {
            create(dir)?;
        }
        load(dir)
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// Writes the bundle (this CA, then the host's roots when found) and returns its path.
    pub fn write_bundle(&self) -> Result<PathBuf, CaError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| CaError::Io { path, source }
        };
        let ca = self.cert_path();
        let mut bundle = std::fs::read(&ca).map_err(io(&ca))?;
        let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let roots = from_env
            .into_iter()
            .chain(SYSTEM_ROOTS.iter().map(PathBuf::from))
            .find_map(|p| std::fs::read(p).ok());
        if let Some(roots) = roots {
            if !bundle.ends_with(b"\n") {
                bundle.push(b'\n');
            }
            bundle.extend_from_slice(&roots);
        }
        let path = self.dir.join(CA_BUNDLE);
        write_atomically(&path, &bundle, 0o600).map_err(io(&path))?;
        Ok(path)
    }

    /// The TLS configuration that presents a certificate for `host`, signed by this CA.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CaError> {
        let host = host.to_ascii_lowercase();
        if let Some(c) = self.lock().get(&host) {
            return Ok(c.clone());
        }
        let config = Arc::new(self.make_server_config(&host)?);
        let mut leaves = self.lock();
        if leaves.len() >= MAX_CACHED_HOSTS {
            leaves.clear();
        }
        leaves.insert(host, config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ServerConfig>>> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.leaves.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make_server_config(&self, host: &str) -> Result<ServerConfig, CaError> {
        let mut params = CertificateParams::new(vec![host.to_string()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(90);
        let leaf = params.signed_by(&self.leaf_key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), self.ca_der.clone()], key)?;
        // The gateway speaks HTTP/1.1 only; clients that offer h2 fall back to it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The CA's name and constraints. The issuer of every leaf is rebuilt from these and the kept
/// key, so they must not change between versions (a changed name would orphan old bundles).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "sagebox");
    dn.push(DnType::CommonName, "sagebox local AWS proxy CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Clients that check name constraints (OpenSSL does) accept this CA for AWS names only,
    // so its key, were it ever read, could not vouch for any other site.
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: ["amazonaws.com", "amazonaws.com.cn", "api.aws"]
            .into_iter()
            .map(|d| GeneralSubtree::DnsName(d.to_string()))
            .collect(),
        excluded_subtrees: Vec::new(),
    });
    params
}

fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    // Positive and non-zero in DER's signed encoding.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn create(dir: &Path) -> Result<(), CaError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| CaError::Io { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let key = KeyPair::generate()?;
    let mut params = ca_params();
    params.serial_number = Some(random_serial());
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key)?;
    let staging = parent.join(format!(
        ".{}.{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("aws-proxy"),
        uuid::Uuid::new_v4().simple()
    ));
    let written = (|| {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&staging)?;
        write_new(&staging.join(CA_KEY), key.serialize_pem().as_bytes(), 0o600)?;
        write_new(&staging.join(CA_CERT), cert.pem().as_bytes(), 0o600)
    })();
    if let Err(e) = written {
        // Best effort: the staging name is unique, so a leftover harms nothing; the write's error
        // is the one worth reporting.
        std::fs::remove_dir_all(&staging).ok();
        return Err(io(&staging)(e));
    }
    // rename(2) onto an existing non-empty directory fails: someone else's CA is in place.
    if let Err(e) = std::fs::rename(&staging, dir) {
        // Best effort, as above: the rename's outcome decides what happens next.
        std::fs::remove_dir_all(&staging).ok();
        if !dir.join(CA_KEY).exists() {
            return Err(io(dir)(e));
        }
    }
    Ok(())
}

fn load(dir: &Path) -> Result<LocalCa, CaError> {
    let invalid = |reason: String| CaError::Invalid {
        path: dir.display().to_string(),
        reason,
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| CaError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let key = KeyPair::from_pem(&read(CA_KEY)?).map_err(|e| invalid(format!("{CA_KEY}: {e}")))?;
    let cert_pem = read(CA_CERT)?;
    let ca_der =
        pem_certificate(&cert_pem).ok_or_else(|| invalid(format!("{CA_CERT}: no certificate")))?;
    // The certificate must be the key's: its DER carries the key's public point verbatim.
    if !ca_der
        .windows(key.public_key_raw().len())
        .any(|w| w == key.public_key_raw())
    {
        return Err(invalid(format!("{CA_CERT} was not made with {CA_KEY}")));
    }
    Ok(LocalCa {
        dir: dir.to_path_buf(),
        issuer: Issuer::new(ca_params(), key),
        ca_der,
        leaf_key: KeyPair::generate()?,
        leaves: Mutex::new(HashMap::new()),
    })
}

/// The first certificate of a PEM text.
fn pem_certificate(pem: &str) -> Option<CertificateDer<'static>> {
    use base64::Engine;
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(CertificateDer::from(der))
}

/// Creates `path` (which must not exist) with `mode`, so a key is never readable by others,
/// not even for a moment.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Replaces `path` with `bytes` in one step (a reader sees the old file or the new one).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let staging = path.with_file_name(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    write_new(&staging, bytes, mode)?;
    std::fs::rename(&staging, path).inspect_err(|_| {
        // Best effort: a leftover staging file has a unique name and is never read.
        std::fs::remove_file(&staging).ok();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("aws-proxy");
        let first = LocalCa::load_or_create(&dir).unwrap();
        let pem = std::fs::read(dir.join(CA_CERT)).unwrap();
        let key = std::fs::read(dir.join(CA_KEY)).unwrap();
        let again = LocalCa::load_or_create(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join(CA_CERT)).unwrap(), pem);
        assert_eq!(std::fs::read(dir.join(CA_KEY)).unwrap(), key);
        assert_eq!(first.ca_der, again.ca_der);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(CA_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Leaves are cached per host, case-insensitively.
        let a = again.server_config("sts.us-east-1.amazonaws.com").unwrap();
        let b = again.server_config("STS.us-east-1.amazonaws.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let one = tmp.path().join("one");
        let two = tmp.path().join("two");
        LocalCa::load_or_create(&one).unwrap();
        LocalCa::load_or_create(&two).unwrap();
        std::fs::copy(two.join(CA_KEY), one.join(CA_KEY)).unwrap();
        let err = LocalCa::load_or_create(&one)
            .err()
            .expect("mismatch refused");
        assert!(err.to_string().contains("delete that directory"), "{err}");
    }

    #[test]
    fn the_bundle_starts_with_the_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(&tmp.path().join("p")).unwrap();
        let bundle = std::fs::read_to_string(ca.write_bundle().unwrap()).unwrap();
        let pem = std::fs::read_to_string(ca.cert_path()).unwrap();
        assert!(bundle.starts_with(&pem));
    }
}
