//! The Identity Store in memory: the groups and members of the Identity Center fake,
//! whose state it shares.

use crate::aws::AwsError;
use crate::aws::identity_store::IdentityStore;
use crate::aws::sso_admin::fake::FakeSso;
use std::sync::Arc;

impl IdentityStore for Arc<FakeSso> {
    async fn group_id(&self, _store: &str, display_name: &str) -> Result<Option<String>, AwsError> {
        self.call("GetGroupId")?;
        Ok(self.state.lock().unwrap().groups.get(display_name).cloned())
    }
    async fn user_id(&self, _store: &str, _user_name: &str) -> Result<Option<String>, AwsError> {
        self.call("GetUserId")?;
        Ok(None)
    }
    async fn group_name(&self, _store: &str, id: &str) -> Result<Option<String>, AwsError> {
        self.call("DescribeGroup")?;
        Ok(self.state.lock().unwrap().groups.iter().find(|(_, g)| *g == id).map(|(name, _)| name.clone()))
    }
    async fn user_name(&self, _store: &str, _id: &str) -> Result<Option<String>, AwsError> {
        self.call("DescribeUser")?;
        Ok(None)
    }
    async fn members(&self, _store: &str, group: &str) -> Result<Vec<String>, AwsError> {
        self.call("ListGroupMemberships")?;
        Ok(self.state.lock().unwrap().members.get(group).cloned().unwrap_or_default())
    }
}
