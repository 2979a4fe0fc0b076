//! AwsAccount against an in-memory organization: the asynchronous and failure paths that
//! moto cannot produce (IN_PROGRESS, FAILED reasons, lost answers, throttling, quotas).

use super::*;
use crate::aws::account::fake::FakeAccountManagement;
use crate::aws::organizations::CreateRequest;
use crate::aws::organizations::fake::{FakeOrg, aws};
use crate::kinds::directory::fake::Accounts;
use crate::policy::{NamespacePolicy, Policy, PolicyStore};
use crate::reconcile::ownership::{OWNER_TAG, UID_TAG};
use futures::future::BoxFuture;

/// Records what the kind persisted mid-create.
#[derive(Default)]
struct Persisted(Mutex<Vec<AwsAccountStatus>>);

impl StatusSink<AwsAccountStatus> for Persisted {
    fn persist<'a>(&'a self, status: &'a AwsAccountStatus) -> BoxFuture<'a, Result<(), Error>> {
        self.0.lock().unwrap().push(status.clone());
        Box::pin(async { Ok(()) })
    }
}

struct Fixture {
    org: Arc<FakeOrg>,
    management: Arc<FakeAccountManagement>,
    kind: AccountKind<Arc<FakeOrg>, Arc<FakeAccountManagement>, Accounts>,
}

fn fixture_with_grace(grace: Duration) -> Fixture {
    let org = Arc::new(FakeOrg::new());
    let management = Arc::new(FakeAccountManagement::default());
    let cache = Arc::new(OrgCache::new(org.clone()));
    let settings =
        AccountSettings { unconfirmed_create_grace: grace, creates_in_flight: DEFAULT_CREATES_IN_FLIGHT.into() };
    Fixture { kind: AccountKind::new(cache, management.clone(), Accounts::default(), settings), org, management }
}

fn fixture() -> Fixture {
    fixture_with_grace(Duration::from_secs(300))
}

fn account(spec: serde_json::Value) -> AwsAccount {
    let mut object = serde_json::json!({
        "apiVersion": "orgops.dev/v1alpha1", "kind": "AwsAccount",
        "metadata": {"name": "payroll-prod", "namespace": "payroll", "uid": "uid-1", "generation": 1},
        "spec": {"accountName": "payroll-prod", "email": "prod@example.com", "organizationalUnit": "Workloads/Payroll",
                 "tags": {"team": "payroll"}}
    });
    if let (Some(target), serde_json::Value::Object(extra)) = (object["spec"].as_object_mut(), spec) {
        target.extend(extra);
    }
    serde_json::from_value(object).unwrap()
}

/// The grants of namespace `payroll`, which owns the OU `Workloads/Payroll` only.
fn payroll_grants() -> Grants {
    let payroll =
        NamespacePolicy { organizational_units: vec!["Workloads/Payroll".into()], ..NamespacePolicy::default() };
    let policy = Policy { namespaces: [("payroll".to_string(), payroll)].into(), ..Policy::default() };
    PolicyStore::fixed(policy).grants("payroll")
}

/// How an observation linked the object to an AWS account.
fn link(result: Result<Observation, Error>) -> Linked {
    match result {
        Ok(Observation::Present { linked: Some(link), .. }) => link,
        other => panic!("expected a newly linked account, got {other:?}"),
    }
}

/// An object whose CreateAccount was sent and whose request AWS will report FAILED with
/// `reason`.
async fn create_failing_with(reason: &str) -> (Fixture, AwsAccount, AwsAccountStatus) {
    let f = fixture();
    f.org.state.lock().unwrap().next_create = Some(Ok(CreateState::Failed(reason.into())));
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus::default();
    f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap();
    (f, obj, status)
}

fn waiting(result: Result<Observation, Error>) -> String {
    match result {
        Err(e) if e.class == crate::reconcile::error::ErrorClass::Waiting => e.message,
        other => panic!("expected a waiting error, got {other:?}"),
    }
}

#[tokio::test]
async fn creation_in_progress_waits_then_links_the_new_account() {
    let f = fixture();
    f.org.state.lock().unwrap().next_create = Some(Ok(CreateState::InProgress));
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus::default();
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));

    let sink = Persisted::default();
    let progress = f.kind.create(&obj, &mut status, &sink).await.unwrap();
    assert!(matches!(progress, Progress::InProgress(ref m) if m.contains("car-1")), "{progress:?}");
    let persisted = sink.0.lock().unwrap().clone();
    assert_eq!(persisted.len(), 2);
    assert!(persisted[0].pending_creation.as_ref().unwrap().request_id.is_none(), "marker before the call");
    assert_eq!(persisted[1].pending_creation.as_ref().unwrap().request_id.as_deref(), Some("car-1"));

    assert!(waiting(f.kind.observe(&obj, &mut status).await).contains("in progress"));

    // AWS finishes the request.
    f.org.add_account("210987654321", "prod@example.com", "r-root");
    f.org.state.lock().unwrap().requests[0].state = CreateState::Succeeded("210987654321".into());
    match f.kind.observe(&obj, &mut status).await.unwrap() {
        Observation::Present { linked: Some(Linked::Created(_)), diffs, .. } => {
            let paths: Vec<&str> = diffs.iter().map(|d| d.path.as_str()).collect();
            assert!(paths.contains(&"organizationalUnit"), "{paths:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(status.pending_creation.is_none());
    assert_eq!(status.account_id.as_deref(), Some("210987654321"));
    assert_eq!(f.org.count("CreateAccount"), 1);
}

#[tokio::test]
async fn email_already_exists_adopts_an_account_of_this_organization_after_its_checks() {
    let (f, obj, mut status) = create_failing_with("EMAIL_ALREADY_EXISTS").await;
    // The account shows up in the organization only now (moved in by someone else).
    f.org.add_account("333344445555", "PROD@example.com", "ou-root-payr0000");
    let error = f.kind.observe(&obj, &mut status).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable, "not adopted in this pass");
    assert!(error.message.contains("333344445555") && error.message.contains("platform policy"), "{}", error.message);
    assert!(status.pending_creation.is_none() && status.account_id.is_none());
    // The next pass checks it like any existing account, then adopts it by email.
    let mut next = obj.clone();
    next.status = Some(status.clone());
    f.kind.check_policy(&next, &payroll_grants()).await.unwrap();
    assert!(matches!(link(f.kind.observe(&next, &mut status).await), Linked::Adopted(_)));
    assert_eq!(status.account_id.as_deref(), Some("333344445555"));
    assert_eq!(f.org.count("CreateAccount"), 1);
}

#[tokio::test]
async fn email_already_exists_outside_the_organization_is_terminal() {
    let (f, obj, mut status) = create_failing_with("EMAIL_ALREADY_EXISTS").await;
    let error = f.kind.observe(&obj, &mut status).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Terminal);
    assert!(
        error.message.contains("EMAIL_ALREADY_EXISTS") && error.message.contains("spec.email"),
        "{}",
        error.message
    );
    assert!(status.pending_creation.is_none());
}

#[tokio::test]
async fn limits_and_concurrency_failures_are_retried() {
    for reason in ["ACCOUNT_LIMIT_EXCEEDED", "CONCURRENT_ACCOUNT_MODIFICATION"] {
        let (f, obj, mut status) = create_failing_with(reason).await;
        let error = f.kind.observe(&obj, &mut status).await.unwrap_err();
        assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable, "{reason}");
        assert!(status.pending_creation.is_none(), "{reason}: the failed request is settled");
    }
}

/// A marker persisted just now whose CreateAccount answer was never saved.
fn unconfirmed_marker() -> AwsAccountStatus {
    AwsAccountStatus {
        pending_creation: Some(PendingCreation { requested_at: Time(Timestamp::now()), request_id: None }),
        ..Default::default()
    }
}

/// A CreateAccount that AWS received and finished for `name`, creating `account_id`.
fn finished_request(f: &Fixture, id: &str, name: &str, account_id: &str) {
    f.org.state.lock().unwrap().requests.push(CreateRequest {
        id: id.into(),
        account_name: name.into(),
        state: CreateState::Succeeded(account_id.into()),
        requested_at: Some(Timestamp::now().as_second()),
    });
}

#[tokio::test]
async fn a_lost_answer_is_settled_at_once_by_the_request_list_without_a_second_create() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    // The marker was persisted and CreateAccount reached AWS, but orgops died before
    // saving the request id.
    f.org.add_account("444455556666", "prod@example.com", "r-root");
    finished_request(&f, "car-7", "payroll-prod", "444455556666");
    let mut status = unconfirmed_marker();
    assert!(matches!(link(f.kind.observe(&obj, &mut status).await), Linked::Created(_)));
    assert_eq!(status.account_id.as_deref(), Some("444455556666"));
    assert!(status.pending_creation.is_none());
    assert_eq!(f.org.count("CreateAccount"), 0);
}

#[tokio::test]
async fn a_finished_request_for_the_same_name_but_another_email_is_not_this_objects() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    // Another team's account of the same display name, created at the same time.
    f.org.add_account("777788889999", "other@example.com", "r-root");
    finished_request(&f, "car-8", "payroll-prod", "777788889999");
    let mut status = unconfirmed_marker();
    assert!(waiting(f.kind.observe(&obj, &mut status).await).contains("reached AWS"));
    assert!(status.account_id.is_none());
}

#[tokio::test]
async fn after_the_grace_a_last_look_by_email_still_finds_the_account() {
    let f = fixture_with_grace(Duration::from_secs(0));
    let obj = account(serde_json::json!({}));
    f.org.add_account("444455556666", "prod@example.com", "r-root");
    let mut status = unconfirmed_marker();
    assert!(matches!(link(f.kind.observe(&obj, &mut status).await), Linked::Created(_)));
    assert_eq!(status.account_id.as_deref(), Some("444455556666"));
    assert_eq!(f.org.count("CreateAccount"), 0);
}

/// Records, at each persist, the AWS calls made so far.
struct CallsAtPersist(Arc<FakeOrg>, Mutex<Vec<Vec<String>>>);

impl StatusSink<AwsAccountStatus> for CallsAtPersist {
    fn persist<'a>(&'a self, _status: &'a AwsAccountStatus) -> BoxFuture<'a, Result<(), Error>> {
        self.1.lock().unwrap().push(self.0.calls());
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn the_marker_is_persisted_after_the_rate_limit_and_right_before_the_request() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    let sink = CallsAtPersist(f.org.clone(), Mutex::new(Vec::new()));
    f.kind.create(&obj, &mut AwsAccountStatus::default(), &sink).await.unwrap();
    let at_marker = sink.1.lock().unwrap()[0].clone();
    assert_eq!(at_marker.last().map(String::as_str), Some("reserve:CreateAccount"), "{at_marker:?}");
    let calls = f.org.calls();
    let after_marker = &calls[at_marker.len()..];
    assert_eq!(after_marker.first().map(String::as_str), Some("CreateAccount"), "sent at once: {calls:?}");
}

#[tokio::test]
async fn a_created_account_costs_no_read_beyond_its_request_status() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus::default();
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
    f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap();
    let before = f.org.calls().len();
    assert!(matches!(link(f.kind.observe(&obj, &mut status).await), Linked::Created(_)));
    let calls = f.org.calls()[before..].to_vec();
    assert_eq!(calls, ["DescribeCreateAccountStatus"], "id, ARN, parent and tags are known");
    let id = status.account_id.clone().unwrap();
    assert_eq!(status.arn, Some(format!("arn:aws:organizations::000000000000:account/o-test/{id}")));
    assert_eq!(status.ou_id.as_deref(), Some("r-root"));
}

#[tokio::test]
async fn after_a_restart_a_finished_creation_is_read_back_since_it_may_have_moved() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    f.org.add_account("444455556666", "prod@example.com", "ou-root-payr0000");
    finished_request(&f, "car-3", "payroll-prod", "444455556666");
    let mut status = AwsAccountStatus {
        pending_creation: Some(PendingCreation {
            requested_at: Time(Timestamp::now()),
            request_id: Some("car-3".into()),
        }),
        ..Default::default()
    };
    assert!(matches!(link(f.kind.observe(&obj, &mut status).await), Linked::Created(_)));
    assert_eq!(status.ou_id.as_deref(), Some("ou-root-payr0000"));
    assert_eq!(f.org.count("DescribeAccount"), 1);
}

#[tokio::test]
async fn a_lost_answer_is_settled_by_the_request_list() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    f.org.state.lock().unwrap().requests.push(CreateRequest {
        id: "car-9".into(),
        account_name: "payroll-prod".into(),
        state: CreateState::InProgress,
        requested_at: Some(Timestamp::now().as_second()),
    });
    let mut status = unconfirmed_marker();
    assert!(waiting(f.kind.observe(&obj, &mut status).await).contains("car-9"));
    assert!(status.pending_creation.is_some(), "still pending");
}

#[tokio::test]
async fn a_marker_with_no_trace_waits_out_the_grace_period_then_clears() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    let fresh = unconfirmed_marker();
    let mut status = fresh.clone();
    let message = waiting(f.kind.observe(&obj, &mut status).await);
    assert!(message.contains("waiting up to 3") && message.contains("reached AWS"), "{message}");

    let f = fixture_with_grace(Duration::from_secs(0));
    let mut status = fresh;
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
    assert!(status.pending_creation.is_none(), "nothing reached AWS: creating again is safe");
}

#[tokio::test]
async fn an_unanswered_create_keeps_its_marker_and_a_refused_one_clears_it() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    f.org.state.lock().unwrap().failing.insert("CreateAccount", aws(FailureKind::Transient, "ServiceException", "503"));
    let mut status = AwsAccountStatus::default();
    let error = f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable);
    assert!(status.pending_creation.is_some(), "the request may have reached AWS");

    let f = fixture();
    f.org
        .state
        .lock()
        .unwrap()
        .failing
        .insert("CreateAccount", aws(FailureKind::Client, "ConstraintViolationException", "bad"));
    let mut status = AwsAccountStatus::default();
    let error = f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Terminal);
    assert!(status.pending_creation.is_none(), "AWS refused: nothing was created");

    let f = fixture();
    let throttled = aws(FailureKind::Throttled, "TooManyRequestsException", "Rate exceeded");
    f.org.state.lock().unwrap().failing.insert("CreateAccount", throttled);
    let mut status = AwsAccountStatus::default();
    let error = f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable);
    assert!(status.pending_creation.is_none(), "throttled: refused, nothing was created, no grace to wait out");
}

#[tokio::test]
async fn at_most_five_creations_are_in_flight() {
    let f = fixture();
    let sink = Persisted::default();
    for i in 0..usize::from(DEFAULT_CREATES_IN_FLIGHT) {
        f.org.state.lock().unwrap().next_create = Some(Ok(CreateState::InProgress));
        let mut obj = account(serde_json::json!({"email": format!("a{i}@example.com")}));
        obj.metadata.uid = Some(format!("uid-{i}"));
        f.kind.create(&obj, &mut AwsAccountStatus::default(), &sink).await.unwrap();
    }
    let mut sixth = account(serde_json::json!({"email": "a6@example.com"}));
    sixth.metadata.uid = Some("uid-6".into());
    let error = f.kind.create(&sixth, &mut AwsAccountStatus::default(), &sink).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Waiting);
    assert_eq!(error.wait, Some(Duration::from_secs(1)), "a free slot is looked for often: it costs no call");
    assert_eq!(f.org.count("CreateAccount"), usize::from(DEFAULT_CREATES_IN_FLIGHT));
}

#[tokio::test]
async fn an_account_that_appeared_meanwhile_is_adopted_not_duplicated() {
    let f = fixture();
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus::default();
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
    // Newer than the snapshot: AWS refuses the duplicate email, and orgops adopts it.
    f.org.add_account("555566667777", "prod@example.com", "ou-root-payr0000");
    f.kind.create(&obj, &mut status, &Persisted::default()).await.unwrap();
    let error = f.kind.observe(&obj, &mut status).await.unwrap_err();
    assert!(error.message.contains("EMAIL_ALREADY_EXISTS"), "{}", error.message);
    assert!(matches!(link(f.kind.observe(&obj, &mut status).await), Linked::Adopted(_)), "adopted by the next pass");
    assert_eq!(status.account_id.as_deref(), Some("555566667777"));
    assert_eq!(f.org.state.lock().unwrap().accounts.len(), 1, "no second account");
}

#[tokio::test]
async fn an_account_claimed_by_an_older_object_is_refused_even_to_an_admin() {
    let mut f = fixture();
    f.org.add_account("111122223333", "prod@example.com", "ou-root-payr0000");
    let observer = Accounts::with("team-a", "observed", "111122223333");
    f.kind.accounts = observer;
    let obj = account(serde_json::json!({"accountId": "111122223333"}));
    let admin = NamespacePolicy { admin: true, ..NamespacePolicy::default() };
    let admin = PolicyStore::fixed(Policy { namespaces: [("payroll".to_string(), admin)].into(), ..Policy::default() });
    for grants in [payroll_grants(), admin.grants("payroll")] {
        let error = f.kind.check_policy(&obj, &grants).await.unwrap_err();
        assert_eq!(error.reason.as_str(), "Forbidden");
        assert!(
            error.message.contains("already claimed by AwsAccount team-a/observed, which is older"),
            "{}",
            error.message
        );
    }
    assert_eq!(f.org.calls(), Vec::<String>::new(), "decided from the cluster alone");
}

#[tokio::test]
async fn creations_a_previous_process_left_in_flight_count_against_the_quota() {
    let mut f = fixture();
    f.kind.accounts.1 = (0..DEFAULT_CREATES_IN_FLIGHT).map(|i| format!("earlier-{i}")).collect();
    let (obj, sink) = (account(serde_json::json!({})), Persisted::default());
    let error = f.kind.create(&obj, &mut AwsAccountStatus::default(), &sink).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Waiting, "{error:?}");
    assert_eq!(f.org.count("CreateAccount"), 0, "no CreateAccount while the persisted markers fill every slot");
    f.kind.accounts.1.pop();
    f.kind.create(&obj, &mut AwsAccountStatus::default(), &sink).await.unwrap();
    assert_eq!(f.org.count("CreateAccount"), 1, "a slot freed");
}

#[tokio::test]
async fn throttling_is_retryable() {
    let f = fixture();
    f.org
        .state
        .lock()
        .unwrap()
        .failing
        .insert("ListRoots", aws(FailureKind::Throttled, "TooManyRequestsException", "slow down"));
    let error = f.kind.observe(&account(serde_json::json!({})), &mut AwsAccountStatus::default()).await.unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable);
    assert!(error.message.contains("TooManyRequestsException"));
}

#[tokio::test]
async fn update_calls_only_the_apis_the_differences_need() {
    let f = fixture();
    f.org.add_account("666677778888", "prod@example.com", "ou-root-payr0000");
    let obj = account(serde_json::json!({"accountId": "666677778888"}));
    f.org.state.lock().unwrap().tags.insert(
        "666677778888".into(),
        [("team", "billing"), ("stray", "x"), (OWNER_TAG, "payroll/payroll-prod"), (UID_TAG, "uid-1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let mut status = AwsAccountStatus::default();
    let Observation::Present { diffs, linked, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else { panic!() };
    assert!(matches!(linked, Some(Linked::Adopted(_))));
    let paths: Vec<&str> = diffs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["accountName", "tags.stray", "tags.team"]);

    f.kind.update(&obj, &mut status, &diffs).await.unwrap();
    assert_eq!(f.org.count("TagResource"), 1);
    assert_eq!(f.org.count("UntagResource"), 1);
    assert_eq!(f.org.count("MoveAccount"), 0, "the OU was right");
    assert_eq!(*f.management.puts.lock().unwrap(), 1, "one PutAccountName, no contact");
    assert_eq!(f.management.names.lock().unwrap().get("666677778888").map(String::as_str), Some("payroll-prod"));
    let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else { panic!() };
    assert!(diffs.is_empty(), "{diffs:?}");
}

#[tokio::test]
async fn an_account_owned_by_another_object_is_refused() {
    let f = fixture();
    f.org.add_account("777788889999", "prod@example.com", "ou-root-payr0000");
    f.org
        .state
        .lock()
        .unwrap()
        .tags
        .insert("777788889999".into(), [(OWNER_TAG.to_string(), "billing/main".to_string())].into());
    let error = f.kind.observe(&account(serde_json::json!({})), &mut AwsAccountStatus::default()).await.unwrap_err();
    assert_eq!(error.reason, crate::reconcile::error::TerminalReason::Forbidden);
    assert!(error.message.contains("billing/main"));
}

#[tokio::test]
async fn a_missing_ou_is_a_clear_terminal_error() {
    let f = fixture();
    let error = f
        .kind
        .observe(
            &account(serde_json::json!({"organizationalUnit": "Workloads/Nope"})),
            &mut AwsAccountStatus::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Terminal);
    assert!(error.message.contains("spec.organizationalUnit") && error.message.contains("does not exist"));
}

#[tokio::test]
async fn adopting_from_an_ou_the_namespace_does_not_own_is_forbidden() {
    let f = fixture();
    f.org.add_account("888899990000", "prod@example.com", "ou-root-bill0000");
    let grants = payroll_grants();
    let error =
        f.kind.check_policy(&account(serde_json::json!({"accountId": "888899990000"})), &grants).await.unwrap_err();
    assert_eq!(error.reason, crate::reconcile::error::TerminalReason::Forbidden);
    assert!(error.message.contains("888899990000") && error.message.contains("Workloads/Billing"), "{}", error.message);
    assert_eq!(f.kind.check_policy(&account(serde_json::json!({"email": "new@example.com"})), &grants).await, Ok(()));
}

#[tokio::test]
async fn its_own_account_found_in_the_root_after_a_crash_is_not_an_adoption() {
    let grants = payroll_grants();
    // Created with this object's uid tag, but orgops died before moving it into its OU;
    // an account with another uid in the root is someone else's.
    for (uid, allowed) in [("uid-1", true), ("uid-2", false)] {
        let f = fixture();
        f.org.add_account("444455556666", "prod@example.com", "r-root");
        f.org.state.lock().unwrap().tags.insert("444455556666".into(), [(UID_TAG.to_string(), uid.to_string())].into());
        let result = f.kind.check_policy(&account(serde_json::json!({})), &grants).await;
        assert_eq!(result.is_ok(), allowed, "{uid}: {result:?}");
    }
}

#[tokio::test]
async fn close_account_quota_is_a_clear_retryable_error() {
    let f = fixture();
    f.org.add_account("999900001111", "prod@example.com", "ou-root-payr0000");
    f.org.state.lock().unwrap().failing.insert(
        "CloseAccount",
        aws(
            FailureKind::Client,
            "ConstraintViolationException",
            "You have exceeded close account quota for the past 30 days.",
        ),
    );
    let mut status = AwsAccountStatus {
        account_id: Some("999900001111".into()),
        state: Some("ACTIVE".into()),
        ..Default::default()
    };
    let error = f
        .kind
        .delete(&account(serde_json::json!({})), &mut status, &crate::reconcile::ownership::Owned::for_tests())
        .await
        .unwrap_err();
    assert_eq!(error.class, crate::reconcile::error::ErrorClass::Retryable);
    assert!(error.message.contains("quota"), "{}", error.message);
}

#[tokio::test]
async fn delete_closes_then_reports_pending_closure_until_suspended() {
    let f = fixture();
    f.org.add_account("121212121212", "prod@example.com", "ou-root-payr0000");
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus {
        account_id: Some("121212121212".into()),
        state: Some("ACTIVE".into()),
        ..Default::default()
    };
    assert!(matches!(
        f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await,
        Ok(Progress::InProgress(_))
    ));
    assert_eq!(status.state.as_deref(), Some("PENDING_CLOSURE"));
    assert!(matches!(
        f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await,
        Ok(Progress::InProgress(_))
    ));
    f.org.state.lock().unwrap().accounts[0].0.state = "SUSPENDED".into();
    assert!(matches!(
        f.kind.delete(&obj, &mut status, &crate::reconcile::ownership::Owned::for_tests()).await,
        Ok(Progress::Done(_))
    ));
    assert_eq!(f.org.count("CloseAccount"), 1);
}

#[tokio::test]
async fn taking_ownership_writes_only_the_ownership_tags() {
    let f = fixture();
    f.org.add_account("111122223333", "prod@example.com", "ou-root-payr0000");
    f.org
        .state
        .lock()
        .unwrap()
        .tags
        .insert("111122223333".into(), [("team".to_string(), "drifted".to_string())].into());
    let obj = account(serde_json::json!({"accountId": "111122223333", "driftPolicy": "Report"}));
    let mut status = AwsAccountStatus::default();
    let Observation::Present { diffs, .. } = f.kind.observe(&obj, &mut status).await.unwrap() else { panic!() };
    let ownership: Vec<FieldDiff> = diffs.iter().filter(|d| d.ownership).cloned().collect();
    assert_eq!(ownership.len(), 2, "{diffs:?}");
    f.kind.update(&obj, &mut status, &ownership).await.unwrap();
    let tags = f.org.state.lock().unwrap().tags["111122223333"].clone();
    assert_eq!(tags.get("team").map(String::as_str), Some("drifted"), "the drifted tag is left to the driver");
    assert_eq!(tags.get(OWNER_TAG).map(String::as_str), Some("payroll/payroll-prod"));
    assert_eq!(tags.get(UID_TAG).map(String::as_str), Some("uid-1"));
    assert_eq!(f.org.count("UntagResource"), 0);
}

/// Persists the first status, then fails: the API server went away mid-create.
#[derive(Default)]
struct FailsAfterFirst(Mutex<usize>);

impl StatusSink<AwsAccountStatus> for FailsAfterFirst {
    fn persist<'a>(&'a self, _: &'a AwsAccountStatus) -> BoxFuture<'a, Result<(), Error>> {
        let mut calls = self.0.lock().unwrap();
        *calls += 1;
        let result = if *calls == 1 { Ok(()) } else { Err(Error::retryable("the API server is unreachable")) };
        Box::pin(async move { result })
    }
}

#[tokio::test]
async fn a_creation_whose_request_id_the_api_server_did_not_take_is_never_sent_again() {
    let f = fixture();
    f.org.state.lock().unwrap().next_create = Some(Ok(CreateState::InProgress));
    let obj = account(serde_json::json!({}));
    let mut status = AwsAccountStatus::default();
    assert_eq!(f.kind.observe(&obj, &mut status).await, Ok(Observation::Absent));
    assert!(f.kind.create(&obj, &mut status, &FailsAfterFirst::default()).await.is_err());

    // The next pass starts from the object as the cluster has it: no request id, or (the
    // watch not having delivered the marker) no marker at all.
    let mut from_cluster = AwsAccountStatus::default();
    let observed = f.kind.observe(&obj, &mut from_cluster).await;
    assert!(!matches!(observed, Ok(Observation::Absent)), "absent would create again: {observed:?}");
    assert_eq!(from_cluster.pending_creation.and_then(|p| p.request_id).as_deref(), Some("car-1"));
    assert_eq!(f.org.count("CreateAccount"), 1);
}
