-- Who acted when the caller is not a Tether user: an operator's command line (`cli:<os user>`).
-- Calls over HTTP leave it null (their user_id and client_id say who called).
alter table api_access_log add column actor text;
