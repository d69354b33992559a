//! The JSON shape of an owner's preferences and the values they may take.

use super::ApiError;
use serde::{Deserialize, Serialize};
use smtpy_shared::models::Preferences;
use utoipa::{
    ToSchema,
    openapi::schema::{Object, ObjectBuilder, SchemaType, Type},
};

/// The languages the web UI may be asked for: short BCP 47 tags.
pub const LANGUAGES: &[&str] = &[
    "en", "en-GB", "en-US", "fr", "de", "es", "it", "pt", "pt-BR", "nl", "sv", "da", "nb", "fi", "pl", "cs", "ru",
    "uk", "tr", "ja", "ko", "zh",
];

/// `language` as saved: one of [`LANGUAGES`].
fn language_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(LANGUAGES.iter().copied())).build()
}

/// `language` in an update: one of [`LANGUAGES`], or null to keep it. (Any letter case is
/// accepted and saved in the listed one; the document lists the canonical tags.)
fn language_update_schema() -> Object {
    let tags = LANGUAGES.iter().map(|l| serde_json::Value::from(*l)).chain([serde_json::Value::Null]);
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])).enum_values(Some(tags)).build()
}

/// The web UI's colours.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the system.
    Auto,
}

impl Theme {
    /// The stored form.
    fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::Auto => "auto",
        }
    }

    /// The stored form back; the table's CHECK allows only these.
    fn from_stored(s: &str) -> Self {
        match s {
            "light" => Self::Light,
            "dark" => Self::Dark,
            _ => Self::Auto,
        }
    }
}

/// An owner's preferences (the defaults until they save any).
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    /// Mail about events on the account (bounces, quarantined mail). Default true.
    pub email_notifications: bool,
    /// News about the service. Default false.
    pub marketing_emails: bool,
    /// Mail about sign-ins from new devices. Default true.
    pub security_alerts: bool,
    /// A weekly summary. Default false.
    pub weekly_reports: bool,
    /// `light`, `dark` or `auto` (default).
    pub theme: Theme,
    /// One of the supported language tags (`en`, `fr`, `de`, `es`, ...); default `en`.
    #[schema(schema_with = language_schema)]
    pub language: String,
}

impl From<Preferences> for PreferencesView {
    fn from(p: Preferences) -> Self {
        Self {
            email_notifications: p.email_notifications,
            marketing_emails: p.marketing_emails,
            security_alerts: p.security_alerts,
            weekly_reports: p.weekly_reports,
            theme: Theme::from_stored(&p.theme),
            language: p.language,
        }
    }
}

/// New preferences: every field is optional; a missing one keeps its current value. Unknown
/// fields are refused, so a misspelt one does not pass silently.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    /// Mail about events on the account.
    pub email_notifications: Option<bool>,
    /// News about the service.
    pub marketing_emails: Option<bool>,
    /// Mail about sign-ins from new devices.
    pub security_alerts: Option<bool>,
    /// A weekly summary.
    pub weekly_reports: Option<bool>,
    /// `light`, `dark` or `auto`.
    pub theme: Option<Theme>,
    /// A supported language tag (letter case does not matter: `pt-br` is saved as `pt-BR`).
    #[schema(schema_with = language_update_schema)]
    pub language: Option<String>,
}

impl PreferencesUpdate {
    /// `current` with this update applied, or what is wrong with it.
    pub fn apply(self, current: Preferences) -> Result<Preferences, ApiError> {
        let language = match self.language {
            Some(tag) => match LANGUAGES.iter().find(|l| l.eq_ignore_ascii_case(tag.trim())) {
                Some(l) => (*l).to_owned(),
                None => {
                    return Err(ApiError::InvalidInput(format!(
                        "language: '{tag}' is not supported; use one of {}",
                        LANGUAGES.join(", ")
                    )));
                }
            },
            None => current.language,
        };
        Ok(Preferences {
            email_notifications: self.email_notifications.unwrap_or(current.email_notifications),
            marketing_emails: self.marketing_emails.unwrap_or(current.marketing_emails),
            security_alerts: self.security_alerts.unwrap_or(current.security_alerts),
            weekly_reports: self.weekly_reports.unwrap_or(current.weekly_reports),
            theme: self.theme.map_or(current.theme, |t| t.as_str().to_owned()),
            language,
        })
    }
}

/// The names of the fields whose value differs between `before` and `after`, as the API spells them.
pub fn changed_fields(before: &Preferences, after: &Preferences) -> Vec<&'static str> {
    [
        ("email_notifications", before.email_notifications != after.email_notifications),
        ("marketing_emails", before.marketing_emails != after.marketing_emails),
        ("security_alerts", before.security_alerts != after.security_alerts),
        ("weekly_reports", before.weekly_reports != after.weekly_reports),
        ("theme", before.theme != after.theme),
        ("language", before.language != after.language),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn update(json: &str) -> PreferencesUpdate {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn missing_fields_keep_their_value_and_tags_are_canonical() {
        let p = update(r#"{"theme": "dark", "language": "PT-br"}"#).apply(Preferences::default()).unwrap();
        assert_eq!((p.theme.as_str(), p.language.as_str(), p.security_alerts), ("dark", "pt-BR", true));
    }

    #[test]
    fn unsupported_languages_and_unknown_fields_are_refused() {
        assert!(update(r#"{"language": "xx"}"#).apply(Preferences::default()).is_err());
        assert!(update(r#"{"language": "en; DROP"}"#).apply(Preferences::default()).is_err());
        assert!(serde_json::from_str::<PreferencesUpdate>(r#"{"theme": "blue"}"#).is_err());
        assert!(serde_json::from_str::<PreferencesUpdate>(r#"{"sound": true}"#).is_err());
    }

    #[test]
    fn changed_fields_names_only_what_differs() {
        let before = Preferences::default();
        assert!(changed_fields(&before, &before.clone()).is_empty());
        let after =
            update(r#"{"theme": "dark", "weekly_reports": true, "language": "en"}"#).apply(before.clone()).unwrap();
        assert_eq!(changed_fields(&before, &after), ["weekly_reports", "theme"]);
    }

    #[test]
    fn every_listed_language_fits_the_table_check() {
        for l in LANGUAGES {
            let (lang, region) = l.split_once('-').unwrap_or((l, ""));
            assert!(lang.len() == 2 && lang.chars().all(|c| c.is_ascii_lowercase()), "{l}");
            assert!(region.is_empty() || (region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase())), "{l}");
        }
    }
}
