//! Returning a directory so that sagebox's copy becomes what the container has: files the
//! program deleted go on sagebox's side too (a notebook's home, a checkpoint directory), and a
//! bind mounted inside another (a channel in /opt/ml, the examples in a notebook's home) is
//! neither sent back with its parent nor deleted from it. The agent names those nested paths in
//! the `X-Sagebox-Bind-Keep` header (base64url of a JSON list), and asks for the mirror with
//! `X-Sagebox-Bind-Mirror: 1`.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use base64::Engine;

/// Asks sagebox to remove what the archive does not hold.
pub const MIRROR_HEADER: &str = "x-sagebox-bind-mirror";
/// The relative paths a mirrored return keeps (other binds' places).
pub const KEEP_HEADER: &str = "x-sagebox-bind-keep";

/// The binds mounted strictly inside `parent` (container paths), relative to it.
pub fn nested<'a>(parent: &str, paths: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    let parent = Path::new(parent);
    paths
        .into_iter()
        .filter_map(|p| Path::new(p).strip_prefix(parent).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect()
}

pub fn encode_keep(keep: &[PathBuf]) -> String {
    let list: Vec<String> = keep.iter().map(|p| p.display().to_string()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&list).unwrap_or_default())
}

/// The kept paths of a header value; None when it is not a list of plain relative paths.
pub fn decode_keep(value: &str) -> Option<Vec<PathBuf>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim())
        .ok()?;
    let list: Vec<String> = serde_json::from_slice(&bytes).ok()?;
    list.into_iter()
        .map(|p| {
            let path = PathBuf::from(p);
            let plain = !path.as_os_str().is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_)));
            plain.then_some(path)
        })
        .collect()
}

/// Removes every entry under `dest` that is not in `seen` (relative paths), except the kept
/// paths, what is under them and the directories above them. Never follows a symlink.
pub fn remove_others(dest: &Path, seen: &HashSet<PathBuf>, keep: &[PathBuf]) -> io::Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(dest.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = rel.join(entry.file_name());
            if keep.iter().any(|k| name.starts_with(k)) {
                continue;
            }
            let is_dir = entry.file_type()?.is_dir();
            if seen.contains(&name) || keep.iter().any(|k| k.starts_with(&name)) {
                if is_dir {
                    stack.push(name);
                }
                continue;
            }
            let path = dest.join(&name);
            let removed = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_binds_are_found_relative_to_their_parent() {
        let paths = [
            "/opt/ml",
            "/opt/ml/checkpoints",
            "/opt/ml/input/data/train",
            "/opt/mlx",
            "/home",
        ];
        assert_eq!(
            nested("/opt/ml", paths),
            vec![
                PathBuf::from("checkpoints"),
                PathBuf::from("input/data/train")
            ]
        );
        assert!(nested("/home", paths).is_empty());
    }

    #[test]
    fn kept_paths_travel_and_bad_ones_are_refused() {
        let keep = vec![PathBuf::from("a/b"), PathBuf::from("ü c")];
        assert_eq!(decode_keep(&encode_keep(&keep)), Some(keep));
        for bad in [
            r#"["../x"]"#,
            r#"["/abs"]"#,
            r#"[""]"#,
            r#"["a/../b"]"#,
            "{}",
        ] {
            let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bad);
            assert_eq!(decode_keep(&value), None, "{bad}");
        }
        assert_eq!(decode_keep("not base64!"), None);
    }

    #[test]
    fn what_the_archive_lacks_goes_but_kept_places_stay() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "a",
            "gone",
            "sub/b",
            "sub/gone",
            "input/data/train/x",
            "ckpt/c",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"1").unwrap();
        }
        std::fs::create_dir_all(d.join("olddir/deep")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("link")).unwrap();
        let seen: HashSet<PathBuf> = ["a", "sub", "sub/b"].iter().map(PathBuf::from).collect();
        let keep = [PathBuf::from("input/data/train"), PathBuf::from("ckpt")];
        remove_others(d, &seen, &keep).unwrap();
        fn files(root: &Path, rel: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(root.join(rel)).unwrap().flatten() {
                let name = rel.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    files(root, &name, out);
                } else {
                    out.push(name.display().to_string());
                }
            }
        }
        let mut left = Vec::new();
        files(d, Path::new(""), &mut left);
        left.sort();
        assert_eq!(left, ["a", "ckpt/c", "input/data/train/x", "sub/b"]);
        assert!(!d.join("olddir").exists() && !d.join("link").exists());
        assert!(std::path::Path::new("/etc").exists());
    }
}
