//! One metered Lambda client per (region, role, external id), shared by every set that uses
//! it, all spending from one [`Budgets`] registry and counting into one [`CallCounter`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::budget::{Budgets, CallCounter, Metered};
use super::client::{AwsSettings, sdk_config_for};
use super::sdk::SdkLambda;
use crate::api::LambdaAliasSetSpec;

pub type Client = Arc<Metered<SdkLambda>>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    region: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
}

pub struct Connections {
    settings: AwsSettings,
    budgets: Budgets,
    calls: CallCounter,
    clients: Mutex<HashMap<Key, Client>>,
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME` -> (region, account); a partial ARN
/// `ACCOUNT:function:NAME` gives the account only.
fn arn_parts(function_name: &str) -> (Option<&str>, Option<&str>) {
    let parts: Vec<&str> = function_name.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "function", _] => (Some(region), Some(account)),
        [account, "function", _] => (None, Some(account)),
        _ => (None, None),
    }
}

/// The region a set's calls go to: `spec.region`, else the function ARN's, else the default chain.
pub fn region_of(spec: &LambdaAliasSetSpec) -> Option<&str> {
    region_in(&spec.function_name, spec.region.as_deref())
}

/// [`region_of`] from the two fields it reads.
pub fn region_in<'a>(function_name: &'a str, region: Option<&'a str>) -> Option<&'a str> {
    region.or_else(|| arn_parts(function_name).0)
}

/// The account whose quotas a set's calls spend: from the function ARN, else the role ARN.
pub fn account_of(spec: &LambdaAliasSetSpec) -> Option<&str> {
    account_in(&spec.function_name, spec.role_arn.as_deref())
}

/// [`account_of`] from the two fields it reads.
pub fn account_in<'a>(function_name: &'a str, role_arn: Option<&'a str>) -> Option<&'a str> {
    arn_parts(function_name)
        .1
        .or_else(|| role_arn.and_then(|r| r.split(':').nth(4)).filter(|a| !a.is_empty()))
}

impl Connections {
    pub fn new(settings: AwsSettings, budgets: Budgets, calls: CallCounter) -> Self {
        Connections { settings, budgets, calls, clients: Mutex::new(HashMap::new()) }
    }

    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The client for a set, built once per (region, role, external id).
    pub async fn client_for(&self, spec: &LambdaAliasSetSpec) -> Client {
        let key = Key {
            region: region_of(spec).map(str::to_string),
            role_arn: spec.role_arn.clone(),
            external_id: spec.external_id.clone(),
        };
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(&key) {
            return client.clone();
        }
        let config = sdk_config_for(
            &self.settings,
            key.region.as_deref(),
            key.role_arn.as_deref(),
            key.external_id.as_deref(),
        )
        .await;
        let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "default".to_string());
        let account = account_of(spec).unwrap_or("default").to_string();
        let client = Arc::new(Metered::new(
            SdkLambda::from_config(&config),
            account,
            region,
            self.budgets.clone(),
            self.calls.clone(),
        ));
        clients.insert(key, client.clone());
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_account_come_from_the_arn() {
        assert_eq!(
            arn_parts("arn:aws:lambda:eu-west-1:111122223333:function:f"),
            (Some("eu-west-1"), Some("111122223333"))
        );
        assert_eq!(arn_parts("111122223333:function:f"), (None, Some("111122223333")));
        assert_eq!(arn_parts("f"), (None, None));
    }
}
