-- P4: mail the API sends about an account: address verification, password reset, and alerts
-- on a sign-in from a new device, with the owner's preferences that govern them.

-- Set when the owner proved they read mail at this address (a verification or reset link).
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- Single-use tokens mailed to the owner. Only SHA-256 hashes are stored (the tokens are 256-bit
-- random values, so a fast hash suffices): a leaked table grants nothing.
CREATE TABLE email_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The address the token was mailed to: it verifies that address, not whatever the account's
    -- address is when the link is followed.
    email TEXT NOT NULL CHECK (email = lower(email)),
    expires_at TIMESTAMPTZ NOT NULL,
    -- Set when the token is spent; a spent token is refused, and kept so the refusal can say why.
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at)
);
CREATE INDEX email_tokens_user_id ON email_tokens(user_id, purpose);

-- One row per account at most; no row means every default below.
CREATE TABLE user_preferences (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    email_notifications BOOLEAN NOT NULL DEFAULT true,
    marketing_emails BOOLEAN NOT NULL DEFAULT false,
    -- On by default: a sign-in from a new device is worth an owner's attention.
    security_alerts BOOLEAN NOT NULL DEFAULT true,
    weekly_reports BOOLEAN NOT NULL DEFAULT false,
    theme TEXT NOT NULL DEFAULT 'auto' CHECK (theme IN ('light', 'dark', 'auto')),
    -- A short language tag (the API accepts only the languages it lists).
    language TEXT NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Devices an account has signed in from, so a sign-in from a new one can be mailed about.
-- Kept apart from `sessions`, whose rows may be purged once they end.
CREATE TABLE known_devices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The label derived from the User-Agent ("Firefox on Linux"); NULL when none was recognised.
    device TEXT CHECK (length(device) <= 100),
    -- The client address; NULL when unknown.
    ip TEXT,
    first_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- An unrecognised User-Agent or an unknown address is still one device, not a new one each time.
    UNIQUE NULLS NOT DISTINCT (user_id, device, ip)
);

CREATE TRIGGER email_tokens_touch BEFORE UPDATE ON email_tokens FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER user_preferences_touch BEFORE UPDATE ON user_preferences FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER known_devices_touch BEFORE UPDATE ON known_devices FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
