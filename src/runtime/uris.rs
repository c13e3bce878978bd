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
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// An AWS image that sagebox emulates with the recipe `recipe`.
    Emulated { recipe: &'static str },
    /// Not an AWS registry reference: run it as the user named it.
    AsGiven(String),
}

/// An AWS registry image that sagebox has no emulator image for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAwsImage {
    pub uri: String,
    pub repository: String,
}

impl fmt::Display for UnknownAwsImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
pub fn resolve(uri: &str) -> Result<ImageChoice, UnknownAwsImage> {
    match aws_repository(uri) {
        None => Ok(ImageChoice::AsGiven(uri.to_string())),
        Some(repo) => REPOSITORIES
            .iter()
            .find(|(r, _)| *r == repo)
            .map(|(_, recipe)| ImageChoice::Emulated { recipe })
            .ok_or_else(|| UnknownAwsImage {
                uri: uri.to_string(),
                repository: repo.to_string(),
            }),
    }
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
    fn unknown_aws_algorithms_list_what_is_available() {
        let err = resolve("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1")
            .expect_err("no pytorch image");
        assert_eq!(err.repository, "pytorch-training");
        let msg = err.to_string();
        assert!(
            msg.contains("sagemaker-xgboost") && msg.contains("linear-learner"),
            "{msg}"
        );
    }
}
