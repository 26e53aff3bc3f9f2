//! [`tessera_axum::Accounts`] over the users repository and the password hasher.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use tessera_axum::{AccountUser, Accounts, AccountsError};
use tessera_core::UserId;
use tessera_core::clock::{Clock, SystemClock};
use tessera_core::secret::SecretString;
use tessera_core::token::Payload;

use crate::account::{Email, Password};
use crate::password::PasswordHasher;
use crate::repo::{RepoError, Repository, User};

/// Accounts stored in a [`Repository`], passwords hashed with argon2id.
#[derive(Debug, Clone)]
pub struct RepoAccounts {
    repo: Arc<dyn Repository>,
    hasher: PasswordHasher,
}

impl RepoAccounts {
    /// Accounts over `repo`.
    pub fn new(repo: Arc<dyn Repository>, hasher: PasswordHasher) -> Self {
        Self { repo, hasher }
    }

    /// Creates an account directly (used to seed the demo user).
    pub async fn create(&self, email: &str, password: &str) -> Result<AccountUser, AccountsError> {
        self.signup(email, SecretString::new(password)).await
    }
}

fn unavailable(e: impl std::fmt::Display) -> AccountsError {
    AccountsError::Unavailable(e.to_string())
}

fn repo_err(e: RepoError) -> AccountsError {
    match e {
        RepoError::Conflict => AccountsError::Conflict,
        other => unavailable(other),
    }
}

fn account_user(u: &User) -> Result<AccountUser, AccountsError> {
    let id = UserId::new(u.id.clone()).ok_or_else(|| unavailable("stored user id is invalid"))?;
    Ok(AccountUser {
        id,
        payload: Payload::default(),
        public: json!({ "id": u.id, "email": u.email.as_str() }),
    })
}

#[async_trait]
impl Accounts for RepoAccounts {
    fn normalize_email(&self, email: &str) -> String {
        Email::parse(email).map_or_else(|_| email.trim().to_lowercase(), |e| e.as_str().to_owned())
    }

    async fn signup(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<AccountUser, AccountsError> {
        let email = Email::parse(email).map_err(|e| AccountsError::Invalid(e.to_string()))?;
        let password = Password::new(password.expose().to_owned())
            .map_err(|e| AccountsError::Invalid(e.to_string()))?;
        let hash = self.hasher.hash(&password).await.map_err(unavailable)?;
        let user = self
            .repo
            .create_user(&email, &hash, SystemClock.now())
            .await
            .map_err(repo_err)?;
        account_user(&user)
    }

    async fn authenticate(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<AccountUser>, AccountsError> {
        // Every failure path costs one argon2 verification, so that timing does not tell an
        // unknown email from a wrong password.
        let Ok(password) = Password::for_verification(password.expose().to_owned()) else {
            return Ok(None);
        };
        let user = match Email::parse(email) {
            Ok(email) => self.repo.user_by_email(&email).await.map_err(repo_err)?,
            Err(_) => None,
        };
        let Some(user) = user else {
            self.hasher
                .verify_dummy(&password)
                .await
                .map_err(unavailable)?;
            return Ok(None);
        };
        if self
            .hasher
            .verify(&password, &user.password_hash)
            .await
            .map_err(unavailable)?
        {
            Ok(Some(account_user(&user)?))
        } else {
            Ok(None)
        }
    }

    async fn user(&self, id: &UserId) -> Result<Option<AccountUser>, AccountsError> {
        match self.repo.user_by_id(id.as_str()).await.map_err(repo_err)? {
            Some(u) => Ok(Some(account_user(&u)?)),
            None => Ok(None),
        }
    }

    async fn change_password(
        &self,
        id: &UserId,
        current: SecretString,
        new: SecretString,
    ) -> Result<bool, AccountsError> {
        let new = Password::new(new.expose().to_owned())
            .map_err(|e| AccountsError::Invalid(e.to_string()))?;
        let Ok(current) = Password::for_verification(current.expose().to_owned()) else {
            return Ok(false);
        };
        let Some(user) = self.repo.user_by_id(id.as_str()).await.map_err(repo_err)? else {
            return Ok(false);
        };
        if !self
            .hasher
            .verify(&current, &user.password_hash)
            .await
            .map_err(unavailable)?
        {
            return Ok(false);
        }
        let hash = self.hasher.hash(&new).await.map_err(unavailable)?;
        self.repo
            .set_password(&user.id, &hash)
            .await
            .map_err(repo_err)?;
        Ok(true)
    }
}
