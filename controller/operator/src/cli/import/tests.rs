//! The estate → objects rules, the files passing `orgops validate`, and the reads against
//! the in-memory AWS.

use super::build::{self, Account, Delegation, Estate, Import, Options, PermissionSet, Principal, TeamRule};
use super::*;
use crate::aws::account::fake::FakeAccountManagement;
use crate::aws::organizations::fake::FakeOrg;
use crate::aws::route53::RecordSet;
use crate::aws::route53::fake::FakeRoute53;
use crate::aws::snapshots::identity_center::PermissionSetState;
use crate::aws::sso_admin::fake::FakeSso;
use crate::aws::sso_admin::{Attributes, PrincipalKind};
use serde_json::Value;

const MANAGEMENT: &str = "000000000000";
const AUDITORS: &str = "9067729b3d-94f1e788-2ca5-4a2e-9a05-2bd1bbc3a8ee";

fn account(id: &str, name: &str, ou_path: &str, tags: &[(&str, &str)]) -> Account {
    Account {
        id: id.into(),
        name: name.into(),
        email: format!("{}.{id}@example.com", name.replace(' ', ".")),
        ou_path: ou_path.into(),
        ou_id: "ou-abcd-12345678".into(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        contacts: None,
        management: id == MANAGEMENT,
    }
}

fn group(id: &str, name: Option<&str>) -> Principal {
    Principal { kind: PrincipalKind::Group, id: id.into(), name: name.map(str::to_string) }
}

fn permission_set(name: &str, tags: &[(&str, &str)], assignments: &[(&Principal, &str)]) -> PermissionSet {
    let state = PermissionSetState {
        attributes: Attributes { name: name.into(), session_duration: Some("PT4H".into()), ..Default::default() },
        managed_policies: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
        ..Default::default()
    };
    let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    PermissionSet {
        arn: format!("arn:aws:sso:::permissionSet/ssoins-1/ps-{}", name.to_lowercase()),
        spec: crate::kinds::permission_set::rules::spec_of(&state, tags).unwrap(),
        assignments: assignments.iter().map(|(p, a)| ((*p).clone(), a.to_string())).collect(),
    }
}

fn estate() -> Estate {
    let devs = group("g-devs", Some("payroll-developers"));
    let auditors = group(AUDITORS, None);
    Estate {
        accounts: vec![
            account(MANAGEMENT, "management", "", &[]),
            account("111100000001", "prod", "Workloads/Payroll", &[("team", "payroll")]),
            account("111100000002", "prod", "Workloads/Payroll/Dev", &[("team", "payroll")]),
            account("222200000001", "billing prod", "Workloads/Billing", &[("team", "Billing Team")]),
            account("333300000001", "sandbox", "", &[("team", "payroll")]),
        ],
        permission_sets: vec![
            permission_set("PayrollDev", &[], &[(&devs, "111100000001"), (&devs, "111100000002")]),
            permission_set("Auditor", &[], &[(&auditors, "111100000001"), (&auditors, "222200000001")]),
            permission_set("Breakglass", &[("team", "payroll")], &[(&devs, MANAGEMENT)]),
            permission_set("BillingRead", &[("team", "billing team")], &[(&devs, "111100000001")]),
        ],
        delegations: vec![Delegation {
            domain: "payroll.example.com".into(),
            parent: ParentDomain {
                domain: "example.com".into(),
                zone_id: "ZPARENT".into(),
                account_id: MANAGEMENT.into(),
            },
            account_id: "111100000001".into(),
            zone_id: "ZCHILD1".into(),
            ttl: 600,
        }],
    }
}

fn options(rule: TeamRule, manage: bool) -> Options {
    Options { rule, admin_namespace: "platform".into(), manage }
}

fn find<'a>(import: &'a Import, kind: &str, name: &str) -> &'a Value {
    let object = import.objects.iter().find(|o| o.kind == kind && o.name == name);
    &object.unwrap_or_else(|| panic!("{kind} {name} in {:?}", import.objects)).body
}

fn placed(import: &Import) -> Vec<(String, &'static str, String)> {
    import.objects.iter().map(|o| (o.namespace.clone(), o.kind, o.name.clone())).collect()
}

#[test]
fn by_ou_level_each_team_gets_its_accounts_and_the_rest_goes_to_the_admin_namespace() {
    let import = build::build(&estate(), &options(TeamRule::OuLevel(2), false));
    let accounts: Vec<_> = placed(&import).into_iter().filter(|(_, k, _)| *k == "AwsAccount").collect();
    let expected = [
        ("billing", "billing-prod"),
        ("platform", "management"),
        ("payroll", "prod"),
        ("payroll", "prod-0002"),
        ("platform", "sandbox"),
    ];
    assert_eq!(accounts, expected.map(|(ns, n)| (ns.to_string(), "AwsAccount", n.to_string())));
    let prod = find(&import, "AwsAccount", "prod");
    assert_eq!(prod["metadata"]["namespace"], "payroll");
    assert_eq!(prod["spec"]["accountId"], "111100000001");
    assert_eq!(prod["spec"]["organizationalUnit"], "Workloads/Payroll");
    assert_eq!(prod["spec"]["managementPolicy"], "ObserveOnly");
    assert_eq!(prod["spec"]["tags"]["team"], "payroll");
    assert_eq!(find(&import, "AwsAccount", "management")["spec"]["organizationalUnit"], "Root");

    let payroll = &import.policy.namespaces["payroll"];
    assert_eq!(payroll.organizational_units, ["Workloads/Payroll"], "the team's OU, not each account's");
    assert!(import.policy.namespaces["platform"].admin);
}

#[test]
fn by_tag_a_team_is_granted_the_ous_of_its_accounts_and_accounts_under_the_root_stay_with_the_admin() {
    let import = build::build(&estate(), &options(TeamRule::Tag("team".into()), false));
    assert_eq!(find(&import, "AwsAccount", "billing-prod")["metadata"]["namespace"], "billing-team");
    assert_eq!(find(&import, "AwsAccount", "sandbox")["metadata"]["namespace"], "platform");
    assert_eq!(import.policy.namespaces["payroll"].organizational_units, ["Workloads/Payroll"]);
    assert_eq!(import.policy.namespaces["billing-team"].organizational_units, ["Workloads/Billing"]);
}

#[test]
fn a_permission_set_goes_to_the_one_team_it_serves_and_otherwise_to_the_admin_namespace() {
    let import = build::build(&estate(), &options(TeamRule::Tag("team".into()), false));
    let namespace_of = |name: &str| find(&import, "PermissionSetRequest", name)["metadata"]["namespace"].clone();
    assert_eq!(namespace_of("payrolldev"), "payroll");
    assert_eq!(namespace_of("auditor"), "platform", "assigned across two teams");
    assert_eq!(namespace_of("breakglass"), "platform", "the management account is the admin's, whatever the tag");
    assert_eq!(namespace_of("billingread"), "billing-team", "by its tag");

    let dev = find(&import, "PermissionSetRequest", "payrolldev");
    assert_eq!(
        dev["spec"]["assignments"],
        serde_json::json!([{"group": "payroll-developers", "targets": [{"accountRef": "prod"}, {"accountRef": "prod-0002"}]}])
    );
    assert_eq!(dev["spec"]["permissionSet"]["sessionDuration"], "PT4H");
    assert_eq!(dev["spec"]["deletionPolicy"], "Retain");
    let auditor = find(&import, "PermissionSetRequest", "auditor");
    assert_eq!(auditor["spec"]["assignments"][0]["groupId"], AUDITORS, "no name in the identity store: by id");
    assert_eq!(auditor["spec"]["assignments"][0]["targets"][0]["accountId"], "111100000001");
    // A team assigning in another team's account is granted that account, nothing more.
    let read = find(&import, "PermissionSetRequest", "billingread");
    assert_eq!(read["spec"]["assignments"][0]["targets"][0]["accountId"], "111100000001");
    assert_eq!(import.policy.namespaces["billing-team"].accounts, ["111100000001"]);
    assert!(import.policy.namespaces["payroll"].accounts.is_empty());
}

#[test]
fn a_delegation_goes_with_its_zones_account_and_its_parent_is_granted() {
    let import = build::build(&estate(), &options(TeamRule::OuLevel(2), false));
    let delegation = find(&import, "SubdomainDelegation", "payroll-example-com");
    assert_eq!(delegation["metadata"]["namespace"], "payroll");
    assert_eq!(delegation["spec"]["account"], serde_json::json!({"accountRef": "prod"}));
    assert_eq!(delegation["spec"]["ttl"], 600);
    for namespace in ["payroll", "platform"] {
        assert_eq!(import.policy.namespaces[namespace].parent_domains[0].zone_id, "ZPARENT", "{namespace}");
    }
}

#[test]
fn manage_writes_full_management_with_the_adopt_annotation_naming_each_resource() {
    let import = build::build(&estate(), &options(TeamRule::OuLevel(2), true));
    let dev = find(&import, "PermissionSetRequest", "payrolldev");
    assert_eq!(dev["spec"]["managementPolicy"], "Full");
    assert_eq!(
        dev["metadata"]["annotations"]["orgops.dev/adopt"],
        "arn:aws:sso:::permissionSet/ssoins-1/ps-payrolldev"
    );
    let delegation = find(&import, "SubdomainDelegation", "payroll-example-com");
    assert_eq!(delegation["metadata"]["annotations"]["orgops.dev/adopt"], "ZCHILD1");
    let prod = find(&import, "AwsAccount", "prod");
    assert_eq!(prod["spec"]["managementPolicy"], "Full");
    assert!(prod["metadata"].get("annotations").is_none(), "spec.accountId adopts an account");
}

#[test]
fn labels_are_namespace_and_object_names() {
    assert_eq!(build::label("Billing Team (EU)").as_deref(), Some("billing-team-eu"));
    assert_eq!(build::label("--").as_deref(), None);
    assert_eq!(build::label(&"x".repeat(80)).map(|l| l.len()), Some(63));
}

#[test]
fn the_written_folder_passes_validate_with_the_written_policy() {
    for (rule, manage) in [(TeamRule::OuLevel(2), false), (TeamRule::Tag("team".into()), true)] {
        let import = build::build(&estate(), &options(rule, manage));
        let dir = std::env::temp_dir().join(format!("orgops-import-{}-{manage}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let written = write(&dir, &import, "platform").unwrap();
        assert!(written.contains(&dir.join("teams/payroll/awsaccount-prod.yaml")), "{written:?}");
        assert!(write(&dir, &import, "platform").is_err(), "never over existing files");
        let policy = PolicyStore::open(Some(dir.join("platform/policy.yaml"))).unwrap();
        let findings = crate::cli::validate::validate(std::slice::from_ref(&dir), Some(&policy)).unwrap();
        let errors: Vec<String> = findings.iter().filter(|f| !f.not_checked).map(|f| f.text()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn parent_domains_take_an_optional_account() {
    assert_eq!(parse_parent("Example.COM.").unwrap(), ParentArg { domain: "example.com".into(), account: None });
    assert_eq!(parse_parent("example.com@111122223333").unwrap().account.as_deref(), Some("111122223333"));
    assert!(parse_parent("example.com@1234").is_err());
    assert!(parse_parent("localhost").is_err());
}

#[tokio::test]
async fn the_reads_skip_what_orgops_manages_and_resolve_principals_and_child_zones() {
    let org = Arc::new(FakeOrg::new());
    org.add_account("111100000001", "prod@example.com", "ou-root-payr0000");
    org.add_account("111100000002", "taken@example.com", "ou-root-payr0000");
    org.state.lock().unwrap().tags.insert(
        "111100000002".into(),
        [(OWNER_TAG.to_string(), "payroll/taken".to_string()), ("team".into(), "payroll".into())].into(),
    );
    let contacts = Arc::new(FakeAccountManagement::default());
    let security = crate::aws::account::ContactDetails {
        name: "Sec Ops".into(),
        title: "Lead".into(),
        email: "sec@example.com".into(),
        phone: "+1 555 0100".into(),
    };
    contacts.contacts.lock().unwrap().insert(("111100000001".into(), ContactType::Security), security);
    let sso = FakeSso::new();
    {
        let mut s = sso.state.lock().unwrap();
        s.groups.insert("payroll-developers".into(), "g-1".into());
        let state = PermissionSetState {
            attributes: Attributes { name: "PayrollDev".into(), ..Default::default() },
            inline_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}"#
                    .into(),
            ),
            ..Default::default()
        };
        s.sets.insert("arn:ps-1".into(), state);
        let group = crate::aws::sso_admin::Principal { kind: PrincipalKind::Group, id: "g-1".into() };
        s.assignments.insert(("arn:ps-1".into(), "111100000001".into()), vec![group]);
    }
    let route53 = FakeRoute53::new();
    let parent = route53.add_zone(MANAGEMENT, "example.com", "platform", Default::default());
    let child = route53.add_zone("111100000001", "payroll.example.com", "terraform", Default::default());
    let decoy = route53.add_zone("111100000002", "payroll.example.com", "old", Default::default());
    let servers = route53.record("111100000001", &child, "payroll.example.com").unwrap().values;
    let ns = |name: &str| RecordSet { name: name.into(), kind: "NS".into(), ttl: Some(900), values: servers.clone() };
    route53.set_record(MANAGEMENT, &parent, Some(ns("payroll.example.com")), "payroll.example.com");
    let stray = RecordSet { values: vec!["ns-9.elsewhere.net".into()], ..ns("old.example.com") };
    route53.set_record(MANAGEMENT, &parent, Some(stray), "old.example.com");

    let sources = Sources {
        org: OrgCache::new(org),
        contacts,
        center: IdentityCenter::new(sso.clone(), sso.clone(), None),
        dns: DnsView::new(route53.clone()),
    };
    let parents = [ParentArg { domain: "example.com".into(), account: None }];
    let (estate, notes) = sources.read(&parents).await.unwrap();

    let ids: Vec<&str> = estate.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["111100000001"]);
    let prod = &estate.accounts[0];
    assert_eq!((prod.ou_path.as_str(), prod.ou_id.as_str()), ("Workloads/Payroll", "ou-root-payr0000"));
    assert_eq!(prod.contacts.as_ref().and_then(|c| c.security.as_ref()).map(|s| s.name.as_str()), Some("Sec Ops"));
    assert!(notes.iter().any(|n| n.contains("111100000002 is already managed by orgops (payroll/taken)")), "{notes:?}");

    let set = &estate.permission_sets[0];
    assert_eq!(set.assignments, [(group("g-1", Some("payroll-developers")), "111100000001".to_string())]);
    assert_eq!(set.spec.inline_policy.as_ref().unwrap()["Statement"][0]["Action"], "s3:List*");

    assert_eq!(estate.delegations.len(), 1, "{:?}", estate.delegations);
    let delegation = &estate.delegations[0];
    assert_eq!((delegation.account_id.as_str(), delegation.zone_id.as_str()), ("111100000001", child.as_str()));
    assert_ne!(delegation.zone_id, decoy);
    assert_eq!((delegation.ttl, delegation.parent.zone_id.as_str()), (900, parent.as_str()));
    assert!(notes.iter().any(|n| n.contains("old.example.com") && n.contains("no hosted zone")), "{notes:?}");
    assert_eq!(route53.writes(), 0);
    assert_eq!(sso.count("CreatePermissionSet") + sso.count("TagResource"), 0);
}
