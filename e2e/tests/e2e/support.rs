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

/// Asserts that `delivered` is `sent` with only transit header fields in front, and that
/// Postfix's `Received:` is among them.
pub fn assert_forwarded_copy(delivered: &[u8], sent: &[u8]) {
    assert!(
        delivered.ends_with(sent),
        "delivered bytes do not end with the sent message:\n--- delivered ---\n{}\n--- sent ---\n{}",
        String::from_utf8_lossy(delivered),
        String::from_utf8_lossy(sent)
    );
    let added = String::from_utf8_lossy(&delivered[..delivered.len() - sent.len()]).into_owned();
    assert!(added.contains("Received: "), "no Received: header added in transit:\n{added}");
    for line in added.split_terminator("\r\n") {
        assert!(
            ADDED_IN_TRANSIT.iter().any(|h| line.starts_with(h)) || line.starts_with([' ', '\t']),
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

/// The deliveries that carry `message` (matched on its exact bytes).
pub fn copies_of<'a>(delivered: &'a [Delivered], message: &[u8]) -> Vec<&'a Delivered> {
    delivered.iter().filter(|d| d.data.ends_with(message)).collect()
}

/// `address` without the angle brackets Postfix may keep.
pub fn bare(address: &str) -> &str {
    address.trim_start_matches('<').trim_end_matches('>')
}
