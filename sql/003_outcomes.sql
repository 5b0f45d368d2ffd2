-- When and why sessions end, and why calls were refused: what admin.stats and the metrics report.
alter table api_sessions add column ended_at timestamptz;
update api_sessions set ended_at = coalesce(logout_at, last_activity) where not is_active and ended_at is null;
create index api_sessions_ended on api_sessions (ended_at) where ended_at is not null;

-- The short reason behind a refusal: the fingerprint component for SESSION_INVALID (user-agent, ip,
-- language, client-fingerprint, uid, client), the end reason for SESSION_EXPIRED (idle, absolute).
alter table api_access_log add column reason text;
create index api_access_log_error_at on api_access_log (error_code, at desc) where error_code is not null;
