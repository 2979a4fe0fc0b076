//! `SecurityBaseline`: security services rolled out to accounts with a service-managed
//! CloudFormation StackSet. The template is generated from the spec in `template`; the
//! accounts the stack set must reach are verified against the organization, not trusted
//! to AWS's automatic deployment.

pub mod template;

use crate::aws::org_cache::OrgCache;
use crate::aws::organizations::Organizations;
use crate::aws::stack_sets::{OperationState, Preferences, StackInstance, StackSets, Target};
use crate::kinds::aws_error;
use crate::kinds::directory::AccountDirectory;
use crate::policy::Grants;
use crate::reconcile::ownership;
use crate::reconcile::{Availability, Error, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusSink};
use anyhow::Context;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use orgops_api::baseline::{InstanceFailure, StackSetOperation};
use orgops_api::{AccountTarget, SecurityBaseline, SecurityBaselineStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// `orgops template FILE`: the CloudFormation template of the SecurityBaseline in a YAML
/// file, as orgops would roll it out, for review on a pull request.
pub fn print_template(file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let kind = value.get("kind").and_then(serde_yaml::Value::as_str).unwrap_or("(none)");
    if kind != "SecurityBaseline" {
        anyhow::bail!("{} is not a SecurityBaseline (kind: {kind})", file.display());
    }
    let baseline: SecurityBaseline =
        serde_yaml::from_value(value).with_context(|| format!("{} is not a valid SecurityBaseline", file.display()))?;
    if let Some(source) = &baseline.spec.template {
        anyhow::bail!(
            "{} uses the custom template in ConfigMap {} (key {}), not a generated one",
            file.display(),
            source.config_map_name,
            source.key
        );
    }
    print!("{}", template::render(&baseline.spec));
    Ok(())
}

/// The SecurityBaseline implementation of [`ManagedKind`].
pub struct BaselineKind<S: StackSets, O: Organizations, A: AccountDirectory> {
    stack_sets: S,
    org: Arc<OrgCache<O>>,
    accounts: A,
}

/// The stack set of a baseline: named after the object, unique in the account.
pub fn stack_set_name(obj: &SecurityBaseline) -> String {
    let name = format!("orgops-{}-{}", obj.namespace().unwrap_or_default(), obj.name_any()).replace('.', "-");
    name.chars().take(128).collect()
}

/// An account and region a baseline must reach, with the OU the account is in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Placement {
    account: String,
    region: String,
    ou: String,
}

fn stack_set_error(error: crate::aws::AwsError) -> Error {
    if error.is("OperationInProgressException") {
        return Error::waiting(format!("another operation on the stack set is running: {error}"));
    }
    aws_error(error)
}

impl<S: StackSets, O: Organizations, A: AccountDirectory> BaselineKind<S, O, A> {
    /// A kind on the shared organization snapshot and AwsAccounts.
    pub fn new(stack_sets: S, org: Arc<OrgCache<O>>, accounts: A) -> Self {
        BaselineKind { stack_sets, org, accounts }
    }

    /// Every (account, region) the baseline must reach: the ACTIVE accounts in the target
    /// OUs and below them (not the management account, which service-managed stack sets
    /// never reach), and the listed accounts, in every target region.
    fn placements(&self, obj: &SecurityBaseline) -> Result<Vec<Placement>, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let targets = &obj.spec.targets;
        let mut accounts: BTreeMap<String, String> = BTreeMap::new();
        self.org.read(|s| {
            let management = s.management_account().map(str::to_string);
            for (index, ou) in targets.organizational_units.iter().enumerate() {
                let id = s.resolve_ou(ou).ok_or_else(|| {
                    Error::terminal(format!(
                        "spec.targets.organizationalUnits[{index}] {ou:?} does not exist in the organization"
                    ))
                })?;
                for account in s.accounts_under(&id) {
                    if account.state == "ACTIVE" && Some(&account.id) != management.as_ref() {
                        let parent = s.parent_of(&account.id).unwrap_or_default().to_string();
                        accounts.insert(account.id.clone(), parent);
                    }
                }
            }
            for (index, target) in targets.accounts.iter().enumerate() {
                let id = match target {
                    AccountTarget { account_id: Some(id), .. } => Some(id.clone()),
                    AccountTarget { account_ref: Some(name), .. } => {
                        self.accounts.account(&namespace, name).and_then(|e| e.account_id)
                    }
                    _ => None,
                };
                let Some(id) = id else { continue };
                let parent = s.parent_of(&id).ok_or_else(|| {
                    Error::terminal(format!(
                        "spec.targets.accounts[{index}] {id} is not an account of this organization"
                    ))
                })?;
                accounts.insert(id, parent.to_string());
            }
            Ok::<(), Error>(())
        })?;
        let mut placements = Vec::new();
        for (account, ou) in accounts {
            for region in &targets.regions {
                placements.push(Placement { account: account.clone(), region: region.clone(), ou: ou.clone() });
            }
        }
        Ok(placements)
    }

    /// Polls the operation in status; `true` while it runs.
    async fn settle_operation(&self, name: &str, status: &mut SecurityBaselineStatus) -> Result<bool, Error> {
        let Some(operation) = status.last_operation.as_mut().filter(|o| o.status == "RUNNING") else {
            return Ok(false);
        };
        match self.stack_sets.operation(name, &operation.id).await.map_err(stack_set_error)? {
            OperationState::Running => Ok(true),
            OperationState::Succeeded => {
                operation.status = "SUCCEEDED".into();
                Ok(false)
            }
            OperationState::Failed(reason) => {
                operation.status = "FAILED".into();
                operation.reason = Some(reason);
                Ok(false)
            }
        }
    }

    /// Records a started operation and polls it once; `true` while it runs.
    async fn started(
        &self,
        name: &str,
        status: &mut SecurityBaselineStatus,
        id: String,
        action: &str,
    ) -> Result<bool, Error> {
        status.last_operation =
            Some(StackSetOperation { id, action: action.into(), status: "RUNNING".into(), reason: None });
        self.settle_operation(name, status).await
    }

    /// The instances still to create, grouped by OU.
    fn missing_targets(placements: &[Placement], instances: &[StackInstance]) -> (Vec<Target>, BTreeSet<String>) {
        let present: BTreeSet<(&str, &str)> =
            instances.iter().map(|i| (i.account.as_str(), i.region.as_str())).collect();
        let mut by_ou: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut regions = BTreeSet::new();
        for p in placements.iter().filter(|p| !present.contains(&(p.account.as_str(), p.region.as_str()))) {
            by_ou.entry(p.ou.clone()).or_default().insert(p.account.clone());
            regions.insert(p.region.clone());
        }
        let targets =
            by_ou.into_iter().map(|(ou, accounts)| Target { ou, accounts: accounts.into_iter().collect() }).collect();
        (targets, regions)
    }

    /// Reads the instances again after an operation finished, for the status counts.
    async fn recount(
        &self,
        obj: &SecurityBaseline,
        name: &str,
        status: &mut SecurityBaselineStatus,
    ) -> Result<(), Error> {
        let placements = self.placements(obj)?;
        let instances = self.stack_sets.instances(name).await.map_err(stack_set_error)?;
        summarize(status, &placements, &instances, obj.spec.targets.regions.len());
        Ok(())
    }

    /// The spec's operation preferences, as the StackSets calls take them.
    fn preferences(obj: &SecurityBaseline) -> Preferences {
        let spec = obj.spec.operation_preferences.clone().unwrap_or_default();
        Preferences {
            max_concurrent_percentage: spec.max_concurrent_percentage,
            failure_tolerance_percentage: spec.failure_tolerance_percentage,
            region_order: spec.region_order,
        }
    }

    fn operation_id(obj: &SecurityBaseline, action: &str) -> String {
        format!("orgops-{}-{action}-{}", obj.uid().unwrap_or_default(), Timestamp::now().as_millisecond())
    }
}

fn summarize(
    status: &mut SecurityBaselineStatus,
    placements: &[Placement],
    instances: &[StackInstance],
    regions: usize,
) {
    let mut counts = BTreeMap::new();
    for instance in instances {
        *counts.entry(instance.status.clone()).or_insert(0) += 1;
    }
    let current = instances.iter().filter(|i| i.status == "CURRENT").count();
    status.instance_counts = counts;
    status.instance_summary = Some(format!("{current}/{}", placements.len()));
    let accounts: BTreeSet<&str> = placements.iter().map(|p| p.account.as_str()).collect();
    let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    status.target_summary = Some(format!("{} × {}", plural(accounts.len(), "account"), plural(regions, "region")));
    status.failures = instances
        .iter()
        .filter(|i| i.status == "INOPERABLE" || (i.status != "CURRENT" && i.reason.is_some()))
        .map(|i| InstanceFailure {
            account_id: i.account.clone(),
            region: i.region.clone(),
            reason: i.reason.clone().unwrap_or_else(|| i.status.clone()),
        })
        .collect();
}

impl<S: StackSets, O: Organizations, A: AccountDirectory> ManagedKind for BaselineKind<S, O, A> {
    type Resource = SecurityBaseline;
    const KIND: &'static str = "SecurityBaseline";

    async fn check_policy(&self, obj: &SecurityBaseline, grants: &Grants) -> Result<(), Error> {
        let spec = &obj.spec;
        if let Some(source) = &spec.template {
            return Err(Error::invalid(format!(
                "spec.template (ConfigMap {}): custom templates are not supported yet; describe the baseline with \
                 spec.controls",
                source.config_map_name
            )));
        }
        if grants.policy.admin {
            return Ok(());
        }
        self.org.ensure_loaded().await.map_err(aws_error)?;
        for (index, ou) in spec.targets.organizational_units.iter().enumerate() {
            let path = if ou.starts_with("ou-") || ou.starts_with("r-") {
                self.org.read(|s| s.ou_path(ou))
            } else {
                Some(ou.clone())
            };
            if let Some(path) = path {
                grants.check_organizational_unit(&format!("spec.targets.organizationalUnits[{index}]"), &path)?;
            }
        }
        let namespace = obj.namespace().unwrap_or_default();
        for (index, target) in spec.targets.accounts.iter().enumerate() {
            if let Some(id) = &target.account_id
                && !self.accounts.owned_by(&namespace, id)
                && !grants.grants_account(id)
            {
                return Err(Error::forbidden(format!(
                    "spec.targets.accounts[{index}].accountId {id} is not an account of namespace {namespace:?} (no \
                     AwsAccount in it manages it), nor one the platform policy lists for it"
                )));
            }
        }
        Ok(())
    }

    async fn observe(&self, obj: &SecurityBaseline, status: &mut SecurityBaselineStatus) -> Result<Observation, Error> {
        self.org.ensure_loaded().await.map_err(aws_error)?;
        let name = stack_set_name(obj);
        let Some(info) = self.stack_sets.describe(&name).await.map_err(stack_set_error)? else {
            status.stack_set_id = None;
            return Ok(Observation::Absent);
        };
        let resource = format!("stack set {name}");
        ownership::check_not_owned_by_another(obj, &resource, &info.tags)?;
        let mut linked = None;
        if status.stack_set_id.is_none() {
            if !ownership::carries_uid(obj, &info.tags) {
                return Err(Error::terminal(format!(
                    "{resource} already exists and is not owned by this object: orgops never takes one over silently"
                )));
            }
            linked = Some(Linked::Created(format!("found {resource}, created for this object before a restart")));
        }
        status.stack_set_id = Some(info.id.clone());
        if self.settle_operation(&name, status).await? {
            let operation =
                status.last_operation.as_ref().map(|o| format!("{} {}", o.action, o.id)).unwrap_or_default();
            return Err(Error::waiting(format!("stack set operation {operation} is running")));
        }
        let placements = self.placements(obj)?;
        let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
        summarize(status, &placements, &instances, obj.spec.targets.regions.len());
        let mut diffs = Vec::new();
        if info.template != template::render(&obj.spec) {
            diffs.push(FieldDiff::new("template", "the template rendered from spec.controls", "a different template"));
        }
        let outdated = instances.iter().filter(|i| i.status == "OUTDATED").count();
        if outdated > 0 && diffs.is_empty() {
            diffs.push(FieldDiff::new("template", "every instance CURRENT", format!("{outdated} instances OUTDATED")));
        }
        let (missing, _) = Self::missing_targets(&placements, &instances);
        if !missing.is_empty() {
            let accounts: Vec<String> = missing.iter().flat_map(|t| t.accounts.clone()).collect();
            diffs.push(FieldDiff::new(
                "instances",
                "an instance in every target account and region",
                format!("missing in {}", accounts.join(", ")),
            ));
        }
        Ok(Observation::Present { diffs, availability: Availability::Available, linked })
    }

    async fn create(
        &self,
        obj: &SecurityBaseline,
        status: &mut SecurityBaselineStatus,
        _sink: &dyn StatusSink<SecurityBaselineStatus>,
    ) -> Result<Progress, Error> {
        let name = stack_set_name(obj);
        let placements = self.placements(obj)?;
        let id = self
            .stack_sets
            .create(&name, &template::render(&obj.spec), &ownership::ownership_tags(obj))
            .await
            .map_err(stack_set_error)?;
        status.stack_set_id = Some(id);
        let mut message = format!("created stack set {name}");
        let (targets, regions) = Self::missing_targets(&placements, &[]);
        if !targets.is_empty() {
            let regions: Vec<String> = regions.into_iter().collect();
            let operation = Self::operation_id(obj, "create");
            let id = self
                .stack_sets
                .create_instances(&name, &targets, &regions, &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            message.push_str(&format!(
                ", deploying to {} accounts × {} regions",
                placements.len() / regions.len().max(1),
                regions.len()
            ));
            if self.started(&name, status, id, "CREATE").await? {
                return Ok(Progress::InProgress(message));
            }
        }
        Ok(Progress::Done(message))
    }

    async fn update(
        &self,
        obj: &SecurityBaseline,
        status: &mut SecurityBaselineStatus,
        diffs: &[FieldDiff],
    ) -> Result<Progress, Error> {
        let name = stack_set_name(obj);
        // One operation at a time: the template first, the missing instances on the pass
        // after it finished.
        if diffs.iter().any(|d| d.path == "template") {
            let operation = Self::operation_id(obj, "update");
            let id = self
                .stack_sets
                .update(&name, &template::render(&obj.spec), &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            let running = self.started(&name, status, id, "UPDATE").await?;
            let message = "updated the stack set's template".to_string();
            if running {
                return Ok(Progress::InProgress(message));
            }
            self.recount(obj, &name, status).await?;
            return Ok(Progress::Done(message));
        }
        if diffs.iter().any(|d| d.path == "instances") {
            let placements = self.placements(obj)?;
            let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
            let (targets, regions) = Self::missing_targets(&placements, &instances);
            let regions: Vec<String> = regions.into_iter().collect();
            let operation = Self::operation_id(obj, "cover");
            let id = self
                .stack_sets
                .create_instances(&name, &targets, &regions, &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            let accounts: Vec<String> = targets.iter().flat_map(|t| t.accounts.clone()).collect();
            let running = self.started(&name, status, id, "CREATE").await?;
            let message = format!("created the missing stack instances in {}", accounts.join(", "));
            if running {
                return Ok(Progress::InProgress(message));
            }
            self.recount(obj, &name, status).await?;
            return Ok(Progress::Done(message));
        }
        Ok(Progress::Done(String::new()))
    }

    async fn delete(&self, obj: &SecurityBaseline, status: &mut SecurityBaselineStatus) -> Result<Progress, Error> {
        let name = stack_set_name(obj);
        let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
        if !instances.is_empty() {
            if status.last_operation.as_ref().is_some_and(|o| o.action == "DELETE" && o.status == "SUCCEEDED") {
                return Err(Error::retryable(format!(
                    "{} stack instances remain after their deletion; orgops tries again",
                    instances.len()
                )));
            }
            let placements = self.placements(obj)?;
            let ous: BTreeSet<String> = placements.iter().map(|p| p.ou.clone()).collect();
            let regions: BTreeSet<String> = instances.iter().map(|i| i.region.clone()).collect();
            let operation = Self::operation_id(obj, "delete");
            let ous: Vec<String> = ous.into_iter().collect();
            let regions: Vec<String> = regions.into_iter().collect();
            let id = self
                .stack_sets
                .delete_instances(&name, &ous, &regions, &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            self.started(&name, status, id, "DELETE").await?;
            return Ok(Progress::InProgress(format!("deleting the {} stack instances of {name}", instances.len())));
        }
        self.stack_sets.delete(&name).await.map_err(stack_set_error)?;
        Ok(Progress::Done(format!("deleted stack set {name}")))
    }
}

#[cfg(test)]
mod tests;
