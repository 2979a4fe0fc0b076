//! Account Management in memory, for unit tests: alternate contacts, names, and the
//! enabled regions an endpoint without ListRegions cannot answer.

use crate::aws::account::{AccountManagement, ContactDetails, ContactType};
use crate::aws::organizations::fake::aws;
use crate::aws::{AwsError, FailureKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Account Management (alternate contacts, names) in memory.
#[derive(Default)]
pub struct FakeAccountManagement {
    pub contacts: Mutex<BTreeMap<(String, ContactType), ContactDetails>>,
    pub names: Mutex<BTreeMap<String, String>>,
    pub puts: Mutex<usize>,
    /// ListRegions' answer per account (`None`: the management account); an account with
    /// none scripted answers 404, as an endpoint without the call does.
    pub regions: Mutex<BTreeMap<Option<String>, BTreeMap<String, String>>>,
    pub region_calls: Mutex<usize>,
}

impl AccountManagement for Arc<FakeAccountManagement> {
    /// The caller's own contacts are kept under the id `self`.
    async fn get_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
    ) -> Result<Option<ContactDetails>, AwsError> {
        Ok(self.contacts.lock().unwrap().get(&(account_id.unwrap_or("self").to_string(), kind)).cloned())
    }
    async fn put_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
        details: &ContactDetails,
    ) -> Result<(), AwsError> {
        *self.puts.lock().unwrap() += 1;
        self.contacts.lock().unwrap().insert((account_id.unwrap_or("self").to_string(), kind), details.clone());
        Ok(())
    }
    async fn put_account_name(&self, account_id: &str, name: &str) -> Result<(), AwsError> {
        *self.puts.lock().unwrap() += 1;
        self.names.lock().unwrap().insert(account_id.to_string(), name.to_string());
        Ok(())
    }
    async fn regions(&self, account_id: Option<&str>) -> Result<BTreeMap<String, String>, AwsError> {
        *self.region_calls.lock().unwrap() += 1;
        let scripted = self.regions.lock().unwrap().get(&account_id.map(str::to_string)).cloned();
        scripted.ok_or_else(|| aws(FailureKind::Client, "NotFound", "404 Not Found"))
    }
}
