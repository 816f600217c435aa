"""Hypothesis strategies shared by the parsers' property tests: times as other programs print them."""

import datetime as dt

from hypothesis import strategies as st

ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=1)),
    dt.timezone(dt.timedelta(hours=-7, minutes=-30)),
    dt.timezone(dt.timedelta(hours=5, minutes=45)),
    dt.timezone(dt.timedelta(hours=14)),
]
# Aware times with microseconds, in a handful of offsets (half and quarter hours included).
TIMES = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31), timezones=st.sampled_from(ZONES))
# Epoch seconds of 2000-01-01 .. 2099-12-31, as pgBackRest and Barman print them.
EPOCHS = st.integers(946_684_800, 4_102_358_400)


@st.composite
def rfc3339(draw, moment: dt.datetime) -> str:
    """`moment` as Go's RFC3339Nano prints it (Alertmanager, restic, WAL-G): up to nine fraction
    digits with trailing zeros trimmed, and Z or ±hh:mm. The extra nanoseconds are drawn, so a
    parser must truncate them, never round."""
    nanos = f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}".rstrip("0")
    offset = moment.utcoffset()
    if offset == dt.timedelta(0) and draw(st.booleans()):
        zone = "Z"
    else:
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos}" if nanos else "") + zone


def epoch_time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def shuffled(value, draw):
    """The same JSON document with every object's keys in a drawn order."""
    if isinstance(value, dict):
        keys = draw(st.permutations(list(value)))
        return {key: shuffled(value[key], draw) for key in keys}
    if isinstance(value, list):
        return [shuffled(item, draw) for item in value]
    return value


# Any JSON value, for inputs that are not what a parser expects.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)
