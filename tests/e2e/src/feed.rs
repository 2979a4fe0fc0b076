//! A change feed in moto, built as `manifests/aws/change-feed.yaml` builds it: a queue, and
//! an EventBridge rule with the template's own event pattern sending matching events to
//! it. Each test has a bus of its own, so no test sees another's events. Moto emits no
//! CloudTrail events, so the test puts on the bus the record CloudTrail writes for a
//! call, in its documented format; EventBridge's scheduled heartbeat is put the same way.

use crate::repo_root;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// A queue and a bus of the test's own.
pub struct ChangeFeed {
    /// What `orgops run --change-queue-url` takes.
    pub queue_url: String,
    bus: String,
    bus_arn: String,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

/// The event pattern of the template's rule.
fn template_pattern() -> Value {
    let text = std::fs::read_to_string(repo_root().join("manifests/aws/change-feed.yaml")).unwrap();
    let template: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    serde_json::to_value(&template["Resources"]["ApiCallRule"]["Properties"]["EventPattern"]).unwrap()
}

impl ChangeFeed {
    /// Creates the queue, the bus and the rules, named after `name`.
    pub async fn new(name: &str) -> ChangeFeed {
        let config = crate::aws::config().await;
        let (events, sqs) = (aws_sdk_eventbridge::Client::new(&config), aws_sdk_sqs::Client::new(&config));
        let queue = sqs.create_queue().queue_name(format!("orgops-change-feed-{name}")).send().await.unwrap();
        let queue_url = queue.queue_url().unwrap().to_string();
        // A rerun in the same environment starts from an empty queue.
        sqs.purge_queue().queue_url(&queue_url).send().await.unwrap();
        let attributes =
            sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(QueueAttributeName::QueueArn).send().await;
        let queue_arn = attributes.unwrap().attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
        let bus = format!("orgops-e2e-{name}");
        let bus_arn = match events.describe_event_bus().name(&bus).send().await {
            Ok(out) => out.arn().unwrap().to_string(),
            Err(_) => events.create_event_bus().name(&bus).send().await.unwrap().event_bus_arn().unwrap().to_string(),
        };
        // The template's heartbeat is a schedule, which moto does not run: the test puts
        // the scheduled event itself, and this rule stands in for the schedule's target.
        let heartbeat = json!({"source": ["aws.events"], "detail-type": ["Scheduled Event"]});
        for (rule, pattern) in [("api-calls", template_pattern()), ("heartbeat", heartbeat)] {
            let rule = format!("{bus}-{rule}");
            events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.unwrap();
            let target = Target::builder().id("queue").arn(&queue_arn).build().unwrap();
            events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.unwrap();
        }
        ChangeFeed { queue_url, bus, bus_arn, events, sqs }
    }

    async fn put(&self, source: &str, detail_type: &str, detail: Value) {
        put_on(&self.events, Some(&self.bus), source, detail_type, detail).await;
    }

    /// Puts the record of a call made inside member account `account` on that account's
    /// default bus, where the rule of the SecurityBaseline control `changeFeedForwarding`
    /// (its pattern read from the template snapshot the unit tests keep equal to what
    /// orgops renders) forwards it to this feed's bus.
    pub async fn api_call_in_member(
        &self,
        event_source: &str,
        event_name: &str,
        parameters: Value,
        caller: &str,
        account: &str,
    ) {
        let events = aws_sdk_eventbridge::Client::new(&crate::aws::member_config(account).await);
        let rule = format!("orgops-change-feed-forwarding-{}", self.bus);
        let pattern = forwarding_pattern();
        events.put_rule().name(&rule).event_pattern(pattern.to_string()).send().await.unwrap();
        let role = format!("arn:aws:iam::{account}:role/orgops-change-feed-forwarding");
        let target = Target::builder().id("orgops-change-feed").arn(&self.bus_arn).role_arn(role).build().unwrap();
        events.put_targets().rule(&rule).targets(target).send().await.unwrap();
        let (source, detail) = cloudtrail(event_source, event_name, parameters, caller, account);
        put_on(&events, None, &source, "AWS API Call via CloudTrail", detail).await;
    }

    /// Puts the record CloudTrail writes for a successful call of `event_name` on
    /// `event_source` (`organizations.amazonaws.com`) by `caller` (an ARN), in `account`.
    pub async fn api_call(&self, event_source: &str, event_name: &str, parameters: Value, caller: &str, account: &str) {
        let (source, detail) = cloudtrail(event_source, event_name, parameters, caller, account);
        self.put(&source, "AWS API Call via CloudTrail", detail).await;
    }

    /// Puts the event EventBridge's schedule sends.
    pub async fn heartbeat(&self) {
        self.put("aws.events", "Scheduled Event", json!({})).await;
    }

    /// Sends a body straight to the queue, past EventBridge.
    pub async fn send_raw(&self, body: &str) {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.unwrap();
    }

    /// Messages in the queue, visible or being handled.
    pub async fn depth(&self) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = out.attributes().unwrap();
        [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|name| attributes.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or_default())
            .sum()
    }
}

/// The ARN orgops writes as, with the calling test's credentials.
pub async fn own_arn() -> String {
    let config = crate::aws::config().await;
    aws_sdk_sts::Client::new(&config).get_caller_identity().send().await.unwrap().arn().unwrap().to_string()
}

/// Someone who is not orgops.
pub const INTRUDER: &str = "arn:aws:sts::123456789012:assumed-role/Admin/intruder";

/// The EventBridge source and the CloudTrail record of a successful call.
fn cloudtrail(event_source: &str, event_name: &str, parameters: Value, caller: &str, account: &str) -> (String, Value) {
    let service = event_source.trim_end_matches(".amazonaws.com");
    let detail = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": caller, "accountId": account},
        "eventTime": k8s_openapi::jiff::Timestamp::now().to_string(),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "orgops-e2e",
        "requestParameters": parameters,
        "responseElements": null,
        "requestID": format!("e2e-{}", fastrand::u64(..)),
        "eventID": format!("e2e-{}", fastrand::u64(..)),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
    });
    (format!("aws.{service}"), detail)
}

/// Puts one event on `bus`, or on the account's default bus.
async fn put_on(
    events: &aws_sdk_eventbridge::Client,
    bus: Option<&str>,
    source: &str,
    detail_type: &str,
    detail: Value,
) {
    let entry = PutEventsRequestEntry::builder()
        .set_event_bus_name(bus.map(str::to_string))
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .time(aws_smithy_types::DateTime::from(std::time::SystemTime::now()))
        .build();
    let out = events.put_events().entries(entry).send().await.unwrap();
    assert_eq!(out.failed_entry_count(), 0, "{out:?}");
}

/// The event pattern of the forwarding rule orgops renders for member accounts.
fn forwarding_pattern() -> Value {
    let path = repo_root().join("tests/baseline/everything.template.json");
    let template: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    template["Resources"]["ChangeFeedForwardingRule"]["Properties"]["EventPattern"].clone()
}
