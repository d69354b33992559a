//! Errors of the admin tools, with messages that say what to do.

use smtpy_shared::{ConfigError, DbError, address::AddressError};

/// Everything that can stop an admin command.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be used.
    #[error("{0}")]
    Db(#[from] DbError),
    /// An address or domain is malformed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Input that makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// Something referred to does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    Exists(String),
    /// A failure on our side.
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}
