"""Authentication: dev tokens and `as_user`, identities under Convex's names, the dev key kept in
the database, `set_auth_config` (OIDC discovery and customJwt against a real local issuer), and
refused tokens over HTTP (401) and over the WebSocket (`AuthError`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from convex_lab import App
from convex_lab.runtime import auth as authmod

from .npm_peer import requires_node, run_node

TIMEOUT = 60.0  # only ever reached when something is broken


def define(app: App) -> None:
    @app.query
    def whoami(ctx):
        return ctx.auth.get_user_identity()

    @app.mutation
    def remember(ctx):
        identity = ctx.auth.get_user_identity()
        return ctx.db.insert("visits", {"who": identity and identity["subject"]})

    @app.action
    def act(ctx):
        return ctx.run_query("notebook:whoami")

    @app.query
    def visits(ctx):
        identity = ctx.auth.get_user_identity()
        return [identity and identity["subject"], len(ctx.db.query("visits").collect())]


@pytest.fixture
def app():
    instance = App()
    define(instance)
    yield instance
    instance.close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# ---------------------------------------------------------------------------------------------
# Dev tokens, identities, as_user


def test_a_dev_token_gives_the_identity_under_convex_names(app):
    token = app.auth.dev_token("user_1", name="Ada Lovelace", given_name="Ada", familyName="Lovelace",
                               email="ada@example.com", email_verified=True, picture="https://p.example/ada.png",
                               address="12 St James's Square", updated_at=1_700_000_000, locale="en-GB",
                               team={"id": "t1", "role": "admin"}, beta=True)
    claims = claims_of(token)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["iss"] == app.auth.dev_issuer == "https://dev.convex-lab.invalid"
    assert claims["aud"] == app.auth.dev_application_id == "convex-lab-dev"
    assert claims["exp"] - claims["iat"] == 3600
    # Both names of a standard claim reach the token under its JWT name.
    assert claims["given_name"] == "Ada" and claims["family_name"] == "Lovelace"
    assert claims["address"] == {"formatted": "12 St James's Square"}
    identity = app._identity_for_token(token)
    assert identity == {
        "tokenIdentifier": "https://dev.convex-lab.invalid|user_1", "subject": "user_1",
        "issuer": "https://dev.convex-lab.invalid", "name": "Ada Lovelace", "givenName": "Ada",
        "familyName": "Lovelace", "email": "ada@example.com", "emailVerified": True,
        "pictureUrl": "https://p.example/ada.png", "address": "12 St James's Square",
        "updatedAt": "2023-11-14T22:13:20+00:00", "language": "en-GB",
        "team": {"id": "t1", "role": "admin"}, "beta": True,  # custom claims kept as they are
    }
    with app.as_user("user_1", name="Ada Lovelace", givenName="Ada", family_name="Lovelace",
                     email="ada@example.com", emailVerified=True, pictureUrl="https://p.example/ada.png",
                     address="12 St James's Square", updatedAt=1_700_000_000, language="en-GB",
                     team={"id": "t1", "role": "admin"}, beta=True) as bound:
        assert bound == identity
        assert app.run_query("notebook:whoami") == identity


def test_claims_that_cannot_be_given_are_refused_with_the_reason(app):
    with pytest.raises(ValueError, match=r"given twice: as given_name= and as givenName="):
        app.auth.dev_token("u", given_name="A", givenName="B")
    with pytest.raises(ValueError, match=r"exp= cannot be given as a claim"):
        app.auth.dev_token("u", exp=5)
    with pytest.raises(ValueError, match=r"iss= cannot be given"):
        app.as_user("u", iss="x")
    with pytest.raises(TypeError, match=r"The claim when= must be a JSON value"):
        app.auth.dev_token("u", when=object())
    with pytest.raises(TypeError, match=r"subject must be a non-empty string"):
        app.auth.dev_token(42)
    with pytest.raises(TypeError, match=r"expires_in must be a number of seconds"):
        app.auth.dev_token("u", expires_in="soon")


def test_as_user_applies_to_every_way_of_calling_from_python_and_only_inside_the_block(app):
    whoami = app.functions["notebook:whoami"]
    with app.as_user("u1", issuer="https://issuer.example.com/") as identity:
        assert identity == {"tokenIdentifier": "https://issuer.example.com/|u1", "subject": "u1",
                            "issuer": "https://issuer.example.com/"}
        assert whoami() == identity
        assert whoami.call() == identity
        assert app.run(whoami) == identity
        assert app.run_query("whoami") == identity
        assert app.run_action("notebook:act") == identity  # and the action's own calls
        app.run_mutation("notebook:remember")
        with app.as_user("u2"):  # blocks nest
            assert whoami()["subject"] == "u2"
        assert whoami()["subject"] == "u1"

        async def from_a_coroutine():
            return await app.run(whoami)

        assert asyncio.run(from_a_coroutine()) == identity
        seen = []
        other = threading.Thread(target=lambda: seen.append(whoami()))  # another thread: no identity
        other.start()
        other.join(TIMEOUT)
        assert seen == [None]
    assert whoami() is None and app.run_query("whoami") is None
    assert app.run_query("notebook:visits") == [None, 1]


def test_an_as_user_block_belongs_to_its_app(app):
    other = App()
    try:
        @other.query
        def whoami(ctx):
            return ctx.auth.get_user_identity()

        with app.as_user("u1"):
            assert app.run_query("whoami")["subject"] == "u1"
            assert whoami() is None
    finally:
        other.close()


def test_a_subscription_made_as_a_user_keeps_the_identity_for_its_reruns(app):
    seen = []
    with app.as_user("u1"):
        subscription = app.subscribe("notebook:visits", {}, seen.append)
    assert seen == [["u1", 0]]
    app.run_mutation("notebook:remember")  # outside the block: written as nobody
    assert seen == [["u1", 0], ["u1", 1]]  # the re-run still runs as u1
    subscription.unsubscribe()
    anonymous = app.subscribe("notebook:visits", {}, seen.append)
    assert seen[-1] == [None, 1]
    anonymous.unsubscribe()


def test_a_live_view_made_as_a_user_keeps_the_identity(app):
    with app.as_user("u1"):
        view = app.live("notebook:visits")
    app.flush()
    assert view.value_repr == "['u1', 0.0]"
    app.run_mutation("notebook:remember")
    app.flush()
    assert view.value_repr == "['u1', 1.0]"
    view.subscription.unsubscribe()


def test_the_dev_key_is_kept_in_the_database_file(tmp_path):
    path = tmp_path / "lab.duckdb"
    first = App(path)
    define(first)
    token = first.auth.dev_token("u1", name="Ada")
    first.close()
    again = App(path)
    try:
        assert again._identity_for_token(token)["name"] == "Ada"  # signed before the reopen
        assert claims_of(again.auth.dev_token("u2"))["iss"] == again.auth.dev_issuer
    finally:
        again.close()
    elsewhere = App()
    try:  # another App has its own key: the token does not verify there
        with pytest.raises(Exception, match="not by this App's dev key"):
            elsewhere._identity_for_token(token)
    finally:
        elsewhere.close()


# ---------------------------------------------------------------------------------------------
# The auth config


@pytest.mark.parametrize("config, message", [
    ([], r"must be a dict \{\"providers\": \[...\]\}, got list"),
    ({"providers": {}}, r"providers must be a list"),
    ({"provider": []}, r"unknown field\(s\) 'provider'"),
    ({"providers": ["x"]}, r"providers\[0\] must be a dict"),
    ({"providers": [{"domain": "https://a.example"}]}, r"providers\[0\]\.applicationID must be a non-empty string, got nothing"),
    ({"providers": [{"domain": "https://a.example", "applicationId": "x"}]},
     r"providers\[0\]\.applicationId is not a field of an oidc provider \(did you mean 'applicationID'\?\)"),
    ({"providers": [{"domain": "https://a.example", "applicationID": "a"}, {"type": "oauth"}]},
     r"providers\[1\]\.type must be \"customJwt\""),
    ({"providers": [{"type": "customJwt", "issuer": "https://a", "jwks": "https://a/jwks", "algorithm": "HS256"}]},
     r"providers\[0\]\.algorithm must be \"RS256\" or \"ES256\", got 'HS256'"),
    ({"providers": [{"type": "customJwt", "issuer": "https://a", "jwks": "ftp://a", "algorithm": "RS256"}]},
     r"providers\[0\]\.jwks must be an https:// \(or http://\) URL or a data: URI"),
    ({"providers": [{"type": "customJwt", "issuer": "https://a", "jwks": "data:text/plain;base64,bm9wZQ==",
                     "algorithm": "RS256"}]}, r"providers\[0\]\.jwks is not a usable JWKS data: URI"),
    ({"providers": [{"type": "customJwt", "issuer": "", "jwks": "https://a", "algorithm": "RS256"}]},
     r"providers\[0\]\.issuer must be a non-empty string, got ''"),
])
def test_a_malformed_auth_config_names_the_bad_path(app, config, message):
    with pytest.raises(ValueError, match=message):
        app.set_auth_config(config)
    assert app.auth.providers == ["convex_lab dev provider https://dev.convex-lab.invalid"]  # unchanged


# ---------------------------------------------------------------------------------------------
# A real issuer: OIDC discovery and a JWKS, served by tornado on its own thread


class Issuer:
    """An identity provider at 127.0.0.1: `/.well-known/openid-configuration` and `/jwks.json`
    (an RSA key and an EC key), counting the requests each gets."""

    def __init__(self) -> None:
        import tornado.httpserver
        import tornado.netutil
        import tornado.web

        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.hits = {"discovery": 0, "jwks": 0}
        issuer = self

        class Discovery(tornado.web.RequestHandler):
            def get(self) -> None:
                issuer.hits["discovery"] += 1
                self.write({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json"})

        class Keys(tornado.web.RequestHandler):
            def get(self) -> None:
                issuer.hits["jwks"] += 1
                self.write(issuer.jwks())

        started = threading.Event()

        def serve() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.http = tornado.httpserver.HTTPServer(tornado.web.Application([
                (r"/\.well-known/openid-configuration", Discovery), (r"/jwks\.json", Keys)]))
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            self.http.add_sockets(sockets)
            self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
            started.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=serve, name="test-issuer", daemon=True)
        self.thread.start()
        assert started.wait(TIMEOUT)

    def jwks(self) -> dict:
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True)
        ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
        return {"keys": [{**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                         {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"}]}

    def token(self, subject: str, *, algorithm: str = "RS256", kid: str | None = "rsa-1", expires_in: int = 600,
              **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "sub": subject, "iat": now, "exp": now + expires_in, **claims}
        key = self.rsa if algorithm == "RS256" else self.ec
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.http.stop()
            await self.http.close_all_connections()
            self.loop.stop()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shutdown()))
        self.thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def issuer():
    instance = Issuer()
    yield instance
    instance.stop()


def test_an_oidc_provider_is_found_by_discovery_and_its_keys_are_cached(app, issuer):
    app.set_auth_config({"providers": [{"domain": issuer.url + "/", "applicationID": "my-app"}]})
    before = dict(issuer.hits)
    token = issuer.token("user_9", aud="my-app", given_name="Grace", picture="https://p.example/g.png",
                         address={"formatted": "Arlington", "country": "US"}, nonce="n", jti="j", nbf=int(time.time()),
                         org="navy")
    identity = app._identity_for_token(token)
    assert identity == {"tokenIdentifier": f"{issuer.url}|user_9", "subject": "user_9", "issuer": issuer.url,
                        "givenName": "Grace", "pictureUrl": "https://p.example/g.png", "address": "Arlington",
                        "nonce": "n", "org": "navy"}
    for _ in range(3):  # the discovery document and the key set are fetched once
        assert app._identity_for_token(issuer.token("user_9", aud=["other", "my-app"]))["subject"] == "user_9"
    assert issuer.hits["discovery"] - before["discovery"] == 1 and issuer.hits["jwks"] - before["jwks"] == 1
    with pytest.raises(Exception, match=r"NoAuthProvider|its audience \(`aud`\) 'other' is not the applicationID"):
        app._identity_for_token(issuer.token("user_9", aud="other"))
    with pytest.raises(Exception, match=r"signed with 'ES256', but the OIDC provider .* accepts only RS256 or EdDSA"):
        app._identity_for_token(issuer.token("user_9", aud="my-app", algorithm="ES256", kid="ec-1"))


def test_custom_jwt_providers_with_a_data_uri_or_a_url(app, issuer):
    inline = "data:text/plain;charset=utf-8;base64," + base64.b64encode(json.dumps(issuer.jwks()).encode()).decode()
    app.set_auth_config({"providers": [
        {"type": "customJwt", "issuer": issuer.url, "jwks": inline, "algorithm": "ES256", "applicationID": "api"},
        {"type": "customJwt", "issuer": issuer.url, "jwks": f"{issuer.url}/jwks.json", "algorithm": "RS256"},
    ]})
    token = issuer.token("svc", algorithm="ES256", kid="ec-1", aud="api", name="Bot",
                         properties={"id": "p1", "tier": {"level": 2}})
    assert app._identity_for_token(token) == {  # no profile mapping; nested claims flattened
        "tokenIdentifier": f"{issuer.url}|svc", "subject": "svc", "issuer": issuer.url, "name": "Bot",
        "properties.id": "p1", "properties.tier.level": 2}
    # No audience: the second provider (a JWKS URL, RS256) takes it.
    assert app._identity_for_token(issuer.token("svc", given_name="B"))["given_name"] == "B"
    with pytest.raises(Exception, match=r"its header has no key id \(`kid`\), which this provider requires"):
        app._identity_for_token(issuer.token("svc", kid=None))
    with pytest.raises(Exception, match=r"names key id 'nope', and the provider's key set has no such key"):
        app._identity_for_token(issuer.token("svc", kid="nope"))
    with pytest.raises(Exception, match=r"its key 'rsa-1' cannot check an ES256 signature"):  # a key of another type
        app._identity_for_token(issuer.token("svc", algorithm="ES256", kid="rsa-1", aud="api"))


# ---------------------------------------------------------------------------------------------
# Refused tokens, over HTTP and over the WebSocket


def forged(app: App) -> dict:
    """Tokens the App must refuse, each with (code, what the message must say)."""
    key = app.auth._key()  # the App's own dev key signs some of them: only one claim is wrong
    now = int(time.time())
    good = {"iss": app.auth.dev_issuer, "sub": "mallory", "aud": app.auth.dev_application_id, "iat": now,
            "exp": now + 600}

    def signed(claims: dict) -> str:
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    valid = app.auth.dev_token("mallory")
    head, body, signature = valid.split(".")
    public_pem = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid}).encode())}.{b64url(json.dumps(good).encode())}"
    hs256 = f"{hs_input}.{b64url(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())}"
    other = App()
    try:
        foreign = other.auth.dev_token("mallory")
    finally:
        other.close()
    return {
        "expired": (app.auth.dev_token("mallory", expires_in=-60), "Unauthenticated", "it expired"),
        "wrong issuer": (signed({**good, "iss": "https://evil.example"}), "NoAuthProvider",
                         "its issuer 'https://evil.example' is not one of the providers'"),
        "wrong audience": (signed({**good, "aud": "someone-else"}), "NoAuthProvider",
                           "its audience (`aud`) 'someone-else' is not the applicationID"),
        "bad signature": (f"{head}.{b64url(json.dumps({**good, 'sub': 'admin'}).encode())}.{signature}",
                          "Unauthenticated", "its signature does not match"),
        "another app's key": (foreign, "Unauthenticated", "not by this App's dev key"),
        "no exp": (signed({k: val for k, val in good.items() if k != "exp"}), "Unauthenticated",
                   "it has no `exp` claim, which is required"),
        "alg none": (jwt.encode(good, None, algorithm="none"), "Unauthenticated", "it is signed with 'none'"),
        "HS256 with the public key": (hs256, "Unauthenticated", "it is signed with 'HS256'"),
        "not yet valid": (signed({**good, "nbf": now + 600}), "Unauthenticated", "it is not valid yet"),
        "not a JWT": ("hello", "InvalidAuthHeader", "Could not parse JWT payload"),
    }


def post_query(url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/api/query", method="POST",
                                     data=json.dumps({"path": "notebook:whoami", "args": {}}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def over_socket(url: str, token: str) -> tuple[dict, object]:
    """Authenticate with `token` then ask for whoami: the first message back, and the next one
    (None once the server closed the socket)."""
    from tornado.websocket import websocket_connect

    async def scenario():
        socket = await websocket_connect(url.replace("http", "ws") + "/api/sync")
        for message in ({"type": "Connect", "sessionId": "s", "connectionCount": 0},
                        {"type": "Authenticate", "tokenType": "User", "value": token, "baseVersion": 0},
                        {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
                            {"type": "Add", "queryId": 0, "udfPath": "notebook:whoami", "args": [{}]}]}):
            await socket.write_message(json.dumps(message))
        first = json.loads(await socket.read_message())
        while first["type"] == "Transition" and not first["modifications"]:  # the identity's, before the query's
            first = json.loads(await socket.read_message())
        if first["type"] != "AuthError":
            socket.close()
            return first, None
        return first, await socket.read_message()

    return asyncio.run(scenario())


def test_a_valid_token_is_the_identity_over_http_and_the_websocket(app):
    url = app.serve()
    token = app.auth.dev_token("u1", name="Ada")
    expected = {"tokenIdentifier": f"{app.auth.dev_issuer}|u1", "subject": "u1", "issuer": app.auth.dev_issuer,
                "name": "Ada"}
    assert post_query(url, token) == (200, {"status": "success", "value": expected})
    transition, _ = over_socket(url, token)
    assert transition["type"] == "Transition" and transition["endVersion"] == {
        "querySet": 1, "identity": 1, "ts": transition["endVersion"]["ts"]}
    assert transition["modifications"][0]["value"] == expected


def test_refused_tokens_get_401_over_http_and_an_auth_error_over_the_websocket(app):
    url = app.serve()
    for name, (token, code, why) in forged(app).items():
        status, body = post_query(url, token)
        assert status == 401 and body["code"] == code and why in body["message"], (name, body)
        assert "BEGIN" not in body["message"]  # no key material in messages
        refused, after = over_socket(url, token)
        assert refused == {"type": "AuthError", "error": body["message"], "baseVersion": 0,
                           "authUpdateAttempted": True}, name
        assert after is None, name  # then the server closed the socket


def test_a_refused_token_on_a_socket_runs_nothing_sent_after_it(app):
    """Messages sent after a refused Authenticate are not run as anyone (the socket ends)."""
    from tornado.websocket import websocket_connect

    url = app.serve()
    expired = app.auth.dev_token("mallory", expires_in=-60)

    async def scenario():
        socket = await websocket_connect(url.replace("http", "ws") + "/api/sync")
        for message in ({"type": "Connect", "sessionId": "s", "connectionCount": 0},
                        {"type": "Authenticate", "tokenType": "User", "value": expired, "baseVersion": 0},
                        {"type": "Mutation", "requestId": 0, "udfPath": "notebook:remember", "args": [{}]},
                        {"type": "Action", "requestId": 1, "udfPath": "notebook:act", "args": [{}]}):
            await socket.write_message(json.dumps(message))
        messages = []
        while (message := await socket.read_message()) is not None:
            messages.append(json.loads(message))
        return messages

    messages = asyncio.run(scenario())
    assert [m["type"] for m in messages] == ["AuthError"]
    assert app.run_query("notebook:visits") == [None, 0]


def test_http_actions_see_the_identity_of_a_valid_token_only(app):
    from convex_lab import Response

    @app.http.route(path="/me", method="GET")
    def me(ctx, request):
        identity = ctx.auth.get_user_identity()
        return Response(json.dumps(identity and identity["subject"]))

    url = app.serve()

    def get(token: str) -> object:
        request = urllib.request.Request(f"{url}/http/me", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read())

    assert get(app.auth.dev_token("u1")) == "u1"
    assert get(app.auth.dev_token("u1", expires_in=-60)) is None  # the header is the handler's business


def test_the_dev_issuer_and_audience_are_documented_constants():
    assert authmod.DEV_ISSUER == App().auth.dev_issuer
    assert authmod.DEV_APPLICATION_ID == "convex-lab-dev"


# ---------------------------------------------------------------------------------------------
# The official clients


@requires_node
def test_the_npm_clients_sign_in_with_a_dev_token(app):
    url = app.serve()
    token = app.auth.dev_token("user_1", name="Ada", email="ada@example.com")
    refused = app.auth.dev_token("user_1", expires_in=-60)
    done = run_node("auth_client.mjs", url, token, refused)
    out = json.loads(done.stdout)
    identity = {"tokenIdentifier": f"{app.auth.dev_issuer}|user_1", "subject": "user_1",
                "issuer": app.auth.dev_issuer, "name": "Ada", "email": "ada@example.com"}
    assert out["socketAuthenticated"] is True and out["socket"] == identity
    assert out["refusedAuthenticated"] is False
    assert out["http"] == identity
    assert "Could not verify the token: it expired" in out["httpRefused"]


def test_the_pypi_client_signs_in_with_a_dev_token(app):
    from tests.test_sync_protocol import run_client

    url = app.serve()
    token = app.auth.dev_token("user_1", name="Ada")
    out = run_client(url, f"""
        client.set_auth({token!r})
        out(client.query("notebook:whoami"))
        out(client.mutation("notebook:remember") is not None)
        out(client.query("notebook:visits"))
    """)
    identity = {"tokenIdentifier": f"{app.auth.dev_issuer}|user_1", "subject": "user_1",
                "issuer": app.auth.dev_issuer, "name": "Ada"}
    assert out == [identity, True, ["user_1", 1.0]]


def test_a_socket_whose_token_expires_is_told_before_its_next_operation(app, monkeypatch):
    from convex_lab.server import sync
    from tests.test_sync_protocol import Client

    client = Client(app)
    client("Authenticate", tokenType="User", value=app.auth.dev_token("u1", expires_in=60), baseVersion=0)
    client.add(0, (0, "notebook:whoami", {}))
    results = [m for message in client.settle() for m in message["modifications"]]
    assert [m["value"]["subject"] for m in results] == ["u1"]
    monkeypatch.setattr(sync, "_clock", lambda: time.time() + 60 + authmod.LEEWAY_S + 1)  # past exp and leeway
    client("Mutation", requestId=0, udfPath="notebook:remember", args=[{}])
    assert client.one() == {"type": "AuthError", "error": "Could not verify the token: it expired; get a fresh token.",
                            "baseVersion": 1, "authUpdateAttempted": False}
    assert client.connection.closed
    assert app.run_query("notebook:visits") == [None, 0]  # the mutation did not run
