//! A bind's content as a tar stream, both ways. Writing walks the tree without following
//! symlinks (they travel as symlinks) and leaves out FIFOs, sockets and devices. Extracting
//! treats the archive as untrusted: it refuses absolute names, `..`, hard links, symlinks that
//! point out of the tree, and any entry that would be written through a symlink, so an archive
//! can only ever create or replace things under its destination.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Whether a bind is one file or a directory tree (the `X-Sagebox-Bind-Kind` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// The header that says which [`Kind`] a tar stream carries.
pub const KIND_HEADER: &str = "x-sagebox-bind-kind";

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim() {
            "file" => Some(Kind::File),
            "dir" => Some(Kind::Dir),
            _ => None,
        }
    }

    /// What `path` is (following a symlink at the top only); None for anything else.
    pub fn of(path: &Path) -> io::Result<Option<Kind>> {
        let meta = std::fs::metadata(path)?;
        Ok(if meta.is_dir() {
            Some(Kind::Dir)
        } else if meta.is_file() {
            Some(Kind::File)
        } else {
            None
        })
    }
}

/// What moved: regular files and their bytes, and entries left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
}

/// Why an archive was not extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The archive asked for something it may not do (the sender's fault: 400).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Writes `root` as a tar: a directory's tree by relative names (a missing directory is an
/// empty one), or a file as one entry named after it.
pub fn write_tar<W: Write>(root: &Path, kind: Kind, out: W) -> io::Result<Stats> {
    write_tar_except(root, kind, out, &[])
}

/// Like [`write_tar`], leaving out the entries at the relative paths `skip` (and what is
/// under them): another bind mounted inside this one travels on its own.
pub fn write_tar_except<W: Write>(
    root: &Path,
    kind: Kind,
    out: W,
    skip: &[PathBuf],
) -> io::Result<Stats> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut stats = Stats::default();
    match kind {
        Kind::File => {
            let mut file = std::fs::File::open(root)?;
            let name = root.file_name().unwrap_or(root.as_os_str());
            stats.bytes += file.metadata()?.len();
            stats.files += 1;
            tar.append_file(name, &mut file)?;
        }
        Kind::Dir => match std::fs::read_dir(root) {
            Ok(_) => walk(&mut tar, root, Path::new(""), skip, &mut stats)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        },
    }
    tar.into_inner()?.flush()?;
    Ok(stats)
}

fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    skip: &[PathBuf],
    stats: &mut Stats,
) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = rel.join(entry.file_name());
        if skip.contains(&name) {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // removed while we walked: it is simply not part of the tree any more
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            tar.append_path_with_name(&path, &name)?;
            walk(tar, &path, &name, skip, stats)?;
        } else if ft.is_file() || ft.is_symlink() {
            tar.append_path_with_name(&path, &name)?;
            if ft.is_file() {
                stats.files += 1;
                stats.bytes += meta.len();
            }
        } else {
            stats.skipped += 1;
        }
    }
    Ok(())
}

/// Extracts a tar into `dest`: a directory (created if missing; existing files are replaced,
/// others kept) or, for [`Kind::File`], the archive's first regular file written as `dest`.
/// Reads the input to its end, so a stream's sender is never left blocked.
pub fn extract<R: Read>(input: R, dest: &Path, kind: Kind) -> Result<Stats, ExtractError> {
    extract_as(input, dest, kind, None)
}

/// Like [`extract`]; with `mirror`, a directory ends up holding exactly the archive's entries:
/// whatever else is under `dest` goes, except at the relative paths `mirror` keeps (and above
/// and under them), where other binds' content lives.
pub fn extract_as<R: Read>(
    input: R,
    dest: &Path,
    kind: Kind,
    mirror: Option<&[PathBuf]>,
) -> Result<Stats, ExtractError> {
    let mut archive = tar::Archive::new(input);
    let stats = match kind {
        Kind::Dir => {
            let mut seen = std::collections::HashSet::new();
            let stats = extract_tree(&mut archive, dest, &mut seen)?;
            if let Some(keep) = mirror {
                super::mirror::remove_others(dest, &seen, keep)?;
            }
            stats
        }
        Kind::File => extract_file(&mut archive, dest)?,
    };
    io::copy(&mut archive.into_inner(), &mut io::sink())?;
    Ok(stats)
}

fn extract_tree<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<Stats, ExtractError> {
    std::fs::create_dir_all(dest)?;
    let mut stats = Stats::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let parts = relative_parts(&name)?;
        let Some((last, parents)) = parts.split_last() else {
            continue; // the root itself ("./")
        };
        seen.insert(parts.iter().collect::<PathBuf>());
        let parent = make_parents(dest, parents)?;
        let target = parent.join(last);
        use tar::EntryType;
        match entry.header().entry_type() {
            EntryType::Directory => make_dir(&target)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                stats.bytes += write_file(&mut entry, &target)?;
                stats.files += 1;
            }
            EntryType::Symlink => {
                let link = entry.link_name()?.ok_or_else(|| {
                    ExtractError::Refused(format!("{}: a symlink without a target", show(&name)))
                })?;
                check_link(&name, parents.len(), &link)?;
                remove_non_dir(&target)?;
                std::os::unix::fs::symlink(&link, &target)?;
            }
            EntryType::Link => {
                return Err(ExtractError::Refused(format!(
                    "{}: hard links are not accepted",
                    show(&name)
                )));
            }
            _ => stats.skipped += 1,
        }
    }
    Ok(stats)
}

fn extract_file<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
) -> Result<Stats, ExtractError> {
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let bytes = write_file(&mut entry, dest)?;
            return Ok(Stats {
                files: 1,
                bytes,
                skipped: 0,
            });
        }
    }
    Err(ExtractError::Refused(
        "the archive holds no file for a file bind".into(),
    ))
}

/// An entry's name as plain relative components; absolute names and `..` are refused.
fn relative_parts(name: &Path) -> Result<Vec<PathBuf>, ExtractError> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(PathBuf::from(p)),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(ExtractError::Refused(format!(
                    "{}: absolute names are not accepted",
                    show(name)
                )));
            }
            Component::ParentDir => {
                return Err(ExtractError::Refused(format!(
                    "{}: names with '..' are not accepted",
                    show(name)
                )));
            }
        }
    }
    Ok(parts)
}

/// Walks (creating) the directories above an entry, refusing to pass through a symlink.
fn make_parents(dest: &Path, parents: &[PathBuf]) -> Result<PathBuf, ExtractError> {
    let mut dir = dest.to_path_buf();
    for p in parents {
        dir.push(p);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ExtractError::Refused(format!(
                    "{}: would write through a symlink",
                    show(&dir)
                )));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ExtractError::Refused(format!(
                    "{}: is a file, not a directory",
                    show(&dir)
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&dir)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(dir)
}

fn make_dir(target: &Path) -> Result<(), ExtractError> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            std::fs::remove_file(target)?;
            Ok(std::fs::create_dir(target)?)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(std::fs::create_dir(target)?),
        Err(e) => Err(e.into()),
    }
}

/// Removes a file or symlink where an entry goes (never following it); a directory there is
/// refused, as replacing it would drop a whole tree.
fn remove_non_dir(target: &Path) -> Result<(), ExtractError> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => Err(ExtractError::Refused(format!(
            "{}: is a directory",
            show(target)
        ))),
        Ok(_) => Ok(std::fs::remove_file(target)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes a regular entry as a new file at `target` (replacing what was there); its bytes.
fn write_file<R: Read>(entry: &mut tar::Entry<R>, target: &Path) -> Result<u64, ExtractError> {
    use std::os::unix::fs::OpenOptionsExt;
    remove_non_dir(target)?;
    let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode | 0o600)
        .open(target)?;
    let bytes = io::copy(entry, &mut file)?;
    if let Ok(mtime) = entry.header().mtime() {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        // A timestamp is a courtesy: a file system that refuses one keeps the bytes.
        file.set_modified(when).ok();
    }
    Ok(bytes)
}

/// A symlink may point anywhere inside the tree, by a relative target whose `..` all come
/// first (`../../lib/x`): then no chain of links, each checked where it stands, can resolve
/// outside, as the directories above a link are never links themselves (see `make_parents`).
fn check_link(name: &Path, depth: usize, link: &Path) -> Result<(), ExtractError> {
    let mut level = depth as i64;
    let mut named = false;
    for c in link.components() {
        match c {
            Component::Normal(_) => {
                level += 1;
                named = true;
            }
            Component::CurDir => {}
            Component::ParentDir if !named => level -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => level = -1,
        }
        if level < 0 {
            return Err(ExtractError::Refused(format!(
                "{}: a symlink to {} points out of the directory (or takes '..' after a name)",
                show(name),
                show(link)
            )));
        }
    }
    Ok(())
}

fn show(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
