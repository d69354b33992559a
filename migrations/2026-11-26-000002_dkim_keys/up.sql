-- DKIM keys of hosted domains. The private key is sealed (AES-256-GCM under the `[secrets]`
-- key, `shared/src/sealed.rs`) so a database dump alone cannot sign mail as our domains.

CREATE TABLE dkim_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    domain_id UUID NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    -- One DNS label (RFC 6376 §3.1), stored lower-cased as it is published.
    selector TEXT NOT NULL CHECK (selector ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    -- `v1:` + base64(nonce || ciphertext || tag) of the PKCS#8 DER private key.
    private_key_sealed TEXT NOT NULL CHECK (private_key_sealed LIKE 'v1:%'),
    -- Base64 exactly as it goes in the record's p= tag.
    public_key TEXT NOT NULL CHECK (public_key <> ''),
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (domain_id, selector, algorithm)
);

CREATE TRIGGER dkim_keys_touch BEFORE UPDATE ON dkim_keys
    FOR EACH ROW EXECUTE FUNCTION smtpy_touch_updated_at();
-- Milters hold the signing keys in memory; any change must make them reload.
CREATE TRIGGER dkim_keys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dkim_keys
    FOR EACH STATEMENT EXECUTE FUNCTION smtpy_notify_routing_change();
