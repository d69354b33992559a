//! The data every test starts from: one owner, one verified hosted domain, two verified
//! mailboxes at a domain that is not hosted.

use crate::Admin;
use anyhow::Result;

/// The owner of everything.
pub const OWNER: &str = "owner@example.org";
/// The hosted, verified alias domain.
pub const DOMAIN: &str = "alias.test";
/// A hosted domain that is not verified.
pub const UNVERIFIED_DOMAIN: &str = "unverified.test";
/// First target mailbox.
pub const MAILBOX_1: &str = "one@inbox.test";
/// Second target mailbox.
pub const MAILBOX_2: &str = "two@inbox.test";
/// A sender on the Internet.
pub const SENDER: &str = "sender@remote.test";

/// Creates the owner, the domains and the mailboxes with the real CLI.
pub async fn seed(admin: &Admin) -> Result<()> {
    admin
        .run_with_stdin(&["user", "add", "--email", OWNER, "--password-stdin"], "correct horse battery staple\n")
        .await?;
    admin.run(&["domain", "add", DOMAIN, "--owner", OWNER, "--verified"]).await?;
    admin.run(&["domain", "add", UNVERIFIED_DOMAIN, "--owner", OWNER]).await?;
    for mailbox in [MAILBOX_1, MAILBOX_2] {
        admin.run(&["mailbox", "add", mailbox, "--owner", OWNER, "--verified"]).await?;
    }
    Ok(())
}

/// A complete RFC 5322 message (CRLF line ends) whose headers Postfix leaves alone. The body
/// has a line starting with a dot so dot-stuffing is exercised end to end.
pub fn message(to: &str, subject: &str) -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple();
    format!(
        "From: Sender <{SENDER}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{id}@remote.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         Hello,\r\n\
         .a line that starts with a dot\r\n\
         \r\n\
         -- \r\n\
         message {id}\r\n"
    )
    .into_bytes()
}
