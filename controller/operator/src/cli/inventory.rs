//! `orgops inventory`: the accounts as a table (account id, name, email, OU path, state,
//! owning namespace), from the cluster's AwsAccounts or, with `--from-aws`, from the
//! organization itself. The CSV is the account-name table cost reports join on.

use crate::aws::load_sdk_config;
use crate::aws::organizations::{Organizations, SdkOrganizations};
use crate::aws::snapshots::organization::OrgCache;
use crate::metrics::Metrics;
use crate::reconcile::ownership::OWNER_TAG;
use anyhow::Context;
use kube::ResourceExt;
use orgops_api::AwsAccount;
use serde::Serialize;

/// How the inventory is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Aligned columns for a terminal.
    Table,
}

/// `orgops inventory` arguments.
#[derive(clap::Args, Debug)]
pub struct InventoryArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Read the organization from AWS instead of the cluster: every account, with the
    /// namespace from orgops's ownership tag (one tag read per account).
    #[arg(long)]
    pub from_aws: bool,
    /// Client-side AWS rate limits.
    #[command(flatten)]
    pub limits: crate::run::args::RateLimits,
}

/// One account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub account_id: String,
    pub account_name: String,
    pub email: String,
    pub ou_path: String,
    pub state: String,
    /// The namespace of the AwsAccount that manages it; empty when none does.
    pub namespace: String,
}

const COLUMNS: [&str; 6] = ["account_id", "account_name", "email", "ou_path", "state", "namespace"];

impl Row {
    fn cells(&self) -> [&str; 6] {
        [&self.account_id, &self.account_name, &self.email, &self.ou_path, &self.state, &self.namespace]
    }
}

/// The rows of the cluster's AwsAccounts; an account not yet created has no id.
pub fn from_objects(accounts: &[AwsAccount]) -> Vec<Row> {
    let mut rows: Vec<Row> = accounts
        .iter()
        .map(|a| {
            let status = a.status.clone().unwrap_or_default();
            Row {
                account_id: status.account_id.unwrap_or_default(),
                account_name: a.spec.account_name.clone(),
                email: a.spec.email.clone(),
                ou_path: status.ou_path.unwrap_or_else(|| a.spec.organizational_unit.clone()),
                state: status.state.unwrap_or_default(),
                namespace: a.namespace().unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.account_id, &a.namespace, &a.account_name).cmp(&(&b.account_id, &b.namespace, &b.account_name))
    });
    rows
}

/// The rows of every account of the organization, the namespace from the ownership tag.
pub async fn from_organization<O: Organizations>(org: &OrgCache<O>) -> anyhow::Result<Vec<Row>> {
    org.ensure_loaded().await.context("reading the organization")?;
    let accounts = org.read(|s| {
        s.accounts()
            .into_iter()
            .map(|a| Row {
                account_id: a.id.clone(),
                account_name: a.name.clone(),
                email: a.email.clone(),
                ou_path: s.parent_of(&a.id).and_then(|p| s.ou_path(p)).unwrap_or_default(),
                state: a.state.clone(),
                namespace: String::new(),
            })
            .collect::<Vec<Row>>()
    });
    let mut rows = Vec::with_capacity(accounts.len());
    for mut row in accounts {
        let tags =
            org.tags(&row.account_id).await.with_context(|| format!("reading the tags of {}", row.account_id))?;
        if let Some(owner) = tags.get(OWNER_TAG) {
            row.namespace = owner.split_once('/').map_or(owner.as_str(), |(ns, _)| ns).to_string();
        }
        rows.push(row);
    }
    Ok(rows)
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell.to_string() }
}

/// The rows in a format, ending with a newline.
pub fn render(rows: &[Row], format: Format) -> String {
    match format {
        Format::Csv => {
            let mut text = COLUMNS.join(",") + "\n";
            for row in rows {
                text += &(row.cells().map(csv_cell).join(",") + "\n");
            }
            text
        }
        Format::Json => serde_json::to_string_pretty(rows).expect("rows serialize") + "\n",
        Format::Table => {
            let header = COLUMNS.map(|c| c.to_uppercase().replace('_', "-"));
            let mut widths = header.clone().map(|h| h.len());
            for row in rows {
                for (width, cell) in widths.iter_mut().zip(row.cells()) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 6]| {
                let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
                padded.join("   ").trim_end().to_string() + "\n"
            };
            let mut text = line(header.each_ref().map(String::as_str));
            for row in rows {
                text += &line(row.cells());
            }
            text
        }
    }
}

/// `orgops inventory`.
pub async fn run(args: &InventoryArgs) -> anyhow::Result<()> {
    let rows = if args.from_aws {
        let sdk = load_sdk_config().await;
        let gate = crate::run::args::aws_gate(&args.limits, Metrics::new().aws_calls)?;
        let org = OrgCache::new(SdkOrganizations::new(aws_sdk_organizations::Client::new(&sdk), gate));
        from_organization(&org).await?
    } else {
        let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
        let accounts =
            kube::Api::<AwsAccount>::all(client).list(&Default::default()).await.context("listing AwsAccounts")?;
        from_objects(&accounts.items)
    };
    print!("{}", render(&rows, args.format));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::organizations::fake::FakeOrg;
    use std::sync::Arc;

    fn row(id: &str, name: &str) -> Row {
        Row {
            account_id: id.into(),
            account_name: name.into(),
            email: format!("{name}@example.com"),
            ou_path: "Workloads/Payroll".into(),
            state: "ACTIVE".into(),
            namespace: "payroll".into(),
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_table_aligns() {
        let rows = [row("111100000001", "prod"), row("111100000002", "billing, \"new\"")];
        let csv = render(&rows, Format::Csv);
        assert_eq!(
            csv.lines().collect::<Vec<_>>(),
            [
                "account_id,account_name,email,ou_path,state,namespace",
                "111100000001,prod,prod@example.com,Workloads/Payroll,ACTIVE,payroll",
                "111100000002,\"billing, \"\"new\"\"\",\"billing, \"\"new\"\"@example.com\",Workloads/Payroll,ACTIVE,payroll",
            ]
        );
        let table = render(&rows[..1], Format::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0].find("ACCOUNT-NAME"), lines[1].find("prod"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&render(&rows, Format::Json)).unwrap();
        assert_eq!(json[1]["account_name"], "billing, \"new\"");
    }

    #[test]
    fn from_aws_every_account_with_its_path_and_the_namespace_of_its_owner_tag() {
        let fake = Arc::new(FakeOrg::new());
        fake.add_account("111100000001", "a@example.com", "ou-root-payr0000");
        fake.add_account("111100000002", "b@example.com", "ou-root-bill0000");
        fake.state
            .lock()
            .unwrap()
            .tags
            .insert("111100000001".into(), [(OWNER_TAG.to_string(), "payroll/payroll-prod".to_string())].into());
        let org = OrgCache::new(fake);
        let rows = tokio::runtime::Runtime::new().unwrap().block_on(from_organization(&org)).unwrap();
        let summary: Vec<(&str, &str, &str)> =
            rows.iter().map(|r| (r.account_id.as_str(), r.ou_path.as_str(), r.namespace.as_str())).collect();
        assert_eq!(
            summary,
            [("111100000001", "Workloads/Payroll", "payroll"), ("111100000002", "Workloads/Billing", "")]
        );
    }
}
