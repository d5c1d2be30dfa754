//! `--tenancy strict` in the controller: the Namespaces' annotations as last seen, and the gate
//! every reconcile passes before anything else (no AWS call, no Secret read, no adoption for a
//! set its namespace does not allow).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use crate::api::LambdaAliasSetSpec;
use crate::tenancy::{Caller, Tenancy, check_grants, check_scope, check_skill_write, derived_external_id};

/// A Namespace's annotations, and how many times they changed (its epoch).
type Rules = (BTreeMap<String, String>, u64);

/// The gate: open, or strict with the controller's identity and the Namespaces' annotations.
#[derive(Debug)]
pub struct Gate {
    mode: Tenancy,
    cluster_name: String,
    caller: Option<Caller>,
    namespaces: RwLock<HashMap<String, Rules>>,
}

impl Gate {
    pub fn open() -> Gate {
        Gate { mode: Tenancy::Open, cluster_name: String::new(), caller: None, namespaces: RwLock::default() }
    }

    pub fn strict(cluster_name: String, caller: Caller) -> Gate {
        Gate { mode: Tenancy::Strict, cluster_name, caller: Some(caller), namespaces: RwLock::default() }
    }

    pub fn is_strict(&self) -> bool {
        self.mode == Tenancy::Strict
    }

    /// A Namespace's annotations, as the watch (or the initial list) saw them.
    pub fn update(&self, namespace: &str, annotations: BTreeMap<String, String>) {
        let mut namespaces = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        let entry = namespaces.entry(namespace.to_string()).or_default();
        if entry.0 != annotations {
            *entry = (annotations, entry.1 + 1);
        }
    }

    /// Changes whenever the Namespace's annotations do (always 0 when open): a set's drift
    /// reservation made under other rules is not trusted without reading the set again.
    pub fn epoch(&self, namespace: &str) -> u64 {
        if !self.is_strict() {
            return 0;
        }
        let namespaces = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        namespaces.get(namespace).map_or(0, |(_, epoch)| *epoch)
    }

    /// The spec to act on, or why the set's namespace does not allow it: its function, its role
    /// or what it grants. Strict: the derived ExternalId replaces none (a `spec.externalId` is
    /// refused), so a role's trust policy can pin the namespace.
    pub fn admit<'a>(
        &self,
        namespace: &str,
        spec: &'a LambdaAliasSetSpec,
    ) -> Result<Cow<'a, LambdaAliasSetSpec>, String> {
        let effective = self.admit_scope(namespace, spec)?;
        if let Some(caller) = self.caller.as_ref().filter(|_| self.is_strict()) {
            let namespaces = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
            check_grants(spec, namespace, namespaces.get(namespace).map(|(a, _)| a), caller)?;
        }
        Ok(effective)
    }

    /// Whether the controller may write `skill_id`'s development stage for a set of
    /// `namespace` (open: always).
    pub fn may_write_skill(&self, namespace: &str, skill_id: &str) -> Result<(), String> {
        if !self.is_strict() {
            return Ok(());
        }
        let namespaces = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        check_skill_write(skill_id, namespace, namespaces.get(namespace).map(|(a, _)| a))
    }

    /// Like [`Gate::admit`], but only the function and the role: what a deletion needs. A set
    /// whose grants its namespace no longer allows may still remove what it owns (removing a
    /// grant only narrows who may invoke; README "Tenant isolation").
    pub fn admit_scope<'a>(
        &self,
        namespace: &str,
        spec: &'a LambdaAliasSetSpec,
    ) -> Result<Cow<'a, LambdaAliasSetSpec>, String> {
        let Some(caller) = self.caller.as_ref().filter(|_| self.is_strict()) else {
            return Ok(Cow::Borrowed(spec));
        };
        let namespaces = self.namespaces.read().unwrap_or_else(|e| e.into_inner());
        check_scope(spec, namespace, namespaces.get(namespace).map(|(a, _)| a), caller, &self.cluster_name)?;
        if spec.role_arn.is_none() {
            return Ok(Cow::Borrowed(spec));
        }
        let mut effective = spec.clone();
        effective.external_id = Some(derived_external_id(&self.cluster_name, namespace));
        Ok(Cow::Owned(effective))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{ALLOW_PUBLIC_INVOKE, ALLOWED_FUNCTIONS, ALLOWED_ROLE_ARNS};

    #[test]
    fn strict_admits_by_annotation_and_derives_the_external_id() {
        let caller = Caller {
            partition: "aws".into(),
            account: "111122223333".into(),
            default_region: Some("eu-west-1".into()),
        };
        let gate = Gate::strict("prod".into(), caller);
        let mut spec = LambdaAliasSetSpec::for_function("trivia");
        spec.role_arn = Some("arn:aws:iam::111122223333:role/team-a".into());
        assert!(gate.admit("team-a", &spec).unwrap_err().contains(ALLOWED_FUNCTIONS));
        let allowed = BTreeMap::from([
            (ALLOWED_FUNCTIONS.to_string(), "arn:aws:lambda:eu-west-1:111122223333:function:*".to_string()),
            (ALLOWED_ROLE_ARNS.to_string(), "arn:aws:iam::111122223333:role/team-a".to_string()),
        ]);
        gate.update("team-a", allowed.clone());
        let effective = gate.admit("team-a", &spec).expect("allowed");
        assert_eq!(effective.external_id.as_deref(), Some("prod/team-a"));
        let epoch = gate.epoch("team-a");
        // The same annotations again (a resync of the Namespace watch): same epoch.
        gate.update("team-a", allowed);
        assert_eq!(gate.epoch("team-a"), epoch);
        // The annotation removed: refused again, under a new epoch.
        gate.update("team-a", BTreeMap::new());
        assert!(gate.admit("team-a", &spec).is_err());
        assert_ne!(gate.epoch("team-a"), epoch);
        assert_eq!(Gate::open().epoch("team-a"), 0);
        // What the set grants: refused by admit, not by admit_scope (a deletion may still
        // remove what the set owns).
        let mut granting = spec.clone();
        granting.triggers =
            serde_json::from_value(serde_json::json!([{"name": "public", "permission": {"principal": "*"}}]))
                .unwrap();
        gate.update(
            "team-a",
            BTreeMap::from([
                (
                    ALLOWED_FUNCTIONS.to_string(),
                    "arn:aws:lambda:eu-west-1:111122223333:function:*".to_string(),
                ),
                (ALLOWED_ROLE_ARNS.to_string(), "arn:aws:iam::111122223333:role/team-a".to_string()),
            ]),
        );
        let refused = gate.admit("team-a", &granting).unwrap_err();
        assert!(refused.contains(ALLOW_PUBLIC_INVOKE), "{refused}");
        let scoped = gate.admit_scope("team-a", &granting).expect("function and role allowed");
        assert_eq!(scoped.external_id.as_deref(), Some("prod/team-a"));
        assert!(Gate::open().admit("team-a", &granting).is_ok(), "open grants anything");
        // Open: anything, as written.
        let mut chosen = spec.clone();
        chosen.external_id = Some("tenant-chosen".into());
        assert_eq!(
            Gate::open().admit("team-b", &chosen).expect("open").external_id.as_deref(),
            Some("tenant-chosen")
        );
    }
}
