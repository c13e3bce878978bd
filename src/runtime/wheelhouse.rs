//! The wheelhouse: PyPI packages an image needs that Debian lacks, downloaded on the host by the
//! host's own pip (so its proxy, CA bundle and index settings apply) into a cache that survives
//! builds, then copied into the build context. The containers never reach the network.
//! requirements.txt files are complete locks, so wheels are fetched without resolving, for the
//! images' CPython 3.11 on bookworm's glibc, whatever Python the host runs.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncBufReadExt;

use super::images::Progress;

/// pip's target options for an image's CPython `python` ("3.11" on bookworm, "3.13" on trixie)
/// and the glibc of that Debian release.
fn portable_args(python: &str) -> Vec<String> {
    let abi = format!("cp{}", python.replace('.', ""));
    let mut args: Vec<String> = [
        "--no-deps",
        "--prefer-binary",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        abi.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let glibc_minor = if python == "3.11" { 36 } else { 41 };
    let mut platforms: Vec<String> = (5..=glibc_minor)
        .rev()
        .map(|v| format!("manylinux_2_{v}_x86_64"))
        .collect();
    platforms.extend(
        [
            "manylinux2014_x86_64",
            "manylinux2010_x86_64",
            "manylinux1_x86_64",
            "linux_x86_64",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for p in platforms {
        args.push("--platform".into());
        args.push(p);
    }
    args
}

/// The user's wheelhouse when `--wheelhouse` is not given: ~/.cache/sagebox/wheelhouse.
pub fn user_default() -> PathBuf {
    xdg_cache().join("sagebox").join("wheelhouse")
}

fn xdg_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

fn cache_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SAGEBOX_WHEELS") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sagebox").join("wheels")
}

/// The command that runs the host's pip: SAGEBOX_PIP, else `python3 -m pip`, else a pip in a
/// venv sagebox makes for the purpose.
async fn pip_command() -> Result<Vec<String>, String> {
    if let Ok(cmd) = std::env::var("SAGEBOX_PIP") {
        let parts: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        if !parts.is_empty() {
            return Ok(parts);
        }
    }
    let works = |program: String, args: Vec<&'static str>| async move {
        tokio::process::Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    if works("python3".into(), vec!["-m", "pip", "--version"]).await {
        return Ok(vec!["python3".into(), "-m".into(), "pip".into()]);
    }
    let venv = cache_dir().with_file_name("pip-venv");
    let pip = venv.join("bin").join("pip");
    if !pip.is_file() {
        let ok = tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .stdout(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("the host has no pip to prepare the wheelhouse: install python3-pip (or python3-venv), or set SAGEBOX_PIP to a pip command".into());
        }
    }
    Ok(vec![pip.display().to_string()])
}

/// `pip download` of wheels for an image's `python`, with or without their dependencies.
fn download_command(pip: &[String], python: &str, no_deps: bool) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&pip[0]);
    cmd.args(&pip[1..])
        .args([
            "download",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
        ])
        .args(
            portable_args(python)
                .into_iter()
                .filter(|a| no_deps || a != "--no-deps"),
        );
    cmd
}

/// `sagebox wheels add`: downloads `packages` and the packages of `requirements` files (with
/// their dependencies unless `no_deps`) as wheels for every Python the images run (3.13 on the
/// framework images, 3.11 on the others) into `dir`, the user's wheelhouse.
pub async fn add(
    dir: &Path,
    packages: &[String],
    requirements: &[PathBuf],
    no_deps: bool,
    progress: &Progress,
) -> Result<(), String> {
    if packages.is_empty() && requirements.is_empty() {
        return Err("name the packages to add (e.g. `sagebox wheels add tabulate==0.9.0`) or a requirements file with -r".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let pip = pip_command().await?;
    for python in ["3.13", "3.11"] {
        progress(&format!(
            "wheels for Python {python} into {}",
            dir.display()
        ));
        let mut cmd = download_command(&pip, python, no_deps);
        cmd.arg("--only-binary=:all:");
        for r in requirements {
            cmd.arg("-r").arg(r);
        }
        // pip's report is progress: to stderr, so stdout carries only the result.
        let to_stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        let status = cmd
            .args(packages)
            .arg("-d")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(to_stderr)
            .status()
            .await
            .map_err(|e| format!("cannot run pip: {e}"))?;
        if !status.success() {
            return Err(format!(
                "pip download for Python {python} failed ({status}); a package without a wheel for Python {python} on Linux x86_64 cannot be used offline (pip's lines above say which)"
            ));
        }
    }
    Ok(())
}

/// Downloads the wheels of `requirements` (cached per image) and copies them into `dest`.
pub async fn fill(
    image: &str,
    python: &str,
    requirements: &Path,
    dest: &Path,
    progress: &Progress,
) -> Result<(), String> {
    let cache = cache_dir().join(image);
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let pip = pip_command().await?;
    progress(&format!(
        "[{image}] wheelhouse: {} download into {}",
        pip.join(" "),
        cache.display()
    ));
    let mut cmd = download_command(&pip, python, true);
    cmd.arg("-r")
        .arg(requirements)
        .arg("-d")
        .arg(&cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run pip: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let p = progress.clone();
    let name = image.to_string();
    let out_task = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("Saved ") || line.starts_with("Collecting ") {
                p(&format!("[{name}] {line}"));
            }
        }
    });
    let mut errors = Vec::new();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        errors.push(line);
    }
    // The task only reports progress lines; a panic there loses lines, not the download.
    out_task.await.ok();
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if !status.success() {
        let tail: Vec<&String> = errors.iter().rev().take(15).rev().collect();
        return Err(format!(
            "pip download failed ({status}); check the host's pip can reach the package index (proxy, CA, index-url):\n{}",
            tail.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    let entries = std::fs::read_dir(&cache).map_err(|e| e.to_string())?;
    for entry in entries.flatten() {
        let from = entry.path();
        if !from.is_file() {
            continue;
        }
        let to = dest.join(entry.file_name());
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to)
                .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_are_fetched_for_the_images_python_not_the_hosts() {
        let args = portable_args("3.11");
        assert!(args.windows(2).any(|w| w == ["--python-version", "3.11"]));
        assert!(args.windows(2).any(|w| w == ["--abi", "cp311"]));
        let args = portable_args("3.13");
        assert!(args.windows(2).any(|w| w == ["--abi", "cp313"]));
        assert!(
            args.windows(2)
                .any(|w| w == ["--platform", "manylinux_2_41_x86_64"])
        );
        assert!(
            args.windows(2)
                .any(|w| w == ["--platform", "manylinux_2_36_x86_64"])
        );
        assert!(args.contains(&"--no-deps".to_string()));
    }
}
