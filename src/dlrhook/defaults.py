"""Default values as named constants (as rq/defaults.py does).

Every setting's default that is a value is here (a setting whose default is "unset", None or
empty, says so in its declaration in :mod:`dlrhook.settings`), and so is every tunable that
more than one module shares. The command line's option defaults (``dlrhook simulate --count``,
...) are beside their options in :mod:`dlrhook.cli`.
"""

PORT = 8000
#: Gunicorn worker processes of the web.
WEB_CONCURRENCY = 2
#: Proxies in front of the web whose X-Forwarded-For is believed; none by default.
TRUSTED_PROXIES = 0
LOG_LEVEL = "INFO"
EMBEDDED_REDIS_PORT = 6390
EMBEDDED_REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
EMBEDDED_DATA_DIR = ".dlrhook/redis"

#: Seconds between a handler's attempts; one attempt more than there are delays.
RETRY_DELAYS = (10, 60, 300, 1800, 7200)
#: Infobip keeps reports for 48 h, so an identity is remembered as long.
DEDUP_TTL = 48 * 3600
#: 2000 reports with generous callbackData fit in 8 MiB of JSON or XML.
MAX_BODY = 8 * 1024 * 1024
#: Seconds a push's body may take to arrive, from the end of its headers (408 past it): 8 MiB at
#: about 7 Mbit/s, and well inside Heroku's 30 s for a whole request.
BODY_TIMEOUT = 10.0
#: Most reports in one push: five times Infobip's largest bucket (2000, ``maxBucketSize``).
MAX_REPORTS = 10_000
#: Most quarantined reports whose field errors a push answer lists; ``errorsOmitted`` counts the rest.
MAX_ANSWER_ERRORS = 100
#: Reports a worker takes from the report stream at once: large enough to amortise RQ's ~10 ms a job.
BATCH_SIZE = 500
QUEUE_NAME = "dlrhook"
#: Seconds one forward (``DLRHOOK_FORWARD_URL``) may take.
FORWARD_TIMEOUT = 10.0

#: Seconds one drain job works before it hands the rest to a fresh job (Heroku gives 30 s on SIGTERM).
DRAIN_BUDGET = 10.0
#: Seconds after its last heartbeat that a running job counts as abandoned (its worker was killed).
ABANDON_AFTER = 30
#: Seconds between a worker's maintenance runs (abandoned jobs, orphaned claims, a drain for the report stream).
MAINTENANCE_INTERVAL = 15
#: Seconds a worker keeps delivering after SIGTERM before it hands the unfinished reports back.
SHUTDOWN_GRACE = 15.0
#: Seconds one handler call may take. Heroku sends SIGKILL 30 s after SIGTERM: a call started at
#: the end of the shutdown grace (15 s) must end, or be cut off, well before that.
HANDLER_TIMEOUT = 10.0
#: Seconds past the timeout that a call which cannot be interrupted (stuck in C code) is given
#: before the worker process ends itself, so that its supervisor starts a fresh one.
HANDLER_KILL_GRACE = 5.0
#: Times the worker may die during one report's call before that report is dead-lettered for
#: that handler (counted once the report is tried on its own, after its batch crashed).
MAX_CRASHES = 2
#: Seconds a quarantined report is kept for an operator to inspect and replay.
QUARANTINE_TTL = 14 * 24 * 3600
#: Fraction of Redis's maxmemory above which pushes are refused (503), so that workers keep
#: room to take reports out and free memory. No effect when Redis has no maxmemory.
REDIS_HIGH_WATER = 0.9

#: When the poller pulls: ``fallback``, only when pushes have been quiet for PULL_QUIET seconds.
PULL_MODE = "fallback"
PULL_QUIET = 300
PULL_INTERVAL = 30.0
PULL_LIMIT = 1000
PULL_PATH = "/sms/1/reports"
#: Seconds to wait for Infobip to accept the connection, and between bytes of its answer.
PULL_CONNECT_TIMEOUT = 5.0
PULL_READ_TIMEOUT = 30.0
#: First wait after a 429, a 5xx or a network error; it doubles (with jitter) up to the max.
PULL_BACKOFF = 1.0
PULL_BACKOFF_MAX = 300.0
#: First wait after a 401/403 (wrong credentials need a human); it doubles up to an hour.
PULL_AUTH_BACKOFF = 300.0
PULL_AUTH_BACKOFF_MAX = 3600.0
#: Longest Retry-After honoured; a larger value is treated as this many seconds.
PULL_RETRY_AFTER_MAX = 3600.0
#: Seconds the poller lock lives unless renewed (renewed every third of it while held).
PULL_LOCK_TTL = 30

#: Deepest JSON/XML nesting accepted in a push (a report is 3 levels deep inside `results`).
MAX_DEPTH = 32
#: Seconds Infobip is asked to wait (Retry-After) when Redis cannot take a batch.
RETRY_AFTER = 60

#: What must hold before a push is answered 200 (``DLRHOOK_DURABILITY``): ``auto`` picks
#: ``replica``, ``disk`` or ``memory`` from what the server says (dlrhook.store.durability).
DURABILITY = "auto"
#: Replicas that must hold a batch under ``replica``.
DURABILITY_REPLICAS = 1
#: Seconds a push waits for its durability level before it is answered 503. A healthy replica
#: acknowledges in well under a millisecond and an AOF fsync takes milliseconds; a wait of a
#: second means a lagging replica or a stalled disk. It also bounds how long a burst holds Redis
#: connections (one per waiting push): past it, a 503 and Infobip's retry beat a pile-up.
DURABILITY_TIMEOUT = 1.0
#: Seconds between two reads of the server's replication and persistence state (INFO) per process.
DURABILITY_RECHECK = 5.0

#: Redis connections one web process opens at most. Under gevent each push in flight would hold
#: a connection of its own: a burst that meets a slow Redis (a failover, a lagging replica's WAIT)
#: would open one per waiting push, up to gunicorn's 1000 per process, past a managed plan's cap
#: (which then refuses every client, the workers' too). A push beyond the pool waits for a free
#: connection up to REDIS_POOL_WAIT seconds, then gets a 503 with Retry-After.
REDIS_MAX_CONNECTIONS = 16
REDIS_POOL_WAIT = 5.0

#: Seconds a message's folded status (and its bulk's counters) is kept after its last change.
STATUS_TTL = 7 * 24 * 3600
#: Where message status is kept (``DLRHOOK_STATUS_STORE``): Redis, unless a database URL is given.
STATUS_STORE = "redis"
#: Seconds the SQL status store waits for a connection to the database, and for one statement:
#: under DLRHOOK_HANDLER_TIMEOUT's 10 s, so a database that is down or slow fails the fold (retried
#: per report) instead of holding the worker.
STATUS_CONNECT_TIMEOUT = 3
STATUS_STATEMENT_TIMEOUT = 5.0
#: Messages one retention transaction deletes (SQL store), and at most how many such
#: transactions one maintenance pass runs: bounded work, whatever the backlog of old rows.
STATUS_EXPIRE_BATCH = 2000
STATUS_EXPIRE_ROUNDS = 10
#: ``dlrhook reconcile`` asks about messages intermediate for this long unless told otherwise.
RECONCILE_OLDER_THAN = 3600
#: Seconds between two reconcile passes of the poller when DLRHOOK_RECONCILE_AFTER is set.
RECONCILE_INTERVAL = 300
#: Message ids per ``GET /sms/3/logs`` request: each is a query parameter, and 100 ids of ~40
#: characters keep the URL near 5 KB, under the 8 KB that servers and proxies commonly accept
#: (the API itself answers up to 1000 logs a call).
RECONCILE_BATCH = 100
#: Most messages one reconcile pass asks about; the longest-waiting first, the rest next pass.
RECONCILE_MAX = 10000
#: Infobip's message logs (not consume-once; kept 48 h).
LOGS_PATH = "/sms/3/logs"
