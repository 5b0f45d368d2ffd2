#!/usr/bin/env python3
"""The troubleshooting guide's flow as an Odoo-style client writes it: Python's standard library only
(urllib.request), JSON-RPC bodies with no "id", and r.json()-style parsing of every answer.

Usage: odoo_flow.py BASE_URL CLIENT_ID CLIENT_SECRET LOGIN PASSWORD
Prints one JSON object: each step's HTTP status, the answer's id (or "absent"), result keys or error.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, CLIENT_ID, CLIENT_SECRET, LOGIN, PASSWORD = sys.argv[1:6]
UA = "TestClient/1.0"  # the guide: one User-Agent on every request


def post(path, body, headers=None, form=False):
    data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded" if form else "application/json")
    request.add_header("User-Agent", UA)
    request.add_header("Accept-Language", "en-US")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read().decode())  # raises on an empty body
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def call(path, params, headers=None):
    # The guide's examples: {"jsonrpc": "2.0", "method": "call", "params": {...}}, no id.
    return post(path, {"jsonrpc": "2.0", "method": "call", "params": params}, headers)


def summary(status, answer):
    out = {"status": status, "id": answer.get("id", "absent") if isinstance(answer, dict) else "not an object"}
    if "result" in answer:
        out["result_keys"] = sorted(answer["result"].keys()) if isinstance(answer["result"], dict) else []
    if "error" in answer:
        error = answer["error"]
        out["error"] = error.get("message") if isinstance(error, dict) else error
        if isinstance(error, dict):
            out["error_status"] = error.get("status")
    return out


steps = {}
status, token = post("/api/v1/auth/token", {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, form=True)
steps["token"] = {"status": status, "token_type": token.get("token_type")}
bearer = {"Authorization": "Bearer " + token["access_token"]}

status, login = call("/api/v1/users/login", {"login": LOGIN, "password": PASSWORD}, bearer)
steps["login"] = summary(status, login)
session_id = login["result"]["session_id"]
steps["login"]["session_id_length"] = len(session_id)

steps["agents"] = summary(*call("/api/v1/agents", {"session_id": session_id, "limit": 10}, bearer))
steps["me"] = summary(*call("/api/v1/me", {"session_id": session_id}, bearer))
# Issue #1, Scenario A: session_id not sent.
steps["session_required"] = summary(*call("/api/v1/agents", {"limit": 10}, bearer))
# Issue #4, Scenario A: a truncated session_id.
steps["format"] = summary(*call("/api/v1/agents", {"session_id": session_id[:23], "limit": 10}, bearer))
# Issue #2: another User-Agent than at login.
steps["ua_mismatch"] = summary(*call("/api/v1/agents", {"session_id": session_id, "limit": 10}, {**bearer, "User-Agent": "PostmanRuntime/7.29.0"}))
# Odoo's envelope on a call.
steps["with_context"] = summary(*call("/api/v1/agents", {"session_id": session_id, "limit": 10, "context": {"lang": "en_US"}, "db": "odoo"}, bearer))
steps["logout"] = summary(*call("/api/v1/users/logout", {"session_id": session_id}, bearer))
# Issue #8: the same session after logout.
steps["after_logout"] = summary(*call("/api/v1/agents", {"session_id": session_id, "limit": 10}, bearer))
# The gateway's way to revoke a token: the token itself as the bearer, nothing else.
status, revoked = post("/api/v1/auth/revoke", {}, bearer, form=True)
steps["revoke"] = {"status": status, "body": revoked}
steps["after_revoke"] = summary(*call("/api/v1/agents", {"limit": 10}, bearer))
print(json.dumps({"steps": steps, "session_prefix": session_id[:8]}))
