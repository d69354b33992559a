-- P4: the owner's audit trail and the counters behind the API's rate limits.

-- What happened to an account, for its owner to review (GET /activity-logs). Rows are
-- append-only. The action names are an enum in the code (`ActivityAction`); the CHECK only
-- keeps their shape, so a new action needs no migration.
-- Login failures for an unknown email are not recorded: no owner could ever read them.
CREATE TABLE activity_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- An account's trail goes with the account.
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action TEXT NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- The client address as the API saw it (see [api] trusted_proxies).
    ip TEXT CHECK (length(ip) <= 64),
    user_agent TEXT CHECK (length(user_agent) <= 512),
    -- What the action concerned (a key's id and name, a session's id, a failure's reason).
    details JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Every read is one owner's rows, newest first, optionally within a time range.
CREATE INDEX activity_logs_user_created ON activity_logs(user_id, created_at DESC, id DESC);
CREATE TRIGGER activity_logs_touch BEFORE UPDATE ON activity_logs FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();

-- Fixed-window attempt counters shared by every API instance: one row per (limit, client key,
-- window), bumped with INSERT ... ON CONFLICT DO UPDATE so concurrent instances count exactly.
-- A row lives one window (then the periodic cleanup deletes it), so it has its natural key
-- rather than a UUID and no updated_at. UNLOGGED: no WAL for a write per login attempt; a
-- Postgres crash empties the table, which only forgives the attempts of the current window.
CREATE UNLOGGED TABLE rate_limits (
    -- Which limit: login, register, password_reset, ...
    bucket TEXT NOT NULL CHECK (bucket ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- Whom it counts: `ip:<address or IPv6 /64>`, `email:<SHA-256 hex>`, `user:<uuid>`.
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
    window_start TIMESTAMPTZ NOT NULL,
    -- The window's end: when the counter no longer applies and the row may be deleted.
    expires_at TIMESTAMPTZ NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, key, window_start),
    CHECK (expires_at > window_start)
);
CREATE INDEX rate_limits_expires_at ON rate_limits(expires_at);
