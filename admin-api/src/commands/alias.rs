//! `smtpy-admin alias ...`

use crate::AdminError;
use smtpy_shared::{
    address::Address,
    db::{Conn, is_unique_violation},
    models::{Alias, AliasMode, Domain, Mailbox, NewAlias},
};

pub async fn add(
    conn: &mut Conn,
    address: &str,
    to: &[String],
    mode: &str,
    note: Option<&str>,
) -> Result<(), AdminError> {
    let address = Address::parse(address)?;
    let mode: AliasMode = mode.parse().map_err(AdminError::Invalid)?;
    let local = address.local();
    // These local parts are our return paths and reverse aliases (DESIGN §2, steps 1-2).
    if ["bounce+", "ra+", "srs0=", "srs1=", "srs0+", "srs1+", "srs0-", "srs1-"].iter().any(|p| local.starts_with(p)) {
        return Err(AdminError::Invalid(format!("'{local}' starts with a prefix SMTPy reserves for return addresses")));
    }
    let domain = Domain::by_name(conn, address.domain()).await?.ok_or_else(|| {
        AdminError::NotFound(format!(
            "domain {} is not hosted here (add it with `smtpy-admin domain add`)",
            address.domain()
        ))
    })?;
    let mut targets = Vec::with_capacity(to.len());
    for t in to.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        targets.push(Address::parse(t)?.to_string());
    }
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        return Err(AdminError::Invalid("an alias needs at least one target mailbox (--to)".to_owned()));
    }
    if targets.contains(&address.to_string()) {
        return Err(AdminError::Invalid("an alias cannot forward to itself".to_owned()));
    }
    let mailboxes = Mailbox::by_addresses(conn, domain.owner_id, &targets).await?;
    for t in &targets {
        match mailboxes.iter().find(|m| &m.address == t) {
            None => {
                return Err(AdminError::NotFound(format!(
                    "{t} is not a mailbox of the domain's owner (add it with `smtpy-admin mailbox add`)"
                )));
            }
            Some(m) if !m.verified => return Err(AdminError::Invalid(format!("mailbox {t} is not verified yet"))),
            Some(_) => {}
        }
    }
    let ids: Vec<_> = mailboxes.iter().map(|m| m.id).collect();
    let address_text = address.to_string();
    let new = NewAlias {
        owner_id: domain.owner_id,
        domain_id: domain.id,
        local_part: address.local(),
        address: &address_text,
        mode: mode.as_str(),
        note,
    };
    match Alias::create_with_targets(conn, &new, &ids).await {
        Ok(alias) => {
            println!("added alias {} -> {} ({})", alias.address, targets.join(","), alias.mode);
            Ok(())
        }
        Err(e) if is_unique_violation(&e) => Err(AdminError::Exists(format!("alias {address_text} exists already"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(conn: &mut Conn) -> Result<(), AdminError> {
    for a in Alias::list_with_targets(conn).await? {
        println!(
            "{}\t{}\t{}\t{}",
            a.alias.address,
            if a.alias.enabled { "enabled" } else { "disabled" },
            a.alias.mode,
            a.targets.join(",")
        );
    }
    Ok(())
}

pub async fn set_enabled(conn: &mut Conn, address: &str, enabled: bool) -> Result<(), AdminError> {
    let address = Address::parse(address)?.to_string();
    if !Alias::set_enabled(conn, &address, enabled).await? {
        return Err(AdminError::NotFound(format!("no alias {address}")));
    }
    println!("alias {address} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

pub async fn delete(conn: &mut Conn, address: &str) -> Result<(), AdminError> {
    let address = Address::parse(address)?.to_string();
    if !Alias::delete_by_address(conn, &address).await? {
        return Err(AdminError::NotFound(format!("no alias {address}")));
    }
    println!("alias {address} deleted");
    Ok(())
}
