//! Privacy mode (DESIGN §2): a forward's `From` and `Reply-To` point at the contact's reverse
//! alias, so the owner's replies come back through us.

use crate::App;
use mail_parser::MessageParser;
use smtpy_shared::{DbError, address::Address, models::Contact, resolve::Route};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use uuid::Uuid;

/// A contact by (alias, address), with the routing generation it was read at.
type Entries = HashMap<(Uuid, String), (u64, Arc<Contact>)>;

/// Contacts by (alias, address), reloaded after routing changes (blocking announces one).
#[derive(Default)]
pub struct ContactCache {
    entries: Mutex<Entries>,
}

impl ContactCache {
    /// The contact for `address` writing to `route`'s alias, created on first sight.
    pub async fn contact(
        &self,
        app: &App,
        route: &Route,
        address: &str,
        name: Option<&str>,
    ) -> Result<Arc<Contact>, DbError> {
        let key = (route.alias_id, address.to_owned());
        let generation = app.cache.generation();
        let cached = self.lock().get(&key).filter(|(at, _)| *at == generation && app.cache.is_live()).cloned();
        if let Some((_, contact)) = cached {
            return Ok(contact);
        }
        let domain = route.alias_address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let contact = app
            .db
            .bounded(async {
                let mut conn = app.db.conn().await?;
                Ok(Contact::get_or_create(&mut conn, route.owner_id, route.alias_id, address, name, domain).await?)
            })
            .await?;
        let contact = Arc::new(contact);
        let mut entries = self.lock();
        if entries.len() > 100_000 {
            entries.clear();
        }
        entries.insert(key, (generation, contact.clone()));
        Ok(contact)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The first mailbox of an address header (`From`, `Reply-To`): display name and address.
pub fn first_mailbox(name: &str, value: &str) -> Option<(Option<String>, Address)> {
    let text = format!("{name}: {value}\r\n\r\n");
    let parsed = MessageParser::default().parse_headers(text.as_bytes())?;
    let list = if name.eq_ignore_ascii_case("From") { parsed.from() } else { parsed.reply_to() }?;
    let addr = list.first()?;
    let address = Address::parse(addr.address()?).ok()?;
    let display = addr.name().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    Some((display, address))
}

/// The rewritten header value: `"Name - sender at example.com" <reverse-alias>`, keeping
/// who wrote visible while replies route through us.
pub fn masked_mailbox(display: Option<&str>, original: &Address, reverse: &str) -> String {
    let who = format!("{} at {}", original.local(), original.domain());
    let label = match display {
        Some(name) if !name.eq_ignore_ascii_case(&original.to_string()) => format!("{name} - {who}"),
        _ => who,
    };
    format!("{} <{reverse}>", phrase(&label))
}

/// A display name as RFC 5322 wants it: a quoted string when ASCII, else an RFC 2047 word.
fn phrase(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("=?utf-8?b?{}?=", data_encoding::BASE64.encode(clean.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_mailbox_keeps_the_name_and_hides_the_address() {
        let original = Address::parse("jane@shop.example").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            masked_mailbox(Some("Jane \"J\" Doe"), &original, "ra+abc@me.example"),
            "\"Jane \\\"J\\\" Doe - jane at shop.example\" <ra+abc@me.example>"
        );
        assert_eq!(
            masked_mailbox(None, &original, "ra+abc@me.example"),
            "\"jane at shop.example\" <ra+abc@me.example>"
        );
        assert!(masked_mailbox(Some("Zoë"), &original, "r@x.example").starts_with("=?utf-8?b?"));
    }

    #[test]
    fn first_mailbox_parses_name_and_address() {
        let (name, address) =
            first_mailbox("From", " \"Jane Doe\" <Jane@Shop.Example>").unwrap_or_else(|| panic!("parse"));
        assert_eq!(name.as_deref(), Some("Jane Doe"));
        assert_eq!(address.to_string(), "jane@shop.example");
        assert!(first_mailbox("From", " undisclosed-recipients:;").is_none());
    }
}
