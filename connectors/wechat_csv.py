"""WeChat chat exports in the common export-tool layout (one phone, all conversations):
``localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender``.

The export's owner is ``case.toml`` ``[owners]`` or else the ``Sender`` of the rows the phone sent
(``IsSender`` = 1). Roles other than ``self`` and ``system`` are left to participants.csv
(``participants_csv.resolve_messages``). Quoted multi-line messages keep their newlines and
``src_row`` is the line where the record starts."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from connectors.base import (
    ReadOptions,
    ReadResult,
    Rejection,
    SourceError,
    check_file_rows,
    empty_named,
    finish_files,
    header_is,
    integer_columns,
    local_time,
    owner_unknown,
    read_alone,
    read_csv_files,
)

NAME = "wechat-csv"
TABLES = ("messages",)
COLUMNS = ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime",
           "Remark", "NickName", "Sender")
TEXT, SYSTEM, APP, APP_LINK = 1, 10000, 49, 5
# message Type -> attachment kind; Type 49 ("app message") with SubType 5 is a shared link
ATTACHMENTS = {3: "image", 34: "voice", 43: "video", 47: "sticker", 49: "file"}


def sniff(path: Path, head: bytes) -> float:
    if header_is(head, COLUMNS):
        return 0.95
    return empty_named(path, head, "wechat*.csv")


def read(path: Path, options: ReadOptions) -> ReadResult:
    return read_alone(read_many, path, options)


def read_many(paths: list[Path], options: list[ReadOptions]) -> list[ReadResult | SourceError]:
    """Exports read together (a city's chats are thousands of small files): their records are split
    at once (``read_csv_files``), their rows (``_file`` numbering the files) parsed in one pass and
    parted again. Each file gets what ``read`` gives it alone, or its SourceError. The options share ``tz``."""
    frames, outcome = read_csv_files(paths, required=COLUMNS)
    results: list[ReadResult | SourceError | None] = [
        outcome[i] if isinstance(outcome[i], SourceError) else None for i in range(len(paths))]
    if not frames:
        return results
    tz = options[0].tz
    raw = [frame.select(*COLUMNS, "src_row", "_file") for frame in frames]
    raw = raw[0] if len(raw) == 1 else pl.concat(raw, how="vertical_relaxed")
    frame, bad = _checked(raw, tz, len(paths))
    recovered = _recovered(frame)
    owners = _owners(paths, options, frame, [i for i, result in enumerate(results) if result is None])
    known = {i: owner for i, owner in owners.items() if not isinstance(owner, SourceError)}
    results = [owners[i] if i in owners and i not in known else result for i, result in enumerate(results)]
    frame = _messages(frame.filter(pl.col("_file").is_in(list(known))).with_columns(
        _owner=pl.col("_file").replace_strict({i: owner for i, (owner, _) in known.items()}, return_dtype=pl.String)))
    parts, empty = finish_files("messages", frame)
    for i, (owner, whence) in known.items():
        rejections, rows_read, encoding = outcome[i]
        late, fallback = recovered.get(i, (0, 0))
        detected = {"format": "WeChat export-tool CSV", "encoding": encoding,
                    "time basis": "CreateTime, epoch seconds (UTC)" + (
                        f"; {fallback} row(s) from StrTime read in {tz}" + (
                            f" ({late} with an unreadable CreateTime)" if late else "") if fallback else ""),
                    "owner": f"{owner} ({whence})"}
        results[i] = ReadResult({"messages": parts.get(i, empty)}, rows_read, rejections + bad[i], detected)
    return results


def _checked(raw: pl.DataFrame, tz: str, files: int) -> tuple[pl.DataFrame, list[list[Rejection]]]:
    """The files' raw rows with times, type and direction parsed, and each file's rejections."""
    raw = _with_times(integer_columns(raw, "CreateTime", "Type", "SubType"), tz)
    is_sender = pl.col("IsSender")
    if not raw["IsSender"].is_in(["0", "1"]).fill_null(True).all():
        is_sender = is_sender.str.strip_chars()
    parsed = {"ts": (pl.col("_ts"), "CreateTime"), "_type": (pl.col("_Type"), "Type"),
              "_sent": (pl.when(is_sender == "1").then(True).when(is_sender == "0").then(False), "IsSender")}
    return check_file_rows(raw, parsed, ("localId", "TalkerId", "ts", "_type", "_sent"), files)


def _recovered(frame: pl.DataFrame) -> dict[int, tuple[int, int]]:
    """Per file: rows whose CreateTime does not parse while StrTime does (recovered, and said so),
    and rows timed by StrTime at all."""
    return {i: (late, fallback) for i, late, fallback in frame.group_by("_file").agg(
        late=(pl.col("CreateTime").is_not_null() & pl.col("_created").is_null()).sum(),
        fallback=pl.col("_created").is_null().sum()).iter_rows()}


def _messages(frame: pl.DataFrame) -> pl.DataFrame:
    """The checked rows as canonical messages, each file's owner in ``_owner``."""
    frame = frame.with_columns(_talker=pl.col("TalkerId").str.strip_chars(),
                               _sender=pl.col("Sender").str.strip_chars().replace("", None))
    sent, talker, sender, owner = pl.col("_sent"), pl.col("_talker"), pl.col("_sender"), pl.col("_owner")
    one_to_one = ~pl.col("TalkerId").str.ends_with("@chatroom")
    kind = (pl.when((pl.col("_type") == APP) & (pl.col("_SubType") == APP_LINK)).then(pl.lit("link"))
            .when(pl.col("_type").is_in(list(ATTACHMENTS)))
            .then(pl.col("_type").replace_strict(ATTACHMENTS, default=None, return_dtype=pl.String))
            .when(pl.col("_type").is_in([TEXT, SYSTEM])).then(None).otherwise(pl.lit("other")))
    return frame.with_columns(
        worker_id=owner,
        message_id=pl.col("localId").str.strip_chars(),
        conversation_id=talker,
        sender_id=pl.when(sent).then(pl.coalesce(sender, owner))
        .when(pl.col("_type") == SYSTEM).then(None)
        .otherwise(pl.coalesce(sender, pl.when(one_to_one).then(talker))),
        # the display name columns name the conversation: they name the sender only in a one-to-one chat
        sender_name=pl.when(~sent & one_to_one & (pl.col("_type") != SYSTEM)).then(pl.coalesce("Remark", "NickName")),
        sender_role=pl.when(pl.col("_type") == SYSTEM).then(pl.lit("system")).when(sent).then(pl.lit("self")),
        text=pl.col("StrContent").fill_null(""),
        attachment_kind=kind,
    )


def _with_times(raw: pl.DataFrame, tz: str) -> pl.DataFrame:
    """``_created`` (CreateTime, epoch seconds) and ``_ts``: it, or else StrTime read in ``tz``.
    StrTime is parsed only on the rows that need it: parsing every row's cost as much again."""
    created = pl.from_epoch(pl.col("_CreateTime"), time_unit="s")
    raw = raw.with_columns(_created=created.dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
    missing = raw["_created"].is_null().arg_true()
    shown = raw[missing].select(local_time("StrTime", "%Y-%m-%d %H:%M:%S", tz)).to_series()
    return raw.with_columns(_ts=raw["_created"].scatter(missing, shown))


def _owners(paths: list[Path], options: list[ReadOptions], frame: pl.DataFrame, read: list[int]
            ) -> dict[int, tuple[str, str] | SourceError]:
    """Each read file's owner and whence (or the error saying it is unknown): the case's, else the
    most frequent ``Sender`` of the rows the phone sent (ties to the first by name)."""
    unknown = [i for i in read if not options[i].owner]  # the case names most owners: no search for theirs
    senders = (frame.filter(pl.col("_file").is_in(unknown) & pl.col("_sent") & pl.col("Sender").is_not_null())
               .group_by("_file", "Sender").len().sort(["_file", "len", "Sender"], descending=[False, True, False])
               .group_by("_file", maintain_order=True).agg(pl.col("Sender").first(), senders=pl.len()))
    found = {i: (sender, n) for i, sender, n in senders.iter_rows()}
    owners: dict[int, tuple[str, str] | SourceError] = {}
    for i in read:
        if options[i].owner:
            owners[i] = options[i].owner, "case.toml [owners]"
        elif i not in found:
            owners[i] = owner_unknown(paths[i], "the export's owner is not in the file (no message sent from this"
                                      " phone with a Sender)")
        else:
            sender, n = found[i]
            whence = "Sender of the rows sent from this phone (IsSender = 1)"
            if n > 1:
                whence += f"; {n} different Senders, the most frequent taken: set case.toml [owners] to be sure"
            owners[i] = sender, whence
    return owners
