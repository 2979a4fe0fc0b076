//! StackSets in memory, for unit tests of what moto cannot produce: operations RUNNING
//! then SUCCEEDED or FAILED, OperationInProgressException, per-instance failures.

use crate::aws::stack_sets::{
    OperationState, Preferences, StackInstance, StackSetInfo, StackSetSpec, StackSets, Target,
};
use crate::aws::test_support::{CallLog, next_state};
use crate::aws::{AwsError, FailureKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct StackSetState {
    pub sets: BTreeMap<String, StackSetInfo>,
    pub instances: BTreeMap<String, Vec<StackInstance>>,
    /// States the next operations go through (default: SUCCEEDED at once).
    pub scripts: VecDeque<Vec<OperationState>>,
    operations: HashMap<String, VecDeque<OperationState>>,
    /// The accounts of each OU, as CreateStackInstances expands them.
    pub ou_accounts: BTreeMap<String, Vec<String>>,
    /// Stacks deleted from accounts, and kept there (RetainStacks), by DeleteStackInstances.
    pub deleted_stacks: Vec<(String, String)>,
    pub retained_stacks: Vec<(String, String)>,
}

/// StackSets of one administrator account, in memory.
#[derive(Default)]
pub struct FakeStackSets {
    pub state: Mutex<StackSetState>,
    pub log: CallLog,
}

impl FakeStackSets {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeStackSets::default())
    }

    fn start(&self, id: &str) -> Result<String, AwsError> {
        let mut s = self.state.lock().unwrap();
        if s.operations.values().any(|states| states.front() == Some(&OperationState::Running)) {
            return Err(AwsError {
                operation: "cloudformation:Test".into(),
                code: Some("OperationInProgressException".into()),
                message: "another operation is in progress".into(),
                kind: FailureKind::Client,
            });
        }
        let states = s.scripts.pop_front().unwrap_or_else(|| vec![OperationState::Succeeded]).into();
        s.operations.insert(id.to_string(), states);
        Ok(id.to_string())
    }
}

impl StackSets for Arc<FakeStackSets> {
    async fn describe(&self, name: &str) -> Result<Option<StackSetInfo>, AwsError> {
        self.log.call("DescribeStackSet")?;
        Ok(self.state.lock().unwrap().sets.get(name).cloned())
    }
    async fn create(
        &self,
        name: &str,
        spec: &StackSetSpec,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, AwsError> {
        self.log.call("CreateStackSet")?;
        let info = StackSetInfo {
            id: format!("{name}:1"),
            template: spec.template.clone(),
            parameters: spec.parameters.clone(),
            tags: tags.clone(),
            drift_status: Some("NOT_CHECKED".into()),
        };
        self.state.lock().unwrap().sets.insert(name.into(), info);
        Ok(format!("{name}:1"))
    }
    async fn update(
        &self,
        name: &str,
        spec: &StackSetSpec,
        _: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        self.log.call("UpdateStackSet")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        let set = s.sets.get_mut(name).expect("a stack set");
        (set.template, set.parameters) = (spec.template.clone(), spec.parameters.clone());
        s.instances.entry(name.into()).or_default().iter_mut().for_each(|i| i.status = "CURRENT".into());
        Ok(id)
    }
    async fn create_instances(
        &self,
        name: &str,
        target: &Target,
        regions: &[String],
        _: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        self.log.call("CreateStackInstances")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        let mut accounts: Vec<(String, Option<String>)> = Vec::new();
        if target.ous.is_empty() {
            accounts.extend(target.accounts.iter().map(|a| (a.clone(), None)));
        }
        for ou in &target.ous {
            let in_ou = s.ou_accounts.get(ou).cloned().unwrap_or_default();
            let chosen = in_ou.into_iter().filter(|a| target.accounts.is_empty() || target.accounts.contains(a));
            accounts.extend(chosen.map(|a| (a, Some(ou.clone()))));
        }
        let list = s.instances.entry(name.into()).or_default();
        for (account, ou) in accounts {
            for region in regions {
                if !list.iter().any(|i| i.account == account && i.region == *region) {
                    list.push(StackInstance {
                        account: account.clone(),
                        region: region.clone(),
                        status: "CURRENT".into(),
                        reason: None,
                        ou: ou.clone(),
                        drift_status: Some("NOT_CHECKED".into()),
                    });
                }
            }
        }
        Ok(id)
    }
    async fn delete_instances(
        &self,
        name: &str,
        target: &Target,
        regions: &[String],
        retain_stacks: bool,
        _: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        self.log.call("DeleteStackInstances")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        let ou_accounts = s.ou_accounts.clone();
        let reached = |i: &StackInstance| {
            regions.contains(&i.region)
                && (target.accounts.contains(&i.account)
                    || target.ous.iter().any(|ou| ou_accounts.get(ou).is_some_and(|a| a.contains(&i.account))))
        };
        let list = s.instances.entry(name.into()).or_default();
        let (gone, kept): (Vec<StackInstance>, Vec<StackInstance>) = list.drain(..).partition(reached);
        *list = kept;
        let stacks = gone.into_iter().map(|i| (i.account, i.region));
        if retain_stacks {
            s.retained_stacks.extend(stacks)
        } else {
            s.deleted_stacks.extend(stacks)
        }
        Ok(id)
    }
    async fn detect_drift(&self, name: &str, operation: &str) -> Result<String, AwsError> {
        self.log.call("DetectStackSetDrift")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        let drifted =
            s.instances.get(name).is_some_and(|l| l.iter().any(|i| i.drift_status.as_deref() == Some("DRIFTED")));
        s.sets.get_mut(name).expect("a stack set").drift_status =
            Some(if drifted { "DRIFTED" } else { "IN_SYNC" }.into());
        Ok(id)
    }
    async fn instances(&self, name: &str) -> Result<Vec<StackInstance>, AwsError> {
        self.log.call("ListStackInstances")?;
        Ok(self.state.lock().unwrap().instances.get(name).cloned().unwrap_or_default())
    }
    async fn operation(&self, _name: &str, id: &str) -> Result<OperationState, AwsError> {
        self.log.call("DescribeStackSetOperation")?;
        let mut s = self.state.lock().unwrap();
        let states = s.operations.get_mut(id).expect("a known operation");
        Ok(next_state(states, OperationState::Succeeded))
    }
    async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.log.call("DeleteStackSet")?;
        self.state.lock().unwrap().sets.remove(name);
        Ok(())
    }
}
