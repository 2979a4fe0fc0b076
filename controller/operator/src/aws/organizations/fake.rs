//! An organization in memory, for unit tests of what moto cannot produce: IN_PROGRESS
//! creations, FAILED reasons, lost answers, throttling, quotas.

use crate::aws::organizations::{CreateRequest, CreateState, OrgAccount, OrgRoot, OrgUnit, Organizations, Tags};
use crate::aws::{AwsError, FailureKind, Permit};
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An organization in memory, with scripted create results and injectable failures.
#[derive(Default)]
pub struct FakeOrg {
    pub state: Mutex<OrgState>,
}

#[derive(Default)]
pub struct OrgState {
    pub ous: Vec<(OrgUnit, String)>,
    pub accounts: Vec<(OrgAccount, String)>,
    pub tags: HashMap<String, Tags>,
    pub requests: Vec<CreateRequest>,
    /// What CreateAccount answers next (default: SUCCEEDED at once).
    pub next_create: Option<Result<CreateState, AwsError>>,
    /// Operation name → the error it fails with.
    pub failing: HashMap<&'static str, AwsError>,
    pub calls: Vec<String>,
}

pub fn aws(kind: FailureKind, code: &str, message: &str) -> AwsError {
    AwsError { operation: "organizations:Test".into(), code: Some(code.into()), message: message.into(), kind }
}

impl FakeOrg {
    pub fn new() -> Self {
        let org = FakeOrg::default();
        {
            let mut s = org.state.lock().unwrap();
            s.ous = vec![
                (OrgUnit { id: "ou-root-work0000".into(), name: "Workloads".into() }, "r-root".into()),
                (OrgUnit { id: "ou-root-payr0000".into(), name: "Payroll".into() }, "ou-root-work0000".into()),
                (OrgUnit { id: "ou-root-bill0000".into(), name: "Billing".into() }, "ou-root-work0000".into()),
            ];
        }
        org
    }

    pub fn add_account(&self, id: &str, email: &str, parent: &str) {
        let account = OrgAccount {
            id: id.into(),
            arn: format!("arn:aws:organizations::000000000000:account/o-test/{id}"),
            name: id.into(),
            email: email.into(),
            state: "ACTIVE".into(),
        };
        self.state.lock().unwrap().accounts.push((account, parent.into()));
    }

    fn call(&self, name: &'static str) -> Result<(), AwsError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(name.to_string());
        match s.failing.get(name) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn count(&self, name: &str) -> usize {
        self.calls().iter().filter(|c| *c == name).count()
    }
}

impl Organizations for Arc<FakeOrg> {
    async fn root(&self) -> Result<OrgRoot, AwsError> {
        self.call("ListRoots")?;
        Ok(OrgRoot { id: "r-root".into(), arn: "arn:aws:organizations::000000000000:root/o-test/r-root".into() })
    }
    async fn child_ous(&self, parent_id: &str) -> Result<Vec<OrgUnit>, AwsError> {
        self.call("ListOrganizationalUnitsForParent")?;
        Ok(self.state.lock().unwrap().ous.iter().filter(|(_, p)| p == parent_id).map(|(o, _)| o.clone()).collect())
    }
    async fn accounts_in(&self, parent_id: &str) -> Result<Vec<OrgAccount>, AwsError> {
        self.call("ListAccountsForParent")?;
        Ok(self.state.lock().unwrap().accounts.iter().filter(|(_, p)| p == parent_id).map(|(a, _)| a.clone()).collect())
    }
    async fn describe_account(&self, account_id: &str) -> Result<OrgAccount, AwsError> {
        self.call("DescribeAccount")?;
        let s = self.state.lock().unwrap();
        s.accounts
            .iter()
            .find(|(a, _)| a.id == account_id)
            .map(|(a, _)| a.clone())
            .ok_or_else(|| aws(FailureKind::Client, "AccountNotFoundException", "no such account"))
    }
    async fn parent_of(&self, account_id: &str) -> Result<String, AwsError> {
        self.call("ListParents")?;
        let s = self.state.lock().unwrap();
        Ok(s.accounts.iter().find(|(a, _)| a.id == account_id).map(|(_, p)| p.clone()).unwrap_or_default())
    }
    async fn tags_of(&self, resource_id: &str) -> Result<Tags, AwsError> {
        self.call("ListTagsForResource")?;
        Ok(self.state.lock().unwrap().tags.get(resource_id).cloned().unwrap_or_default())
    }
    async fn reserve_create(&self) -> Permit {
        self.state.lock().unwrap().calls.push("reserve:CreateAccount".into());
        Permit::unlimited("organizations", "CreateAccount")
    }
    async fn create_account(
        &self,
        _permit: Permit,
        name: &str,
        email: &str,
        tags: &Tags,
    ) -> Result<CreateRequest, AwsError> {
        self.call("CreateAccount")?;
        let mut s = self.state.lock().unwrap();
        let id = format!("car-{}", s.requests.len() + 1);
        let state = s.next_create.take().unwrap_or_else(|| Ok(CreateState::Succeeded(String::new())))?;
        // Like AWS, one email belongs to one account.
        let taken = s.accounts.iter().any(|(a, _)| a.email.eq_ignore_ascii_case(email));
        let state = if taken { CreateState::Failed("EMAIL_ALREADY_EXISTS".into()) } else { state };
        let state = match state {
            CreateState::Succeeded(_) => {
                let account_id = format!("{:012}", 100_000_000_000u64 + s.accounts.len() as u64);
                let account = OrgAccount {
                    id: account_id.clone(),
                    arn: format!("arn:aws:organizations::000000000000:account/o-test/{account_id}"),
                    name: name.into(),
                    email: email.into(),
                    state: "ACTIVE".into(),
                };
                s.accounts.push((account, "r-root".into()));
                s.tags.insert(account_id.clone(), tags.clone());
                CreateState::Succeeded(account_id)
            }
            other => other,
        };
        let request =
            CreateRequest { id, account_name: name.into(), state, requested_at: Some(Timestamp::now().as_second()) };
        s.requests.push(request.clone());
        Ok(request)
    }
    async fn create_request(&self, request_id: &str) -> Result<CreateRequest, AwsError> {
        self.call("DescribeCreateAccountStatus")?;
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .find(|r| r.id == request_id)
            .cloned()
            .ok_or_else(|| aws(FailureKind::Client, "CreateAccountStatusNotFoundException", "none"))
    }
    async fn create_requests(&self) -> Result<Vec<CreateRequest>, AwsError> {
        self.call("ListCreateAccountStatus")?;
        Ok(self.state.lock().unwrap().requests.clone())
    }
    async fn move_account(&self, account_id: &str, _from: &str, to: &str) -> Result<(), AwsError> {
        self.call("MoveAccount")?;
        let mut s = self.state.lock().unwrap();
        if let Some(entry) = s.accounts.iter_mut().find(|(a, _)| a.id == account_id) {
            entry.1 = to.to_string();
        }
        Ok(())
    }
    async fn tag(&self, resource_id: &str, tags: &Tags) -> Result<(), AwsError> {
        self.call("TagResource")?;
        self.state.lock().unwrap().tags.entry(resource_id.into()).or_default().extend(tags.clone());
        Ok(())
    }
    async fn untag(&self, resource_id: &str, keys: &[String]) -> Result<(), AwsError> {
        self.call("UntagResource")?;
        let mut s = self.state.lock().unwrap();
        let tags = s.tags.entry(resource_id.into()).or_default();
        keys.iter().for_each(|k| {
            tags.remove(k);
        });
        Ok(())
    }
    async fn close_account(&self, account_id: &str) -> Result<(), AwsError> {
        self.call("CloseAccount")?;
        let mut s = self.state.lock().unwrap();
        if let Some(entry) = s.accounts.iter_mut().find(|(a, _)| a.id == account_id) {
            entry.0.state = "PENDING_CLOSURE".into();
        }
        Ok(())
    }
}
