//! AWS change events as EventBridge delivers them to the change queue: CloudTrail's
//! "AWS API Call via CloudTrail" records of writes to the services orgops manages, and
//! the feed's own scheduled heartbeat. Parsing names the AWS resources a write touched;
//! it knows nothing of the objects that depend on them.
//!
//! The record format is CloudTrail's (`userIdentity`, `eventSource`, `eventName`,
//! `requestParameters`, `recipientAccountId`, `errorCode`), as documented in the
//! CloudTrail record contents reference; EventBridge wraps it as `detail`.

use serde_json::Value;

/// Of the services the feed carries, the ones written in member accounts (child zones; contacts set from inside
/// an account), which each member forwards to the central bus. Both are global services,
/// whose events arrive in us-east-1.
pub const MEMBER_SOURCES: [(&str, &str); 2] =
    [("aws.route53", "route53.amazonaws.com"), ("aws.account", "account.amazonaws.com")];

/// The EventBridge pattern of writes to these services.
pub fn api_call_pattern(sources: &[(&str, &str)]) -> Value {
    serde_json::json!({
        "detail-type": ["AWS API Call via CloudTrail"],
        "source": sources.iter().map(|(source, _)| *source).collect::<Vec<_>>(),
        "detail": {"eventSource": sources.iter().map(|(_, event_source)| *event_source).collect::<Vec<_>>()},
    })
}

/// An AWS resource a write touched.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Touched {
    /// An account: moved, tagged, closed, renamed, its contacts changed.
    Account(String),
    /// The OU tree changed (an OU created, renamed, deleted or tagged): paths may now
    /// resolve differently.
    OrganizationalUnits,
    /// A permission set, its policies, tags or assignments.
    PermissionSet(String),
    /// A hosted zone or its records.
    HostedZone(String),
    /// A stack set or its instances, by name.
    StackSet(String),
}

/// Who made a write, as CloudTrail records it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// `userIdentity.arn`: an IAM user's ARN, or `arn:…:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
}

impl Caller {
    /// The role and session of an assumed-role caller.
    fn assumed_role(&self) -> Option<(&str, &str, &str)> {
        assumed_role_of(&self.arn)
    }
}

/// `(account, role name, session name)` of an assumed-role ARN.
fn assumed_role_of(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest = resource.strip_prefix("assumed-role/").filter(|_| service == "sts")?;
    let (role, session) = rest.split_once('/')?;
    Some((account, role, session))
}

/// One write recorded by CloudTrail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// The event's id, for logs.
    pub id: String,
    /// When the write happened (the envelope's `time`), RFC 3339.
    pub time: String,
    /// `organizations.amazonaws.com`, `sso.amazonaws.com`, …
    pub source: String,
    /// `MoveAccount`, `DetachManagedPolicyFromPermissionSet`, …
    pub name: String,
    /// Who made it.
    pub caller: Caller,
    /// What it touched; empty for a write orgops does not depend on.
    pub touched: Vec<Touched>,
}

/// A message of the change queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeMessage {
    /// A write to a service orgops manages.
    ApiCall(ApiCall),
    /// A call that changed nothing: it failed, or only read.
    NoChange,
    /// The feed's scheduled heartbeat: the pipeline delivers.
    Heartbeat,
    /// Well-formed, but not an event the feed is built to carry (the description).
    Unknown(String),
}

/// Reads one message body. An error means the body is not an EventBridge event at all.
pub fn parse(body: &str) -> Result<ChangeMessage, String> {
    let event: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(detail_type), Some(source)) = (text(&event, "detail-type"), text(&event, "source")) else {
        return Err("not an EventBridge event: no detail-type or source".into());
    };
    if source == "aws.events" && detail_type == "Scheduled Event" {
        return Ok(ChangeMessage::Heartbeat);
    }
    if detail_type != "AWS API Call via CloudTrail" {
        return Ok(ChangeMessage::Unknown(format!("{detail_type} from {source}")));
    }
    let detail = event.get("detail").filter(|d| d.is_object()).ok_or("a CloudTrail event without a detail object")?;
    let (Some(event_source), Some(name)) = (text(detail, "eventSource"), text(detail, "eventName")) else {
        return Err("a CloudTrail event without eventSource or eventName".into());
    };
    if detail.get("errorCode").is_some_and(|c| !c.is_null()) || detail.get("readOnly") == Some(&Value::Bool(true)) {
        return Ok(ChangeMessage::NoChange);
    }
    let empty = Value::Null;
    let parameters = detail.get("requestParameters").unwrap_or(&empty);
    let recipient = text(detail, "recipientAccountId").unwrap_or_default();
    let caller = Caller { arn: detail.get("userIdentity").and_then(|u| text(u, "arn")).unwrap_or_default() };
    Ok(ChangeMessage::ApiCall(ApiCall {
        id: text(&event, "id").unwrap_or_default(),
        time: text(&event, "time").unwrap_or_default(),
        touched: touched(&event_source, &name, parameters, &recipient),
        source: event_source,
        name,
        caller,
    }))
}

/// The resources a write touched, from its request parameters.
fn touched(source: &str, name: &str, parameters: &Value, recipient: &str) -> Vec<Touched> {
    let parameter = |key: &str| parameters.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
    let one = |resource: Option<Touched>| resource.into_iter().collect();
    match (source, name) {
        ("organizations.amazonaws.com", "TagResource" | "UntagResource") => {
            one(parameter("resourceId").and_then(|id| {
                if is_account_id(id) {
                    Some(Touched::Account(id.to_string()))
                } else {
                    (id.starts_with("ou-") || id.starts_with("r-")).then_some(Touched::OrganizationalUnits)
                }
            }))
        }
        (
            "organizations.amazonaws.com",
            "CreateOrganizationalUnit" | "UpdateOrganizationalUnit" | "DeleteOrganizationalUnit",
        ) => {
            vec![Touched::OrganizationalUnits]
        }
        ("organizations.amazonaws.com", _) => one(parameter("accountId").map(|id| Touched::Account(id.to_string()))),
        // Account Management calls without an AccountId act on the caller's own account.
        ("account.amazonaws.com", _) => {
            let account = parameter("accountId").unwrap_or(recipient);
            one(is_account_id(account).then(|| Touched::Account(account.to_string())))
        }
        ("sso.amazonaws.com", _) => {
            // A tagged resource may be the instance or an application: only a permission
            // set's ARN ends in its `ps-` id.
            let tagged =
                parameter("resourceArn").filter(|arn| arn.rsplit('/').next().is_some_and(|id| id.starts_with("ps-")));
            one(parameter("permissionSetArn").or(tagged).map(|arn| Touched::PermissionSet(arn.to_string())))
        }
        ("route53.amazonaws.com", _) => {
            let zone = parameter("hostedZoneId").or_else(|| match name {
                "DeleteHostedZone" | "UpdateHostedZoneComment" => parameter("id"),
                "ChangeTagsForResource" => parameter("resourceId"),
                _ => None,
            });
            one(zone.map(|id| Touched::HostedZone(id.trim_start_matches("/hostedzone/").to_string())))
        }
        ("cloudformation.amazonaws.com", _) => {
            // The name, or the StackSetId `name:uuid`.
            let name = parameter("stackSetName").map(|n| n.split(':').next().unwrap_or(n).to_string());
            one(name.map(Touched::StackSet))
        }
        _ => Vec::new(),
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The principals orgops writes as: its own (from GetCallerIdentity), the hub role, and
/// the member role in any account, assumed with orgops's session name.
#[derive(Clone, Debug, Default)]
pub struct OwnIdentity {
    /// orgops's own principal ARN.
    pub caller_arn: String,
    /// The hub role's ARN, when orgops reaches members through one.
    pub hub_role_arn: Option<String>,
    /// The member role's name.
    pub member_role_name: String,
    /// The session name orgops assumes roles with.
    pub session_name: String,
}

impl OwnIdentity {
    /// Whether the write was made by orgops.
    pub fn made(&self, caller: &Caller) -> bool {
        if !caller.arn.is_empty() && caller.arn == self.caller_arn {
            return true;
        }
        let Some((account, role, session)) = caller.assumed_role() else { return false };
        // orgops's own role under any session: credentials from a web identity or the
        // instance rotate the session name.
        if assumed_role_of(&self.caller_arn)
            .is_some_and(|(own_account, own_role, _)| own_account == account && own_role == role)
        {
            return true;
        }
        let hub = self.hub_role_arn.as_deref().and_then(|arn| arn.rsplit_once(":role/")).map(|(prefix, path)| {
            (prefix.rsplit(':').next().unwrap_or_default(), path.rsplit('/').next().unwrap_or(path))
        });
        let is_hub = hub.is_some_and(|(hub_account, hub_role)| hub_account == account && hub_role == role);
        // People assume the member role too: only orgops's session counts.
        session == self.session_name && (is_hub || role == self.member_role_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloudtrail(source: &str, name: &str, parameters: Value, caller: &str) -> String {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "AWS API Call via CloudTrail",
            "source": format!("aws.{}", source.split('.').next().unwrap()),
            "account": "123456789012",
            "time": "2026-12-03T04:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.08",
                "userIdentity": {"type": "AssumedRole", "arn": caller, "accountId": "123456789012"},
                "eventTime": "2026-12-03T04:00:00Z",
                "eventSource": source,
                "eventName": name,
                "awsRegion": "us-east-1",
                "requestParameters": parameters,
                "responseElements": null,
                "recipientAccountId": "210987654321",
                "eventID": "c3a4b5d6-0000-4000-8000-000000000001",
                "readOnly": false,
                "eventType": "AwsApiCall",
            }
        })
        .to_string()
    }

    /// The services [`touched`] reads: (EventBridge source, CloudTrail eventSource).
    const FEED_SOURCES: [(&str, &str); 5] = [
        ("aws.organizations", "organizations.amazonaws.com"),
        ("aws.account", "account.amazonaws.com"),
        ("aws.sso", "sso.amazonaws.com"),
        ("aws.route53", "route53.amazonaws.com"),
        ("aws.cloudformation", "cloudformation.amazonaws.com"),
    ];

    #[test]
    fn the_shipped_template_routes_every_source_the_feed_reads() {
        let text = include_str!("../../../../manifests/aws/change-feed.yaml");
        let template: yaml_serde::Value = yaml_serde::from_str(text).unwrap();
        let pattern = &template["Resources"]["ApiCallRule"]["Properties"]["EventPattern"];
        let pattern: Value = serde_json::to_value(pattern).unwrap();
        assert_eq!(pattern, api_call_pattern(&FEED_SOURCES));
        for (_, member) in MEMBER_SOURCES {
            assert!(FEED_SOURCES.iter().any(|(_, source)| *source == member));
        }
    }

    const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Admin/alice";

    fn touched_by(source: &str, name: &str, parameters: Value) -> Vec<Touched> {
        match parse(&cloudtrail(source, name, parameters, ALICE)).unwrap() {
            ChangeMessage::ApiCall(call) => call.touched,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_write_names_the_resource_it_touched() {
        let account = |id: &str| vec![Touched::Account(id.into())];
        let arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-1";
        let instance = "arn:aws:sso:::instance/ssoins-1";
        let cases = [
            (
                "organizations.amazonaws.com",
                "MoveAccount",
                json!({"accountId": "111111111111", "sourceParentId": "r-ab12", "destinationParentId": "ou-ab12-x"}),
                account("111111111111"),
            ),
            (
                "organizations.amazonaws.com",
                "TagResource",
                json!({"resourceId": "111111111111", "tags": []}),
                account("111111111111"),
            ),
            (
                "organizations.amazonaws.com",
                "UntagResource",
                json!({"resourceId": "ou-ab12-x"}),
                vec![Touched::OrganizationalUnits],
            ),
            (
                "organizations.amazonaws.com",
                "UpdateOrganizationalUnit",
                json!({"organizationalUnitId": "ou-1"}),
                vec![Touched::OrganizationalUnits],
            ),
            ("organizations.amazonaws.com", "EnableAWSServiceAccess", json!({}), vec![]),
            // Without an AccountId, an Account Management call acts on the recipient.
            (
                "account.amazonaws.com",
                "PutAlternateContact",
                json!({"alternateContactType": "SECURITY"}),
                account("210987654321"),
            ),
            (
                "account.amazonaws.com",
                "DeleteAlternateContact",
                json!({"accountId": "111111111111"}),
                account("111111111111"),
            ),
            (
                "sso.amazonaws.com",
                "DetachManagedPolicyFromPermissionSet",
                json!({"instanceArn": instance, "permissionSetArn": arn}),
                vec![Touched::PermissionSet(arn.into())],
            ),
            ("sso.amazonaws.com", "TagResource", json!({"resourceArn": arn}), vec![Touched::PermissionSet(arn.into())]),
            ("sso.amazonaws.com", "TagResource", json!({"resourceArn": instance}), vec![]),
            (
                "route53.amazonaws.com",
                "ChangeResourceRecordSets",
                json!({"hostedZoneId": "Z0123"}),
                vec![Touched::HostedZone("Z0123".into())],
            ),
            (
                "route53.amazonaws.com",
                "DeleteHostedZone",
                json!({"id": "/hostedzone/Z0456"}),
                vec![Touched::HostedZone("Z0456".into())],
            ),
            (
                "cloudformation.amazonaws.com",
                "DeleteStackInstances",
                json!({"stackSetName": "base:1f2e"}),
                vec![Touched::StackSet("base".into())],
            ),
        ];
        for (source, name, parameters, expected) in cases {
            assert_eq!(touched_by(source, name, parameters), expected, "{source} {name}");
        }
    }

    #[test]
    fn failed_and_read_only_calls_change_nothing() {
        let mut event: Value = serde_json::from_str(&cloudtrail(
            "organizations.amazonaws.com",
            "MoveAccount",
            json!({"accountId": "111111111111"}),
            ALICE,
        ))
        .unwrap();
        event["detail"]["errorCode"] = json!("AccessDenied");
        assert_eq!(parse(&event.to_string()), Ok(ChangeMessage::NoChange));
        event["detail"]["errorCode"] = Value::Null;
        event["detail"]["readOnly"] = json!(true);
        assert_eq!(parse(&event.to_string()), Ok(ChangeMessage::NoChange));
    }

    #[test]
    fn heartbeats_other_events_and_garbage_are_told_apart() {
        let heartbeat = json!({"id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(parse(&heartbeat.to_string()), Ok(ChangeMessage::Heartbeat));
        let finding = json!({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {}});
        assert_eq!(
            parse(&finding.to_string()),
            Ok(ChangeMessage::Unknown("GuardDuty Finding from aws.guardduty".into()))
        );
        assert!(parse("not json").is_err());
        assert!(parse("{\"hello\": 1}").is_err());
        let no_detail = json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.organizations"});
        assert!(parse(&no_detail.to_string()).is_err());
    }

    #[test]
    fn own_writes_are_recognised_by_role_and_session() {
        let own = OwnIdentity {
            caller_arn: "arn:aws:sts::123456789012:assumed-role/orgops-controller/botocore-session-17".into(),
            hub_role_arn: Some("arn:aws:iam::123456789012:role/platform/orgops-hub".into()),
            member_role_name: "OrganizationAccountAccessRole".into(),
            session_name: "orgops".into(),
        };
        let made = |arn: &str| own.made(&Caller { arn: arn.into() });
        assert!(made("arn:aws:sts::123456789012:assumed-role/orgops-controller/botocore-session-99"), "rotated");
        assert!(made("arn:aws:sts::123456789012:assumed-role/orgops-hub/orgops"));
        assert!(made("arn:aws:sts::210987654321:assumed-role/OrganizationAccountAccessRole/orgops"));
        assert!(!made("arn:aws:sts::210987654321:assumed-role/OrganizationAccountAccessRole/alice"), "a person");
        assert!(!made("arn:aws:sts::999999999999:assumed-role/orgops-controller/botocore-session-99"));
        assert!(!made("arn:aws:sts::123456789012:assumed-role/orgops-hub/alice"));
        assert!(!made(ALICE));
        assert!(!made(""));
        let user = OwnIdentity { caller_arn: "arn:aws:iam::123456789012:user/orgops".into(), ..own.clone() };
        assert!(user.made(&Caller { arn: "arn:aws:iam::123456789012:user/orgops".into() }));
        assert!(!user.made(&Caller { arn: "arn:aws:iam::123456789012:user/alice".into() }));
    }
}
