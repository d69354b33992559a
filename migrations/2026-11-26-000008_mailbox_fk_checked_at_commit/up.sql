-- Deleting a user cascades to their aliases (and from there to the alias_mailboxes rows) and
-- to their mailboxes. Each cascade is a query of its own whose checks run when it ends, so
-- the check of a deleted mailbox (RESTRICT, or NO ACTION alike) could run before the alias
-- cascade had removed the rows that target it, and a user who still had an alias could not be
-- deleted (23503). Checked at commit instead, the account goes whole, and a mailbox that an
-- alias still targets still cannot be deleted on its own: the owner must retarget first.
ALTER TABLE alias_mailboxes
    DROP CONSTRAINT alias_mailboxes_mailbox_id_fkey,
    ADD CONSTRAINT alias_mailboxes_mailbox_id_fkey
        FOREIGN KEY (mailbox_id) REFERENCES mailboxes(id) DEFERRABLE INITIALLY DEFERRED;
