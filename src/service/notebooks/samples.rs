//! What ships inside the binary for workshops without a network: the example notebooks
//! (fixtures/notebooks, mounted read-only into every notebook instance) and the public sample
//! buckets the official SageMaker examples read (`sagemaker-sample-files`,
//! `sagemaker-example-files-prod-<region>`, `example-notebooks-data-config`; fixtures/samples),
//! holding real datasets at the keys those examples read. Where a substitute dataset stands in for
//! the original, the object's `x-amz-meta-source` says so.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;

use crate::service::Services;
use crate::service::objects::ObjectError;
use crate::store::objects::ObjectMeta;

include!(concat!(env!("OUT_DIR"), "/example_notebooks.rs"));
include!(concat!(env!("OUT_DIR"), "/sample_files.rs"));

#[derive(Debug, Deserialize)]
struct Manifest {
    objects: Vec<SampleObject>,
}

#[derive(Debug, Deserialize)]
struct SampleObject {
    key: String,
    file: String,
    content_type: String,
    source: String,
    /// The buckets the object goes to; `{region}` stands for the configured region.
    buckets: Vec<String>,
}

/// The bucket name a manifest entry means in `region`.
fn bucket_name(pattern: &str, region: &str) -> String {
    pattern.replace("{region}", region)
}

fn manifest() -> Option<Manifest> {
    let (_, bytes) = SAMPLE_FILES.iter().find(|(p, _)| *p == "manifest.json")?;
    match serde_json::from_slice(bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!("the embedded sample manifest is unreadable: {e}");
            None
        }
    }
}

/// Writes the example notebooks to `<data>/notebooks/examples` (again at every start, so an
/// upgraded sagebox brings its own); returns the folder.
pub fn write_examples(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("notebooks").join("examples");
    for (rel, bytes) in EXAMPLE_NOTEBOOKS {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read(&path).ok().as_deref() != Some(*bytes) {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
        }
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl Services {
    /// Creates the sample buckets and any of their objects that are missing: an object a user
    /// replaced is left alone, one they deleted comes back at the next start, a bucket that
    /// exists is reused. Returns how many objects were written.
    pub async fn seed_samples(&self) -> Result<usize, ObjectError> {
        let Some(m) = manifest() else {
            return Ok(0);
        };
        let mut ready: Vec<String> = Vec::new();
        let mut missing = Vec::new();
        for o in &m.objects {
            let Some((_, bytes)) = SAMPLE_FILES.iter().find(|(p, _)| *p == o.file) else {
                tracing::warn!("sample manifest names {} which is not embedded", o.file);
                continue;
            };
            for pattern in &o.buckets {
                let bucket = bucket_name(pattern, &self.config.region);
                if !ready.contains(&bucket) {
                    match self.objects.create_bucket(&bucket, None).await {
                        Ok(()) | Err(ObjectError::BucketAlreadyOwnedByYou) => {}
                        Err(e) => return Err(e),
                    }
                    ready.push(bucket.clone());
                }
                match self.objects.object(&bucket, &o.key).await {
                    Ok(_) => continue,
                    Err(ObjectError::NoSuchKey) => {}
                    Err(e) => return Err(e),
                }
                let mut meta = ObjectMeta {
                    content_type: Some(o.content_type.clone()),
                    ..Default::default()
                };
                meta.user.insert("source".into(), o.source.clone());
                missing.push((bucket, o.key.as_str(), *bytes, meta));
            }
        }
        // Written together, so the object store's group commit shares their syncs: a first start
        // writes every object of every bucket.
        let written = missing.len();
        let writes = missing
            .into_iter()
            .map(|(bucket, key, bytes, meta)| async move {
                self.objects
                    .put_bytes(&bucket, key, Bytes::from_static(bytes), meta)
                    .await
            });
        futures_util::future::try_join_all(writes).await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_entry_is_embedded() {
        if let Some(m) = manifest() {
            for o in &m.objects {
                assert!(!o.buckets.is_empty(), "{} goes to no bucket", o.key);
                assert!(
                    SAMPLE_FILES.iter().any(|(p, _)| *p == o.file),
                    "{} is not embedded",
                    o.file
                );
                assert!(o.source.is_ascii() && o.source.len() < 200);
            }
        }
    }

    #[test]
    fn region_buckets_follow_the_configured_region() {
        assert_eq!(
            bucket_name("sagemaker-example-files-prod-{region}", "eu-west-1"),
            "sagemaker-example-files-prod-eu-west-1"
        );
        assert_eq!(
            bucket_name("sagemaker-sample-files", "eu-west-1"),
            "sagemaker-sample-files"
        );
    }

    #[test]
    fn examples_are_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_examples(dir.path()).unwrap();
        let again = write_examples(dir.path()).unwrap();
        assert_eq!(out, again);
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            EXAMPLE_NOTEBOOKS
                .iter()
                .filter(|(p, _)| !p.contains('/'))
                .count()
        );
    }
}
