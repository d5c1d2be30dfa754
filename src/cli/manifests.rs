//! Reading LambdaAliasSet manifests for `plan` and `apply`: files, multi-document YAML and
//! directories. Every document is validated against the CRD's own schema and CEL rules; a
//! document of another kind is an error, never silently skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::api::LambdaAliasSet;
use crate::api::validate::parse_object;

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

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_yaml = entry.extension().is_some_and(|x| x == "yaml" || x == "yml");
            if entry.is_dir() || is_yaml {
                collect_files(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Loads every document under `paths`. Returns all problems at once (each names the file, the
/// document, the object and the field), or the validated objects.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Manifest>, Vec<String>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if let Err(e) = collect_files(path, &mut files) {
            errors.push(e);
        }
    }
    let mut manifests = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        let mut documents = Vec::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            match serde_yaml::Value::deserialize(doc) {
                Ok(serde_yaml::Value::Null) => {}
                Ok(value) => documents.push((i + 1, value)),
                Err(e) => errors.push(format!("{} document {}: not valid YAML: {e}", file.display(), i + 1)),
            }
        }
        let several = documents.len() > 1;
        for (index, yaml) in documents {
            let source =
                if several { format!("{}#{index}", file.display()) } else { file.display().to_string() };
            match to_manifest(&source, yaml) {
                Ok(m) => manifests.push(m),
                Err(e) => errors.push(e),
            }
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push("no manifest files found".to_string());
    }
    let mut seen = BTreeSet::new();
    for m in &manifests {
        if !seen.insert(m.owner()) {
            errors.push(format!("{}: LambdaAliasSet {} appears more than once", m.source, m.owner()));
        }
    }
    if errors.is_empty() { Ok(manifests) } else { Err(errors) }
}

fn to_manifest(source: &str, yaml: serde_yaml::Value) -> Result<Manifest, String> {
    let value: Value = serde_json::to_value(yaml).map_err(|e| format!("{source}: {e}"))?;
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
