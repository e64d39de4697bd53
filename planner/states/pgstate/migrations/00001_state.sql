-- The state of each named state (one per environment), the steps of a running apply, and who
-- holds each state's lock. The lock itself is a session advisory lock; its row here only
-- says who holds it, for messages and force-unlock.

-- +goose Up
CREATE TABLE states (
    name       text PRIMARY KEY,
    lineage    text NOT NULL,
    serial     bigint NOT NULL,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal (
    name       text NOT NULL,
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    step       jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, seq)
);

CREATE TABLE locks (
    name        text PRIMARY KEY,
    id          text NOT NULL,
    info        jsonb NOT NULL,
    backend_pid integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE locks;
DROP TABLE journal;
DROP TABLE states;
