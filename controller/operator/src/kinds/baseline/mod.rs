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
    let baseline: SecurityBaseline =
        serde_yaml::from_str(&text).with_context(|| format!("{} is not a SecurityBaseline", file.display()))?;
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
