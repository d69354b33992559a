//! Sysadmin commands: each validates its input, then calls the shared queries.

mod alias;
mod dkim;
mod domain;
mod mailbox;
mod user;

use crate::{
    AdminError,
    cli::{AliasCommand, Command, DkimCommand, DomainCommand, MailboxCommand, UserCommand},
};
use smtpy_shared::{Config, Db, db::Conn, models::User};
use std::path::Path;

/// Runs one (non-serve) command.
pub async fn dispatch(db: &Db, config: &Config, command: Command) -> Result<(), AdminError> {
    if let Command::Migrate = command {
        let applied = db.migrate().await?;
        if applied.is_empty() {
            println!("database schema is up to date");
        } else {
            println!("applied migrations: {}", applied.join(", "));
        }
        return Ok(());
    }
    let mut conn = db.bounded(db.conn()).await?;
    match command {
        Command::Serve { .. } | Command::Migrate => Ok(()),
        Command::User(UserCommand::Add { email, .. }) => user::add(&mut conn, &email, &read_password()?).await,
        Command::User(UserCommand::List) => user::list(&mut conn).await,
        Command::User(UserCommand::Disable { email }) => user::disable(&mut conn, &email).await,
        Command::User(UserCommand::Invite { email, days }) => user::invite(&mut conn, email.as_deref(), days).await,
        Command::Domain(DomainCommand::Add { name, owner, verified }) => {
            domain::add(&mut conn, &name, &owner, verified).await
        }
        Command::Domain(DomainCommand::List) => domain::list(&mut conn).await,
        Command::Domain(DomainCommand::Verify { name }) => domain::verify(&mut conn, &name).await,
        Command::Domain(DomainCommand::Dkim(DkimCommand::Generate { domain, selector, ed25519 })) => {
            let key_file = Path::new(&config.secrets.key_file);
            dkim::generate(&mut conn, key_file, &domain, selector.as_deref(), ed25519).await
        }
        Command::Domain(DomainCommand::Dkim(DkimCommand::Show { domain })) => dkim::show(&mut conn, &domain).await,
        Command::Mailbox(MailboxCommand::Add { address, owner, verified }) => {
            mailbox::add(&mut conn, &address, &owner, verified).await
        }
        Command::Alias(AliasCommand::Add { address, to, mode, note }) => {
            alias::add(&mut conn, &address, &to, &mode, note.as_deref()).await
        }
        Command::Alias(AliasCommand::List) => alias::list(&mut conn).await,
        Command::Alias(AliasCommand::Enable { address }) => alias::set_enabled(&mut conn, &address, true).await,
        Command::Alias(AliasCommand::Disable { address }) => alias::set_enabled(&mut conn, &address, false).await,
        Command::Alias(AliasCommand::Delete { address }) => alias::delete(&mut conn, &address).await,
    }
}

/// The first line of standard input, without its line end.
fn read_password() -> Result<String, AdminError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| AdminError::Invalid(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The account with this email, or a clear error.
async fn owner(conn: &mut Conn, email: &str) -> Result<User, AdminError> {
    let email = email.trim().to_ascii_lowercase();
    User::by_email(conn, &email).await?.ok_or_else(|| {
        AdminError::NotFound(format!("no account with email {email} (create it with `smtpy-admin user add`)"))
    })
}
