//! The plan as a pull-request comment (Markdown) or JSON.

use serde::Serialize;

/// How the plan is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A pull-request comment.
    Markdown,
    /// For machines.
    Json,
}

/// What the controller would do with an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create it in AWS.
    Create,
    /// Change AWS to follow a changed spec.
    Change,
    /// AWS differs today from a spec the pull request does not change.
    Drift,
    /// Link to what exists in AWS.
    Adopt,
    /// Delete it from AWS (gone from the pull request).
    Delete,
    /// Gone from the pull request, left in AWS.
    Retain,
    /// The platform policy refuses it: nothing is done.
    Refused,
    /// Waits for something first (an account created above), then proceeds.
    Waits,
    /// AWS could not be read for it.
    Unknown,
    /// Nothing to do.
    None,
}

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Change => "change",
            Action::Drift => "drift",
            Action::Adopt => "adopt",
            Action::Delete => "delete",
            Action::Retain => "retain",
            Action::Refused => "refused",
            Action::Waits => "waits",
            Action::Unknown => "unknown",
            Action::None => "no change",
        }
    }
}

/// One field: what AWS has, what the spec says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub aws: String,
    pub spec: String,
}

/// The plan of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Planned {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Planned {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            action: Action::None,
            changes: Vec::new(),
            message: String::new(),
        }
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A whole plan: what it could not read, and each object's plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    /// Inputs the plan could not read (`file:line: …`); when any, the plan is incomplete.
    pub unread: Vec<String>,
    /// Each object's plan.
    pub objects: Vec<Planned>,
}

/// The plan, printed.
pub fn render(report: &PlanReport, format: Format) -> String {
    if format == Format::Json {
        let value = serde_json::json!({
            "complete": report.unread.is_empty(),
            "unread": report.unread,
            "objects": report.objects,
        });
        return serde_json::to_string_pretty(&value).expect("a plan serializes") + "\n";
    }
    let planned = &report.objects;
    let count = |action: Action| planned.iter().filter(|p| p.action == action).count();
    let mut text = String::from("### orgops plan\n\n");
    if !report.unread.is_empty() {
        text += &format!(
            "**Incomplete plan**: {} inputs could not be read, and nothing below covers them:\n\n",
            report.unread.len()
        );
        for line in &report.unread {
            text += &format!("- `{}`\n", line.replace('`', "'"));
        }
        text += "\n";
    }
    let summary: Vec<String> = [
        Action::Create,
        Action::Change,
        Action::Delete,
        Action::Adopt,
        Action::Drift,
        Action::Retain,
        Action::Refused,
        Action::Waits,
        Action::Unknown,
    ]
    .iter()
    .filter(|a| count(**a) > 0)
    .map(|a| format!("{} {}", count(*a), a.label()))
    .collect();
    if summary.is_empty() {
        let what = if report.unread.is_empty() { "Nothing to do" } else { "Nothing to do for what was read" };
        text += &format!("{what}: {} objects match AWS.\n", planned.len());
        return text;
    }
    text += &format!("{} ({} objects, read-only against AWS)\n\n", summary.join(" · "), planned.len());
    text += "| | object | what changes in AWS (AWS → spec) |\n| --- | --- | --- |\n";
    for p in planned.iter().filter(|p| p.action != Action::None) {
        let mut what: Vec<String> =
            p.changes.iter().map(|c| format!("`{}`: {} → {}", c.field, cell(&c.aws), cell(&c.spec))).collect();
        if !p.message.is_empty() {
            what.push(cell(&p.message));
        }
        text += &format!(
            "| **{}** | {} `{}/{}` | {} |\n",
            p.action.label(),
            p.kind,
            p.namespace,
            p.name,
            what.join("<br>")
        );
    }
    let unchanged = count(Action::None);
    if unchanged > 0 {
        text += &format!("\n{unchanged} other objects: no change.\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_counts_lists_and_escapes() {
        let mut change = Planned::new("PermissionSetRequest", "payroll", "dev");
        change.action = Action::Change;
        change.changes = vec![Change { field: "sessionDuration".into(), aws: "PT4H".into(), spec: "PT8H".into() }];
        let mut refused = Planned::new("AwsAccount", "payroll", "x");
        refused.action = Action::Refused;
        refused.message = "Forbidden: a|b".into();
        let none = Planned::new("AwsAccount", "payroll", "prod");
        let plan = |objects: Vec<Planned>| PlanReport { unread: Vec::new(), objects };
        let text = render(&plan(vec![change, refused, none]), Format::Markdown);
        assert!(text.contains("1 change · 1 refused (3 objects, read-only against AWS)"), "{text}");
        assert!(
            text.contains("| **change** | PermissionSetRequest `payroll/dev` | `sessionDuration`: PT4H → PT8H |"),
            "{text}"
        );
        assert!(text.contains("Forbidden: a\\|b"), "{text}");
        assert!(text.contains("1 other objects: no change."), "{text}");
        assert_eq!(
            render(&plan(vec![Planned::new("AwsAccount", "a", "b")]), Format::Markdown),
            "### orgops plan\n\nNothing to do: 1 objects match AWS.\n"
        );
    }

    #[test]
    fn an_incomplete_plan_says_so_first_and_in_its_json() {
        let report = PlanReport {
            unread: vec!["teams/a/new.yaml:3: error: document 1 ((not YAML)): (document): not valid YAML".into()],
            objects: vec![Planned::new("AwsAccount", "a", "b")],
        };
        let text = render(&report, Format::Markdown);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with("**Incomplete plan**: 1 inputs could not be read"), "{text}");
        assert!(text.contains("- `teams/a/new.yaml:3: error"), "{text}");
        assert!(!text.contains("Nothing to do:"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
        assert_eq!(json["complete"], false);
        assert_eq!(json["unread"][0], report.unread[0]);
        assert_eq!(json["objects"][0]["name"], "b");
    }
}
