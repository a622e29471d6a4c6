//! Who is acting: the caller as the API's authorizer vouched for them. The HTTP edge builds it
//! from the token's claims; the domain only reads it.

use crate::error::{Error, Result};
use crate::types::{Email, OrgRole, Plan, UserId};

/// The caller, as the API's JWT authorizer vouched for them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub email: Option<Email>,
    pub org_id: Option<String>,
    pub org_role: Option<OrgRole>,
    pub plan: Option<Plan>,
    pub scopes: Vec<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Caller {
    /// How the account is named to people (an authenticator app's account, a security key's
    /// user name, who did something): its email, or else its user id.
    pub fn display_name(&self) -> String {
        self.email
            .as_ref()
            .map(|e| e.as_ref().to_owned())
            .unwrap_or_else(|| self.user.as_ref().to_owned())
    }

    /// The account email, which email flows cannot do without.
    pub fn require_email(&self) -> Result<&Email> {
        self.email
            .as_ref()
            .ok_or_else(|| Error::Unauthorized("the token has no email claim".into()))
    }
}
