//! The emulator-image recipes embedded in the binary (emulator-images/, see its README) and their
//! content hashes. A recipe's hash names its image (`sagebox/<name>:<hash12>`) and is stored in the
//! image's `sagebox.recipe-hash` label, so an image is rebuilt only when its recipe changed.

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/recipes.rs"));

/// The base every image is built on unless its folder names another parent (a Debian rootfs,
/// not a Dockerfile). Its `overlay/` is copied into every base.
pub const BASE: &str = "base";

/// One recipe folder: a base (packages.txt, no Dockerfile) or an image with a Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    pub name: &'static str,
}

/// Folder names holding `file` directly, sorted and deduplicated.
fn folders_with(file: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = RECIPE_FILES
        .iter()
        .filter_map(|(rel, _)| rel.strip_suffix(file)?.strip_suffix('/'))
        .filter(|name| !name.contains('/'))
        .collect();
    names.sort();
    names.dedup();
    names
}

impl Recipe {
    /// The recipe called `name`, if the binary has one.
    pub fn get(name: &str) -> Option<Recipe> {
        bases().into_iter().chain(images()).find(|r| r.name == name)
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

    /// The first non-comment line of a one-line file of the folder (`suite`, `parent`).
    fn setting(&self, rel: &str) -> Option<&'static str> {
        let text = std::str::from_utf8(self.file(rel)?).ok()?;
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .find(|l| !l.is_empty())
    }

    /// A Debian rootfs made by mmdebstrap rather than a `docker build`.
    pub fn is_base(&self) -> bool {
        self.file("Dockerfile").is_none()
    }

    /// The Debian suite of a base (its `suite` file; bookworm when absent).
    pub fn suite(&self) -> &'static str {
        self.setting("suite").unwrap_or("bookworm")
    }

    /// The image an image recipe is built on (its `parent` file; `base` when absent). Bases have none.
    pub fn parent(&self) -> Option<Recipe> {
        if self.is_base() {
            return None;
        }
        Recipe::get(self.setting("parent").unwrap_or(BASE))
    }

    /// The base at the root of this recipe's parent chain.
    pub fn root(&self) -> Recipe {
        let mut r = *self;
        // A cycle of parents is a recipe bug; the depth bound keeps it from hanging.
        for _ in 0..16 {
            match r.parent() {
                Some(p) => r = p,
                None => break,
            }
        }
        r
    }

    /// The CPython version of the image (what its wheelhouse is fetched for): the root base's.
    pub fn python(&self) -> &'static str {
        match self.root().suite() {
            "trixie" => "3.13",
            _ => "3.11",
        }
    }

    /// Built only when named or needed (GPU variants), never by `sagebox images build` alone.
    pub fn on_demand(&self) -> bool {
        self.file("on-demand").is_some()
    }

    /// The files every base gets copied in over its rootfs: `base/overlay/`.
    pub fn overlay() -> Vec<(&'static str, &'static [u8])> {
        Recipe { name: BASE }
            .files()
            .into_iter()
            .filter_map(|(rel, b)| rel.strip_prefix("overlay/").map(|r| (r, b)))
            .collect()
    }

    /// SHA-256 over the folder: for each file in path order, its path, a NUL and the SHA-256 of
    /// its contents, seeded with the parent's hash (an image) or with `base`'s (another base,
    /// which shares its overlay), so a changed parent rebuilds its children.
    pub fn hash(&self) -> String {
        let seed = match self.parent() {
            Some(parent) => parent.hash(),
            None if self.name == BASE => String::new(),
            None => Recipe { name: BASE }.hash(),
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

    /// The Debian packages of a base rootfs (packages.txt: one or more per line, `#` comments).
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

/// Every base (folders with packages.txt and no Dockerfile), `base` first.
pub fn bases() -> Vec<Recipe> {
    let mut names: Vec<&'static str> = folders_with("packages.txt")
        .into_iter()
        .filter(|n| Recipe { name: n }.is_base())
        .collect();
    names.sort_by_key(|n| (*n != BASE, *n));
    names.into_iter().map(|name| Recipe { name }).collect()
}

/// Every image recipe (folders with a Dockerfile), in name order; bases are not among them.
pub fn images() -> Vec<Recipe> {
    folders_with("Dockerfile")
        .into_iter()
        .map(|name| Recipe { name })
        .collect()
}

/// The images `sagebox images build` builds when no name is given (not the on-demand ones).
pub fn defaults() -> Vec<Recipe> {
    images().into_iter().filter(|r| !r.on_demand()).collect()
}

/// A key that changes when any default image would change (each recipe's hash covers its
/// parents and base): CI caches of `docker save` archives are named by it.
pub fn defaults_key() -> String {
    let mut h = Sha256::new();
    for r in defaults() {
        h.update(r.name.as_bytes());
        h.update([0u8]);
        h.update(r.hash().as_bytes());
        h.update([b'\n']);
    }
    hex::encode(h.finalize())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_key_is_stable_and_covers_no_on_demand_image() {
        let key = defaults_key();
        assert_eq!(key.len(), 16);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, defaults_key());
        assert!(defaults().iter().all(|r| !r.on_demand()));
        assert!(defaults().iter().any(|r| r.name == "xgboost"));
    }

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
        assert_eq!(x.parent(), Recipe::get(BASE));
        assert_eq!(x.python(), "3.11");
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

    #[test]
    fn the_framework_base_is_trixie_and_shares_the_overlay() {
        let fw = Recipe::get("base-frameworks").expect("base-frameworks");
        assert!(fw.is_base());
        assert_eq!(fw.suite(), "trixie");
        assert_eq!(Recipe::get(BASE).expect("base").suite(), "bookworm");
        assert_eq!(bases()[0].name, BASE);
        assert!(fw.packages().contains(&"python3-torch".to_string()));
        assert!(
            Recipe::overlay()
                .iter()
                .any(|(rel, _)| rel.ends_with("sagebox_container/cli.py"))
        );
        assert_ne!(fw.hash(), Recipe::get(BASE).expect("base").hash());
        assert!(images().iter().all(|r| r.name != "base-frameworks"));
    }
}
