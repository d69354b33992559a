-- P4: a second factor (TOTP, RFC 6238) with single-use backup codes, invitation codes for
-- invite-only registration, and the grace period before an account is deleted.

-- One TOTP secret per account. The secret is sealed (AES-256-GCM under `[secrets] key_file`,
-- bound to the account's id), so a dump of this table alone cannot produce codes.
-- `confirmed_at` NULL means pending: `POST /auth/2fa/enable` stored it and no code from it has
-- been seen yet, so login ignores it; an account has two-factor on once it is confirmed.
CREATE TABLE totp_secrets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL CHECK (secret_sealed <> ''),
    confirmed_at TIMESTAMPTZ,
    -- RFC 6238 §5.2: a code is accepted once. This is the last time step (unix time / 30) a
    -- code was accepted for; codes of this step or an earlier one are refused.
    last_used_step BIGINT CHECK (last_used_step >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Backup codes: SHA-256 of a random 80-bit code (shown once), single use. A new set replaces
-- the old one whole, so rows are deleted rather than kept as history.
CREATE TABLE backup_codes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL CHECK (length(code_hash) = 32),
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Also the index for the per-account lookups.
    UNIQUE (user_id, code_hash)
);

-- Invitations to register when `[api] registration = "invite"`, made by a sysadmin with
-- `smtpy-admin user invite`. Only the SHA-256 of the 128-bit code is stored; single use.
CREATE TABLE invitations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    code_hash BYTEA NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    -- When set, only this address may register with the code.
    email TEXT CHECK (email = lower(email)),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    -- The account registered with it; SET NULL keeps the record that the code was spent.
    used_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (used_by IS NULL OR used_at IS NOT NULL)
);

-- An owner may ask for their account to be deleted; it is purged after a grace period (30
-- days) during which they can still log in and cancel. Both dates are set or neither.
ALTER TABLE users
    ADD COLUMN deletion_requested_at TIMESTAMPTZ,
    ADD COLUMN deletion_scheduled_at TIMESTAMPTZ,
    ADD CONSTRAINT users_deletion_dates CHECK (
        (deletion_requested_at IS NULL) = (deletion_scheduled_at IS NULL)
        AND (deletion_scheduled_at IS NULL OR deletion_scheduled_at > deletion_requested_at)
    );
-- The purge job looks only for due accounts.
CREATE INDEX users_deletion_scheduled_at ON users(deletion_scheduled_at) WHERE deletion_scheduled_at IS NOT NULL;

CREATE TRIGGER totp_secrets_touch BEFORE UPDATE ON totp_secrets FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER backup_codes_touch BEFORE UPDATE ON backup_codes FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER invitations_touch BEFORE UPDATE ON invitations FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
