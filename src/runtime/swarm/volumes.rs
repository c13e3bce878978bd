//! Named volumes on the swarm (a notebook instance's or a Studio user's home): no node keeps
//! one, as a task may run on any node and a node may go. A volume is a directory on sagebox's
//! own disk, `<data-dir>/swarm-volumes/<name>`, with its labels beside it in
//! `<name>.labels.json` (so `purge` finds an owner's volumes); a container's bind to it is a
//! writable bind of that directory, which the in-task agent fetches before the program runs and
//! returns when it exits (and, as one of the spec's `sync_while_running`, while it runs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::runtime::engine::{ContainerSpec, EngineError, OWNER_LABEL};

/// The folder of the data directory that holds the swarm's named volumes.
pub const VOLUMES_DIR: &str = "swarm-volumes";

const LABELS_SUFFIX: &str = ".labels.json";

/// Where the named volumes of the sagebox with data directory `data_dir` live (absolute, as
/// the agent's bind ids are absolute host paths).
pub fn root_of(data_dir: &Path) -> PathBuf {
    std::path::absolute(data_dir)
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .join(VOLUMES_DIR)
}

/// Whether a bind's host side names a volume rather than a host path.
pub fn is_named_volume(host: &str) -> bool {
    !host.starts_with('/')
}

/// The directory of the volume `name` under `root`; None for a name Docker would refuse
/// (`[A-Za-z0-9][A-Za-z0-9_.-]*`), so no name can reach outside `root`.
pub fn dir_of(root: &Path, name: &str) -> Option<PathBuf> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (first_ok && rest_ok).then(|| root.join(name))
}

fn labels_file(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{name}{LABELS_SUFFIX}"))
}

fn refused(name: &str) -> EngineError {
    EngineError::Other(format!(
        "{name:?} is not a volume name ([A-Za-z0-9][A-Za-z0-9_.-]*)"
    ))
}

fn io_error(what: &Path, e: &std::io::Error) -> EngineError {
    EngineError::Other(format!("{}: {e}", what.display()))
}

/// The spec with each named volume bound as its directory under `root`, and the container
/// paths of the writable ones added to `sync_while_running`. A spec without named volumes
/// comes back as it was; one with them and no `root` (a sagebox without a data directory) or
/// with a name no volume can have is refused.
pub fn map_binds(spec: &ContainerSpec, root: Option<&Path>) -> Result<ContainerSpec, EngineError> {
    let mut mapped = spec.clone();
    for bind in &mut mapped.binds {
        if !is_named_volume(&bind.host) {
            continue;
        }
        let root = root.ok_or_else(|| {
            EngineError::Other(format!(
                "the volume {}: this sagebox has no data directory to keep the swarm's volumes in",
                bind.host
            ))
        })?;
        let dir = dir_of(root, &bind.host).ok_or_else(|| refused(&bind.host))?;
        bind.host = dir.display().to_string();
        if !bind.read_only && !mapped.sync_while_running.contains(&bind.container) {
            mapped.sync_while_running.push(bind.container.clone());
        }
    }
    Ok(mapped)
}

/// The host directories of the spec's named-volume binds (after `map_binds`: those under
/// `root`), made if missing so that the agent finds them.
pub fn ensure_dirs(spec: &ContainerSpec, root: &Path) -> Result<(), EngineError> {
    for bind in &spec.binds {
        let dir = Path::new(&bind.host);
        if dir.starts_with(root) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        }
    }
    Ok(())
}

/// Creates the volume's directory (an existing one is reused, its content kept) and writes its
/// labels beside it.
pub fn create(
    root: &Path,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(), EngineError> {
    let dir = dir_of(root, name).ok_or_else(|| refused(name))?;
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    let file = labels_file(root, name);
    let body = serde_json::to_vec_pretty(labels)
        .map_err(|e| EngineError::Other(format!("the labels of the volume {name}: {e}")))?;
    std::fs::write(&file, body).map_err(|e| io_error(&file, &e))
}

/// Removes the volume's directory and its labels; one that is gone already is fine.
pub async fn remove(root: &Path, name: &str) -> Result<(), EngineError> {
    let dir = dir_of(root, name).ok_or_else(|| refused(name))?;
    for (path, is_dir) in [(dir, true), (labels_file(root, name), false)] {
        let removed = if is_dir {
            tokio::fs::remove_dir_all(&path).await
        } else {
            tokio::fs::remove_file(&path).await
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&path, &e));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The names of the volumes under `root` whose labels say `owner` made them.
pub fn owned_by(root: &Path, owner: &str) -> Result<Vec<String>, EngineError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(root, &e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let file = entry.file_name().into_string().ok()?;
            let name = file.strip_suffix(LABELS_SUFFIX)?;
            let labels: HashMap<String, String> =
                serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()?;
            (labels.get(OWNER_LABEL).map(String::as_str) == Some(owner)).then(|| name.to_string())
        })
        .collect();
    names.sort();
    Ok(names)
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
    fn a_volume_name_maps_to_a_directory_under_the_root_and_nothing_else_does() {
        let root = Path::new("/data/swarm-volumes");
        assert_eq!(
            dir_of(root, "sagebox-notebook-o1-my-nb").as_deref(),
            Some(Path::new("/data/swarm-volumes/sagebox-notebook-o1-my-nb"))
        );
        assert_eq!(
            dir_of(root, "a_b.c-1").as_deref(),
            Some(Path::new("/data/swarm-volumes/a_b.c-1"))
        );
        for bad in [
            "", "..", ".hidden", "-x", "a/b", "../etc", "a b", "x\0y", "é",
        ] {
            assert_eq!(dir_of(root, bad), None, "{bad:?}");
        }
        assert!(is_named_volume("sagebox-notebook-o1-nb"));
        assert!(!is_named_volume("/data/notebooks/nb/setup"));
        assert!(root_of(Path::new("rel/data")).is_absolute());
        assert!(root_of(Path::new("/d")).ends_with("d/swarm-volumes"));
    }

    #[test]
    fn named_volumes_become_synced_binds_of_their_directories_and_host_paths_stay() {
        let spec = ContainerSpec {
            binds: vec![
                bind("sagebox-notebook-o1-nb", "/home/ec2-user/SageMaker", false),
                bind(
                    "/data/examples",
                    "/home/ec2-user/SageMaker/SageMaker Examples",
                    true,
                ),
                bind("/data/out", "/opt/ml/model", false),
                bind("shared-ro", "/mnt/ro", true),
            ],
            ..Default::default()
        };
        let root = Path::new("/data/swarm-volumes");
        let mapped = map_binds(&spec, Some(root)).expect("mapped");
        assert_eq!(
            mapped.binds,
            vec![
                bind(
                    "/data/swarm-volumes/sagebox-notebook-o1-nb",
                    "/home/ec2-user/SageMaker",
                    false
                ),
                bind(
                    "/data/examples",
                    "/home/ec2-user/SageMaker/SageMaker Examples",
                    true
                ),
                bind("/data/out", "/opt/ml/model", false),
                bind("/data/swarm-volumes/shared-ro", "/mnt/ro", true),
            ]
        );
        // the writable volume's content reaches sagebox while the program runs; a plain
        // writable bind (a model) and a read-only volume do not need to
        assert_eq!(mapped.sync_while_running, vec!["/home/ec2-user/SageMaker"]);
        // mapping twice changes nothing more, and one already synced is not listed twice
        let again = map_binds(&mapped, Some(root)).expect("again");
        assert_eq!(again.binds, mapped.binds);
        assert_eq!(again.sync_while_running, mapped.sync_while_running);

        let plain = ContainerSpec {
            binds: vec![bind("/data/out", "/opt/ml/model", false)],
            ..Default::default()
        };
        let same = map_binds(&plain, None).expect("no volume, no root needed");
        assert_eq!(same.binds, plain.binds);
        assert!(same.sync_while_running.is_empty());
        assert!(map_binds(&spec, None).is_err(), "a volume needs a root");
        let bad = ContainerSpec {
            binds: vec![bind("../escape", "/x", false)],
            ..Default::default()
        };
        assert!(map_binds(&bad, Some(root)).is_err());
    }

    #[tokio::test]
    async fn volumes_are_created_found_by_owner_and_removed_with_their_labels() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join(VOLUMES_DIR);
        let labels = |owner: &str| HashMap::from([(OWNER_LABEL.to_string(), owner.to_string())]);
        create(&root, "v1", &labels("o1")).expect("v1");
        create(&root, "v2", &labels("o2")).expect("v2");
        create(&root, "v3", &labels("o1")).expect("v3");
        std::fs::write(root.join("v1").join("kept.txt"), "work").expect("write");
        // created again (a start after a stop): the content stays
        create(&root, "v1", &labels("o1")).expect("v1 again");
        assert_eq!(
            std::fs::read_to_string(root.join("v1/kept.txt")).expect("kept"),
            "work"
        );
        assert_eq!(owned_by(&root, "o1").expect("o1"), vec!["v1", "v3"]);
        assert_eq!(owned_by(&root, "o2").expect("o2"), vec!["v2"]);
        assert!(
            owned_by(&tmp.path().join("none"), "o1")
                .expect("none")
                .is_empty()
        );

        remove(&root, "v1").await.expect("remove");
        assert!(!root.join("v1").exists() && !root.join("v1.labels.json").exists());
        remove(&root, "v1").await.expect("gone already is fine");
        assert_eq!(owned_by(&root, "o1").expect("o1"), vec!["v3"]);
        assert!(create(&root, "../x", &labels("o1")).is_err());

        let spec = map_binds(
            &ContainerSpec {
                binds: vec![bind("v9", "/home", false), bind("/elsewhere", "/e", true)],
                ..Default::default()
            },
            Some(&root),
        )
        .expect("mapped");
        ensure_dirs(&spec, &root).expect("dirs");
        assert!(root.join("v9").is_dir());
        assert!(!Path::new("/elsewhere").exists());
    }
}
