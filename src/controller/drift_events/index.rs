//! Which sets own which function (pure): the drift-event feed's map from an event's function to
//! the sets on it. A set's function is resolved the way its calls go (ARCHITECTURE "Tenancy"):
//! the account of its function ARN, else of its `roleArn`, else the controller's own; the
//! region of `spec.region`, else of the ARN, else the controller's default.

use std::collections::{BTreeSet, HashMap};

use super::event::{FunctionRef, function_ref};
use crate::api::LambdaAliasSetSpec;
use crate::aws::connections::{account_of, region_of};

/// A set, as the feed addresses it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// What a set's function resolves to when the spec does not say: the controller's own account
/// (STS GetCallerIdentity) and its default region. Unknown values match any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defaults {
    pub account: Option<String>,
    pub region: Option<String>,
}

/// The function a set's calls go to.
pub fn function_of(spec: &LambdaAliasSetSpec, defaults: &Defaults) -> Option<FunctionRef> {
    let named = function_ref(&spec.function_name)?;
    Some(FunctionRef {
        name: named.name,
        account: account_of(spec).map(str::to_owned).or_else(|| defaults.account.clone()),
        region: region_of(spec).map(str::to_owned).or_else(|| defaults.region.clone()),
    })
}

/// Whether an event's function is a set's: the same name, and the same account and region
/// wherever both are known.
pub fn same_function(set: &FunctionRef, event: &FunctionRef) -> bool {
    let agree = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    set.name == event.name && agree(&set.account, &event.account) && agree(&set.region, &event.region)
}

/// The sets of one watch, by function name.
#[derive(Debug, Default)]
pub struct Index {
    sets: HashMap<String, (SetRef, FunctionRef)>,
    by_name: HashMap<String, BTreeSet<String>>,
}

impl Index {
    /// Adds or replaces a set (by uid). A spec whose function is not a name or ARN is left out:
    /// no event can name it.
    pub fn insert(&mut self, set: SetRef, spec: &LambdaAliasSetSpec, defaults: &Defaults) {
        self.remove(&set.uid);
        let Some(function) = function_of(spec, defaults) else { return };
        self.by_name.entry(function.name.clone()).or_default().insert(set.uid.clone());
        self.sets.insert(set.uid.clone(), (set, function));
    }

    pub fn remove(&mut self, uid: &str) {
        if let Some((_, function)) = self.sets.remove(uid)
            && let Some(uids) = self.by_name.get_mut(&function.name)
        {
            uids.remove(uid);
            if uids.is_empty() {
                self.by_name.remove(&function.name);
            }
        }
    }

    /// The sets on the event's function.
    pub fn matching(&self, event: &FunctionRef) -> Vec<SetRef> {
        let Some(uids) = self.by_name.get(&event.name) else { return Vec::new() };
        uids.iter()
            .filter_map(|uid| self.sets.get(uid))
            .filter(|(_, function)| same_function(function, event))
            .map(|(set, _)| set.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn set(uid: &str) -> SetRef {
        SetRef { namespace: "skills".into(), name: uid.into(), uid: uid.into() }
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
        index.insert(set("a"), &spec("trivia"), &defaults());
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![set("a")]);
        assert!(index.matching(&event("trivia", OTHER, "eu-west-1")).is_empty(), "another account's trivia");
        assert!(index.matching(&event("trivia", ME, "us-east-1")).is_empty(), "another region's trivia");
        assert!(index.matching(&event("quiz", ME, "eu-west-1")).is_empty());
    }

    #[test]
    fn arns_roles_and_spec_region_say_where_the_function_is() {
        let mut index = Index::default();
        index.insert(
            set("arn"),
            &spec(&format!("arn:aws:lambda:us-east-1:{OTHER}:function:trivia")),
            &defaults(),
        );
        index.insert(set("partial"), &spec(&format!("{OTHER}:function:quiz")), &defaults());
        let mut role = spec("game");
        role.role_arn = Some(format!("arn:aws:iam::{OTHER}:role/deployer"));
        role.region = Some("ap-south-1".into());
        index.insert(set("role"), &role, &defaults());
        assert_eq!(index.matching(&event("trivia", OTHER, "us-east-1")), vec![set("arn")]);
        assert!(index.matching(&event("trivia", ME, "us-east-1")).is_empty());
        assert_eq!(index.matching(&event("quiz", OTHER, "eu-west-1")), vec![set("partial")]);
        assert_eq!(index.matching(&event("game", OTHER, "ap-south-1")), vec![set("role")]);
        assert!(index.matching(&event("game", ME, "ap-south-1")).is_empty());
    }

    #[test]
    fn unknown_defaults_match_any_and_sets_come_and_go() {
        let mut index = Index::default();
        index.insert(set("a"), &spec("trivia"), &Defaults::default());
        index.insert(set("b"), &spec("trivia"), &Defaults::default());
        assert_eq!(index.matching(&event("trivia", OTHER, "sa-east-1")), vec![set("a"), set("b")]);
        index.insert(set("a"), &spec("quiz"), &Defaults::default());
        assert_eq!(index.matching(&event("trivia", ME, "eu-west-1")), vec![set("b")]);
        index.remove("b");
        assert!(index.matching(&event("trivia", ME, "eu-west-1")).is_empty());
        assert_eq!(index.len(), 1);
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
            index.insert(set("s"), &spec_of(&spec_form, set_name, set_account, set_region), &defaults());
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
