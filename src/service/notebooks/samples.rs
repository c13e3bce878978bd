//! What ships inside the binary for workshops without a network: the example notebooks
//! (fixtures/notebooks, mounted read-only into every notebook instance) and the sample bucket
//! `sagemaker-sample-files` (fixtures/samples), holding real datasets at the keys the official
//! SageMaker examples read. Where a substitute dataset stands in for the original, the object's
//! `x-amz-meta-source` says so.

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
    bucket: String,
    objects: Vec<SampleObject>,
}

#[derive(Debug, Deserialize)]
struct SampleObject {
    key: String,
    file: String,
    content_type: String,
    source: String,
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
    /// Creates the sample bucket and any of its objects that are missing (objects a user
    /// replaced are left alone). Returns how many objects were written.
    pub async fn seed_samples(&self) -> Result<usize, ObjectError> {
        let Some(m) = manifest() else {
            return Ok(0);
        };
        match self.objects.create_bucket(&m.bucket, None).await {
            Ok(()) | Err(ObjectError::BucketAlreadyOwnedByYou) => {}
            Err(e) => return Err(e),
        }
        let mut written = 0;
        for o in m.objects {
            match self.objects.object(&m.bucket, &o.key).await {
                Ok(_) => continue,
                Err(ObjectError::NoSuchKey) => {}
                Err(e) => return Err(e),
            }
            let Some((_, bytes)) = SAMPLE_FILES.iter().find(|(p, _)| *p == o.file) else {
                tracing::warn!("sample manifest names {} which is not embedded", o.file);
                continue;
            };
            let mut meta = ObjectMeta {
                content_type: Some(o.content_type.clone()),
                ..Default::default()
            };
            meta.user.insert("source".into(), o.source.clone());
            self.objects
                .put_bytes(&m.bucket, &o.key, Bytes::from_static(bytes), meta)
                .await?;
            written += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_entry_is_embedded() {
        if let Some(m) = manifest() {
            assert_eq!(m.bucket, "sagemaker-sample-files");
            for o in &m.objects {
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
