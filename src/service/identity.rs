//! Who the caller is (STS GetCallerIdentity) and the one execution role sagebox provides (IAM
//! GetRole). The SageMaker SDK's `get_execution_role()` reads the assumed-role ARN, derives the
//! role name, and asks IAM for the role's ARN; both answers come from here.

use super::{ServiceError, ServiceResult, Services};

pub const ROLE_NAME: &str = "SageMakerRole";
const SESSION_NAME: &str = "sagebox";
/// A stable role id in the form IAM uses (AROA + 17 characters).
const ROLE_ID: &str = "AROASAGEBOXLOCAL00001";
/// Role creation time reported by GetRole: sagebox's role has always existed.
const ROLE_CREATED_EPOCH: f64 = 1_767_225_600.0; // 2026-01-01T00:00:00Z

pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

pub struct Role {
    pub name: String,
    pub arn: String,
    pub role_id: String,
    pub path: String,
    pub created: f64,
    pub assume_role_policy: String,
}

impl Services {
    pub fn caller_identity(&self) -> CallerIdentity {
        let account = self.config.account_id.clone();
        CallerIdentity {
            arn: format!("arn:aws:sts::{account}:assumed-role/{ROLE_NAME}/{SESSION_NAME}"),
            user_id: format!("{ROLE_ID}:{SESSION_NAME}"),
            account,
        }
    }

    pub fn get_role(&self, name: &str) -> ServiceResult<Role> {
        if name != ROLE_NAME {
            return Err(ServiceError::NotFound(format!(
                "The role with name {name} cannot be found."
            )));
        }
        Ok(Role {
            name: ROLE_NAME.into(),
            arn: format!("arn:aws:iam::{}:role/{ROLE_NAME}", self.config.account_id),
            role_id: ROLE_ID.into(),
            path: "/".into(),
            created: ROLE_CREATED_EPOCH,
            assume_role_policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into(),
        })
    }
}
