"""Linux timerfds: timers the kernel keeps to the nanosecond, that an epoll can wait on.

trio's epoll backend can only sleep whole milliseconds (see venues.wall_clock); a timerfd
registered in the same epoll wakes it at the timer's instant instead. Python has them from
3.13 (`os.timerfd_create`); before, they are called through ctypes from the C library. `create`
returns None where there are none (not Linux, or a C library without them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

_NONBLOCK = 0o4000  # TFD_NONBLOCK (= O_NONBLOCK)
_CLOEXEC = 0o2000000  # TFD_CLOEXEC (= O_CLOEXEC)
_ABSTIME = 1  # TFD_TIMER_ABSTIME
# Times beyond this (~35,000 years of uptime) are armed for it: never, in practice. Further
# ones would not fit the kernel's timespec (its long seconds wrap: a time past, which fires
# at once), and infinity would not convert at all; an alarm due at a drawn latency from a
# heavy tail can be either.
_NEVER_S = 2.0**40


# struct itimerspec: it_interval then it_value, each a struct timespec (tv_sec, tv_nsec), as
# four longs: made for each call in one go (the nested ctypes structures cost 4 times more)
_Itimerspec = ctypes.c_long * 4


def _libc() -> ctypes.CDLL | None:
    """The C library's timerfd calls, where Python has no os.timerfd_* (before 3.13) and the
    system has them; else None."""
    if hasattr(os, "timerfd_create") or not hasattr(time, "CLOCK_MONOTONIC"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.timerfd_create, libc.timerfd_settime  # noqa: B018 (present, or AttributeError)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()
_settime = None if _LIBC is None else _LIBC.timerfd_settime


def available() -> bool:
    """Whether this system has timerfds."""
    return hasattr(os, "timerfd_create") or _LIBC is not None


def create() -> int | None:
    """A non-blocking timerfd on CLOCK_MONOTONIC, disarmed; None where there are none (or
    none to be had: too many open files, say)."""
    if hasattr(os, "timerfd_create"):
        try:
            return os.timerfd_create(time.CLOCK_MONOTONIC, flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)
        except OSError:  # as the C library's returns -1 below
            return None
    if _LIBC is None:
        return None
    fd = _LIBC.timerfd_create(time.CLOCK_MONOTONIC, _NONBLOCK | _CLOEXEC)
    return fd if fd >= 0 else None


def arm_at(fd: int, monotonic_s: float) -> None:
    """Make `fd` readable at `monotonic_s` (time.monotonic's clock), once; replaces any time
    it was armed for, and clears an expiry not read yet. A time already past fires at once; one
    too far to arm (infinity among them), never."""
    monotonic_s = min(max(monotonic_s, 1e-9), _NEVER_S)  # 0 would disarm it
    if hasattr(os, "timerfd_settime"):
        os.timerfd_settime(fd, flags=os.TFD_TIMER_ABSTIME, initial=monotonic_s)
        return
    seconds = int(monotonic_s)
    nanoseconds = max(int((monotonic_s - seconds) * 1e9), 1 if seconds == 0 else 0)
    if _settime(fd, _ABSTIME, _Itimerspec(0, 0, seconds, nanoseconds), None) != 0:
        raise OSError(ctypes.get_errno(), "timerfd_settime")


def close(fd: int) -> None:
    """Close `fd`, a timerfd from `create`."""
    os.close(fd)


def clear(fd: int) -> None:
    """Read `fd`'s expirations, so that it is not readable until it fires again."""
    try:  # noqa: SIM105 (a context manager costs more than the read)
        os.read(fd, 8)
    except BlockingIOError:  # not fired (a wake-up that found nothing)
        pass
