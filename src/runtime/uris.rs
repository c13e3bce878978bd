//! Image URIs → local images. SageMaker's built-in algorithm and framework images live in AWS
//! registries (`<account>.dkr.ecr.<region>.<dns suffix>/<repository>:<tag>`, as
//! `sagemaker.image_uris.retrieve` forms them); sagebox runs its own emulator image instead. Any
//! other reference is a bring-your-own image and is used exactly as given.

use std::fmt;

/// AWS repositories sagebox emulates, and the recipe that emulates each.
const REPOSITORIES: &[(&str, &str)] = &[
    ("linear-learner", "linear-learner"),
    ("xgboost", "xgboost"),
    ("sagemaker-xgboost", "xgboost"),
    ("sagemaker-scikit-learn", "sklearn"),
    ("kmeans", "kmeans"),
    ("pca", "pca"),
    ("pytorch-training", "pytorch"),
    ("pytorch-inference", "pytorch"),
    ("tensorflow-training", "tensorflow"),
    ("tensorflow-inference", "tensorflow"),
    ("huggingface-pytorch-training", "huggingface"),
    ("huggingface-pytorch-inference", "huggingface"),
];

/// A framework one emulator image serves: the version it has, and the major versions of
/// requests it honours (a script for another major version would not run on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framework {
    pub name: &'static str,
    pub served: &'static str,
    pub majors: &'static [u32],
    /// Why a request for another major version is refused, and what to do instead.
    pub other_majors: &'static str,
}

pub const PYTORCH: Framework = Framework {
    name: "PyTorch",
    served: "2.6.0",
    // PyTorch 2 keeps the 1.x API: 1.x scripts run unchanged.
    majors: &[1, 2],
    other_majors: "sagebox serves PyTorch 2.6.0; use framework_version 2.x (1.x scripts run on it too)",
};

pub const TENSORFLOW: Framework = Framework {
    name: "TensorFlow",
    served: "2.20.0",
    majors: &[2],
    other_majors: "TensorFlow 1 scripts (tf.Session, graph mode, tf.estimator) need TensorFlow 1, which sagebox does not have; port the script to TensorFlow 2 and use framework_version 2.x",
};

pub const TRANSFORMERS: Framework = Framework {
    name: "Transformers",
    served: "4.57.6",
    majors: &[4],
    other_majors: "sagebox serves Transformers 4; use transformers_version 4.x",
};

/// The frameworks the image of `recipe` serves (GPU variants serve the same).
pub fn frameworks(recipe: &str) -> &'static [Framework] {
    match recipe.trim_end_matches("-gpu") {
        "pytorch" => &[PYTORCH],
        "tensorflow" => &[TENSORFLOW],
        "huggingface" => &[PYTORCH, TRANSFORMERS],
        _ => &[],
    }
}

/// Whether `recipe` is a framework (script mode) image: these get the user's wheelhouse and the
/// host's Hugging Face cache.
pub fn is_framework(recipe: &str) -> bool {
    !frameworks(recipe).is_empty()
}

/// The leading dotted number of `text` ("2.1.0-cpu-py310" → "2.1.0"), if any.
fn leading_version(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let v = text[..end].trim_end_matches('.');
    v.chars().next().filter(char::is_ascii_digit).map(|_| v)
}

fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

fn minor_pair(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The framework versions an image tag asks for: `2.1.0-cpu-py310` → PyTorch 2.1.0;
/// `2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04` → PyTorch 2.1.0 and Transformers 4.36.0.
fn requested_versions(recipe: &str, tag: &str) -> Vec<(Framework, String)> {
    let mut out = Vec::new();
    for fw in frameworks(recipe) {
        let version = if *fw == TRANSFORMERS {
            tag.split_once("transformers")
                .and_then(|(_, rest)| leading_version(rest))
        } else {
            leading_version(tag)
        };
        if let Some(v) = version {
            out.push((*fw, v.to_string()));
        }
    }
    out
}

/// The tag of an image reference (`repo:tag`), or None for a digest or no tag.
fn tag_of(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once('/')?;
    if rest.contains('@') {
        return None;
    }
    rest.split_once(':').map(|(_, tag)| tag)
}

/// For a framework image URI, one line saying which real versions serve the requested ones
/// (with a warning where the request is newer than what the image has); None for other images.
pub fn served_note(uri: &str) -> Option<String> {
    let Ok(ImageChoice::Emulated { recipe }) = resolve(uri) else {
        return None;
    };
    let all = frameworks(recipe);
    if all.is_empty() {
        return None;
    }
    let requested = tag_of(uri)
        .map(|t| requested_versions(recipe, t))
        .unwrap_or_default();
    let served: Vec<String> = all
        .iter()
        .map(|f| format!("{} {}", f.name, f.served))
        .collect();
    let mut note = format!(
        "{} runs on sagebox/{recipe} ({}, Python 3.13)",
        uri.rsplit('/').next().unwrap_or(uri),
        served.join(", ")
    );
    for (fw, asked) in requested {
        if asked != fw.served {
            note.push_str(&format!(
                "; {} {asked} requested, {} served",
                fw.name, fw.served
            ));
            if minor_pair(&asked) > minor_pair(fw.served) {
                note.push_str(&format!(
                    " (WARNING: what {} added after {} is missing)",
                    fw.name, fw.served
                ));
            }
        }
    }
    Some(note)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// An AWS image that sagebox emulates with the recipe `recipe`.
    Emulated { recipe: &'static str },
    /// Not an AWS registry reference: run it as the user named it.
    AsGiven(String),
}

/// An AWS registry image that sagebox has no emulator image for, or a framework version its
/// image cannot honour (`version` says which and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAwsImage {
    pub uri: String,
    pub repository: String,
    pub version: Option<String>,
}

impl fmt::Display for UnknownAwsImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.version {
            return write!(f, "sagebox cannot run the AWS image {}: {why}.", self.uri);
        }
        let names: Vec<&str> = REPOSITORIES.iter().map(|(repo, _)| *repo).collect();
        write!(
            f,
            "sagebox has no local image for the AWS image {} (repository {}); the AWS images it emulates are: {}. To run your own image, build it locally and pass its name (e.g. my-algo:latest) instead of a registry URI.",
            self.uri,
            self.repository,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownAwsImage {}

/// The repository of an AWS registry URI (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost:1`
/// → `xgboost`), or None when `uri` is not one.
fn aws_repository(uri: &str) -> Option<&str> {
    let (host, rest) = uri.split_once('/')?;
    let mut labels = host.split('.');
    let account = labels.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !matches!(labels.next(), Some("dkr")) {
        return None;
    }
    if !matches!(labels.next(), Some("ecr" | "ecr-fips")) {
        return None;
    }
    // a region, then a DNS suffix of at least two labels (amazonaws.com, amazonaws.com.cn, c2s.ic.gov, …)
    let region = labels.next()?;
    if region.is_empty() || labels.count() < 2 {
        return None;
    }
    let repo = rest.split(['@', ':']).next()?;
    Some(repo)
}

/// What to run for the image reference a user gave (a model's Image, a training job's TrainingImage).
/// A framework image whose tag asks for a major version the emulator image does not have is refused.
pub fn resolve(uri: &str) -> Result<ImageChoice, UnknownAwsImage> {
    let Some(repo) = aws_repository(uri) else {
        return Ok(ImageChoice::AsGiven(uri.to_string()));
    };
    let refuse = |version: Option<String>| UnknownAwsImage {
        uri: uri.to_string(),
        repository: repo.to_string(),
        version,
    };
    let recipe = REPOSITORIES
        .iter()
        .find(|(r, _)| *r == repo)
        .map(|(_, recipe)| *recipe)
        .ok_or_else(|| refuse(None))?;
    for (fw, asked) in tag_of(uri)
        .map(|t| requested_versions(recipe, t))
        .unwrap_or_default()
    {
        if major(&asked).is_some_and(|m| !fw.majors.contains(&m)) {
            return Err(refuse(Some(format!(
                "it asks for {} {asked}; {}",
                fw.name, fw.other_majors
            ))));
        }
    }
    Ok(ImageChoice::Emulated { recipe })
}

/// The recipe to build for `recipe` on an instance with GPUs: its `-gpu` variant when it has one.
pub fn gpu_variant(recipe: &'static str) -> &'static str {
    super::recipes::images()
        .into_iter()
        .map(|r| r.name)
        .find(|name| name.strip_suffix("-gpu") == Some(recipe))
        .unwrap_or(recipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emulated(uri: &str) -> &'static str {
        match resolve(uri) {
            Ok(ImageChoice::Emulated { recipe }) => recipe,
            other => panic!("{uri}: {other:?}"),
        }
    }

    #[test]
    fn sdk_uris_map_to_emulator_images_in_every_partition() {
        assert_eq!(
            emulated("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"),
            "linear-learner"
        );
        assert_eq!(
            emulated("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
            "xgboost"
        );
        assert_eq!(
            emulated(
                "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
            ),
            "sklearn"
        );
        assert_eq!(
            emulated("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1"),
            "xgboost"
        );
        assert_eq!(
            emulated("226302683700.dkr.ecr.us-gov-west-1.amazonaws.com/kmeans:1"),
            "kmeans"
        );
        assert_eq!(
            emulated("490574956308.dkr.ecr.us-iso-east-1.c2s.ic.gov/pca:1"),
            "pca"
        );
        assert_eq!(
            emulated("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest"),
            "xgboost"
        );
        assert_eq!(
            emulated("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost@sha256:abc"),
            "xgboost"
        );
    }

    #[test]
    fn other_references_are_used_as_given() {
        for uri in [
            "my-algo:latest",
            "localhost:5000/team/algo:1",
            "python:3.11",
            "12345.dkr.ecr.us-east-1.amazonaws.com/x:1",
            "sagebox/xgboost:latest",
        ] {
            assert_eq!(
                resolve(uri),
                Ok(ImageChoice::AsGiven(uri.to_string())),
                "{uri}"
            );
        }
    }

    #[test]
    fn framework_images_map_with_their_versions_checked() {
        let dlc = "763104351884.dkr.ecr.us-east-1.amazonaws.com";
        for (repo, tag, recipe) in [
            ("pytorch-training", "2.1.0-cpu-py310", "pytorch"),
            (
                "pytorch-training",
                "2.1.0-gpu-py310-cu121-ubuntu20.04-sagemaker",
                "pytorch",
            ),
            ("pytorch-inference", "1.13.1-cpu-py39", "pytorch"),
            ("tensorflow-training", "2.13.0-cpu-py310", "tensorflow"),
            ("tensorflow-inference", "2.13-gpu", "tensorflow"),
            (
                "huggingface-pytorch-training",
                "2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04",
                "huggingface",
            ),
            (
                "huggingface-pytorch-inference",
                "2.1.0-transformers4.37.0-cpu-py310-ubuntu22.04",
                "huggingface",
            ),
        ] {
            assert_eq!(
                emulated(&format!("{dlc}/{repo}:{tag}")),
                recipe,
                "{repo}:{tag}"
            );
        }
        assert_eq!(
            emulated(
                "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training:2.3-cpu-py311"
            ),
            "pytorch"
        );
        let err = resolve(&format!("{dlc}/tensorflow-training:1.15.5-cpu-py37")).expect_err("tf1");
        let msg = err.to_string();
        assert!(
            msg.contains("TensorFlow 1.15.5") && msg.contains("framework_version 2.x"),
            "{msg}"
        );
        let err = resolve(&format!(
            "{dlc}/huggingface-pytorch-training:1.13.1-transformers5.0.0-cpu-py39"
        ))
        .expect_err("transformers 5");
        assert!(err.to_string().contains("Transformers 5.0.0"), "{err}");
        assert!(
            resolve(&format!(
                "{dlc}/huggingface-tensorflow-training:2.11-transformers4.26-cpu-py39"
            ))
            .is_err()
        );
    }

    #[test]
    fn the_served_note_names_both_versions() {
        let dlc = "763104351884.dkr.ecr.us-west-2.amazonaws.com";
        let note = served_note(&format!("{dlc}/pytorch-training:2.1.0-cpu-py310")).expect("note");
        assert!(
            note.contains("PyTorch 2.1.0 requested, 2.6.0 served"),
            "{note}"
        );
        assert!(!note.contains("WARNING"), "{note}");
        let note = served_note(&format!("{dlc}/pytorch-training:2.8.0-cpu-py312")).expect("note");
        assert!(note.contains("WARNING"), "{note}");
        assert_eq!(
            served_note(&format!("{dlc}/pytorch-training:2.6.0-cpu-py312"))
                .map(|n| n.contains("requested")),
            Some(false)
        );
        assert_eq!(
            served_note("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
            None
        );
        assert_eq!(served_note("my-image:1"), None);
    }

    #[test]
    fn unknown_aws_algorithms_list_what_is_available() {
        let err = resolve(
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
        )
        .expect_err("no djl image");
        assert_eq!(err.repository, "djl-inference");
        let msg = err.to_string();
        assert!(
            msg.contains("sagemaker-xgboost") && msg.contains("linear-learner"),
            "{msg}"
        );
    }
}
