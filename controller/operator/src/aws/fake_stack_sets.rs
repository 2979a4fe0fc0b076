//! StackSets in memory, for unit tests of what moto cannot produce: operations RUNNING
//! then SUCCEEDED or FAILED, OperationInProgressException, per-instance failures.

use super::fake::{CallLog, next_state};
use super::stack_sets::{OperationState, Preferences, StackInstance, StackSetInfo, StackSets, Target};
use super::{AwsError, FailureKind};
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
    async fn create(&self, name: &str, template: &str, tags: &BTreeMap<String, String>) -> Result<String, AwsError> {
        self.log.call("CreateStackSet")?;
        let info = StackSetInfo { id: format!("{name}:1"), template: template.into(), tags: tags.clone() };
        self.state.lock().unwrap().sets.insert(name.into(), info);
        Ok(format!("{name}:1"))
    }
    async fn update(&self, name: &str, template: &str, _: &Preferences, operation: &str) -> Result<String, AwsError> {
        self.log.call("UpdateStackSet")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        s.sets.get_mut(name).expect("a stack set").template = template.into();
        s.instances.entry(name.into()).or_default().iter_mut().for_each(|i| i.status = "CURRENT".into());
        Ok(id)
    }
    async fn create_instances(
        &self,
        name: &str,
        targets: &[Target],
        regions: &[String],
        _: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        self.log.call("CreateStackInstances")?;
        let id = self.start(operation)?;
        let mut s = self.state.lock().unwrap();
        let mut accounts = Vec::new();
        for target in targets {
            let in_ou = s.ou_accounts.get(&target.ou).cloned().unwrap_or_default();
            accounts.extend(in_ou.into_iter().filter(|a| target.accounts.is_empty() || target.accounts.contains(a)));
        }
        let list = s.instances.entry(name.into()).or_default();
        for account in accounts {
            for region in regions {
                if !list.iter().any(|i| i.account == account && i.region == *region) {
                    list.push(StackInstance {
                        account: account.clone(),
                        region: region.clone(),
                        status: "CURRENT".into(),
                        reason: None,
                    });
                }
            }
        }
        Ok(id)
    }
    async fn delete_instances(
        &self,
        name: &str,
        _ous: &[String],
        _regions: &[String],
        _: &Preferences,
        operation: &str,
    ) -> Result<String, AwsError> {
        self.log.call("DeleteStackInstances")?;
        let id = self.start(operation)?;
        self.state.lock().unwrap().instances.remove(name);
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
