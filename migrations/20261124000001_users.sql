-- Accounts. E-mail uniqueness is case-insensitive.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('customer', 'vendor', 'admin')),
    phone         text,
    notify_email    boolean NOT NULL DEFAULT true,
    notify_telegram boolean NOT NULL DEFAULT true,
    notify_whatsapp boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
