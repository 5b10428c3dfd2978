"""The demo's cards and what each card's worker does: one table, read by the seeding and by
the workers (a worker finds its script by its task's title).

The four stories of the README's tutorial are seeded with their titles, tenants, assignees, priorities,
parents and bodies; three extra cards show a fan-out (an orchestrator files follow-ups), a
hang past max runtime, and the demo operator that answers a review block.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """The first attempt stops and asks a human."""

    reason: str


@dataclass(frozen=True)
class Crash:
    """The first attempt heartbeats `note`, prints `last_words` to its log (the dispatcher quotes
    a dead worker's last log line in the run's error), then dies by SIGKILL like an OOM kill."""

    note: str
    last_words: str


@dataclass(frozen=True)
class Hang:
    """The first attempt heartbeats this note, then sleeps past the task's max runtime."""

    note: str


@dataclass(frozen=True)
class Comment:
    """A comment the worker leaves: on its own task, or on the card titled `on_title` (a parent,
    or for the demo operator the card it unblocks)."""

    body: str
    on_title: str | None = None


@dataclass(frozen=True)
class Card:
    key: str  # stable slug: the seed's idempotency key and the way parents are named
    title: str
    assignee: str
    tenant: str
    body: str = ""
    priority: int = 0
    parents: tuple[str, ...] = ()
    max_runtime_seconds: int | None = None
    # What the worker does.
    notes: tuple[str, ...] = ("reading the brief", "working")
    summary: str = ""
    metadata: dict | None = None
    comment: Comment | None = None
    first_attempt: Block | Crash | Hang | None = None
    follow_ups: tuple[str, ...] = ()  # keys of FOLLOW_UPS an orchestrator creates
    unblocks: str | None = None  # key of the card the demo operator answers and unblocks


# -- 1. Solo developer shipping a feature ---------------------------------------------------

SOLO = (
    Card(
        "design-auth-schema", "Design auth schema", "backend-dev", "auth-project", priority=2,
        body="Design the user/session/token schema.",
        notes=("schema drafted, writing migrations now", "migrations written, checking indexes"),
        summary="users(id, email, pw_hash), sessions(id, user_id, jti, expires_at); refresh tokens "
                "stored as sessions with type='refresh'",
        metadata={"changed_files": ["migrations/001_users.sql", "migrations/002_sessions.sql"],
                  "decisions": ["bcrypt for hashing", "JWT for session tokens",
                                "7-day refresh, 15-min access"]}),
    Card(
        "implement-auth-api", "Implement auth API endpoints", "backend-dev", "auth-project", priority=2,
        parents=("design-auth-schema",), body="POST /register, /login, /refresh, /logout.",
        notes=("read the schema handoff: sessions table with type='refresh'",
               "/register and /login done, writing /refresh and /logout"),
        summary="POST /register, /login, /refresh and /logout on the users/sessions schema; bcrypt "
                "hashes, 15-min JWT access tokens, 7-day refresh sessions rotated on use",
        metadata={"changed_files": ["auth/api.py", "auth/tokens.py", "auth/tests/test_api.py"],
                  "endpoints": ["/register", "/login", "/refresh", "/logout"]}),
    Card(
        "auth-integration-tests", "Write auth integration tests", "qa-dev", "auth-project", priority=2,
        parents=("implement-auth-api",),
        body="Happy path, wrong password, expired token, concurrent refresh.",
        notes=("happy path and wrong password passing", "expired token and concurrent refresh passing"),
        summary="4 integration tests (happy path, wrong password, expired token, concurrent refresh), "
                "all passing against the new endpoints",
        metadata={"changed_files": ["tests/integration/test_auth_flow.py"], "tests_run": 4},
        comment=Comment("Concurrent refresh is safe: the second request gets 401 once the session "
                        "rotated.", on_title="Implement auth API endpoints")),
)

# -- 2. Fleet farming -----------------------------------------------------------------------

LANGUAGES = ("Spanish", "French", "German")
CALLS = range(1, 6)
SKUS = range(1001, 1005)

FLEET = (
    *(Card(f"translate-{language.lower()}", f"Translate homepage to {language}", "translator",
           "content-ops", body=f"Translate the four homepage pages to {language}; keep the "
                               "marketing voice.",
           notes=("translating hero and pricing", "translating FAQ and footer"),
           summary="translated 4 pages, style matched existing marketing voice",
           metadata={"duration_seconds": 720, "tokens_used": 2100})
      for language in LANGUAGES),
    *(Card(f"transcribe-call-{number}", f"Transcribe Q3 customer call #{number}", "transcriber",
           "content-ops", body=f"Transcribe Q3 customer call #{number} with speaker labels and "
                               "flag action items.",
           notes=("first half transcribed", "speaker labels checked"),
           summary=f"transcribed call #{number}: {30 + 4 * number} min, 2 speakers, "
                   f"{number % 3 + 1} action items flagged",
           metadata={"duration_seconds": 240 + 30 * number, "speakers": 2,
                     "action_items": number % 3 + 1})
      for number in CALLS),
    *(Card(f"describe-sku-{sku}", f"Generate product description: SKU-{sku}", "copywriter",
           "content-ops", body=f"Write a 120-word product description for SKU-{sku} from its spec sheet.",
           notes=("spec sheet read", "draft written, tightening"),
           summary=f"SKU-{sku}: 118-word description, benefits first, spec table kept",
           metadata={"words": 118, "tokens_used": 640 + sku % 10 * 25})
      for sku in SKUS),
)

# -- 3. Role pipeline with a retry ----------------------------------------------------------

REVIEW_BLOCK = ("Review: password strength check missing, reset link isn't single-use "
                "(can be replayed within 30min)")

ROLE_PIPELINE = (
    Card(
        "spec-password-reset", "Spec: password reset flow", "pm", "auth-project", priority=2,
        body="Write the password reset flow spec with acceptance criteria.",
        notes=("drafting the flow", "acceptance criteria agreed"),
        summary="spec approved; POST /forgot-password sends email, GET /reset/:token renders form, "
                "POST /reset applies new password",
        metadata={"acceptance": ["expired token returns 410",
                                 "reused last-3 password returns 400 with message",
                                 "successful reset invalidates all active sessions"]}),
    Card(
        "implement-password-reset", "Implement password reset flow", "backend-dev", "auth-project",
        priority=2, parents=("spec-password-reset",),
        body="Build the password reset flow from the spec; the reviewer reads the changed files.",
        notes=("implementing the reset endpoints", "reset flow works end to end, self-reviewing"),
        first_attempt=Block(REVIEW_BLOCK),
        summary="added zxcvbn strength check, reset tokens are now single-use "
                "(stored + deleted on success)",
        metadata={"changed_files": ["auth/reset.py", "auth/tests/test_reset.py",
                                    "migrations/003_single_use_reset_tokens.sql"],
                  "tests_run": 11, "review_iteration": 2}),
    Card(
        "review-password-reset", "Review password reset PR", "reviewer", "auth-project", priority=2,
        parents=("implement-password-reset",),
        body="Review the password reset PR against the spec's acceptance criteria.",
        notes=("reading the implementation handoff", "checking single-use tokens and strength check"),
        summary="approved: acceptance criteria met; zxcvbn check and single-use tokens verified",
        metadata={"approved": True, "review_iteration": 2},
        comment=Comment("LGTM on iteration 2: strength check and single-use tokens verified.",
                        on_title="Implement password reset flow")),
)

DEMO_OPERATOR = Card(
    "demo-operator", "Demo operator: answer the review block on password reset", "demo-operator",
    "auth-project",
    body="Stands in for you. When \"Implement password reset flow\" blocks with review feedback, "
         "this worker waits a few seconds (long enough to see the card in Blocked), comments an "
         "answer and unblocks it, which is what you would do with `U` on the board or "
         "`kanban-tui unblock <id>`.",
    notes=("waiting for the implementation to ask for review",),
    unblocks="implement-password-reset",
    summary="answered the review block and unblocked the implementation",
    comment=Comment("Agreed: add a zxcvbn strength check and make reset links single-use, then "
                    "go again.", on_title="Implement password reset flow"))

# -- 4. Circuit breaker and crash recovery --------------------------------------------------

BREAKER_AND_CRASH = (
    Card(
        "deploy-staging", "Deploy to staging (missing creds)", "deploy-bot", "ops", priority=1,
        body="Deploy main to staging. The deploy-bot profile's command cannot start (its "
             "credentials are missing), so every attempt fails to spawn and the circuit breaker "
             "blocks the task after the third."),
    Card(
        "backfill-accounts", "Backfill accounts.region (2.4M rows)", "migrator", "ops", priority=1,
        body="Set accounts.region from the billing address for all 2.4M rows.",
        notes=("scanned 1.1M rows",),
        first_attempt=Crash("scanned 2.3M rows", last_words="OOM kill at row 2.3M"),
        summary="backfilled 2.4M rows in 50k chunks after the first run was killed at 2.3M",
        metadata={"strategy": "chunked with LIMIT + WHERE id > last_id"}),
)

# -- Also shown: fan-out and max runtime ----------------------------------------------------

EXTRAS = (
    Card(
        "plan-auth-follow-ups", "Plan auth hardening follow-ups", "techlead", "auth-project",
        priority=1, body="File the follow-up work for the auth endpoints as cards for the team.",
        notes=("reading the auth project", "filing follow-ups"),
        follow_ups=("rate-limit-login", "load-test-refresh"),
        summary="filed 2 follow-ups: rate limiting on /login, then a load test of /refresh",
        metadata={"fan_out": 2}),
    Card(
        "rebuild-search-index", "Rebuild search index", "indexer", "ops", priority=1,
        max_runtime_seconds=5,
        body="Rebuild the product search index. Max runtime 5 s: the first attempt hangs on a stuck "
             "shard and is timed out; the retry finishes.",
        notes=("indexing shards 1-6",),
        first_attempt=Hang("stuck on shard 7"),
        summary="rebuilt all 8 shards with a 2 s per-shard timeout after the first run hung on shard 7",
        metadata={"shards": 8, "per_shard_timeout_seconds": 2}),
)

FOLLOW_UPS = {
    card.key: card for card in (
        Card(
            "rate-limit-login", "Add rate limiting to /login", "backend-dev", "auth-project",
            body="5 attempts per minute per account and per IP; 429 with Retry-After.",
            notes=("sliding window in redis", "429 responses carry Retry-After"),
            summary="rate limited /login to 5 attempts/min per account and per IP; 429 + Retry-After",
            metadata={"changed_files": ["auth/ratelimit.py", "auth/api.py"]}),
        Card(
            "load-test-refresh", "Load-test /refresh under concurrency", "qa-dev", "auth-project",
            parents=("rate-limit-login",),
            body="200 concurrent refreshes per second for a minute; no double-issued sessions.",
            notes=("ramping to 200 rps", "checking for double-issued sessions"),
            summary="200 rps for 60 s: p99 41 ms, no double-issued sessions",
            metadata={"p99_ms": 41, "requests": 12000}),
    )
}

SEEDED: tuple[Card, ...] = (*SOLO, *ROLE_PIPELINE, DEMO_OPERATOR, *BREAKER_AND_CRASH, *EXTRAS, *FLEET)

_BY_TITLE = {card.title: card for card in (*SEEDED, *FOLLOW_UPS.values())}
_BY_KEY = {card.key: card for card in (*SEEDED, *FOLLOW_UPS.values())}


def card_for_title(title: str) -> Card | None:
    return _BY_TITLE.get(title)


def card_by_key(key: str) -> Card:
    return _BY_KEY[key]


def unscripted(title: str, assignee: str | None) -> Card:
    """A card someone added to the demo board by hand: worked through with generic lines."""
    return Card("", title, assignee or "", "", notes=("reading the brief", "working on it"),
                summary=f"demo worker finished \"{title}\"")
