//! Which regions an account has enabled, so a stack set is not sent where it must fail.
//! Regions enabled by default are enabled in every account: only opt-in regions need a
//! per-account answer, and an account enables one rarely, so answers are kept for hours.

use crate::aws::account::AccountManagement;
use crate::aws::{AwsError, FailureKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer of ListRegions is used.
const KEPT_FOR: Duration = Duration::from_secs(6 * 3600);

/// The opt statuses of a region an account can deploy to.
fn usable(status: &str) -> bool {
    status == "ENABLED" || status == "ENABLED_BY_DEFAULT"
}

/// A ListRegions answer: each region's opt status, or `None` when the endpoint cannot
/// tell.
type Answer = Option<BTreeMap<String, String>>;

/// Enabled regions per account, read with ListRegions and kept for hours.
pub struct EnabledRegions<A: AccountManagement> {
    api: A,
    answers: Mutex<HashMap<Option<String>, (Instant, Answer)>>,
}

impl<A: AccountManagement> EnabledRegions<A> {
    /// Reads through `api`.
    pub fn new(api: A) -> Self {
        EnabledRegions { api, answers: Mutex::new(HashMap::new()) }
    }

    /// The usable regions of an account (`None`: the management account), from the kept
    /// answer when it is recent. A refusal (an endpoint without the call, a denied
    /// permission) is "cannot tell", so nothing is skipped on a guess; throttling and 5xx
    /// are errors to retry.
    async fn answer(&self, account: Option<&str>) -> Result<Answer, AwsError> {
        let key = account.map(str::to_string);
        if let Some((at, answer)) = self.answers.lock().unwrap().get(&key)
            && at.elapsed() < KEPT_FOR
        {
            return Ok(answer.clone());
        }
        let answer = match self.api.regions(account).await {
            Ok(regions) => Some(regions),
            Err(error) if error.kind == FailureKind::Client => {
                tracing::info!(%error, "enabled regions unknown: ListRegions is not available");
                None
            }
            Err(error) => return Err(error),
        };
        self.answers.lock().unwrap().insert(key, (Instant::now(), answer.clone()));
        Ok(answer)
    }

    /// Of `wanted`, the regions the account has not enabled. Regions enabled by default
    /// (as the management account reports them) need no per-account call.
    pub async fn not_enabled(&self, account: Option<&str>, wanted: &[String]) -> Result<Vec<String>, AwsError> {
        let Some(management) = self.answer(None).await? else { return Ok(Vec::new()) };
        let opt_in: Vec<&String> =
            wanted.iter().filter(|r| management.get(*r).map(String::as_str) != Some("ENABLED_BY_DEFAULT")).collect();
        if opt_in.is_empty() {
            return Ok(Vec::new());
        }
        let statuses = match account {
            None => management,
            Some(account) => match self.answer(Some(account)).await? {
                Some(statuses) => statuses,
                None => return Ok(Vec::new()),
            },
        };
        Ok(opt_in.into_iter().filter(|r| !statuses.get(*r).is_some_and(|s| usable(s))).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::account::fake::FakeAccountManagement;
    use std::sync::Arc;

    fn statuses(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect()
    }

    fn wanted(regions: &[&str]) -> Vec<String> {
        regions.iter().map(|r| r.to_string()).collect()
    }

    #[tokio::test]
    async fn only_opt_in_regions_cost_a_call_per_account_and_answers_are_kept() {
        let api = Arc::new(FakeAccountManagement::default());
        api.regions.lock().unwrap().insert(
            None,
            statuses(&[
                ("us-east-1", "ENABLED_BY_DEFAULT"),
                ("eu-west-1", "ENABLED_BY_DEFAULT"),
                ("af-south-1", "ENABLED"),
            ]),
        );
        api.regions.lock().unwrap().insert(
            Some("111100000001".into()),
            statuses(&[("us-east-1", "ENABLED_BY_DEFAULT"), ("af-south-1", "DISABLED")]),
        );
        let regions = EnabledRegions::new(api.clone());
        let defaults = wanted(&["us-east-1", "eu-west-1"]);
        assert!(regions.not_enabled(Some("111100000001"), &defaults).await.unwrap().is_empty());
        assert_eq!(*api.region_calls.lock().unwrap(), 1, "default regions: no per-account call");

        let with_opt_in = wanted(&["us-east-1", "af-south-1"]);
        assert_eq!(regions.not_enabled(Some("111100000001"), &with_opt_in).await.unwrap(), ["af-south-1"]);
        assert!(regions.not_enabled(None, &with_opt_in).await.unwrap().is_empty(), "the management account");
        regions.not_enabled(Some("111100000001"), &with_opt_in).await.unwrap();
        assert_eq!(*api.region_calls.lock().unwrap(), 2, "answers are kept");
    }

    #[tokio::test]
    async fn an_endpoint_without_list_regions_skips_nothing() {
        let api = Arc::new(FakeAccountManagement::default());
        let regions = EnabledRegions::new(api.clone());
        assert!(regions.not_enabled(Some("111100000001"), &wanted(&["af-south-1"])).await.unwrap().is_empty());
    }
}
