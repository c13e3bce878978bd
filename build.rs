//! Embeds the emulator-image recipes (emulator-images/**), the example notebooks and the sample
//! bucket's files (fixtures/notebooks, fixtures/samples) in the binary: generates tables of
//! (relative path, bytes) that src/runtime/recipes.rs and src/service/notebooks/samples.rs read. Build outputs that may sit in the
//! recipe folders (wheelhouses, Python caches) are left out, so they never change a recipe's hash.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "__pycache__" || name == "wheels" || name.ends_with(".pyc") {
            continue;
        }
        // A recipe may share another's files by a symlink (pytorch-gpu/python -> ../pytorch/python):
        // embedded through the link and watched at its target; a dangling one is left out.
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            match fs::canonicalize(&path) {
                Ok(target) => println!("cargo:rerun-if-changed={}", target.display()),
                Err(_) => {
                    println!(
                        "cargo:warning={} is a symlink to nothing; left out",
                        path.display()
                    );
                    continue;
                }
            }
        }
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path));
        }
    }
}

/// Writes `pub static <table>: &[(&str, &[u8])]` with every file under `root` to `out`.
fn embed(root: &Path, table: &str, out: &Path) {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    let mut f = fs::File::create(out).expect("write embedded table");
    writeln!(f, "pub static {table}: &[(&str, &[u8])] = &[").expect("write");
    for (rel, path) in files {
        writeln!(
            f,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("write");
    }
    writeln!(f, "];").expect("write");
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    embed(
        &manifest.join("emulator-images"),
        "RECIPE_FILES",
        &out.join("recipes.rs"),
    );
    // The example notebooks mounted into notebook instances, and the sample bucket's data.
    embed(
        &manifest.join("fixtures").join("notebooks"),
        "EXAMPLE_NOTEBOOKS",
        &out.join("example_notebooks.rs"),
    );
    embed(
        &manifest.join("fixtures").join("samples"),
        "SAMPLE_FILES",
        &out.join("sample_files.rs"),
    );
}
