//! Rows of each table and the queries on them, side by side; query functions take a
//! connection so they compose inside a transaction.

pub mod activity_log;
pub mod alias;
pub mod api_key;
pub mod backup_code;
pub mod contact;
pub mod dkim_key;
pub mod domain;
pub mod email_token;
pub mod invitation;
pub mod known_device;
pub mod mailbox;
pub mod rate_limit;
pub mod session;
pub mod totp_secret;
pub mod user;
pub mod user_preferences;

pub use activity_log::{ActivityAction, ActivityFilter, ActivityLog, NewActivityLog};
pub use alias::{Alias, AliasMode, AliasWithTargets, NewAlias};
pub use api_key::{ApiKey, ApiKeyScope, NewApiKey};
pub use backup_code::BackupCode;
pub use contact::Contact;
pub use dkim_key::{DkimKey, DomainDkimKey, NewDkimKey};
pub use domain::{Domain, NewDomain};
pub use email_token::{EmailToken, NewEmailToken, TokenPurpose};
pub use invitation::{Invitation, NewInvitation};
pub use known_device::{DeviceNovelty, DeviceSeen};
pub use mailbox::{Mailbox, NewMailbox};
pub use rate_limit::RateLimitCounter;
pub use session::{NewSession, Session};
pub use totp_secret::TotpSecret;
pub use user::{NewUser, User};
pub use user_preferences::Preferences;
