//! The line of a field in a YAML document, for messages a reviewer can click: the path
//! (`spec.assignments[0].targets[1].accountRef`) is followed through the block-style
//! YAML people write, by indentation. Where it cannot be followed (flow style, a field
//! that is missing), the nearest enclosing field's line is given.

/// One step of a path: a key or a list index.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(index) = index.parse() {
                steps.push(Step::Index(index));
            }
            rest = after.trim_start_matches('[');
        }
    }
    steps
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The column where a line's key starts: after its indentation and any "- " of list items.
fn key_column(line: &str) -> usize {
    let mut column = indent(line);
    let mut rest = line.trim_start();
    while let Some(after) = rest.strip_prefix("- ") {
        let trimmed = after.trim_start();
        column += rest.len() - trimmed.len();
        rest = trimmed;
    }
    column
}

fn is_content(line: &str) -> bool {
    let trimmed = line.trim_start();
    !trimmed.is_empty() && !trimmed.starts_with('#') && trimmed != "---"
}

/// The 0-based line, in `lines`, of the field at `path`, or of its nearest ancestor found.
pub fn line_of(lines: &[&str], path: &str) -> usize {
    let content: Vec<usize> = (0..lines.len()).filter(|&i| is_content(lines[i])).collect();
    let mut found = content.first().copied().unwrap_or(0);
    // The lines the next step is looked for in.
    let mut region: Vec<usize> = content;
    for step in steps(path) {
        let (hit, column) = match step {
            Step::Key(key) => {
                let Some(level) = region.iter().map(|&i| key_column(lines[i])).min() else { break };
                let hit = region.iter().copied().find(|&i| {
                    key_column(lines[i]) == level
                        && lines[i][level..].strip_prefix(key).is_some_and(|rest| rest.starts_with(':'))
                });
                (hit, level)
            }
            Step::Index(index) => {
                let items = |i: &usize| lines[*i].trim_start().starts_with('-');
                let Some(level) = region.iter().filter(|i| items(i)).map(|&i| indent(lines[i])).min() else { break };
                let hit = region.iter().copied().filter(|&i| indent(lines[i]) == level && items(&i)).nth(index);
                (hit, level)
            }
        };
        let Some(hit) = hit else { break };
        found = hit;
        // What belongs to the hit: the lines after it that are deeper, and for a list item
        // the rest of its own line.
        let from = region.iter().position(|&i| i == hit).unwrap_or(0);
        let nested: Vec<usize> = region[from + 1..]
            .iter()
            .copied()
            .take_while(|&i| match step {
                Step::Key(_) => key_column(lines[i]) > column,
                Step::Index(_) => indent(lines[i]) > column,
            })
            .collect();
        region = match step {
            Step::Key(_) => nested,
            Step::Index(_) => std::iter::once(hit).chain(nested).collect(),
        };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: orgops.dev/v1alpha1
kind: PermissionSetRequest
metadata:
  name: payroll-developer
spec:
  permissionSet:
    name: PayrollDeveloper
    sessionDuration: PT4H
  assignments:
    - group: payroll-developers
      targets:
        - accountRef: payroll-prod
        - accountId: \"123456789012\"
    - user: alice
      targets: [{organizationalUnit: Workloads}]
";

    #[test]
    fn fields_and_list_items_are_found_by_indentation() {
        let lines: Vec<&str> = DOC.lines().collect();
        let line = |path| line_of(&lines, path) + 1;
        assert_eq!(line("metadata.name"), 4);
        assert_eq!(line("spec.permissionSet.sessionDuration"), 8);
        assert_eq!(line("spec.assignments[0].group"), 10);
        assert_eq!(line("spec.assignments[0].targets[1].accountId"), 13);
        assert_eq!(line("spec.assignments[1].user"), 14);
        assert_eq!(line("spec.assignments[1].targets[0].organizationalUnit"), 15, "flow style: its nearest line");
        assert_eq!(line("spec.permissionSet.managedPolicies"), 6, "missing: its parent");
        assert_eq!(line("spec"), 5);
    }
}
