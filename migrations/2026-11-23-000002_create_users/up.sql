-- Shoppers and staff. An email is unique regardless of case; the stored
-- spelling is the one given at sign-up. `password_hash` is an argon2id PHC
-- string, never a password.

CREATE TABLE users (
    id            SERIAL PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'customer',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 1 AND 255),
    CONSTRAINT users_role_known CHECK (role IN ('customer', 'admin')),
    CONSTRAINT users_password_hash_argon2id CHECK (starts_with(password_hash, '$argon2id$'))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
SELECT diesel_manage_updated_at('users');
