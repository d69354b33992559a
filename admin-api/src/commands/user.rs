//! `smtpy-admin user ...`

use super::owner;
use crate::AdminError;
use argon2::{
    Argon2, PasswordHasher,
    password_hash::{SaltString, rand_core::OsRng},
};
use smtpy_shared::{
    address::Address,
    db::{Conn, is_unique_violation},
    models::{NewUser, User},
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
