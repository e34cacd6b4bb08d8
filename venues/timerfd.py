"""Linux timerfds: timers the kernel keeps to the nanosecond, that an epoll can wait on.

trio's epoll backend can only sleep whole milliseconds (see venues.wall_clock); a timerfd
registered in the same epoll wakes it at the timer's instant instead. Python has them from
3.13 (`os.timerfd_create`); before, they are called through ctypes from the C library. `create`
returns None where there are none (not Linux, or a C library without them).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import time

_NONBLOCK = 0o4000  # TFD_NONBLOCK (= O_NONBLOCK)
_CLOEXEC = 0o2000000  # TFD_CLOEXEC (= O_CLOEXEC)
_ABSTIME = 1  # TFD_TIMER_ABSTIME


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


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
    it was armed for. A time already past fires at once."""
    monotonic_s = max(monotonic_s, 1e-9)  # 0 would disarm it
    if hasattr(os, "timerfd_settime"):
        os.timerfd_settime(fd, flags=os.TFD_TIMER_ABSTIME, initial=monotonic_s)
        return
    seconds = int(monotonic_s)
    nanoseconds = max(int((monotonic_s - seconds) * 1e9), 1 if seconds == 0 else 0)
    spec = _Itimerspec(_Timespec(0, 0), _Timespec(seconds, nanoseconds))
    if _LIBC.timerfd_settime(fd, _ABSTIME, ctypes.byref(spec), None) != 0:
        raise OSError(ctypes.get_errno(), "timerfd_settime")


def close(fd: int) -> None:
    """Close `fd`, a timerfd from `create`."""
    os.close(fd)


def clear(fd: int) -> None:
    """Read `fd`'s expirations, so that it is not readable until it fires again."""
    with contextlib.suppress(BlockingIOError):  # not fired (a wake-up that found nothing)
        os.read(fd, 8)
