//! The AWS Account Management API (alternate contacts, account name, enabled regions):
//! the calls orgops makes on member accounts, and their SDK implementation.

#[cfg(test)]
pub mod fake;

use crate::aws::{AwsError, CallGate};
use aws_sdk_account::Client;
use aws_sdk_account::types::AlternateContactType;
use std::collections::BTreeMap;

/// Which alternate contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactType {
    /// Billing.
    Billing,
    /// Operations.
    Operations,
    /// Security.
    Security,
}

impl ContactType {
    /// All three, in a stable order.
    pub const ALL: [ContactType; 3] = [ContactType::Billing, ContactType::Operations, ContactType::Security];

    fn sdk(self) -> AlternateContactType {
        match self {
            ContactType::Billing => AlternateContactType::Billing,
            ContactType::Operations => AlternateContactType::Operations,
            ContactType::Security => AlternateContactType::Security,
        }
    }
}

/// One alternate contact's details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactDetails {
    /// Full name.
    pub name: String,
    /// Job title.
    pub title: String,
    /// Email address.
    pub email: String,
    /// Phone number.
    pub phone: String,
}

/// The Account Management calls orgops makes, on member accounts of the organization.
pub trait AccountManagement: Send + Sync + 'static {
    /// GetAlternateContact of a member account, or of the calling (management) account
    /// when `account_id` is `None` (AWS refuses the caller's own id); `None` when the
    /// account has no contact of that type.
    fn get_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
    ) -> impl Future<Output = Result<Option<ContactDetails>, AwsError>> + Send;
    /// PutAlternateContact, of a member account or (`None`) of the calling account.
    fn put_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
        details: &ContactDetails,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// PutAccountName.
    fn put_account_name(&self, account_id: &str, name: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// ListRegions, all pages: each region with its opt status (ENABLED_BY_DEFAULT,
    /// ENABLED, DISABLED, ...), of a member account, or of the calling management account
    /// when `account_id` is `None`.
    fn regions(
        &self,
        account_id: Option<&str>,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, AwsError>> + Send;
}

/// [`AccountManagement`] on the AWS SDK.
#[derive(Clone)]
pub struct SdkAccountManagement {
    client: Client,
    gate: CallGate,
}

impl SdkAccountManagement {
    /// Wraps an SDK client; every call goes through `gate`.
    pub fn new(client: Client, gate: CallGate) -> Self {
        SdkAccountManagement { client, gate }
    }
}

impl AccountManagement for SdkAccountManagement {
    async fn get_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
    ) -> Result<Option<ContactDetails>, AwsError> {
        self.gate
            .call("account", "GetAlternateContact", async {
                match self
                    .client
                    .get_alternate_contact()
                    .set_account_id(account_id.map(str::to_string))
                    .alternate_contact_type(kind.sdk())
                    .send()
                    .await
                {
                    Ok(out) => Ok(out.alternate_contact().map(|c| ContactDetails {
                        name: c.name().unwrap_or_default().to_string(),
                        title: c.title().unwrap_or_default().to_string(),
                        email: c.email_address().unwrap_or_default().to_string(),
                        phone: c.phone_number().unwrap_or_default().to_string(),
                    })),
                    Err(e) => {
                        let error = AwsError::from_sdk("account:GetAlternateContact", e);
                        if error.is("ResourceNotFoundException") { Ok(None) } else { Err(error) }
                    }
                }
            })
            .await
    }

    async fn put_contact(
        &self,
        account_id: Option<&str>,
        kind: ContactType,
        details: &ContactDetails,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .put_alternate_contact()
            .set_account_id(account_id.map(str::to_string))
            .alternate_contact_type(kind.sdk())
            .name(&details.name)
            .title(&details.title)
            .email_address(&details.email)
            .phone_number(&details.phone)
            .send();
        self.gate.send("account", "PutAlternateContact", request).await?;
        Ok(())
    }

    async fn put_account_name(&self, account_id: &str, name: &str) -> Result<(), AwsError> {
        let request = self.client.put_account_name().account_id(account_id).account_name(name).send();
        self.gate.send("account", "PutAccountName", request).await?;
        Ok(())
    }

    async fn regions(&self, account_id: Option<&str>) -> Result<BTreeMap<String, String>, AwsError> {
        let list = self
            .gate
            .paginate(
                "account",
                "ListRegions",
                |token| {
                    self.client
                        .list_regions()
                        .set_account_id(account_id.map(str::to_string))
                        .set_next_token(token)
                        .send()
                },
                |out| {
                    let found = out
                        .regions()
                        .iter()
                        .filter_map(|r| {
                            Some((r.region_name()?.to_string(), r.region_opt_status()?.as_str().to_string()))
                        })
                        .collect();
                    (found, out.next_token().map(str::to_string))
                },
            )
            .await?;
        Ok(list.into_iter().collect())
    }
}
