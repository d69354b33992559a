//! Assertions shared by the end-to-end tests.

use smtpy_e2e::Delivered;

/// Header fields the path may add in front of a forwarded message: Postfix's `Received:` and
/// what the milter adds (its checks' results and signatures).
const ADDED_IN_TRANSIT: [&str; 7] = [
    "Received: ",
    "Authentication-Results: ",
    "DKIM-Signature: ",
    "ARC-Seal: ",
    "ARC-Message-Signature: ",
    "ARC-Authentication-Results: ",
    "X-SMTPy-",
];

/// Header fields privacy mode rewrites (DESIGN §2).
const REWRITTEN: [&str; 2] = ["From: ", "Reply-To: "];

/// Splits a message into its header lines (unfolded) and its body.
fn split(message: &[u8]) -> (Vec<String>, &[u8]) {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&message[..end]).replace("\r\n\t", " ").replace("\r\n ", " ");
    (head.split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect(), &message[end..])
}

/// Asserts that `delivered` is `sent` in transit: the body byte for byte, every header field
/// unchanged but those privacy mode rewrites, and nothing added but transit fields (with
/// Postfix's `Received:` among them).
pub fn assert_forwarded_copy(delivered: &[u8], sent: &[u8]) {
    let (sent_head, sent_body) = split(sent);
    let (head, body) = split(delivered);
    assert_eq!(
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(sent_body),
        "body changed in transit:\n--- delivered ---\n{}",
        String::from_utf8_lossy(delivered)
    );
    for line in &sent_head {
        if !REWRITTEN.iter().any(|h| line.starts_with(h)) {
            assert!(head.contains(line), "header {line:?} lost or changed in transit:\n{head:#?}");
        }
    }
    assert!(head.iter().any(|l| l.starts_with("Received: ")), "no Received: header added in transit:\n{head:#?}");
    for line in head.iter().filter(|l| !sent_head.contains(l)) {
        assert!(
            ADDED_IN_TRANSIT.iter().chain(REWRITTEN.iter()).any(|h| line.starts_with(h)),
            "unexpected header added in transit: {line:?}"
        );
    }
}

/// All recipients of `delivered`, sorted.
pub fn recipients(delivered: &[Delivered]) -> Vec<String> {
    let mut all: Vec<String> = delivered.iter().flat_map(|d| d.rcpt_to.clone()).collect();
    all.sort();
    all
}

/// The deliveries that carry `message` (matched on its exact body).
pub fn copies_of<'a>(delivered: &'a [Delivered], message: &[u8]) -> Vec<&'a Delivered> {
    let body = split(message).1;
    delivered.iter().filter(|d| split(&d.data).1 == body).collect()
}

/// `address` without the angle brackets Postfix may keep.
pub fn bare(address: &str) -> &str {
    address.trim_start_matches('<').trim_end_matches('>')
}

/// The values of header `name` in `message` (case-insensitive, unfolded, trimmed).
pub fn header_values(message: &[u8], name: &str) -> Vec<String> {
    split(message)
        .0
        .iter()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}
