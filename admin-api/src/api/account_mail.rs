//! The account events that send mail: a verification link, a password-reset link, an alert
//! on a sign-in from a new device; and spending the mailed tokens.

use super::{
    ApiError, ApiState,
    mail::{Outgoing, templates},
    secrets,
};
use chrono::{DateTime, TimeDelta, Utc};
use diesel_async::AsyncPgConnection;
use smtpy_shared::models::{
    DeviceNovelty, DeviceSeen, EmailToken, NewEmailToken, Preferences, TokenPurpose, User, known_device,
};

/// How long a verification link works.
pub const VERIFY_EMAIL_TTL: TimeDelta = TimeDelta::hours(48);
/// How long a password-reset link works: short, since it stands in for the password.
pub const PASSWORD_RESET_TTL: TimeDelta = TimeDelta::hours(1);

/// Stores a new token of `purpose` for `user` (replacing unspent older ones) and returns it.
async fn issue(
    conn: &mut AsyncPgConnection,
    state: &ApiState,
    user: &User,
    purpose: TokenPurpose,
    ttl: TimeDelta,
) -> Result<String, ApiError> {
    let token = secrets::new_token()?;
    let hash = secrets::hash(&token);
    let now = Utc::now();
    let new = NewEmailToken {
        user_id: user.id,
        purpose: purpose.as_str(),
        token_hash: &hash,
        email: &user.email,
        created_at: now,
        expires_at: now + ttl,
    };
    state.bounded(EmailToken::replace(conn, &new)).await?;
    Ok(token)
}

/// Mails `user` a link that verifies their address.
pub async fn send_verification(conn: &mut AsyncPgConnection, state: &ApiState, user: &User) -> Result<(), ApiError> {
    let token = issue(conn, state, user, TokenPurpose::VerifyEmail, VERIFY_EMAIL_TTL).await?;
    let link = format!("{}/verify-email?token={token}", state.public_url);
    let content = templates::verify_email(&user.email, &link, VERIFY_EMAIL_TTL.num_hours());
    state.mailer.send(Outgoing { to: user.email.clone(), content });
    Ok(())
}

/// Mails `user` a link that sets a new password.
pub async fn send_password_reset(conn: &mut AsyncPgConnection, state: &ApiState, user: &User) -> Result<(), ApiError> {
    let token = issue(conn, state, user, TokenPurpose::PasswordReset, PASSWORD_RESET_TTL).await?;
    let link = format!("{}/reset-password?token={token}", state.public_url);
    let content = templates::password_reset(&user.email, &link, PASSWORD_RESET_TTL.num_minutes());
    state.mailer.send(Outgoing { to: user.email.clone(), content });
    Ok(())
}

/// Spends a mailed token of `purpose` at `now`, or says why it cannot be spent.
pub async fn spend_token(
    conn: &mut AsyncPgConnection,
    state: &ApiState,
    purpose: TokenPurpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<EmailToken, ApiError> {
    let hash = secrets::hash(token.trim());
    if let Some(spent) = state.bounded(EmailToken::spend(conn, purpose, &hash, now)).await? {
        return Ok(spent);
    }
    let what = match purpose {
        TokenPurpose::VerifyEmail => "verification link",
        TokenPurpose::PasswordReset => "password-reset link",
    };
    let message = match state.bounded(EmailToken::by_hash(conn, purpose, &hash)).await? {
        Some(t) if t.used_at.is_some() => format!("this {what} was used already; ask for a new one"),
        Some(_) => format!("this {what} has expired; ask for a new one"),
        None => format!("this {what} is not valid (a newer one replaces it); ask for a new one"),
    };
    Err(ApiError::InvalidToken(message))
}

/// Records the device of a successful login and, when the account has signed in before but
/// never from this device and wants security alerts, mails the owner. The login has succeeded
/// whatever happens here: a failure is logged, not returned.
///
/// A device is its User-Agent label plus the client address. The first login of an account
/// sends no alert: there is no earlier device to differ from, and the owner has just
/// registered or been given the account.
pub async fn note_sign_in(
    conn: &mut AsyncPgConnection,
    state: &ApiState,
    user: &User,
    device: Option<&str>,
    ip: Option<&str>,
) {
    let at = Utc::now();
    let seen = DeviceSeen { user_id: user.id, device, ip, at };
    let result = async {
        if state.bounded(known_device::record_sign_in(conn, seen)).await? != DeviceNovelty::New {
            return Ok(());
        }
        if !state.bounded(Preferences::for_user(conn, user.id)).await?.security_alerts {
            return Ok(());
        }
        let reset_link = format!("{}/reset-password", state.public_url);
        let content = templates::new_sign_in(templates::SignIn { email: &user.email, device, ip, at }, &reset_link);
        state.mailer.send(Outgoing { to: user.email.clone(), content });
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(user = %user.id, error = %e, "cannot check the sign-in's device for a new-device alert");
    }
}
