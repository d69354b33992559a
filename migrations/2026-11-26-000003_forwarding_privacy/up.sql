-- P2: contacts with reverse aliases, owner notifications, and a richer message log.

-- One row per (alias, external sender): the sender's reverse alias, through which the owner
-- replies without revealing their mailbox.
CREATE TABLE contacts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    alias_id UUID NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    -- The external sender, lower-cased.
    address TEXT NOT NULL CHECK (address = lower(address)),
    display_name TEXT,
    -- The reverse alias, `local@alias-domain`, lower-cased and unguessable.
    reverse_address TEXT NOT NULL UNIQUE CHECK (reverse_address = lower(reverse_address)),
    blocked BOOLEAN NOT NULL DEFAULT false,
    -- What happens to a blocked contact's mail: refused at SMTP time or silently dropped.
    block_action TEXT NOT NULL DEFAULT 'reject' CHECK (block_action IN ('reject', 'discard')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (alias_id, address)
);
CREATE INDEX contacts_owner_id ON contacts(owner_id);

CREATE TABLE notifications (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    message_id UUID REFERENCES messages(id) ON DELETE SET NULL,
    read_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_created ON notifications(user_id, created_at DESC);

ALTER TABLE messages
    ADD COLUMN mode TEXT CHECK (mode IN ('privacy', 'transparent', 'reply')),
    ADD COLUMN subject TEXT,
    ADD COLUMN auth_spf TEXT,
    ADD COLUMN auth_dkim TEXT,
    ADD COLUMN auth_dmarc TEXT,
    ADD COLUMN auth_arc TEXT,
    ADD COLUMN contact_id UUID REFERENCES contacts(id) ON DELETE SET NULL,
    ADD COLUMN reverse_alias TEXT,
    ADD COLUMN bounce_status TEXT,
    ADD COLUMN bounce_diagnostic TEXT,
    ADD COLUMN bounced_at TIMESTAMPTZ;
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('forwarded', 'rejected', 'bounced', 'replied', 'quarantined', 'discarded'));

CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
CREATE TRIGGER notifications_touch BEFORE UPDATE ON notifications FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
-- New contacts need no announcement (nobody can have cached an address that did not exist);
-- blocking or deleting one must reach every milter at once.
CREATE TRIGGER contacts_notify AFTER UPDATE OR DELETE OR TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION smtpy_notify_routing_change();
