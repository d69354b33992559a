-- P4: how owners prove who they are over HTTP: cookie sessions and API keys.
-- Only SHA-256 hashes of the secrets are stored: a leaked table grants nothing. The secrets are
-- 256-bit random values, so a fast hash suffices (no salt or slow hash needed) and a lookup by
-- hash costs microseconds.

CREATE TABLE sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    csrf_token_hash BYTEA NOT NULL CHECK (length(csrf_token_hash) = 32),
    user_agent TEXT CHECK (length(user_agent) <= 512),
    -- A short label derived from the User-Agent ("Firefox on Linux").
    device TEXT CHECK (length(device) <= 100),
    ip TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Written at most once a minute per session, not on every request.
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_id ON sessions(user_id);

CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key after `smtpy_sk_`, so an owner can tell keys apart.
    prefix TEXT NOT NULL CHECK (length(prefix) = 8),
    key_hash BYTEA NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scope TEXT NOT NULL CHECK (scope IN ('read', 'full')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_user_id ON api_keys(user_id);

CREATE TRIGGER sessions_touch BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER api_keys_touch BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
