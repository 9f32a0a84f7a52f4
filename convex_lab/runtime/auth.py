"""Authentication: who calls a function, from a JWT or from a `with app.as_user(...)` block.

- Identities: a token's claims become what `ctx.auth.get_user_identity()` returns, under Convex's
  camelCase names (`given_name` → `givenName`, `picture` → `pictureUrl`, ...).
- Providers: `app.set_auth_config` takes Convex's `auth.config.ts` shapes (OIDC `{domain,
  applicationID}`, `{type: "customJwt", issuer, jwks, algorithm, applicationID?}`), checked here.
- Verification (`Authenticator.identity_for_token`): the provider is chosen by the token's issuer
  and audience, then PyJWT checks the signature with the provider's keys (algorithm pinned),
  expiry (`exp` required), `iat`/`nbf` (5 s leeway, as Convex). Keys fetched over HTTP (OIDC
  discovery, JWKS URLs) are cached; callers on an event loop run this on a worker thread.
- The dev provider, always on: an RS256 key pair per App (kept in its database, as the admin
  key), issuer `DEV_ISSUER`, audience `DEV_APPLICATION_ID`. `dev_token` signs with it.
- `as_user`: the identity of calls made from Python in a block (a contextvar, so it stays in its
  thread and coroutine).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import datetime
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

DEV_ISSUER = "https://dev.convex-lab.invalid"  # `.invalid`: a name that never resolves, so never fetched
DEV_APPLICATION_ID = "convex-lab-dev"
LEEWAY_S = 5  # clock skew allowed on exp, iat and nbf, as Convex allows it
FETCH_TIMEOUT_S = 5.0  # discovery and JWKS requests: a provider that does not answer fails the token
CACHE_S = 300.0  # how long fetched discovery documents and key sets are trusted before a refetch
REFRESH_COOLDOWN_S = 30.0  # an unknown key id refetches the key set at most this often

# OIDC standard claims → Convex's identity fields.
STANDARD_CLAIMS = {
    "name": "name", "given_name": "givenName", "family_name": "familyName", "nickname": "nickname",
    "preferred_username": "preferredUsername", "profile": "profileUrl", "picture": "pictureUrl",
    "website": "websiteUrl", "email": "email", "email_verified": "emailVerified", "gender": "gender",
    "birthdate": "birthday", "zoneinfo": "timezone", "locale": "language", "phone_number": "phoneNumber",
    "phone_number_verified": "phoneNumberVerified", "address": "address", "updated_at": "updatedAt",
}
IDENTITY_FIELDS = {field: claim for claim, field in STANDARD_CLAIMS.items()}
REGISTERED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti")
HIDDEN_CLAIMS = frozenset(REGISTERED_CLAIMS) | {"fva"}  # never part of an identity
OWN_FIELDS = ("tokenIdentifier", "subject", "issuer")  # made from iss and sub, never from a claim

OIDC_ALGORITHMS = ("RS256", "EdDSA")
# The public key types that can check each algorithm's signatures.
KEY_TYPES = {"RS256": (rsa.RSAPublicKey,), "ES256": (ec.EllipticCurvePublicKey,),
             "EdDSA": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)}
CUSTOM_JWT_ALGORITHMS = ("RS256", "ES256")


class TokenError(Exception):
    """A token refused: `code` and `message` as Convex answers them (HTTP 401, or `AuthError`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unverified(why: str) -> TokenError:
    return TokenError("Unauthenticated", f"Could not verify the token: {why}")


# ---------------------------------------------------------------------------------------------
# Identities


def identity_from_claims(claims: dict, *, profile: bool = True) -> dict:
    """What `get_user_identity()` gives for a verified token's `claims`.

    With `profile` (OIDC and dev providers) the standard claims take Convex's names and other
    claims are kept as they are; without it (custom JWT providers, as in Convex) every claim keeps
    its name and nested objects are flattened to dotted keys (`properties.id`)."""
    issuer, subject = claims["iss"], claims["sub"]
    identity: dict[str, Any] = {"tokenIdentifier": f"{issuer}|{subject}", "subject": subject, "issuer": issuer}
    for claim, value in claims.items():
        if claim in HIDDEN_CLAIMS or claim in OWN_FIELDS:
            continue
        if not profile:
            _flatten(claim, value, identity)
        elif claim in STANDARD_CLAIMS:
            if claim == "address" and isinstance(value, dict):  # OIDC's address is an object
                value = value.get("formatted")
                if value is None:
                    continue
            elif claim == "updated_at" and type(value) in (int, float):  # epoch seconds → RFC 3339
                value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat()
            identity[STANDARD_CLAIMS[claim]] = value
        else:
            identity[claim] = value
    return identity


def _flatten(name: str, value: Any, into: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{name}.{key}", inner, into)
    elif name not in OWN_FIELDS:
        into[name] = value


def claims_from_keywords(keywords: dict) -> dict:
    """JWT claims from `dev_token`/`as_user` keyword arguments.

    A keyword may be the JWT claim's name (`given_name`, `picture`, `email_verified`) or
    the identity field's (`givenName`, `pictureUrl`, `emailVerified`); any other name is a custom
    claim, kept as given. `address` may be a string (it becomes `{"formatted": ...}`), and
    `updated_at` a datetime or epoch seconds. Values must be JSON."""
    claims: dict[str, Any] = {}
    named: dict[str, str] = {}
    for keyword, value in keywords.items():
        if keyword in REGISTERED_CLAIMS or keyword in OWN_FIELDS:
            raise ValueError(
                f"{keyword}= cannot be given as a claim: the subject is the first argument, the issuer "
                "is the dev provider's (as_user takes issuer=), and the times come from expires_in.")
        claim = IDENTITY_FIELDS.get(keyword, keyword)
        if claim in named:
            raise ValueError(f"The claim {claim!r} is given twice: as {named[claim]}= and as {keyword}=.")
        named[claim] = keyword
        if claim == "address" and isinstance(value, str):
            value = {"formatted": value}
        elif claim == "updated_at" and isinstance(value, datetime.datetime):
            value = int(value.timestamp())
        try:
            claims[claim] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"The claim {keyword}= must be a JSON value (str, number, bool, None, list, dict): {exc}") from None
    return claims


# ---------------------------------------------------------------------------------------------
# `with app.as_user(...)`: the identity of calls made from Python

# Owner (an App's Runtime) → identity, for the blocks open in this context. A contextvar: a
# block in one thread (or coroutine) gives no identity to calls made by another.
_AS_USER: contextvars.ContextVar[dict] = contextvars.ContextVar("convex_lab_as_user", default={})


def python_caller_identity(owner: object) -> dict | None:
    """The identity of a call made from Python to `owner`'s functions: the innermost `as_user`
    block's, or None."""
    identity = _AS_USER.get().get(owner)
    return dict(identity) if identity is not None else None


@contextlib.contextmanager
def acting_as(owner: object, identity: dict) -> Iterator[dict]:
    token = _AS_USER.set({**_AS_USER.get(), owner: identity})
    try:
        yield dict(identity)
    finally:
        _AS_USER.reset(token)


# ---------------------------------------------------------------------------------------------
# Providers (auth.config.ts)


def normalize_issuer(issuer: str) -> str:
    """Issuers compare as Convex compares them: `https://` added when there is no scheme, a
    trailing `/` ignored."""
    if "://" not in issuer:
        issuer = "https://" + issuer
    return issuer.rstrip("/")


class Provider:
    """One trusted issuer: how its keys are found and how its tokens become identities."""

    kind = "provider"
    issuer: str
    application_id: str | None
    algorithms: tuple[str, ...]
    profile = True  # standard claims under Convex's names (not for custom JWT)
    needs_kid = False

    def describe(self) -> str:
        return f"{self.kind} {self.issuer}"

    def key_for(self, kid: str | None, alg: str) -> Any:
        raise NotImplementedError


class _KeySet:
    """A JWKS, from a URL (fetched, cached `CACHE_S`, refetched for an unknown key id at most every
    `REFRESH_COOLDOWN_S`) or given at once (a `data:` URI)."""

    def __init__(self, url: str | None = None, keys: jwt.PyJWKSet | None = None) -> None:
        self.url = url
        self._keys = keys
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=CACHE_S, timeout=FETCH_TIMEOUT_S) if url else None
        self._refreshed = 0.0
        self._lock = threading.Lock()

    def find(self, kid: str | None, needs_kid: bool) -> Any:
        if needs_kid and kid is None:
            raise _unverified("its header has no key id (`kid`), which this provider requires.")
        key = self._pick(self._load(False), kid)
        if key is None and self._client is not None:
            with self._lock:
                fresh = time.monotonic() - self._refreshed > REFRESH_COOLDOWN_S
                if fresh:
                    self._refreshed = time.monotonic()
            if fresh:
                key = self._pick(self._load(True), kid)
        if key is None:
            which = f"key id {kid!r}" if kid is not None else "no key id"
            raise _unverified(f"it names {which}, and the provider's key set has no such key"
                              f"{' (or more than one key, so a key id is needed)' if kid is None else ''}.")
        return key

    def _load(self, refresh: bool) -> list:
        if self._client is None:
            return list(self._keys.keys) if self._keys is not None else []
        try:
            return list(self._client.get_jwk_set(refresh=refresh).keys)
        except jwt.PyJWTError as exc:  # unreachable, not JSON, no usable key, ...
            raise _unverified(f"the provider's keys could not be fetched from {self.url}: {exc}") from None

    @staticmethod
    def _pick(keys: list, kid: str | None) -> Any:
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((key for key in keys if key.key_id == kid), None)


class OidcProvider(Provider):
    """`{domain, applicationID}`: keys found by OIDC discovery at `<domain>/.well-known/openid-configuration`."""

    kind = "OIDC provider"
    algorithms = OIDC_ALGORITHMS

    def __init__(self, domain: str, application_id: str) -> None:
        self.issuer = normalize_issuer(domain)
        self.application_id = application_id
        self._keys: _KeySet | None = None
        self._found = 0.0
        self._lock = threading.Lock()

    def key_for(self, kid: str | None, alg: str) -> Any:
        return self._key_set().find(kid, False)

    def _key_set(self) -> _KeySet:
        with self._lock:  # one discovery at a time; its answer is cached for CACHE_S
            if self._keys is None or time.monotonic() - self._found > CACHE_S:
                self._keys = _KeySet(url=self._discover())
                self._found = time.monotonic()
            return self._keys

    def _discover(self) -> str:
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
                document = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _unverified(f"OIDC discovery failed: could not read {url}: {exc}") from None
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str):
            raise _unverified(f"OIDC discovery failed: {url} has no `jwks_uri`.")
        return jwks_uri


class CustomJwtProvider(Provider):
    """`{type: "customJwt", issuer, jwks, algorithm, applicationID?}`."""

    kind = "custom JWT provider"
    profile = False
    needs_kid = True

    def __init__(self, issuer: str, jwks: str, algorithm: str, application_id: str | None, keys: _KeySet) -> None:
        self.issuer = normalize_issuer(issuer)
        self.jwks = jwks
        self.algorithms = (algorithm,)
        self.application_id = application_id
        self._keys = keys

    def key_for(self, kid: str | None, alg: str) -> Any:
        return self._keys.find(kid, True)


class DevProvider(Provider):
    """The built-in provider: this App's own key pair, nothing fetched."""

    kind = "convex_lab dev provider"
    issuer = DEV_ISSUER
    application_id = DEV_APPLICATION_ID
    algorithms = ("RS256",)

    def __init__(self, key: Callable[[], "DevKey"]) -> None:
        self._key = key

    def key_for(self, kid: str | None, alg: str) -> Any:
        key = self._key()
        if kid is not None and kid != key.kid:
            raise _unverified(f"it is signed by key {kid!r}, not by this App's dev key (a token of another App?).")
        return key.public


def parse_auth_config(config: Any) -> list[Provider]:
    """Check an `auth.config.ts`-shaped dict and build its providers; `ValueError` naming the bad
    path (`providers[1].algorithm`) otherwise. Key sets given inline are parsed now."""
    if not isinstance(config, dict):
        raise ValueError(f'The auth config must be a dict {{"providers": [...]}}, got {type(config).__name__}.')
    extra = set(config) - {"providers"}
    if extra:
        raise ValueError(f"The auth config has unknown field(s) {', '.join(map(repr, sorted(extra)))}: "
                         'it is {"providers": [...]}.')
    providers = config.get("providers")
    if not isinstance(providers, list):
        raise ValueError(f"providers must be a list of providers, got {type(providers).__name__}.")
    return [_parse_provider(entry, f"providers[{n}]") for n, entry in enumerate(providers)]


def _parse_provider(entry: Any, path: str) -> Provider:
    if not isinstance(entry, dict):
        raise ValueError(f"{path} must be a dict (a provider), got {type(entry).__name__}.")
    kind = entry.get("type")
    if kind is None:
        _only(entry, path, ("domain", "applicationID"), "An OIDC provider")
        domain = _text(entry, path, "domain")
        application_id = _text(entry, path, "applicationID")
        return OidcProvider(domain, application_id)
    if kind != "customJwt":
        raise ValueError(f'{path}.type must be "customJwt" (or absent, for an OIDC provider), got {kind!r}.')
    _only(entry, path, ("type", "issuer", "jwks", "algorithm", "applicationID"), "A customJwt provider")
    issuer = _text(entry, path, "issuer")
    jwks = _text(entry, path, "jwks")
    algorithm = entry.get("algorithm")
    if algorithm not in CUSTOM_JWT_ALGORITHMS:
        raise ValueError(f'{path}.algorithm must be "RS256" or "ES256", got {algorithm!r}.')
    application_id = _text(entry, path, "applicationID") if entry.get("applicationID") is not None else None
    if jwks.startswith("data:"):
        keys = _KeySet(keys=_inline_key_set(jwks, f"{path}.jwks"))
    elif jwks.startswith(("https://", "http://")):
        keys = _KeySet(url=jwks)
    else:
        raise ValueError(f"{path}.jwks must be an https:// (or http://) URL or a data: URI, got {jwks[:60]!r}.")
    return CustomJwtProvider(issuer, jwks, algorithm, application_id, keys)


def _only(entry: dict, path: str, allowed: tuple, what: str) -> None:
    for key in entry:
        if key not in allowed:
            hint = next((f" (did you mean {name!r}?)" for name in allowed if name.lower() == str(key).lower()), "")
            raise ValueError(f"{path}.{key} is not a field of {what.lower()}{hint}: it has "
                             f"{', '.join(allowed)}.")


def _text(entry: dict, path: str, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        got = "nothing" if key not in entry else repr(value)
        raise ValueError(f"{path}.{key} must be a non-empty string, got {got}.")
    return value


def _inline_key_set(uri: str, path: str) -> jwt.PyJWKSet:
    """A JWKS from a `data:` URI (`data:application/json;base64,...` or percent-encoded JSON)."""
    meta, comma, data = uri[len("data:"):].partition(",")
    try:
        if not comma:
            raise ValueError("it has no ',' before its data")
        raw = base64.b64decode(data, validate=True) if meta.endswith(";base64") else urllib.parse.unquote_to_bytes(data)
        document = json.loads(raw)
        return jwt.PyJWKSet.from_dict(document)
    except (ValueError, binascii.Error, jwt.PyJWTError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} is not a usable JWKS data: URI: {exc}") from None


# ---------------------------------------------------------------------------------------------
# The dev key


class DevKey:
    """An RS256 key pair: the private key as PKCS#8 PEM (what the database keeps), its key id a
    digest of the public key."""

    def __init__(self, pem: str) -> None:
        self.pem = pem
        self.private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        self.public = self.private.public_key()
        der = self.public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode("ascii")

    @classmethod
    def generate(cls) -> "DevKey":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cls(pem.decode("ascii"))

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})


# ---------------------------------------------------------------------------------------------
# The App's authenticator (`app.auth`)


class Authenticator:
    """`app.auth`: the App's auth providers, its dev key and token verification.

    Attributes:
        dev_issuer (str): The dev provider's issuer, `"https://dev.convex-lab.invalid"`
            (the same for every App; each App trusts only its own key).
        dev_application_id (str): The dev tokens' audience (`aud`), `"convex-lab-dev"`.
    """

    dev_issuer = DEV_ISSUER
    dev_application_id = DEV_APPLICATION_ID

    def __init__(self, load_key: Callable[[], str | None] | None = None,
                 save_key: Callable[[str], None] | None = None) -> None:
        self._load_key, self._save_key = load_key, save_key
        self._dev_key: DevKey | None = None
        self._key_lock = threading.Lock()  # one key, even when first asked from two threads
        self._dev = DevProvider(self._key)
        self._providers: list[Provider] = []

    def __repr__(self) -> str:
        return f"<convex_lab auth: dev provider + {len(self._providers)} configured provider(s)>"

    # -- the dev provider ------------------------------------------------------------------
    def _key(self) -> DevKey:
        key = self._dev_key
        if key is None:
            with self._key_lock:
                key = self._dev_key
                if key is None:
                    pem = self._load_key() if self._load_key is not None else None
                    if pem is None:
                        key = DevKey.generate()
                        if self._save_key is not None:
                            self._save_key(key.pem)
                    else:
                        key = DevKey(pem)
                    self._dev_key = key
        return key

    def dev_token(self, subject: str, expires_in: float = 3600, **claims: Any) -> str:
        """A JWT for `subject` signed by this App's dev key, which its server accepts.

        Send it as `Authorization: Bearer <token>` over HTTP, or from a client
        (`client.setAuth(async () => token)` in JavaScript, `client.set_auth(token)` in Python).
        Functions then see the identity `as_user(subject, **claims)` gives.

        Args:
            subject: The user's id (`sub`; the identity's `subject`).
            expires_in: Seconds until the token expires (`exp`); `iat` is now.
            **claims: More claims: standard ones by their JWT name or their identity name
                (`name`, `email`, `given_name` or `givenName`, `picture` or `pictureUrl`, ...),
                others as custom claims. Values must be JSON.

        Raises:
            ValueError: A claim is given twice, or names `iss`, `sub`, `aud`, `exp`, ...
            TypeError: `subject` is not a string, or a claim is not JSON.
        """
        payload = _payload(subject, DEV_ISSUER, claims)
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
            raise TypeError(f"expires_in must be a number of seconds, got {type(expires_in).__name__}.")
        now = int(time.time())
        payload.update({"aud": DEV_APPLICATION_ID, "iat": now, "exp": now + int(expires_in)})
        return self._key().sign(payload)

    def identity_of(self, subject: str, issuer: str | None = None, **claims: Any) -> dict:
        """The identity a token for `subject` with `claims` from `issuer` (default: the dev
        issuer) gives, as `ctx.auth.get_user_identity()` shows it."""
        return identity_from_claims(_payload(subject, issuer or DEV_ISSUER, claims))

    # -- configured providers --------------------------------------------------------------
    def configure(self, config: Any) -> None:
        """Replace the configured providers (see `App.set_auth_config`)."""
        self._providers = parse_auth_config(config)

    @property
    def providers(self) -> list[str]:
        """The trusted issuers, each described as `"<kind> <issuer>"`, the dev provider first."""
        return [provider.describe() for provider in (self._dev, *self._providers)]

    # -- verification ----------------------------------------------------------------------
    def identity_for_token(self, token: str) -> dict:
        """The identity of a JWT a client sent; `TokenError` (with Convex's code) when it is
        refused. May fetch a provider's keys over HTTP (cached): do not call it on an event loop."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("InvalidAuthHeader",
                             "Could not parse JWT payload. Check that the token is a valid JWT format with three "
                             "base64-encoded parts separated by dots.") from None
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise TokenError("InvalidAuthHeader",
                             "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim "
                             "that matches one of your configured auth providers.")
        provider = self._provider_for(issuer, unverified.get("aud"))
        alg = header.get("alg")
        if alg not in provider.algorithms:
            raise _unverified(f"it is signed with {alg!r}, but the {provider.describe()} accepts only "
                              f"{' or '.join(provider.algorithms)}.")
        kid = header.get("kid")
        key = provider.key_for(kid if isinstance(kid, str) else None, alg)
        if isinstance(key, jwt.PyJWK):
            key = key.key
        if not isinstance(key, KEY_TYPES[alg]) or (alg == "ES256" and key.curve.name != "secp256r1"):
            raise _unverified(f"its key {kid!r} cannot check an {alg} signature.")
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=provider.application_id, leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "sub"], "verify_aud": provider.application_id is not None},
            )
        except jwt.ExpiredSignatureError:
            expired = unverified.get("exp")
            when = _utc(expired) if type(expired) in (int, float) else "in the past"
            raise _unverified(f"it expired ({when}); get a fresh token.") from None
        except jwt.ImmatureSignatureError:
            raise _unverified("it is not valid yet (its `iat` or `nbf` is in the future; check the clocks).") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _unverified(f"it has no `{exc.claim}` claim, which is required.") from None
        except jwt.InvalidAudienceError:
            raise _unverified(f"its audience (`aud`) is not {provider.application_id!r}.") from None
        except jwt.InvalidSignatureError:
            raise _unverified(f"its signature does not match the key of the {provider.describe()}.") from None
        except (jwt.InvalidKeyError, jwt.InvalidAlgorithmError, TypeError, ValueError) as exc:
            raise _unverified(f"its key does not fit its algorithm {alg}: {exc}") from None
        except jwt.PyJWTError as exc:
            raise _unverified(f"{exc}.") from None
        if not isinstance(claims.get("sub"), str):
            raise _unverified("its subject (`sub`) is not a string.")
        return identity_from_claims(claims, profile=provider.profile)

    def _provider_for(self, issuer: str, audience: Any) -> Provider:
        """The first provider for `issuer` whose applicationID (if it has one) is in `audience`."""
        if isinstance(audience, str):
            audiences = [audience]
        elif isinstance(audience, list):
            audiences = [a for a in audience if isinstance(a, str)]
        else:
            audiences = []
        wanted = normalize_issuer(issuer)
        same_issuer = [p for p in (self._dev, *self._providers) if p.issuer == wanted]
        for provider in same_issuer:
            if provider.application_id is None or provider.application_id in audiences:
                return provider
        if same_issuer:
            expected = " or ".join(repr(p.application_id) for p in same_issuer)
            why = f"its audience (`aud`) {audience!r} is not the applicationID of a provider for issuer {issuer!r} ({expected})."
        else:
            known = ", ".join(p.issuer for p in (self._dev, *self._providers))
            why = f"its issuer {issuer!r} is not one of the providers' ({known}). Add it with app.set_auth_config."
        raise TokenError("NoAuthProvider", f"No auth provider found matching the given token: {why}")


def token_expiry(token: str) -> float | None:
    """The `exp` of a token (epoch seconds) plus the leeway: when a verified token stops being
    valid. Read without verifying: call it only for a token `identity_for_token` accepted."""
    try:
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return expires + LEEWAY_S if type(expires) in (int, float) else None


def _payload(subject: Any, issuer: str, claims: dict) -> dict:
    if not isinstance(subject, str) or not subject:
        raise TypeError(f"The subject must be a non-empty string (the user's id), got {subject!r}.")
    if not isinstance(issuer, str) or not issuer:
        raise TypeError(f"The issuer must be a non-empty string, got {issuer!r}.")
    return {"iss": issuer, "sub": subject, **claims_from_keywords(claims)}


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
