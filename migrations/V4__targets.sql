-- Channels that send one notification to several targets (Slack channels,
-- Telegram chats, Twilio numbers, IRC targets) record each target's outcome:
-- {"<target>": {"status": "sent" | "failed", "error": "…"}}. A later attempt,
-- or a replay, sends only to the targets not marked sent.
ALTER TABLE notifications ADD COLUMN targets jsonb;
