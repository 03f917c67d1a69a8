"""How long each activity attempt may take, and how it is retried: the recovery budget.

A worker that dies mid-activity is noticed only when the attempt's start-to-close or heartbeat
timeout passes; the retry then runs on any live worker after its first interval. So short
database writes get a timeout of seconds and a retry at once (each write is idempotent: a late
duplicate of a lost attempt lands once), and calls that wait on someone else heartbeat, so that
it is their worker's liveness, not their length, that is timed. A step lost with its worker is
picked up within about 6 s (tests/integration/test_recovery_time.py measures it).

Options of activity commands are not compared on replay (the command's type and id are): these
values may change under running tickets.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Record, grant, void, settle, assess: one short transaction each, including a row lock's wait.
DB_WRITE = timedelta(seconds=5)
# A database outage is retried for as long as it lasts, at most 10 s apart once it is over.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)

# A what-if page: a few reads of a page of past tickets, their re-decision and one write.
WHAT_IF_PAGE = timedelta(seconds=60)

# A bulk run's batch: a few tickets' Updates, each answered in seconds (activities/bulk_actions).
BULK_BATCH = timedelta(minutes=5)
# It heartbeats after each ticket, whose Update is answered within 30 s (UPDATE_CALL there).
BULK_SILENCE = timedelta(seconds=45)

# Every activity that waits on the outside heartbeats in the background (activities/heartbeats.py)
# at a quarter of this; the SDK sends at most one heartbeat per 80 % of it to the server.
HEARTBEAT = timedelta(seconds=5)

# The payment provider or the payout bank: a slow answer may take this long.
PROVIDER_CALL = timedelta(seconds=60)
# Provider outages are retried for as long as it takes; the idempotency key makes that safe.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
)

# Mail, SMS and webhooks, one row after the other, each bounded by its adapter's own timeout.
NOTIFY_CALL = timedelta(seconds=60)
# Their outages are retried for hours; a row already sent is never sent again.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=20,
)

# The courier poll runs until the return deadline, plus this.
TRACKING_GRACE = timedelta(hours=1)
# Tickets shipped before each poll became an attempt: the whole poll ran in one attempt, courier
# outages waited out inside it; a worker lost mid-poll cost an attempt.
TRACKING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)
# One question to the courier and its events stored.
PARCEL_ASK = timedelta(minutes=2)
# Each retry is the next poll, as long as the poll may run; the activity names the wait (the
# worker's poll interval, backing off). These intervals apply only where a server ignores it.
PARCEL_POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(minutes=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    maximum_attempts=0,
)

# The consistency check walks every open ticket; each run checks everything again, so a failed
# one is not worth retrying past the next run.
CHECK_CALL = timedelta(minutes=30)
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3)

# One label request to the courier and the label stored.
LABEL_ASK = timedelta(seconds=30)
# A courier outage is retried, backing off, for at most LABEL_PATIENCE; the buyer may ship
# another way meanwhile, and the idempotency key keeps a retry from booking a second parcel.
LABEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
LABEL_PATIENCE = timedelta(hours=1)
