//! `smtpy-admin mailbox ...`

use super::owner;
use crate::AdminError;
use smtpy_shared::{
    address::Address,
    db::{Conn, is_unique_violation},
    models::{Mailbox, NewMailbox},
};

pub async fn add(conn: &mut Conn, address: &str, owner_email: &str, verified: bool) -> Result<(), AdminError> {
    let address = Address::parse(address)?;
    if address.is_catch_all() {
        return Err(AdminError::Invalid("a mailbox needs a real address, not a pattern".to_owned()));
    }
    let address = address.to_string();
    let owner = owner(conn, owner_email).await?;
    let new =
        NewMailbox { owner_id: owner.id, address: &address, verified, verified_at: verified.then(chrono::Utc::now) };
    match Mailbox::create(conn, &new).await {
        Ok(m) => {
            println!(
                "added mailbox {} for {} ({})",
                m.address,
                owner.email,
                if m.verified { "verified" } else { "not verified" }
            );
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => {
            Err(AdminError::Exists(format!("{} already has mailbox {address}", owner.email)))
        }
        Err(e) => Err(e.into()),
    }
}
