//! Which sets own which function (pure): the drift-event feed's map from an event's function to
//! the sets on it. A set's function is resolved the way its calls go (ARCHITECTURE "Tenancy"):
//! the account of its function ARN, else of its `roleArn`, else the controller's own; the
//! region of `spec.region`, else of the ARN, else the controller's default.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use super::event::{FunctionRef, function_ref};
use crate::api::LambdaAliasSetSpec;
use crate::aws::connections::{account_in, region_in};

/// A set, as the feed addresses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetRef {
    pub namespace: String,
    pub name: String,
}

/// The three spec fields that say where a set's function is: all the feed reads of a set.
/// Missing fields decode as empty, so that a set the index cannot place is left out rather
/// than failing the watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Location {
    pub function_name: String,
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

impl From<&LambdaAliasSetSpec> for Location {
    fn from(spec: &LambdaAliasSetSpec) -> Self {
        Location {
            function_name: spec.function_name.clone(),
            region: spec.region.clone(),
            role_arn: spec.role_arn.clone(),
        }
    }
}

/// What a set's function resolves to when the spec does not say: the controller's own account
/// (STS GetCallerIdentity) and its default region. Unknown values match any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    pub account: Option<String>,
    pub region: Option<String>,
}

/// The function a set's calls go to.
pub fn function_of(location: &Location, defaults: &Defaults) -> Option<FunctionRef> {
    let named = function_ref(&location.function_name)?;
    let name = &location.function_name;
    Some(FunctionRef {
        name: named.name,
        account: account_in(name, location.role_arn.as_deref())
            .map(str::to_owned)
            .or_else(|| defaults.account.clone()),
        region: region_in(name, location.region.as_deref())
            .map(str::to_owned)
            .or_else(|| defaults.region.clone()),
    })
}

/// One set on a function: where the set is, and the account and region of its function.
#[derive(Debug)]
struct Entry {
    namespace: Arc<str>,
    name: Box<str>,
    account: Option<Arc<str>>,
    region: Option<Arc<str>>,
}

impl Entry {
    fn is(&self, namespace: &str, name: &str) -> bool {
        &*self.namespace == namespace && &*self.name == name
    }
}

/// The sets of one watch, by function name. Kept small, since it holds every set of the
/// watched namespaces (BENCHMARKS "Drift events"): each string once, and namespaces, accounts
/// and regions shared between the sets that have them.
#[derive(Debug, Default)]
pub struct Index {
    /// Function name -> the sets on it (nearly always one).
    by_function: HashMap<Box<str>, Vec<Entry>>,
    /// (namespace, set name) -> its function's name, to move or drop the set.
    placed: HashMap<(Arc<str>, Box<str>), Box<str>>,
    /// Namespaces, accounts and regions, each held once.
    words: HashSet<Arc<str>>,
}

impl Index {
    /// Adds or replaces a set. A set whose function is not a name or ARN is left out: no event
    /// can name it.
    pub fn insert(&mut self, namespace: &str, name: &str, location: &Location, defaults: &Defaults) {
        self.remove(namespace, name);
        let Some(function) = function_of(location, defaults) else { return };
        let namespace = self.word(namespace);
        let entry = Entry {
            namespace: namespace.clone(),
            name: name.into(),
            account: function.account.as_deref().map(|a| self.word(a)),
            region: function.region.as_deref().map(|r| self.word(r)),
        };
        self.by_function.entry(function.name.as_str().into()).or_default().push(entry);
        self.placed.insert((namespace, name.into()), function.name.into());
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        let key: (Arc<str>, Box<str>) = (namespace.into(), name.into());
        let Some(function) = self.placed.remove(&key) else { return };
        if let Some(entries) = self.by_function.get_mut(&function) {
            entries.retain(|e| !e.is(namespace, name));
            if entries.is_empty() {
                self.by_function.remove(&function);
            }
        }
    }

    /// The sets on the event's function.
    pub fn matching(&self, event: &FunctionRef) -> Vec<SetRef> {
        let Some(entries) = self.by_function.get(event.name.as_str()) else { return Vec::new() };
        // The same account and region wherever both are known.
        let agree = |a: &Option<Arc<str>>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => **a == **b,
            _ => true,
        };
        entries
            .iter()
            .filter(|e| agree(&e.account, &event.account) && agree(&e.region, &event.region))
            .map(|e| SetRef { namespace: e.namespace.to_string(), name: e.name.to_string() })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.placed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.placed.is_empty()
    }

    /// The shared copy of a namespace, account or region.
    fn word(&mut self, word: &str) -> Arc<str> {
        if let Some(shared) = self.words.get(word) {
            return shared.clone();
        }
        let shared: Arc<str> = word.into();
        self.words.insert(shared.clone());
        shared
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn set(name: &str) -> SetRef {
        SetRef { namespace: "skills".into(), name: name.into() }
    }

    /// Inserts the set `name` of namespace "skills".
    fn insert(index: &mut Index, name: &str, spec: &LambdaAliasSetSpec, defaults: &Defaults) {
        index.insert("skills", name, &Location::from(spec), defaults);
    }

    fn spec(function: &str) -> LambdaAliasSetSpec {
        LambdaAliasSetSpec::for_function(function)
    }

    fn event(name: &str, account: &str, region: &str) -> FunctionRef {
        FunctionRef { name: name.into(), account: Some(account.into()), region: Some(region.into()) }
    }

    const ME: &str = "111122223333";
    const OTHER: &str = "444455556666";

    fn defaults() -> Defaults {
        Defaults { account: Some(ME.into()), region: Some("eu-west-1".into()) }
    }

    #[test]
    fn a_bare_name_is_the_controllers_account_and_region() {
        let mut index = Index::default();
        insert(&mut index, "a", &spec("trivia"), &defaults());
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![set("a")]);
        assert!(index.matching(&event("trivia", OTHER, "eu-west-1")).is_empty(), "another account's trivia");
        assert!(index.matching(&event("trivia", ME, "us-east-1")).is_empty(), "another region's trivia");
        assert!(index.matching(&event("quiz", ME, "eu-west-1")).is_empty());
    }

    #[test]
    fn arns_roles_and_spec_region_say_where_the_function_is() {
        let mut index = Index::default();
        insert(
            &mut index,
            "arn",
            &spec(&format!("arn:aws:lambda:us-east-1:{OTHER}:function:trivia")),
            &defaults(),
        );
        insert(&mut index, "partial", &spec(&format!("{OTHER}:function:quiz")), &defaults());
        let mut role = spec("game");
        role.role_arn = Some(format!("arn:aws:iam::{OTHER}:role/deployer"));
        role.region = Some("ap-south-1".into());
        insert(&mut index, "role", &role, &defaults());
        assert_eq!(index.matching(&event("trivia", OTHER, "us-east-1")), vec![set("arn")]);
        assert!(index.matching(&event("trivia", ME, "us-east-1")).is_empty());
        assert_eq!(index.matching(&event("quiz", OTHER, "eu-west-1")), vec![set("partial")]);
        assert_eq!(index.matching(&event("game", OTHER, "ap-south-1")), vec![set("role")]);
        assert!(index.matching(&event("game", ME, "ap-south-1")).is_empty());
    }

    #[test]
    fn unknown_defaults_match_any_and_sets_come_and_go() {
        let mut index = Index::default();
        insert(&mut index, "a", &spec("trivia"), &Defaults::default());
        insert(&mut index, "b", &spec("trivia"), &Defaults::default());
        assert_eq!(index.matching(&event("trivia", OTHER, "sa-east-1")), vec![set("a"), set("b")]);
        insert(&mut index, "a", &spec("quiz"), &Defaults::default());
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![set("b")]);
        index.remove("skills", "b");
        assert!(index.matching(&event("trivia", ME, "eu-west-1")).is_empty());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn sets_of_the_same_name_in_two_namespaces_are_two_sets() {
        let mut index = Index::default();
        index.insert("skills", "a", &Location::from(&spec("trivia")), &defaults());
        index.insert("games", "a", &Location::from(&spec("trivia")), &defaults());
        let games = SetRef { namespace: "games".into(), name: "a".into() };
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![set("a"), games.clone()]);
        index.remove("skills", "a");
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![games]);
        index.remove("games", "a");
        assert!(index.is_empty());
        assert!(index.by_function.is_empty(), "no function left without sets");
    }

    #[test]
    fn a_set_without_a_function_it_can_name_is_left_out() {
        let mut index = Index::default();
        index.insert("skills", "a", &Location::from(&spec("trivia")), &defaults());
        index.insert("skills", "a", &Location::default(), &defaults());
        assert!(index.is_empty(), "the set's old function is dropped too");
        assert!(index.matching(&event("trivia", ME, "eu-west-1")).is_empty());
    }

    /// How a spec names a function.
    #[derive(Clone, Debug)]
    enum SpecForm {
        Name,
        Partial,
        Arn,
        /// A bare name with a role in the function's account.
        Role,
    }

    /// How an event names a function.
    #[derive(Clone, Debug)]
    enum EventForm {
        Name,
        Qualified,
        Partial,
        Arn,
        QualifiedArn,
    }

    fn spec_of(form: &SpecForm, name: &str, account: &str, region: &str) -> LambdaAliasSetSpec {
        let mut s = match form {
            SpecForm::Name | SpecForm::Role => spec(name),
            SpecForm::Partial => spec(&format!("{account}:function:{name}")),
            SpecForm::Arn => spec(&format!("arn:aws:lambda:{region}:{account}:function:{name}")),
        };
        if matches!(form, SpecForm::Role) {
            s.role_arn = Some(format!("arn:aws:iam::{account}:role/r"));
        }
        if !matches!(form, SpecForm::Arn) {
            s.region = Some(region.to_owned());
        }
        s
    }

    fn named(form: &EventForm, name: &str, account: &str, region: &str) -> String {
        match form {
            EventForm::Name => name.to_owned(),
            EventForm::Qualified => format!("{name}:PROD1"),
            EventForm::Partial => format!("{account}:function:{name}"),
            EventForm::Arn => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            EventForm::QualifiedArn => format!("arn:aws:lambda:{region}:{account}:function:{name}:7"),
        }
    }

    proptest! {
        /// Whatever form the spec and the event use, an event matches a set exactly when it is
        /// about the same function: same name, account and region (a bare name in an event is
        /// in the event's account and region; in a spec, the controller's or the role's).
        #[test]
        fn an_event_matches_exactly_the_sets_of_its_function(
            spec_form in prop_oneof![Just(SpecForm::Name), Just(SpecForm::Partial), Just(SpecForm::Arn), Just(SpecForm::Role)],
            event_form in prop_oneof![Just(EventForm::Name), Just(EventForm::Qualified), Just(EventForm::Partial), Just(EventForm::Arn), Just(EventForm::QualifiedArn)],
            set_name in prop_oneof![Just("trivia"), Just("quiz")],
            event_name in prop_oneof![Just("trivia"), Just("quiz")],
            set_account in prop_oneof![Just(ME), Just(OTHER)],
            event_account in prop_oneof![Just(ME), Just(OTHER)],
            set_region in prop_oneof![Just("eu-west-1"), Just("us-east-1")],
            event_region in prop_oneof![Just("eu-west-1"), Just("us-east-1")],
        ) {
            // A bare name without a role is in the controller's account.
            let set_account = if matches!(spec_form, SpecForm::Name) { ME } else { set_account };
            let mut index = Index::default();
            insert(&mut index, "s", &spec_of(&spec_form, set_name, set_account, set_region), &defaults());
            let body = super::super::event::tests::cloudtrail(
                "UpdateAlias20150331",
                serde_json::json!({"functionName": named(&event_form, event_name, event_account, event_region)}),
            );
            let mut body = body;
            body["account"] = serde_json::json!(event_account);
            body["detail"]["recipientAccountId"] = serde_json::json!(event_account);
            body["region"] = serde_json::json!(event_region);
            body["detail"]["awsRegion"] = serde_json::json!(event_region);
            let super::super::event::Message::Event(e) = super::super::event::parse(&body.to_string()) else {
                panic!("a well-formed event");
            };
            let same = set_name == event_name && set_account == event_account && set_region == event_region;
            prop_assert_eq!(index.matching(&e.function).len(), usize::from(same));
        }
    }
}
