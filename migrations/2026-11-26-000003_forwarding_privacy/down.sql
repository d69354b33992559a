ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('forwarded', 'rejected', 'bounced', 'replied'));
ALTER TABLE messages
    DROP COLUMN mode, DROP COLUMN subject, DROP COLUMN auth_spf, DROP COLUMN auth_dkim,
    DROP COLUMN auth_dmarc, DROP COLUMN auth_arc, DROP COLUMN contact_id, DROP COLUMN reverse_alias,
    DROP COLUMN bounce_status, DROP COLUMN bounce_diagnostic, DROP COLUMN bounced_at;
DROP TABLE notifications;
DROP TABLE contacts;
