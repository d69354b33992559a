DROP INDEX users_deletion_scheduled_at;
ALTER TABLE users
    DROP CONSTRAINT users_deletion_dates,
    DROP COLUMN deletion_scheduled_at,
    DROP COLUMN deletion_requested_at;
DROP TABLE invitations;
DROP TABLE backup_codes;
DROP TABLE totp_secrets;
