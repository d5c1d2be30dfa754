//! The code map's rules that a compiler does not check (ARCHITECTURE.md, "Code map" and
//! "Invariants"): the planner and the tenancy rules import no I/O layer, the API types no other
//! module, and the code cites only documents that are in the repository.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The code of a file without its comments (`//` to the end of the line), so that a comment may
/// name a module the code must not import.
fn code_of(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Each file under `src/<dir>` (at least `min` of them) that names one of `forbidden` in its code.
fn imports_of(dir: &str, min: usize, forbidden: &[&str]) -> Vec<String> {
    let files = rust_files(&root().join("src").join(dir));
    assert!(files.len() >= min, "src/{dir} has its files: {files:?}");
    let mut found = Vec::new();
    for file in files {
        let code = code_of(&fs::read_to_string(&file).expect("readable"));
        for word in forbidden {
            if code.contains(word) {
                found.push(format!("{}: {word}", file.display()));
            }
        }
    }
    found
}

/// What the pure modules must not name: the crate's I/O layers, kube and the Kubernetes types,
/// the AWS SDK, and the standard library's and tokio's I/O (files, sockets, processes, clocks).
const IO_LAYERS: [&str; 15] = [
    "crate::aws",
    "crate::controller",
    "crate::cli",
    "crate::engine",
    "crate::alexa",
    "crate::input",
    "kube::",
    "k8s_openapi",
    "aws_sdk",
    "std::fs",
    "std::net",
    "std::process",
    "std::io",
    "tokio",
    "SystemTime",
];

#[test]
fn the_planner_imports_nothing_from_the_io_layers_or_kube() {
    let found = imports_of("plan", 5, &IO_LAYERS);
    assert!(found.is_empty(), "the planner owns its words and imports no I/O layer: {found:#?}");
}

#[test]
fn the_tenancy_rules_are_pure() {
    let found = imports_of("tenancy", 2, &IO_LAYERS);
    assert!(found.is_empty(), "the tenancy rules do no I/O and import no I/O layer: {found:#?}");
}

#[test]
fn the_api_types_import_no_other_module_of_the_crate() {
    let forbidden = [
        "crate::plan",
        "crate::aws",
        "crate::engine",
        "crate::controller",
        "crate::cli",
        "crate::alexa",
        "crate::tenancy",
        "crate::input",
    ];
    let found = imports_of("api", 3, &forbidden);
    assert!(found.is_empty(), "src/api is the bottom layer: {found:#?}");
}

#[test]
fn the_input_readers_import_no_other_module_of_the_crate() {
    // Its tests drive the other readers too; the readers themselves stand alone.
    let code = code_of(&fs::read_to_string(root().join("src/input/mod.rs")).expect("src/input/mod.rs"));
    let found: Vec<&str> = code.lines().filter(|l| l.contains("crate::") || l.contains("super::")).collect();
    assert!(found.is_empty(), "src/input reads files and YAML, nothing of the crate: {found:#?}");
}

#[test]
fn the_code_cites_only_documents_in_the_repository() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        files.extend(rust_files(&root().join(dir)));
    }
    assert!(files.len() > 50, "found the sources: {}", files.len());
    // Spelled in pieces, so that this file does not cite them itself.
    let outside = [concat!("DESIGN", " §"), concat!("DESIGN", ".md"), concat!("shared", "/STYLE")];
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable");
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|word| line.contains(word)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "cite ARCHITECTURE.md or the README instead: {found:#?}");
}

#[test]
fn the_architecture_map_names_modules_that_exist() {
    let map =
        fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md is in the repository");
    // Every `src/...` and `tests/...` path the map names in backquotes exists.
    let mut missing = Vec::new();
    for part in map.split('`').skip(1).step_by(2) {
        let named = part.starts_with("src/") || part.starts_with("tests/");
        if named && !part.contains(' ') && !root().join(part.trim_end_matches('/')).exists() {
            missing.push(part.to_owned());
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
    // And every module directory or file directly under src/ is on the map.
    for entry in fs::read_dir(root().join("src")).expect("src/") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let listed = if name.ends_with(".rs") { format!("`src/{name}`") } else { format!("`src/{name}/`") };
        assert!(map.contains(&listed), "ARCHITECTURE.md's code map lists {listed}");
    }
}

#[test]
fn the_readme_keeps_no_second_code_map() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(!readme.contains("\n## Layout\n"), "the code map is ARCHITECTURE.md alone");
}
