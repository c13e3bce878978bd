//! Embeds the emulator-image recipes (emulator-images/**) in the binary: generates a table of
//! (relative path, bytes) that src/runtime/recipes.rs reads. Build outputs that may sit in the
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
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("emulator-images");
    println!("cargo:rerun-if-changed=emulator-images");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("recipes.rs");
    let mut f = fs::File::create(&out).expect("write recipes.rs");
    writeln!(f, "pub static RECIPE_FILES: &[(&str, &[u8])] = &[").expect("write");
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
