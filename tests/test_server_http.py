"""The HTTP API (`app.serve()`): every endpoint, format, status code and error body, CORS, the
admin key and bad input, with real HTTP requests against a served App."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import struct
import threading
import urllib.parse

import pytest

from convex_lab import App, ConvexError, Int64, v

REQUEST_ID = re.compile(r"^\[Request ID: [0-9a-f]{16}\] Server Error\n")


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:300]!r}>"


def send(url: str, method: str, path: str, body=None, *, headers=None, raw: bytes | None = None,
         content_type: str | None = "application/json") -> Reply:
    """One request on a fresh connection; `body` is sent as JSON, `raw` as it is."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    all_headers = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and content_type is not None:
        all_headers.setdefault("Content-Type", content_type)
    try:
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def post(url: str, path: str, body=None, **kwargs) -> Reply:
    return send(url, "POST", path, body, **kwargs)


def error_message(reply: Reply) -> str:
    """The function error's message, without its `[Request ID: …] Server Error` head."""
    assert reply.status == 200, reply
    body = reply.json
    assert body["status"] == "error", body
    assert REQUEST_ID.match(body["errorMessage"]), body["errorMessage"]
    return REQUEST_ID.sub("", body["errorMessage"])


def protocol_error(reply: Reply, status: int, code: str) -> str:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    body = reply.json
    assert set(body) == {"code", "message"} and body["code"] == code, body
    return body["message"]


def define(app: App) -> dict:
    """The functions the tests call."""
    release = threading.Event()

    @app.query(args={"n": v.number()})
    def double(ctx, n):
        print("doubling", n)
        return n * 2

    @app.query
    def echo(ctx, **args):
        return args

    @app.query
    def values(ctx):
        return {"int": Int64(33), "bytes": b"\x00\x01", "nan": float("nan"), "inf": float("inf"),
                "ninf": float("-inf"), "nzero": -0.0, "big": 1e16, "float": 1.5, "text": "hi",
                "list": [None, True]}

    @app.mutation(args={"body": v.string()})
    def add(ctx, body):
        return ctx.db.insert("notes", {"body": body})

    @app.query
    def count(ctx):
        return len(ctx.db.query("notes").collect())

    @app.query
    def fails(ctx):
        print("about to fail")
        raise ValueError("boom")

    @app.mutation
    def refuses(ctx):
        raise ConvexError({"code": Int64(42), "blob": b"\x01", "why": "no"})

    @app.query
    def refuses_text(ctx):
        raise ConvexError("plain words")

    @app.internal_query
    def secret(ctx):
        return "the secret"

    @app.query
    def whoami(ctx):
        return ctx.auth.get_user_identity()

    @app.action
    def sync_action(ctx, n):
        return ctx.run_query(double, {"n": n}) + 1

    @app.action
    async def async_action(ctx, n):
        return await ctx.run_query(double, {"n": n}) + 2

    @app.action
    def waits(ctx):
        return release.wait(60)

    @app.query(name="admin/users:list")
    def users_list(ctx):
        return ["ada"]

    @app.query(name="messages:default")
    def messages_default(ctx):
        return "default export"

    return {"release": release}


@pytest.fixture
def served(tmp_path):
    app = App()
    extras = define(app)
    url = app.serve()
    yield app, url, extras
    extras["release"].set()
    app.close()


# -- serving ------------------------------------------------------------------------------------


def test_serve_returns_a_loopback_url_without_trailing_slash(served):
    app, url, _ = served
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert app.serve() == url  # serving already: the same URL


def test_stop_serving_closes_the_port_and_serve_starts_again(served):
    app, url, _ = served
    app.stop_serving()
    with pytest.raises(OSError):
        send(url, "GET", "/version")
    app.stop_serving()  # idempotent
    again = app.serve()
    assert send(again, "GET", "/version").status == 200


def test_close_stops_the_server():
    app = App()
    url = app.serve()
    app.close()
    with pytest.raises(OSError):
        send(url, "GET", "/version")
    assert not [t for t in threading.enumerate() if t.name == "convex_lab-server"]


def test_serve_on_a_given_port_and_a_taken_one():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    app = App()
    try:
        with pytest.raises(OSError):
            app.serve(port=taken)
        holder.close()  # now it is free: serve there
        assert app.serve(port=taken) == f"http://127.0.0.1:{taken}"
    finally:
        holder.close()
        app.close()


def test_serve_elsewhere_moves_the_server(served):
    app, url, _ = served
    elsewhere = app.serve(host="localhost")
    assert elsewhere.startswith("http://localhost:") and elsewhere != url
    assert send(elsewhere, "GET", "/version").status == 200
    with pytest.raises(OSError):
        send(url, "GET", "/version")


def test_version_routes(served):
    _, url, _ = served
    reply = send(url, "GET", "/version")
    assert reply.status == 200 and reply.body.decode().startswith("convex_lab-")
    assert send(url, "GET", "/instance_version").body == reply.body
    assert send(url, "GET", "/instance_name").status == 200


def test_unknown_route_is_404_json(served):
    _, url, _ = served
    message = protocol_error(send(url, "GET", "/api/nope"), 404, "NotFound")
    assert "/api/nope" in message


def test_a_request_is_answered_while_a_function_blocks(served):
    # Functions run off the server's loop: a blocked action does not hold up other requests.
    app, url, extras = served
    result: list = []
    blocked = threading.Thread(target=lambda: result.append(post(url, "/api/action", {"path": "notebook:waits", "args": {}})))
    blocked.start()
    try:
        reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}})
        assert reply.json["value"] == 2
        assert not result  # the action is still waiting
    finally:
        extras["release"].set()
        blocked.join(60)
    assert result[0].json == {"status": "success", "value": True}


# -- the function endpoints -----------------------------------------------------------------------


def test_query_success_with_log_lines(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 2}})
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.json == {"status": "success", "value": 4, "logLines": ["[LOG] doubling 2.0"]}


def test_log_lines_are_omitted_when_empty(served):
    _, url, _ = served
    assert post(url, "/api/query", {"path": "notebook:echo", "args": {}}).json == {"status": "success", "value": {}}


def test_args_as_object_or_one_element_array(served):
    _, url, _ = served
    as_object = post(url, "/api/query", {"path": "notebook:echo", "args": {"a": 1}})
    as_array = post(url, "/api/query", {"path": "notebook:echo", "args": [{"a": 1}]})
    assert as_object.json["value"] == as_array.json["value"] == {"a": 1}


def test_args_are_convex_json_whatever_the_format(served):
    _, url, _ = served
    args = {"i": {"$integer": base64.b64encode(struct.pack("<q", 7)).decode()}, "b": {"$bytes": "AAE="}}
    reply = post(url, "/api/query", {"path": "notebook:echo", "args": args, "format": "convex_encoded_json"})
    assert reply.json["value"] == args


def test_mutation_commits_and_returns_the_id(served):
    app, url, _ = served
    reply = post(url, "/api/mutation", {"path": "notebook:add", "args": {"body": "hi"}})
    new_id = reply.json["value"]
    assert app.run("notebook:count") == 1
    assert app.table("notes").df()["_id"].tolist() == [new_id]


def test_mutation_over_http_reaches_subscribers(served):
    app, url, _ = served
    seen = []
    sub = app.subscribe("notebook:count", {}, seen.append)
    post(url, "/api/mutation", {"path": "notebook:add", "args": {"body": "hi"}})
    app.flush()
    assert seen == [0, 1]
    sub.unsubscribe()


def test_actions_plain_and_async(served):
    _, url, _ = served
    assert post(url, "/api/action", {"path": "notebook:sync_action", "args": {"n": 1}}).json["value"] == 3
    reply = post(url, "/api/action", {"path": "notebook:async_action", "args": {"n": 1}})
    assert reply.json == {"status": "success", "value": 4, "logLines": ["[LOG] doubling 1.0"]}


def test_executions_are_logged_with_caller_http(served):
    app, url, _ = served
    post(url, "/api/query", {"path": "notebook:double", "args": {"n": 2}})
    logs = app.logs()
    row = logs[logs.path == "notebook:double"].iloc[-1]
    assert row.caller == "http" and row.status == "success" and list(row.lines) == ["[LOG] doubling 2.0"]


def test_function_endpoint_runs_any_kind_for_the_admin(served):
    app, url, _ = served
    admin = {"Authorization": f"Convex {app.admin_key}"}
    assert post(url, "/api/function", {"path": "notebook:double", "args": {"n": 1}}, headers=admin).json["value"] == 2
    assert "value" in post(url, "/api/function", {"path": "notebook:add", "args": {"body": "x"}}, headers=admin).json
    assert post(url, "/api/function", {"path": "notebook:sync_action", "args": {"n": 1}, "componentPath": None},
                headers=admin).json["value"] == 3


def test_function_endpoint_needs_the_admin_key(served):
    _, url, _ = served
    reply = post(url, "/api/function", {"path": "notebook:double", "args": {"n": 1}})
    assert "deploy key was invalid" in protocol_error(reply, 403, "BadDeployKey")


def test_function_endpoint_has_no_components(served):
    app, url, _ = served
    reply = post(url, "/api/function", {"path": "notebook:double", "args": {"n": 1}, "componentPath": "child"},
                 headers={"Authorization": f"Convex {app.admin_key}"})
    protocol_error(reply, 400, "InvalidComponentPath")


def test_run_endpoint_takes_the_path_from_the_url_and_defaults_to_clean_json(served):
    _, url, _ = served
    reply = post(url, "/api/run/notebook/values", {"args": {}}, headers={"Convex-Client": "npm-1.0.0"})
    assert reply.json["value"]["int"] == "33"  # clean json, even for a client whose default is encoded
    assert post(url, "/api/run/admin/users/list", {"args": {}}).json["value"] == ["ada"]
    assert post(url, "/api/run/notebook/double", {"args": {"n": 1}, "format": "convex_encoded_json"}).json["value"] == 2
    assert post(url, "/api/run/note%62ook/double", {"args": {"n": 4}}).json["value"] == 8


def test_run_endpoint_needs_module_and_function(served):
    _, url, _ = served
    message = protocol_error(post(url, "/api/run/double", {"args": {}}), 400, "MissingIdentifier")
    assert message == "Path or function name not provided in path, e.g. /api/run/messages/list"


def test_get_query_takes_args_from_the_query_string(served):
    _, url, _ = served
    query = urllib.parse.urlencode({"path": "notebook:double", "args": json.dumps({"n": 5})})
    reply = send(url, "GET", f"/api/query?{query}")
    assert reply.json["value"] == 10
    query = urllib.parse.urlencode({"path": "notebook:values", "args": "{}", "format": "convex_encoded_json"})
    assert send(url, "GET", f"/api/query?{query}").json["value"]["int"] == {"$integer": "IQAAAAAAAAA="}


def test_get_query_without_args_or_path(served):
    _, url, _ = served
    message = protocol_error(send(url, "GET", "/api/query?path=notebook:double"), 400, "BadQueryArgs")
    assert "args" in message
    protocol_error(send(url, "GET", "/api/query?args=%7B%7D"), 400, "BadQueryArgs")
    protocol_error(send(url, "GET", "/api/query?path=notebook:double&args=nope"), 400, "BadQueryArgs")


def test_other_kinds_have_no_get(served):
    _, url, _ = served
    assert send(url, "GET", "/api/mutation?path=notebook:add&args=%7B%7D").status == 405


def test_message_path_forms(served):
    _, url, _ = served
    assert post(url, "/api/query", {"path": "messages", "args": {}}).json["value"] == "default export"
    assert post(url, "/api/query", {"path": "notebook.js:double", "args": {"n": 1}}).json["value"] == 2
    assert post(url, "/api/query", {"path": "admin/users:list", "args": {}}).json["value"] == ["ada"]


# -- formats ---------------------------------------------------------------------------------------


def _values(url: str, fmt: str | None = None, headers: dict | None = None):
    body = {"path": "notebook:values", "args": {}}
    if fmt is not None:
        body["format"] = fmt
    return json.loads(post(url, "/api/query", body, headers=headers).body)["value"]


def test_clean_json_format(served):
    _, url, _ = served
    for fmt in ("json", "convex_clean_json"):
        assert _values(url, fmt) == {"int": "33", "bytes": "AAE=", "nan": "NaN", "inf": "Infinity",
                                     "ninf": "-Infinity", "nzero": -0.0, "big": 1e16, "float": 1.5,
                                     "text": "hi", "list": [None, True]}


def test_encoded_json_format(served):
    _, url, _ = served
    for fmt in ("convex_encoded_json", "convex_json"):
        value = _values(url, fmt)
        assert value["int"] == {"$integer": "IQAAAAAAAAA="}
        assert value["bytes"] == {"$bytes": "AAE="}
        assert value["nan"] == {"$float": "AAAAAAAA+H8="} and value["inf"] == {"$float": "AAAAAAAA8H8="}
        assert value["nzero"] == {"$float": "AAAAAAAAAIA="} and value["float"] == 1.5


def test_export_json_format(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:values", "args": {}, "format": "export_json"})
    assert b'"int":33,' in reply.body and b'"big":1e16' in reply.body and b'"nzero":-0.0' in reply.body
    value = reply.json["value"]
    assert value["bytes"] == {"$bytes": "AAE="} and value["nan"] == {"$float": "AAAAAAAA+H8="}


def test_unknown_format_is_400_and_nothing_runs(served):
    app, url, _ = served
    reply = post(url, "/api/mutation", {"path": "notebook:add", "args": {"body": "x"}, "format": "yaml"})
    assert protocol_error(reply, 400, "BadFormat") == "format param must be one of [`json`]. Got yaml"
    assert app.run("notebook:count") == 0


@pytest.mark.parametrize("client, encoded", [
    (None, False), ("npm-1.48.0", False), ("npm-1.4.1", False), ("npm-1.4.0", True), ("npm-cli-1.2.0", True),
    ("python-0.5.0", False), ("python-0.4.9", True), ("python-convex-0.4.0", True), ("rust-0.1.0", False),
    ("my-esolang-client-0.0.1", False), ("npm-weird", False),
])
def test_default_format_follows_the_client_header(served, client, encoded):
    _, url, _ = served
    value = _values(url, headers={"Convex-Client": client} if client else None)
    assert value["int"] == ({"$integer": "IQAAAAAAAAA="} if encoded else "33")


def test_unparseable_client_header_is_400(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}, headers={"Convex-Client": "curl"})
    assert "Failed to parse client version string: 'curl'" in protocol_error(reply, 400, "InvalidVersion")


# -- function errors (HTTP 200, status "error") ---------------------------------------------------


def test_uncaught_error_message_with_frames_and_log_lines(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:fails", "args": {}})
    message = error_message(reply)
    assert message.startswith("Uncaught ValueError: boom\n    at fails (")
    assert message.endswith("\n") and "test_server_http.py:" in message
    assert "convex_lab/runtime/" not in message and "convex_lab/server/" not in message  # the user's frames only
    assert reply.json["logLines"] == ["[LOG] about to fail"]
    assert "errorData" not in reply.json


def test_convex_error_data_in_the_requested_format(served):
    _, url, _ = served
    encoded = post(url, "/api/mutation", {"path": "notebook:refuses", "args": {}, "format": "convex_encoded_json"})
    assert encoded.json["errorData"] == {"code": {"$integer": "KgAAAAAAAAA="}, "blob": {"$bytes": "AQ=="}, "why": "no"}
    assert error_message(encoded).startswith("Uncaught ConvexError: ")
    clean = post(url, "/api/mutation", {"path": "notebook:refuses", "args": {}})
    assert clean.json["errorData"] == {"code": "42", "blob": "AQ==", "why": "no"}
    text = post(url, "/api/query", {"path": "notebook:refuses_text", "args": {}})
    assert text.json["errorData"] == "plain words"
    assert error_message(text).startswith("Uncaught ConvexError: plain words\n")


def test_unknown_function(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:nope", "args": {}})
    assert error_message(reply) == "Could not find public function for 'notebook:nope'.\n"
    # A bare name is `name:default` over HTTP, as in Convex (no guessing across modules).
    assert error_message(post(url, "/api/query", {"path": "double", "args": {}})) == \
        "Could not find public function for 'double:default'.\n"


def test_internal_functions_are_refused_without_the_admin_key(served):
    app, url, _ = served
    refused = post(url, "/api/query", {"path": "notebook:secret", "args": {}})
    assert error_message(refused) == "Could not find public function for 'notebook:secret'.\n"
    assert error_message(post(url, "/api/run/notebook/secret", {"args": {}})) == \
        "Could not find public function for 'notebook:secret'.\n"
    admin = post(url, "/api/query", {"path": "notebook:secret", "args": {}},
                 headers={"Authorization": f"Convex {app.admin_key}"})
    assert admin.json == {"status": "success", "value": "the secret"}
    lower = post(url, "/api/query", {"path": "notebook:secret", "args": {}},
                 headers={"Authorization": f"convex {app.admin_key}"})
    assert lower.json["value"] == "the secret"  # the scheme is case-insensitive
    via_param = post(url, "/api/query?" + urllib.parse.urlencode({"adminKey": app.admin_key}),
                     {"path": "notebook:secret", "args": {}})
    assert via_param.json["value"] == "the secret"


def test_wrong_kind(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:add", "args": {"body": "x"}})
    assert error_message(reply) == "Trying to execute notebook.js:add as Query, but it is defined as Mutation.\n"
    reply = post(url, "/api/mutation", {"path": "notebook:double", "args": {"n": 1}})
    assert error_message(reply) == "Trying to execute notebook.js:double as Mutation, but it is defined as Query.\n"


def test_argument_validation_errors(served):
    _, url, _ = served
    message = error_message(post(url, "/api/query", {"path": "notebook:double", "args": {"n": "x"}}))
    assert message.startswith("ArgumentValidationError: Value does not match validator.\nPath: .n\n")
    message = error_message(post(url, "/api/query", {"path": "notebook:double", "args": 5}))
    assert message == "ArgumentValidationError: Expected to receive an object as the function's argument. Instead received: 5.0\n"
    message = error_message(post(url, "/api/query", {"path": "notebook:double", "args": [{"n": 1}, {"n": 2}]}))
    assert message.startswith("ArgumentValidationError: Expected to receive a single object as the function's "
                              "argument. Instead received 2 arguments: [")


def test_badly_encoded_args(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:echo", "args": {"i": {"$integer": "AQ=="}}})
    assert error_message(reply) == "Invalid arguments for notebook.js:echo: Int64 must be exactly eight bytes\n"


def test_returns_validation_error_is_a_function_error(served):
    app, url, _ = served

    @app.query(returns=v.string())
    def wrong_return(ctx):
        return 5

    message = error_message(post(url, "/api/query", {"path": "notebook:wrong_return", "args": {}}))
    assert message.startswith("ReturnsValidationError: ")


def test_function_errors_keep_the_server_serving(served):
    _, url, _ = served
    for _ in range(3):
        error_message(post(url, "/api/query", {"path": "notebook:fails", "args": {}}))
    assert post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}).json["value"] == 2


# -- protocol errors (non-2xx, {code, message}) ----------------------------------------------------


def test_bad_function_path_is_400(served):
    _, url, _ = served
    message = protocol_error(post(url, "/api/query", {"path": "no spaces!", "args": {}}), 400,
                             "BadConvexFunctionIdentifier")
    assert message.startswith("no spaces! is not a valid path to a Convex function.")


def test_malformed_json_is_400(served):
    _, url, _ = served
    message = protocol_error(post(url, "/api/query", raw=b'{"path": '), 400, "BadJsonBody")
    assert message.startswith("Failed to parse the request body as JSON")


def test_json_needs_its_content_type(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}, content_type="text/plain")
    assert protocol_error(reply, 400, "BadJsonBody") == "Expected request with `Content-Type: application/json`"
    charset = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}},
                   content_type="application/json; charset=utf-8")
    assert charset.json["value"] == 2


@pytest.mark.parametrize("body, fragment", [
    ([1, 2], "expected struct UdfPostRequest"),
    ({"args": {}}, "missing field `path`"),
    ({"path": "notebook:double"}, "missing field `args`"),
    ({"path": 5, "args": {}}, "path: invalid type"),
    ({"path": "notebook:double", "args": {}, "format": 3}, "format: invalid type"),
])
def test_wrong_body_shapes_are_400(served, body, fragment):
    _, url, _ = served
    message = protocol_error(post(url, "/api/query", body), 400, "BadJsonBody")
    assert message.startswith("Failed to deserialize the JSON body into the target type: ") and fragment in message


def test_oversized_body_is_400_and_the_server_goes_on(served):
    _, url, _ = served
    from convex_lab.server.wire import MAX_REQUEST_BYTES

    raw = b'{"path": "notebook:echo", "args": {"x": "' + b"a" * MAX_REQUEST_BYTES + b'"}}'
    message = protocol_error(post(url, "/api/query", raw=raw), 400, "BadJsonBody")
    assert "length limit exceeded" in message
    assert post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}).json["value"] == 2


def test_a_body_just_under_the_limit_is_read(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:echo", "args": {"x": "a" * (1 << 20)}})
    assert reply.json["value"]["x"] == "a" * (1 << 20)


def test_wrong_admin_key_is_401(served):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}},
                 headers={"Authorization": "Convex not-the-key"})
    assert protocol_error(reply, 401, "BadAdminKey") == "The provided admin key was invalid for this instance"


@pytest.mark.parametrize("header, code", [("Basic abcdef", "InvalidAdminKey"), ("abc", "InvalidHeaderFailure")])
def test_malformed_authorization_header_is_400(served, header, code):
    _, url, _ = served
    reply = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}, headers={"Authorization": header})
    protocol_error(reply, 400, code)


def _jwt(payload: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([b64(b'{"alg":"RS256","typ":"JWT"}'), b64(json.dumps(payload).encode()), b64(b"sig")])


def test_bearer_tokens_of_no_provider_or_not_jwts_are_refused(served):
    _, url, _ = served
    call = {"path": "notebook:whoami", "args": {}}
    token = _jwt({"iss": "https://issuer.example.com", "sub": "user_1", "aud": "app"})
    message = protocol_error(post(url, "/api/query", call, headers={"Authorization": f"Bearer {token}"}),
                             401, "NoAuthProvider")
    assert message.startswith("No auth provider found matching the given token: its issuer "
                              "'https://issuer.example.com' is not one of the providers'")
    message = protocol_error(post(url, "/api/query", call, headers={"Authorization": "Bearer not-a-jwt"}),
                             401, "InvalidAuthHeader")
    assert message.startswith("Could not parse JWT payload.")
    no_issuer = _jwt({"sub": "user_1"})
    message = protocol_error(post(url, "/api/query", call, headers={"Authorization": f"bearer {no_issuer}"}),
                             401, "InvalidAuthHeader")
    assert message.startswith("Missing issuer claim ('iss') in JWT payload.")


def test_admin_acting_as_a_user(served):
    app, url, _ = served
    attributes = base64.b64encode(json.dumps({"issuer": "https://i.example", "subject": "u1", "name": "Ada"}).encode())
    reply = post(url, "/api/query", {"path": "notebook:whoami", "args": {}},
                 headers={"Authorization": f"Convex {app.admin_key}:{attributes.decode()}"})
    assert reply.json["value"] == {"issuer": "https://i.example", "subject": "u1", "name": "Ada",
                                   "tokenIdentifier": "https://i.example|u1"}
    bad = post(url, "/api/query", {"path": "notebook:whoami", "args": {}},
               headers={"Authorization": f"Convex {app.admin_key}:!!!"})
    assert protocol_error(bad, 400, "HeaderParseFailure") == "Malformed Authorization header."


def test_no_identity_without_a_token(served):
    _, url, _ = served
    assert post(url, "/api/query", {"path": "notebook:whoami", "args": {}}).json["value"] is None


# -- timestamps and batches ------------------------------------------------------------------------


def _ts(url: str) -> str:
    reply = post(url, "/api/query_ts")
    assert reply.status == 200 and set(reply.json) == {"ts"}
    return reply.json["ts"]


def test_query_ts_is_the_newest_commit(served):
    app, url, _ = served
    before = _ts(url)
    assert struct.unpack("<Q", base64.b64decode(before))[0] == app._db.last_ts
    post(url, "/api/mutation", {"path": "notebook:add", "args": {"body": "x"}})
    after = struct.unpack("<Q", base64.b64decode(_ts(url)))[0]
    assert after == app._db.last_ts > struct.unpack("<Q", base64.b64decode(before))[0]


def test_query_at_the_newest_ts(served):
    _, url, _ = served
    reply = post(url, "/api/query_at_ts", {"path": "notebook:double", "args": {"n": 3}, "ts": _ts(url)})
    assert reply.json["value"] == 6
    wrong = post(url, "/api/query_at_ts", {"path": "notebook:add", "args": {"body": "x"}, "ts": _ts(url)})
    assert error_message(wrong).startswith("Trying to execute notebook.js:add as Query")


def test_query_at_an_older_ts_is_out_of_retention(served):
    _, url, _ = served
    old = _ts(url)
    post(url, "/api/mutation", {"path": "notebook:add", "args": {"body": "x"}})
    reply = post(url, "/api/query_at_ts", {"path": "notebook:count", "args": {}, "ts": old})
    assert protocol_error(reply, 503, "InternalServerError").startswith(
        "Your request couldn't be completed. Try again later.")


def test_query_at_ts_needs_a_ts(served):
    _, url, _ = served
    protocol_error(post(url, "/api/query_at_ts", {"path": "notebook:count", "args": {}}), 400, "BadJsonBody")
    protocol_error(post(url, "/api/query_at_ts", {"path": "notebook:count", "args": {}, "ts": "AQ=="}), 400, "BadJsonBody")


def test_query_batch(served):
    _, url, _ = served
    reply = post(url, "/api/query_batch", {"queries": [
        {"path": "notebook:double", "args": {"n": 1}},
        {"path": "notebook:values", "args": {}, "format": "convex_encoded_json"},
        {"path": "notebook:nope", "args": {}},
        {"path": "notebook:fails", "args": {}},
    ]})
    results = reply.json["results"]
    assert results[0] == {"status": "success", "value": 2, "logLines": ["[LOG] doubling 1.0"]}
    assert results[1]["value"]["int"] == {"$integer": "IQAAAAAAAAA="}
    assert results[2]["status"] == "error" and "Could not find public function" in results[2]["errorMessage"]
    assert results[3]["status"] == "error" and results[3]["logLines"] == ["[LOG] about to fail"]


def test_query_batch_with_a_bad_format_is_400(served):
    _, url, _ = served
    reply = post(url, "/api/query_batch", {"queries": [{"path": "notebook:double", "args": {"n": 1}, "format": "xml"}]})
    protocol_error(reply, 400, "BadFormat")
    protocol_error(post(url, "/api/query_batch", {"queries": "no"}), 400, "BadJsonBody")


# -- CORS ------------------------------------------------------------------------------------------


def test_cors_preflight(served):
    _, url, _ = served
    reply = send(url, "OPTIONS", "/api/mutation", headers={
        "Origin": "https://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,convex-client,authorization"})
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["access-control-allow-origin"] == "https://example.com"
    assert reply.headers["access-control-allow-credentials"] == "true"
    assert reply.headers["access-control-allow-headers"] == "content-type,convex-client,authorization"
    assert "POST" in reply.headers["access-control-allow-methods"].split(",")
    assert reply.headers["access-control-max-age"] == "86400"


def test_cors_headers_on_answers_and_errors(served):
    _, url, _ = served
    origin = {"Origin": "http://localhost:5173"}
    ok = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}}, headers=origin)
    assert ok.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}, "format": "x"}, headers=origin)
    assert bad.status == 400 and bad.headers["access-control-allow-origin"] == "http://localhost:5173"
    plain = post(url, "/api/query", {"path": "notebook:double", "args": {"n": 1}})
    assert "access-control-allow-origin" not in plain.headers


# -- the admin key ---------------------------------------------------------------------------------


def test_admin_key_is_random_per_in_memory_app():
    first, second = App(), App()
    try:
        assert first.admin_key == first.admin_key
        assert first.admin_key != second.admin_key and len(first.admin_key) > 40
    finally:
        first.close()
        second.close()


def test_admin_key_survives_reopening_a_file_app(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        key = app.admin_key
    with App(path) as again:
        assert again.admin_key == key

        @again.internal_query
        def secret(ctx):
            return 1

        url = again.serve()
        reply = post(url, "/api/query", {"path": "notebook:secret", "args": {}},
                     headers={"Authorization": f"Convex {key}"})
        assert reply.json["value"] == 1
    other = tmp_path / "other.duckdb"
    with App(other) as third:
        assert third.admin_key != key


def test_stop_called_on_the_servers_own_loop_does_not_deadlock():
    app = App()
    try:
        app.serve()
        server = app._server
        thread = server._thread
        server._loop.call_soon_threadsafe(server.stop)
        thread.join(60)
        for helper in [t for t in threading.enumerate() if t.name == "convex_lab-server-stop"]:
            helper.join(60)
        assert not thread.is_alive() and server.url is None
    finally:
        app.close()


def test_the_admin_key_is_made_once_under_concurrent_first_reads(tmp_path):
    with App(tmp_path / "lab.duckdb") as app:
        keys: list[str] = []
        start = threading.Barrier(8)

        def read() -> None:
            start.wait()
            keys.append(app.admin_key)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(set(keys)) == 1 and len(keys) == 8
        assert app._persistence.get_meta("admin_key") == keys[0]
