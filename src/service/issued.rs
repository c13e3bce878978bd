//! The credentials sagebox hands to the containers it starts (training, processing, transform,
//! endpoints, notebook instances). The Docker bridge listener answers only requests signed with
//! them, so a container that sagebox did not start cannot act as the user, in either auth mode.
//! One pair per data directory, derived from a private key kept there: every container sagebox
//! runs carries the same user's code and rights, so a pair per resource would add bookkeeping
//! without keeping anyone out who is not already the user.

use std::path::Path;

use base64::Engine;

#[derive(Clone, Debug)]
pub struct IssuedCredentials {
    access_key: String,
    secret: String,
    /// Signs the in-task agent's bind tokens (see `crate::agent::plan`); derived apart from the
    /// pair, so a token never reveals the secret and the secret never forges a token.
    agent_key: Vec<u8>,
}

impl IssuedCredentials {
    /// The pair of `<data-dir>/container-key`, made on first start.
    pub fn open(data_dir: &Path) -> std::io::Result<IssuedCredentials> {
        let key = super::notebooks::access::private_key(data_dir, "container-key")?;
        Ok(IssuedCredentials::from_key(&key))
    }

    fn from_key(key: &[u8; 32]) -> IssuedCredentials {
        let mac = |label: &str| crate::aws::sigv4::hmac(key, label.as_bytes());
        let id = hex::encode_upper(&mac("access-key-id")[..8]);
        let secret = base64::engine::general_purpose::STANDARD.encode(mac("secret-access-key"));
        IssuedCredentials {
            // 20 characters, as AWS access key ids are.
            access_key: format!("ASBX{id}"),
            secret: secret[..40].to_string(),
            agent_key: mac("sagebox-agent"),
        }
    }

    /// `(access key id, secret access key)`.
    pub fn pair(&self) -> (String, String) {
        (self.access_key.clone(), self.secret.clone())
    }

    /// The key the in-task agent's bind tokens are signed with.
    pub fn agent_key(&self) -> Vec<u8> {
        self.agent_key.clone()
    }

    pub fn secret_of(&self, access_key: &str) -> Option<String> {
        (access_key == self.access_key).then(|| self.secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_is_kept_with_the_data_dir_and_differs_between_data_dirs() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = IssuedCredentials::open(a.path()).unwrap().pair();
        assert_eq!(IssuedCredentials::open(a.path()).unwrap().pair(), first);
        assert_ne!(IssuedCredentials::open(b.path()).unwrap().pair(), first);
        assert_eq!(first.0.len(), 20);
        assert_eq!(first.1.len(), 40);
        let issued = IssuedCredentials::open(a.path()).unwrap();
        assert_eq!(issued.secret_of(&first.0), Some(first.1));
        assert_eq!(issued.secret_of("sagebox"), None);
        assert_eq!(issued.agent_key().len(), 32);
        assert_eq!(
            IssuedCredentials::open(a.path()).unwrap().agent_key(),
            issued.agent_key()
        );
        assert_ne!(
            IssuedCredentials::open(b.path()).unwrap().agent_key(),
            issued.agent_key()
        );
    }
}
