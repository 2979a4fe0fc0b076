//! The CloudFormation template of a SecurityBaseline: a pure function of the spec, so the
//! same spec always renders the same bytes and a stack set is updated only when the spec
//! changed. Every control adds its resources; the notifications add an SNS topic, one
//! EventBridge rule per kind of event, and optionally an AWS Chatbot Slack channel.

use crate::feed::change_event::{MEMBER_SOURCES, api_call_pattern};
use orgops_api::baseline::{
    AnalyzerScope, ChangeFeedForwarding, Controls, FindingPublishingFrequency, Notifications, SecurityHubStandard,
};
use serde_json::{Map, Value, json};

/// The condition true in the baseline's home region: global resource types are recorded
/// and a multi-region trail is created there only, so they are not paid for twice.
const HOME_REGION: &str = "HomeRegion";

/// The region that records global resources and holds a multi-region trail: the Config
/// control's `globalResourcesRegion`, else the first target region.
pub fn home_region<'a>(controls: &'a Controls, regions: &'a [String]) -> &'a str {
    match &controls.config {
        Some(config) => &config.global_resources_region,
        None => regions.first().map(String::as_str).unwrap_or("us-east-1"),
    }
}

/// The template of `controls` deployed to `regions`, as JSON text with sorted keys and a
/// trailing newline.
pub fn render(controls: &Controls, regions: &[String]) -> String {
    let mut text = serde_json::to_string_pretty(&template(controls, regions)).expect("a JSON value serializes");
    text.push('\n');
    text
}

fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

/// The template as a JSON value.
pub fn template(controls: &Controls, regions: &[String]) -> Value {
    let mut resources = Map::new();
    let mut enabled = Vec::new();
    if let Some(guard_duty) = &controls.guard_duty {
        enabled.push("GuardDuty");
        let frequency = match guard_duty.finding_publishing_frequency {
            FindingPublishingFrequency::FIFTEEN_MINUTES => "FIFTEEN_MINUTES",
            FindingPublishingFrequency::ONE_HOUR => "ONE_HOUR",
            FindingPublishingFrequency::SIX_HOURS => "SIX_HOURS",
        };
        resources.insert(
            "GuardDutyDetector".into(),
            json!({"Type": "AWS::GuardDuty::Detector", "Properties": {"Enable": true, "FindingPublishingFrequency": frequency}}),
        );
    }
    if let Some(hub) = &controls.security_hub {
        enabled.push("Security Hub");
        resources.insert(
            "SecurityHub".into(),
            json!({"Type": "AWS::SecurityHub::Hub", "Properties": {
                "EnableDefaultStandards": false, "ControlFindingGenerator": "SECURITY_CONTROL", "AutoEnableControls": true
            }}),
        );
        let mut standards = hub.standards.clone();
        standards.sort();
        standards.dedup();
        for standard in standards {
            let (name, path) = match standard {
                SecurityHubStandard::AwsFoundationalSecurityBestPractices => {
                    ("Fsbp", "aws-foundational-security-best-practices/v/1.0.0")
                }
                SecurityHubStandard::CisAwsFoundations => ("Cis", "cis-aws-foundations-benchmark/v/3.0.0"),
                SecurityHubStandard::Nist80053 => ("Nist", "nist-800-53/v/5.0.0"),
                SecurityHubStandard::PciDss => ("PciDss", "pci-dss/v/3.2.1"),
            };
            resources.insert(
                format!("SecurityHubStandard{name}"),
                json!({"Type": "AWS::SecurityHub::Standard", "DependsOn": "SecurityHub", "Properties": {
                    "StandardsArn": sub(&format!("arn:${{AWS::Partition}}:securityhub:${{AWS::Region}}::standards/{path}"))
                }}),
            );
        }
    }
    if let Some(config) = &controls.config {
        enabled.push("Config");
        resources.insert(
            "ConfigRecorder".into(),
            json!({"Type": "AWS::Config::ConfigurationRecorder", "Properties": {
                "Name": "orgops",
                "RoleARN": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"),
                "RecordingGroup": {"AllSupported": true, "IncludeGlobalResourceTypes": {"Fn::If": [HOME_REGION, true, false]}}
            }}),
        );
        resources.insert(
            "ConfigDeliveryChannel".into(),
            json!({"Type": "AWS::Config::DeliveryChannel", "DependsOn": "ConfigRecorder", "Properties": {
                "Name": "orgops",
                "S3BucketName": config.delivery_bucket,
                "ConfigSnapshotDeliveryProperties": {"DeliveryFrequency": "TwentyFour_Hours"}
            }}),
        );
    }
    if let Some(trail) = &controls.cloud_trail {
        enabled.push("CloudTrail");
        let mut resource = json!({"Type": "AWS::CloudTrail::Trail", "Properties": {
            "TrailName": "orgops",
            "IsLogging": true,
            "S3BucketName": trail.bucket,
            "IsMultiRegionTrail": trail.multi_region,
            "EnableLogFileValidation": trail.log_file_validation,
            "IncludeGlobalServiceEvents": if trail.multi_region { json!(true) } else { json!({"Fn::If": [HOME_REGION, true, false]}) }
        }});
        if trail.multi_region {
            // One trail records every region: created in the home region only.
            resource["Condition"] = json!(HOME_REGION);
        }
        resources.insert("CloudTrail".into(), resource);
    }
    if let Some(analyzer) = &controls.access_analyzer {
        enabled.push("Access Analyzer");
        let scope = match analyzer.scope {
            AnalyzerScope::ACCOUNT => "ACCOUNT",
            AnalyzerScope::ORGANIZATION => "ORGANIZATION",
        };
        resources.insert(
            "AccessAnalyzer".into(),
            json!({"Type": "AWS::AccessAnalyzer::Analyzer", "Properties": {"AnalyzerName": "orgops", "Type": scope}}),
        );
    }
    if let Some(notifications) = &controls.notifications {
        enabled.push("notifications");
        notification_resources(notifications, &mut resources);
    }
    if let Some(forwarding) = &controls.change_feed_forwarding {
        enabled.push("change-feed forwarding");
        forwarding_resources(forwarding, &mut resources);
    }
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("Security baseline rolled out by orgops: {}", enabled.join(", ")),
        "Resources": resources,
    });
    let mut conditions = Map::new();
    if controls.config.is_some() || controls.cloud_trail.is_some() {
        conditions.insert(
            HOME_REGION.into(),
            json!({"Fn::Equals": [reference("AWS::Region"), home_region(controls, regions)]}),
        );
    }
    if let Some(forwarding) = &controls.change_feed_forwarding {
        conditions
            .insert(FORWARDING_REGION.into(), json!({"Fn::Equals": [reference("AWS::Region"), forwarding.region]}));
    }
    if !conditions.is_empty() {
        template["Conditions"] = Value::Object(conditions);
    }
    template
}

/// API calls that turn a security service off.
const DISABLING_CALLS: [&str; 10] = [
    "DeleteDetector",
    "DisassociateFromMasterAccount",
    "DisableSecurityHub",
    "BatchDisableStandards",
    "StopLogging",
    "DeleteTrail",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "DeleteDeliveryChannel",
    "DeleteAnalyzer",
];

/// IAM calls that change what a policy allows.
const IAM_POLICY_CALLS: [&str; 17] = [
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "PutGroupPolicy",
    "DeleteRolePolicy",
    "DeleteUserPolicy",
    "DeleteGroupPolicy",
];

/// EC2 calls that change a security group.
const SECURITY_GROUP_CALLS: [&str; 7] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "ModifySecurityGroupRules",
];

/// The EventBridge rules the notifications ask for: (resource name, description, pattern).
fn rules(n: &Notifications) -> Vec<(&'static str, &'static str, Value)> {
    let api_call = |sources: &[&str], calls: &[&str]| json!({"detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventSource": sources, "eventName": calls}});
    let mut rules = Vec::new();
    if let Some(severity) = n.guard_duty_min_severity {
        rules.push((
            "GuardDutyFindingRule",
            "GuardDuty findings at or above the baseline's severity",
            json!({"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"], "detail": {"severity": [{"numeric": [">=", severity]}]}}),
        ));
    }
    if n.health_events {
        rules.push((
            "HealthEventRule",
            "AWS Health events",
            json!({"source": ["aws.health"], "detail-type": ["AWS Health Event"]}),
        ));
    }
    if n.root_sign_in {
        rules.push((
            "RootSignInRule",
            "Console sign-ins of the root user",
            json!({"detail-type": ["AWS Console Sign In via CloudTrail"], "detail": {"userIdentity": {"type": ["Root"]}}}),
        ));
    }
    if n.failed_sign_ins {
        rules.push((
            "FailedSignInRule",
            "Failed console sign-ins",
            json!({"detail-type": ["AWS Console Sign In via CloudTrail"], "detail": {"responseElements": {"ConsoleLogin": ["Failure"]}}}),
        ));
    }
    if n.iam_policy_changes {
        rules.push(("IamPolicyChangeRule", "IAM policy changes", api_call(&["iam.amazonaws.com"], &IAM_POLICY_CALLS)));
    }
    if n.security_group_changes {
        rules.push((
            "SecurityGroupChangeRule",
            "Security group changes",
            api_call(&["ec2.amazonaws.com"], &SECURITY_GROUP_CALLS),
        ));
    }
    if n.security_service_disabled {
        let sources = [
            "guardduty.amazonaws.com",
            "securityhub.amazonaws.com",
            "cloudtrail.amazonaws.com",
            "config.amazonaws.com",
            "access-analyzer.amazonaws.com",
        ];
        rules.push((
            "SecurityServiceDisabledRule",
            "A security service stopped, disabled or deleted",
            api_call(&sources, &DISABLING_CALLS),
        ));
    }
    rules
}

fn notification_resources(n: &Notifications, resources: &mut Map<String, Value>) {
    resources
        .insert("AlertTopic".into(), json!({"Type": "AWS::SNS::Topic", "Properties": {"TopicName": n.topic_name}}));
    resources.insert(
        "AlertTopicPolicy".into(),
        json!({"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [reference("AlertTopic")],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "EventBridgePublishes", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish", "Resource": reference("AlertTopic")
            }]}
        }}),
    );
    for (name, description, pattern) in rules(n) {
        resources.insert(
            name.into(),
            json!({"Type": "AWS::Events::Rule", "Properties": {
                "Description": description,
                "State": "ENABLED",
                "EventPattern": pattern,
                "Targets": [{"Arn": reference("AlertTopic"), "Id": "AlertTopic"}]
            }}),
        );
    }
    if let Some(slack) = &n.slack {
        resources.insert(
            "ChatbotRole".into(),
            json!({"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "chatbot.amazonaws.com"}, "Action": "sts:AssumeRole"
                }]},
                "Policies": [{"PolicyName": "notifications", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"], "Resource": "*"
                }]}}]
            }}),
        );
        resources.insert(
            "ChatbotSlackChannel".into(),
            json!({"Type": "AWS::Chatbot::SlackChannelConfiguration", "Properties": {
                // A Chatbot configuration is global to the account: one per region, by name.
                "ConfigurationName": sub("orgops-security-${AWS::Region}"),
                "IamRoleArn": {"Fn::GetAtt": ["ChatbotRole", "Arn"]},
                "SlackWorkspaceId": slack.workspace_id,
                "SlackChannelId": slack.channel_id,
                "SnsTopicArns": [reference("AlertTopic")],
                "LoggingLevel": "ERROR"
            }}),
        );
    }
}

/// The condition true in the region where global services deliver their events.
const FORWARDING_REGION: &str = "ForwardingRegion";

/// A rule sending the account's writes to member-held resources to orgops's central bus,
/// with the role EventBridge needs to put events on a bus of another account. Both in
/// the forwarding region only: Route 53 and Account Management deliver events there.
fn forwarding_resources(forwarding: &ChangeFeedForwarding, resources: &mut Map<String, Value>) {
    resources.insert(
        "ChangeFeedForwardingRole".into(),
        json!({"Type": "AWS::IAM::Role", "Condition": FORWARDING_REGION, "Properties": {
            "Description": "Lets EventBridge forward this account's change events to orgops's change feed",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"
            }]},
            "Policies": [{"PolicyName": "forward", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "events:PutEvents", "Resource": forwarding.event_bus_arn
            }]}}]
        }}),
    );
    resources.insert(
        "ChangeFeedForwardingRule".into(),
        json!({"Type": "AWS::Events::Rule", "Condition": FORWARDING_REGION, "Properties": {
            "Description": "Writes to resources orgops manages in this account, for orgops's change feed",
            "State": "ENABLED",
            "EventPattern": api_call_pattern(&MEMBER_SOURCES),
            "Targets": [{
                "Id": "orgops-change-feed",
                "Arn": forwarding.event_bus_arn,
                "RoleArn": {"Fn::GetAtt": ["ChangeFeedForwardingRole", "Arn"]}
            }]
        }}),
    );
}

/// The largest template body CreateStackSet and UpdateStackSet take, in bytes.
const MAX_TEMPLATE_BYTES: usize = 51_200;

/// Checks a custom template before it reaches CloudFormation: within the size limit, a
/// JSON or YAML mapping with resources, declaring every parameter the spec sets.
pub fn check_custom(body: &str, parameters: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    if body.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("{} bytes, above CloudFormation's limit of {MAX_TEMPLATE_BYTES}", body.len()));
    }
    let parsed: yaml_serde::Value = yaml_serde::from_str(body).map_err(|e| format!("is neither JSON nor YAML: {e}"))?;
    let resources = parsed.get("Resources").and_then(yaml_serde::Value::as_mapping);
    if resources.is_none_or(yaml_serde::Mapping::is_empty) {
        return Err("has no Resources: a CloudFormation template declares at least one resource".into());
    }
    let declared = parsed.get("Parameters").and_then(yaml_serde::Value::as_mapping);
    for key in parameters.keys() {
        if !declared.is_some_and(|d| d.contains_key(key.as_str())) {
            return Err(format!("spec.parameters.{key} is not a parameter the template declares"));
        }
    }
    Ok(())
}
