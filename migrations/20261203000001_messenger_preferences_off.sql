-- A messenger channel is off until the customer links it (hardening 17):
-- new accounts no longer start with Telegram on. Existing rows keep their
-- value; nothing is sent on a channel that is not linked.
ALTER TABLE users ALTER COLUMN notify_telegram SET DEFAULT false;
