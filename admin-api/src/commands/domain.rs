//! `smtpy-admin domain ...`

use super::owner;
use crate::AdminError;
use smtpy_shared::{
    address::normalize_domain,
    db::{Conn, is_unique_violation},
    models::{Domain, NewDomain},
};

pub async fn add(conn: &mut Conn, name: &str, owner_email: &str, verified: bool) -> Result<(), AdminError> {
    let name = normalize_domain(name)?;
    let owner = owner(conn, owner_email).await?;
    let new = NewDomain { owner_id: owner.id, name: &name, verified, verified_at: verified.then(chrono::Utc::now) };
    match Domain::create(conn, &new).await {
        Ok(domain) => {
            println!(
                "added domain {} for {} ({})",
                domain.name,
                owner.email,
                if domain.verified { "verified" } else { "not verified: its mail is refused until it is" }
            );
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(AdminError::Exists(format!("domain {name} is hosted already"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(conn: &mut Conn) -> Result<(), AdminError> {
    for d in Domain::list(conn).await? {
        println!("{}\t{}\t{}", d.name, if d.verified { "verified" } else { "unverified" }, d.id);
    }
    Ok(())
}

pub async fn verify(conn: &mut Conn, name: &str) -> Result<(), AdminError> {
    let name = normalize_domain(name)?;
    let domain = Domain::by_name(conn, &name)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("domain {name} is not hosted here")))?;
    Domain::mark_verified(conn, domain.id).await?;
    println!("domain {name} is verified");
    Ok(())
}
