-- The engine store on PostgreSQL: the tables of the SQLite store (engine/store.go), with
-- times as Unix milliseconds as there, bodies as bytea and keys compared byte by byte
-- (COLLATE "C"), so both stores order and answer alike.

-- +goose Up
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE bundles (hash text PRIMARY KEY, bundle bytea NOT NULL, pushed_at text NOT NULL, pushed_by text NOT NULL);
-- No index by customer, as in SQLite: what reads a customer's events (unmerge, forget) is rare.
CREATE TABLE events (key text COLLATE "C" PRIMARY KEY, customer text NOT NULL, type text NOT NULL, at bigint NOT NULL, body bytea NOT NULL);
CREATE TABLE identity_log (seq bigserial PRIMARY KEY, record bytea NOT NULL);
-- One row a customer, replaced in place: PostgreSQL writes a new version of a row anyway, so
-- the append-only log the SQLite store keeps would only add compaction.
CREATE TABLE profiles (customer text PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE outbox (
	seq bigserial PRIMARY KEY, key text NOT NULL, customer text NOT NULL, name text NOT NULL,
	via text NOT NULL, to_addr text NOT NULL, subject text NOT NULL, text text NOT NULL, status text NOT NULL,
	reason text NOT NULL, attempts integer NOT NULL, next_at bigint NOT NULL, created_at bigint NOT NULL,
	sent_at bigint NOT NULL, message_id text NOT NULL, last_error text NOT NULL);
CREATE UNIQUE INDEX outbox_key ON outbox (key) WHERE status <> 'suppressed';
CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending';
CREATE TABLE codes (campaign text NOT NULL, idx integer NOT NULL, customer text NOT NULL, key text NOT NULL UNIQUE, at bigint NOT NULL, PRIMARY KEY (campaign, idx));
CREATE TABLE redemptions (code text NOT NULL, order_id text NOT NULL, campaign text NOT NULL, customer text NOT NULL, at bigint NOT NULL, PRIMARY KEY (code, order_id));
CREATE TABLE suppressions (hash bytea PRIMARY KEY);
CREATE TABLE poll_cursors (provider text PRIMARY KEY, cursor text NOT NULL, at bigint NOT NULL);
CREATE TABLE steps (seq bigserial PRIMARY KEY, key text NOT NULL, customer text NOT NULL, trigger text NOT NULL,
	action integer NOT NULL, type text NOT NULL, due bigint NOT NULL, waits boolean NOT NULL, created_at bigint NOT NULL,
	event_key text NOT NULL, event_type text NOT NULL, event bytea NOT NULL);
CREATE INDEX steps_due ON steps (due, seq);
CREATE INDEX steps_customer ON steps (customer);
CREATE TABLE audience_members (provider text NOT NULL, segment text NOT NULL, customer text NOT NULL, unmatched boolean NOT NULL, PRIMARY KEY (provider, segment, customer));
-- Which musubi serve leads (see engine/leader.go): its address, its sessions' application_name,
-- and the epoch each new leader increments. Every write transaction of a leader checks, under
-- a share lock of this row, that the epoch is still its own.
CREATE TABLE leader (id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, address text NOT NULL, app text NOT NULL);
INSERT INTO leader (id, epoch, address, app) VALUES (1, 0, '', '');
-- When the leader last said it was alive (the server's clock, milliseconds): a row of its own,
-- so renewing it never waits for a write transaction holding the leader row.
CREATE TABLE leader_heartbeat (id integer PRIMARY KEY CHECK (id = 1), at bigint NOT NULL);
INSERT INTO leader_heartbeat (id, at) VALUES (1, 0);

-- +goose Down
DROP TABLE leader_heartbeat, leader, audience_members, steps, poll_cursors, suppressions, redemptions, codes, outbox, profiles, identity_log, events, bundles, meta;
