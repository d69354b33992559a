//! The one place that turns a verdict into an SMTP reply.

use indymilter::{SetErrorReply, SmtpReply, Status};

/// What we answer Postfix for one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on (recipient kept for end-of-message work, or not ours).
    Continue,
    /// No alias or catch-all takes the address.
    UnknownRecipient,
    /// The alias exists but is switched off.
    DisabledAlias,
    /// The alias exists but has no verified mailbox.
    NoMailbox,
    /// The address cannot be parsed.
    BadAddress,
    /// A bounce or SRS address of ours that does not verify (forged, tampered, expired).
    InvalidReturnPath,
    /// Recorded and not to be relayed: accept and drop.
    Discard,
    /// Someone other than the alias owner writes to a reverse alias.
    NotOwner,
    /// The owner's reply is not authenticated by the mailbox's domain.
    ReplyNotAuthenticated,
    /// A reply through a reverse alias mixed with other recipients.
    MixedReply,
    /// The owner blocked this contact (action: reject).
    BlockedContact,
    /// The message fails DMARC and its From domain publishes `p=reject`.
    DmarcReject,
    /// Database unreachable or slow: ask the sender to retry.
    LookupTempfail,
    /// Anything else that went wrong on our side: ask the sender to retry.
    InternalTempfail,
}

impl Verdict {
    /// The status alone.
    pub fn status(self) -> Status {
        self.reply().map_or(Status::Continue, |(_, _, _, status)| status)
    }

    fn reply(self) -> Option<(&'static str, &'static str, &'static str, Status)> {
        Some(match self {
            Self::Continue => return None,
            Self::UnknownRecipient => {
                ("550", "5.1.1", "Recipient address rejected: no such address here", Status::Reject)
            }
            Self::DisabledAlias => (
                "550",
                "5.1.1",
                "Recipient address rejected: this alias has been disabled by its owner",
                Status::Reject,
            ),
            Self::NoMailbox => {
                ("550", "5.1.1", "Recipient address rejected: this alias has no verified mailbox", Status::Reject)
            }
            Self::BadAddress => ("550", "5.1.3", "Recipient address rejected: bad address syntax", Status::Reject),
            Self::InvalidReturnPath => {
                ("550", "5.1.1", "Recipient address rejected: invalid or expired return address", Status::Reject)
            }
            Self::NotOwner => (
                "550",
                "5.7.1",
                "Recipient address rejected: only the alias owner may send through this address",
                Status::Reject,
            ),
            Self::ReplyNotAuthenticated => (
                "550",
                "5.7.1",
                "Message rejected: your domain did not authenticate it (DMARC, DKIM or SPF)",
                Status::Reject,
            ),
            Self::MixedReply => (
                "550",
                "5.7.1",
                "Message rejected: send a reply through an alias without other recipients",
                Status::Reject,
            ),
            Self::BlockedContact => {
                ("550", "5.7.1", "Message rejected: the recipient does not accept mail from you", Status::Reject)
            }
            Self::Discard => return Some(("250", "2.0.0", "", Status::Discard)),
            Self::DmarcReject => {
                ("550", "5.7.1", "Message rejected: it fails DMARC and its domain's policy is reject", Status::Reject)
            }
            Self::LookupTempfail => {
                ("451", "4.3.0", "Temporary lookup failure, please try again later", Status::Tempfail)
            }
            Self::InternalTempfail => {
                ("451", "4.3.0", "Temporary local problem, please try again later", Status::Tempfail)
            }
        })
    }

    /// Sets the reply text on `reply` and returns the status to hand indymilter.
    pub fn apply(self, reply: &mut SmtpReply) -> Status {
        let Some((code, xcode, text, status)) = self.reply() else {
            return Status::Continue;
        };
        if status == Status::Discard {
            return status;
        }
        if let Err(e) = reply.set_error_reply(code, Some(xcode), [text]) {
            // Only a programming error (bad code or text) gets here; Postfix then uses its own
            // text for the same status.
            tracing::error!("cannot set SMTP reply {code} {xcode}: {e}");
        }
        self.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_status() {
        // SmtpReply cannot be built outside indymilter, so the text itself is checked through
        // the milter protocol tests; here only the status mapping.
        let cases = [
            (Verdict::UnknownRecipient, Status::Reject),
            (Verdict::DisabledAlias, Status::Reject),
            (Verdict::NoMailbox, Status::Reject),
            (Verdict::BadAddress, Status::Reject),
            (Verdict::DmarcReject, Status::Reject),
            (Verdict::InvalidReturnPath, Status::Reject),
            (Verdict::Discard, Status::Discard),
            (Verdict::NotOwner, Status::Reject),
            (Verdict::ReplyNotAuthenticated, Status::Reject),
            (Verdict::MixedReply, Status::Reject),
            (Verdict::BlockedContact, Status::Reject),
            (Verdict::LookupTempfail, Status::Tempfail),
            (Verdict::InternalTempfail, Status::Tempfail),
        ];
        for (verdict, status) in cases {
            assert_eq!(verdict.status(), status, "{verdict:?}");
        }
    }
}
