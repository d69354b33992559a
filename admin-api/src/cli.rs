//! The command line (`clap`); each subcommand maps to one function in `commands`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// SMTPy administration: API server and sysadmin commands.
#[derive(Parser, Debug)]
#[command(name = "smtpy-admin", version, about)]
pub struct Cli {
    /// Configuration file (default /etc/smtpy/smtpy.toml; used only if it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API server.
    Serve {
        /// Listen address (overrides [api] listen).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage hosted domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage target mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
}

/// `user` subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        /// Login email address.
        #[arg(long)]
        email: String,
        /// Read the password from standard input (first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account: its aliases stop receiving mail.
    Disable {
        /// The account's email.
        email: String,
    },
    /// Create a single-use invitation code for `[api] registration = "invite"` and print it.
    Invite {
        /// Only this address may register with the code.
        #[arg(long)]
        email: Option<String>,
        /// Days until the code expires (1 to 365).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=365))]
        days: u16,
    },
}

/// `domain` subcommands.
#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Host a domain for an owner.
    Add {
        /// Domain name.
        name: String,
        /// Owner's account email.
        #[arg(long)]
        owner: String,
        /// Skip DNS verification (for a domain the sysadmin controls).
        #[arg(long)]
        verified: bool,
    },
    /// List hosted domains.
    List,
    /// Mark a domain verified.
    Verify {
        /// Domain name.
        name: String,
    },
    /// Manage the domain's DKIM keys.
    #[command(subcommand)]
    Dkim(DkimCommand),
}

/// `domain dkim` subcommands.
#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Generate an RSA-2048 key (and an Ed25519 one with --ed25519), store it sealed with the
    /// `[secrets] key_file` key, and print the DNS TXT records to publish.
    Generate {
        /// Domain name.
        domain: String,
        /// DNS selector (default: smtpy<YYYYMM>); the Ed25519 key gets SELECTOR-ed25519.
        #[arg(long)]
        selector: Option<String>,
        /// Also generate an Ed25519 key (RFC 8463), published under its own selector.
        #[arg(long)]
        ed25519: bool,
    },
    /// Print the domain's active selectors and their DNS TXT records.
    Show {
        /// Domain name.
        domain: String,
    },
}

/// `mailbox` subcommands.
#[derive(Subcommand, Debug)]
pub enum MailboxCommand {
    /// Add a target mailbox for an owner.
    Add {
        /// The mailbox address.
        address: String,
        /// Owner's account email.
        #[arg(long)]
        owner: String,
        /// Mark it verified without a confirmation mail.
        #[arg(long)]
        verified: bool,
    },
}

/// `alias` subcommands.
#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Create an alias (`*@domain` for the domain's catch-all).
    Add {
        /// The alias address.
        address: String,
        /// Target mailboxes, comma-separated (verified mailboxes of the domain's owner).
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// `privacy` (default) or `transparent`.
        #[arg(long, default_value = "privacy")]
        mode: String,
        /// A note for the owner.
        #[arg(long)]
        note: Option<String>,
    },
    /// List aliases: address, state, mode, targets (tab-separated).
    List,
    /// Switch an alias on.
    Enable {
        /// The alias address.
        address: String,
    },
    /// Switch an alias off: its mail is rejected with 550 5.1.1.
    Disable {
        /// The alias address.
        address: String,
    },
    /// Delete an alias.
    Delete {
        /// The alias address.
        address: String,
    },
}
