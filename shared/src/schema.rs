// @generated automatically by Diesel CLI.

diesel::table! {
    activity_logs (id) {
        id -> Uuid,
        user_id -> Uuid,
        action -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    alias_mailboxes (id) {
        id -> Uuid,
        alias_id -> Uuid,
        mailbox_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    aliases (id) {
        id -> Uuid,
        owner_id -> Uuid,
        domain_id -> Uuid,
        local_part -> Text,
        address -> Text,
        enabled -> Bool,
        mode -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        prefix -> Text,
        key_hash -> Bytea,
        scope -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    backup_codes (id) {
        id -> Uuid,
        user_id -> Uuid,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        owner_id -> Uuid,
        alias_id -> Uuid,
        address -> Text,
        display_name -> Nullable<Text>,
        reverse_address -> Text,
        blocked -> Bool,
        block_action -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    dkim_keys (id) {
        id -> Uuid,
        domain_id -> Uuid,
        selector -> Text,
        algorithm -> Text,
        private_key_sealed -> Text,
        public_key -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    domains (id) {
        id -> Uuid,
        owner_id -> Uuid,
        name -> Text,
        verified -> Bool,
        verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        purpose -> Text,
        token_hash -> Bytea,
        email -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        code_hash -> Bytea,
        email -> Nullable<Text>,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        used_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    known_devices (id) {
        id -> Uuid,
        user_id -> Uuid,
        device -> Nullable<Text>,
        ip -> Nullable<Text>,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    mailboxes (id) {
        id -> Uuid,
        owner_id -> Uuid,
        address -> Text,
        verified -> Bool,
        verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        owner_id -> Uuid,
        alias_id -> Nullable<Uuid>,
        recipient -> Text,
        envelope_sender -> Text,
        forwarded_to -> Array<Nullable<Text>>,
        size_bytes -> Int8,
        status -> Text,
        queue_id -> Nullable<Text>,
        received_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        mode -> Nullable<Text>,
        subject -> Nullable<Text>,
        auth_spf -> Nullable<Text>,
        auth_dkim -> Nullable<Text>,
        auth_dmarc -> Nullable<Text>,
        auth_arc -> Nullable<Text>,
        contact_id -> Nullable<Uuid>,
        reverse_alias -> Nullable<Text>,
        bounce_status -> Nullable<Text>,
        bounce_diagnostic -> Nullable<Text>,
        bounced_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        title -> Text,
        body -> Text,
        message_id -> Nullable<Uuid>,
        read_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    rate_limits (bucket, key, window_start) {
        bucket -> Text,
        key -> Text,
        window_start -> Timestamptz,
        expires_at -> Timestamptz,
        count -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        csrf_token_hash -> Bytea,
        user_agent -> Nullable<Text>,
        device -> Nullable<Text>,
        ip -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    totp_secrets (id) {
        id -> Uuid,
        user_id -> Uuid,
        secret_sealed -> Text,
        confirmed_at -> Nullable<Timestamptz>,
        last_used_step -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_preferences (id) {
        id -> Uuid,
        user_id -> Uuid,
        email_notifications -> Bool,
        marketing_emails -> Bool,
        security_alerts -> Bool,
        weekly_reports -> Bool,
        theme -> Text,
        language -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deletion_requested_at -> Nullable<Timestamptz>,
        deletion_scheduled_at -> Nullable<Timestamptz>,
        email_verified_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(activity_logs -> users (user_id));
diesel::joinable!(alias_mailboxes -> aliases (alias_id));
diesel::joinable!(alias_mailboxes -> mailboxes (mailbox_id));
diesel::joinable!(aliases -> domains (domain_id));
diesel::joinable!(aliases -> users (owner_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(backup_codes -> users (user_id));
diesel::joinable!(contacts -> aliases (alias_id));
diesel::joinable!(contacts -> users (owner_id));
diesel::joinable!(dkim_keys -> domains (domain_id));
diesel::joinable!(domains -> users (owner_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::joinable!(invitations -> users (used_by));
diesel::joinable!(known_devices -> users (user_id));
diesel::joinable!(mailboxes -> users (owner_id));
diesel::joinable!(messages -> aliases (alias_id));
diesel::joinable!(messages -> contacts (contact_id));
diesel::joinable!(messages -> users (owner_id));
diesel::joinable!(notifications -> messages (message_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_secrets -> users (user_id));
diesel::joinable!(user_preferences -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    activity_logs,
    alias_mailboxes,
    aliases,
    api_keys,
    backup_codes,
    contacts,
    dkim_keys,
    domains,
    email_tokens,
    invitations,
    known_devices,
    mailboxes,
    messages,
    notifications,
    rate_limits,
    sessions,
    totp_secrets,
    user_preferences,
    users,
);
