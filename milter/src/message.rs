//! The message as Postfix passed it to us, kept for the checks and the signatures.

use std::ffi::CStr;

/// What happens to one received header field in the message as it leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Unchanged.
    Keep,
    /// Removed.
    Drop,
    /// Value replaced (without the leading space).
    Replace(String),
}

/// Header fields and body as received.
#[derive(Debug, Default)]
pub struct Received {
    /// Header fields in order: name and value exactly as passed (value with its leading space
    /// when that option was negotiated; folded lines end in a bare LF in the protocol).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body with CRLF line ends.
    pub body: Vec<u8>,
    /// Whether header values include the space after the colon.
    pub leading_space: bool,
}

impl Received {
    /// Forgets the message.
    pub fn clear(&mut self) {
        self.headers.clear();
        self.body.clear();
    }

    /// Adds one header field.
    pub fn push_header(&mut self, name: &CStr, value: &CStr) {
        self.headers.push((name.to_string_lossy().into_owned(), value.to_bytes().to_vec()));
    }

    /// The message in wire form (CRLF line ends): what the sender transmitted, less the
    /// `Received:` header Postfix adds and does not show milters.
    pub fn raw(&self) -> Vec<u8> {
        self.rebuilt(|_, _, _| Edit::Keep)
    }

    /// The message with its fields as `edit` says (given the name, its 1-based position among
    /// fields of that name, and the value), then the body. [`with_fields_on_top`] adds ours.
    pub fn rebuilt(&self, edit: impl Fn(&str, i32, &str) -> Edit) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64 * self.headers.len() + 2);
        let mut seen: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
        for (name, value) in &self.headers {
            let nth = seen.entry(name.to_ascii_lowercase()).or_insert(0);
            *nth += 1;
            match edit(name, *nth, &String::from_utf8_lossy(value)) {
                Edit::Keep => {}
                Edit::Drop => continue,
                Edit::Replace(new) => {
                    out.extend_from_slice(format!("{name}: {new}\r\n").as_bytes());
                    continue;
                }
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            if !self.leading_space {
                out.push(b' ');
            }
            push_crlf(&mut out, value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The first value of header `name` (case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).replace(['\r', '\n'], "").trim().to_owned())
    }

    /// 1-based positions among the `name` headers (what `change_header` takes) of those whose
    /// value satisfies `pred`.
    pub fn indices_where(&self, name: &str, pred: impl Fn(&str) -> bool) -> Vec<i32> {
        let mut found = Vec::new();
        let mut index = 0;
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case(name) {
                index += 1;
                if pred(&String::from_utf8_lossy(v)) {
                    found.push(index);
                }
            }
        }
        found
    }
}

/// Appends `value`, turning bare LFs into CRLF.
fn push_crlf(out: &mut Vec<u8>, value: &[u8]) {
    let mut prev = 0u8;
    for &b in value {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

/// `message` with the `fields` (name, value) on top, as it will leave.
pub fn with_fields_on_top(fields: &[(String, String)], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64 * fields.len());
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> std::ffi::CString {
        std::ffi::CString::new(s).unwrap_or_default()
    }

    #[test]
    fn raw_rebuilds_wire_form() {
        let mut m = Received { leading_space: true, ..Received::default() };
        m.push_header(&c("Subject"), &c(" hi"));
        m.push_header(&c("To"), &c(" a@b.example,\n\tc@b.example"));
        m.body.extend_from_slice(b"body\r\n");
        assert_eq!(m.raw(), b"Subject: hi\r\nTo: a@b.example,\r\n\tc@b.example\r\n\r\nbody\r\n".to_vec());
        assert_eq!(m.header("to").as_deref(), Some("a@b.example,\tc@b.example"));
    }

    #[test]
    fn rebuilt_prepends_and_drops() {
        let mut m = Received { leading_space: true, ..Received::default() };
        m.push_header(&c("Authentication-Results"), &c(" mx; spf=pass"));
        m.push_header(&c("Subject"), &c(" x"));
        m.body.extend_from_slice(b"b\r\n");
        let top = [("Authentication-Results".to_owned(), "mx; dkim=none".to_owned())];
        let edited = m.rebuilt(|name, nth, _| match name {
            "Authentication-Results" if nth == 1 => Edit::Drop,
            "Subject" => Edit::Replace("y".to_owned()),
            _ => Edit::Keep,
        });
        let out = with_fields_on_top(&top, &edited);
        assert_eq!(out, b"Authentication-Results: mx; dkim=none\r\nSubject: y\r\n\r\nb\r\n".to_vec());
    }

    #[test]
    fn indices_count_per_name() {
        let mut m = Received { leading_space: true, ..Received::default() };
        m.push_header(&c("Authentication-Results"), &c(" other.example; spf=pass"));
        m.push_header(&c("Subject"), &c(" x"));
        m.push_header(&c("Authentication-Results"), &c(" mx.smtpy.test; dkim=pass"));
        assert_eq!(m.indices_where("authentication-results", |v| v.trim_start().starts_with("mx.smtpy.test")), vec![2]);
    }
}
