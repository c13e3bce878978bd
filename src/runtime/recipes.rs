//! The emulator-image recipes embedded in the binary (emulator-images/, see its README) and their
//! content hashes. A recipe's hash names its image (`sagebox/<name>:<hash12>`) and is stored in the
//! image's `sagebox.recipe-hash` label, so an image is rebuilt only when its recipe changed.

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/recipes.rs"));

/// The shared base every image is built on (a Debian rootfs, not a Dockerfile).
pub const BASE: &str = "base";

/// One recipe folder: `base` or an image with a Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    pub name: &'static str,
}

impl Recipe {
    /// The recipe called `name`, if the binary has one.
    pub fn get(name: &str) -> Option<Recipe> {
        if name == BASE {
            return Some(Recipe { name: BASE });
        }
        images().into_iter().find(|r| r.name == name)
    }

    /// Files of this recipe as (path relative to its folder, contents), sorted by path.
    pub fn files(&self) -> Vec<(&'static str, &'static [u8])> {
        let prefix_len = self.name.len() + 1;
        RECIPE_FILES
            .iter()
            .filter(|(rel, _)| {
                rel.len() > prefix_len
                    && rel.starts_with(self.name)
                    && rel.as_bytes()[self.name.len()] == b'/'
            })
            .map(|(rel, bytes)| (&rel[prefix_len..], *bytes))
            .collect()
    }

    pub fn file(&self, rel: &str) -> Option<&'static [u8]> {
        self.files()
            .into_iter()
            .find(|(r, _)| *r == rel)
            .map(|(_, b)| b)
    }

    /// SHA-256 over the folder: for each file in path order, its path, a NUL and the SHA-256 of
    /// its contents; an image's hash is seeded with the base's hash, so a new base rebuilds all.
    pub fn hash(&self) -> String {
        let seed = if self.name == BASE {
            String::new()
        } else {
            Recipe { name: BASE }.hash()
        };
        let mut h = Sha256::new();
        h.update(seed.as_bytes());
        for (rel, bytes) in self.files() {
            h.update(rel.as_bytes());
            h.update([0u8]);
            h.update(Sha256::digest(bytes));
        }
        hex::encode(h.finalize())
    }

    /// The image reference this recipe builds: `sagebox/<name>:<first 12 hex digits of the hash>`.
    pub fn reference(&self) -> String {
        format!("sagebox/{}:{}", self.name, &self.hash()[..12])
    }

    /// The moving tag users and image-URI mapping refer to.
    pub fn latest(&self) -> String {
        format!("sagebox/{}:latest", self.name)
    }

    /// The Debian packages of the base rootfs (packages.txt: one or more per line, `#` comments).
    pub fn packages(&self) -> Vec<String> {
        let text = self
            .file("packages.txt")
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        text.lines()
            .flat_map(|line| {
                line.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Every image recipe (folders with a Dockerfile), in name order; `base` is not among them.
pub fn images() -> Vec<Recipe> {
    let mut names: Vec<&'static str> = RECIPE_FILES
        .iter()
        .filter_map(|(rel, _)| rel.strip_suffix("/Dockerfile"))
        .filter(|name| !name.contains('/'))
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(|name| Recipe { name }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipes_of_the_issue_are_embedded() {
        let names: Vec<_> = images().iter().map(|r| r.name).collect();
        for want in ["xgboost", "linear-learner", "sklearn", "jupyter"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.contains(&BASE));
    }

    #[test]
    fn base_packages_are_read_without_comments() {
        let pkgs = Recipe::get(BASE).expect("base").packages();
        assert!(pkgs.contains(&"python3".to_string()));
        assert!(pkgs.iter().all(|p| !p.starts_with('#')));
    }

    #[test]
    fn image_hash_depends_on_the_base() {
        let x = Recipe::get("xgboost").expect("xgboost");
        assert_ne!(x.hash(), Recipe::get(BASE).expect("base").hash());
        assert_eq!(x.hash(), x.hash());
        assert!(x.reference().starts_with("sagebox/xgboost:"));
        assert_eq!(x.reference().len(), "sagebox/xgboost:".len() + 12);
    }

    #[test]
    fn files_are_relative_to_their_folder() {
        let files = Recipe::get("xgboost").expect("xgboost").files();
        assert!(files.iter().any(|(rel, _)| *rel == "Dockerfile"));
        // "sklearn" must not pick up files of a hypothetical "sklearn-extra" folder or vice versa
        assert!(files.iter().all(|(rel, _)| !rel.starts_with('/')));
    }
}
