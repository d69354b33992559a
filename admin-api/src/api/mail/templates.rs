//! The words of each mail, as plain text and HTML. Every inserted value is escaped in the HTML
//! part: an address or a User-Agent label is data, never markup.

use chrono::{DateTime, Utc};

/// A mail's subject and its two bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// `text/plain` part.
    pub text: String,
    /// `text/html` part.
    pub html: String,
}

/// `value` made safe for HTML text and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML around every mail's body (already-escaped `body`).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family: sans-serif; line-height: 1.5; max-width: 36em\">\n{body}\n\
         <p style=\"color: #666; font-size: small\">Sent by SMTPy about your account.</p>\n</body></html>\n",
        title = escape_html(title),
    )
}

/// A paragraph with a button-like link.
fn link_html(url: &str, label: &str) -> String {
    format!("<p><a href=\"{url}\">{label}</a></p>", url = escape_html(url), label = escape_html(label))
}

/// The mail that proves the owner reads `email`.
pub fn verify_email(email: &str, link: &str, valid_hours: i64) -> Rendered {
    let subject = "Confirm your email address".to_owned();
    let text = format!(
        "Hello,\n\nplease confirm that {email} is your address for SMTPy by opening this link:\n\n{link}\n\n\
         The link works once, for {valid_hours} hours. If you did not create an SMTPy account, ignore this mail.\n"
    );
    let html = page(
        &subject,
        &format!(
            "<p>Hello,</p>\n<p>please confirm that <strong>{email}</strong> is your address for SMTPy.</p>\n{button}\n\
             <p>The link works once, for {valid_hours} hours. If you did not create an SMTPy account, ignore this mail.</p>",
            email = escape_html(email),
            button = link_html(link, "Confirm my address"),
        ),
    );
    Rendered { subject, text, html }
}

/// The mail with a password-reset link.
pub fn password_reset(email: &str, link: &str, valid_minutes: i64) -> Rendered {
    let subject = "Reset your SMTPy password".to_owned();
    let text = format!(
        "Hello,\n\nsomeone (hopefully you) asked to reset the password of the SMTPy account {email}.\n\
         Choose a new password here:\n\n{link}\n\n\
         The link works once, for {valid_minutes} minutes; setting a new password signs out every session.\n\
         If you did not ask for this, ignore this mail: your password stays as it is.\n"
    );
    let html = page(
        &subject,
        &format!(
            "<p>Hello,</p>\n<p>someone (hopefully you) asked to reset the password of the SMTPy account \
             <strong>{email}</strong>.</p>\n{button}\n\
             <p>The link works once, for {valid_minutes} minutes; setting a new password signs out every session.</p>\n\
             <p>If you did not ask for this, ignore this mail: your password stays as it is.</p>",
            email = escape_html(email),
            button = link_html(link, "Choose a new password"),
        ),
    );
    Rendered { subject, text, html }
}

/// Where a new sign-in came from.
#[derive(Clone, Copy, Debug)]
pub struct SignIn<'a> {
    /// The account's address.
    pub email: &'a str,
    /// Device label, if the User-Agent was recognised.
    pub device: Option<&'a str>,
    /// Client address, if known.
    pub ip: Option<&'a str>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The alert about a sign-in from a device the account had not used; `reset_link` is where to
/// go if it was not the owner.
pub fn new_sign_in(sign_in: SignIn<'_>, reset_link: &str) -> Rendered {
    let subject = "New sign-in to your SMTPy account".to_owned();
    let device = sign_in.device.unwrap_or("an unrecognised device");
    let ip = sign_in.ip.unwrap_or("an unknown address");
    let at = sign_in.at.format("%Y-%m-%d %H:%M UTC").to_string();
    let email = sign_in.email;
    let text = format!(
        "Hello,\n\nthe SMTPy account {email} was just signed in to from a new device:\n\n\
         Device: {device}\nAddress: {ip}\nTime: {at}\n\n\
         If this was you, there is nothing to do. If not, reset your password now (this signs out every session):\n\n\
         {reset_link}\n\nYou can turn these alerts off in your preferences (security alerts).\n"
    );
    let html = page(
        &subject,
        &format!(
            "<p>Hello,</p>\n<p>the SMTPy account <strong>{email}</strong> was just signed in to from a new device:</p>\n\
             <ul><li>Device: {device}</li><li>Address: {ip}</li><li>Time: {at}</li></ul>\n\
             <p>If this was you, there is nothing to do. If not, reset your password now (this signs out every session):</p>\n\
             {button}\n<p>You can turn these alerts off in your preferences (security alerts).</p>",
            email = escape_html(email),
            device = escape_html(device),
            ip = escape_html(ip),
            at = escape_html(&at),
            button = link_html(reset_link, "Reset my password"),
        ),
    );
    Rendered { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_special_character() {
        assert_eq!(escape_html(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn inserted_values_are_escaped_in_html_and_kept_in_text() {
        let sign_in = SignIn {
            email: "o@example.org",
            device: Some("<script>alert(1)</script>"),
            ip: Some("192.0.2.1"),
            at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
        };
        let mail = new_sign_in(sign_in, "https://smtpy.example/reset-password?a=1&b=2");
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(mail.html.contains("&lt;script&gt;") && mail.html.contains("?a=1&amp;b=2"), "{}", mail.html);
        assert!(mail.text.contains("<script>alert(1)</script>") && mail.text.contains("1970-01-01 00:00 UTC"));
    }

    #[test]
    fn links_appear_in_both_parts() {
        let link = "https://smtpy.example/verify-email?token=abc";
        for mail in [verify_email("o@example.org", link, 48), password_reset("o@example.org", link, 60)] {
            assert!(mail.text.contains(link) && mail.html.contains(&format!("href=\"{link}\"")), "{mail:?}");
        }
    }
}
