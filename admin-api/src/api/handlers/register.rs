//! `POST /auth/register`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail,
    client::ClientInfo,
    limits::{Limit, RateKey},
    password, secrets,
    state::Registration,
    views::UserView,
};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use smtpy_shared::{
    address::Address,
    db::is_unique_violation,
    models::{Invitation, NewUser, User},
};
use utoipa::ToSchema;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Login and contact address.
    #[schema(format = Email)]
    pub email: String,
    /// 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// The invitation code from the administrator (`smtpy-admin user invite`); needed when
    /// registration is invite-only, ignored otherwise.
    pub invite_code: Option<String>,
}

/// Why registration stopped: an answer for the caller, or a database failure.
enum Refusal {
    Api(ApiError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

/// Creates an account and mails a verification link (valid 48 hours) to its address. An
/// address that has one already gets 409: registration reveals which addresses have accounts,
/// as most services' sign-up forms do; the per-IP rate limit bounds how fast anyone can probe
/// (the privacy-preserving alternative would answer "check your mail" either way).
///
/// With `[api] registration = "invite"` the body needs `invite_code`: a code is spent by the
/// account it creates (it stays usable when registration fails for another reason).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; log in next", body = UserView),
        (status = 400, description = "Bad email or weak password", body = ErrorBody),
        (status = 403, description = "Registration is closed (`forbidden`), or invite-only and the code is missing \
            (`invitation_required`), unknown, spent or for another address (`invitation_invalid`) or expired \
            (`invitation_expired`)", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn register(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let RegisterRequest { email, password, invite_code } = body.into_inner();
    let invite_hash = match state.registration {
        Registration::Closed => {
            return Err(ApiError::Forbidden("registration is closed; ask the administrator for an account".to_owned()));
        }
        Registration::Open => None,
        Registration::Invite => {
            let code = invite_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
            Some(secrets::invitation_hash(code.ok_or(ApiError::InvitationRequired)?))
        }
    };
    state.limits.check(&state.db, Limit::Register, &[RateKey::ip(client.ip)]).await?;
    let email = Address::parse(&email).map_err(|e| ApiError::InvalidInput(format!("email: {e}")))?.to_string();
    password::check_strength(&password)?;
    let password_hash = password::hash(password).await?;
    let now = state.now();
    let mut conn = state.conn().await?;
    let new = NewUser { email: &email, password_hash: &password_hash };
    // One transaction: the invitation is spent exactly when the account is created, and the
    // row lock keeps two registrations from spending the same code.
    let created = state
        .db
        .bounded(async {
            Ok(conn
                .transaction(async |conn| -> Result<User, Refusal> {
                    let invitation = match &invite_hash {
                        Some(hash) => Some(usable_invitation(conn, hash, &email, now).await?),
                        None => None,
                    };
                    let user = User::create(conn, &new).await?;
                    if let Some(invitation) = invitation
                        && !Invitation::spend(conn, invitation.id, user.id, now).await?
                    {
                        return Err(Refusal::Api(spent()));
                    }
                    Ok(user)
                })
                .await)
        })
        .await?;
    match created {
        Ok(user) => {
            tracing::info!(user = %user.id, invited = invite_hash.is_some(), "account registered");
            // The account exists whatever happens to the mail: the owner can ask for another.
            if let Err(e) = account_mail::send_verification(&mut conn, &state, &user).await {
                tracing::error!(user = %user.id, error = %e, "cannot issue a verification link");
            }
            Ok(HttpResponse::Created().json(UserView::new(&user, false)))
        }
        Err(Refusal::Api(e)) => Err(e),
        // The unique violation is the answer, not a failure.
        Err(Refusal::Db(e)) if is_unique_violation(&e) => {
            Err(ApiError::Conflict("an account with this email exists already; log in instead".to_owned()))
        }
        Err(Refusal::Db(e)) => Err(e.into()),
    }
}

fn spent() -> ApiError {
    ApiError::InvitationInvalid("this invitation code is unknown or was used already".to_owned())
}

/// The invitation with code hash `hash`, locked, if `email` may still register with it at `now`.
async fn usable_invitation(
    conn: &mut diesel_async::AsyncPgConnection,
    hash: &[u8; 32],
    email: &str,
    now: DateTime<Utc>,
) -> Result<Invitation, Refusal> {
    let invitation = Invitation::by_code_hash_for_update(conn, hash).await?.ok_or_else(|| Refusal::Api(spent()))?;
    // The lookup matched on the hash; compare again in constant time regardless of how the
    // database compares.
    if !secrets::hashes_match(&invitation.code_hash, hash) || invitation.used_at.is_some() {
        return Err(Refusal::Api(spent()));
    }
    if invitation.expires_at <= now {
        return Err(Refusal::Api(ApiError::InvitationExpired));
    }
    if invitation.email.as_deref().is_some_and(|invited| invited != email) {
        return Err(Refusal::Api(ApiError::InvitationInvalid(
            "this invitation is for another email address; register with the invited address".to_owned(),
        )));
    }
    Ok(invitation)
}
