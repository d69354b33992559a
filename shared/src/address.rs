//! Mail addresses as SMTPy stores and compares them.

use std::fmt;

/// A mail address split into local part and domain, both lower-cased.
///
/// Local parts are case-sensitive in theory (RFC 5321 §2.4) but no mailbox provider treats them
/// so, and owners expect `Shop@me.example` to reach `shop@me.example`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

/// Why a string is not an address we accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The string has no `@` or an empty side.
    #[error("'{0}' is not a mail address (expected local@domain)")]
    Malformed(String),
    /// The domain part is not a valid host name.
    #[error("'{0}' has an invalid domain name")]
    BadDomain(String),
    /// The local part has characters we do not route.
    #[error("'{0}' has an invalid local part")]
    BadLocalPart(String),
}

impl Address {
    /// Parses `local@domain`, optionally in angle brackets as SMTP passes it.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let bare = trimmed.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(trimmed);
        let (local, domain) = bare.rsplit_once('@').ok_or_else(|| AddressError::Malformed(input.to_owned()))?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Malformed(input.to_owned()));
        }
        let domain = normalize_domain(domain).map_err(|_| AddressError::BadDomain(input.to_owned()))?;
        let local = local.to_ascii_lowercase();
        if local.len() > 64 || local.chars().any(|c| c.is_ascii_control() || c == ' ' || c == '<' || c == '>') {
            return Err(AddressError::BadLocalPart(input.to_owned()));
        }
        Ok(Self { local, domain })
    }

    /// The lower-cased local part.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The lower-cased domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Whether this is a catch-all pattern (`*@domain`).
    pub fn is_catch_all(&self) -> bool {
        self.local == "*"
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Lower-cases and checks a domain name (RFC 1035 host name syntax, trailing dot dropped).
pub fn normalize_domain(input: &str) -> Result<String, AddressError> {
    let name = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.len() > 253 || !name.contains('.') || !name.split('.').all(valid_label) {
        return Err(AddressError::BadDomain(input.to_owned()));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bracketed_and_lowercases() {
        let a = Address::parse("<Shop@Me.Example>").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.to_string(), "shop@me.example");
        assert_eq!(a.local(), "shop");
        assert_eq!(a.domain(), "me.example");
    }

    #[test]
    fn catch_all_pattern() {
        let a = Address::parse("*@me.example").unwrap_or_else(|e| panic!("{e}"));
        assert!(a.is_catch_all());
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "no-at", "@me.example", "x@", "x@nodot", "x@-bad.example", "a b@me.example", "<>"] {
            assert!(Address::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn domain_trailing_dot_dropped() {
        assert_eq!(normalize_domain("Me.Example.").ok().as_deref(), Some("me.example"));
    }
}
