//! `SecurityBaseline`: security services rolled out to accounts with a CloudFormation
//! StackSet, service-managed for OUs (AWS deploys to accounts as they join) and
//! self-managed for listed accounts. The template is generated from the spec in
//! `template`, or taken from a ConfigMap; the accounts the stack set must reach are
//! verified against the organization, not trusted to AWS's automatic deployment.

pub mod template;

use crate::aws::account::AccountManagement;
use crate::aws::organizations::Organizations;
use crate::aws::snapshots::enabled_regions::EnabledRegions;
use crate::aws::snapshots::organization::OrgCache;
use crate::aws::stack_sets::{OperationState, Preferences, StackInstance, StackSetSpec, StackSets, Target};
use crate::feed::FollowsChanges;
use crate::feed::change_event::Touched;
use crate::kinds::aws_error;
use crate::kinds::directory::{AccountDirectory, ConfigMaps};
use crate::policy::Grants;
use crate::reconcile::ownership;
use crate::reconcile::{Availability, Error, FieldDiff, Linked, ManagedKind, Observation, Progress, StatusSink};
use anyhow::Context;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use orgops_api::baseline::{InstanceFailure, SecurityBaselineSpec, StackSetOperation, TemplateSource};
use orgops_api::{AccountTarget, SecurityBaseline, SecurityBaselineStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `orgops template FILE`: the CloudFormation template of the SecurityBaseline in a YAML
/// file, as orgops would roll it out, for review on a pull request.
pub fn print_template(file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let value: yaml_serde::Value =
        yaml_serde::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let kind = value.get("kind").and_then(yaml_serde::Value::as_str).unwrap_or("(none)");
    if kind != "SecurityBaseline" {
        anyhow::bail!("{} is not a SecurityBaseline (kind: {kind})", file.display());
    }
    let baseline: SecurityBaseline =
        yaml_serde::from_value(value).with_context(|| format!("{} is not a valid SecurityBaseline", file.display()))?;
    let Some(controls) = &baseline.spec.controls else {
        let source = baseline.spec.template.unwrap_or_default();
        anyhow::bail!(
            "{} uses the custom template in ConfigMap {} (key {}), not a generated one",
            file.display(),
            source.config_map_name,
            source.key
        );
    };
    print!("{}", template::render(controls, &baseline.spec.targets.regions));
    Ok(())
}

/// The SecurityBaseline implementation of [`ManagedKind`].
pub struct BaselineKind<S: StackSets, O: Organizations, A: AccountDirectory, C: ConfigMaps, R: AccountManagement> {
    stack_sets: S,
    org: Arc<OrgCache<O>>,
    accounts: A,
    config_maps: C,
    regions: EnabledRegions<R>,
    drift_interval: Duration,
}

/// The stack set of a baseline: named after the object, unique in the account.
pub fn stack_set_name(obj: &SecurityBaseline) -> String {
    let name = format!("orgops-{}-{}", obj.namespace().unwrap_or_default(), obj.name_any()).replace('.', "-");
    name.chars().take(128).collect()
}

/// Listed accounts are reached by a self-managed stack set; OUs by a service-managed one.
fn self_managed(spec: &SecurityBaselineSpec) -> bool {
    spec.targets.organizational_units.is_empty()
}

/// An account and region a baseline must reach, with the OU that reaches the account
/// (none for a self-managed stack set).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Placement {
    account: String,
    region: String,
    ou: Option<String>,
}

const RUNNING: &str = "RUNNING";
/// The action of a drift detection in `status.lastOperation`.
const DETECT_DRIFT: &str = "DETECT_DRIFT";

fn stack_set_error(error: crate::aws::AwsError) -> Error {
    if error.is("OperationInProgressException") {
        return Error::waiting(format!("another operation on the stack set is running: {error}"));
    }
    aws_error(error)
}

impl<S: StackSets, O: Organizations, A: AccountDirectory, C: ConfigMaps, R: AccountManagement>
    BaselineKind<S, O, A, C, R>
{
    /// A kind on the shared organization snapshot and AwsAccounts, skipping the regions
    /// `regions` says an account has not enabled, and asking CloudFormation to detect
    /// drift every `drift_interval`.
    pub fn new(
        stack_sets: S,
        org: Arc<OrgCache<O>>,
        accounts: A,
        config_maps: C,
        regions: EnabledRegions<R>,
        drift_interval: Duration,
    ) -> Self {
        BaselineKind { stack_sets, org, accounts, config_maps, regions, drift_interval }
    }

    /// The placements the stack set can reach: every placement but those in a region
    /// the account has not enabled, which are listed in `status.skippedRegions`.
    async fn reach(
        &self,
        obj: &SecurityBaseline,
        status: &mut SecurityBaselineStatus,
    ) -> Result<Vec<Placement>, Error> {
        let placements = self.placements(obj)?;
        let management = self.org.read(|s| s.management_account().map(str::to_string));
        let accounts: BTreeSet<&str> = placements.iter().map(|p| p.account.as_str()).collect();
        let mut skipped: BTreeSet<(String, String)> = BTreeSet::new();
        for account in accounts {
            let asked = (management.as_deref() != Some(account)).then_some(account);
            let missing = self.regions.not_enabled(asked, &obj.spec.targets.regions).await.map_err(aws_error)?;
            skipped.extend(missing.into_iter().map(|region| (account.to_string(), region)));
        }
        status.skipped_regions = skipped
            .iter()
            .map(|(account, region)| InstanceFailure {
                account_id: account.clone(),
                region: region.clone(),
                reason: "the account has not enabled this opt-in region".into(),
            })
            .collect();
        Ok(placements.into_iter().filter(|p| !skipped.contains(&(p.account.clone(), p.region.clone()))).collect())
    }

    /// The stack set the spec asks for: the generated or custom template, its parameters
    /// and its permission model.
    async fn desired(&self, obj: &SecurityBaseline) -> Result<StackSetSpec, Error> {
        let spec = &obj.spec;
        let template = match (&spec.template, &spec.controls) {
            (Some(source), _) => self.custom_template(obj, source).await?,
            (None, Some(controls)) => template::render(controls, &spec.targets.regions),
            (None, None) => return Err(Error::invalid("set spec.controls or spec.template")),
        };
        Ok(StackSetSpec { template, parameters: spec.parameters.clone(), self_managed: self_managed(spec) })
    }

    /// The template in the ConfigMap `spec.template` names, checked before any AWS call.
    async fn custom_template(&self, obj: &SecurityBaseline, source: &TemplateSource) -> Result<String, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let name = &source.config_map_name;
        let data = self
            .config_maps
            .data(&namespace, name)
            .await
            .map_err(|e| Error::retryable(format!("reading ConfigMap {namespace}/{name}: {e}")))?
            .ok_or_else(|| {
                Error::retryable(format!("spec.template.configMapName: ConfigMap {namespace}/{name} does not exist"))
            })?;
        let body = data.get(&source.key).ok_or_else(|| {
            Error::invalid(format!("spec.template.key: ConfigMap {namespace}/{name} has no key {:?}", source.key))
        })?;
        template::check_custom(body, &obj.spec.parameters).map_err(|why| {
            Error::invalid(format!(
                "spec.template: the template in ConfigMap {namespace}/{name}, key {}: {why}",
                source.key
            ))
        })?;
        Ok(body.clone())
    }

    /// Every (account, region) the baseline must reach: the ACTIVE accounts in the target
    /// OUs and below them (not the management account, which service-managed stack sets
    /// never reach), or the listed accounts, in every target region.
    fn placements(&self, obj: &SecurityBaseline) -> Result<Vec<Placement>, Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let targets = &obj.spec.targets;
        let mut accounts: BTreeMap<String, Option<String>> = BTreeMap::new();
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
                        let parent = s.parent_of(&account.id).map(str::to_string);
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
                if s.account(&id).is_none() {
                    return Err(Error::terminal(format!(
                        "spec.targets.accounts[{index}] {id} is not an account of this organization"
                    )));
                }
                accounts.insert(id, None);
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
        let Some(operation) = status.last_operation.as_mut().filter(|o| o.status == RUNNING) else {
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
            Some(StackSetOperation { id, action: action.into(), status: RUNNING.into(), reason: None });
        self.settle_operation(name, status).await
    }

    /// The instances still to create, one operation's worth per group: the accounts that
    /// miss the same regions go together, narrowed from their OUs (or listed, for a
    /// self-managed stack set).
    fn missing_groups(placements: &[Placement], instances: &[StackInstance]) -> Vec<(Target, Vec<String>)> {
        let present: BTreeSet<(&str, &str)> =
            instances.iter().map(|i| (i.account.as_str(), i.region.as_str())).collect();
        let mut by_account: BTreeMap<&str, (Option<&String>, Vec<String>)> = BTreeMap::new();
        for p in placements.iter().filter(|p| !present.contains(&(p.account.as_str(), p.region.as_str()))) {
            let entry = by_account.entry(p.account.as_str()).or_insert((p.ou.as_ref(), Vec::new()));
            entry.1.push(p.region.clone());
        }
        let mut groups: BTreeMap<Vec<String>, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
        for (account, (ou, regions)) in by_account {
            let group = groups.entry(regions).or_default();
            group.0.extend(ou.cloned());
            group.1.push(account.to_string());
        }
        groups
            .into_iter()
            .map(|(regions, (ous, accounts))| (Target { ous: ous.into_iter().collect(), accounts }, regions))
            .collect()
    }

    /// Starts creating missing instances, one group per operation: `None` when none are
    /// missing. Later groups are created on the passes after this operation finished.
    async fn cover(
        &self,
        obj: &SecurityBaseline,
        name: &str,
        status: &mut SecurityBaselineStatus,
        instances: &[StackInstance],
    ) -> Result<Option<(bool, String)>, Error> {
        let placements = self.reach(obj, status).await?;
        let Some((target, regions)) = Self::missing_groups(&placements, instances).into_iter().next() else {
            return Ok(None);
        };
        let operation = Self::operation_id(obj, "cover");
        let id = self
            .stack_sets
            .create_instances(name, &target, &regions, &Self::preferences(obj), &operation)
            .await
            .map_err(stack_set_error)?;
        let message = format!("deploying to {} accounts × {} regions", target.accounts.len(), regions.len());
        Ok(Some((self.started(name, status, id, "CREATE").await?, message)))
    }

    /// Reads the instances again after an operation finished, for the status counts.
    async fn recount(
        &self,
        obj: &SecurityBaseline,
        name: &str,
        status: &mut SecurityBaselineStatus,
    ) -> Result<(), Error> {
        let placements = self.reach(obj, status).await?;
        let instances = self.stack_sets.instances(name).await.map_err(stack_set_error)?;
        summarize(status, &placements, &instances, obj.spec.targets.regions.len());
        Ok(())
    }

    /// The spec's operation preferences, as the StackSets calls take them.
    fn preferences(obj: &SecurityBaseline) -> Preferences {
        let spec = obj.spec.operation_preferences.clone().unwrap_or_default();
        Preferences {
            max_concurrent_count: spec.max_concurrent_count,
            max_concurrent_percentage: spec.max_concurrent_percentage,
            failure_tolerance_count: spec.failure_tolerance_count,
            failure_tolerance_percentage: spec.failure_tolerance_percentage,
            region_order: spec.region_order,
        }
    }

    fn operation_id(obj: &SecurityBaseline, action: &str) -> String {
        format!("orgops-{}-{action}-{}", obj.uid().unwrap_or_default(), Timestamp::now().as_millisecond())
    }

    /// Whether CloudFormation's drift detection is due again.
    fn drift_check_due(&self, status: &SecurityBaselineStatus) -> bool {
        let last = status.drift_checked_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
        last.is_none_or(|last| Timestamp::now().duration_since(last).unsigned_abs() >= self.drift_interval)
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
    status.drifted_instances = instances
        .iter()
        .filter(|i| i.drift_status.as_deref() == Some("DRIFTED"))
        .map(|i| InstanceFailure {
            account_id: i.account.clone(),
            region: i.region.clone(),
            reason: "resources changed outside CloudFormation".into(),
        })
        .collect();
}

impl<S: StackSets, O: Organizations, A: AccountDirectory, C: ConfigMaps, R: AccountManagement> ManagedKind
    for BaselineKind<S, O, A, C, R>
{
    type Resource = SecurityBaseline;
    const KIND: &'static str = "SecurityBaseline";

    async fn check_policy(&self, obj: &SecurityBaseline, grants: &Grants) -> Result<(), Error> {
        let spec = &obj.spec;
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
        let management = self.org.read(|s| s.management_account().map(str::to_string));
        for (index, target) in spec.targets.accounts.iter().enumerate() {
            let Some(id) = &target.account_id else { continue };
            if management.as_ref() == Some(id) {
                return Err(Error::forbidden(format!(
                    "spec.targets.accounts[{index}].accountId {id} is the management account: only an admin \
                     namespace may deploy there"
                )));
            }
            let field = format!("spec.targets.accounts[{index}].accountId");
            grants.check_account(&field, id, self.accounts.owned_by(&namespace, id))?;
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
        // A drift detection changes nothing: the stack set is observed while it runs.
        if self.settle_operation(&name, status).await?
            && let Some(operation) = status.last_operation.as_ref().filter(|o| o.action != DETECT_DRIFT)
        {
            return Err(Error::waiting(format!(
                "stack set operation {} {} is running",
                operation.action, operation.id
            )));
        }
        status.drift_status = Some(info.drift_status.clone().unwrap_or_else(|| "NOT_CHECKED".into()));
        if obj.metadata.deletion_timestamp.is_some() {
            // Being deleted: only whether it exists matters, even if its ConfigMap is gone.
            return Ok(Observation::Present { diffs: Vec::new(), availability: Availability::Available, linked });
        }
        let desired = self.desired(obj).await?;
        let placements = self.reach(obj, status).await?;
        let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
        summarize(status, &placements, &instances, obj.spec.targets.regions.len());
        let mut diffs = Vec::new();
        if info.template != desired.template {
            let source = if obj.spec.template.is_some() { "the ConfigMap" } else { "spec.controls" };
            diffs.push(FieldDiff::new("template", format!("the template from {source}"), "a different template"));
        }
        for (key, value) in &desired.parameters {
            let actual = info.parameters.get(key);
            if actual != Some(value) {
                diffs.push(FieldDiff::new(
                    format!("parameters.{key}"),
                    value.clone(),
                    actual.cloned().unwrap_or_else(|| "(unset)".into()),
                ));
            }
        }
        let outdated = instances.iter().filter(|i| i.status == "OUTDATED").count();
        if outdated > 0 && diffs.is_empty() {
            diffs.push(FieldDiff::new("template", "every instance CURRENT", format!("{outdated} instances OUTDATED")));
        }
        let missing = Self::missing_groups(&placements, &instances);
        if !missing.is_empty() {
            let accounts: BTreeSet<&String> = missing.iter().flat_map(|(t, _)| &t.accounts).collect();
            let accounts: Vec<&str> = accounts.into_iter().map(String::as_str).collect();
            diffs.push(FieldDiff::new(
                "instances",
                "an instance in every target account and region",
                format!("missing in {}", accounts.join(", ")),
            ));
        }
        if !status.drifted_instances.is_empty() {
            let drifted: Vec<String> =
                status.drifted_instances.iter().map(|i| format!("{}/{}", i.account_id, i.region)).collect();
            diffs.push(FieldDiff::report_only(
                "resources",
                "the resources as the template made them",
                format!("changed outside CloudFormation in {}", drifted.join(", ")),
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
        let desired = self.desired(obj).await?;
        self.placements(obj)?;
        let id =
            self.stack_sets.create(&name, &desired, &ownership::ownership_tags(obj)).await.map_err(stack_set_error)?;
        status.stack_set_id = Some(id);
        let mut message = format!("created stack set {name}");
        if let Some((running, deploying)) = self.cover(obj, &name, status, &[]).await? {
            message.push_str(&format!(", {deploying}"));
            if running {
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
        let (running, message) = if diffs.iter().any(|d| d.path == "template" || d.path.starts_with("parameters.")) {
            let desired = self.desired(obj).await?;
            let operation = Self::operation_id(obj, "update");
            let id = self
                .stack_sets
                .update(&name, &desired, &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            (self.started(&name, status, id, "UPDATE").await?, "updated the stack set's template".to_string())
        } else if diffs.iter().any(|d| d.path == "instances") {
            let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
            match self.cover(obj, &name, status, &instances).await? {
                Some((running, deploying)) => (running, format!("created the missing stack instances: {deploying}")),
                None => (false, String::new()),
            }
        } else {
            return Ok(Progress::Done(String::new()));
        };
        if running {
            return Ok(Progress::InProgress(message));
        }
        self.recount(obj, &name, status).await?;
        Ok(Progress::Done(message))
    }

    async fn audit(&self, obj: &SecurityBaseline, status: &mut SecurityBaselineStatus) -> Result<(), Error> {
        if !self.drift_check_due(status) || status.last_operation.as_ref().is_some_and(|o| o.status == RUNNING) {
            return Ok(());
        }
        let name = stack_set_name(obj);
        let operation = Self::operation_id(obj, "drift");
        match self.stack_sets.detect_drift(&name, &operation).await {
            Ok(id) => {
                status.drift_checked_at = Some(Timestamp::now().to_string());
                self.started(&name, status, id, DETECT_DRIFT).await?;
            }
            Err(error) if error.is("OperationInProgressException") => {}
            Err(error) => {
                // Drift detection is a deeper, optional check: an endpoint without it
                // leaves the drift NOT_CHECKED until the next attempt, and nothing failed.
                tracing::info!(stack_set = %name, %error, "CloudFormation drift detection is unavailable");
                status.drift_checked_at = Some(Timestamp::now().to_string());
                status.drift_status = Some("NOT_CHECKED".into());
            }
        }
        Ok(())
    }

    fn revisit_in(&self, _obj: &SecurityBaseline, status: &SecurityBaselineStatus) -> Option<Duration> {
        // A drift detection still running is polled soon, not at the next sweep.
        status.last_operation.as_ref().filter(|o| o.status == RUNNING).map(|_| Duration::from_secs(15))
    }

    async fn delete(
        &self,
        obj: &SecurityBaseline,
        status: &mut SecurityBaselineStatus,
        _owned: &ownership::Owned,
    ) -> Result<Progress, Error> {
        let name = stack_set_name(obj);
        let instances = self.stack_sets.instances(&name).await.map_err(stack_set_error)?;
        if !instances.is_empty() {
            if status.last_operation.as_ref().is_some_and(|o| o.action == "DELETE" && o.status == "SUCCEEDED") {
                return Err(Error::retryable(format!(
                    "{} stack instances remain after their deletion; orgops tries again",
                    instances.len()
                )));
            }
            // The instances where they are: by the OUs that reached them, or by account.
            let target = if self_managed(&obj.spec) {
                Target { ous: Vec::new(), accounts: instances.iter().map(|i| i.account.clone()).collect() }
            } else {
                let ous: BTreeSet<String> = instances
                    .iter()
                    .filter_map(|i| {
                        i.ou.clone().or_else(|| self.org.read(|s| s.parent_of(&i.account).map(str::to_string)))
                    })
                    .collect();
                Target { ous: ous.into_iter().collect(), accounts: Vec::new() }
            };
            let regions: BTreeSet<String> = instances.iter().map(|i| i.region.clone()).collect();
            let regions: Vec<String> = regions.into_iter().collect();
            let operation = Self::operation_id(obj, "delete");
            let id = self
                .stack_sets
                .delete_instances(&name, &target, &regions, obj.spec.retain_stacks, &Self::preferences(obj), &operation)
                .await
                .map_err(stack_set_error)?;
            self.started(&name, status, id, "DELETE").await?;
            let kept = if obj.spec.retain_stacks { ", keeping their stacks in the accounts" } else { "" };
            return Ok(Progress::InProgress(format!(
                "deleting the {} stack instances of {name}{kept}",
                instances.len()
            )));
        }
        self.stack_sets.delete(&name).await.map_err(stack_set_error)?;
        Ok(Progress::Done(format!("deleted stack set {name}")))
    }
}

impl<S: StackSets, O: Organizations, A: AccountDirectory, C: ConfigMaps, R: AccountManagement> FollowsChanges
    for BaselineKind<S, O, A, C, R>
{
    fn forget(&self, touched: &Touched) {
        match touched {
            Touched::Account(id) => self.org.forget_account(id),
            Touched::OrganizationalUnits => self.org.forget_organizational_units(),
            _ => {}
        }
    }

    fn concerns(&self, obj: &SecurityBaseline, touched: &Touched) -> bool {
        match touched {
            Touched::StackSet(name) => stack_set_name(obj) == *name,
            // An account that moved may have joined or left a targeted OU.
            Touched::Account(_) | Touched::OrganizationalUnits => !obj.spec.targets.organizational_units.is_empty(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
