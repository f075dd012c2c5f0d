-- tollgate ledger, SQLite. Keep in step with ../postgres/0001_ledger.sql; docs/ledger.md describes both.
CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL UNIQUE,
    status              TEXT    NOT NULL CHECK (status IN ('active', 'suspended')),
    billing             TEXT    NOT NULL CHECK (billing IN ('prepaid', 'postpaid')),
    currency            TEXT    NOT NULL,
    balance_micros      BIGINT  NOT NULL DEFAULT 0,
    credit_limit_micros BIGINT  NOT NULL DEFAULT 0 CHECK (credit_limit_micros >= 0),
    price_micros        BIGINT,
    quota_per_day       BIGINT,
    quota_day           BIGINT  NOT NULL DEFAULT 0,
    quota_used          BIGINT  NOT NULL DEFAULT 0,
    created_ms          BIGINT  NOT NULL,
    CHECK (balance_micros >= -credit_limit_micros)
);

CREATE TABLE identities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT  NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('key', 'jwk', 'license')),
    lookup      TEXT    NOT NULL UNIQUE,
    label       TEXT    NOT NULL UNIQUE,
    created_ms  BIGINT  NOT NULL,
    expires_ms  BIGINT,
    revoked_ms  BIGINT
);
CREATE INDEX identities_account ON identities (account_id);

CREATE TABLE chain_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT  NOT NULL,
    last_hash TEXT    NOT NULL
);
INSERT INTO chain_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE entries (
    id           INTEGER PRIMARY KEY,
    time_ms      BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    identity     TEXT    NOT NULL,
    agent        TEXT,
    method       TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    bytes        BIGINT  NOT NULL,
    currency     TEXT    NOT NULL,
    price_micros BIGINT  NOT NULL,
    rule         TEXT,
    request_id   TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);
CREATE INDEX entries_account_time ON entries (account, time_ms);
CREATE INDEX entries_request_id ON entries (request_id);
