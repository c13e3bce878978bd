//! The agent plan: which host directories a container's binds stand for, and the tokens that let
//! the agent inside the container fetch and return them. A plan is stateless (the id is the host
//! path itself, the token an HMAC over it), so a plan outlives a sagebox restart as long as the
//! data directory's key does.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The environment variable that carries the plan (JSON) into the container.
pub const PLAN_ENV: &str = "SAGEBOX_AGENT_PLAN";

/// Where the agent fetches and returns binds, below the plan's `url`.
pub const BINDS_PATH: &str = "/_sagebox/agent/binds/";

/// The request header that carries a bind's token: `Authorization: SageboxAgent <token>`.
pub const AUTH_SCHEME: &str = "SageboxAgent";

/// What the agent does before and after the container's program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// How the container reaches sagebox, e.g. `http://host.docker.internal:4599`.
    pub url: String,
    pub binds: Vec<PlannedBind>,
    /// Pipe-mode channels the agent feeds while the program runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipes: Vec<PlannedPipe>,
}

/// A Pipe-mode channel: FIFOs `<fifo_dir>/<channel>_<epoch>`, each carrying the files of the
/// bind-like source `id` (fetched as a tar) in the order of their names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedPipe {
    /// The source's host path, base64url without padding.
    pub id: String,
    /// A read token for it.
    pub token: String,
    pub fifo_dir: String,
    pub channel: String,
    #[serde(default)]
    pub recordio: bool,
}

/// One bind: fetched before the program runs, and returned after it when writable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedBind {
    /// The host path, base64url without padding.
    pub id: String,
    /// Lets its holder read the host path, and write it too unless `read_only`.
    pub token: String,
    /// Where the content goes inside the container.
    pub path: String,
    pub read_only: bool,
    /// Returned while the program runs too, whenever its content has changed and settled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync: bool,
}

impl Plan {
    /// The URL of a bind's content.
    pub fn bind_url(&self, bind: &PlannedBind) -> String {
        self.id_url(&bind.id)
    }

    /// The URL of a host path's content, by its id.
    pub fn id_url(&self, id: &str) -> String {
        format!("{}{BINDS_PATH}{id}", self.url.trim_end_matches('/'))
    }
}

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn byte(self) -> u8 {
        match self {
            Access::Read => b'r',
            Access::Write => b'w',
        }
    }
}

/// The plan for a container spec's binds, its binds synced while it runs and its Pipe-mode
/// channels; `key` comes from `Services::agent_key`.
pub fn plan_for(spec: &crate::runtime::engine::ContainerSpec, url: &str, key: &[u8]) -> Plan {
    let mut plan = plan_for_binds(&spec.binds, url, key);
    for b in &mut plan.binds {
        b.sync = !b.read_only && spec.sync_while_running.contains(&b.path);
    }
    plan.pipes = spec
        .pipes
        .iter()
        .map(|p| PlannedPipe {
            id: encode_id(&p.source),
            token: token(key, Access::Read, &p.source),
            fifo_dir: p.fifo_dir.clone(),
            channel: p.channel.clone(),
            recordio: p.recordio,
        })
        .collect();
    plan
}

/// The plan for binds alone.
pub fn plan_for_binds(binds: &[crate::runtime::engine::Bind], url: &str, key: &[u8]) -> Plan {
    Plan {
        url: url.trim_end_matches('/').to_string(),
        binds: binds
            .iter()
            .map(|b| {
                let access = if b.read_only {
                    Access::Read
                } else {
                    Access::Write
                };
                PlannedBind {
                    id: encode_id(&b.host),
                    token: token(key, access, &b.host),
                    path: b.container.clone(),
                    read_only: b.read_only,
                    sync: false,
                }
            })
            .collect(),
        pipes: Vec::new(),
    }
}

/// The agent key of a data directory (what `Services::agent_key` answers), for tools that plan
/// without a running server.
pub fn key_of_data_dir(data_dir: &std::path::Path) -> std::io::Result<Vec<u8>> {
    Ok(crate::service::issued::IssuedCredentials::open(data_dir)?.agent_key())
}

/// `host:container` or `host:container:ro` (as `docker run -v` writes a bind), absolute paths.
pub fn parse_bind(spec: &str) -> Option<crate::runtime::engine::Bind> {
    let (rest, read_only) = match spec.strip_suffix(":ro") {
        Some(rest) => (rest, true),
        None => (spec.strip_suffix(":rw").unwrap_or(spec), false),
    };
    let (host, container) = rest.split_once(':')?;
    (host.starts_with('/') && container.starts_with('/')).then(|| crate::runtime::engine::Bind {
        host: host.to_string(),
        container: container.to_string(),
        read_only,
    })
}

pub fn encode_id(host_path: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(host_path.as_bytes())
}

/// The host path an id names; None when it is not base64url of an absolute UTF-8 path.
pub fn decode_id(id: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    let path = String::from_utf8(bytes).ok()?;
    (path.starts_with('/') && !path.contains('\0')).then_some(path)
}

fn mac(key: &[u8], access: Access, host_path: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(&[access.byte()]);
    mac.update(host_path.as_bytes());
    mac
}

pub fn token(key: &[u8], access: Access, host_path: &str) -> String {
    hex::encode(mac(key, access, host_path).finalize().into_bytes())
}

/// Whether `token` grants `wanted` on `host_path`: a write token also reads. Compared in
/// constant time.
pub fn allows(key: &[u8], token: &str, wanted: Access, host_path: &str) -> bool {
    let Ok(given) = hex::decode(token.trim()) else {
        return false;
    };
    let grants = |access| mac(key, access, host_path).verify_slice(&given).is_ok();
    match wanted {
        Access::Write => grants(Access::Write),
        // Both checked, so the time does not say which one matched.
        Access::Read => grants(Access::Read) | grants(Access::Write),
    }
}

/// The token in an `Authorization: SageboxAgent <token>` header value.
pub fn token_of_header(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case(AUTH_SCHEME)
        .then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Bind;

    fn bind(host: &str, container: &str, read_only: bool) -> Bind {
        Bind {
            host: host.into(),
            container: container.into(),
            read_only,
        }
    }

    #[test]
    fn ids_round_trip_and_refuse_what_is_not_an_absolute_path() {
        for p in ["/data/jobs/j1/input/data/train", "/a b/ü/x:y", "/"] {
            assert_eq!(decode_id(&encode_id(p)).as_deref(), Some(p));
            assert!(
                encode_id(p)
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
        assert_eq!(decode_id("not base64!"), None);
        assert_eq!(decode_id(&encode_id("relative/path")), None);
        assert_eq!(decode_id(""), None);
    }

    #[test]
    fn tokens_grant_their_path_and_mode_only() {
        let key = b"k".repeat(32);
        let plan = plan_for_binds(
            &[
                bind("/h/in", "/opt/ml/in", true),
                bind("/h/out", "/opt/ml/out", false),
            ],
            "http://host.docker.internal:4599/",
            &key,
        );
        assert_eq!(plan.url, "http://host.docker.internal:4599");
        let (r, w) = (&plan.binds[0], &plan.binds[1]);
        assert_eq!(decode_id(&r.id).as_deref(), Some("/h/in"));
        assert_eq!(
            plan.bind_url(r),
            format!(
                "http://host.docker.internal:4599/_sagebox/agent/binds/{}",
                r.id
            )
        );
        assert!(allows(&key, &r.token, Access::Read, "/h/in"));
        assert!(!allows(&key, &r.token, Access::Write, "/h/in"));
        assert!(allows(&key, &w.token, Access::Read, "/h/out"));
        assert!(allows(&key, &w.token, Access::Write, "/h/out"));
        // another path, another key, a forged or garbled token
        assert!(!allows(&key, &r.token, Access::Read, "/h"));
        assert!(!allows(&key, &w.token, Access::Write, "/h/out/x"));
        assert!(!allows(&b"x".repeat(32), &w.token, Access::Read, "/h/out"));
        assert!(!allows(&key, &"0".repeat(64), Access::Read, "/h/in"));
        assert!(!allows(&key, "zz", Access::Read, "/h/in"));
        assert!(!allows(&key, "", Access::Read, "/h/in"));
    }

    #[test]
    fn the_plan_travels_as_json_and_the_header_names_the_scheme() {
        let plan = plan_for_binds(&[bind("/h", "/c", false)], "http://x:1", b"key");
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
        assert_eq!(token_of_header("SageboxAgent abc"), Some("abc"));
        assert_eq!(token_of_header("sageboxagent  abc "), Some("abc"));
        assert_eq!(token_of_header("Bearer abc"), None);
        assert_eq!(token_of_header("SageboxAgent"), None);
        let b = parse_bind("/h/in:/opt/ml/in:ro").unwrap();
        assert_eq!(
            (b.host.as_str(), b.container.as_str(), b.read_only),
            ("/h/in", "/opt/ml/in", true)
        );
        assert!(!parse_bind("/h:/c").unwrap().read_only);
        assert!(parse_bind("h:/c").is_none());
        assert!(parse_bind("/h").is_none());
    }
}
