ALTER TABLE alias_mailboxes
    DROP CONSTRAINT alias_mailboxes_mailbox_id_fkey,
    ADD CONSTRAINT alias_mailboxes_mailbox_id_fkey
        FOREIGN KEY (mailbox_id) REFERENCES mailboxes(id) ON DELETE RESTRICT;
