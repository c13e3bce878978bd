//! Bind-mount sources as the engine sees them. Natively, sagebox's paths are the host's. When
//! sagebox itself runs in a container (the `make image` image, with the host's Docker socket
//! mounted), the engine resolves a bind source on the host, not in sagebox's container: so each
//! path is mapped through the mounts sagebox's own container was given (`-v HOST:INSIDE`), and a
//! path on none of them (the container's own filesystem) is refused with what to do instead.

use std::path::{Component, Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::InspectContainerOptions;

use crate::runtime::engine::{Bind, EngineError};

/// How sagebox's paths map to the engine host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPaths {
    /// The container sagebox runs in, if any.
    pub container: Option<String>,
    /// (path inside sagebox's container, the same folder on the engine's host), longest first.
    pub mounts: Vec<(PathBuf, PathBuf)>,
}

impl HostPaths {
    /// Natively: every path is the host's.
    pub fn native() -> HostPaths {
        HostPaths::default()
    }

    /// Finds sagebox's own container (from /proc/self/mountinfo) and asks the engine for its
    /// mounts; natively (or if the engine does not know the container) paths map to themselves.
    pub async fn detect(docker: &Docker) -> HostPaths {
        let Some(id) = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|m| own_container_id(&m))
        else {
            return HostPaths::native();
        };
        let Ok(inspect) = docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        else {
            tracing::debug!(
                "container {id} from mountinfo is not on this engine; paths as they are"
            );
            return HostPaths::native();
        };
        let mounts = inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| Some((PathBuf::from(m.destination?), PathBuf::from(m.source?))))
            .filter(|(inside, host)| inside.is_absolute() && host.is_absolute())
            .collect();
        let paths = HostPaths::in_container(id, mounts);
        tracing::info!(
            "sagebox runs in container {}; bind mounts map through {}",
            &paths.container.as_deref().unwrap_or_default()[..12],
            paths.describe()
        );
        paths
    }

    pub fn in_container(id: String, mut mounts: Vec<(PathBuf, PathBuf)>) -> HostPaths {
        mounts.sort_by_key(|(inside, _)| std::cmp::Reverse(inside.components().count()));
        HostPaths {
            container: Some(id),
            mounts,
        }
    }

    fn describe(&self) -> String {
        if self.mounts.is_empty() {
            return "no mounts".into();
        }
        self.mounts
            .iter()
            .map(|(inside, host)| format!("{} -> {}", inside.display(), host.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The engine host's path for one of sagebox's paths.
    pub fn host_path(&self, local: &Path) -> Result<PathBuf, EngineError> {
        let Some(container) = &self.container else {
            return Ok(local.to_path_buf());
        };
        for (inside, host) in &self.mounts {
            if let Ok(rest) = local.strip_prefix(inside)
                && rest.components().all(|c| matches!(c, Component::Normal(_)))
            {
                return Ok(if rest.as_os_str().is_empty() {
                    host.clone()
                } else {
                    host.join(rest)
                });
            }
        }
        Err(EngineError::Other(format!(
            "sagebox runs in container {} and {} is on that container's own filesystem, which the Docker engine cannot mount into the containers sagebox starts; give sagebox its data directory (and --wheelhouse) from the host, e.g. `docker run -v \"$HOME/sagebox-data:/data\" … --data-dir /data` (mounts now: {})",
            &container[..container.len().min(12)],
            local.display(),
            self.describe()
        )))
    }

    /// `binds` with every host path mapped (named volumes stay as they are).
    pub fn map_binds(&self, binds: &[Bind]) -> Result<Vec<Bind>, EngineError> {
        binds
            .iter()
            .map(|b| {
                let host = if b.host.starts_with('/') {
                    self.host_path(Path::new(&b.host))?.display().to_string()
                } else {
                    b.host.clone()
                };
                Ok(Bind { host, ..b.clone() })
            })
            .collect()
    }
}

/// The 64-hex-digit id in the source of the mounts Docker gives every container for
/// /etc/hostname, /etc/hosts and /etc/resolv.conf (`…/containers/<id>/hostname`).
fn own_container_id(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let (root, mount_point) = (fields.get(3)?, fields.get(4)?);
        if !["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].contains(mount_point) {
            return None;
        }
        let (_, after) = root.split_once("/containers/")?;
        let id = after.split('/').next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f9c2d1e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d";

    #[test]
    fn the_container_id_comes_from_the_hostname_mount() {
        let info = format!(
            "612 590 0:52 / / rw,relatime master:1 - overlay overlay rw\n\
             630 612 254:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             631 612 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(own_container_id(&info).as_deref(), Some(ID));
        let native = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n";
        assert_eq!(own_container_id(native), None);
    }

    #[test]
    fn paths_map_through_the_deepest_mount_and_others_are_refused() {
        let paths = HostPaths::in_container(
            ID.into(),
            vec![
                ("/data".into(), "/home/me/sagebox-data".into()),
                ("/data/wheels".into(), "/srv/wheels".into()),
            ],
        );
        assert_eq!(
            paths.host_path(Path::new("/data/objects/ab/cd")).unwrap(),
            PathBuf::from("/home/me/sagebox-data/objects/ab/cd")
        );
        assert_eq!(
            paths.host_path(Path::new("/data/wheels")).unwrap(),
            PathBuf::from("/srv/wheels")
        );
        assert_eq!(
            paths.host_path(Path::new("/data")).unwrap(),
            PathBuf::from("/home/me/sagebox-data")
        );
        let refused = paths.host_path(Path::new("/root/.cache/x")).unwrap_err();
        assert!(refused.to_string().contains("own filesystem"), "{refused}");
        // `..` cannot climb out of a mount
        assert!(paths.host_path(Path::new("/data/../etc")).is_err());
        let binds = paths
            .map_binds(&[
                Bind {
                    host: "/data/x".into(),
                    container: "/opt/ml/model".into(),
                    read_only: false,
                },
                Bind {
                    host: "sagebox-nb-home".into(),
                    container: "/home/ec2-user/SageMaker".into(),
                    read_only: false,
                },
            ])
            .unwrap();
        assert_eq!(binds[0].host, "/home/me/sagebox-data/x");
        assert_eq!(binds[1].host, "sagebox-nb-home");
    }

    #[test]
    fn natively_paths_are_the_hosts() {
        let p = Path::new("/anything/at/all");
        assert_eq!(HostPaths::native().host_path(p).unwrap(), p);
    }
}
