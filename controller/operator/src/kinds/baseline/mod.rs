//! `SecurityBaseline`: security services rolled out to accounts with a CloudFormation
//! StackSet. The template is generated from the spec in `template`.

pub mod template;

use anyhow::Context;
use orgops_api::SecurityBaseline;
use std::path::Path;

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

#[cfg(test)]
mod tests;
