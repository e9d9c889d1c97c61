-- Customer notifications on e-mail, Telegram and WhatsApp, and the bots.

-- The customer's language for messages (NULL: the shop's default), the
-- linked Telegram chat, and why a channel was switched off by the provider
-- (blocked bot, undeliverable number): shown in GET /me.
ALTER TABLE users
    ADD COLUMN language text CHECK (language IN ('ru', 'en')),
    ADD COLUMN telegram_chat_id bigint,
    ADD COLUMN telegram_off_reason text,
    ADD COLUMN whatsapp_off_reason text;
CREATE UNIQUE INDEX users_telegram_chat_key ON users (telegram_chat_id) WHERE telegram_chat_id IS NOT NULL;

-- Single-use deep-link tokens (`t.me/<bot>?start=<token>`); only the hash is kept.
CREATE TABLE telegram_link_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX telegram_link_tokens_expiry ON telegram_link_tokens (expires_at);

-- Webhook deliveries (Telegram updates, WhatsApp envelopes), stored once by
-- the provider's id: a redelivery is a no-op. `inbound.*` jobs handle them.
CREATE TABLE inbound_updates (
    id          uuid PRIMARY KEY,
    channel     text NOT NULL CHECK (channel IN ('telegram', 'whatsapp')),
    external_id text NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);

-- When each WhatsApp user last wrote to us: free text is allowed for 24 h after.
CREATE TABLE whatsapp_contacts (
    wa_id           text PRIMARY KEY,
    last_inbound_at timestamptz NOT NULL
);

-- Every notification and bot reply, one row per (event, channel): the
-- idempotency of sending, and what admins see in GET /admin/messages.
CREATE TABLE messages (
    id          uuid PRIMARY KEY,
    channel     text NOT NULL CHECK (channel IN ('email', 'telegram', 'whatsapp')),
    event       text NOT NULL,
    user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    order_id    uuid REFERENCES orders (id) ON DELETE SET NULL,
    recipient   text NOT NULL,
    language    text NOT NULL CHECK (language IN ('ru', 'en')),
    body        jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'skipped')),
    provider_id text,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event, channel)
);
CREATE UNIQUE INDEX messages_provider_key ON messages (channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_created ON messages (created_at DESC, id DESC);
CREATE INDEX messages_user ON messages (user_id, created_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX messages_order ON messages (order_id) WHERE order_id IS NOT NULL;
