//! Reading LambdaAliasSet manifests for `plan` and `apply`: files, multi-document YAML and
//! directories. Every document is validated against the CRD's own schema and CEL rules; a
//! document of another kind is an error, never silently skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::LambdaAliasSet;
use crate::api::validate::parse_object;
use crate::input;

/// One validated object and where it came from.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `file.yaml` or `file.yaml#2` (the document's 1-based index when the file has several).
    pub source: String,
    pub object: LambdaAliasSet,
}

impl Manifest {
    pub fn namespace(&self) -> &str {
        self.object.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// `<namespace>/<name>`: the owner written into the alias markers, the same the controller
    /// uses for this object, so the CLI and the controller agree on ownership.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.namespace(), self.name())
    }
}

/// Every file to read under `path`, in order, skipping one already met (by its canonical path).
///
/// A path given on the command line is read whatever its name; inside a directory only `*.yaml`
/// and `*.yml` are. Symbolic links are followed, to files and to directories alike (a GitOps tree
/// often links a shared directory in); a link that leads back to a directory being walked is a
/// loop, and is refused naming the link and where it leads (README, "Bad input").
fn collect_files(
    path: &Path,
    seen: &mut BTreeSet<PathBuf>,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<String>,
) {
    let walk = walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name();
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(walk_error(path, &e));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let is_yaml = entry.path().extension().is_some_and(|x| x == "yaml" || x == "yml");
        if entry.depth() > 0 && !is_yaml {
            continue;
        }
        // The same file reached twice (through a link, or named twice) is one manifest.
        let key = std::fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path().to_path_buf());
        if seen.insert(key) {
            out.push(entry.into_path());
        }
    }
}

fn walk_error(root: &Path, error: &walkdir::Error) -> String {
    let at = error.path().unwrap_or(root).display();
    match (error.loop_ancestor(), error.io_error()) {
        (Some(ancestor), _) => format!(
            "{at}: a symbolic link loop: it leads back to {}, which is being walked; remove the link or name the directories with -f",
            ancestor.display()
        ),
        (None, Some(io)) => format!("{at}: {io}"),
        (None, None) => format!("{at}: {error}"),
    }
}

/// Loads every document under `paths`. Returns all problems at once (each names the file and,
/// where there is one, the document, the object and the field), or the validated objects. A file
/// that is not valid YAML is refused whole at its first error: none of its documents is used,
/// even those before the error, and (as for any refusal) nothing is written for any file.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Manifest>, Vec<String>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for path in paths {
        collect_files(path, &mut seen, &mut files, &mut errors);
    }
    let mut manifests = Vec::new();
    for file in &files {
        let origin = file.display().to_string();
        let documents =
            match input::read_text(file, &origin).and_then(|text| input::yaml_documents(&text, &origin)) {
                Ok(documents) => documents,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
        if documents.is_empty() {
            errors.push(format!(
                "{origin}: holds no document (it is empty, or only comments); remove it from the paths given"
            ));
            continue;
        }
        let several = documents.len() > 1;
        for (index, value) in documents {
            let source = if several { format!("{origin}#{index}") } else { origin.clone() };
            match to_manifest(&source, value) {
                Ok(m) => manifests.push(m),
                Err(e) => errors.push(e),
            }
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push("no manifest files found".to_string());
    }
    let mut owners = BTreeSet::new();
    for m in &manifests {
        if !owners.insert(m.owner()) {
            errors.push(format!("{}: LambdaAliasSet {} appears more than once", m.source, m.owner()));
        }
    }
    if errors.is_empty() { Ok(manifests) } else { Err(errors) }
}

fn to_manifest(source: &str, value: Value) -> Result<Manifest, String> {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("<none>");
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("<none>");
    if kind != "LambdaAliasSet" || !api_version.starts_with("lambda.aliasset.dev/") {
        return Err(format!(
            "{source}: {kind} ({api_version}) is not a LambdaAliasSet (lambda.aliasset.dev/v1alpha1); remove it from the paths given"
        ));
    }
    let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>");
    let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
    let object = parse_object(&value).map_err(|e| {
        let details: Vec<String> = e.errors.iter().map(|f| format!("  {f}")).collect();
        format!(
            "{source}: LambdaAliasSet {namespace}/{name} is invalid, nothing was written:\n{}",
            details.join("\n")
        )
    })?;
    Ok(Manifest { source: source.to_string(), object })
}
