-- Core tables of the walking skeleton: who owns what, where mail goes, and the message log.
-- Addresses and domain names are stored lower-cased; the CHECKs keep every writer honest.

CREATE FUNCTION smtpy_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- The milter caches recipient resolutions; any change to the tables it reads is announced on
-- this channel so every milter drops its cache within a round trip.
CREATE FUNCTION smtpy_notify_routing_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('smtpy_routing', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE domains (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE CHECK (name = lower(name)),
    verified BOOLEAN NOT NULL DEFAULT false,
    verified_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX domains_owner_id ON domains(owner_id);

CREATE TABLE mailboxes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT NOT NULL CHECK (address = lower(address)),
    verified BOOLEAN NOT NULL DEFAULT false,
    verified_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_id, address)
);

-- An alias is `local_part@domain`; the local part `*` is the domain's catch-all.
CREATE TABLE aliases (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    domain_id UUID NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    local_part TEXT NOT NULL CHECK (local_part = lower(local_part) AND local_part <> ''),
    address TEXT NOT NULL UNIQUE CHECK (address = lower(address)),
    enabled BOOLEAN NOT NULL DEFAULT true,
    mode TEXT NOT NULL DEFAULT 'privacy' CHECK (mode IN ('privacy', 'transparent')),
    note TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (domain_id, local_part)
);
CREATE INDEX aliases_owner_id ON aliases(owner_id);

CREATE TABLE alias_mailboxes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    alias_id UUID NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    -- A mailbox still targeted by an alias cannot vanish silently: the owner must retarget first.
    mailbox_id UUID NOT NULL REFERENCES mailboxes(id) ON DELETE RESTRICT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (alias_id, mailbox_id)
);
CREATE INDEX alias_mailboxes_mailbox_id ON alias_mailboxes(mailbox_id);

-- The message log: one row per (message, alias recipient).
CREATE TABLE messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    alias_id UUID REFERENCES aliases(id) ON DELETE SET NULL,
    recipient TEXT NOT NULL,
    envelope_sender TEXT NOT NULL,
    forwarded_to TEXT[] NOT NULL DEFAULT '{}',
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    status TEXT NOT NULL CHECK (status IN ('forwarded', 'rejected', 'bounced', 'replied')),
    queue_id TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_owner_received ON messages(owner_id, received_at DESC);
CREATE INDEX messages_alias_id ON messages(alias_id);
CREATE INDEX messages_queue_id ON messages(queue_id);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'domains', 'mailboxes', 'aliases', 'alias_mailboxes', 'messages'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at()', t || '_touch', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['users', 'domains', 'mailboxes', 'aliases', 'alias_mailboxes'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION smtpy_notify_routing_change()', t || '_notify', t);
    END LOOP;
END;
$$;
