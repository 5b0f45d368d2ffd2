-- Which object a call named (agents.update's id, admin.sessions.revoke's id or user_id...), and the
-- X-Request-Id the caller sent, kept beside the service's own request_id (never instead of it).
alter table api_access_log add column target_id text;
alter table api_access_log add column client_request_id text;
create index api_access_log_client_request_id on api_access_log (client_request_id) where client_request_id is not null;
