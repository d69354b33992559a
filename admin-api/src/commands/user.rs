//! `smtpy-admin user ...`

use super::owner;
use crate::AdminError;
use crate::api::secrets;
use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use chrono::{TimeDelta, Utc};
use smtpy_shared::{
    address::Address,
    db::{Conn, is_unique_violation},
    models::{Invitation, NewInvitation, NewUser, User},
};

/// Passwords shorter than this are refused (P4: at least 12 characters).
const MIN_PASSWORD_CHARS: usize = 12;

pub async fn add(conn: &mut Conn, email: &str, password: &str) -> Result<(), AdminError> {
    let email = Address::parse(email)?.to_string();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AdminError::Invalid(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AdminError::Internal(format!("cannot hash the password: {e}")))?
        .to_string();
    match User::create(conn, &NewUser { email: &email, password_hash: &hash }).await {
        Ok(user) => {
            println!("created user {} ({})", user.email, user.id);
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => {
            Err(AdminError::Exists(format!("an account with email {email} exists already")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(conn: &mut Conn) -> Result<(), AdminError> {
    for user in User::list(conn).await? {
        println!("{}\t{}\t{}", user.email, if user.disabled { "disabled" } else { "active" }, user.id);
    }
    Ok(())
}

pub async fn disable(conn: &mut Conn, email: &str) -> Result<(), AdminError> {
    let user = owner(conn, email).await?;
    User::set_disabled(conn, user.id, true).await?;
    println!("disabled user {}", user.email);
    Ok(())
}

/// Stores a new invitation (its hash only) and prints the code: the one time it is shown.
pub async fn invite(conn: &mut Conn, email: Option<&str>, days: u16) -> Result<(), AdminError> {
    let email = email.map(Address::parse).transpose()?.map(|a| a.to_string());
    let (code, hash) = secrets::new_invitation_code().map_err(|e| AdminError::Internal(e.to_string()))?;
    let expires_at = Utc::now() + TimeDelta::days(i64::from(days));
    Invitation::create(conn, &NewInvitation { code_hash: &hash, email: email.as_deref(), expires_at }).await?;
    println!("{code}");
    eprintln!(
        "invitation for {} valid until {} (single use; register with invite_code)",
        email.as_deref().unwrap_or("any address"),
        expires_at.format("%Y-%m-%d %H:%M UTC")
    );
    Ok(())
}
